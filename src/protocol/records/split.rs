//! Splitting a `records` field into consecutive batches.
//!
//! Fetch responses are cut at a byte limit, so the last batch may be
//! partial; consumers skip it and fetch again. [`BatchIter`] therefore stops
//! cleanly at a truncated tail and reports it, while [`split_batches`] (for
//! produce requests, which must hold whole batches) treats it as an error.

use super::batch::RecordBatch;
use super::error::RecordError;
use super::header::{i32_at, BATCH_LENGTH, LOG_OVERHEAD};
use bytes::Bytes;

/// Iterates the batches of a `records` field, zero-copy.
///
/// A batch with a bad magic or header is yielded as an error and iteration
/// continues (its length field still frames it); a negative length loses
/// the framing, so it ends iteration after the error.
#[derive(Debug, Clone)]
pub struct BatchIter {
    data: Bytes,
    partial: Option<(usize, Bytes)>,
    done: bool,
}

impl BatchIter {
    pub fn new(records: Bytes) -> Self {
        BatchIter {
            data: records,
            partial: None,
            done: false,
        }
    }

    /// After iteration: the bytes of a trailing batch cut short, if any.
    pub fn partial_tail(&self) -> Option<&Bytes> {
        self.partial.as_ref().map(|(_, tail)| tail)
    }

    /// After iteration: the trailing partial batch as an error, for callers
    /// (produce) that require whole batches.
    pub fn partial_error(&self) -> Option<RecordError> {
        self.partial
            .as_ref()
            .map(|(needed, tail)| RecordError::PartialBatch {
                needed: *needed,
                remaining: tail.len(),
            })
    }

    fn stop_partial(&mut self, needed: usize) -> Option<Result<RecordBatch, RecordError>> {
        self.done = true;
        self.partial = Some((needed, std::mem::take(&mut self.data)));
        None
    }
}

impl Iterator for BatchIter {
    type Item = Result<RecordBatch, RecordError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.data.is_empty() {
            self.done = true;
            return None;
        }
        if self.data.len() < LOG_OVERHEAD {
            return self.stop_partial(LOG_OVERHEAD);
        }
        let batch_length = i32_at(&self.data, BATCH_LENGTH);
        let Some(total) = usize::try_from(batch_length)
            .ok()
            .and_then(|len| len.checked_add(LOG_OVERHEAD))
        else {
            self.done = true;
            return Some(Err(RecordError::InvalidBatchLength {
                batch_length,
                available: self.data.len(),
            }));
        };
        if total > self.data.len() {
            return self.stop_partial(total);
        }
        Some(RecordBatch::new(self.data.split_to(total)))
    }
}

impl std::iter::FusedIterator for BatchIter {}

/// Splits `records` into whole batches, failing on the first bad batch or
/// on a partial trailing one.
pub fn split_batches(records: Bytes) -> Result<Vec<RecordBatch>, RecordError> {
    let mut iter = BatchIter::new(records);
    // Grows with the batches actually present (each at least 61 bytes).
    let mut batches = Vec::new();
    for batch in iter.by_ref() {
        batches.push(batch?);
    }
    match iter.partial_error() {
        Some(err) => Err(err),
        None => Ok(batches),
    }
}
