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

pub mod controller;

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
        TopicError::FollowsMetadataImage => ErrorCode::NotController,
        TopicError::Io(_) => ErrorCode::UnknownServerError,
    }
}

/// A CreateTopics topic, checked and with its defaults resolved.
struct Checked {
    partitions: i32,
    replication_factor: i16,
    assignments: Option<Vec<Vec<i32>>>,
    configs: BTreeMap<String, String>,
}

/// What can be checked before anything is decided: the name, the shape,
/// the configs.
fn check_creation(
    broker: &Broker,
    topic: &crate::protocol::messages::create_topics_request::CreatableTopic,
) -> Result<Checked, (ErrorCode, String)> {
    if !crate::log::topic::valid_topic_name(&topic.name) {
        return Err((
            ErrorCode::InvalidTopicException,
            format!("Topic name \"{}\" is illegal", topic.name),
        ));
    }
    let assignments = if topic.assignments.is_empty() {
        None
    } else {
        if topic.num_partitions != -1 || topic.replication_factor != -1 {
            return Err((
                ErrorCode::InvalidRequest,
                "both assignments and partition count/replication factor given".into(),
            ));
        }
        let mut given = topic.assignments.clone();
        given.sort_by_key(|a| a.partition_index);
        if given
            .iter()
            .enumerate()
            .any(|(i, a)| a.partition_index != i as i32)
        {
            return Err((
                ErrorCode::InvalidReplicaAssignment,
                "partitions must be numbered 0 to n-1".into(),
            ));
        }
        Some(given.into_iter().map(|a| a.broker_ids).collect::<Vec<_>>())
    };
    let partitions = match &assignments {
        Some(given) => given.len() as i32,
        None if topic.num_partitions == -1 => broker.config.num_partitions,
        None => topic.num_partitions,
    };
    let replication_factor = match &assignments {
        Some(given) => given.first().map_or(0, |r| r.len() as i16),
        None if topic.replication_factor == -1 => broker.config.cluster.default_replication_factor,
        None => topic.replication_factor,
    };
    if !(1..=100_000).contains(&partitions) {
        return Err((
            ErrorCode::InvalidPartitions,
            format!("Number of partitions must be between 1 and 100000, got {partitions}."),
        ));
    }
    let mut configs = BTreeMap::new();
    for config in &topic.configs {
        // A null value means "use the default".
        if let Some(value) = &config.value {
            configs.insert(config.name.clone(), value.clone());
        }
    }
    broker
        .log
        .defaults()
        .with_overrides(&configs)
        .map_err(|e| (ErrorCode::InvalidConfig, e))?;
    Ok(Checked {
        partitions,
        replication_factor,
        assignments,
        configs,
    })
}

fn creatable_result(name: &str) -> CreatableTopicResult {
    CreatableTopicResult {
        name: name.to_string(),
        num_partitions: -1,
        replication_factor: -1,
        ..CreatableTopicResult::default()
    }
}

fn refuse(result: &mut CreatableTopicResult, code: ErrorCode, message: String) {
    result.error_code = code.code();
    result.error_message = Some(message);
}

/// A node that has not joined a quorum yet decides alone: one broker.
fn create_locally(
    broker: &Broker,
    checked: Checked,
    name: &str,
    validate_only: bool,
    result: &mut CreatableTopicResult,
) {
    let node = broker.config.node_id;
    if let Some(given) = &checked.assignments {
        if given.iter().any(|replicas| replicas != &[node]) {
            return refuse(
                result,
                ErrorCode::InvalidReplicaAssignment,
                format!("replicas must be exactly [{node}]"),
            );
        }
    }
    if checked.replication_factor != 1 {
        return refuse(
            result,
            ErrorCode::InvalidReplicationFactor,
            format!(
                "Unable to replicate the partition {} time(s): The target replication factor of {} cannot be reached because only 1 broker(s) are registered.",
                checked.replication_factor, checked.replication_factor
            ),
        );
    }
    let outcome = if validate_only {
        broker
            .log
            .validate_new_topic(name, checked.partitions, &checked.configs)
            .map(|_| Uuid::ZERO)
    } else {
        broker
            .log
            .create_topic(name, checked.partitions, checked.configs)
            .map(|t| t.meta.id)
    };
    match outcome {
        Ok(id) => {
            result.topic_id = id;
            result.num_partitions = checked.partitions;
            result.replication_factor = 1;
        }
        Err(e) => refuse(result, error_code(&e), e.to_string()),
    }
}

