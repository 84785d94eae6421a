//! The quorum's log on disk, in `<data>/metadata/`:
//! - `log`: frames `u32 length | u32 crc32c | entry (JSON)`, appended and
//!   fsynced before openraft is told they are durable; a torn or corrupt
//!   tail (a crash mid-append) is cut at start-up;
//! - `vote`, `purged`, `committed`: small files replaced atomically
//!   (write, fsync, rename, fsync the directory).
//!
//! The metadata log is small (snapshots bound it), so every live entry is
//! also kept in memory; the file is only read at start-up.

use super::types::{Entry, LogId, QuorumTypes, Vote};
use super::{invalid, lock};
use crate::log::properties;
use openraft::entry::RaftEntry;
use openraft::storage::{IOFlushed, LogState, RaftLogStorage};
use openraft::{OptionalSend, RaftLogReader};
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::ops::RangeBounds;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// No entry is larger (a metadata batch is a few KiB at most).
const MAX_ENTRY: usize = 16 << 20;

#[derive(Debug)]
struct Inner {
    dir: PathBuf,
    file: File,
    /// Live entries and where each starts in `log`.
    entries: BTreeMap<u64, (u64, Entry)>,
    end: u64,
    purged: Option<LogId>,
    vote: Option<Vote>,
    committed: Option<LogId>,
}

#[derive(Clone, Debug)]
pub struct LogStore {
    inner: Arc<Mutex<Inner>>,
}

/// Writes `value` as JSON to `dir/name`, atomically and durably.
pub(super) fn write_small<T: serde::Serialize>(
    dir: &Path,
    name: &str,
    value: &T,
) -> io::Result<()> {
    let bytes = serde_json::to_vec(value).map_err(invalid)?;
    properties::write_atomically(&dir.join(name), &bytes)
}

