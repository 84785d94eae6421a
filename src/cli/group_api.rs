//! Group requests shared by `groups` and `consume --group`: finding the
//! coordinator, reading and committing offsets.

use super::client::{expect_response, Cluster, Node};
use super::errors::{describe_error, is_retriable, CliError};
use crate::protocol::messages::describe_groups_response::DescribedGroup;
use crate::protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use crate::protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use crate::protocol::messages::{
    ApiKey, DescribeGroupsRequest, FindCoordinatorRequest, OffsetCommitRequest, OffsetFetchRequest,
    RequestBody,
};
use std::collections::BTreeMap;
use std::time::Duration;

/// FindCoordinator retries while the coordinator is loading or moving.
const COORDINATOR_ATTEMPTS: u32 = 20;
const RETRY_PAUSE: Duration = Duration::from_millis(250);
const KEY_TYPE_GROUP: i8 = 0;

pub type Offsets = BTreeMap<(String, i32), i64>;

/// The node id of `group`'s coordinator, its address remembered in `cluster`.
pub async fn coordinator(cluster: &mut Cluster, group: &str) -> Result<i32, CliError> {
    let conn = &mut cluster.bootstrap;
    let version = conn.version(ApiKey::FindCoordinator, 5)?;
    let mut last = String::new();
    for _ in 0..COORDINATOR_ATTEMPTS {
        // v4+ batches keys in `coordinator_keys`; earlier versions take one `key`.
        let request = if version >= 4 {
            FindCoordinatorRequest {
                key: String::new(),
                key_type: KEY_TYPE_GROUP,
                coordinator_keys: vec![group.to_string()],
            }
        } else {
            FindCoordinatorRequest {
                key: group.to_string(),
                key_type: KEY_TYPE_GROUP,
                coordinator_keys: Vec::new(),
            }
        };
        let response = expect_response!(
            conn.send(version, RequestBody::FindCoordinator(request))
                .await?,
            FindCoordinator
        );
        let (error, message, node) = if version >= 4 {
            let c = response
                .coordinators
                .into_iter()
                .find(|c| c.key == group)
                .ok_or_else(|| {
                    CliError::new(format!("FindCoordinator: no answer for group '{group}'"))
                })?;
            (
                c.error_code,
                c.error_message,
                Node {
                    id: c.node_id,
                    host: c.host,
                    port: c.port,
                },
            )
        } else {
            (
                response.error_code,
                response.error_message,
                Node {
                    id: response.node_id,
                    host: response.host,
                    port: response.port,
                },
            )
        };
        if error == 0 {
            let id = node.id;
            cluster.remember(node);
            return Ok(id);
        }
        last = describe_error(error, message.as_deref());
        if !is_retriable(error) {
            break;
        }
        tokio::time::sleep(RETRY_PAUSE).await;
    }
    Err(CliError::new(format!(
        "finding the coordinator of group '{group}': {last}"
    )))
}

/// DescribeGroups for `groups` at one coordinator.
pub async fn describe(
    cluster: &mut Cluster,
    coordinator: i32,
    groups: &[String],
) -> Result<Vec<DescribedGroup>, CliError> {
    let conn = cluster.node(coordinator).await?;
    let version = conn.version(ApiKey::DescribeGroups, 5)?;
    let request = DescribeGroupsRequest {
        groups: groups.to_vec(),
        include_authorized_operations: false,
    };
    let response = expect_response!(
        conn.send(version, RequestBody::DescribeGroups(request))
            .await?,
        DescribeGroups
    );
    Ok(response.groups)
}

/// Committed offsets of `group`: for the given partitions, or for every
/// partition the group has committed when `partitions` is `None`.
/// Partitions without a committed offset are absent.
pub async fn committed(
    cluster: &mut Cluster,
    coordinator: i32,
    group: &str,
    partitions: Option<&[(String, i32)]>,
) -> Result<Offsets, CliError> {
    let conn = cluster.node(coordinator).await?;
    // v8+ moves everything into a per-group array; v7 is enough for one group.
    let version = conn.version(ApiKey::OffsetFetch, 7)?;
    let topics = match partitions {
        Some(list) => {
            let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
            for (t, p) in list {
                by_topic.entry(t).or_default().push(*p);
            }
            Some(
                by_topic
                    .into_iter()
                    .map(|(name, parts)| OffsetFetchRequestTopic {
                        name: name.to_string(),
                        partition_indexes: parts,
                    })
                    .collect(),
            )
        }
        None if version < 2 => {
            return Err(CliError::new(format!(
                "{}: OffsetFetch v{version} cannot list all of a group's offsets (needs v2)",
                conn.addr()
            )))
        }
        None => None,
    };
    let request = OffsetFetchRequest {
        group_id: group.to_string(),
        topics,
        groups: Vec::new(),
        require_stable: false,
    };
    let response = expect_response!(
        conn.send(version, RequestBody::OffsetFetch(request))
            .await?,
        OffsetFetch
    );
    if response.error_code != 0 {
        return Err(CliError::kafka(
            &format!("fetching the offsets of group '{group}'"),
            response.error_code,
            None,
        ));
    }
    let mut out = Offsets::new();
    for topic in response.topics {
        for p in topic.partitions {
            if p.error_code != 0 {
                return Err(CliError::kafka(
                    &format!(
                        "committed offset of {}-{} in group '{group}'",
                        topic.name, p.partition_index
                    ),
                    p.error_code,
                    None,
                ));
            }
            // -1 means "nothing committed".
            if p.committed_offset >= 0 {
                out.insert((topic.name.clone(), p.partition_index), p.committed_offset);
            }
        }
    }
    Ok(out)
}

/// Commits `offsets` for `group` as a non-member (generation -1, no member
/// id), which Kafka accepts only while the group has no active members.
pub async fn commit(
    cluster: &mut Cluster,
    coordinator: i32,
    group: &str,
    offsets: &Offsets,
) -> Result<(), CliError> {
    if offsets.is_empty() {
        return Ok(());
    }
    let conn = cluster.node(coordinator).await?;
    let version = conn.version(ApiKey::OffsetCommit, 9)?;
    let mut by_topic: BTreeMap<&str, Vec<OffsetCommitRequestPartition>> = BTreeMap::new();
    for ((topic, partition), offset) in offsets {
        by_topic
            .entry(topic)
            .or_default()
            .push(OffsetCommitRequestPartition {
                partition_index: *partition,
                committed_offset: *offset,
                committed_metadata: Some(String::new()),
                ..Default::default()
            });
    }
    let request = OffsetCommitRequest {
        group_id: group.to_string(),
        generation_id_or_member_epoch: -1,
        member_id: String::new(),
        group_instance_id: None,
        retention_time_ms: -1,
        topics: by_topic
            .into_iter()
            .map(|(name, partitions)| OffsetCommitRequestTopic {
                name: name.to_string(),
                partitions,
                ..OffsetCommitRequestTopic::default()
            })
            .collect(),
    };
    let response = expect_response!(
        conn.send(version, RequestBody::OffsetCommit(request))
            .await?,
        OffsetCommit
    );
    let mut failures = Vec::new();
    for topic in response.topics {
        for p in topic.partitions {
            if p.error_code != 0 {
                failures.push(format!(
                    "{}-{}: {}",
                    topic.name,
                    p.partition_index,
                    describe_error(p.error_code, None)
                ));
            }
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(CliError::new(format!(
            "committing offsets for group '{group}': {}",
            failures.join(", ")
        )))
    }
}
