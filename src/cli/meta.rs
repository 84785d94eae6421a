//! Topic layout and partition offsets, routed to each partition's leader.

use super::client::{expect_response, Cluster};
use super::errors::CliError;
use crate::protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use crate::protocol::messages::{ApiKey, ListOffsetsRequest, RequestBody};
use std::collections::BTreeMap;

pub const EARLIEST: i64 = -2;
pub const LATEST: i64 = -1;
/// ListOffsets v1 introduced the single-offset answer this client reads.
const LIST_OFFSETS_MIN: i16 = 1;
const LIST_OFFSETS_MAX: i16 = 10;

/// A topic's partitions and their leaders.
#[derive(Debug, Clone, PartialEq)]
pub struct TopicLayout {
    pub name: String,
    pub topic_id: String,
    pub internal: bool,
    pub partitions: Vec<PartitionLayout>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PartitionLayout {
    pub partition: i32,
    pub leader: i32,
    pub leader_epoch: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    pub error_code: i16,
}

/// Metadata for `topics` (all when `None`); a topic-level error for a named
/// topic is an error, since every caller needs the topic to exist.
pub async fn layouts(
    cluster: &mut Cluster,
    topics: Option<&[String]>,
) -> Result<Vec<TopicLayout>, CliError> {
    let response = cluster.metadata(topics).await?;
    let mut out = Vec::new();
    for topic in response.topics {
        let name = topic.name.clone().unwrap_or_default();
        if topic.error_code != 0 {
            return Err(CliError::kafka(
                &format!("topic '{name}'"),
                topic.error_code,
                None,
            ));
        }
        let mut partitions: Vec<PartitionLayout> = topic
            .partitions
            .iter()
            .map(|p| PartitionLayout {
                partition: p.partition_index,
                leader: p.leader_id,
                leader_epoch: p.leader_epoch,
                replicas: p.replica_nodes.clone(),
                isr: p.isr_nodes.clone(),
                error_code: p.error_code,
            })
            .collect();
        partitions.sort_by_key(|p| p.partition);
        out.push(TopicLayout {
            name,
            topic_id: base64_url(&topic.topic_id.0),
            internal: topic.is_internal,
            partitions,
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// Kafka prints topic ids as unpadded URL-safe base64; so do we, so ids can
/// be compared with Kafka's tools and logs.
pub fn base64_url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len() * 4 / 3 + 2);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | u32::from(*b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
        }
    }
    out
}

/// Leader of each (topic, partition) in `layouts`.
pub fn leaders(layouts: &[TopicLayout]) -> BTreeMap<(String, i32), i32> {
    layouts
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(move |p| ((t.name.clone(), p.partition), p.leader))
        })
        .collect()
}

/// The offset for `timestamp` (EARLIEST, LATEST, or milliseconds) of each
/// partition, asked of its leader. A partition-level error is kept per
/// partition so one bad partition does not hide the others.
pub async fn list_offsets(
    cluster: &mut Cluster,
    leaders: &BTreeMap<(String, i32), i32>,
    partitions: &[(String, i32)],
    timestamp: i64,
) -> Result<BTreeMap<(String, i32), Result<i64, String>>, CliError> {
    let mut by_leader: BTreeMap<i32, BTreeMap<String, Vec<i32>>> = BTreeMap::new();
    let mut out = BTreeMap::new();
    for (topic, partition) in partitions {
        match leaders.get(&(topic.clone(), *partition)) {
            Some(&leader) if leader >= 0 => by_leader
                .entry(leader)
                .or_default()
                .entry(topic.clone())
                .or_default()
                .push(*partition),
            _ => {
                out.insert((topic.clone(), *partition), Err("no leader".to_string()));
            }
        }
    }
    for (leader, topics) in by_leader {
        let conn = cluster.node(leader).await?;
        let version = conn.version(ApiKey::ListOffsets, LIST_OFFSETS_MAX)?;
        if version < LIST_OFFSETS_MIN {
            return Err(CliError::new(format!(
                "{}: ListOffsets v{version} is too old for this tool",
                conn.addr()
            )));
        }
        let request = ListOffsetsRequest {
            replica_id: -1,
            isolation_level: 0,
            topics: topics
                .iter()
                .map(|(name, parts)| ListOffsetsTopic {
                    name: name.clone(),
                    partitions: parts
                        .iter()
                        .map(|&p| ListOffsetsPartition {
                            partition_index: p,
                            timestamp,
                            ..Default::default()
                        })
                        .collect(),
                })
                .collect(),
            timeout_ms: if version >= 10 { 30_000 } else { 0 },
        };
        let response = expect_response!(
            conn.send(version, RequestBody::ListOffsets(request))
                .await?,
            ListOffsets
        );
        for topic in response.topics {
            for p in topic.partitions {
                let result = if p.error_code == 0 {
                    Ok(p.offset)
                } else {
                    Err(super::errors::error_name(p.error_code))
                };
                out.insert((topic.name.clone(), p.partition_index), result);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::base64_url;

    #[test]
    fn topic_ids_print_as_kafka_does() {
        assert_eq!(base64_url(b"f"), "Zg");
        assert_eq!(base64_url(b"fo"), "Zm8");
        assert_eq!(base64_url(b"foo"), "Zm9v");
        assert_eq!(base64_url(&[0xfb, 0xff]), "-_8");
        assert_eq!(base64_url(&[0u8; 16]), "AAAAAAAAAAAAAAAAAAAAAA");
    }
}
