//! Committed offsets: OffsetCommit (8), OffsetFetch (9), OffsetDelete (47).
//! Commits are durable in `__consumer_offsets` before they are acknowledged.

use super::coordinators;
use super::Implemented;
use crate::broker::Broker;
use crate::group::store::OffsetValue;
use crate::group::{Committer, FetchedOffset};
use crate::log::steady_ms;
use crate::protocol::error_code::ErrorCode;
use crate::protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use crate::protocol::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use crate::protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use crate::protocol::messages::{
    ApiKey, OffsetCommitRequest, OffsetCommitResponse, OffsetDeleteRequest, OffsetDeleteResponse,
    OffsetFetchRequest, OffsetFetchResponse, ResponseBody,
};
use crate::protocol::wire::Uuid;

pub const OFFSET_COMMIT: Implemented = Implemented {
    api_key: ApiKey::OffsetCommit,
    min: 2,
    max: 10,
};
pub const OFFSET_FETCH: Implemented = Implemented {
    api_key: ApiKey::OffsetFetch,
    min: 1,
    max: 10,
};

/// From v10 OffsetCommit and OffsetFetch name topics by id alone (KIP-848).
const TOPIC_IDS_SINCE: i16 = 10;

/// A topic's name from its id (v10+) or as given; empty for an unknown id.
fn topic_name(broker: &Broker, version: i16, name: String, id: Uuid) -> String {
    if version < TOPIC_IDS_SINCE {
        return name;
    }
    broker
        .log
        .topic_by_id(id)
        .map(|t| t.meta.name.clone())
        .unwrap_or_default()
}

/// What a v10+ response names a topic by: its id (and no name).
fn topic_id_of(broker: &Broker, version: i16, name: &str) -> Uuid {
    if version < TOPIC_IDS_SINCE {
        return Uuid::ZERO;
    }
    broker.log.topic(name).map_or(Uuid::ZERO, |t| t.meta.id)
}
pub const OFFSET_DELETE: Implemented = Implemented {
    api_key: ApiKey::OffsetDelete,
    min: 0,
    max: 0,
};

/// Per partition: an error found before the group is asked, if any.
type PartitionErrors = Vec<(i32, Option<ErrorCode>)>;

fn partition_exists(broker: &Broker, topic: &str, partition: i32) -> bool {
    broker.log.partition(topic, partition).is_some()
}

pub async fn offset_commit(
    broker: &Broker,
    version: i16,
    request: OffsetCommitRequest,
) -> ResponseBody {
    let now = steady_ms();
    // v2-4 may set a retention time; later versions use the broker's.
    let expire_timestamp = if (2..=4).contains(&version) && request.retention_time_ms >= 0 {
        now.saturating_add(request.retention_time_ms)
    } else {
        -1
    };
    let max_metadata = broker.config.group.offset_metadata_max_bytes;
    // Per partition: an error found now, or None for "goes to the group".
    let mut results: Vec<(String, Uuid, PartitionErrors)> = Vec::new();
    let mut offsets = Vec::new();
    for topic in request.topics {
        let name = topic_name(broker, version, topic.name, topic.topic_id);
        let mut partitions = Vec::new();
        for p in topic.partitions {
            let error = if version >= TOPIC_IDS_SINCE && name.is_empty() {
                Some(ErrorCode::UnknownTopicId)
            } else if !partition_exists(broker, &name, p.partition_index) {
                Some(ErrorCode::UnknownTopicOrPartition)
            } else if p
                .committed_metadata
                .as_ref()
                .is_some_and(|m| m.len() > max_metadata)
            {
                Some(ErrorCode::OffsetMetadataTooLarge)
            } else {
                offsets.push((
                    name.clone(),
                    p.partition_index,
                    OffsetValue {
                        offset: p.committed_offset,
                        leader_epoch: if version >= 6 {
                            p.committed_leader_epoch
                        } else {
                            -1
                        },
                        metadata: p.committed_metadata,
                        commit_timestamp: now,
                        expire_timestamp,
                    },
                ));
                None
            };
            partitions.push((p.partition_index, error));
        }
        results.push((name, topic.topic_id, partitions));
    }
    let instance = if version >= 7 {
        request.group_instance_id.as_deref()
    } else {
        None
    };
    let by = Committer {
        group_id: &request.group_id,
        generation: request.generation_id_or_member_epoch,
        member_id: &request.member_id,
        instance_id: instance,
    };
    let group_error =
        match coordinators::check(broker, coordinators::Coordinated::Group, by.group_id) {
            Err(code) => code,
            Ok(()) => match broker
                .groups
                .commit_offsets(&broker.log, by, offsets, now)
                .await
            {
                Ok(()) => ErrorCode::None,
                Err(code) => code,
            },
        };
    let topics = results
        .into_iter()
        .map(|(name, topic_id, partitions)| OffsetCommitResponseTopic {
            name: if version >= TOPIC_IDS_SINCE {
                String::new()
            } else {
                name
            },
            topic_id: if version >= TOPIC_IDS_SINCE {
                topic_id
            } else {
                Uuid::ZERO
            },
            partitions: partitions
                .into_iter()
                .map(|(partition_index, error)| OffsetCommitResponsePartition {
                    partition_index,
                    error_code: error.unwrap_or(group_error).code(),
                })
                .collect(),
        })
        .collect();
    ResponseBody::OffsetCommit(OffsetCommitResponse {
        throttle_time_ms: 0,
        topics,
    })
}

