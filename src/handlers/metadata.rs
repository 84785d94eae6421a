//! Metadata (key 3): brokers (just this one), cluster id, controller, and
//! topics with their partitions, auto-creating requested topics when allowed.

use super::{authorized, Implemented};
use crate::broker::Broker;
use crate::cluster::image::{BrokerRegistration, MetadataImage};
use crate::cluster::records::Endpoint;
use crate::log::{Topic, TopicError};
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

pub fn describe_topic(broker: &Broker, topic: &Topic) -> MetadataResponseTopic {
    let node = broker.config.node_id;
    MetadataResponseTopic {
        error_code: ErrorCode::None.code(),
        name: Some(topic.meta.name.clone()),
        topic_id: topic.meta.id,
        is_internal: topic.meta.name.starts_with("__"),
        partitions: topic
            .partitions
            .iter()
            .map(|p| MetadataResponsePartition {
                error_code: ErrorCode::None.code(),
                partition_index: p.index,
                leader_id: node,
                leader_epoch: 0,
                replica_nodes: vec![node],
                isr_nodes: vec![node],
                offline_replicas: Vec::new(),
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

/// Creates `name` with the broker defaults, as auto-creation does.
pub fn auto_create(broker: &Broker, name: &str) -> Result<std::sync::Arc<Topic>, TopicError> {
    match broker
        .log
        .create_topic(name, broker.config.num_partitions, BTreeMap::new())
    {
        Err(TopicError::AlreadyExists) => broker.log.topic(name).ok_or(TopicError::UnknownTopic),
        other => other,
    }
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

pub fn handle(
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
    let topics: Vec<MetadataResponseTopic> = match wanted {
        None => broker
            .log
            .topics()
            .iter()
            .map(|t| describe_topic(broker, t))
            .collect(),
        Some(requested) => requested
            .into_iter()
            .map(|wanted| {
                // v10+ may name a topic by id alone.
                let by_id = wanted.topic_id != Uuid::ZERO
                    && wanted.name.as_deref().is_none_or(str::is_empty);
                if by_id {
                    return match broker.log.topic_by_id(wanted.topic_id) {
                        Some(topic) => describe_topic(broker, &topic),
                        None => topic_error(None, wanted.topic_id, ErrorCode::UnknownTopicId),
                    };
                }
                let Some(name) = wanted.name else {
                    return topic_error(None, wanted.topic_id, ErrorCode::InvalidRequest);
                };
                if let Some(topic) = broker.log.topic(&name) {
                    return describe_topic(broker, &topic);
                }
                if !crate::log::topic::valid_topic_name(&name) {
                    return topic_error(Some(name), Uuid::ZERO, ErrorCode::InvalidTopicException);
                }
                if !allow_auto_create {
                    return topic_error(Some(name), Uuid::ZERO, ErrorCode::UnknownTopicOrPartition);
                }
                match auto_create(broker, &name) {
                    Ok(topic) => describe_topic(broker, &topic),
                    Err(e) => {
                        tracing::warn!(topic = %name, error = %e, "auto-create failed");
                        topic_error(Some(name), Uuid::ZERO, ErrorCode::UnknownTopicOrPartition)
                    }
                }
            })
            .collect(),
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
    let image = broker.image();
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
