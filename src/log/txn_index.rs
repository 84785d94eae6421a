//! The aborted-transaction index: for every abort marker in a partition,
//! which producer's transaction it ended and the offsets it spanned, so a
//! `read_committed` Fetch can tell the consumer which batches to drop.
//!
//! Kept in memory for the whole partition and on disk per segment
//! (`<base>.txnindex`, Kafka's entry layout: version i16 (0), producer id
//! i64, first offset i64, last offset i64, last stable offset i64). The
//! active segment's file is rebuilt from the log on recovery, so appends to
//! it need no fsync; a sealed segment's file is synced when it is sealed.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

const ENTRY_SIZE: usize = 34;
const ENTRY_VERSION: i16 = 0;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AbortedTxn {
    pub producer_id: i64,
    pub first_offset: i64,
    /// The offset of the abort marker.
    pub last_offset: i64,
    /// The partition's last stable offset once this transaction ended.
    pub last_stable_offset: i64,
}

impl AbortedTxn {
    fn encode(&self) -> [u8; ENTRY_SIZE] {
        let mut out = [0u8; ENTRY_SIZE];
        out[0..2].copy_from_slice(&ENTRY_VERSION.to_be_bytes());
        out[2..10].copy_from_slice(&self.producer_id.to_be_bytes());
        out[10..18].copy_from_slice(&self.first_offset.to_be_bytes());
        out[18..26].copy_from_slice(&self.last_offset.to_be_bytes());
        out[26..34].copy_from_slice(&self.last_stable_offset.to_be_bytes());
        out
    }

    fn decode(entry: &[u8]) -> Option<AbortedTxn> {
        let i64_at = |at: usize| {
            entry
                .get(at..at + 8)
                .and_then(|b| b.try_into().ok())
                .map(i64::from_be_bytes)
        };
        if entry.get(0..2)? != ENTRY_VERSION.to_be_bytes() {
            return None;
        }
        Some(AbortedTxn {
            producer_id: i64_at(2)?,
            first_offset: i64_at(10)?,
            last_offset: i64_at(18)?,
            last_stable_offset: i64_at(26)?,
        })
    }
}

pub fn path(dir: &Path, base_offset: i64) -> PathBuf {
    dir.join(format!("{base_offset:020}.txnindex"))
}

/// Aborted transactions by the base offset of the segment holding their marker.
#[derive(Debug, Default)]
pub struct TxnIndex {
    by_segment: BTreeMap<i64, Vec<AbortedTxn>>,
}

impl TxnIndex {
    /// Reads the files of `segments` (base offsets). A damaged entry ends
    /// its file: what follows it cannot be trusted.
    pub fn load(dir: &Path, segments: &[i64]) -> io::Result<TxnIndex> {
        let mut by_segment = BTreeMap::new();
        for &base in segments {
            let bytes = match std::fs::read(path(dir, base)) {
                Ok(bytes) => bytes,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            let entries: Vec<AbortedTxn> = bytes
                .chunks_exact(ENTRY_SIZE)
                .map_while(AbortedTxn::decode)
                .collect();
            if !entries.is_empty() {
                by_segment.insert(base, entries);
            }
        }
        Ok(TxnIndex { by_segment })
    }

    /// Replaces one segment's entries (recovery of the active segment) and rewrites its file.
    pub fn rebuild_segment(
        &mut self,
        dir: &Path,
        base: i64,
        entries: Vec<AbortedTxn>,
    ) -> io::Result<()> {
        let mut bytes = Vec::with_capacity(entries.len() * ENTRY_SIZE);
        for entry in &entries {
            bytes.extend_from_slice(&entry.encode());
        }
        if entries.is_empty() {
            remove_file(dir, base)?;
            self.by_segment.remove(&base);
        } else {
            std::fs::write(path(dir, base), &bytes)?;
            self.by_segment.insert(base, entries);
        }
        Ok(())
    }

    /// The file contents for `entries` (the cleaner writes them beside a cleaned segment).
    pub fn encode_entries(entries: &[AbortedTxn]) -> Vec<u8> {
        entries.iter().flat_map(|e| e.encode()).collect()
    }

    /// After a cleaned segment based at `base` replaced the segments `bases`
    /// (on disk already): their entries give way to `entries`.
    pub fn replace_segments(&mut self, bases: &[i64], base: i64, entries: Vec<AbortedTxn>) {
        for b in bases {
            self.by_segment.remove(b);
        }
        if !entries.is_empty() {
            self.by_segment.insert(base, entries);
        }
    }

    /// Records an abort marker written to the segment based at `base`.
    pub fn append(&mut self, dir: &Path, base: i64, entry: AbortedTxn) -> io::Result<()> {
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path(dir, base))?;
        file.write_all(&entry.encode())?;
        self.by_segment.entry(base).or_default().push(entry);
        Ok(())
    }