/// One partition's committed offset as OffsetFetch reports it: -1 when none.
fn fetched(found: Option<FetchedOffset>) -> (i64, i32, Option<String>) {
    match found {
        Some(f) => (
            f.offset,
            f.leader_epoch,
            Some(f.metadata.unwrap_or_default()),
        ),
        None => (-1, -1, Some(String::new())),
    }
}

/// One partition's OffsetFetch answer: offset, leader epoch, metadata and
/// error code. With `require_stable` (v7+), an offset still inside an open
/// transaction is answered UNSTABLE_OFFSET_COMMIT (the client retries)
/// instead of a value.
fn answer(
    broker: &Broker,
    require_stable: bool,
    group: &str,
    topic: &str,
    partition: i32,
    found: Option<FetchedOffset>,
) -> (i64, i32, Option<String>, i16) {
    if require_stable
        && broker
            .groups
            .has_pending_txn_offset(group, topic, partition)
    {
        return (
            -1,
            -1,
            Some(String::new()),
            ErrorCode::UnstableOffsetCommit.code(),
        );
    }
    let (offset, leader_epoch, metadata) = fetched(found);
    (offset, leader_epoch, metadata, 0)
}

pub fn offset_fetch(broker: &Broker, version: i16, request: OffsetFetchRequest) -> ResponseBody {
    let require_stable = version >= 7 && request.require_stable;
    if version < 8 {
        if let Err(code) =
            coordinators::check(broker, coordinators::Coordinated::Group, &request.group_id)
        {
            return ResponseBody::OffsetFetch(OffsetFetchResponse {
                error_code: code.code(),
                ..OffsetFetchResponse::default()
            });
        }
    }
    if version >= 8 {
        let groups = request
            .groups
            .into_iter()
            .map(|group| {
                if let Err(code) =
                    coordinators::check(broker, coordinators::Coordinated::Group, &group.group_id)
                {
                    return OffsetFetchResponseGroup {
                        group_id: group.group_id,
                        topics: Vec::new(),
                        error_code: code.code(),
                    };
                }
                // v9: a KIP-848 member's id and epoch must be current.
                if version >= 9 {
                    if let Err(code) = broker.groups.validate_fetch(
                        &group.group_id,
                        group.member_id.as_deref(),
                        group.member_epoch,
                    ) {
                        return OffsetFetchResponseGroup {
                            group_id: group.group_id,
                            topics: Vec::new(),
                            error_code: code.code(),
                        };
                    }
                }
                // v10: topics by id; an unknown id is answered per partition.
                let mut unknown_ids = Vec::new();
                let wanted = group.topics.map(|topics| {
                    topics
                        .into_iter()
                        .filter_map(|t| {
                            let name = topic_name(broker, version, t.name, t.topic_id);
                            if version >= TOPIC_IDS_SINCE && name.is_empty() {
                                unknown_ids.push((t.topic_id, t.partition_indexes));
                                return None;
                            }
                            Some((name, t.partition_indexes))
                        })
                        .collect()
                });
                let mut topics: Vec<OffsetFetchResponseTopics> = broker
                    .groups
                    .fetch_offsets(&group.group_id, wanted)
                    .into_iter()
                    .filter(|(name, _)| {
                        // v10 names topics by id: offsets of a deleted topic have none.
                        version < TOPIC_IDS_SINCE
                            || topic_id_of(broker, version, name) != Uuid::ZERO
                    })
                    .map(|(name, partitions)| OffsetFetchResponseTopics {
                        partitions: partitions
                            .into_iter()
                            .map(|(partition_index, found)| {
                                let (
                                    committed_offset,
                                    committed_leader_epoch,
                                    metadata,
                                    error_code,
                                ) = answer(
                                    broker,
                                    require_stable,
                                    &group.group_id,
                                    &name,
                                    partition_index,
                                    found,
                                );
                                OffsetFetchResponsePartitions {
                                    partition_index,
                                    committed_offset,
                                    committed_leader_epoch,
                                    metadata,
                                    error_code,
                                }
                            })
                            .collect(),
                        topic_id: topic_id_of(broker, version, &name),
                        name: if version >= TOPIC_IDS_SINCE {
                            String::new()
                        } else {
                            name
                        },
                    })
                    .collect();
                topics.extend(unknown_ids.into_iter().map(|(topic_id, partitions)| {
                    OffsetFetchResponseTopics {
                        name: String::new(),
                        topic_id,
                        partitions: partitions
                            .into_iter()
                            .map(|partition_index| OffsetFetchResponsePartitions {
                                partition_index,
                                committed_offset: -1,
                                committed_leader_epoch: -1,
                                metadata: Some(String::new()),
                                error_code: ErrorCode::UnknownTopicId.code(),
                            })
                            .collect(),
                    }
                }));
                OffsetFetchResponseGroup {
                    group_id: group.group_id,
                    topics,
                    error_code: 0,
                }
            })
            .collect();
        return ResponseBody::OffsetFetch(OffsetFetchResponse {
            groups,
            ..OffsetFetchResponse::default()
        });
    }
    // v1 has no "all topics" null; an empty list there means none.
    let wanted = request.topics.map(|topics| {
        topics
            .into_iter()
            .map(|t| (t.name, t.partition_indexes))
            .collect()
    });
    let topics = broker
        .groups
        .fetch_offsets(&request.group_id, wanted)
        .into_iter()
        .map(|(name, partitions)| OffsetFetchResponseTopic {
            partitions: partitions
                .into_iter()
                .map(|(partition_index, found)| {
                    let (committed_offset, committed_leader_epoch, metadata, error_code) = answer(
                        broker,
                        require_stable,
                        &request.group_id,
                        &name,
                        partition_index,
                        found,
                    );
                    OffsetFetchResponsePartition {
                        partition_index,
                        committed_offset,
                        committed_leader_epoch,
                        metadata,
                        error_code,
                    }
                })
                .collect(),
            name,
        })
        .collect();
    ResponseBody::OffsetFetch(OffsetFetchResponse {
        topics,
        error_code: 0,
        ..OffsetFetchResponse::default()
    })
}

