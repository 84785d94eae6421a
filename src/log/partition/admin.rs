//! Administrative operations on one partition: DeleteRecords (moving the log
//! start offset), the size DescribeLogDirs reports, and the leader-epoch
//! history OffsetForLeaderEpoch answers from.
//!
//! Leader epochs: a single node never changes leader, so every batch is
//! stamped with epoch 0 (as Metadata and Fetch advertise) and the history
//! holds one entry: epoch 0 starts at the log start offset. It is kept in
//! `leader-epoch-checkpoint`, in Kafka's format, so the directory reads as a
//! Kafka partition does.

use super::{remove_segment_files, write_checkpoint, Partition};
use std::io;
use std::path::Path;

/// The epoch this broker leads every partition with.
pub const LEADER_EPOCH: i32 = 0;

const EPOCH_CHECKPOINT: &str = "leader-epoch-checkpoint";

#[derive(Debug, PartialEq, Eq)]
pub enum DeleteRecordsError {
    /// Beyond the high watermark, or negative (other than -1).
    OffsetOutOfRange {
        requested: i64,
        high_watermark: i64,
    },
    Io(String),
}

impl std::fmt::Display for DeleteRecordsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DeleteRecordsError::OffsetOutOfRange {
                requested,
                high_watermark,
            } => {
                write!(f, "cannot delete records before offset {requested}: the high watermark is {high_watermark}")
            }
            DeleteRecordsError::Io(e) => write!(f, "storage error: {e}"),
        }
    }
}

/// Kafka's leader-epoch checkpoint: version 0, the entry count, then `epoch start_offset` lines.
fn write_epoch_checkpoint(dir: &Path, start_offset: i64) -> io::Result<()> {
    let text = format!("0\n1\n{LEADER_EPOCH} {start_offset}\n");
    crate::log::properties::write_atomically(&dir.join(EPOCH_CHECKPOINT), text.as_bytes())
}

/// The start offset of epoch 0 in the checkpoint, if the file is there and well formed.
fn read_epoch_checkpoint(dir: &Path) -> io::Result<Option<(i32, i64)>> {
    let text = match std::fs::read_to_string(dir.join(EPOCH_CHECKPOINT)) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut lines = text.lines();
    if lines.next() != Some("0") || lines.next() != Some("1") {
        return Ok(None);
    }
    let entry = lines
        .next()
        .and_then(|l| l.split_once(' '))
        .and_then(|(e, o)| Some((e.parse().ok()?, o.parse().ok()?)));
    Ok(entry)
}

#[cfg(test)]
pub fn read_epoch_checkpoint_for_tests(dir: &Path) -> io::Result<Option<(i32, i64)>> {
    read_epoch_checkpoint(dir)
}

impl Partition {
    /// DeleteRecords: moves the log start offset up to `offset` (-1: the high
    /// watermark), checkpoints it, then removes the segments wholly below it.
    /// Returns the new log start offset (the low watermark).
    pub fn delete_records_before(&self, offset: i64) -> Result<i64, DeleteRecordsError> {
        let io_err = |e: io::Error| DeleteRecordsError::Io(e.to_string());
        let mut st = self.lock();
        let target = if offset == -1 {
            st.high_watermark
        } else {
            offset
        };
        if target < 0 || target > st.high_watermark {
            return Err(DeleteRecordsError::OffsetOutOfRange {
                requested: offset,
                high_watermark: st.high_watermark,
            });
        }
        if target <= st.log_start_offset {
            return Ok(st.log_start_offset);
        }
        // The checkpoint is the commit point: once it is durable, a restart
        // starts the log at `target` whatever segment files remain.
        write_checkpoint(&self.dir, target).map_err(io_err)?;
        st.log_start_offset = target;
        drop(st);
        self.remove_segments_below_log_start().map_err(io_err)?;
        Ok(target)
    }

    /// Removes whole segments below the log start offset (the active segment
    /// always stays) and rewrites the epoch checkpoint to start there. Also
    /// finishes a DeleteRecords a crash interrupted.
    pub fn remove_segments_below_log_start(&self) -> io::Result<usize> {
        let mut st = self.lock();
        let mut removed = 0;
        while st.segments.len() >= 2 && st.segments[1].base_offset <= st.log_start_offset {
            let gone = st.segments.remove(0);
            remove_segment_files(&self.dir, &gone)?;
            removed += 1;
        }
        if read_epoch_checkpoint(&self.dir)? != Some((LEADER_EPOCH, st.log_start_offset)) {
            write_epoch_checkpoint(&self.dir, st.log_start_offset)?;
        }
        Ok(removed)
    }

    /// Bytes of log on disk (segment files, as Kafka's `Log.size`).
    pub fn size_bytes(&self) -> u64 {
        self.lock().segments.iter().map(|s| s.size).sum()
    }

    /// OffsetForLeaderEpoch: the end of `epoch` as (epoch, end offset),
    /// where `current` is the leader's epoch now. Every batch is stamped
    /// [`LEADER_EPOCH`] until the leader-epoch cache exists, so the
    /// epochs since then hold no batch, and every epoch up to `current`
    /// ends at the log end (the current one under its own number, earlier
    /// ones as the last epoch with batches, as Kafka's cache answers); a
    /// later epoch is (-1, -1).
    pub fn end_offset_for_epoch(&self, epoch: i32, current: i32) -> (i32, i64) {
        let end = self.lock().log_end_offset;
        match epoch {
            e if e == current => (current, end),
            e if (LEADER_EPOCH..current).contains(&e) => (LEADER_EPOCH, end),
            _ => (-1, -1),
        }
    }
}