    /// Makes a sealed segment's entries durable.
    pub fn sync_segment(&self, dir: &Path, base: i64) -> io::Result<()> {
        if self.by_segment.contains_key(&base) {
            File::open(path(dir, base))?.sync_all()?;
        }
        Ok(())
    }

    /// Forgets a segment that retention or deletion removed.
    pub fn remove_segment(&mut self, dir: &Path, base: i64) -> io::Result<()> {
        self.by_segment.remove(&base);
        remove_file(dir, base)
    }

    /// Aborted transactions a fetch of `[from, to)` must report: those whose
    /// marker is at or after `from` and that began before `to`.
    pub fn overlapping(&self, from: i64, to: i64) -> Vec<AbortedTxn> {
        self.by_segment
            .values()
            .flatten()
            .filter(|t| t.last_offset >= from && t.first_offset < to)
            .copied()
            .collect()
    }

    pub fn len(&self) -> usize {
        self.by_segment.values().map(Vec::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.by_segment.is_empty()
    }
}

fn remove_file(dir: &Path, base: i64) -> io::Result<()> {
    match std::fs::remove_file(path(dir, base)) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("odradek-txnindex-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn aborted(producer_id: i64, first_offset: i64, last_offset: i64) -> AbortedTxn {
        AbortedTxn {
            producer_id,
            first_offset,
            last_offset,
            last_stable_offset: last_offset + 1,
        }
    }

    #[test]
    fn entries_survive_a_reload_and_overlap_queries_are_exact() {
        let dir = temp_dir("reload");
        let mut index = TxnIndex::default();
        index.append(&dir, 0, aborted(1, 0, 5)).unwrap();
        index.append(&dir, 0, aborted(2, 3, 9)).unwrap();
        index.append(&dir, 10, aborted(1, 12, 20)).unwrap();
        let loaded = TxnIndex::load(&dir, &[0, 10]).unwrap();
        assert_eq!(loaded.len(), 3);
        assert_eq!(
            loaded.overlapping(6, 100),
            vec![aborted(2, 3, 9), aborted(1, 12, 20)]
        );
        assert_eq!(loaded.overlapping(0, 3), vec![aborted(1, 0, 5)]);
        assert_eq!(loaded.overlapping(21, 30), vec![]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_torn_entry_ends_the_file_and_rebuild_replaces_it() {
        let dir = temp_dir("torn");
        let mut index = TxnIndex::default();
        index.append(&dir, 0, aborted(1, 0, 5)).unwrap();
        index.append(&dir, 0, aborted(2, 6, 7)).unwrap();
        let file = path(&dir, 0);
        let bytes = std::fs::read(&file).unwrap();
        std::fs::write(&file, &bytes[..ENTRY_SIZE + 10]).unwrap();
        let mut loaded = TxnIndex::load(&dir, &[0]).unwrap();
        assert_eq!(loaded.overlapping(0, 100), vec![aborted(1, 0, 5)]);
        loaded
            .rebuild_segment(&dir, 0, vec![aborted(3, 1, 2)])
            .unwrap();
        assert_eq!(
            TxnIndex::load(&dir, &[0]).unwrap().overlapping(0, 100),
            vec![aborted(3, 1, 2)]
        );
        loaded.remove_segment(&dir, 0).unwrap();
        assert!(loaded.is_empty() && !file.exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