pub(super) fn read_small<T: serde::de::DeserializeOwned>(
    dir: &Path,
    name: &str,
) -> io::Result<Option<T>> {
    match std::fs::read(dir.join(name)) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| invalid(format!("{}: {e}", dir.join(name).display()))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

fn frame(entry: &Entry) -> io::Result<Vec<u8>> {
    let body = serde_json::to_vec(entry).map_err(invalid)?;
    let mut out = Vec::with_capacity(body.len() + 8);
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(&crc32c::crc32c(&body).to_be_bytes());
    out.extend_from_slice(&body);
    Ok(out)
}

/// Reads every whole, intact frame; returns them with their positions and
/// the position where intact data ends.
fn read_frames(file: &mut File) -> io::Result<(Vec<(u64, Entry)>, u64)> {
    let mut bytes = Vec::new();
    file.seek(SeekFrom::Start(0))?;
    file.read_to_end(&mut bytes)?;
    let mut at = 0usize;
    let mut out = Vec::new();
    while let Some(head) = bytes.get(at..at + 8) {
        let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
        let crc = u32::from_be_bytes([head[4], head[5], head[6], head[7]]);
        let Some(body) = bytes.get(at + 8..at + 8 + len).filter(|_| len <= MAX_ENTRY) else {
            break;
        };
        if crc32c::crc32c(body) != crc {
            break;
        }
        let Ok(entry) = serde_json::from_slice::<Entry>(body) else {
            break;
        };
        out.push((at as u64, entry));
        at += 8 + len;
    }
    Ok((out, at as u64))
}

impl LogStore {
    /// Opens (or creates) the log in `dir`, cutting a torn tail.
    pub fn open(dir: &Path) -> io::Result<LogStore> {
        std::fs::create_dir_all(dir)?;
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(dir.join("log"))?;
        let (frames, end) = read_frames(&mut file)?;
        let length = file.metadata()?.len();
        if end < length {
            tracing::warn!(dir = %dir.display(), cut = length - end, "metadata log: cutting a torn tail");
            file.set_len(end)?;
            file.sync_all()?;
        }
        let purged: Option<LogId> = read_small(dir, "purged")?;
        let floor = purged.as_ref().map_or(0, |p| p.index() + 1);
        let mut entries = BTreeMap::new();
        for (position, entry) in frames {
            let index = entry.index();
            if index < floor {
                continue;
            }
            if let Some((&last, _)) = entries.last_key_value() {
                if index != last + 1 {
                    return Err(invalid(format!(
                        "metadata log: entry {index} follows {last}"
                    )));
                }
            }
            entries.insert(index, (position, entry));
        }
        let inner = Inner {
            dir: dir.to_path_buf(),
            file,
            entries,
            end,
            purged,
            vote: read_small(dir, "vote")?,
            committed: read_small(dir, "committed")?,
        };
        Ok(LogStore {
            inner: Arc::new(Mutex::new(inner)),
        })
    }

    /// Rewrites `log` with only the live entries (after a purge).
    fn compact(inner: &mut Inner) -> io::Result<()> {
        let mut bytes = Vec::new();
        let mut positions = Vec::with_capacity(inner.entries.len());
        for (index, (_, entry)) in &inner.entries {
            positions.push((*index, bytes.len() as u64));
            bytes.extend_from_slice(&frame(entry)?);
        }
        properties::write_atomically(&inner.dir.join("log"), &bytes)?;
        let at = bytes.len() as u64;
        inner.file = OpenOptions::new()
            .read(true)
            .append(true)
            .open(inner.dir.join("log"))?;
        for (index, position) in positions {
            if let Some(slot) = inner.entries.get_mut(&index) {
                slot.0 = position;
            }
        }
        inner.end = at;
        Ok(())
    }
}

impl RaftLogReader<QuorumTypes> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, io::Error> {
        let inner = lock(&self.inner);
        Ok(inner
            .entries
            .range(range)
            .map(|(_, (_, e))| e.clone())
            .collect())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, io::Error> {
        Ok(lock(&self.inner).vote)
    }
}

impl RaftLogStorage<QuorumTypes> for LogStore {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<QuorumTypes>, io::Error> {
        let inner = lock(&self.inner);
        let last = inner
            .entries
            .values()
            .next_back()
            .map(|(_, e)| e.log_id())
            .or_else(|| inner.purged);
        Ok(LogState {
            last_purged_log_id: inner.purged,
            last_log_id: last,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), io::Error> {
        let inner = Arc::clone(&self.inner);
        let vote = *vote;
        tokio::task::spawn_blocking(move || {
            let mut inner = lock(&inner);
            write_small(&inner.dir, "vote", &vote)?;
            inner.vote = Some(vote);
            Ok(())
        })
        .await
        .map_err(io::Error::other)?
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), io::Error> {
        // Not fsynced: a committed index that is older after a crash only
        // means re-applying entries that are in the log anyway.
        let mut inner = lock(&self.inner);
        let tmp = inner.dir.join("committed.tmp");
        std::fs::write(&tmp, serde_json::to_vec(&committed).map_err(invalid)?)?;
        std::fs::rename(&tmp, inner.dir.join("committed"))?;
        inner.committed = committed;
        Ok(())
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, io::Error> {
        Ok(lock(&self.inner).committed)
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: IOFlushed<QuorumTypes>,
    ) -> Result<(), io::Error>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let entries: Vec<Entry> = entries.into_iter().collect();
        let inner = Arc::clone(&self.inner);
        let written = tokio::task::spawn_blocking(move || -> io::Result<()> {
            let mut inner = lock(&inner);
            let mut bytes = Vec::new();
            let mut placed = Vec::with_capacity(entries.len());
            for entry in entries {
                placed.push((entry.index(), inner.end + bytes.len() as u64, entry.clone()));
                bytes.extend_from_slice(&frame(&entry)?);
            }
            inner.file.write_all(&bytes)?;
            inner.file.sync_data()?;
            inner.end += bytes.len() as u64;
            for (index, position, entry) in placed {
                inner.entries.insert(index, (position, entry));
            }
            Ok(())
        })
        .await
        .map_err(io::Error::other)?;
        match written {
            Ok(()) => {
                callback.io_completed(Ok(()));
                Ok(())
            }
            Err(e) => {
                tracing::error!(error = %e, "metadata log: append failed");
                Err(e)
            }
        }
    }

    async fn truncate_after(&mut self, last: Option<LogId>) -> Result<(), io::Error> {
        let from = last.map_or(0, |l| l.index() + 1);
        let mut inner = lock(&self.inner);
        let Some(position) = inner.entries.range(from..).next().map(|(_, (p, _))| *p) else {
            return Ok(());
        };
        inner.file.set_len(position)?;
        inner.file.sync_all()?;
        inner.end = position;
        inner.entries.split_off(&from);
        Ok(())
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), io::Error> {
        let mut inner = lock(&self.inner);
        write_small(&inner.dir, "purged", &log_id)?;
        let keep = inner.entries.split_off(&(log_id.index() + 1));
        inner.entries = keep;
        inner.purged = Some(log_id);
        LogStore::compact(&mut inner)
    }
}

#[cfg(test)]
mod tests {
    //! The log store against a model (a map of index to term), over random
    //! appends, truncations, purges, votes and restarts from disk.

    use super::*;
    use openraft::impls::leader_id_adv::LeaderId;
    use openraft::storage::RaftLogStorage;
    use proptest::prelude::*;

    #[derive(Clone, Debug)]
    enum Op {
        Append(u8),
        TruncateAfter(u8),
        Purge(u8),
        Vote(u8),
        Reopen,
        /// A crash mid-append: garbage after the last whole frame.
        TornTail(u8),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (1..5u8).prop_map(Op::Append),
            1 => any::<u8>().prop_map(Op::TruncateAfter),
            1 => any::<u8>().prop_map(Op::Purge),
            1 => (1..20u8).prop_map(Op::Vote),
            1 => Just(Op::Reopen),
            1 => (1..12u8).prop_map(Op::TornTail),
        ]
    }

    fn log_id(term: u64, index: u64) -> LogId {
        LogId::new(LeaderId { term, node_id: 0 }, index)
    }

    fn blank(term: u64, index: u64) -> Entry {
        Entry {
            log_id: log_id(term, index),
            payload: openraft::EntryPayload::Blank,
        }
    }

    async fn check(store: &mut LogStore, model: &BTreeMap<u64, u64>, purged: Option<u64>) {
        let state = store.get_log_state().await.unwrap();
        assert_eq!(state.last_purged_log_id.map(|l| l.index), purged);
        let last = model.keys().next_back().copied().or(purged);
        assert_eq!(state.last_log_id.map(|l| l.index), last);
        let entries = store.try_get_log_entries(0..u64::MAX).await.unwrap();
        let got: BTreeMap<u64, u64> = entries
            .iter()
            .map(|e| (e.log_id.index, e.log_id.leader_id.term))
            .collect();
        assert_eq!(&got, model);
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
        #[test]
        fn the_log_on_disk_behaves_as_its_model(ops in prop::collection::vec(op(), 1..40)) {
            static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
            let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let dir = std::env::temp_dir().join(format!("odradek-logstore-{}-{n}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async {
                let mut store = LogStore::open(&dir).unwrap();
                let mut model: BTreeMap<u64, u64> = BTreeMap::new();
                let mut purged: Option<u64> = None;
                let mut vote: Option<Vote> = None;
                let mut term = 1;
                for op in ops {
                    match op {
                        Op::Append(count) => {
                            term += 1;
                            let next = model.keys().next_back().map(|i| i + 1).or(purged.map(|p| p + 1)).unwrap_or(0);
                            let entries: Vec<Entry> = (next..next + u64::from(count)).map(|i| blank(term, i)).collect();
                            store.append(entries, IOFlushed::noop()).await.unwrap();
                            (next..next + u64::from(count)).for_each(|i| { model.insert(i, term); });
                        }
                        Op::TruncateAfter(at) => {
                            let Some(last) = model.keys().next_back().copied() else { continue };
                            let first = model.keys().next().copied().unwrap_or(0);
                            let keep = first + u64::from(at) % (last - first + 1);
                            store.truncate_after(Some(log_id(model[&keep], keep))).await.unwrap();
                            model.split_off(&(keep + 1));
                        }
                        Op::Purge(at) => {
                            let Some(last) = model.keys().next_back().copied() else { continue };
                            let first = model.keys().next().copied().unwrap_or(0);
                            let upto = first + u64::from(at) % (last - first + 1);
                            store.purge(log_id(model[&upto], upto)).await.unwrap();
                            model = model.split_off(&(upto + 1));
                            purged = Some(upto);
                        }
                        Op::Vote(t) => {
                            let v = Vote::new(u64::from(t), 1);
                            store.save_vote(&v).await.unwrap();
                            vote = Some(v);
                        }
                        Op::Reopen => store = LogStore::open(&dir).unwrap(),
                        Op::TornTail(len) => {
                            drop(store);
                            let mut file = OpenOptions::new().append(true).open(dir.join("log")).unwrap();
                            file.write_all(&vec![7u8; usize::from(len)]).unwrap();
                            store = LogStore::open(&dir).unwrap();
                        }
                    }
                    check(&mut store, &model, purged).await;
                    assert_eq!(store.read_vote().await.unwrap(), vote);
                }
            });
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
}
