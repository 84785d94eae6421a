//! Which broker coordinates a group or a transactional id: the leader of
//! the key's partition of `__consumer_offsets` or `__transaction_state`,
//! as the metadata image has it. Its group or transaction state lives in
//! that partition's log, here.

use crate::broker::Broker;
use crate::cluster::records::NO_LEADER;
use crate::group::store::{partition_for, OFFSETS_TOPIC};
use crate::protocol::error_code::ErrorCode;
use crate::txn::store::TRANSACTION_TOPIC;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Coordinated {
    Group,
    Transaction,
}

impl Coordinated {
    fn topic(self) -> &'static str {
        match self {
            Coordinated::Group => OFFSETS_TOPIC,
            Coordinated::Transaction => TRANSACTION_TOPIC,
        }
    }

    /// (partitions, replication factor) the topic is created with.
    fn shape(self, broker: &Broker) -> (i32, i16) {
        let config = &broker.config;
        match self {
            Coordinated::Group => (
                config.group.offsets_topic_num_partitions,
                config.cluster.offsets_topic_replication_factor,
            ),
            Coordinated::Transaction => (
                config.txn.state_log_num_partitions,
                config.cluster.txn_state_log_replication_factor,
            ),
        }
    }
}

/// Creates the internal topic of `kind` if it does not exist: through the
/// controller in a cluster (its partitions then spread over the brokers),
/// locally on a node that has not joined one.
pub async fn ensure_topic(broker: &Broker, kind: Coordinated) -> Result<(), (ErrorCode, String)> {
    let (partitions, replication_factor) = kind.shape(broker);
    let unavailable = |why: String| (ErrorCode::CoordinatorNotAvailable, why);
    let Some(node) = broker.metadata_writer().await else {
        return broker
            .log
            .ensure_internal_topic(kind.topic(), partitions)
            .map_err(|e| unavailable(e.to_string()));
    };
    if broker.image().topic(kind.topic()).is_some() {
        return Ok(());
    }
    let creation = super::topics::controller::creation(
        kind.topic(),
        partitions,
        replication_factor,
        None,
        crate::log::internal_topic_configs(),
    )
    .map_err(|e| unavailable(e.to_string()))?;
    super::topics::controller::create_if_missing(broker, node, creation)
        .await
        .map_err(unavailable)
}

/// The internal partition holding `key`, its leader and leader epoch, as
/// the image has it.
fn coordinating(
    broker: &Broker,
    kind: Coordinated,
    key: &str,
) -> Result<(i32, i32, i32), ErrorCode> {
    let image = broker.image();
    let topic = image
        .topic(kind.topic())
        .ok_or(ErrorCode::CoordinatorNotAvailable)?;
    let count = i32::try_from(topic.partitions.len()).unwrap_or(1);
    let partition = partition_for(key, count);
    match usize::try_from(partition)
        .ok()
        .and_then(|i| topic.partitions.get(i))
    {
        Some(p) if p.leader != NO_LEADER => Ok((partition, p.leader, p.leader_epoch)),
        _ => Err(ErrorCode::CoordinatorNotAvailable),
    }
}

/// The broker coordinating `key`, as the image has it.
pub fn coordinator_of(broker: &Broker, kind: Coordinated, key: &str) -> Result<i32, ErrorCode> {
    coordinating(broker, kind, key).map(|(_, leader, _)| leader)
}

/// NOT_COORDINATOR unless this broker coordinates `key` (a node that has
/// not joined a cluster coordinates everything), and
/// COORDINATOR_LOAD_IN_PROGRESS until it has loaded the state of the key's
/// partition for the leader epoch it leads with.
pub fn check(broker: &Broker, kind: Coordinated, key: &str) -> Result<(), ErrorCode> {
    if broker.cluster_node().is_none() {
        return Ok(());
    }
    let (partition, leader, epoch) = coordinating(broker, kind, key)?;
    if leader != broker.config.node_id {
        return Err(ErrorCode::NotCoordinator);
    }
    if broker.coordinator_loads.epoch(kind, partition) != Some(epoch) {
        return Err(ErrorCode::CoordinatorLoadInProgress);
    }
    Ok(())
}

/// The coordinator epoch this broker writes `key`'s transaction markers
/// with: the leader epoch at which it loaded the key's internal partition
/// (0 on a node that has not joined a cluster). A partition leader fences
/// markers from a coordinator older than the last one it heard from.
pub fn coordinator_epoch(broker: &Broker, kind: Coordinated, key: &str) -> i32 {
    if broker.cluster_node().is_none() {
        return 0;
    }
    match coordinating(broker, kind, key) {
        Ok((partition, _, epoch)) => broker
            .coordinator_loads
            .epoch(kind, partition)
            .unwrap_or(epoch),
        Err(_) => 0,
    }
}

/// The leader epoch at which this broker loaded each internal partition's
/// coordinator state (those it leads).
#[derive(Default)]
pub struct Loads(std::sync::Mutex<std::collections::HashMap<(Coordinated, i32), i32>>);

impl Loads {
    fn epoch(&self, kind: Coordinated, partition: i32) -> Option<i32> {
        let loads = self.0.lock().unwrap_or_else(|p| p.into_inner());
        loads.get(&(kind, partition)).copied()
    }
}

/// Coordinators follow the leadership of their internal partitions: a
/// partition this broker leads with a new epoch has its groups or
/// transactions read again from its log (others' writes reached it as a
/// follower); one it no longer leads is forgotten. Called as the image is
/// followed, after the local logs took their roles.
pub fn follow_leadership(broker: &Broker, image: &crate::cluster::image::MetadataImage) {
    let node_id = broker.config.node_id;
    for kind in [Coordinated::Group, Coordinated::Transaction] {
        let Some(topic) = image.topic(kind.topic()) else {
            continue;
        };
        for (index, p) in topic.partitions.iter().enumerate() {
            let partition = index as i32;
            let loaded = broker.coordinator_loads.epoch(kind, partition);
            if p.leader != node_id {
                if loaded.is_some() {
                    match kind {
                        Coordinated::Group => {
                            broker.groups.unload_partition(&broker.log, partition)
                        }
                        Coordinated::Transaction => {
                            broker.txns.unload_partition(&broker.log, partition)
                        }
                    }
                    broker.coordinator_loads.forget(kind, partition);
                    tracing::info!(topic = kind.topic(), partition, "no longer coordinating");
                }
                continue;
            }
            if loaded == Some(p.leader_epoch) {
                continue;
            }
            let outcome = match kind {
                Coordinated::Group => broker.groups.load_partition(&broker.log, partition),
                Coordinated::Transaction => broker.txns.load_partition(&broker.log, partition),
            };
            match outcome {
                Ok(count) => {
                    broker
                        .coordinator_loads
                        .set(kind, partition, p.leader_epoch);
                    tracing::info!(
                        topic = kind.topic(),
                        partition,
                        epoch = p.leader_epoch,
                        loaded = count,
                        "coordinating"
                    );
                }
                Err(e) => {
                    tracing::error!(topic = kind.topic(), partition, error = %e, "loading coordinator state")
                }
            }
        }
    }
}

impl Loads {
    fn set(&self, kind: Coordinated, partition: i32, epoch: i32) {
        let mut loads = self.0.lock().unwrap_or_else(|p| p.into_inner());
        loads.insert((kind, partition), epoch);
    }

    fn forget(&self, kind: Coordinated, partition: i32) {
        let mut loads = self.0.lock().unwrap_or_else(|p| p.into_inner());
        loads.remove(&(kind, partition));
    }
}
