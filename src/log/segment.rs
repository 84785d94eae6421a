//! One segment: a `.log` file of record batches exactly as received (only
//! base offset, leader epoch and LogAppendTime patched), with a sparse offset
//! index and a time index kept in memory and written beside it when the
//! segment is sealed or the log is closed.

use super::index::SegmentIndex;
use crate::protocol::records::header as batch;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The bytes of a batch header the log reads when scanning: up to and
/// including the max timestamp.
const SCAN_HEADER: usize = batch::MAX_TIMESTAMP + 8;

pub fn log_path(dir: &Path, base_offset: i64) -> PathBuf {
    dir.join(format!("{base_offset:020}.log"))
}

/// Where one batch sits in a segment, from its header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchPosition {
    pub position: u64,
    pub size: u64,
    pub base_offset: i64,
    pub last_offset: i64,
    pub max_timestamp: i64,
}

/// A segment opened from disk, and what recovery did to it.
pub struct Opened {
    pub segment: Segment,
    /// Bytes cut from a torn or corrupt tail.
    pub truncated: u64,
    pub index_rebuilt: bool,
}

/// Reads the header of the batch at `position` of `file`, if a whole,
/// plausible v2 batch ends within `limit` bytes.
pub fn read_header_at(file: &File, position: u64, limit: u64) -> io::Result<Option<BatchPosition>> {
    if position + SCAN_HEADER as u64 > limit {
        return Ok(None);
    }
    let mut header = [0u8; SCAN_HEADER];
    file.read_exact_at(&mut header, position)?;
    let length = batch::i32_at(&header, batch::BATCH_LENGTH);
    let magic = header[batch::MAGIC] as i8;
    let Some(size) = u64::try_from(length)
        .ok()
        .map(|l| l + batch::LOG_OVERHEAD as u64)
    else {
        return Ok(None);
    };
    let last_delta = batch::i32_at(&header, batch::LAST_OFFSET_DELTA);
    if magic != batch::MAGIC_V2
        || size < batch::RECORDS as u64
        || position + size > limit
        || last_delta < 0
    {
        return Ok(None);
    }
    let base_offset = batch::i64_at(&header, batch::BASE_OFFSET);
    Ok(Some(BatchPosition {
        position,
        size,
        base_offset,
        last_offset: base_offset + i64::from(last_delta),
        max_timestamp: batch::i64_at(&header, batch::MAX_TIMESTAMP),
    }))
}

pub struct Segment {
    pub base_offset: i64,
    pub file: Arc<File>,
    path: PathBuf,
    /// Bytes of valid batches.
    pub size: u64,
    /// Offset after the last batch.
    pub next_offset: i64,
    pub max_timestamp: i64,
    /// When the first batch was appended (ms since epoch), for `segment.ms`.
    pub created_ms: i64,
    pub index: SegmentIndex,
}

