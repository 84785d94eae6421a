//! Fetch (key 1): whole batches from each partition up to the high
//! watermark, long-polling until `min_bytes` arrive or `max_wait_ms` passes.
//!
//! Fetch sessions (KIP-227) are declined: every response carries session id
//! 0, which tells clients to keep sending full fetch requests.

use super::Implemented;
use crate::broker::Broker;
use crate::log::partition::ReadError;
use crate::protocol::error_code::ErrorCode;
use crate::protocol::messages::fetch_request::FetchTopic;
use crate::protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use crate::protocol::messages::{ApiKey, FetchRequest, FetchResponse, ResponseBody};
use crate::protocol::wire::Uuid;
use bytes::Bytes;
use std::time::Duration;

pub const IMPLEMENTED: Implemented = Implemented { api_key: ApiKey::Fetch, min: 4, max: 17 };

/// Topics are named up to v12 and identified by id from v13.
fn resolve(broker: &Broker, version: i16, topic: &FetchTopic) -> Option<std::sync::Arc<crate::log::Topic>> {
    if version >= 13 {
        broker.log.topic_by_id(topic.topic_id)
    } else {
        broker.log.topic(&topic.topic)
    }
}

/// One pass over every requested partition; returns the response and the
/// number of record bytes it carries.
fn read_all(broker: &Broker, version: i16, request: &FetchRequest) -> (Vec<FetchableTopicResponse>, usize, bool) {
    let mut remaining = usize::try_from(request.max_bytes).unwrap_or(0);
    let mut total = 0usize;
    let mut any_error = false;
    let read_committed = request.isolation_level == 1;
    let responses = request
        .topics
        .iter()
        .map(|wanted| {
            let topic = resolve(broker, version, wanted);
            let partitions = wanted
                .partitions
                .iter()
                .map(|p| {
                    let mut data = PartitionData {
                        partition_index: p.partition,
                        high_watermark: -1,
                        last_stable_offset: -1,
                        log_start_offset: -1,
                        aborted_transactions: read_committed.then(Vec::new),
                        records: Some(Bytes::new()),
                        ..PartitionData::default()
                    };
                    let missing = if version >= 13 { ErrorCode::UnknownTopicId } else { ErrorCode::UnknownTopicOrPartition };
                    let Some(topic) = &topic else {
                        data.error_code = missing.code();
                        any_error = true;
                        return data;
                    };
                    let Some(partition) = usize::try_from(p.partition).ok().and_then(|i| topic.partitions.get(i)) else {
                        data.error_code = ErrorCode::UnknownTopicOrPartition.code();
                        any_error = true;
                        return data;
                    };
                    // The first partition with data may exceed the limits by one batch.
                    let limit = usize::try_from(p.partition_max_bytes).unwrap_or(0).min(remaining);
                    let limit = if total == 0 { limit.max(1) } else { limit };
                    if limit == 0 {
                        let (start, hw, _) = partition.offsets();
                        (data.log_start_offset, data.high_watermark, data.last_stable_offset) = (start, hw, hw);
                        return data;
                    }
                    match partition.read(p.fetch_offset, limit) {
                        Ok(read) => {
                            total += read.records.len();
                            remaining = remaining.saturating_sub(read.records.len());
                            data.high_watermark = read.high_watermark;
                            data.last_stable_offset = read.high_watermark;
                            data.log_start_offset = read.log_start_offset;
                            data.records = Some(read.records);
                        }
                        Err(ReadError::OffsetOutOfRange { log_start_offset, high_watermark }) => {
                            data.error_code = ErrorCode::OffsetOutOfRange.code();
                            (data.log_start_offset, data.high_watermark, data.last_stable_offset) =
                                (log_start_offset, high_watermark, high_watermark);
                            any_error = true;
                        }
                        Err(ReadError::Io(e)) => {
                            tracing::error!(topic = %topic.meta.name, partition = p.partition, error = %e, "read failed");
                            data.error_code = ErrorCode::UnknownServerError.code();
                            any_error = true;
                        }
                    }
                    data
                })
                .collect();
            FetchableTopicResponse {
                topic: if version >= 13 { String::new() } else { wanted.topic.clone() },
                topic_id: if version >= 13 { wanted.topic_id } else { Uuid::ZERO },
                partitions,
            }
        })
        .collect();
    (responses, total, any_error)
}

pub async fn handle(broker: &Broker, version: i16, request: FetchRequest) -> ResponseBody {
    // A session we never granted (we grant none) is unknown to us.
    if request.session_id != 0 {
        return ResponseBody::Fetch(FetchResponse {
            error_code: ErrorCode::FetchSessionIdNotFound.code(),
            ..FetchResponse::default()
        });
    }
    let max_wait = Duration::from_millis(u64::try_from(request.max_wait_ms).unwrap_or(0));
    let deadline = tokio::time::Instant::now() + max_wait;
    let min_bytes = usize::try_from(request.min_bytes).unwrap_or(0);
    loop {
        let arrived = broker.log.arrivals().notified();
        tokio::pin!(arrived);
        arrived.as_mut().enable();
        let (responses, total, any_error) = read_all(broker, version, &request);
        let now = tokio::time::Instant::now();
        if total >= min_bytes || any_error || now >= deadline {
            return ResponseBody::Fetch(FetchResponse { responses, ..FetchResponse::default() });
        }
        tokio::select! {
            _ = &mut arrived => {}
            _ = tokio::time::sleep_until(deadline) => {}
        }
    }
}
