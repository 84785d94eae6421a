//! The metadata quorum: the metadata log replicated by Raft among the
//! voters, applied on every node to its [`MetadataImage`].
//!
//! openraft (pinned `=0.10.0-alpha.37`) is used only inside this module:
//! [`Quorum`] is the seam the rest of Odradek sees (propose records, read
//! images, know the leader), so the library's API churn touches only here.
//! Why 0.10 and not 0.9: 0.9 draws its election timeout once per process,
//! so two surviving voters can split their votes forever, and it lacks
//! pre-vote; both matter when the controller's leader dies.

mod log_store;
mod network;
mod state_machine;
mod types;

use crate::cluster::image::MetadataImage;
use crate::cluster::records::MetadataRecord;
use openraft::{BasicNode, Config, SnapshotPolicy};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

type Raft = openraft::Raft<types::QuorumTypes, state_machine::StateMachine>;

/// The stores' state locks: every mutation leaves the state consistent
/// before any I/O can fail, so a poisoned lock's state is still good.
fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn invalid(what: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string())
}

#[derive(Clone, Debug)]
pub struct QuorumConfig {
    pub node_id: i32,
    /// Every voter's id and the `host:port` of its quorum listener.
    pub voters: BTreeMap<i32, String>,
    /// `<data>/metadata`.
    pub dir: PathBuf,
    pub heartbeat_ms: u64,
    pub election_timeout_ms: (u64, u64),
    /// A snapshot after this many entries since the last (bounds the log).
    pub snapshot_every: u64,
}

impl QuorumConfig {
    /// A node alone: the only voter, needing no listener.
    pub fn standalone(node_id: i32, dir: PathBuf) -> QuorumConfig {
        QuorumConfig {
            node_id,
            voters: BTreeMap::from([(node_id, String::new())]),
            dir,
            heartbeat_ms: 100,
            election_timeout_ms: (300, 600),
            snapshot_every: 10_000,
        }
    }
}

/// One replica of the metadata log, as DescribeQuorum reports it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ReplicaProgress {
    pub replica_id: i32,
    /// The next offset of its log; -1 if unknown here.
    pub log_end_offset: i64,
    /// Wall-clock ms of its last acknowledgement; -1 if unknown.
    pub last_fetch_ms: i64,
    pub last_caught_up_ms: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct QuorumState {
    pub leader: Option<i32>,
    /// The leader's epoch: the Raft term.
    pub epoch: i32,
    /// The next offset after the last committed entry.
    pub high_watermark: i64,
    pub voters: Vec<ReplicaProgress>,
    pub observers: Vec<ReplicaProgress>,
}

#[derive(Debug)]
pub enum QuorumError {
    /// Only the leader takes proposals; `leader` is who is, if known.
    NotLeader {
        leader: Option<i32>,
    },
    /// Committed, but the image refused it (decided on a stale image).
    Refused(String),
    /// No quorum now, or this node is stopping.
    Unavailable(String),
    Storage(std::io::Error),
    Config(String),
}

impl std::fmt::Display for QuorumError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            QuorumError::NotLeader { leader: Some(id) } => {
                write!(f, "not the quorum's leader; node {id} is")
            }
            QuorumError::NotLeader { leader: None } => write!(f, "the quorum has no leader now"),
            QuorumError::Refused(why) => {
                write!(f, "the metadata image refused the proposal: {why}")
            }
            QuorumError::Unavailable(why) => write!(f, "the metadata quorum is unavailable: {why}"),
            QuorumError::Storage(e) => write!(f, "metadata log: {e}"),
            QuorumError::Config(why) => write!(f, "metadata quorum: {why}"),
        }
    }
}

impl std::error::Error for QuorumError {}

pub use network::CallHandler;

pub struct Quorum {
    /// Observers' addresses that changed (read by the replication streams).
    moved: network::AddressBook,
    node_id: i32,
    voters: BTreeMap<i32, String>,
    handlers: network::Handlers,
    raft: Raft,
    images: watch::Receiver<Arc<MetadataImage>>,
    server: std::sync::Mutex<Option<JoinHandle<()>>>,
}

