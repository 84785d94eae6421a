//! `RecordBatch`: a validated, zero-copy view of one v2 batch, and the
//! splitting of a `records` field into batches.

use super::compression::{self, Compression};
use super::error::RecordError;
use super::header::{self as h, i16_at, i32_at, i64_at};
use super::record::{check_record_count, RecordContext, RecordIter};
use bytes::Bytes;
use std::fmt;

/// Default cap on a batch's decompressed records, used by [`RecordBatch::records`].
pub const DEFAULT_MAX_DECOMPRESSED: usize = 64 * 1024 * 1024;

/// Attribute bit 3: how the batch's timestamps were assigned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TimestampType {
    #[default]
    CreateTime,
    LogAppendTime,
}

/// One v2 record batch. Construction checks magic and length, so the header
/// accessors below are infallible; the CRC is checked separately
/// ([`RecordBatch::verify_crc`]) because a broker relaying fetched data need not pay for it.
#[derive(Clone, PartialEq, Eq)]
pub struct RecordBatch {
    buf: Bytes,
}

impl RecordBatch {
    /// Wraps `buf`, which must hold exactly one v2 batch.
    pub fn new(buf: Bytes) -> Result<Self, RecordError> {
        h::validate(&buf)?;
        Ok(RecordBatch { buf })
    }

    /// Skips validation for bytes already validated (e.g. a frozen `RecordBatchMut`).
    pub(super) fn from_validated(buf: Bytes) -> Self {
        RecordBatch { buf }
    }

    /// The whole batch, header included.
    pub fn as_bytes(&self) -> &Bytes {
        &self.buf
    }

    pub fn into_bytes(self) -> Bytes {
        self.buf
    }

    pub fn base_offset(&self) -> i64 {
        i64_at(&self.buf, h::BASE_OFFSET)
    }

    /// Bytes after the length field: the batch's total size minus 12.
    pub fn batch_length(&self) -> i32 {
        i32_at(&self.buf, h::BATCH_LENGTH)
    }

    pub fn partition_leader_epoch(&self) -> i32 {
        i32_at(&self.buf, h::PARTITION_LEADER_EPOCH)
    }

    pub fn magic(&self) -> i8 {
        i8::from_be_bytes(h::get(&self.buf, h::MAGIC))
    }

    pub fn crc(&self) -> u32 {
        u32::from_be_bytes(h::get(&self.buf, h::CRC))
    }

    pub fn attributes(&self) -> i16 {
        i16_at(&self.buf, h::ATTRIBUTES)
    }

    pub fn last_offset_delta(&self) -> i32 {
        i32_at(&self.buf, h::LAST_OFFSET_DELTA)
    }

    pub fn base_timestamp(&self) -> i64 {
        i64_at(&self.buf, h::BASE_TIMESTAMP)
    }

    pub fn max_timestamp(&self) -> i64 {
        i64_at(&self.buf, h::MAX_TIMESTAMP)
    }

    pub fn producer_id(&self) -> i64 {
        i64_at(&self.buf, h::PRODUCER_ID)
    }

    pub fn producer_epoch(&self) -> i16 {
        i16_at(&self.buf, h::PRODUCER_EPOCH)
    }

    pub fn base_sequence(&self) -> i32 {
        i32_at(&self.buf, h::BASE_SEQUENCE)
    }

    /// As claimed by the header; not trusted until records are iterated.
    pub fn record_count(&self) -> i32 {
        i32_at(&self.buf, h::RECORD_COUNT)
    }

    /// Fails for the unassigned ids 5..=7.
    pub fn compression(&self) -> Result<Compression, RecordError> {
        Compression::from_id((self.attributes() & h::COMPRESSION_MASK) as u8)
    }

    pub fn timestamp_type(&self) -> TimestampType {
        if self.attributes() & h::TIMESTAMP_TYPE_BIT != 0 {
            TimestampType::LogAppendTime
        } else {
            TimestampType::CreateTime
        }
    }

    pub fn is_transactional(&self) -> bool {
        self.attributes() & h::TRANSACTIONAL_BIT != 0
    }

