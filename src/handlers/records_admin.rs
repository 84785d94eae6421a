//! Partition administration: DeleteRecords (key 21), DescribeLogDirs
//! (key 35) and OffsetForLeaderEpoch (key 23).

use super::Implemented;
use crate::broker::Broker;
use crate::log::partition::DeleteRecordsError;
use crate::protocol::error_code::ErrorCode;
use crate::protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use crate::protocol::messages::describe_log_dirs_response::{
    DescribeLogDirsPartition, DescribeLogDirsResult, DescribeLogDirsTopic,
};
use crate::protocol::messages::offset_for_leader_epoch_response::{
    EpochEndOffset, OffsetForLeaderTopicResult,
};
use crate::protocol::messages::{
    ApiKey, DeleteRecordsRequest, DeleteRecordsResponse, DescribeLogDirsRequest,
    DescribeLogDirsResponse, OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse,
    ResponseBody,
};

pub const DELETE_RECORDS: Implemented = Implemented {
    api_key: ApiKey::DeleteRecords,
    min: 0,
    max: 2,
};
pub const DESCRIBE_LOG_DIRS: Implemented = Implemented {
    api_key: ApiKey::DescribeLogDirs,
    min: 0,
    max: 5,
};
pub const OFFSET_FOR_LEADER_EPOCH: Implemented = Implemented {
    api_key: ApiKey::OffsetForLeaderEpoch,
    min: 0,
    max: 4,
};

/// DeleteRecords: every partition's log start moves up to the offset given
/// (-1: the high watermark). Single node: done before the answer, so the
/// timeout never matters.
pub fn delete_records(
    broker: &Broker,
    _version: i16,
    request: DeleteRecordsRequest,
) -> ResponseBody {
    let image = broker.image();
    let topics = request
        .topics
        .into_iter()
        .map(|topic| DeleteRecordsTopicResult {
            partitions: topic
                .partitions
                .iter()
                .map(|p| {
                    let mut result = DeleteRecordsPartitionResult {
                        partition_index: p.partition_index,
                        low_watermark: -1,
                        error_code: ErrorCode::None.code(),
                    };
                    let partition = match super::led_partition(broker, &image, &topic.name, p.partition_index, -1) {
                        Ok((partition, _)) => partition,
                        Err(not) => {
                            result.error_code = not.code.code();
                            return result;
                        }
                    };
                    match partition.delete_records_before(p.offset) {
                        Ok(low_watermark) => result.low_watermark = low_watermark,
                        Err(e) => {
                            let code = match &e {
                                DeleteRecordsError::OffsetOutOfRange { .. } => ErrorCode::OffsetOutOfRange,
                                DeleteRecordsError::Io(_) => {
                                    tracing::error!(topic = %topic.name, partition = p.partition_index, error = %e, "delete records failed");
                                    ErrorCode::UnknownServerError
                                }
                            };
                            result.error_code = code.code();
                        }
                    }
                    result
                })
                .collect(),
            name: topic.name,
        })
        .collect();
    ResponseBody::DeleteRecords(DeleteRecordsResponse {
        topics,
        ..DeleteRecordsResponse::default()
    })
}

/// DescribeLogDirs: the one data directory and the size of each partition
/// in it (all partitions when `topics` is null), with its file system's
/// total and usable bytes (-1 if they cannot be read).
pub fn describe_log_dirs(
    broker: &Broker,
    _version: i16,
    request: DescribeLogDirsRequest,
) -> ResponseBody {
    let mut topics = Vec::new();
    for topic in broker.log.topics() {
        let wanted: Option<Vec<i32>> = match &request.topics {
            None => None,
            Some(list) => {
                let parts: Vec<i32> = list
                    .iter()
                    .filter(|t| t.topic == topic.meta.name)
                    .flat_map(|t| t.partitions.iter().copied())
                    .collect();
                if parts.is_empty() {
                    continue;
                }
                Some(parts)
            }
        };
        let partitions: Vec<DescribeLogDirsPartition> = topic
            .partitions
            .iter()
            .filter(|p| wanted.as_ref().is_none_or(|w| w.contains(&p.index)))
            .map(|p| DescribeLogDirsPartition {
                partition_index: p.index,
                partition_size: i64::try_from(p.size_bytes()).unwrap_or(i64::MAX),
                offset_lag: 0,
                is_future_key: false,
            })
            .collect();
        if !partitions.is_empty() {
            topics.push(DescribeLogDirsTopic {
                name: topic.meta.name.clone(),
                partitions,
            });
        }
    }
    let dir = broker.log.data_dir();
    let log_dir = std::fs::canonicalize(dir)
        .unwrap_or_else(|_| dir.to_path_buf())
        .display()
        .to_string();
    let (total_bytes, usable_bytes) =
        broker.log.disk_space().map_or((-1, -1), |(total, usable)| {
            (
                i64::try_from(total).unwrap_or(i64::MAX),
                i64::try_from(usable).unwrap_or(i64::MAX),
            )
        });
    let result = DescribeLogDirsResult {
        error_code: ErrorCode::None.code(),
        log_dir,
        topics,
        total_bytes,
        usable_bytes,
        ..DescribeLogDirsResult::default()
    };
    ResponseBody::DescribeLogDirs(DescribeLogDirsResponse {
        results: vec![result],
        ..DescribeLogDirsResponse::default()
    })
}

/// OffsetForLeaderEpoch: where the requested epoch ends. Every partition has
/// had one epoch (0, as Metadata and Fetch say), ending at the log end.
pub fn offset_for_leader_epoch(
    broker: &Broker,
    version: i16,
    request: OffsetForLeaderEpochRequest,
) -> ResponseBody {
    let image = broker.image();
    let topics = request
        .topics
        .into_iter()
        .map(|topic| OffsetForLeaderTopicResult {
            partitions: topic
                .partitions
                .iter()
                .map(|p| {
                    let failed = |code: ErrorCode| EpochEndOffset {
                        error_code: code.code(),
                        partition: p.partition,
                        leader_epoch: -1,
                        end_offset: -1,
                    };
                    // v2+: the client's view of the leader epoch fences stale requests (-1: no check).
                    let current_epoch = if version >= 2 {
                        p.current_leader_epoch
                    } else {
                        -1
                    };
                    let (partition, _) = match super::led_partition(
                        broker,
                        &image,
                        &topic.topic,
                        p.partition,
                        current_epoch,
                    ) {
                        Ok(led) => led,
                        Err(not) => return failed(not.code),
                    };
                    let (leader_epoch, end_offset) = partition.end_offset_for_epoch(p.leader_epoch);
                    EpochEndOffset {
                        error_code: ErrorCode::None.code(),
                        partition: p.partition,
                        leader_epoch,
                        end_offset,
                    }
                })
                .collect(),
            topic: topic.topic,
        })
        .collect();
    ResponseBody::OffsetForLeaderEpoch(OffsetForLeaderEpochResponse {
        topics,
        ..OffsetForLeaderEpochResponse::default()
    })
}

#[cfg(test)]
mod tests;