fn raft_id(id: i32) -> Result<u64, QuorumError> {
    u64::try_from(id).map_err(|_| QuorumError::Config(format!("node id {id} is negative")))
}

impl Quorum {
    /// Opens the node's metadata log and joins the quorum; `listener` serves
    /// the other voters (none for a standalone node). A node that is not
    /// among the voters is an observer: it follows the log once the leader
    /// adds it ([`add_observer`](Self::add_observer)), and never votes.
    pub async fn start(
        config: QuorumConfig,
        listener: Option<TcpListener>,
    ) -> Result<Quorum, QuorumError> {
        let id = raft_id(config.node_id)?;
        let (min, max) = config.election_timeout_ms;
        let raft_config = Config {
            cluster_name: "odradek-metadata".into(),
            heartbeat_interval: config.heartbeat_ms,
            election_timeout_min: min,
            election_timeout_max: max,
            install_snapshot_timeout: 10_000,
            snapshot_policy: SnapshotPolicy::LogsSinceLast(config.snapshot_every),
            max_in_snapshot_log_to_keep: 0,
            enable_pre_vote: Some(true),
            ..Default::default()
        }
        .validate()
        .map_err(|e| QuorumError::Config(e.to_string()))?;
        let log = log_store::LogStore::open(&config.dir).map_err(QuorumError::Storage)?;
        let (state_machine, images) =
            state_machine::StateMachine::open(&config.dir).map_err(QuorumError::Storage)?;
        // openraft's run-time statistics fill a lookup table (~28 MiB, ~25 ms
        // of CPU) when a process builds its first Raft. Fill it on a blocking
        // thread: an async worker stalled that long would delay clients.
        let _ = tokio::task::spawn_blocking(|| drop(base2histogram::Histogram::<()>::new())).await;
        let moved = network::AddressBook::default();
        let raft = Raft::new(
            id,
            Arc::new(raft_config),
            network::Network {
                node_id: id,
                moved: Arc::clone(&moved),
            },
            log,
            state_machine,
        )
        .await
        .map_err(|e| QuorumError::Unavailable(e.to_string()))?;
        let handlers = network::Handlers::default();
        let server = listener.map(|l| {
            tokio::spawn(network::serve(
                l,
                raft.clone(),
                network::Handlers::clone(&handlers),
            ))
        });
        let initialized = raft
            .is_initialized()
            .await
            .map_err(|e| QuorumError::Unavailable(e.to_string()))?;
        if !initialized && config.voters.contains_key(&config.node_id) {
            let mut voters = BTreeMap::new();
            for (voter, addr) in &config.voters {
                voters.insert(raft_id(*voter)?, BasicNode::new(addr));
            }
            // Every voter initializes with the same set: whichever is first
            // wins, and the others' attempts are refused harmlessly.
            if let Err(e) = raft.initialize(voters).await {
                tracing::debug!(error = %e, "quorum already initialized by a peer");
            }
        }
        Ok(Quorum {
            moved,
            node_id: config.node_id,
            voters: config.voters,
            handlers,
            raft,
            images,
            server: std::sync::Mutex::new(server),
        })
    }

    pub fn node_id(&self) -> i32 {
        self.node_id
    }

    /// The image as of the last record applied on this node.
    pub fn image(&self) -> Arc<MetadataImage> {
        Arc::clone(&self.images.borrow())
    }

    /// Each new image, as records are applied.
    pub fn images(&self) -> watch::Receiver<Arc<MetadataImage>> {
        self.images.clone()
    }

    pub fn leader(&self) -> Option<i32> {
        use openraft::async_runtime::WatchReceiver;
        let leader = self.raft.metrics().borrow_watched().current_leader;
        leader.and_then(|id| i32::try_from(id).ok())
    }

