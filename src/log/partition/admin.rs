//! Administrative operations on one partition: DeleteRecords (moving the log
//! start offset), the size DescribeLogDirs reports, and the leader-epoch
//! history OffsetForLeaderEpoch answers from.
//!
//! Leader epochs: every batch is stamped with the epoch of the leader that
//! appended it (the metadata image's, once the broker is in a cluster; 0 for
//! a node alone), and the partition's history of epochs (see
//! [`EpochCache`]) is kept in `leader-epoch-checkpoint`, in Kafka's format,
//! so the directory reads as a Kafka partition does.

use super::{remove_segment_files, write_checkpoint, Partition, Segment, State};
use crate::log::epoch_cache::EpochCache;
use crate::protocol::records::header as batch;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

/// The epoch a partition is led with before any image says otherwise.
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

pub(super) fn write_epoch_checkpoint(dir: &Path, epochs: &EpochCache) -> io::Result<()> {
    crate::log::properties::write_atomically(
        &dir.join(EPOCH_CHECKPOINT),
        epochs.to_checkpoint().as_bytes(),
    )
}

/// The history of epochs at open: the checkpoint, cut to the log that
/// survived recovery; without a usable checkpoint, rebuilt from the epochs
/// stamped on the batches.
pub(super) fn recover_epochs(
    dir: &Path,
    segments: &[Segment],
    log_start_offset: i64,
    log_end_offset: i64,
) -> io::Result<EpochCache> {
    let read = match std::fs::read_to_string(dir.join(EPOCH_CHECKPOINT)) {
        Ok(text) => EpochCache::from_checkpoint(&text).map_err(|e| e.to_string()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err("missing".to_string()),
        Err(e) => return Err(e),
    };
    let mut epochs = match read {
        Ok(epochs) => epochs,
        Err(why) => {
            if log_end_offset > log_start_offset {
                tracing::info!(dir = %dir.display(), %why, "rebuilding the leader-epoch history from the log");
            }
            let mut rebuilt = EpochCache::default();
            for segment in segments {
                let mut position = 0;
                while let Some(found) = segment.read_header(position, segment.size)? {
                    let mut epoch = [0u8; 4];
                    segment.file.read_exact_at(
                        &mut epoch,
                        position + batch::PARTITION_LEADER_EPOCH as u64,
                    )?;
                    // A stamp that goes back is a deposed leader's tail: keep the history monotonic.
                    let _ = rebuilt.assign(i32::from_be_bytes(epoch).max(0), found.base_offset);
                    position += found.size;
                }
            }
            rebuilt
        }
    };
    // An epoch starting at the log end is led with nothing appended yet;
    // one starting beyond it began in a tail that recovery cut.
    epochs.truncate_from_end(log_end_offset + 1);
    epochs.truncate_from_start(log_start_offset);
    Ok(epochs)
}

/// The (epoch, start offset) entries of the checkpoint on disk, if well formed.
#[cfg(test)]
pub fn read_epoch_checkpoint_for_tests(dir: &Path) -> io::Result<Option<Vec<(i32, i64)>>> {
    match std::fs::read_to_string(dir.join(EPOCH_CHECKPOINT)) {
        Ok(text) => Ok(EpochCache::from_checkpoint(&text)
            .ok()
            .map(|c| c.entries().to_vec())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Adds `epoch` from `offset` on to the history, persisting it if it changed.
pub(super) fn assign_epoch(dir: &Path, st: &mut State, epoch: i32, offset: i64) -> io::Result<()> {
    match st.epochs.assign(epoch, offset) {
        Ok(false) => Ok(()),
        Ok(true) => write_epoch_checkpoint(dir, &st.epochs),
        Err(e) => Err(io::Error::new(io::ErrorKind::InvalidInput, e.to_string())),
    }
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
        let start = st.log_start_offset;
        if st.epochs.truncate_from_start(start) {
            write_epoch_checkpoint(&self.dir, &st.epochs)?;
        }
        Ok(removed)
    }

    /// Bytes of log on disk (segment files, as Kafka's `Log.size`).
    pub fn size_bytes(&self) -> u64 {
        self.lock().segments.iter().map(|s| s.size).sum()
    }

    /// OffsetForLeaderEpoch: the end of `epoch` as (epoch, end offset),
    /// from the history of epochs (see [`EpochCache::end_offset_for`]).
    pub fn end_offset_for_epoch(&self, epoch: i32) -> (i32, i64) {
        let st = self.lock();
        st.epochs.end_offset_for(epoch, st.log_end_offset)
    }

    /// This broker leads the partition with `epoch` from now on: batches
    /// are stamped with it, and it starts at the log end. A lower epoch
    /// than the one it has is ignored (an image older than one applied).
    pub fn set_leader_epoch(&self, epoch: i32) -> io::Result<()> {
        let mut st = self.lock();
        self.start_leader_epoch(&mut st, epoch)
    }

    pub(super) fn start_leader_epoch(&self, st: &mut State, epoch: i32) -> io::Result<()> {
        if epoch <= st.leader_epoch && st.epochs.latest_epoch().is_some() {
            return Ok(());
        }
        st.leader_epoch = epoch.max(st.leader_epoch);
        let (epoch, end) = (st.leader_epoch, st.log_end_offset);
        let assigned = assign_epoch(&self.dir, st, epoch, end);
        // Appends of the previous epoch waiting to be committed never will be.
        self.high_watermark_moved.notify_waiters();
        assigned
    }

    /// The epoch batches are stamped with.
    pub fn leader_epoch(&self) -> i32 {
        self.lock().leader_epoch
    }
}