    pub fn is_control(&self) -> bool {
        self.attributes() & h::CONTROL_BIT != 0
    }

    /// Set by compaction once tombstones and markers may be removed.
    pub fn has_delete_horizon(&self) -> bool {
        self.attributes() & h::DELETE_HORIZON_BIT != 0
    }

    /// `base_offset + last_offset_delta`, wrapping like Java on hostile values.
    pub fn last_offset(&self) -> i64 {
        self.base_offset()
            .wrapping_add(i64::from(self.last_offset_delta()))
    }

    /// The offset after this batch.
    pub fn next_offset(&self) -> i64 {
        self.last_offset().wrapping_add(1)
    }

    /// The total size in bytes, header included.
    pub fn size(&self) -> usize {
        self.buf.len()
    }

    /// The CRC-32C the stored `crc` should equal.
    pub fn compute_crc(&self) -> u32 {
        h::compute_crc(&self.buf)
    }

    pub fn verify_crc(&self) -> Result<(), RecordError> {
        let (stored, computed) = (self.crc(), self.compute_crc());
        if stored != computed {
            return Err(RecordError::CrcMismatch { stored, computed });
        }
        Ok(())
    }

    /// The records section as stored (compressed if the batch is).
    pub fn raw_records(&self) -> Bytes {
        self.buf.slice(h::RECORDS..)
    }

    /// The records section uncompressed: a zero-copy slice for uncompressed
    /// batches, a new buffer of at most `limit` bytes otherwise.
    pub fn decompressed_records(&self, limit: usize) -> Result<Bytes, RecordError> {
        match self.compression()? {
            Compression::None => Ok(self.raw_records()),
            codec => compression::decompress(codec, &self.raw_records(), limit),
        }
    }

    /// What records need from this batch for absolute offsets and timestamps.
    pub fn record_context(&self) -> RecordContext {
        RecordContext {
            base_offset: self.base_offset(),
            base_timestamp: self.base_timestamp(),
            log_append_time: (self.timestamp_type() == TimestampType::LogAppendTime)
                .then(|| self.max_timestamp()),
        }
    }

    /// The records, decompressing with a [`DEFAULT_MAX_DECOMPRESSED`] cap.
    pub fn records(&self) -> RecordIter {
        self.records_with_limit(DEFAULT_MAX_DECOMPRESSED)
    }

    /// The records, decompressing at most `limit` bytes. Decompression and
    /// count errors surface as the iterator's first item.
    pub fn records_with_limit(&self, limit: usize) -> RecordIter {
        let context = self.record_context();
        let count = self.record_count();
        // Kafka skips the records section of an empty batch entirely.
        if count == 0 {
            return RecordIter::empty(context);
        }
        // Reject an impossible count before paying for decompression: the
        // records can be no larger than the raw section, or than `limit`
        // once decompressed.
        let bound = match self.compression() {
            Ok(Compression::None) => self.raw_records().len(),
            _ => limit,
        };
        if let Err(err) = check_record_count(count, bound) {
            return RecordIter::failed(err, context);
        }
        match self.decompressed_records(limit) {
            Ok(data) => RecordIter::new(data, count, context),
            Err(err) => RecordIter::failed(err, context),
        }
    }
}

impl fmt::Debug for RecordBatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecordBatch")
            .field("base_offset", &self.base_offset())
            .field("batch_length", &self.batch_length())
            .field("partition_leader_epoch", &self.partition_leader_epoch())
            .field("crc", &format_args!("{:#010x}", self.crc()))
            .field("attributes", &format_args!("{:#06x}", self.attributes()))
            .field("last_offset_delta", &self.last_offset_delta())
            .field("base_timestamp", &self.base_timestamp())
            .field("max_timestamp", &self.max_timestamp())
            .field("producer_id", &self.producer_id())
            .field("producer_epoch", &self.producer_epoch())
            .field("base_sequence", &self.base_sequence())
            .field("record_count", &self.record_count())
            .finish()
    }
}
