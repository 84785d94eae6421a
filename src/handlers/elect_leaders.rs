//! ElectLeaders (key 43): the preferred replica of each named partition
//! (or of every partition, with a null list) leads again, decided by the
//! controller, as `kafka-leader-election --election-type PREFERRED` asks.
//! Unclean election is never done: such requests get
//! ELIGIBLE_LEADERS_NOT_AVAILABLE for partitions without a leader, and
//! ELECTION_NOT_NEEDED for those that have one.

use super::{Implemented, RequestContext};
use crate::broker::Broker;
use crate::cluster::image::MetadataImage;
use crate::cluster::node::ControllerCall;
use crate::cluster::records::NO_LEADER;
use crate::protocol::error_code::ErrorCode;
use crate::protocol::messages::elect_leaders_response::{PartitionResult, ReplicaElectionResult};
use crate::protocol::messages::{ApiKey, ElectLeadersRequest, ElectLeadersResponse, ResponseBody};
use std::collections::BTreeMap;

pub const IMPLEMENTED: Implemented = Implemented {
    api_key: ApiKey::ElectLeaders,
    min: 0,
    max: 2,
};

const PREFERRED: i8 = 0;

/// The partitions asked for, in order and once each; every partition of
/// every topic for a null list (the internal ones included, as Kafka).
fn requested(image: &MetadataImage, request: &ElectLeadersRequest) -> Vec<(String, i32)> {
    let mut wanted: Vec<(String, i32)> = match &request.topic_partitions {
        Some(topics) => topics
            .iter()
            .flat_map(|t| t.partitions.iter().map(|p| (t.topic.clone(), *p)))
            .collect(),
        None => image
            .topics()
            .flat_map(|t| (0..t.partitions.len() as i32).map(|p| (t.name.clone(), p)))
            .collect(),
    };
    let mut seen = std::collections::BTreeSet::new();
    wanted.retain(|key| seen.insert(key.clone()));
    wanted
}

/// Unclean election is not done: what a partition answers instead.
fn unclean(image: &MetadataImage, topic: &str, partition: i32) -> (ErrorCode, String) {
    match image.partition(topic, partition) {
        None => (
            ErrorCode::UnknownTopicOrPartition,
            format!("{topic}-{partition} does not exist"),
        ),
        Some(p) if p.leader != NO_LEADER => (
            ErrorCode::ElectionNotNeeded,
            format!("{topic}-{partition} has a leader"),
        ),
        Some(_) => (
            ErrorCode::EligibleLeadersNotAvailable,
            format!("{topic}-{partition} has no in-sync replica alive; Odradek never elects an out-of-sync one"),
        ),
    }
}

/// Preferred elections through the controller; a node alone leads every
/// partition it has, each its only replica's.
async fn preferred(
    broker: &Broker,
    partitions: &[(String, i32)],
) -> Vec<(ErrorCode, Option<String>)> {
    let Some(node) = broker.cluster_node() else {
        let image = broker.image();
        return partitions
            .iter()
            .map(|(t, p)| match image.partition(t, *p) {
                Some(_) => (ErrorCode::ElectionNotNeeded, None),
                None => (ErrorCode::UnknownTopicOrPartition, None),
            })
            .collect();
    };
    let call = ControllerCall::ElectPreferred {
        partitions: partitions.to_vec(),
    };
    super::decided_by_controller(node, call, partitions.len()).await
}

pub async fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    request: ElectLeadersRequest,
) -> ResponseBody {
    let image = broker.image();
    let partitions = requested(&image, &request);
    // v0 has no election type: it asks for the preferred replica.
    let outcomes = if ctx.api_version == 0 || request.election_type == PREFERRED {
        preferred(broker, &partitions).await
    } else {
        partitions
            .iter()
            .map(|(t, p)| {
                let (code, message) = unclean(&image, t, *p);
                (code, Some(message))
            })
            .collect()
    };
    let mut by_topic: BTreeMap<String, Vec<PartitionResult>> = BTreeMap::new();
    for ((topic, partition), (code, message)) in partitions.into_iter().zip(outcomes) {
        by_topic.entry(topic).or_default().push(PartitionResult {
            partition_id: partition,
            error_code: code.code(),
            error_message: message,
        });
    }
    ResponseBody::ElectLeaders(ElectLeadersResponse {
        replica_election_results: by_topic
            .into_iter()
            .map(|(topic, partition_result)| ReplicaElectionResult {
                topic,
                partition_result,
            })
            .collect(),
        ..ElectLeadersResponse::default()
    })
}
