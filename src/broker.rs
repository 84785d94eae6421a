//! The broker's shared state, handed to every connection and handler.

use crate::config::BrokerConfig;
use crate::log::{properties, topic, LogManager};
use std::io;
use std::path::Path;

pub struct Broker {
    pub config: BrokerConfig,
    /// Generated once and persisted in `meta.properties`: never null (ksqlDB and others read it).
    pub cluster_id: String,
    pub log: LogManager,
    pub fetch_sessions: crate::handlers::fetch_session::FetchSessions,
    pub producer_ids: crate::txn::producer_ids::ProducerIds,
    /// Consumer groups and committed offsets, replayed from `__consumer_offsets`.
    pub groups: crate::group::GroupCoordinator,
    /// Transactions by transactional id, replayed from `__transaction_state`.
    pub txns: crate::txn::coordinator::TxnCoordinator,
    /// Broker settings changed through AlterConfigs, layered over `config`.
    pub dynamic_configs: crate::config::dynamic::DynamicBrokerConfigs,
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
fn load_or_create_identity(data_dir: &Path, node_id: i32) -> io::Result<String> {
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
        return Ok(cluster_id);
    }
    let cluster_id = encode_cluster_id(&topic::random_uuid()?.0);
    let props = [
        ("cluster.id".to_string(), cluster_id.clone()),
        ("node.id".to_string(), node_id.to_string()),
        ("version".to_string(), "1".to_string()),
    ]
    .into();
    properties::write(&path, &props)?;
    Ok(cluster_id)
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
        let cluster_id = load_or_create_identity(&config.data_dir, config.node_id)?;
        let dynamic_configs = crate::config::dynamic::DynamicBrokerConfigs::load(&config.data_dir)?;
        let defaults = dynamic_configs.layers().apply(&config.log).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("dynamic broker configs: {e}"),
            )
        })?;
        let log = LogManager::open(&config.data_dir, defaults)?;
        let producer_ids =
            crate::txn::producer_ids::ProducerIds::open(&config.data_dir.join("meta"))?;
        let groups = crate::group::GroupCoordinator::load(config.group.clone(), &log)?;
        let txns = crate::txn::coordinator::TxnCoordinator::load(config.txn.clone(), &log)?;
        Ok(Broker {
            config,
            cluster_id,
            log,
            fetch_sessions: Default::default(),
            producer_ids,
            groups,
            txns,
            dynamic_configs,
        })
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
