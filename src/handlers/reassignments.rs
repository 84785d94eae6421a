//! AlterPartitionReassignments (key 45) and ListPartitionReassignments
//! (key 46), as `kafka-reassign-partitions` uses them. The controller
//! decides each partition's move (`crate::cluster::reassignment`); the
//! answer comes once this broker's image shows it, and the data moves
//! afterwards: the joining replicas copy the leader, and the move
//! completes when they are all in sync.

use super::Implemented;
use crate::broker::Broker;
use crate::cluster::controller::Controller;
use crate::cluster::image::MetadataImage;
use crate::cluster::node::ControllerCall;
use crate::protocol::error_code::ErrorCode;
use crate::protocol::messages::alter_partition_reassignments_response::{
    ReassignablePartitionResponse, ReassignableTopicResponse,
};
use crate::protocol::messages::list_partition_reassignments_response::{
    OngoingPartitionReassignment, OngoingTopicReassignment,
};
use crate::protocol::messages::{
    AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse, ApiKey,
    ListPartitionReassignmentsRequest, ListPartitionReassignmentsResponse, ResponseBody,
};

/// v1 (KIP-860) adds AllowReplicationFactorChange.
pub const ALTER: Implemented = Implemented {
    api_key: ApiKey::AlterPartitionReassignments,
    min: 0,
    max: 1,
};
pub const LIST: Implemented = Implemented {
    api_key: ApiKey::ListPartitionReassignments,
    min: 0,
    max: 0,
};

/// One partition's move: (topic, partition, target; None cancels).
type Move = (String, i32, Option<Vec<i32>>);

pub async fn alter(
    broker: &Broker,
    version: i16,
    request: AlterPartitionReassignmentsRequest,
) -> ResponseBody {
    // Before v1 the replication factor may always change.
    let allow_rf_change = version < 1 || request.allow_replication_factor_change;
    let moves: Vec<Move> = request
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(|p| (t.name.clone(), p.partition_index, p.replicas.clone()))
        })
        .collect();
    let outcomes = decide(broker, &moves, allow_rf_change).await;
    let mut outcomes = outcomes.into_iter();
    let responses = request
        .topics
        .into_iter()
        .map(|topic| ReassignableTopicResponse {
            partitions: topic
                .partitions
                .iter()
                .map(|p| {
                    let (code, message) = outcomes.next().unwrap_or((
                        ErrorCode::UnknownServerError,
                        Some("no outcome".to_string()),
                    ));
                    ReassignablePartitionResponse {
                        partition_index: p.partition_index,
                        error_code: code.code(),
                        error_message: message,
                    }
                })
                .collect(),
            name: topic.name,
        })
        .collect();
    ResponseBody::AlterPartitionReassignments(AlterPartitionReassignmentsResponse {
        allow_replication_factor_change: allow_rf_change,
        responses,
        ..AlterPartitionReassignmentsResponse::default()
    })
}

/// Each move's outcome, decided by the controller; a node alone decides
/// against its own image (its only broker is itself, so nothing can move).
async fn decide(
    broker: &Broker,
    moves: &[Move],
    allow_rf_change: bool,
) -> Vec<(ErrorCode, Option<String>)> {
    let Some(node) = broker.cluster_node() else {
        let image = broker.image();
        let alone = Controller::new(0);
        return moves
            .iter()
            .map(|(topic, partition, target)| {
                match alone.alter_reassignment(
                    &image,
                    topic,
                    *partition,
                    target.as_deref(),
                    allow_rf_change,
                ) {
                    Ok(records) if records.is_empty() => (ErrorCode::None, None),
                    Ok(_) => (
                        ErrorCode::InvalidReplicaAssignment,
                        Some("a node that has joined no cluster has no other broker".into()),
                    ),
                    Err(e) => (e.code(), Some(e.to_string())),
                }
            })
            .collect();
    };
    let call = ControllerCall::AlterReassignments {
        moves: moves.to_vec(),
        allow_rf_change,
    };
    super::decided_by_controller(node, call, moves.len()).await
}

/// The partitions moving, from this broker's image: all of them for a null
/// topic list, else those named that are moving (the others are left out,
/// as Kafka does).
pub fn list(broker: &Broker, request: ListPartitionReassignmentsRequest) -> ResponseBody {
    let image = broker.image();
    let named: Vec<(String, Vec<i32>)> = match request.topics {
        Some(topics) => topics
            .into_iter()
            .map(|t| (t.name, t.partition_indexes))
            .collect(),
        None => image
            .topics()
            .map(|t| (t.name.clone(), (0..t.partitions.len() as i32).collect()))
            .collect(),
    };
    let topics = named
        .into_iter()
        .filter_map(|(name, indexes)| {
            let partitions = moving(&image, &name, &indexes);
            (!partitions.is_empty()).then_some(OngoingTopicReassignment { name, partitions })
        })
        .collect();
    ResponseBody::ListPartitionReassignments(ListPartitionReassignmentsResponse {
        topics,
        ..ListPartitionReassignmentsResponse::default()
    })
}

fn moving(
    image: &MetadataImage,
    topic: &str,
    indexes: &[i32],
) -> Vec<OngoingPartitionReassignment> {
    indexes
        .iter()
        .filter_map(|&index| {
            let p = image.partition(topic, index)?;
            p.reassigning().then(|| OngoingPartitionReassignment {
                partition_index: index,
                replicas: p.replicas.clone(),
                adding_replicas: p.adding.clone(),
                removing_replicas: p.removing.clone(),
            })
        })
        .collect()
}
