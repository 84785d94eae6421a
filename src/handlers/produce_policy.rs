//! The topic's rules for the records of a produced batch, applied after the
//! batch itself is validated (produce.rs) and before it is appended:
//!
//! - `cleanup.policy` with `compact`: every record needs a key;
//! - `message.timestamp.before.max.ms` / `after.max.ms` (and the deprecated
//!   `difference.max.ms`): CreateTime timestamps near the broker's clock;
//! - `compression.type` other than `producer`: the batch is recompressed to
//!   the topic's codec (producer id, epoch, sequence and transactional flag
//!   kept, so idempotence and transactions see the same batch).
//!
//! Refusals carry KIP-467 record errors: the index of each offending record.

use crate::config::log_config::{CompressionType, LogConfig, TimestampType};
use crate::protocol::error_code::ErrorCode;
use crate::protocol::messages::produce_response::{
    BatchIndexAndErrorMessage, PartitionProduceResponse,
};
use crate::protocol::records::{header, BatchBuilder, NewRecord, RecordBatch};
use bytes::Bytes;

#[derive(Debug)]
pub struct Rejection {
    pub code: ErrorCode,
    pub message: String,
    /// (record index within the batch, why)
    pub record_errors: Vec<(i32, String)>,
}

impl Rejection {
    fn new(code: ErrorCode, message: String) -> Self {
        Rejection {
            code,
            message,
            record_errors: Vec::new(),
        }
    }

    pub fn into_response(self, index: i32) -> PartitionProduceResponse {
        PartitionProduceResponse {
            index,
            error_code: self.code.code(),
            base_offset: -1,
            log_append_time_ms: -1,
            log_start_offset: -1,
            error_message: super::produce::error_message(self.code, self.message),
            record_errors: self
                .record_errors
                .into_iter()
                .map(|(batch_index, why)| BatchIndexAndErrorMessage {
                    batch_index,
                    batch_index_error_message: Some(why),
                })
                .collect(),
            ..PartitionProduceResponse::default()
        }
    }
}

/// INVALID_RECORD exists from Produce v8 (KIP-467); older clients get CORRUPT_MESSAGE.
fn invalid_record(version: i16) -> ErrorCode {
    if version >= 8 {
        ErrorCode::InvalidRecord
    } else {
        ErrorCode::CorruptMessage
    }
}

