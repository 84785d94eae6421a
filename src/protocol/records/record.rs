//! Records inside a batch, decoded lazily and without copying.
//!
//! Each record is `length varint` then `attributes i8, timestampDelta
//! varlong, offsetDelta varint, key, value, headers`. Every length and count
//! is checked against the bytes actually remaining before it is used, and
//! nothing is preallocated from a claimed count, so a hostile batch costs at
//! most the bytes it really carries.

use super::error::RecordError;
use crate::protocol::wire::{read_i8, read_varint, read_varlong};
use bytes::Bytes;

/// The smallest possible record: length, attributes, timestamp delta, offset
/// delta, key length, value length and header count, one byte each. Bounds
/// how many records a number of bytes can hold.
pub const MIN_RECORD_SIZE: usize = 7;
/// The smallest possible header: key length and value length.
const MIN_HEADER_SIZE: usize = 2;

/// One record, its fields slices of the batch (or of its decompressed records).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Unused by Kafka today; kept so tools can round-trip it.
    pub attributes: i8,
    pub timestamp_delta: i64,
    pub offset_delta: i32,
    /// Absolute offset: the batch's base offset plus `offset_delta`.
    pub offset: i64,
    /// Absolute timestamp: base timestamp plus delta, or the batch's max
    /// timestamp when the batch uses LogAppendTime (as Kafka reports it).
    pub timestamp: i64,
    /// `None` is null, distinct from an empty key.
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    /// In wire order; duplicate keys are kept.
    pub headers: Vec<(Bytes, Option<Bytes>)>,
}

/// What a record needs from its batch to compute absolute offset and timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordContext {
    pub base_offset: i64,
    pub base_timestamp: i64,
    /// `Some(max_timestamp)` when the batch's timestamp type is LogAppendTime.
    pub log_append_time: Option<i64>,
}

impl RecordContext {
    /// Offsets add like Java's `long`: wrapping, never panicking on hostile input.
    pub fn offset(&self, offset_delta: i32) -> i64 {
        self.base_offset.wrapping_add(i64::from(offset_delta))
    }

    pub fn timestamp(&self, timestamp_delta: i64) -> i64 {
        self.log_append_time
            .unwrap_or_else(|| self.base_timestamp.wrapping_add(timestamp_delta))
    }
}

/// Iterates the records of one batch. Yields an error at most once, then stops.
#[derive(Debug, Clone)]
pub struct RecordIter {
    data: Bytes,
    remaining: usize,
    context: RecordContext,
    pending_error: Option<RecordError>,
    done: bool,
}

impl RecordIter {
    /// Iterates `count` records in `data`. A count the bytes cannot possibly
    /// hold fails up front, before anything is parsed.
    pub fn new(data: Bytes, count: i32, context: RecordContext) -> Self {
        let mut iter = RecordIter {
            data,
            remaining: 0,
            context,
            pending_error: None,
            done: false,
        };
        match check_record_count(count, iter.data.len()) {
            Ok(count) => iter.remaining = count,
            Err(err) => iter.pending_error = Some(err),
        }
        iter
    }

    /// An iterator whose first item is `err`.
    pub fn failed(err: RecordError, context: RecordContext) -> Self {
        RecordIter {
            data: Bytes::new(),
            remaining: 0,
            context,
            pending_error: Some(err),
            done: false,
        }
    }

    /// An iterator with no records (an empty batch).
    pub fn empty(context: RecordContext) -> Self {
        RecordIter {
            data: Bytes::new(),
            remaining: 0,
            context,
            pending_error: None,
            done: false,
        }
    }
}

/// A record count is valid if it is non-negative and `bytes` could hold that
/// many minimal records.
pub fn check_record_count(count: i32, bytes: usize) -> Result<usize, RecordError> {
    let max_possible = bytes / MIN_RECORD_SIZE;
    match usize::try_from(count) {
        Err(_) => Err(RecordError::InvalidLength {
            field: "record count",
            length: count.into(),
        }),
        Ok(n) if n > max_possible => Err(RecordError::TooManyRecords {
            claimed: count.into(),
            max_possible,
        }),
        Ok(n) => Ok(n),
    }
}

