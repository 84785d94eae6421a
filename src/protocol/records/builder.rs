//! Encoding v2 batches, for the broker's own writes (transaction markers)
//! and tools. Field defaults match what Kafka's Java producer writes for
//! a non-idempotent producer.

use super::compression::{self, Compression};
use super::error::RecordError;
use super::header as h;
use crate::protocol::wire::{put_varint, put_varlong, size_varint, size_varlong};
use bytes::{BufMut, Bytes, BytesMut};

/// Java's `RecordBatch.NO_*` sentinels.
pub const NO_PRODUCER_ID: i64 = -1;
pub const NO_PRODUCER_EPOCH: i16 = -1;
pub const NO_SEQUENCE: i32 = -1;
pub const NO_PARTITION_LEADER_EPOCH: i32 = -1;
pub const NO_TIMESTAMP: i64 = -1;

/// A record to encode.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NewRecord {
    pub timestamp: i64,
    /// `None` encodes null (length -1), distinct from an empty key.
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    /// Written in order; duplicate keys are allowed.
    pub headers: Vec<(Bytes, Option<Bytes>)>,
}

impl NewRecord {
    pub fn new(timestamp: i64, key: Option<Bytes>, value: Option<Bytes>) -> Self {
        NewRecord {
            timestamp,
            key,
            value,
            headers: Vec::new(),
        }
    }

    pub fn with_header(mut self, key: impl Into<Bytes>, value: Option<Bytes>) -> Self {
        self.headers.push((key.into(), value));
        self
    }
}

/// Builds one batch. Records get consecutive offset deltas from 0; the base
/// timestamp is the first record's, as in Kafka's `MemoryRecordsBuilder`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchBuilder {
    base_offset: i64,
    partition_leader_epoch: i32,
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
    transactional: bool,
    control: bool,
    compression: Compression,
    log_append_time: Option<i64>,
    records: Vec<NewRecord>,
}

impl BatchBuilder {
    pub fn new(base_offset: i64) -> Self {
        BatchBuilder {
            base_offset,
            partition_leader_epoch: NO_PARTITION_LEADER_EPOCH,
            producer_id: NO_PRODUCER_ID,
            producer_epoch: NO_PRODUCER_EPOCH,
            base_sequence: NO_SEQUENCE,
            transactional: false,
            control: false,
            compression: Compression::None,
            log_append_time: None,
            records: Vec::new(),
        }
    }

    pub fn partition_leader_epoch(mut self, epoch: i32) -> Self {
        self.partition_leader_epoch = epoch;
        self
    }

    /// Producer id, epoch and the sequence of the first record (idempotence).
    pub fn producer(mut self, producer_id: i64, producer_epoch: i16, base_sequence: i32) -> Self {
        self.producer_id = producer_id;
        self.producer_epoch = producer_epoch;
        self.base_sequence = base_sequence;
        self
    }

    pub fn transactional(mut self, transactional: bool) -> Self {
        self.transactional = transactional;
        self
    }

    pub fn control(mut self, control: bool) -> Self {
        self.control = control;
        self
    }

    pub fn compression(mut self, compression: Compression) -> Self {
        self.compression = compression;
        self
    }

    /// Marks the batch LogAppendTime with `timestamp` as its max timestamp.
    pub fn log_append_time(mut self, timestamp: i64) -> Self {
        self.log_append_time = Some(timestamp);
        self
    }

    pub fn record(mut self, record: NewRecord) -> Self {
        self.records.push(record);
        self
    }

    pub fn push(&mut self, record: NewRecord) {
        self.records.push(record);
    }

    fn attributes(&self) -> i16 {
        let mut attributes = i16::from(self.compression.id()) & h::COMPRESSION_MASK;
        if self.log_append_time.is_some() {
            attributes |= h::TIMESTAMP_TYPE_BIT;
        }
        if self.transactional {
            attributes |= h::TRANSACTIONAL_BIT;
        }
        if self.control {
            attributes |= h::CONTROL_BIT;
        }
        attributes
    }

