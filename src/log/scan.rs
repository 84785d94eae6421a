//! Reading a whole topic back, batch by batch, from each partition's log
//! start to its end: how the internal topics (`__consumer_offsets`,
//! `__transaction_state`) are replayed at start-up and when this broker
//! becomes a partition's leader (its log then holds what the old leader
//! committed, its high watermark may not know it yet).

use super::partition::{Isolation, Oversize, Partition, ReadError};
use super::LogManager;
use crate::protocol::records::{BatchIter, RecordBatch};
use std::io;

/// How much one read takes; any batch larger than this is still read whole.
const READ_BYTES: usize = 1 << 20;

/// Calls `visit` with every batch of `partition`, in offset order. A batch
/// that does not parse ends the scan of that read (what follows it in the
/// same read cannot be located), as it would for a consumer.
pub fn partition_batches(
    partition: &Partition,
    mut visit: impl FnMut(RecordBatch),
) -> io::Result<()> {
    let (mut offset, _, _) = partition.offsets();
    loop {
        let read = match partition.read_bounded(
            offset,
            READ_BYTES,
            Isolation::Replica,
            Oversize::FirstBatch,
        ) {
            Ok(read) => read,
            Err(ReadError::OffsetOutOfRange { .. }) => return Ok(()),
            Err(ReadError::Io(e)) => return Err(io::Error::other(e)),
        };
        if read.records.is_empty() {
            return Ok(());
        }
        let before = offset;
        for batch in BatchIter::new(read.records) {
            let Ok(batch) = batch else { break };
            offset = offset.max(batch.next_offset());
            visit(batch);
        }
        if offset == before {
            return Ok(());
        }
    }
}

/// [`partition_batches`] for every partition of `topic` (none if it does
/// not exist), or only partition `only`, with the partition index.
pub fn topic_batches(
    log: &LogManager,
    topic: &str,
    only: Option<i32>,
    mut visit: impl FnMut(i32, RecordBatch),
) -> io::Result<()> {
    let Some(topic) = log.topic(topic) else {
        return Ok(());
    };
    for partition in &topic.partitions {
        if only.is_some_and(|i| i != partition.index) {
            continue;
        }
        partition_batches(partition, |batch| visit(partition.index, batch))?;
    }
    Ok(())
}
