//! Sparse indexes of one segment, kept in memory and written beside the
//! `.log` when the segment is sealed:
//! - `.index`: (offset relative to the segment base: u32, file position: u32)
//! - `.timeindex`: (largest timestamp of the batches before: i64, file position: u32)
//!
//! Both point at batch starts, so a lookup lands on a batch boundary and
//! scans forward. They are hints: a missing or damaged file is rebuilt by
//! scanning the segment, never trusted blindly.

use super::segment::BatchPosition;
use std::io;
use std::path::{Path, PathBuf};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IndexEntry {
    pub relative_offset: u32,
    pub position: u32,
    /// Largest timestamp of all batches before this position (-1 if none).
    pub max_timestamp_before: i64,
}

pub struct SegmentIndex {
    base_offset: i64,
    entries: Vec<IndexEntry>,
    /// Largest timestamp of everything indexed or appended so far.
    max_timestamp: i64,
    pub bytes_since_last_entry: usize,
}

pub fn offset_index_path(dir: &Path, base_offset: i64) -> PathBuf {
    dir.join(format!("{base_offset:020}.index"))
}

pub fn time_index_path(dir: &Path, base_offset: i64) -> PathBuf {
    dir.join(format!("{base_offset:020}.timeindex"))
}

impl SegmentIndex {
    pub fn new(base_offset: i64) -> Self {
        SegmentIndex {
            base_offset,
            entries: Vec::new(),
            max_timestamp: -1,
            bytes_since_last_entry: 0,
        }
    }

    pub fn entries(&self) -> &[IndexEntry] {
        &self.entries
    }

    pub fn last_position(&self) -> Option<u64> {
        self.entries.last().map(|e| u64::from(e.position))
    }

    /// Largest timestamp known to the index (of the batches before its last entry).
    pub fn max_timestamp_before_last(&self) -> i64 {
        self.entries.last().map_or(-1, |e| e.max_timestamp_before)
    }

    /// Records `batch`; adds an entry when `interval` bytes have passed since
    /// the last one (and always for the first batch).
    pub fn observe(&mut self, batch: BatchPosition, interval: usize) {
        let relative = u32::try_from(batch.base_offset - self.base_offset);
        let position = u32::try_from(batch.position);
        if let (Ok(relative_offset), Ok(position)) = (relative, position) {
            if self.entries.is_empty() || self.bytes_since_last_entry >= interval {
                self.entries.push(IndexEntry {
                    relative_offset,
                    position,
                    max_timestamp_before: self.max_timestamp,
                });
                self.bytes_since_last_entry = 0;
            }
        }
        self.bytes_since_last_entry = self
            .bytes_since_last_entry
            .saturating_add(batch.size as usize);
        self.max_timestamp = self.max_timestamp.max(batch.max_timestamp);
    }

    /// Accounts for the batch at the last entry of a loaded index (indexed
    /// already), so entries added after it space and timestamp correctly.
    pub fn resume_after(&mut self, batch: BatchPosition) {
        self.bytes_since_last_entry = usize::try_from(batch.size).unwrap_or(usize::MAX);
        self.max_timestamp = self.max_timestamp.max(batch.max_timestamp);
    }

    /// Position of the last indexed batch starting at or before `offset`.
    pub fn position_for_offset(&self, offset: i64) -> u64 {
        let relative = offset - self.base_offset;
        let after = self
            .entries
            .partition_point(|e| i64::from(e.relative_offset) <= relative);
        after
            .checked_sub(1)
            .map_or(0, |i| u64::from(self.entries[i].position))
    }

    /// A position before which every batch's timestamps are below `timestamp`.
    pub fn position_for_timestamp(&self, timestamp: i64) -> u64 {
        let after = self
            .entries
            .partition_point(|e| e.max_timestamp_before < timestamp);
        after
            .checked_sub(1)
            .map_or(0, |i| u64::from(self.entries[i].position))
    }

    /// The contents of the `.index` and `.timeindex` files.
    pub fn encode(&self) -> (Vec<u8>, Vec<u8>) {
        let mut offsets = Vec::with_capacity(self.entries.len() * 8);
        let mut times = Vec::with_capacity(self.entries.len() * 12);
        for e in &self.entries {
            offsets.extend_from_slice(&e.relative_offset.to_be_bytes());
            offsets.extend_from_slice(&e.position.to_be_bytes());
            times.extend_from_slice(&e.max_timestamp_before.to_be_bytes());
            times.extend_from_slice(&e.position.to_be_bytes());
        }
        (offsets, times)
    }

    pub fn save(&self, dir: &Path) -> io::Result<()> {
        let (offsets, times) = self.encode();
        super::properties::write_atomically(&offset_index_path(dir, self.base_offset), &offsets)?;
        super::properties::write_atomically(&time_index_path(dir, self.base_offset), &times)
    }

    pub fn remove_files(dir: &Path, base_offset: i64) -> io::Result<()> {
        for path in [
            offset_index_path(dir, base_offset),
            time_index_path(dir, base_offset),
        ] {
            match std::fs::remove_file(&path) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        Ok(())
    }

    /// Loads both files if they agree with each other and with a log of
    /// `log_len` bytes: entries strictly increasing, positions inside the log.
    pub fn load(dir: &Path, base_offset: i64, log_len: u64) -> Option<SegmentIndex> {
        let offsets = std::fs::read(offset_index_path(dir, base_offset)).ok()?;
        let times = std::fs::read(time_index_path(dir, base_offset)).ok()?;
        if offsets.len() % 8 != 0 || times.len() % 12 != 0 || offsets.len() / 8 != times.len() / 12
        {
            return None;
        }
        let mut entries: Vec<IndexEntry> = Vec::with_capacity(offsets.len() / 8);
        for (o, t) in offsets.chunks_exact(8).zip(times.chunks_exact(12)) {
            let relative_offset = u32::from_be_bytes([o[0], o[1], o[2], o[3]]);
            let position = u32::from_be_bytes([o[4], o[5], o[6], o[7]]);
            let max_timestamp_before =
                i64::from_be_bytes([t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7]]);
            let time_position = u32::from_be_bytes([t[8], t[9], t[10], t[11]]);
            let ordered = entries.last().is_none_or(|prev| {
                prev.relative_offset < relative_offset
                    && prev.position < position
                    && prev.max_timestamp_before <= max_timestamp_before
            });
            if time_position != position || u64::from(position) >= log_len || !ordered {
                return None;
            }
            entries.push(IndexEntry {
                relative_offset,
                position,
                max_timestamp_before,
            });
        }
        // A non-empty log always has an entry for its first batch.
        if entries.first().map_or(log_len > 0, |e| e.position != 0) {
            return None;
        }
        let max_timestamp = entries.last().map_or(-1, |e| e.max_timestamp_before);
        Some(SegmentIndex {
            base_offset,
            entries,
            max_timestamp,
            bytes_since_last_entry: 0,
        })
    }
}
