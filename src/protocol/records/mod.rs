//! Kafka record batches (magic v2): the `records` field of Produce and Fetch.
//!
//! - [`RecordBatch`] is a validated, zero-copy view of one batch over
//!   `Bytes`; [`BatchIter`] / [`split_batches`] frame a `records` field.
//! - [`RecordBatch::records`] decodes records lazily, decompressing with a
//!   cap; every length and count from the wire is bounded by the bytes
//!   actually present before it is used.
//! - [`patch`] rewrites header fields in place on the append path.
//! - [`BatchBuilder`] and [`control_batch`] encode batches.
//!
//! Nothing here panics or allocates in proportion to a claimed size on
//! hostile input; the tests fuzz that.

pub mod batch;
pub mod builder;
pub mod compression;
pub mod control;
pub mod error;
pub mod header;
pub mod patch;
pub mod record;
pub mod split;

#[cfg(test)]
mod tests;

pub use batch::{RecordBatch, TimestampType, DEFAULT_MAX_DECOMPRESSED};
pub use builder::{BatchBuilder, NewRecord};
pub use compression::Compression;
pub use control::{control_batch, ControlType, EndTxnMarker};
pub use error::RecordError;
pub use patch::RecordBatchMut;
pub use record::{Record, RecordContext, RecordIter};
pub use split::{split_batches, BatchIter};