/// Whether `name` appears more than once in a request (Kafka refuses
/// every copy with INVALID_REQUEST).
fn named_twice<'a>(names: impl Iterator<Item = &'a str>, name: &str) -> bool {
    names.filter(|n| *n == name).count() > 1
}

/// Part `n`'s refusal, if the controller refused it or decided nothing.
fn refusal(
    decided: &Result<
        Vec<Result<(), crate::cluster::controller::ControllerError>>,
        controller::NoDecision,
    >,
    n: usize,
) -> Option<(ErrorCode, String)> {
    match decided {
        Ok(outcomes) => match outcomes.get(n) {
            Some(Ok(())) => None,
            Some(Err(e)) => Some((e.code(), e.to_string())),
            None => Some((ErrorCode::UnknownServerError, "no outcome".into())),
        },
        Err(no) => Some((no.code, no.message.clone())),
    }
}

pub async fn create_topics(
    broker: &Broker,
    version: i16,
    request: CreateTopicsRequest,
) -> ResponseBody {
    let answer = create_topics_once(broker, &request).await;
    // Decided alone while this node's join began: asked again, the
    // controller decides (the join's reconciliation has run by then).
    let joined_meanwhile = matches!(&answer, ResponseBody::CreateTopics(r)
        if r.topics.iter().any(|t| t.error_code == ErrorCode::NotController.code()))
        && broker.log.follows_metadata_image();
    if joined_meanwhile {
        tracing::debug!(
            version,
            "CreateTopics asked again: this node joined its cluster meanwhile"
        );
        return create_topics_once(broker, &request).await;
    }
    answer
}

async fn create_topics_once(broker: &Broker, request: &CreateTopicsRequest) -> ResponseBody {
    let validate_only = request.validate_only;
    let writer = broker.metadata_writer().await;
    let mut results = Vec::with_capacity(request.topics.len());
    let mut asked = Vec::new();
    for topic in &request.topics {
        let mut result = creatable_result(&topic.name);
        if named_twice(request.topics.iter().map(|t| t.name.as_str()), &topic.name) {
            refuse(
                &mut result,
                ErrorCode::InvalidRequest,
                "Duplicate topic name.".into(),
            );
            results.push(result);
            continue;
        }
        match check_creation(broker, topic) {
            Err((code, message)) => refuse(&mut result, code, message),
            Ok(checked) => match writer {
                None if broker.log.follows_metadata_image() => refuse(
                    &mut result,
                    ErrorCode::NotController,
                    "this node is joining its cluster".into(),
                ),
                None => create_locally(broker, checked, &topic.name, validate_only, &mut result),
                Some(_) => {
                    match controller::creation(
                        &topic.name,
                        checked.partitions,
                        checked.replication_factor,
                        checked.assignments,
                        checked.configs,
                    ) {
                        Ok(creation) => {
                            result.num_partitions = checked.partitions;
                            result.replication_factor = checked.replication_factor;
                            if !validate_only {
                                result.topic_id = Uuid(creation.topic_id);
                            }
                            asked.push((results.len(), creation));
                        }
                        Err(e) => refuse(&mut result, ErrorCode::UnknownServerError, e.to_string()),
                    }
                }
            },
        }
        results.push(result);
    }
    if let Some(node) = writer {
        let (at, creations): (Vec<usize>, Vec<_>) = asked.into_iter().unzip();
        let decided = controller::create(broker, node, creations, validate_only).await;
        for (n, index) in at.into_iter().enumerate() {
            let result = &mut results[index];
            let failed = refusal(&decided, n);
            if let Some((code, message)) = failed {
                result.topic_id = Uuid::ZERO;
                result.num_partitions = -1;
                result.replication_factor = -1;
                refuse(result, code, message);
            }
        }
    }
    ResponseBody::CreateTopics(CreateTopicsResponse {
        topics: results,
        ..CreateTopicsResponse::default()
    })
}