impl Segment {
    pub fn create(dir: &Path, base_offset: i64, now_ms: i64) -> io::Result<Segment> {
        let path = log_path(dir, base_offset);
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create_new(true)
            .open(&path)?;
        super::properties::sync_dir(dir)?;
        Ok(Segment {
            base_offset,
            file: Arc::new(file),
            index: SegmentIndex::new(base_offset),
            path,
            size: 0,
            next_offset: base_offset,
            max_timestamp: -1,
            created_ms: now_ms,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Opens an existing segment. The active segment is validated batch by
    /// batch and its offsets must run on without gaps; a sealed one's
    /// persisted index is trusted and only the batches from its last entry
    /// on are read (all of them if the index is missing or damaged), and
    /// its offsets may skip forward (compaction). A torn or corrupt tail is
    /// truncated.
    pub fn open(
        dir: &Path,
        base_offset: i64,
        active: bool,
        index_interval: usize,
        now_ms: i64,
    ) -> io::Result<Opened> {
        Segment::open_with(dir, base_offset, active, active, index_interval, now_ms)
    }

    fn open_with(
        dir: &Path,
        base_offset: i64,
        active: bool,
        scan_all: bool,
        index_interval: usize,
        now_ms: i64,
    ) -> io::Result<Opened> {
        let path = log_path(dir, base_offset);
        let file = OpenOptions::new().read(true).append(true).open(&path)?;
        let file_len = file.metadata()?.len();
        let loaded = if scan_all {
            None
        } else {
            SegmentIndex::load(dir, base_offset, file_len)
        };
        let index_rebuilt = loaded.is_none();
        let index = loaded.unwrap_or_else(|| SegmentIndex::new(base_offset));
        let start = index.last_position().unwrap_or(0);
        // Offsets strictly increase from the segment's base (or the loaded
        // index's last entry): a stale or damaged batch whose CRC still
        // matches (the base offset is outside the CRC) but goes backwards
        // ends the data. Forward gaps are legitimate: the cleaner drops
        // records and whole batches from compacted segments.
        let mut expected_offset = base_offset
            + index
                .entries()
                .last()
                .map_or(0, |e| i64::from(e.relative_offset));
        let mut segment = Segment {
            base_offset,
            file: Arc::new(file),
            path,
            size: 0,
            next_offset: base_offset,
            max_timestamp: index.max_timestamp_before_last(),
            created_ms: now_ms,
            index,
        };
        let mut position = start;
        while let Some(found) = segment.read_batch_checked(position, file_len)? {
            // A loaded index's last entry names its batch's offset exactly.
            let at_entry = !index_rebuilt && position == start;
            let gap_ok = !active && !at_entry && found.base_offset > expected_offset;
            if found.base_offset != expected_offset && !gap_ok {
                break;
            }
            expected_offset = found.last_offset + 1;
            // The batch at a loaded index's last entry is already indexed.
            if index_rebuilt || position > start {
                segment.index.observe(found, index_interval);
            } else {
                segment.index.resume_after(found);
            }
            segment.next_offset = found.last_offset + 1;
            segment.max_timestamp = segment.max_timestamp.max(found.max_timestamp);
            position += found.size;
        }
        if !index_rebuilt && position == start && start > 0 {
            // The index points at something that is not a valid batch: distrust it.
            return Segment::open_with(dir, base_offset, active, true, index_interval, now_ms);
        }
        segment.size = position;
        let truncated = file_len - position;
        if truncated > 0 {
            segment.file.set_len(position)?;
            segment.file.sync_all()?;
            SegmentIndex::remove_files(dir, base_offset)?;
        }
        if let Some(first) = segment.first_batch_timestamp()? {
            segment.created_ms = first.min(now_ms);
        }
        Ok(Opened {
            segment,
            truncated,
            index_rebuilt,
        })
    }

    fn first_batch_timestamp(&self) -> io::Result<Option<i64>> {
        if self.size < SCAN_HEADER as u64 {
            return Ok(None);
        }
        let mut header = [0u8; SCAN_HEADER];
        self.file.read_exact_at(&mut header, 0)?;
        Ok(Some(batch::i64_at(&header, batch::BASE_TIMESTAMP)))
    }

    /// Reads and fully validates (length, magic, CRC) the batch at
    /// `position`; `None` where the valid data ends.
    fn read_batch_checked(
        &self,
        position: u64,
        file_len: u64,
    ) -> io::Result<Option<BatchPosition>> {
        let Some(found) = self.read_header(position, file_len)? else {
            return Ok(None);
        };
        let len = usize::try_from(found.size).map_err(|_| io::Error::other("batch too large"))?;
        let mut bytes = vec![0u8; len];
        self.file.read_exact_at(&mut bytes, position)?;
        if batch::validate(&bytes).is_err() {
            return Ok(None);
        }
        let stored = u32::from_be_bytes(batch::get(&bytes, batch::CRC));
        if stored != batch::compute_crc(&bytes) {
            return Ok(None);
        }
        Ok(Some(found))
    }

    /// Reads the header of the batch at `position` within `limit` bytes of
    /// the file; `None` if no whole, plausible batch of this segment starts there.
    pub fn read_header(&self, position: u64, limit: u64) -> io::Result<Option<BatchPosition>> {
        Ok(read_header_at(&self.file, position, limit)?
            .filter(|found| found.base_offset >= self.base_offset))
    }

    /// Appends one batch whose offsets are already assigned. The write goes
    /// to the page cache; durability is the flusher's job.
    pub fn append(
        &mut self,
        bytes: &[u8],
        found: BatchPosition,
        index_interval: usize,
    ) -> io::Result<()> {
        debug_assert_eq!(found.position, self.size);
        let mut file: &File = &self.file;
        io::Write::write_all(&mut file, bytes)?;
        self.index.observe(found, index_interval);
        self.size += bytes.len() as u64;
        self.next_offset = found.last_offset + 1;
        self.max_timestamp = self.max_timestamp.max(found.max_timestamp);
        Ok(())
    }

    /// The first batch whose last offset is at or past `offset`, searching
    /// from the nearest index entry.
    pub fn find_batch(&self, offset: i64, limit: u64) -> io::Result<Option<BatchPosition>> {
        let mut position = self.index.position_for_offset(offset);
        while let Some(found) = self.read_header(position, limit)? {
            if found.last_offset >= offset {
                return Ok(Some(found));
            }
            position += found.size;
        }
        Ok(None)
    }

    /// The first batch whose max timestamp is at or past `timestamp`.
    pub fn find_batch_by_time(
        &self,
        timestamp: i64,
        limit: u64,
    ) -> io::Result<Option<BatchPosition>> {
        let mut position = self.index.position_for_timestamp(timestamp);
        while let Some(found) = self.read_header(position, limit)? {
            if found.max_timestamp >= timestamp {
                return Ok(Some(found));
            }
            position += found.size;
        }
        Ok(None)
    }

    /// Writes the index files and fsyncs the log: the segment will not change again.
    pub fn seal(&self, dir: &Path) -> io::Result<()> {
        self.file.sync_all()?;
        self.index.save(dir)
    }
}