impl Iterator for RecordIter {
    type Item = Result<Record, RecordError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        if let Some(err) = self.pending_error.take() {
            self.done = true;
            return Some(Err(err));
        }
        if self.remaining == 0 {
            self.done = true;
            // Kafka rejects a batch whose declared count leaves bytes unread.
            return (!self.data.is_empty()).then(|| {
                Err(RecordError::TrailingBytes {
                    remaining: self.data.len(),
                })
            });
        }
        match parse_record(&mut self.data, &self.context) {
            Ok(record) => {
                self.remaining -= 1;
                Some(Ok(record))
            }
            Err(err) => {
                self.done = true;
                Some(Err(err))
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        if self.done {
            return (0, Some(0));
        }
        // `remaining` was bounded by the bytes present, so this is a real bound.
        (0, Some(self.remaining.saturating_add(1)))
    }
}

impl std::iter::FusedIterator for RecordIter {}

/// Reads one length-prefixed record from the front of `data`.
pub fn parse_record(data: &mut Bytes, context: &RecordContext) -> Result<Record, RecordError> {
    let length = read_varint(data).map_err(|e| RecordError::from_decode("record length", e))?;
    let declared = usize::try_from(length).map_err(|_| RecordError::InvalidLength {
        field: "record length",
        length: length.into(),
    })?;
    if declared > data.len() {
        return Err(RecordError::Truncated {
            field: "record",
            needed: declared,
            remaining: data.len(),
        });
    }
    let mut body = data.split_to(declared);

    let attributes =
        read_i8(&mut body).map_err(|e| RecordError::from_decode("record attributes", e))?;
    let timestamp_delta =
        read_varlong(&mut body).map_err(|e| RecordError::from_decode("timestamp delta", e))?;
    let offset_delta =
        read_varint(&mut body).map_err(|e| RecordError::from_decode("offset delta", e))?;
    let key = read_nullable(&mut body, "record key")?;
    let value = read_nullable(&mut body, "record value")?;
    let headers = read_headers(&mut body)?;

    if !body.is_empty() {
        return Err(RecordError::RecordLengthMismatch {
            declared,
            consumed: declared - body.len(),
        });
    }
    Ok(Record {
        attributes,
        timestamp_delta,
        offset_delta,
        offset: context.offset(offset_delta),
        timestamp: context.timestamp(timestamp_delta),
        key,
        value,
        headers,
    })
}

/// A varint length then that many bytes; -1 is null.
fn read_nullable(body: &mut Bytes, field: &'static str) -> Result<Option<Bytes>, RecordError> {
    let length = read_varint(body).map_err(|e| RecordError::from_decode(field, e))?;
    if length == -1 {
        return Ok(None);
    }
    let len = usize::try_from(length).map_err(|_| RecordError::InvalidLength {
        field,
        length: length.into(),
    })?;
    if len > body.len() {
        return Err(RecordError::Truncated {
            field,
            needed: len,
            remaining: body.len(),
        });
    }
    Ok(Some(body.split_to(len)))
}

fn read_headers(body: &mut Bytes) -> Result<Vec<(Bytes, Option<Bytes>)>, RecordError> {
    let claimed = read_varint(body).map_err(|e| RecordError::from_decode("header count", e))?;
    let count = usize::try_from(claimed).map_err(|_| RecordError::InvalidLength {
        field: "header count",
        length: claimed.into(),
    })?;
    if count > body.len() / MIN_HEADER_SIZE {
        return Err(RecordError::TooManyHeaders {
            claimed,
            remaining: body.len(),
        });
    }
    // Grown as headers parse; the count above only bounds the loop.
    let mut headers = Vec::new();
    for _ in 0..count {
        let key = read_nullable(body, "header key")?.ok_or(RecordError::NullHeaderKey)?;
        let value = read_nullable(body, "header value")?;
        headers.push((key, value));
    }
    Ok(headers)
}
