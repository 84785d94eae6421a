//! DescribeQuorum (key 55): the metadata quorum's leader, epoch, high
//! watermark and each voter's progress, so `kafka-metadata-quorum` works.
//! Any broker answers: it asks the quorum's leader, which alone knows how
//! far each voter has come (as Kafka's brokers forward to the controller).

use super::{Implemented, RequestContext};
use crate::broker::Broker;
use crate::cluster::node::{ControllerCall, ControllerReply};
use crate::cluster::quorum::ReplicaProgress;
use crate::protocol::error_code::ErrorCode;
use crate::protocol::messages::describe_quorum_response::{
    Listener, Node, PartitionData, ReplicaState, TopicData,
};
use crate::protocol::messages::{
    ApiKey, DescribeQuorumRequest, DescribeQuorumResponse, ResponseBody,
};

pub const IMPLEMENTED: Implemented = Implemented {
    api_key: ApiKey::DescribeQuorum,
    min: 0,
    max: 2,
};

/// Kafka's name for the metadata log, which DescribeQuorum asks about.
pub const METADATA_TOPIC: &str = "__cluster_metadata";

fn replica(progress: &ReplicaProgress) -> ReplicaState {
    ReplicaState {
        replica_id: progress.replica_id,
        log_end_offset: progress.log_end_offset,
        last_fetch_timestamp: progress.last_fetch_ms,
        last_caught_up_timestamp: progress.last_caught_up_ms,
        ..ReplicaState::default()
    }
}

fn error(code: ErrorCode, message: String) -> ResponseBody {
    ResponseBody::DescribeQuorum(DescribeQuorumResponse {
        error_code: code.code(),
        error_message: Some(message),
        ..DescribeQuorumResponse::default()
    })
}

pub async fn handle(
    broker: &Broker,
    _ctx: &RequestContext,
    request: DescribeQuorumRequest,
) -> ResponseBody {
    let asks_for_the_log = request.topics.len() == 1
        && request.topics[0].topic_name == METADATA_TOPIC
        && request.topics[0].partitions.len() == 1
        && request.topics[0].partitions[0].partition_index == 0;
    if !asks_for_the_log {
        return error(
            ErrorCode::UnknownTopicOrPartition,
            format!("only {METADATA_TOPIC}-0 has a quorum"),
        );
    }
    let Some(node) = broker.cluster_node() else {
        return error(
            ErrorCode::NotLeaderOrFollower,
            "this broker has not joined the metadata quorum yet".into(),
        );
    };
    let state = match node.call(ControllerCall::DescribeQuorum).await {
        ControllerReply::Quorum(state) => state,
        other => {
            return error(
                ErrorCode::NotLeaderOrFollower,
                format!("the quorum's leader did not answer: {other:?}"),
            )
        }
    };
    let controller_listener = broker
        .config
        .cluster
        .controller_listener_names
        .first()
        .cloned()
        .unwrap_or_default();
    let nodes = node
        .voters()
        .iter()
        .map(|(id, addr)| Node {
            node_id: *id,
            listeners: addr
                .rsplit_once(':')
                .and_then(|(host, port)| {
                    Some(Listener {
                        name: controller_listener.clone(),
                        host: host.to_string(),
                        port: port.parse().ok()?,
                    })
                })
                .into_iter()
                .collect(),
        })
        .collect();
    ResponseBody::DescribeQuorum(DescribeQuorumResponse {
        topics: vec![TopicData {
            topic_name: METADATA_TOPIC.into(),
            partitions: vec![PartitionData {
                partition_index: 0,
                leader_id: state.leader.unwrap_or(-1),
                leader_epoch: state.epoch,
                high_watermark: state.high_watermark,
                current_voters: state.voters.iter().map(replica).collect(),
                observers: state.observers.iter().map(replica).collect(),
                ..PartitionData::default()
            }],
        }],
        nodes,
        ..DescribeQuorumResponse::default()
    })
}
