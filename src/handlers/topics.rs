//! Topic lifecycle: CreateTopics (key 19), DeleteTopics (key 20) and
//! CreatePartitions (key 37).

use super::Implemented;
use crate::broker::Broker;
use crate::log::TopicError;
use crate::protocol::error_code::ErrorCode;
use crate::protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use crate::protocol::messages::create_topics_response::CreatableTopicResult;
use crate::protocol::messages::delete_topics_response::DeletableTopicResult;
use crate::protocol::messages::{
    ApiKey, CreatePartitionsRequest, CreatePartitionsResponse, CreateTopicsRequest,
    CreateTopicsResponse, DeleteTopicsRequest, DeleteTopicsResponse, ResponseBody,
};
use crate::protocol::wire::Uuid;
use std::collections::BTreeMap;

pub const CREATE_TOPICS: Implemented = Implemented {
    api_key: ApiKey::CreateTopics,
    min: 2,
    max: 7,
};
pub const DELETE_TOPICS: Implemented = Implemented {
    api_key: ApiKey::DeleteTopics,
    min: 1,
    max: 6,
};
pub const CREATE_PARTITIONS: Implemented = Implemented {
    api_key: ApiKey::CreatePartitions,
    min: 0,
    max: 3,
};

fn error_code(error: &TopicError) -> ErrorCode {
    match error {
        TopicError::InvalidName => ErrorCode::InvalidTopicException,
        TopicError::AlreadyExists => ErrorCode::TopicAlreadyExists,
        TopicError::UnknownTopic => ErrorCode::UnknownTopicOrPartition,
        TopicError::InvalidPartitions(_) => ErrorCode::InvalidPartitions,
        TopicError::InvalidConfig(_) => ErrorCode::InvalidConfig,
        TopicError::Io(_) => ErrorCode::UnknownServerError,
    }
}

pub fn create_topics(broker: &Broker, _version: i16, request: CreateTopicsRequest) -> ResponseBody {
    let node = broker.config.node_id;
    let topics = request
        .topics
        .into_iter()
        .map(|topic| {
            let mut result = CreatableTopicResult {
                name: topic.name.clone(),
                num_partitions: -1,
                replication_factor: -1,
                ..CreatableTopicResult::default()
            };
            let fail = |mut result: CreatableTopicResult, code: ErrorCode, message: String| {
                result.error_code = code.code();
                result.error_message = Some(message);
                result
            };
            // Explicit assignments name the brokers of each partition: only this one exists.
            let partitions = if topic.assignments.is_empty() {
                if topic.num_partitions == -1 {
                    broker.config.num_partitions
                } else {
                    topic.num_partitions
                }
            } else {
                if topic.num_partitions != -1 || topic.replication_factor != -1 {
                    return fail(
                        result,
                        ErrorCode::InvalidRequest,
                        "both assignments and partition count/replication factor given".into(),
                    );
                }
                if topic.assignments.iter().any(|a| a.broker_ids != [node]) {
                    return fail(
                        result,
                        ErrorCode::InvalidReplicaAssignment,
                        format!("replicas must be exactly [{node}]"),
                    );
                }
                topic.assignments.len() as i32
            };
            if !matches!(topic.replication_factor, -1 | 1) {
                return fail(
                    result,
                    ErrorCode::InvalidReplicationFactor,
                    format!(
                        "replication factor {} is larger than the 1 available broker",
                        topic.replication_factor
                    ),
                );
            }
            let mut configs = BTreeMap::new();
            for config in &topic.configs {
                // A null value means "use the default".
                if let Some(value) = &config.value {
                    configs.insert(config.name.clone(), value.clone());
                }
            }
            let outcome = if request.validate_only {
                broker
                    .log
                    .validate_new_topic(&topic.name, partitions, &configs)
                    .map(|_| Uuid::ZERO)
            } else {
                broker
                    .log
                    .create_topic(&topic.name, partitions, configs)
                    .map(|t| t.meta.id)
            };
            match outcome {
                Ok(id) => {
                    result.topic_id = id;
                    result.num_partitions = partitions;
                    result.replication_factor = 1;
                    result
                }
                Err(e) => {
                    let code = error_code(&e);
                    fail(result, code, e.to_string())
                }
            }
        })
        .collect();
    ResponseBody::CreateTopics(CreateTopicsResponse {
        topics,
        ..CreateTopicsResponse::default()
    })
}

pub fn delete_topics(broker: &Broker, version: i16, request: DeleteTopicsRequest) -> ResponseBody {
    // v0-5 name topics in `topic_names`; v6 sends `topics` by name or id.
    let wanted: Vec<(Option<String>, Uuid)> = if version >= 6 {
        request
            .topics
            .into_iter()
            .map(|t| (t.name, t.topic_id))
            .collect()
    } else {
        request
            .topic_names
            .into_iter()
            .map(|n| (Some(n), Uuid::ZERO))
            .collect()
    };
    let responses = wanted
        .into_iter()
        .map(|(name, id)| {
            let name = match name {
                Some(name) if !name.is_empty() => Some(name),
                _ if id != Uuid::ZERO => broker.log.topic_by_id(id).map(|t| t.meta.name.clone()),
                _ => None,
            };
            let mut result = DeletableTopicResult {
                name: name.clone(),
                topic_id: id,
                ..DeletableTopicResult::default()
            };
            let Some(name) = name else {
                let code = if id != Uuid::ZERO {
                    ErrorCode::UnknownTopicId
                } else {
                    ErrorCode::InvalidRequest
                };
                result.error_code = code.code();
                return result;
            };
            match broker.log.delete_topic(&name) {
                Ok(deleted_id) => result.topic_id = deleted_id,
                Err(e) => {
                    result.error_code = error_code(&e).code();
                    result.error_message = Some(e.to_string());
                }
            }
            result
        })
        .collect();
    ResponseBody::DeleteTopics(DeleteTopicsResponse {
        responses,
        ..DeleteTopicsResponse::default()
    })
}

pub fn create_partitions(
    broker: &Broker,
    _version: i16,
    request: CreatePartitionsRequest,
) -> ResponseBody {
    let node = broker.config.node_id;
    let results = request
        .topics
        .into_iter()
        .map(|topic| {
            let mut result = CreatePartitionsTopicResult {
                name: topic.name.clone(),
                ..CreatePartitionsTopicResult::default()
            };
            if let Some(assignments) = &topic.assignments {
                if assignments.iter().any(|a| a.broker_ids != [node]) {
                    result.error_code = ErrorCode::InvalidReplicaAssignment.code();
                    result.error_message = Some(format!("replicas must be exactly [{node}]"));
                    return result;
                }
            }
            if let Err(e) =
                broker
                    .log
                    .create_partitions(&topic.name, topic.count, request.validate_only)
            {
                result.error_code = error_code(&e).code();
                result.error_message = Some(e.to_string());
            }
            result
        })
        .collect();
    ResponseBody::CreatePartitions(CreatePartitionsResponse {
        results,
        ..CreatePartitionsResponse::default()
    })
}
