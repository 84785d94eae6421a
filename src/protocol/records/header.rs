//! The fixed 61-byte v2 batch header: field offsets, bounds-checked field
//! access, validation and the CRC.
//!
//! Layout (big-endian):
//!
//! ```text
//!  0 baseOffset i64            27 baseTimestamp i64
//!  8 batchLength i32           35 maxTimestamp i64
//! 12 partitionLeaderEpoch i32  43 producerId i64
//! 16 magic i8                  51 producerEpoch i16
//! 17 crc u32                   53 baseSequence i32
//! 21 attributes i16            57 recordCount i32
//! 23 lastOffsetDelta i32       61 records...
//! ```
//!
//! The CRC covers bytes 21.. (attributes to the end), so the base offset,
//! length and leader epoch can be rewritten by the broker without
//! recomputing it.

use super::error::RecordError;

pub const BASE_OFFSET: usize = 0;
pub const BATCH_LENGTH: usize = 8;
pub const PARTITION_LEADER_EPOCH: usize = 12;
pub const MAGIC: usize = 16;
pub const CRC: usize = 17;
pub const ATTRIBUTES: usize = 21;
pub const LAST_OFFSET_DELTA: usize = 23;
pub const BASE_TIMESTAMP: usize = 27;
pub const MAX_TIMESTAMP: usize = 35;
pub const PRODUCER_ID: usize = 43;
pub const PRODUCER_EPOCH: usize = 51;
pub const BASE_SEQUENCE: usize = 53;
pub const RECORD_COUNT: usize = 57;
/// Size of the header; the records section starts here.
pub const RECORDS: usize = 61;
/// baseOffset + batchLength: the bytes not counted by `batch_length`.
pub const LOG_OVERHEAD: usize = 12;
/// The only batch format this module reads and writes.
pub const MAGIC_V2: i8 = 2;

pub const COMPRESSION_MASK: i16 = 0x07;
pub const TIMESTAMP_TYPE_BIT: i16 = 0x08;
pub const TRANSACTIONAL_BIT: i16 = 0x10;
pub const CONTROL_BIT: i16 = 0x20;
pub const DELETE_HORIZON_BIT: i16 = 0x40;

/// Copies `N` bytes at `at`. Callers only use it on validated headers; an
/// out-of-range read yields zeros rather than a panic.
pub fn get<const N: usize>(buf: &[u8], at: usize) -> [u8; N] {
    let mut out = [0u8; N];
    if let Some(src) = buf.get(at..at.saturating_add(N)) {
        out.copy_from_slice(src);
    }
    out
}

/// Overwrites `N` bytes at `at`. Callers only use it on validated headers;
/// an out-of-range write is skipped rather than a panic.
pub fn set<const N: usize>(buf: &mut [u8], at: usize, value: [u8; N]) {
    if let Some(dst) = buf.get_mut(at..at.saturating_add(N)) {
        dst.copy_from_slice(&value);
    }
}

/// Overwrites `N` bytes at `at`, failing instead of panicking when out of range.
pub fn put<const N: usize>(buf: &mut [u8], at: usize, value: [u8; N]) -> Result<(), RecordError> {
    let remaining = buf.len().saturating_sub(at);
    match buf.get_mut(at..at.saturating_add(N)) {
        Some(dst) => {
            dst.copy_from_slice(&value);
            Ok(())
        }
        None => Err(RecordError::Truncated {
            field: "batch header",
            needed: N,
            remaining,
        }),
    }
}

pub fn i16_at(buf: &[u8], at: usize) -> i16 {
    i16::from_be_bytes(get(buf, at))
}

pub fn i32_at(buf: &[u8], at: usize) -> i32 {
    i32::from_be_bytes(get(buf, at))
}

pub fn i64_at(buf: &[u8], at: usize) -> i64 {
    i64::from_be_bytes(get(buf, at))
}

/// Checks what every v2 batch must satisfy before its fields are trusted.
/// Magic is checked as soon as it can be read, before the v2-specific
/// length checks, so an old-format message set reports `BadMagic` (which the
/// broker answers with UNSUPPORTED_FOR_MESSAGE_FORMAT) rather than a length error.
pub fn validate(buf: &[u8]) -> Result<(), RecordError> {
    let Some(&magic) = buf.get(MAGIC) else {
        return Err(RecordError::Truncated {
            field: "batch header",
            needed: RECORDS,
            remaining: buf.len(),
        });
    };
    if magic as i8 != MAGIC_V2 {
        return Err(RecordError::BadMagic(magic as i8));
    }
    if buf.len() < RECORDS {
        return Err(RecordError::Truncated {
            field: "batch header",
            needed: RECORDS,
            remaining: buf.len(),
        });
    }
    let batch_length = i32_at(buf, BATCH_LENGTH);
    let fits = usize::try_from(batch_length)
        .ok()
        .filter(|len| *len >= RECORDS - LOG_OVERHEAD)
        .and_then(|len| len.checked_add(LOG_OVERHEAD))
        .is_some_and(|total| total == buf.len());
    if !fits {
        return Err(RecordError::InvalidBatchLength {
            batch_length,
            available: buf.len(),
        });
    }
    Ok(())
}

/// CRC-32C (Castagnoli) of everything from the attributes to the end.
pub fn compute_crc(buf: &[u8]) -> u32 {
    crc32c::crc32c(buf.get(ATTRIBUTES..).unwrap_or(&[]))
}
