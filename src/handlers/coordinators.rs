//! Which broker coordinates a group or a transactional id: the leader of
//! the key's partition of `__consumer_offsets` or `__transaction_state`,
//! as the metadata image has it. Its group or transaction state lives in
//! that partition's log, here.

use crate::broker::Broker;
use crate::cluster::records::NO_LEADER;
use crate::group::store::{partition_for, OFFSETS_TOPIC};
use crate::protocol::error_code::ErrorCode;
use crate::txn::store::TRANSACTION_TOPIC;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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

/// The broker coordinating `key`, as the image has it.
pub fn coordinator_of(broker: &Broker, kind: Coordinated, key: &str) -> Result<i32, ErrorCode> {
    let image = broker.image();
    let topic = image
        .topic(kind.topic())
        .ok_or(ErrorCode::CoordinatorNotAvailable)?;
    let count = i32::try_from(topic.partitions.len()).unwrap_or(1);
    let partition = usize::try_from(partition_for(key, count)).unwrap_or(0);
    match topic.partitions.get(partition) {
        Some(p) if p.leader != NO_LEADER => Ok(p.leader),
        _ => Err(ErrorCode::CoordinatorNotAvailable),
    }
}

/// NOT_COORDINATOR unless this broker coordinates `key` (a node that has
/// not joined a cluster coordinates everything).
pub fn check(broker: &Broker, kind: Coordinated, key: &str) -> Result<(), ErrorCode> {
    if broker.cluster_node().is_none() {
        return Ok(());
    }
    match coordinator_of(broker, kind, key)? {
        id if id == broker.config.node_id => Ok(()),
        _ => Err(ErrorCode::NotCoordinator),
    }
}
