//! The topic lifecycle of a node in a cluster: each request is checked
//! here, decided by the controller (one proposal per request), and answered
//! once this node's local logs have followed the change.

use crate::broker::Broker;
use crate::cluster::controller::ControllerError;
use crate::cluster::node::{ClusterNode, ControllerCall, ControllerReply, TopicCreation};
use crate::protocol::error_code::ErrorCode;
use std::time::Duration;

/// How long an answer waits for this node's logs to follow a change.
const FOLLOW_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a topic request got no decision from the controller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoDecision {
    pub code: ErrorCode,
    pub message: String,
}

fn no_decision(reply: ControllerReply) -> NoDecision {
    match reply {
        ControllerReply::NotLeader { .. } => NoDecision {
            code: ErrorCode::NotController,
            message: "the metadata quorum is electing its leader".into(),
        },
        ControllerReply::Unavailable(why) | ControllerReply::Refused(why) => NoDecision {
            code: ErrorCode::RequestTimedOut,
            message: why,
        },
        other => NoDecision {
            code: ErrorCode::UnknownServerError,
            message: format!("an answer of the wrong kind: {other:?}"),
        },
    }
}

/// Asks the controller; answers each part's outcome once this node's logs
/// have the changes.
pub async fn decide(
    broker: &Broker,
    node: &ClusterNode,
    call: ControllerCall,
) -> Result<Vec<Result<(), ControllerError>>, NoDecision> {
    match node.call(call).await {
        ControllerReply::Topics { outcomes, offset } => {
            if !broker.wait_followed(offset, FOLLOW_TIMEOUT).await {
                tracing::warn!(
                    offset,
                    "this node's logs are slow to follow the metadata image"
                );
            }
            Ok(outcomes)
        }
        other => Err(no_decision(other)),
    }
}

/// Creates topics through the controller.
pub async fn create(
    broker: &Broker,
    node: &ClusterNode,
    topics: Vec<TopicCreation>,
    validate_only: bool,
) -> Result<Vec<Result<(), ControllerError>>, NoDecision> {
    if topics.is_empty() {
        return Ok(Vec::new());
    }
    let call = ControllerCall::CreateTopics {
        topics,
        validate_only,
    };
    decide(broker, node, call).await
}

/// Creates one topic through the controller unless it exists (auto- and
/// internal-topic creation); `Err` says why it could not be.
pub async fn create_if_missing(
    broker: &Broker,
    node: &ClusterNode,
    creation: TopicCreation,
) -> Result<(), String> {
    match create(broker, node, vec![creation], false).await {
        Ok(outcomes) => match outcomes.into_iter().next() {
            Some(Ok(())) | Some(Err(ControllerError::TopicAlreadyExists(_))) => Ok(()),
            Some(Err(e)) => Err(e.to_string()),
            None => Err("no outcome".into()),
        },
        Err(no) => Err(no.message),
    }
}

/// A new topic's creation, with a fresh id.
pub fn creation(
    name: &str,
    partitions: i32,
    replication_factor: i16,
    assignments: Option<Vec<Vec<i32>>>,
    configs: std::collections::BTreeMap<String, String>,
) -> std::io::Result<TopicCreation> {
    Ok(TopicCreation {
        name: name.to_string(),
        topic_id: crate::log::topic::random_uuid()?.0,
        partitions,
        replication_factor,
        assignments,
        configs,
    })
}