pub async fn delete_topics(
    broker: &Broker,
    version: i16,
    request: DeleteTopicsRequest,
) -> ResponseBody {
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
    let writer = broker.metadata_writer().await;
    let image = broker.image();
    let mut responses = Vec::with_capacity(wanted.len());
    let mut asked = Vec::new();
    for (name, id) in wanted {
        let name = match name {
            Some(name) if !name.is_empty() => Some(name),
            _ if id != Uuid::ZERO => image.topic_by_id(id).map(|t| t.name.clone()),
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
            responses.push(result);
            continue;
        };
        match writer {
            Some(_) => {
                if let Some(topic) = image.topic(&name) {
                    result.topic_id = topic.id;
                }
                asked.push((responses.len(), name));
            }
            None if broker.log.follows_metadata_image() => {
                result.error_code = ErrorCode::NotController.code();
                result.error_message = Some("this node is joining its cluster".into());
            }
            None => match broker.log.delete_topic(&name) {
                Ok(deleted_id) => result.topic_id = deleted_id,
                Err(e) => {
                    result.error_code = error_code(&e).code();
                    result.error_message = Some(e.to_string());
                }
            },
        }
        responses.push(result);
    }
    if let Some(node) = writer {
        if !asked.is_empty() {
            let (at, names): (Vec<usize>, Vec<String>) = asked.into_iter().unzip();
            let decided = controller::decide(
                broker,
                node,
                crate::cluster::node::ControllerCall::DeleteTopics { names },
            )
            .await;
            for (n, index) in at.into_iter().enumerate() {
                let failed = refusal(&decided, n);
                if let Some((code, message)) = failed {
                    responses[index].error_code = code.code();
                    responses[index].error_message = Some(message);
                }
            }
        }
    }
    ResponseBody::DeleteTopics(DeleteTopicsResponse {
        responses,
        ..DeleteTopicsResponse::default()
    })
}

pub async fn create_partitions(
    broker: &Broker,
    _version: i16,
    request: CreatePartitionsRequest,
) -> ResponseBody {
    let node_id = broker.config.node_id;
    let writer = broker.metadata_writer().await;
    let mut results = Vec::with_capacity(request.topics.len());
    let mut asked = Vec::new();
    for topic in &request.topics {
        let mut result = CreatePartitionsTopicResult {
            name: topic.name.clone(),
            ..CreatePartitionsTopicResult::default()
        };
        let mut refuse = |code: ErrorCode, message: String| {
            result.error_code = code.code();
            result.error_message = Some(message);
        };
        if named_twice(request.topics.iter().map(|t| t.name.as_str()), &topic.name) {
            refuse(ErrorCode::InvalidRequest, "Duplicate topic name.".into());
        } else if topic.count > 100_000 {
            refuse(
                ErrorCode::InvalidPartitions,
                format!(
                    "{} partitions is more than this cluster allows (100000)",
                    topic.count
                ),
            );
        } else {
            let assignments: Option<Vec<Vec<i32>>> = topic
                .assignments
                .as_ref()
                .map(|given| given.iter().map(|a| a.broker_ids.clone()).collect());
            match writer {
                Some(_) => asked.push((
                    results.len(),
                    (topic.name.clone(), topic.count, assignments),
                )),
                None if broker.log.follows_metadata_image() => refuse(
                    ErrorCode::NotController,
                    "this node is joining its cluster".into(),
                ),
                None => {
                    if assignments
                        .iter()
                        .flatten()
                        .any(|replicas| replicas != &[node_id])
                    {
                        refuse(
                            ErrorCode::InvalidReplicaAssignment,
                            format!("replicas must be exactly [{node_id}]"),
                        );
                    } else if let Err(e) = broker.log.create_partitions(
                        &topic.name,
                        topic.count,
                        request.validate_only,
                    ) {
                        refuse(error_code(&e), e.to_string());
                    }
                }
            }
        }
        results.push(result);
    }
    if let Some(node) = writer {
        if !asked.is_empty() {
            let (at, topics): (Vec<usize>, Vec<_>) = asked.into_iter().unzip();
            let call = crate::cluster::node::ControllerCall::CreatePartitions {
                topics,
                validate_only: request.validate_only,
            };
            let decided = controller::decide(broker, node, call).await;
            for (n, index) in at.into_iter().enumerate() {
                let failed = refusal(&decided, n);
                if let Some((code, message)) = failed {
                    results[index].error_code = code.code();
                    results[index].error_message = Some(message);
                }
            }
        }
    }
    ResponseBody::CreatePartitions(CreatePartitionsResponse {
        results,
        ..CreatePartitionsResponse::default()
    })
}
