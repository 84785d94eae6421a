//! Starting a node's seat in the cluster: the quorum (a voter of the
//! configured voters, or the only voter of its own), the controller seat,
//! this broker's registration. With no cluster settings this is the single
//! node of today, on the same path as a cluster.

use super::image::MetadataImage;
use super::node::ClusterNode;
use super::quorum::{Quorum, QuorumConfig};
use super::replicas;
use crate::broker::Broker;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// The quorum's timing: a leader heartbeat every 100 ms, elections after
/// 300-600 ms of silence (about a second to replace a lost leader).
const RAFT_HEARTBEAT_MS: u64 = 100;
const RAFT_ELECTION_MS: (u64, u64) = (300, 600);
/// Metadata entries between snapshots.
const SNAPSHOT_EVERY: u64 = 10_000;

/// The quorum's settings, the listener that feeds it, and for a node that
/// does not vote the address the leader feeds it at.
async fn quorum_config(
    broker: &Broker,
) -> Result<(QuorumConfig, Option<TcpListener>, Option<String>), String> {
    let config = &broker.config;
    let cluster = &config.cluster;
    let dir = config.data_dir.join("metadata");
    if cluster.voters.is_empty() {
        // No voters named: this node alone (also Kafka's standalone
        // combined mode, whose one bootstrap server is itself).
        return Ok((QuorumConfig::standalone(config.node_id, dir), None, None));
    }
    let quorum = QuorumConfig {
        node_id: config.node_id,
        voters: cluster.voter_addresses(),
        dir,
        heartbeat_ms: RAFT_HEARTBEAT_MS,
        election_timeout_ms: RAFT_ELECTION_MS,
        snapshot_every: SNAPSHOT_EVERY,
    };
    if !cluster.roles.controller {
        // A broker alone has no controller listener: the leader feeds it
        // on a port of its own, on the inter-broker listener's interface,
        // announced when it asks to observe.
        let inter_broker = cluster
            .inter_broker_listener()
            .ok_or("a broker needs a listener")?;
        let ephemeral = crate::config::cluster::Listener {
            port: 0,
            ..inter_broker.clone()
        };
        let socket = crate::server::bind_listener(&ephemeral)
            .await
            .map_err(|e| e.to_string())?;
        let port = socket.local_addr().map_err(|e| e.to_string())?.port();
        let (host, _) = broker.endpoint(&inter_broker.name);
        return Ok((quorum, Some(socket), Some(format!("{host}:{port}"))));
    }
    let listener = cluster
        .listeners
        .iter()
        .find(|l| cluster.is_controller_listener(&l.name))
        .ok_or("a voter needs its controller listener")?;
    let socket = crate::server::bind_listener(listener)
        .await
        .map_err(|e| e.to_string())?;
    Ok((quorum, Some(socket), None))
}

/// Joins the quorum and registers this broker; returns once it is
/// registered and unfenced. Until then it retries, and says why every few
/// seconds; it gives up only when `stop` fires.
pub async fn join(
    broker: &Broker,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> Result<(Arc<ClusterNode>, Arc<MetadataImage>), String> {
    let roles = broker.config.cluster.roles;
    let (config, listener, observer_addr) = quorum_config(broker).await?;
    let quorum = Quorum::start(config, listener)
        .await
        .map_err(|e| e.to_string())?;
    let incarnation = crate::log::topic::random_uuid().map_err(|e| e.to_string())?;
    let cluster = &broker.config.cluster;
    let node = ClusterNode::new(
        quorum,
        roles.broker.then(|| broker.registration(incarnation)),
        broker.founding_cluster_id().to_string(),
        Duration::from_millis(cluster.broker_heartbeat_interval_ms),
        cluster.broker_session_timeout_ms,
        cluster.balancer.clone(),
    );
    // A node restarted faster than its old session runs out finds its
    // old registration still live, and waits it out (as Kafka's brokers
    // retry); a registration that stays live is another node's.
    if let Some(addr) = observer_addr {
        observe(&node, addr, &mut stop).await?;
    }
    let duplicate_for = Duration::from_millis(2 * cluster.broker_session_timeout_ms + 1000);
    let mut first_duplicate: Option<tokio::time::Instant> = None;
    loop {
        tokio::select! {
            active = node.wait_until_active(Duration::from_secs(5)) => match active {
                Ok(true) => break,
                Ok(false) => {}
                Err(why) => {
                    let since = *first_duplicate.get_or_insert_with(tokio::time::Instant::now);
                    if since.elapsed() > duplicate_for {
                        node.shutdown().await;
                        return Err(why);
                    }
                    tracing::info!("{why}; waiting for its session to run out");
                    tokio::time::sleep(Duration::from_millis(cluster.broker_heartbeat_interval_ms)).await;
                    continue;
                }
            },
            _ = stop.changed() => {
                node.shutdown().await;
                return Err("stopped before joining the cluster".into());
            }
        }
        if let Some((id, theirs)) = node.disagreeing_voter().await {
            node.shutdown().await;
            let mine = node.voters();
            return Err(format!(
                "controller.quorum.voters names {}, but node {id} names {}: give every node the same list",
                describe(mine),
                describe(&theirs)
            ));
        }
        tracing::warn!(leader = ?node.controller_id(), voters = ?cluster.voters.iter().map(|v| v.id).collect::<Vec<_>>(), "waiting for the metadata quorum to register this broker");
    }
    // Every node must name the same voters: the quorum was formed with the
    // list of whichever node initialized it first.
    let configured = node.voters();
    let formed = node.quorum_voters();
    if !cluster.voters.is_empty() && &formed != configured {
        node.shutdown().await;
        return Err(format!(
            "controller.quorum.voters names {}, but the quorum was formed with {}: give every node the same list",
            describe(configured),
            describe(&formed)
        ));
    }
    if !roles.broker {
        // A controller alone keeps no logs and serves no client.
        if let Err(e) = broker.join(Arc::clone(&node)) {
            node.shutdown().await;
            return Err(e.to_string());
        }
        let image = node.image();
        return Ok((node, image));
    }
    // The cluster's topics, not this node's, from now on.
    let followed = match replicas::reconcile_at_join(broker, &node).await {
        Ok(image) => image,
        Err(e) => {
            node.shutdown().await;
            return Err(e.to_string());
        }
    };
    if let Err(e) = broker.join(Arc::clone(&node)) {
        node.shutdown().await;
        return Err(e.to_string());
    }
    Ok((node, followed))
}

fn describe(voters: &BTreeMap<i32, String>) -> String {
    voters
        .iter()
        .map(|(id, addr)| format!("{id}@{addr}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// A node that does not vote asks the leader to feed it the metadata log,
/// until it is fed (or `stop`); it says why every few seconds meanwhile.
async fn observe(
    node: &Arc<ClusterNode>,
    addr: String,
    stop: &mut tokio::sync::watch::Receiver<bool>,
) -> Result<(), String> {
    let mut last_warning: Option<tokio::time::Instant> = None;
    loop {
        let why = tokio::select! {
            observed = node.observe(addr.clone()) => match observed {
                Ok(()) => return Ok(()),
                Err(why) => why,
            },
            _ = stop.changed() => {
                node.shutdown().await;
                return Err("stopped before joining the cluster".into());
            }
        };
        if last_warning.is_none_or(|at| at.elapsed() > Duration::from_secs(5)) {
            last_warning = Some(tokio::time::Instant::now());
            tracing::warn!(%addr, "waiting for the metadata quorum to feed this broker its log: {why}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
