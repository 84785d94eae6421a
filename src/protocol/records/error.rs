//! The one error type of the record batch module.
//!
//! Every variant carries enough context to log a useful line and to pick the
//! Kafka error code a broker answers with (`BadMagic` maps to
//! UNSUPPORTED_FOR_MESSAGE_FORMAT, `CrcMismatch` to CORRUPT_MESSAGE, the rest
//! to CORRUPT_MESSAGE or INVALID_RECORD).

use super::compression::Compression;
use crate::protocol::wire::DecodeError;
use std::fmt;

/// Why a record batch (or a record inside it) could not be read or written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordError {
    /// The bytes ended before `field` did.
    Truncated {
        field: &'static str,
        needed: usize,
        remaining: usize,
    },
    /// The batch length field disagrees with the bytes that hold the batch,
    /// or is smaller than a v2 header.
    InvalidBatchLength { batch_length: i32, available: usize },
    /// A batch in a `records` section claims more bytes than remain. Fetch
    /// responses may legally end like this; produce requests may not.
    PartialBatch { needed: usize, remaining: usize },
    /// Only magic 2 (the v2 record batch) is supported.
    BadMagic(i8),
    /// The stored CRC-32C does not match the bytes it covers.
    CrcMismatch { stored: u32, computed: u32 },
    /// A length or count below its allowed minimum (-1 for nullable fields, 0 otherwise).
    InvalidLength { field: &'static str, length: i64 },
    /// A varint longer than its type allows.
    BadVarint { field: &'static str },
    /// `record_count` claims more records than the bytes could possibly hold.
    TooManyRecords { claimed: i64, max_possible: usize },
    /// A header count claims more headers than the record's bytes could hold.
    TooManyHeaders { claimed: i32, remaining: usize },
    /// A record's declared length differs from the bytes its fields used.
    RecordLengthMismatch { declared: usize, consumed: usize },
    /// Bytes remain after the last record the batch declared.
    TrailingBytes { remaining: usize },
    /// Header keys may not be null.
    NullHeaderKey,
    /// Decompression would produce more than the caller's limit.
    DecompressedTooLarge { limit: usize },
    /// The codec rejected the data.
    Compression { codec: Compression, message: String },
    /// Compression id 5..=7 in the attributes.
    UnsupportedCompression(u8),
    /// A control record whose key or value is not a valid marker.
    InvalidControlRecord(&'static str),
    /// Encoding: a value does not fit its wire field.
    EncodingOverflow { field: &'static str },
}

impl RecordError {
    /// Adapts a wire primitive's error, naming the field being read.
    pub(crate) fn from_decode(field: &'static str, err: DecodeError) -> Self {
        match err {
            DecodeError::Truncated { needed, remaining } => RecordError::Truncated {
                field,
                needed,
                remaining,
            },
            DecodeError::LengthExceedsFrame { claimed, remaining } => RecordError::Truncated {
                field,
                needed: usize::try_from(claimed).unwrap_or(usize::MAX),
                remaining,
            },
            DecodeError::InvalidLength(length) => RecordError::InvalidLength { field, length },
            _ => RecordError::BadVarint { field },
        }
    }
}

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecordError::Truncated {
                field,
                needed,
                remaining,
            } => {
                write!(
                    f,
                    "{field}: truncated, needed {needed} bytes, {remaining} remain"
                )
            }
            RecordError::InvalidBatchLength {
                batch_length,
                available,
            } => {
                write!(
                    f,
                    "batch length {batch_length} does not fit the {available} bytes of the batch"
                )
            }
            RecordError::PartialBatch { needed, remaining } => {
                write!(f, "partial batch: needs {needed} bytes, {remaining} remain")
            }
            RecordError::BadMagic(magic) => write!(
                f,
                "unsupported record batch magic {magic} (only 2 is supported)"
            ),
            RecordError::CrcMismatch { stored, computed } => {
                write!(
                    f,
                    "CRC mismatch: stored {stored:#010x}, computed {computed:#010x}"
                )
            }
            RecordError::InvalidLength { field, length } => {
                write!(f, "{field}: invalid length {length}")
            }
            RecordError::BadVarint { field } => write!(f, "{field}: varint too long"),
            RecordError::TooManyRecords {
                claimed,
                max_possible,
            } => {
                write!(f, "record count {claimed} exceeds the at most {max_possible} records the bytes can hold")
            }
            RecordError::TooManyHeaders { claimed, remaining } => {
                write!(
                    f,
                    "header count {claimed} exceeds what {remaining} remaining bytes can hold"
                )
            }
            RecordError::RecordLengthMismatch { declared, consumed } => {
                write!(
                    f,
                    "record declared {declared} bytes but its fields used {consumed}"
                )
            }
            RecordError::TrailingBytes { remaining } => {
                write!(f, "{remaining} bytes remain after the declared records")
            }
            RecordError::NullHeaderKey => write!(f, "record header key is null"),
            RecordError::DecompressedTooLarge { limit } => {
                write!(f, "decompressed records exceed the {limit} byte limit")
            }
            RecordError::Compression { codec, message } => write!(f, "{codec:?}: {message}"),
            RecordError::UnsupportedCompression(id) => {
                write!(f, "unsupported compression codec {id}")
            }
            RecordError::InvalidControlRecord(why) => write!(f, "invalid control record: {why}"),
            RecordError::EncodingOverflow { field } => {
                write!(f, "{field}: value does not fit its wire field")
            }
        }
    }
}

impl std::error::Error for RecordError {}
