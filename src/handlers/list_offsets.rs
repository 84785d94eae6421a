//! ListOffsets (key 2): earliest, latest, max timestamp, or by timestamp.

use super::Implemented;
use crate::broker::Broker;
use crate::protocol::error_code::ErrorCode;
use crate::protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use crate::protocol::messages::{ApiKey, ListOffsetsRequest, ListOffsetsResponse, ResponseBody};

pub const IMPLEMENTED: Implemented = Implemented {
    api_key: ApiKey::ListOffsets,
    min: 1,
    max: 8,
};

const LATEST: i64 = -1;
const EARLIEST: i64 = -2;
const MAX_TIMESTAMP: i64 = -3;
/// KIP-1005: earliest offset still on local storage (all of it, here).
const EARLIEST_LOCAL: i64 = -4;

pub fn handle(broker: &Broker, version: i16, request: ListOffsetsRequest) -> ResponseBody {
    let request_isolation = request.isolation_level;
    let image = broker.image();
    let topics = request
        .topics
        .into_iter()
        .map(|topic| ListOffsetsTopicResponse {
            partitions: topic
                .partitions
                .iter()
                .map(|p| {
                    // LeaderEpoch exists from v4 and is not ignorable: below it, leave the default.
                    let mut response = ListOffsetsPartitionResponse {
                        partition_index: p.partition_index,
                        timestamp: -1,
                        offset: -1,
                        leader_epoch: if version >= 4 { 0 } else { -1 },
                        ..ListOffsetsPartitionResponse::default()
                    };
                    // v4+: fenced by the client's view of the leader epoch.
                    let current_epoch = if version >= 4 { p.current_leader_epoch } else { -1 };
                    let partition = match super::led_partition(broker, &image, &topic.name, p.partition_index, current_epoch) {
                        Ok((partition, _)) => partition,
                        Err(not) => {
                            response.error_code = not.code.code();
                            response.leader_epoch = -1;
                            return response;
                        }
                    };
                    let (log_start, high_watermark, _) = partition.offsets();
                    // read_committed (v2+) readers see the log end at the last stable offset.
                    let latest = if version >= 2 && request_isolation == 1 { partition.last_stable_offset() } else { high_watermark };
                    // A new leader's high watermark may still lag the start
                    // of its epoch (its followers have not fetched): only the
                    // log start is certain until it passes it, as in Kafka.
                    let early = matches!(p.timestamp, EARLIEST | EARLIEST_LOCAL);
                    if !early && !partition.high_watermark_known() {
                        response.error_code = ErrorCode::OffsetNotAvailable.code();
                        return response;
                    }
                    let found = match p.timestamp {
                        LATEST => Ok(Some((latest, -1))),
                        EARLIEST | EARLIEST_LOCAL => Ok(Some((log_start, -1))),
                        MAX_TIMESTAMP => partition.offset_of_max_timestamp(),
                        t if t >= 0 => partition.offset_for_timestamp(t),
                        _ => {
                            response.error_code = ErrorCode::InvalidRequest.code();
                            return response;
                        }
                    };
                    match found {
                        Ok(Some((offset, timestamp))) => {
                            response.offset = offset;
                            response.timestamp = timestamp;
                        }
                        Ok(None) => {}
                        Err(e) => {
                            tracing::error!(topic = %topic.name, partition = p.partition_index, error = %e, "offset lookup failed");
                            response.error_code = ErrorCode::UnknownServerError.code();
                        }
                    }
                    response
                })
                .collect(),
            name: topic.name,
        })
        .collect();
    ResponseBody::ListOffsets(ListOffsetsResponse {
        topics,
        ..ListOffsetsResponse::default()
    })
}