    /// The quorum as DescribeQuorum shows it. Replication progress is known
    /// on the leader only; elsewhere it is -1.
    pub fn state(&self) -> QuorumState {
        use openraft::async_runtime::WatchReceiver;
        use openraft::Instant as _;
        let metrics = self.raft.metrics().borrow_watched().clone();
        let wall_ms = crate::log::now_ms();
        let leader_end = metrics.last_log_index.map_or(0, |i| i as i64 + 1);
        let progress = |id: u64| -> ReplicaProgress {
            let replica_id = i32::try_from(id).unwrap_or(-1);
            if Some(id) == metrics.current_leader && id == metrics.id {
                return ReplicaProgress {
                    replica_id,
                    log_end_offset: leader_end,
                    last_fetch_ms: wall_ms,
                    last_caught_up_ms: wall_ms,
                };
            }
            let matched = metrics
                .replication
                .as_ref()
                .and_then(|r| r.get(&id).cloned());
            let acked = metrics
                .heartbeat
                .as_ref()
                .and_then(|h| h.get(&id).cloned().flatten());
            let last_fetch_ms = acked.map_or(-1, |at| wall_ms - at.elapsed().as_millis() as i64);
            match matched {
                None => ReplicaProgress {
                    replica_id,
                    log_end_offset: -1,
                    last_fetch_ms,
                    last_caught_up_ms: -1,
                },
                Some(log_id) => {
                    let end = log_id.map_or(0, |l| l.index as i64 + 1);
                    let caught_up = if end >= leader_end { last_fetch_ms } else { -1 };
                    ReplicaProgress {
                        replica_id,
                        log_end_offset: end,
                        last_fetch_ms,
                        last_caught_up_ms: caught_up,
                    }
                }
            }
        };
        let membership = metrics.membership_config.membership();
        QuorumState {
            leader: metrics.current_leader.and_then(|id| i32::try_from(id).ok()),
            epoch: i32::try_from(metrics.vote.leader_id().term).unwrap_or(i32::MAX),
            high_watermark: metrics.cluster_committed.map_or(0, |l| l.index as i64 + 1),
            voters: membership.voter_ids().map(progress).collect(),
            observers: membership.learner_ids().map(progress).collect(),
        }
    }

    /// The voters of the membership this node has applied, by id, with the
    /// addresses the quorum was formed with.
    pub fn membership(&self) -> BTreeMap<i32, String> {
        use openraft::async_runtime::WatchReceiver;
        let metrics = self.raft.metrics().borrow_watched().clone();
        let membership = metrics.membership_config.membership();
        let voters: Vec<u64> = membership.voter_ids().collect();
        membership
            .nodes()
            .filter(|(id, _)| voters.contains(id))
            .filter_map(|(id, node)| Some((i32::try_from(*id).ok()?, node.addr.clone())))
            .collect()
    }

    /// Whether this node follows the log without voting.
    pub fn is_observer(&self) -> bool {
        !self.voters.contains_key(&self.node_id)
    }

    /// As the leader: node `id` follows the log from now on, without
    /// voting, fed at `addr` (an observer restarted elsewhere moves there).
    pub async fn add_observer(&self, id: i32, addr: String) -> Result<(), QuorumError> {
        use openraft::async_runtime::WatchReceiver;
        if self.voters.contains_key(&id) {
            return Err(QuorumError::Config(format!("node {id} is a voter")));
        }
        let raft_node = raft_id(id)?;
        let known = {
            let metrics = self.raft.metrics().borrow_watched().clone();
            let membership = metrics.membership_config.membership();
            membership.get_node(&raft_node).map(|n| n.addr.clone())
        };
        let node = BasicNode::new(&addr);
        let written = match known {
            Some(known) if known == addr => return Ok(()),
            Some(_) => {
                let moved = openraft::ChangeMembers::SetNodes(BTreeMap::from([(raft_node, node)]));
                let changed = self.raft.change_membership(moved, true).await.map(|_| ());
                if changed.is_ok() {
                    // A stream already open toward the old address reconnects here.
                    lock(&self.moved).insert(raft_node, addr);
                }
                changed
            }
            None => self
                .raft
                .add_learner(raft_node, node, false)
                .await
                .map(|_| ()),
        };
        written.map_err(|e| match e.forward_to_leader() {
            Some(forward) => QuorumError::NotLeader {
                leader: forward.leader_id.and_then(|id| i32::try_from(id).ok()),
            },
            None => QuorumError::Unavailable(e.to_string()),
        })
    }

