//! Every advertised version of every data-path API, asked something real
//! (an existing topic with records in it), must produce a response that
//! encodes at that version: a handler that sets a field the version lacks
//! would otherwise only show up as a dropped connection.

use super::{handle, is_implemented};
use crate::broker::Broker;
use crate::protocol::messages::create_partitions_request::CreatePartitionsTopic;
use crate::protocol::messages::create_topics_request::CreatableTopic;
use crate::protocol::messages::delete_topics_request::DeleteTopicState;
use crate::protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use crate::protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use crate::protocol::messages::metadata_request::MetadataRequestTopic;
use crate::protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use crate::protocol::messages::*;
use crate::protocol::records::{BatchBuilder, NewRecord};
use crate::protocol::wire::Encode;
use bytes::Bytes;
use std::collections::BTreeMap;

fn batch() -> Bytes {
    let mut builder = BatchBuilder::new(0);
    builder.push(NewRecord::new(
        1_700_000_000_000,
        Some(Bytes::from_static(b"k")),
        Some(Bytes::from_static(b"v")),
    ));
    builder.build().expect("batch")
}

/// Realistic requests for `key` at `version`, naming topic `t` (id `id`).
fn requests(
    key: ApiKey,
    version: i16,
    id: crate::protocol::wire::Uuid,
    n: usize,
) -> Vec<RequestBody> {
    let fresh = format!("fresh-{version}-{n}");
    match key {
        ApiKey::Produce => vec![RequestBody::Produce(ProduceRequest {
            acks: -1,
            timeout_ms: 1000,
            topic_data: vec![TopicProduceData {
                name: "t".into(),
                partition_data: vec![PartitionProduceData {
                    index: 0,
                    records: Some(batch()),
                }],
                ..Default::default()
            }],
            ..ProduceRequest::default()
        })],
        ApiKey::Fetch => vec![RequestBody::Fetch(FetchRequest {
            max_wait_ms: 0,
            max_bytes: 1 << 20,
            session_epoch: -1,
            topics: vec![FetchTopic {
                topic: if version < 13 {
                    "t".into()
                } else {
                    String::new()
                },
                topic_id: if version >= 13 {
                    id
                } else {
                    crate::protocol::wire::Uuid::ZERO
                },
                partitions: vec![FetchPartition {
                    partition: 0,
                    fetch_offset: 0,
                    partition_max_bytes: 1 << 20,
                    ..FetchPartition::default()
                }],
            }],
            ..FetchRequest::default()
        })],
        ApiKey::ListOffsets => [-1i64, -2, -3, 0]
            .into_iter()
            .filter(|t| *t != -3 || version >= 7)
            .map(|timestamp| {
                RequestBody::ListOffsets(ListOffsetsRequest {
                    topics: vec![ListOffsetsTopic {
                        name: "t".into(),
                        partitions: vec![ListOffsetsPartition {
                            partition_index: 0,
                            timestamp,
                            ..ListOffsetsPartition::default()
                        }],
                    }],
                    ..ListOffsetsRequest::default()
                })
            })
            .collect(),
        ApiKey::Metadata => vec![
            RequestBody::Metadata(MetadataRequest {
                topics: Some(vec![
                    MetadataRequestTopic {
                        name: Some("t".into()),
                        ..MetadataRequestTopic::default()
                    },
                    MetadataRequestTopic {
                        name: Some("absent".into()),
                        ..MetadataRequestTopic::default()
                    },
                ]),
                ..MetadataRequest::default()
            }),
            RequestBody::Metadata(MetadataRequest {
                topics: if version == 0 { Some(Vec::new()) } else { None },
                ..MetadataRequest::default()
            }),
        ],
        ApiKey::CreateTopics => vec![RequestBody::CreateTopics(CreateTopicsRequest {
            topics: vec![
                CreatableTopic {
                    name: fresh.clone(),
                    num_partitions: 2,
                    replication_factor: 1,
                    ..CreatableTopic::default()
                },
                CreatableTopic {
                    name: "t".into(),
                    num_partitions: 1,
                    replication_factor: 1,
                    ..CreatableTopic::default()
                },
            ],
            ..CreateTopicsRequest::default()
        })],
        ApiKey::CreatePartitions => vec![RequestBody::CreatePartitions(CreatePartitionsRequest {
            topics: vec![CreatePartitionsTopic {
                name: fresh.clone(),
                count: 1,
                assignments: None,
            }],
            ..CreatePartitionsRequest::default()
        })],
        ApiKey::DeleteTopics => vec![RequestBody::DeleteTopics(if version >= 6 {
            DeleteTopicsRequest {
                topics: vec![DeleteTopicState {
                    name: Some("absent".into()),
                    ..DeleteTopicState::default()
                }],
                ..DeleteTopicsRequest::default()
            }
        } else {
            DeleteTopicsRequest {
                topic_names: vec!["absent".into()],
                ..DeleteTopicsRequest::default()
            }
        })],
        ApiKey::DescribeCluster => vec![RequestBody::DescribeCluster(DescribeClusterRequest {
            endpoint_type: 1,
            ..DescribeClusterRequest::default()
        })],
        ApiKey::InitProducerId => vec![RequestBody::InitProducerId(InitProducerIdRequest {
            producer_id: -1,
            producer_epoch: -1,
            ..InitProducerIdRequest::default()
        })],
        ApiKey::ApiVersions => vec![RequestBody::ApiVersions(ApiVersionsRequest::default())],
        _ => Vec::new(),
    }
}

#[test]
fn every_advertised_version_answers_real_requests_with_encodable_responses() {
    let broker = Broker::for_tests();
    let topic = broker
        .log
        .create_topic("t", 1, BTreeMap::new())
        .expect("topic");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut checked = 0;
    for &key in ApiKey::ALL {
        let (min, max) = key.spec_versions();
        for version in min..=max {
            if !is_implemented(key, version) {
                continue;
            }
            for body in requests(key, version, topic.meta.id, checked) {
                let ctx = crate::handlers::RequestContext::for_tests(version);
                let response = runtime
                    .block_on(handle(&broker, &ctx, body))
                    .expect("handled")
                    .expect("a response");
                if let Err(e) = response.to_bytes(version) {
                    panic!("{key:?} v{version}: response does not encode: {e}");
                }
                checked += 1;
            }
        }
    }
    assert!(checked > 100, "only {checked} requests checked");
}
