//! Metadata (key 3): brokers (just this one), cluster id, controller, and
//! topics with their partitions, auto-creating requested topics when allowed.

use super::{authorized, Implemented};
use crate::broker::Broker;
use crate::cluster::image::{BrokerRegistration, MetadataImage, TopicImage};
use crate::cluster::records::{Endpoint, NO_LEADER};
use crate::log::TopicError;
use crate::protocol::error_code::ErrorCode;
use crate::protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use crate::protocol::messages::{ApiKey, MetadataRequest, MetadataResponse, ResponseBody};
use crate::protocol::wire::Uuid;
use std::collections::BTreeMap;

pub const IMPLEMENTED: Implemented = Implemented {
    api_key: ApiKey::Metadata,
    min: 0,
    max: 13,
};

/// A topic as the image has it: each partition's leader, epoch, replicas
/// and ISR; replicas on fenced brokers are offline.
pub fn describe_topic(image: &MetadataImage, topic: &TopicImage) -> MetadataResponseTopic {
    let offline = |b: &i32| image.brokers.get(b).is_none_or(|r| r.fenced);
    MetadataResponseTopic {
        error_code: ErrorCode::None.code(),
        name: Some(topic.name.clone()),
        topic_id: topic.id,
        is_internal: topic.name.starts_with("__"),
        partitions: topic
            .partitions
            .iter()
            .enumerate()
            .map(|(index, p)| MetadataResponsePartition {
                error_code: if p.leader == NO_LEADER {
                    ErrorCode::LeaderNotAvailable.code()
                } else {
                    ErrorCode::None.code()
                },
                partition_index: index as i32,
                leader_id: p.leader,
                leader_epoch: p.leader_epoch,
                replica_nodes: p.replicas.clone(),
                isr_nodes: p.isr.clone(),
                offline_replicas: p.replicas.iter().copied().filter(offline).collect(),
            })
            .collect(),
        ..MetadataResponseTopic::default()
    }
}

fn topic_error(name: Option<String>, topic_id: Uuid, code: ErrorCode) -> MetadataResponseTopic {
    MetadataResponseTopic {
        error_code: code.code(),
        name,
        topic_id,
        ..MetadataResponseTopic::default()
    }
}

/// Creates `name` with the broker defaults, as auto-creation does: through
/// the controller once this node has joined its cluster.
async fn auto_create(broker: &Broker, name: &str) -> Result<(), String> {
    let Some(node) = broker.metadata_writer().await else {
        if broker.log.follows_metadata_image() {
            return Err("this node is joining its cluster".into());
        }
        return match broker
            .log
            .create_topic(name, broker.config.num_partitions, BTreeMap::new())
        {
            Ok(_) | Err(TopicError::AlreadyExists) => Ok(()),
            Err(e) => Err(e.to_string()),
        };
    };
    let creation = super::topics::controller::creation(
        name,
        broker.config.num_partitions,
        broker.config.cluster.default_replication_factor,
        None,
        BTreeMap::new(),
    )
    .map_err(|e| e.to_string())?;
    super::topics::controller::create_if_missing(broker, node, creation).await
}

/// Unfenced brokers and their endpoint on `listener` (a broker without
/// that listener is not reachable through it, and is left out, as Kafka does).
pub fn live_brokers<'a>(
    image: &'a MetadataImage,
    listener: &'a str,
) -> impl Iterator<Item = (&'a BrokerRegistration, &'a Endpoint)> {
    image
        .brokers
        .values()
        .filter(|b| !b.fenced)
        .filter_map(move |b| Some((b, b.endpoint(listener)?)))
}

/// The broker clients send controller requests to: the quorum's leader
/// when it is a live broker, else any live broker (every broker forwards).
pub fn controller_id(broker: &Broker, image: &MetadataImage) -> i32 {
    let live = |id: i32| image.brokers.get(&id).is_some_and(|b| !b.fenced);
    match broker.cluster_node().and_then(|n| n.controller_id()) {
        Some(leader) if live(leader) => leader,
        _ => image
            .brokers
            .values()
            .find(|b| !b.fenced)
            .map_or(broker.config.node_id, |b| b.id),
    }
}

pub async fn handle(
    broker: &Broker,
    ctx: &super::RequestContext,
    request: MetadataRequest,
) -> ResponseBody {
    let version = ctx.api_version;
    // v0: an empty list means all topics; v1+: null means all, empty means none.
    let wanted = match request.topics {
        None => None,
        Some(topics) if topics.is_empty() && version == 0 => None,
        Some(topics) => Some(topics),
    };
    let topic_operations = authorized::if_requested(
        request.include_topic_authorized_operations,
        authorized::TOPIC,
    );
    let allow_auto_create =
        (version < 4 || request.allow_auto_topic_creation) && broker.config.auto_create_topics;
    let mut image = broker.image();
    let topics: Vec<MetadataResponseTopic> = match wanted {
        None => image.topics().map(|t| describe_topic(&image, t)).collect(),
        Some(requested) => {
            let mut answers = Vec::with_capacity(requested.len());
            for wanted in requested {
                // v10+ may name a topic by id alone.
                let by_id = wanted.topic_id != Uuid::ZERO
                    && wanted.name.as_deref().is_none_or(str::is_empty);
                if by_id {
                    answers.push(match image.topic_by_id(wanted.topic_id) {
                        Some(topic) => describe_topic(&image, topic),
                        None => topic_error(None, wanted.topic_id, ErrorCode::UnknownTopicId),
                    });
                    continue;
                }
                let Some(name) = wanted.name else {
                    answers.push(topic_error(
                        None,
                        wanted.topic_id,
                        ErrorCode::InvalidRequest,
                    ));
                    continue;
                };
                if let Some(topic) = image.topic(&name) {
                    answers.push(describe_topic(&image, topic));
                    continue;
                }
                if !crate::log::topic::valid_topic_name(&name) {
                    answers.push(topic_error(
                        Some(name),
                        Uuid::ZERO,
                        ErrorCode::InvalidTopicException,
                    ));
                    continue;
                }
                if !allow_auto_create {
                    answers.push(topic_error(
                        Some(name),
                        Uuid::ZERO,
                        ErrorCode::UnknownTopicOrPartition,
                    ));
                    continue;
                }
                if let Err(e) = auto_create(broker, &name).await {
                    tracing::warn!(topic = %name, error = %e, "auto-create failed");
                }
                image = broker.image();
                answers.push(match image.topic(&name) {
                    Some(topic) => describe_topic(&image, topic),
                    None => topic_error(Some(name), Uuid::ZERO, ErrorCode::UnknownTopicOrPartition),
                });
            }
            answers
        }
    };
    let topics = topics
        .into_iter()
        .map(|mut topic: MetadataResponseTopic| {
            if topic.error_code == ErrorCode::None.code() {
                topic.topic_authorized_operations = topic_operations;
            }
            topic
        })
        .collect();
    let brokers = live_brokers(&image, &ctx.listener)
        .map(|(b, e)| MetadataResponseBroker {
            node_id: b.id,
            host: e.host.clone(),
            port: i32::from(e.port),
            rack: b.rack.clone(),
        })
        .collect();
    ResponseBody::Metadata(MetadataResponse {
        brokers,
        cluster_id: Some(broker.cluster_id()),
        controller_id: controller_id(broker, &image),
        topics,
        cluster_authorized_operations: authorized::if_requested(
            request.include_cluster_authorized_operations,
            authorized::CLUSTER,
        ),
        ..MetadataResponse::default()
    })
}