/// Applies `config`'s rules to one validated batch; returns the batch to append.
pub fn apply(
    config: &LogConfig,
    batch: Bytes,
    now_ms: i64,
    version: i16,
    partition: &str,
) -> Result<Bytes, Rejection> {
    let parsed = RecordBatch::new(batch.clone())
        .map_err(|e| Rejection::new(ErrorCode::CorruptMessage, e.to_string()))?;
    if parsed.is_control() {
        return Ok(batch); // markers are the coordinator's business, never rewritten here
    }
    let compact = config.compacted();
    let check_time = config.timestamp_type == TimestampType::CreateTime;
    let (before, after) = config.timestamp_bounds();
    let (earliest, latest) = (now_ms.saturating_sub(before), now_ms.saturating_add(after));
    let target = match config.compression {
        CompressionType::Codec(codec) if parsed.compression().ok() != Some(codec) => Some(codec),
        _ => None,
    };
    if !compact && !(check_time && (before < i64::MAX || after < i64::MAX)) && target.is_none() {
        return Ok(batch);
    }

    let mut keyless = Vec::new();
    let mut out_of_range = Vec::new();
    let mut records = Vec::new();
    for (index, record) in (0i32..).zip(parsed.records()) {
        let record = record.map_err(|e| {
            Rejection::new(ErrorCode::CorruptMessage, format!("record {index}: {e}"))
        })?;
        if compact && record.key.is_none() {
            keyless.push((
                index,
                // Kafka's per-record wording (no full stop, unlike the partition's).
                format!("Compacted topic cannot accept message without key in topic partition {partition}"),
            ));
        }
        if check_time && !(earliest..=latest).contains(&record.timestamp) {
            out_of_range.push((
                index,
                format!(
                    "Timestamp {} of message with offset {index} is out of range; it must be within [{earliest}, {latest}]",
                    record.timestamp
                ),
            ));
        }
        if target.is_some() {
            records.push(NewRecord {
                timestamp: record.timestamp,
                key: record.key,
                value: record.value,
                headers: record.headers,
            });
        }
    }
    if !keyless.is_empty() {
        return Err(Rejection {
            code: invalid_record(version),
            message: format!(
                "Compacted topic cannot accept message without key in topic partition {partition}."
            ),
            record_errors: keyless,
        });
    }
    if !out_of_range.is_empty() {
        return Err(Rejection {
            code: ErrorCode::InvalidTimestamp,
            message: format!(
                "{} record(s) with timestamps out of range for topic partition {partition}",
                out_of_range.len()
            ),
            record_errors: out_of_range,
        });
    }
    let Some(codec) = target else {
        return Ok(batch);
    };
    let mut builder = BatchBuilder::new(parsed.base_offset())
        .partition_leader_epoch(parsed.partition_leader_epoch())
        .producer(
            parsed.producer_id(),
            parsed.producer_epoch(),
            parsed.base_sequence(),
        )
        .transactional(parsed.is_transactional())
        .compression(codec);
    for record in records {
        builder.push(record);
    }
    let rebuilt = builder.build().map_err(|e| {
        Rejection::new(
            ErrorCode::CorruptMessage,
            format!("recompressing to {codec:?}: {e}"),
        )
    })?;
    if rebuilt.len() > config.max_message_bytes + header::LOG_OVERHEAD {
        return Err(Rejection::new(
            ErrorCode::MessageTooLarge,
            format!(
                "batch of {} bytes after recompression exceeds max.message.bytes {}",
                rebuilt.len(),
                config.max_message_bytes
            ),
        ));
    }
    Ok(rebuilt)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::records::Compression;

    const NOW: i64 = 1_700_000_000_000;

    fn batch(codec: Compression, keys: &[Option<&str>], timestamps: &[i64]) -> Bytes {
        let mut builder = BatchBuilder::new(0).compression(codec).producer(7, 1, 42);
        for (key, ts) in keys.iter().zip(timestamps) {
            builder.push(NewRecord::new(
                *ts,
                key.map(|k| Bytes::from(k.to_string())),
                Some(Bytes::from_static(b"value")),
            ));
        }
        builder.build().unwrap()
    }

    fn config(name: &str, value: &str) -> LogConfig {
        LogConfig::default()
            .with_overrides(&[(name.to_string(), value.to_string())].into())
            .unwrap()
    }

    #[test]
    fn compacted_topics_refuse_keyless_records_and_name_them() {
        let compact = config("cleanup.policy", "compact");
        let keyed = batch(Compression::None, &[Some("a"), Some("b")], &[NOW, NOW]);
        assert_eq!(
            apply(&compact, keyed.clone(), NOW, 9, "t-0").unwrap(),
            keyed
        );
        let mixed = batch(
            Compression::Lz4,
            &[Some("a"), None, Some("c"), None],
            &[NOW; 4],
        );
        let refused = apply(&compact, mixed.clone(), NOW, 9, "t-0").unwrap_err();
        assert_eq!(refused.code, ErrorCode::InvalidRecord);
        assert_eq!(
            refused
                .record_errors
                .iter()
                .map(|e| e.0)
                .collect::<Vec<_>>(),
            vec![1, 3]
        );
        assert_eq!(
            apply(&compact, mixed.clone(), NOW, 7, "t-0")
                .unwrap_err()
                .code,
            ErrorCode::CorruptMessage
        );
        // The delete policy takes keyless records.
        assert!(apply(&LogConfig::default(), mixed, NOW, 9, "t-0").is_ok());
    }

    #[test]
    fn timestamps_outside_the_window_are_refused() {
        let window = config("message.timestamp.before.max.ms", "1000")
            .with_overrides(&[("message.timestamp.after.max.ms".into(), "10".into())].into())
            .unwrap();
        let ok = batch(Compression::None, &[None, None], &[NOW - 1000, NOW + 10]);
        assert!(apply(&window, ok, NOW, 9, "t-0").is_ok());
        let bad = batch(
            Compression::None,
            &[None, None, None],
            &[NOW - 1001, NOW, NOW + 11],
        );
        let refused = apply(&window, bad.clone(), NOW, 9, "t-0").unwrap_err();
        assert_eq!(refused.code, ErrorCode::InvalidTimestamp);
        assert_eq!(
            refused
                .record_errors
                .iter()
                .map(|e| e.0)
                .collect::<Vec<_>>(),
            vec![0, 2]
        );
        // LogAppendTime topics replace the timestamps: nothing to check.
        let append_time = window
            .with_overrides(&[("message.timestamp.type".into(), "LogAppendTime".into())].into())
            .unwrap();
        assert!(apply(&append_time, bad, NOW, 9, "t-0").is_ok());
    }

    #[test]
    fn batches_are_recompressed_to_the_topic_codec_keeping_producer_fields() {
        let zstd = config("compression.type", "zstd");
        let sent = batch(Compression::Gzip, &[Some("k"), None], &[NOW, NOW + 5]);
        let stored = RecordBatch::new(apply(&zstd, sent.clone(), NOW, 9, "t-0").unwrap()).unwrap();
        let original = RecordBatch::new(sent).unwrap();
        assert_eq!(stored.compression().unwrap(), Compression::Zstd);
        stored.verify_crc().unwrap();
        assert_eq!(
            (
                stored.producer_id(),
                stored.producer_epoch(),
                stored.base_sequence()
            ),
            (7, 1, 42)
        );
        assert_eq!(stored.record_count(), 2);
        assert_eq!(stored.max_timestamp(), original.max_timestamp());
        let a: Vec<_> = stored
            .records()
            .map(|r| r.unwrap())
            .map(|r| (r.key, r.value, r.timestamp))
            .collect();
        let b: Vec<_> = original
            .records()
            .map(|r| r.unwrap())
            .map(|r| (r.key, r.value, r.timestamp))
            .collect();
        assert_eq!(a, b);
        // Already in the topic's codec, or `producer`: kept byte for byte.
        let same = batch(Compression::Zstd, &[Some("k")], &[NOW]);
        assert_eq!(apply(&zstd, same.clone(), NOW, 9, "t-0").unwrap(), same);
        let gzip = batch(Compression::Gzip, &[Some("k")], &[NOW]);
        assert_eq!(
            apply(&LogConfig::default(), gzip.clone(), NOW, 9, "t-0").unwrap(),
            gzip
        );
        let plain = config("compression.type", "uncompressed");
        assert_eq!(
            RecordBatch::new(apply(&plain, gzip, NOW, 9, "t-0").unwrap())
                .unwrap()
                .compression()
                .unwrap(),
            Compression::None
        );
    }
}