pub async fn offset_delete(
    broker: &Broker,
    _version: i16,
    request: OffsetDeleteRequest,
) -> ResponseBody {
    let mut known = Vec::new();
    let mut shape: Vec<(String, Vec<(i32, bool)>)> = Vec::new();
    for topic in request.topics {
        let partitions = topic
            .partitions
            .into_iter()
            .map(|p| {
                let exists = partition_exists(broker, &topic.name, p.partition_index);
                if exists {
                    known.push((topic.name.clone(), p.partition_index));
                }
                (p.partition_index, exists)
            })
            .collect();
        shape.push((topic.name, partitions));
    }
    let mut errors = match broker
        .groups
        .delete_offsets(&broker.log, &request.group_id, known, steady_ms())
        .await
    {
        Ok(errors) => errors.into_iter(),
        Err(code) => {
            return ResponseBody::OffsetDelete(OffsetDeleteResponse {
                error_code: code.code(),
                ..OffsetDeleteResponse::default()
            })
        }
    };
    let topics = shape
        .into_iter()
        .map(|(name, partitions)| OffsetDeleteResponseTopic {
            name,
            partitions: partitions
                .into_iter()
                .map(|(partition_index, exists)| OffsetDeleteResponsePartition {
                    partition_index,
                    error_code: if exists {
                        errors.next().unwrap_or(ErrorCode::None)
                    } else {
                        ErrorCode::UnknownTopicOrPartition
                    }
                    .code(),
                })
                .collect(),
        })
        .collect();
    ResponseBody::OffsetDelete(OffsetDeleteResponse {
        error_code: 0,
        throttle_time_ms: 0,
        topics,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::messages::offset_commit_request::{
        OffsetCommitRequestPartition, OffsetCommitRequestTopic,
    };
    use crate::protocol::messages::offset_fetch_request::{
        OffsetFetchRequestGroup, OffsetFetchRequestTopics,
    };
    use crate::protocol::wire::Encode;
    use std::collections::BTreeMap;

    fn commit(broker: &Broker, topic_id: Uuid) -> OffsetCommitResponse {
        let request = OffsetCommitRequest {
            group_id: "g".into(),
            generation_id_or_member_epoch: -1,
            topics: vec![OffsetCommitRequestTopic {
                topic_id,
                partitions: vec![OffsetCommitRequestPartition {
                    partition_index: 1,
                    committed_offset: 42,
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..OffsetCommitRequest::default()
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let ResponseBody::OffsetCommit(response) = rt.block_on(offset_commit(broker, 10, request))
        else {
            panic!()
        };
        response
    }

    fn fetch(broker: &Broker, topic_id: Uuid) -> OffsetFetchResponse {
        let request = OffsetFetchRequest {
            groups: vec![OffsetFetchRequestGroup {
                group_id: "g".into(),
                member_epoch: -1,
                topics: Some(vec![OffsetFetchRequestTopics {
                    topic_id,
                    partition_indexes: vec![1],
                    ..Default::default()
                }]),
                ..Default::default()
            }],
            ..OffsetFetchRequest::default()
        };
        let ResponseBody::OffsetFetch(response) = offset_fetch(broker, 10, request) else {
            panic!()
        };
        response
    }

    /// v10 names topics by id, in requests and answers (KIP-848).
    #[test]
    fn v10_commits_and_fetches_by_topic_id() {
        let broker = Broker::for_tests();
        let topic = broker.log.create_topic("t", 2, BTreeMap::new()).unwrap();
        let id = topic.meta.id;
        let committed = commit(&broker, id);
        assert_eq!(committed.topics[0].topic_id, id);
        assert_eq!(committed.topics[0].partitions[0].error_code, 0);
        let fetched = fetch(&broker, id);
        let topics = &fetched.groups[0].topics;
        assert_eq!((topics[0].topic_id, topics[0].name.as_str()), (id, ""));
        assert_eq!(topics[0].partitions[0].committed_offset, 42);
        // Both encode at v10 (no name may be set there).
        assert!(fetched.to_bytes(10).is_ok());

        let unknown = Uuid([7; 16]);
        let committed = commit(&broker, unknown);
        assert_eq!(
            committed.topics[0].partitions[0].error_code,
            ErrorCode::UnknownTopicId.code()
        );
        let fetched = fetch(&broker, unknown);
        assert_eq!(
            fetched.groups[0].topics[0].partitions[0].error_code,
            ErrorCode::UnknownTopicId.code()
        );
    }
}
