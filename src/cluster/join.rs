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

async fn quorum_config(broker: &Broker) -> Result<(QuorumConfig, Option<TcpListener>), String> {
    let config = &broker.config;
    let cluster = &config.cluster;
    let dir = config.data_dir.join("metadata");
    if cluster.voters.is_empty() {
        // No voters named: this node alone (also Kafka's standalone
        // combined mode, whose one bootstrap server is itself).
        return Ok((QuorumConfig::standalone(config.node_id, dir), None));
    }
    let listener = cluster
        .listeners
        .iter()
        .find(|l| cluster.is_controller_listener(&l.name))
        .ok_or("a voter needs its controller listener")?;
    let socket = crate::server::bind_listener(listener)
        .await
        .map_err(|e| e.to_string())?;
    let voters = cluster.voter_addresses();
    let quorum = QuorumConfig {
        node_id: config.node_id,
        voters,
        dir,
        heartbeat_ms: RAFT_HEARTBEAT_MS,
        election_timeout_ms: RAFT_ELECTION_MS,
        snapshot_every: SNAPSHOT_EVERY,
    };
    Ok((quorum, Some(socket)))
}

/// Joins the quorum and registers this broker; returns once it is
/// registered and unfenced. Until then it retries, and says why every few
/// seconds; it gives up only when `stop` fires.
pub async fn join(
    broker: &Broker,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> Result<(Arc<ClusterNode>, Arc<MetadataImage>), String> {
    let roles = broker.config.cluster.roles;
    if !roles.broker || !roles.controller {
        return Err("process.roles: nodes with one role (brokers that follow the quorum without voting, or controllers alone) are not served yet; give every node both roles, broker,controller".into());
    }
    let (config, listener) = quorum_config(broker).await?;
    let quorum = Quorum::start(config, listener)
        .await
        .map_err(|e| e.to_string())?;
    let incarnation = crate::log::topic::random_uuid().map_err(|e| e.to_string())?;
    let cluster = &broker.config.cluster;
    let node = ClusterNode::new(
        quorum,
        broker.registration(incarnation),
        broker.founding_cluster_id().to_string(),
        Duration::from_millis(cluster.broker_heartbeat_interval_ms),
        cluster.broker_session_timeout_ms,
    );
    // A node restarted faster than its old session runs out finds its
    // old registration still live, and waits it out (as Kafka's brokers
    // retry); a registration that stays live is another node's.
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
    // The cluster's topics, not this node's, from now on.
    let followed =
        match replicas::reconcile_at_join(&broker.log, &node, broker.config.node_id).await {
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
