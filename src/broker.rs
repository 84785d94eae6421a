//! The broker's shared state, handed to every connection and handler.

use crate::config::BrokerConfig;
use crate::log::{properties, topic, LogManager};
use std::io;
use std::path::Path;

pub struct Broker {
    pub config: BrokerConfig,
    /// From `meta.properties` (minted there on a fresh directory); the
    /// quorum's cluster id supersedes it once this node has joined.
    local_cluster_id: String,
    /// Whether `meta.properties` was written by this start (a fresh directory).
    fresh_identity: bool,
    /// This node's seat in the cluster, once it has joined the quorum.
    cluster: std::sync::OnceLock<std::sync::Arc<crate::cluster::node::ClusterNode>>,
    /// The image of a broker that has not joined a quorum (unit tests, and
    /// a node alone while its quorum starts): itself alone, with its topics.
    unjoined_image: std::sync::Arc<crate::cluster::image::MetadataImage>,
    /// The metadata offset this node's local logs have followed up to
    /// (see [`crate::cluster::replicas`]); -1 before the join.
    followed_offset: tokio::sync::watch::Sender<i64>,
    pub log: LogManager,
    pub fetch_sessions: crate::handlers::fetch_session::FetchSessions,
    pub producer_ids: crate::txn::producer_ids::ProducerIds,
    /// Consumer groups and committed offsets, replayed from `__consumer_offsets`.
    pub groups: crate::group::GroupCoordinator,
    /// Transactions by transactional id, replayed from `__transaction_state`.
    pub txns: crate::txn::coordinator::TxnCoordinator,
    /// Broker settings changed through AlterConfigs, layered over `config`.
    pub dynamic_configs: crate::config::dynamic::DynamicBrokerConfigs,
    /// Which internal partitions' coordinator state is loaded, at which epoch.
    pub coordinator_loads: crate::handlers::coordinators::Loads,
    /// Connections to the other brokers, for the coordinators' requests.
    pub peers: crate::cluster::peers::Peers,
    /// What this broker, leading, sent to throttled replicas (KIP-73).
    pub leader_throttle: crate::cluster::throttles::LeaderThrottle,
    pub follower_throttle: crate::cluster::throttles::FollowerThrottle,
}

/// Kafka's cluster id form: a UUID in URL-safe base64 without padding (22 characters).
fn encode_cluster_id(id: &[u8; 16]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(22);
    let mut bits: u32 = 0;
    let mut count = 0;
    for &byte in id {
        bits = (bits << 8) | u32::from(byte);
        count += 8;
        while count >= 6 {
            count -= 6;
            out.push(ALPHABET[((bits >> count) & 0x3f) as usize] as char);
        }
    }
    if count > 0 {
        out.push(ALPHABET[((bits << (6 - count)) & 0x3f) as usize] as char);
    }
    out
}

/// Reads or creates `meta.properties`; refuses a data directory that
/// belongs to another node.
fn load_or_create_identity(data_dir: &Path, node_id: i32) -> io::Result<(String, bool)> {
    let path = data_dir.join("meta.properties");
    if let Some(props) = properties::read(&path)? {
        let cluster_id = props
            .get("cluster.id")
            .filter(|id| !id.is_empty())
            .cloned()
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{}: no cluster.id", path.display()),
                )
            })?;
        if let Some(stored) = props.get("node.id").and_then(|n| n.parse::<i32>().ok()) {
            if stored != node_id {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "{} belongs to node {stored}, not node {node_id}",
                        data_dir.display()
                    ),
                ));
            }
        }
        return Ok((cluster_id, false));
    }
    let cluster_id = encode_cluster_id(&topic::random_uuid()?.0);
    let props = [
        ("cluster.id".to_string(), cluster_id.clone()),
        ("node.id".to_string(), node_id.to_string()),
        ("version".to_string(), "1".to_string()),
    ]
    .into();
    properties::write(&path, &props)?;
    Ok((cluster_id, true))
}

/// This broker's client listeners as it advertises them.
fn endpoints(config: &BrokerConfig) -> Vec<crate::cluster::records::Endpoint> {
    config
        .cluster
        .client_listeners()
        .map(|l| {
            let (host, port) = config.advertised_endpoint(l);
            crate::cluster::records::Endpoint {
                name: l.name.clone(),
                host,
                port,
                security_protocol: 0,
            }
        })
        .collect()
}

