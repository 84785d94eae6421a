//! In-place header rewrites the broker makes on append.
//!
//! The base offset and partition leader epoch sit before the CRC'd range,
//! so assigning them costs no checksum. Switching to LogAppendTime changes
//! the attributes and max timestamp, which the CRC covers, so it is
//! recomputed. Recomputing launders corruption: verify the CRC first.

use super::batch::{RecordBatch, TimestampType};
use super::error::RecordError;
use super::header as h;
use bytes::BytesMut;

/// Sets the base offset of the batch in `batch` (not covered by the CRC).
pub fn set_base_offset(batch: &mut [u8], base_offset: i64) -> Result<(), RecordError> {
    h::validate(batch)?;
    h::set(batch, h::BASE_OFFSET, base_offset.to_be_bytes());
    Ok(())
}

/// Sets the partition leader epoch (not covered by the CRC).
pub fn set_partition_leader_epoch(batch: &mut [u8], epoch: i32) -> Result<(), RecordError> {
    h::validate(batch)?;
    h::set(batch, h::PARTITION_LEADER_EPOCH, epoch.to_be_bytes());
    Ok(())
}

/// Sets the timestamp type and max timestamp, then recomputes the CRC.
/// Like Kafka, leaves the batch untouched when nothing changes.
pub fn set_max_timestamp(
    batch: &mut [u8],
    timestamp_type: TimestampType,
    max_timestamp: i64,
) -> Result<(), RecordError> {
    h::validate(batch)?;
    apply_max_timestamp(batch, timestamp_type, max_timestamp);
    Ok(())
}

fn apply_max_timestamp(batch: &mut [u8], timestamp_type: TimestampType, max_timestamp: i64) {
    let attributes = h::i16_at(batch, h::ATTRIBUTES);
    let new_attributes = match timestamp_type {
        TimestampType::CreateTime => attributes & !h::TIMESTAMP_TYPE_BIT,
        TimestampType::LogAppendTime => attributes | h::TIMESTAMP_TYPE_BIT,
    };
    if new_attributes == attributes && h::i64_at(batch, h::MAX_TIMESTAMP) == max_timestamp {
        return;
    }
    h::set(batch, h::ATTRIBUTES, new_attributes.to_be_bytes());
    h::set(batch, h::MAX_TIMESTAMP, max_timestamp.to_be_bytes());
    write_crc(batch);
}

/// Recomputes and stores the CRC, returning it.
pub fn recompute_crc(batch: &mut [u8]) -> Result<u32, RecordError> {
    h::validate(batch)?;
    Ok(write_crc(batch))
}

fn write_crc(batch: &mut [u8]) -> u32 {
    let crc = h::compute_crc(batch);
    h::set(batch, h::CRC, crc.to_be_bytes());
    crc
}

/// A validated, mutable batch: the owned counterpart of [`RecordBatch`]
/// for the append path, frozen back into a view without copying.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordBatchMut {
    buf: BytesMut,
}

impl RecordBatchMut {
    /// Wraps `buf`, which must hold exactly one v2 batch.
    pub fn new(buf: BytesMut) -> Result<Self, RecordError> {
        h::validate(&buf)?;
        Ok(RecordBatchMut { buf })
    }

    pub fn set_base_offset(&mut self, base_offset: i64) {
        h::set(&mut self.buf, h::BASE_OFFSET, base_offset.to_be_bytes());
    }

    pub fn set_partition_leader_epoch(&mut self, epoch: i32) {
        h::set(
            &mut self.buf,
            h::PARTITION_LEADER_EPOCH,
            epoch.to_be_bytes(),
        );
    }

    /// Sets the timestamp type and max timestamp and recomputes the CRC (see [`set_max_timestamp`]).
    pub fn set_max_timestamp(&mut self, timestamp_type: TimestampType, max_timestamp: i64) {
        apply_max_timestamp(&mut self.buf, timestamp_type, max_timestamp);
    }

    pub fn as_slice(&self) -> &[u8] {
        &self.buf
    }

    /// A read-only view of the same bytes.
    pub fn freeze(self) -> RecordBatch {
        RecordBatch::from_validated(self.buf.freeze())
    }
}