    /// Encodes the complete batch: header, records (compressed with the
    /// chosen codec), length, last offset delta, max timestamp and CRC.
    pub fn build(&self) -> Result<Bytes, RecordError> {
        let count =
            i32::try_from(self.records.len()).map_err(|_| RecordError::EncodingOverflow {
                field: "record count",
            })?;
        let base_timestamp = self.records.first().map_or(NO_TIMESTAMP, |r| r.timestamp);
        let max_timestamp = self.log_append_time.unwrap_or_else(|| {
            self.records
                .iter()
                .map(|r| r.timestamp)
                .max()
                .unwrap_or(NO_TIMESTAMP)
        });

        let mut body = BytesMut::new();
        for (offset_delta, record) in (0..count).zip(&self.records) {
            let timestamp_delta = record.timestamp.checked_sub(base_timestamp).ok_or(
                RecordError::EncodingOverflow {
                    field: "timestamp delta",
                },
            )?;
            encode_record(&mut body, record, timestamp_delta, offset_delta)?;
        }

        let mut out = BytesMut::with_capacity(h::RECORDS + body.len());
        out.put_bytes(0, h::RECORDS);
        compression::compress(self.compression, &body, &mut out)?;
        let batch_length = out
            .len()
            .checked_sub(h::LOG_OVERHEAD)
            .and_then(|len| i32::try_from(len).ok())
            .ok_or(RecordError::EncodingOverflow {
                field: "batch length",
            })?;

        h::set(&mut out, h::BASE_OFFSET, self.base_offset.to_be_bytes());
        h::set(&mut out, h::BATCH_LENGTH, batch_length.to_be_bytes());
        h::set(
            &mut out,
            h::PARTITION_LEADER_EPOCH,
            self.partition_leader_epoch.to_be_bytes(),
        );
        h::set(&mut out, h::MAGIC, h::MAGIC_V2.to_be_bytes());
        h::set(&mut out, h::ATTRIBUTES, self.attributes().to_be_bytes());
        h::set(
            &mut out,
            h::LAST_OFFSET_DELTA,
            count.saturating_sub(1).max(0).to_be_bytes(),
        );
        h::set(&mut out, h::BASE_TIMESTAMP, base_timestamp.to_be_bytes());
        h::set(&mut out, h::MAX_TIMESTAMP, max_timestamp.to_be_bytes());
        h::set(&mut out, h::PRODUCER_ID, self.producer_id.to_be_bytes());
        h::set(
            &mut out,
            h::PRODUCER_EPOCH,
            self.producer_epoch.to_be_bytes(),
        );
        h::set(&mut out, h::BASE_SEQUENCE, self.base_sequence.to_be_bytes());
        h::set(&mut out, h::RECORD_COUNT, count.to_be_bytes());
        let crc = h::compute_crc(&out);
        h::set(&mut out, h::CRC, crc.to_be_bytes());
        Ok(out.freeze())
    }
}

fn wire_len(len: usize, field: &'static str) -> Result<i32, RecordError> {
    i32::try_from(len).map_err(|_| RecordError::EncodingOverflow { field })
}

/// Size of a nullable field: varint length (or -1) plus its bytes.
fn nullable_size(value: Option<&Bytes>, field: &'static str) -> Result<usize, RecordError> {
    Ok(match value {
        None => size_varint(-1),
        Some(bytes) => size_varint(wire_len(bytes.len(), field)?) + bytes.len(),
    })
}

fn put_nullable(buf: &mut BytesMut, value: Option<&Bytes>) {
    match value {
        None => put_varint(buf, -1),
        Some(bytes) => {
            // Lengths were checked by `nullable_size` before anything was written.
            put_varint(buf, i32::try_from(bytes.len()).unwrap_or(i32::MAX));
            buf.put_slice(bytes);
        }
    }
}

/// Appends one record with the given deltas (the log cleaner re-encodes
/// the records it keeps with their original offset deltas).
pub fn encode_record(
    buf: &mut BytesMut,
    record: &NewRecord,
    timestamp_delta: i64,
    offset_delta: i32,
) -> Result<(), RecordError> {
    let header_count = wire_len(record.headers.len(), "header count")?;
    let mut size = 1 // attributes
        + size_varlong(timestamp_delta)
        + size_varint(offset_delta)
        + nullable_size(record.key.as_ref(), "record key")?
        + nullable_size(record.value.as_ref(), "record value")?
        + size_varint(header_count);
    for (key, value) in &record.headers {
        size += nullable_size(Some(key), "header key")?
            + nullable_size(value.as_ref(), "header value")?;
    }
    put_varint(buf, wire_len(size, "record length")?);
    buf.put_i8(0);
    put_varlong(buf, timestamp_delta);
    put_varint(buf, offset_delta);
    put_nullable(buf, record.key.as_ref());
    put_nullable(buf, record.value.as_ref());
    put_varint(buf, header_count);
    for (key, value) in &record.headers {
        put_nullable(buf, Some(key));
        put_nullable(buf, value.as_ref());
    }
    Ok(())
}