    /// Every voter's id and quorum address.
    pub fn voters(&self) -> &BTreeMap<i32, String> {
        &self.voters
    }

    /// Waits until some node leads and has a quorum's acknowledgement.
    pub async fn wait_for_leader(&self, timeout: Duration) -> Result<i32, QuorumError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(leader) = self.leader() {
                if leader != self.node_id {
                    return Ok(leader);
                }
                let acked = self
                    .raft
                    .wait(Some(
                        deadline.saturating_duration_since(tokio::time::Instant::now()),
                    ))
                    .leader_with_quorum_acked(None, "leader")
                    .await;
                if acked.is_ok() {
                    return Ok(leader);
                }
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(QuorumError::NotLeader { leader: None });
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Appends `records` as one proposal; answers once it is committed and
    /// applied here, with the offset it landed at.
    pub async fn propose(&self, records: Vec<MetadataRecord>) -> Result<i64, QuorumError> {
        let written = self.raft.client_write(types::Proposal(records)).await;
        match written {
            Ok(response) => match response.data.refused {
                None => Ok(response.data.offset),
                Some(why) => Err(QuorumError::Refused(why)),
            },
            Err(e) => match e.forward_to_leader() {
                Some(forward) => Err(QuorumError::NotLeader {
                    leader: forward.leader_id.and_then(|id| i32::try_from(id).ok()),
                }),
                None => Err(QuorumError::Unavailable(e.to_string())),
            },
        }
    }

    /// Installs the handler of the calls other nodes send this one.
    pub fn serve_calls(&self, handler: Arc<dyn CallHandler>) {
        let _ = self.handlers.set(handler);
    }

    /// Sends a call to voter `node` (the leader, typically).
    pub async fn call(
        &self,
        node: i32,
        body: Vec<u8>,
        timeout: Duration,
    ) -> Result<Vec<u8>, QuorumError> {
        let addr = self
            .voters
            .get(&node)
            .ok_or_else(|| QuorumError::Config(format!("node {node} is not a voter")))?;
        network::call(addr, body, timeout)
            .await
            .map_err(|e| QuorumError::Unavailable(format!("node {node}: {e}")))
    }

    /// Waits until this node has applied everything committed before now,
    /// so a decision taken on its image is not taken on a stale one.
    pub async fn catch_up(&self, timeout: Duration) -> Result<(), QuorumError> {
        let read = self
            .raft
            .ensure_linearizable(openraft::raft::ReadPolicy::ReadIndex)
            .await
            .map_err(|e| match e.forward_to_leader() {
                Some(forward) => QuorumError::NotLeader {
                    leader: forward.leader_id.and_then(|id| i32::try_from(id).ok()),
                },
                None => QuorumError::Unavailable(e.to_string()),
            })?;
        let index = read.index() as i64;
        let mut images = self.images();
        tokio::time::timeout(timeout, images.wait_for(|image| image.offset >= index))
            .await
            .map_err(|_| QuorumError::Unavailable("applying the log took too long".into()))?
            .map_err(|_| QuorumError::Unavailable("stopping".into()))?;
        Ok(())
    }

    /// Stops serving peers and stops the node.
    pub async fn shutdown(&self) {
        if let Some(server) = self.server.lock().unwrap_or_else(|p| p.into_inner()).take() {
            server.abort();
        }
        if let Err(e) = self.raft.shutdown().await {
            tracing::warn!(error = %e, "metadata quorum: stopping");
        }
    }
}

#[cfg(test)]
mod tests;