impl Broker {
    /// Opens the data directory: identity, then every topic, recovering each partition.
    pub fn open(config: BrokerConfig) -> io::Result<Broker> {
        std::fs::create_dir_all(&config.data_dir).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("creating {}: {e}", config.data_dir.display()),
            )
        })?;
        let (local_cluster_id, fresh_identity) =
            load_or_create_identity(&config.data_dir, config.node_id)?;
        let dynamic_configs = crate::config::dynamic::DynamicBrokerConfigs::load(&config.data_dir)?;
        let defaults = dynamic_configs.layers().apply(&config.log).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("dynamic broker configs: {e}"),
            )
        })?;
        let log = LogManager::open(&config.data_dir, defaults)?;
        if !config.cluster.voters.is_empty() {
            log.restore_high_watermarks();
        }
        let producer_ids =
            crate::txn::producer_ids::ProducerIds::open(&config.data_dir.join("meta"))?;
        let groups = crate::group::GroupCoordinator::load(config.group.clone(), &log)?;
        let txns = crate::txn::coordinator::TxnCoordinator::load(config.txn.clone(), &log)?;
        let unjoined_image = std::sync::Arc::new(crate::cluster::image::MetadataImage::alone(
            config.node_id,
            &local_cluster_id,
            endpoints(&config),
            config.cluster.rack.clone(),
        ));
        Ok(Broker {
            config,
            local_cluster_id,
            fresh_identity,
            cluster: std::sync::OnceLock::new(),
            unjoined_image,
            followed_offset: tokio::sync::watch::Sender::new(-1),
            log,
            fetch_sessions: Default::default(),
            producer_ids,
            groups,
            txns,
            dynamic_configs,
            coordinator_loads: Default::default(),
            peers: Default::default(),
            leader_throttle: Default::default(),
            follower_throttle: Default::default(),
        })
    }

    /// The metadata image handlers answer from.
    pub fn image(&self) -> std::sync::Arc<crate::cluster::image::MetadataImage> {
        match self.cluster.get() {
            Some(node) => node.image(),
            None => self.local_image(),
        }
    }

    /// Before the join: this broker alone, leading every local topic.
    fn local_image(&self) -> std::sync::Arc<crate::cluster::image::MetadataImage> {
        let mut image = (*self.unjoined_image).clone();
        for topic in self.log.topics() {
            image.add_local_topic(
                &topic.meta.name,
                topic.meta.id,
                topic.meta.partitions,
                self.config.node_id,
            );
        }
        std::sync::Arc::new(image)
    }

    /// The local logs have followed the image up to `offset`.
    pub fn followed_image(&self, offset: i64) {
        self.followed_offset.send_replace(offset);
    }

    /// Waits (bounded by `timeout`) until the local logs have followed
    /// the image up to `offset`, so that what a metadata change created
    /// is here to serve.
    pub async fn wait_followed(&self, offset: i64, timeout: std::time::Duration) -> bool {
        let mut followed = self.followed_offset.subscribe();
        let reached = async { followed.wait_for(|o| *o >= offset).await.is_ok() };
        matches!(tokio::time::timeout(timeout, reached).await, Ok(true))
    }

    pub fn cluster_node(&self) -> Option<&std::sync::Arc<crate::cluster::node::ClusterNode>> {
        self.cluster.get()
    }

    /// The node's seat for a metadata change: `None` on a node that
    /// decides alone (it has not started joining a quorum). A node in the
    /// middle of its join (its topics being reconciled with the quorum's)
    /// waits for the join to end, bounded, instead of deciding alone.
    pub async fn metadata_writer(
        &self,
    ) -> Option<&std::sync::Arc<crate::cluster::node::ClusterNode>> {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            if let Some(node) = self.cluster.get() {
                return Some(node);
            }
            if !self.log.follows_metadata_image() || tokio::time::Instant::now() > deadline {
                return None;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }

    /// The cluster id: the quorum's, or `meta.properties`' before joining.
    pub fn cluster_id(&self) -> String {
        self.image()
            .cluster_id
            .clone()
            .unwrap_or_else(|| self.local_cluster_id.clone())
    }

    /// Joins the cluster through `node`: from now on the image is the
    /// quorum's. A data directory of another cluster is refused; a fresh
    /// one takes the quorum's cluster id.
    pub fn join(&self, node: std::sync::Arc<crate::cluster::node::ClusterNode>) -> io::Result<()> {
        let quorum_id = node
            .image()
            .cluster_id
            .clone()
            .ok_or_else(|| io::Error::other("the quorum has no cluster id yet"))?;
        if quorum_id != self.local_cluster_id {
            if !self.fresh_identity {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "{} belongs to cluster {}, but the quorum is cluster {quorum_id}: point log.dirs at this cluster's data, or at an empty directory",
                        self.config.data_dir.display(),
                        self.local_cluster_id
                    ),
                ));
            }
            let props = [
                ("cluster.id".to_string(), quorum_id),
                ("node.id".to_string(), self.config.node_id.to_string()),
                ("version".to_string(), "1".to_string()),
            ]
            .into();
            properties::write(&self.config.data_dir.join("meta.properties"), &props)?;
        }
        self.cluster
            .set(node)
            .map_err(|_| io::Error::other("joined twice"))
    }

    /// What this broker registers: its client listeners' advertised endpoints.
    pub fn registration(
        &self,
        incarnation: crate::protocol::wire::Uuid,
    ) -> crate::cluster::controller::Registration {
        crate::cluster::controller::Registration {
            broker_id: self.config.node_id,
            incarnation_id: incarnation,
            endpoints: endpoints(&self.config),
            rack: self.config.cluster.rack.clone(),
        }
    }

    /// The id of the cluster's founding proposal, should this node found it.
    pub fn founding_cluster_id(&self) -> &str {
        &self.local_cluster_id
    }

    /// Where clients of `listener` reach this broker: that listener's
    /// advertised endpoint, or the inter-broker listener's for a name this
    /// broker does not have.
    pub fn endpoint(&self, listener: &str) -> (String, u16) {
        let cluster = &self.config.cluster;
        cluster
            .client_listeners()
            .find(|l| l.name == listener)
            .or_else(|| cluster.inter_broker_listener())
            .map(|l| self.config.advertised_endpoint(l))
            .unwrap_or_else(|| ("localhost".to_string(), 9092))
    }

    pub fn close(&self) -> io::Result<()> {
        self.log.close()
    }

    #[cfg(test)]
    pub fn for_tests() -> Self {
        Broker::open(Self::test_config()).expect("test broker opens")
    }

    /// A fresh temporary data directory, and no initial rebalance delay.
    #[cfg(test)]
    pub fn test_config() -> BrokerConfig {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("odradek-broker-test-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut config = BrokerConfig {
            data_dir: dir,
            ..BrokerConfig::default()
        };
        config.group.initial_rebalance_delay_ms = 0;
        config
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_ids_look_like_kafkas() {
        let id = encode_cluster_id(&[0xff; 16]);
        assert_eq!(id.len(), 22);
        assert!(id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_eq!(encode_cluster_id(&[0; 16]), "AAAAAAAAAAAAAAAAAAAAAA");
    }
}
