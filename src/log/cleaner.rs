//! The log cleaner: compaction of `cleanup.policy=compact` partitions, as
//! Kafka's LogCleaner does it.
//!
//! A pass over a partition:
//! 1. The cleanable part is a prefix of the sealed segments (never the
//!    active one), below the last stable offset and the high watermark, and
//!    whose records are all older than `min.compaction.lag.ms`. It runs only
//!    when its dirty part (after the `cleaner-offset-checkpoint`) is at least
//!    `min.cleanable.dirty.ratio` of it, when a dirty segment is older than
//!    `max.compaction.lag.ms`, or when a delete horizon set by an earlier pass
//!    has passed.
//! 2. A map from each key (a 128-bit keyed hash) to its latest offset is
//!    built over the dirty part (bounded by `log.cleaner.dedupe.buffer.size`).
//! 3. The cleanable segments are rewritten in groups of at most
//!    `segment.bytes`, each into one `.cleaned` segment named after the
//!    group's first base offset. Batch boundaries, base offsets, last offset
//!    deltas, record offset deltas and producer fields are kept; only
//!    records are dropped (offsets therefore have gaps). Dropped: records
//!    superseded by a later one with the same key, records without a key,
//!    records of aborted transactions, and tombstones and transaction
//!    markers whose delete horizon has passed.
//! 4. Each group is swapped in atomically (below).
//!
//! Delete horizon (KIP-534, as Kafka 3.x): the first pass that keeps a
//! tombstone or a marker rewrites its batch with the delete-horizon
//! attribute and `now + delete.retention.ms` as the base timestamp (record
//! timestamp deltas are adjusted, so record timestamps do not change). A
//! later pass after that time removes the tombstones; a marker goes once no
//! batch of its transaction is left. The earliest horizon kept is written
//! to the checkpoint so that a pass runs when it passes.
//!
//! Producer state: a batch whose records all go is dropped, except the last
//! batch of a producer the partition remembers, kept empty (header only)
//! so a replay of the log without a snapshot still finds its sequence.
//!
//! Crash-safe swap (Kafka's scheme): the group's `.log`, `.index`,
//! `.timeindex`, `.txnindex` and `.range` (the offset after the group) are
//! written as `*.cleaned` and fsynced; renamed to `*.swap`, indexes first and
//! the log last: the log's rename commits the swap. Then the replaced
//! segments are deleted and the `*.swap` files renamed over the originals.
//! [`recover_swaps`] at startup deletes `*.cleaned` files, completes a
//! swap whose `.log.swap` exists and rolls back (deletes) other `*.swap`s.

use super::index::{offset_index_path, time_index_path, SegmentIndex};
use super::partition::{CleanerView, Partition, SealedSegment};
use super::segment::{log_path, read_header_at, BatchPosition, Segment};
use super::txn_index::{self, AbortedTxn, TxnIndex};
use super::LogManager;
use crate::protocol::records::builder::encode_record;
use crate::protocol::records::{compression, header as h, EndTxnMarker, NewRecord, RecordBatch};
use bytes::{Bytes, BytesMut};
use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::hash::{BuildHasher, RandomState};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

const CHECKPOINT: &str = "cleaner-offset-checkpoint";

/// Where a swap is when a failpoint is consulted (tests inject crashes there).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SwapStep {
    /// The `.cleaned` files are written and synced; nothing renamed yet.
    CleanedWritten,
    /// The index and range files are `.swap`; the log is still `.cleaned`.
    IndexesSwapped,
    /// The log is `.swap`: the swap is committed.
    LogSwapped,
    /// The replaced segments are deleted; the `.swap` files not yet renamed.
    OldDeleted,
}

/// Called at each [`SwapStep`]; an error stops the swap there, as a crash would.
pub type Failpoint = Arc<dyn Fn(SwapStep) -> io::Result<()> + Send + Sync>;

#[derive(Clone)]
pub struct CleanerOptions {
    /// Most keys one pass maps (from `log.cleaner.dedupe.buffer.size`).
    pub max_map_entries: usize,
    /// Clean whatever is cleanable, ignoring the dirty ratio.
    pub force: bool,
    pub failpoint: Option<Failpoint>,
}

impl CleanerOptions {
    /// Options for a dedupe buffer of `bytes` (about 32 bytes a key).
    pub fn with_buffer(bytes: usize) -> CleanerOptions {
        CleanerOptions {
            max_map_entries: (bytes / 32).max(1024),
            force: false,
            failpoint: None,
        }
    }
}

/// What one pass over a partition did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CleanStats {
    pub segments_read: usize,
    pub segments_written: usize,
    pub bytes_read: u64,
    pub bytes_written: u64,
    pub records_read: u64,
    pub records_kept: u64,
    pub tombstones_removed: u64,
    pub markers_removed: u64,
    pub micros: u64,
    /// The first offset the next pass treats as dirty.
    pub cleaned_up_to: i64,
}

fn invalid(what: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

fn suffixed(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push(suffix);
    PathBuf::from(name)
}

fn range_path(dir: &Path, base: i64) -> PathBuf {
    dir.join(format!("{base:020}.range"))
}

/// The files of the segment based at `base`, the log last.
fn segment_files(dir: &Path, base: i64) -> [PathBuf; 4] {
    [
        offset_index_path(dir, base),
        time_index_path(dir, base),
        txn_index::path(dir, base),
        log_path(dir, base),
    ]
}

fn remove_if_present(path: &Path) -> io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(io::Error::new(
            e.kind(),
            format!("removing {}: {e}", path.display()),
        )),
        _ => Ok(()),
    }
}

fn rename(from: &Path, to: &Path) -> io::Result<()> {
    std::fs::rename(from, to).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("renaming {} to {}: {e}", from.display(), to.display()),
        )
    })
}

/// The cleaner's checkpoint: where the dirty part starts, and the earliest
/// delete horizon still pending.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Checkpoint {
    first_dirty: i64,
    next_horizon: Option<i64>,
}

fn read_checkpoint(dir: &Path) -> io::Result<Checkpoint> {
    let props = super::properties::read(&dir.join(CHECKPOINT))?.unwrap_or_default();
    Ok(Checkpoint {
        first_dirty: props
            .get("first.dirty.offset")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0),
        next_horizon: props
            .get("next.delete.horizon.ms")
            .and_then(|v| v.parse().ok()),
    })
}

fn write_checkpoint(dir: &Path, checkpoint: Checkpoint) -> io::Result<()> {
    let mut props = std::collections::BTreeMap::new();
    props.insert(
        "first.dirty.offset".to_string(),
        checkpoint.first_dirty.to_string(),
    );
    if let Some(horizon) = checkpoint.next_horizon {
        props.insert("next.delete.horizon.ms".to_string(), horizon.to_string());
    }
    super::properties::write(&dir.join(CHECKPOINT), &props)
}

/// Finishes or undoes a swap a crash interrupted (see the module docs).
pub fn recover_swaps(dir: &Path) -> io::Result<()> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    let mut names = Vec::new();
    for entry in entries {
        if let Some(name) = entry?.file_name().to_str() {
            names.push(name.to_string());
        }
    }
    let mut changed = false;
    for name in names.iter().filter(|n| n.ends_with(".cleaned")) {
        remove_if_present(&dir.join(name))?;
        changed = true;
    }
    let committed: Vec<i64> = names
        .iter()
        .filter_map(|n| n.strip_suffix(".log.swap")?.parse().ok())
        .collect();
    for base in committed {
        let range = suffixed(&range_path(dir, base), ".swap");
        let end = super::properties::read(&range)?
            .and_then(|p| p.get("end.offset").and_then(|v| v.parse::<i64>().ok()))
            .ok_or_else(|| invalid(format!("{}: unreadable", range.display())))?;
        tracing::warn!(dir = %dir.display(), segment = base, "completing an interrupted cleaner swap");
        complete_swap(dir, base, end, None)?;
        changed = true;
    }
    // What is left of a swap that was not committed.
    for name in names.iter().filter(|n| n.ends_with(".swap")) {
        let path = dir.join(name);
        if path.exists() {
            remove_if_present(&path)?;
            changed = true;
        }
    }
    if changed {
        super::properties::sync_dir(dir)?;
    }
    Ok(())
}

fn fail(failpoint: Option<&Failpoint>, step: SwapStep) -> io::Result<()> {
    failpoint.map_or(Ok(()), |f| f(step))
}

/// Renames the `.cleaned` files of the group based at `base` to `.swap`,
/// the log last (the commit point), then completes the swap.
fn commit_swap(dir: &Path, base: i64, end: i64, failpoint: Option<&Failpoint>) -> io::Result<()> {
    let [index, time, txn, log] = segment_files(dir, base);
    for path in [index, time, txn, range_path(dir, base)] {
        rename(&suffixed(&path, ".cleaned"), &suffixed(&path, ".swap"))?;
    }
    super::properties::sync_dir(dir)?;
    fail(failpoint, SwapStep::IndexesSwapped)?;
    rename(&suffixed(&log, ".cleaned"), &suffixed(&log, ".swap"))?;
    super::properties::sync_dir(dir)?;
    fail(failpoint, SwapStep::LogSwapped)?;
    complete_swap(dir, base, end, failpoint)
}

/// Deletes the segments a committed swap replaces (based in `(base, end)`)
/// and renames the `.swap` files over the segment at `base`. Idempotent.
fn complete_swap(dir: &Path, base: i64, end: i64, failpoint: Option<&Failpoint>) -> io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let name = entry?.file_name();
        let Some(other) = name
            .to_str()
            .and_then(|n| n.strip_suffix(".log"))
            .and_then(|b| b.parse::<i64>().ok())
        else {
            continue;
        };
        if other > base && other < end {
            for path in segment_files(dir, other) {
                remove_if_present(&path)?;
            }
            remove_if_present(&dir.join(format!("{other:020}.snapshot")))?;
        }
    }
    super::properties::sync_dir(dir)?;
    fail(failpoint, SwapStep::OldDeleted)?;
    for path in segment_files(dir, base) {
        let swap = suffixed(&path, ".swap");
        if swap.exists() {
            rename(&swap, &path)?;
        }
    }
    remove_if_present(&suffixed(&range_path(dir, base), ".swap"))?;
    super::properties::sync_dir(dir)
}

/// Calls `visit` with every batch of `segment`, in order.
fn for_each_batch(
    segment: &SealedSegment,
    mut visit: impl FnMut(BatchPosition, Bytes) -> io::Result<()>,
) -> io::Result<()> {
    let mut position = 0;
    while let Some(found) = read_header_at(&segment.file, position, segment.size)? {
        let len = usize::try_from(found.size).map_err(|_| invalid("batch too large"))?;
        let mut bytes = BytesMut::zeroed(len);
        segment.file.read_exact_at(&mut bytes, position)?;
        visit(found, bytes.freeze())?;
        position += found.size;
    }
    Ok(())
}

/// Key → offset of its latest record, by a keyed 128-bit hash of the key.
struct KeyMap {
    hashers: (RandomState, RandomState),
    latest: HashMap<u128, i64>,
}

impl KeyMap {
    fn new() -> KeyMap {
        KeyMap {
            hashers: (RandomState::new(), RandomState::new()),
            latest: HashMap::new(),
        }
    }

    fn digest(&self, key: &[u8]) -> u128 {
        (u128::from(self.hashers.0.hash_one(key)) << 64) | u128::from(self.hashers.1.hash_one(key))
    }
}

/// Aborted transactions by producer, to tell whether a batch belongs to one.
struct Aborted {
    by_producer: HashMap<i64, Vec<AbortedTxn>>,
}

impl Aborted {
    fn new(all: &[AbortedTxn]) -> Aborted {
        let mut by_producer: HashMap<i64, Vec<AbortedTxn>> = HashMap::new();
        for t in all {
            by_producer.entry(t.producer_id).or_default().push(*t);
        }
        Aborted { by_producer }
    }

    /// The aborted transaction holding `producer_id`'s batch at `offset`.
    fn holding(&self, producer_id: i64, offset: i64) -> Option<AbortedTxn> {
        self.by_producer
            .get(&producer_id)?
            .iter()
            .find(|t| t.first_offset <= offset && offset <= t.last_offset)
            .copied()
    }

    /// The aborted transaction whose marker is at `offset`.
    fn ended_at(&self, producer_id: i64, offset: i64) -> Option<AbortedTxn> {
        self.by_producer
            .get(&producer_id)?
            .iter()
            .find(|t| t.last_offset == offset)
            .copied()
    }
}

/// What a segment's batches decide, pass-wide.
struct Pass<'a> {
    view: &'a CleanerView,
    now: i64,
    map: KeyMap,
    aborted: Aborted,
    /// Producers with a committed (not aborted) transactional batch since their last marker.
    ongoing_committed: HashSet<i64>,
    /// Aborted transactions (by marker offset) of which a batch was seen.
    aborted_seen: HashSet<i64>,
    min_horizon: Option<i64>,
    stats: CleanStats,
}

/// What becomes of one batch.
enum Outcome {
    Keep,
    Drop,
    Rewrite(Bytes),
}

impl Pass<'_> {
    fn delete_horizon(&self) -> i64 {
        self.now
            .saturating_add(self.view.config.delete_retention_ms)
    }

    fn note_horizon(&mut self, horizon: i64) {
        self.min_horizon = Some(self.min_horizon.map_or(horizon, |m| m.min(horizon)));
    }

    /// Records the keys of a dirty segment's batches in the map.
    fn map_batch(&mut self, bytes: Bytes) -> io::Result<()> {
        let batch = RecordBatch::new(bytes).map_err(invalid)?;
        if batch.is_control()
            || (batch.is_transactional()
                && self
                    .aborted
                    .holding(batch.producer_id(), batch.base_offset())
                    .is_some())
        {
            return Ok(());
        }
        for record in batch.records() {
            let record = record.map_err(invalid)?;
            if let Some(key) = &record.key {
                let digest = self.map.digest(key);
                self.map.latest.insert(digest, record.offset);
            }
        }
        Ok(())
    }

    fn clean_batch(&mut self, bytes: Bytes) -> io::Result<Outcome> {
        let batch = RecordBatch::new(bytes).map_err(invalid)?;
        let producer_id = batch.producer_id();
        let horizon = batch.has_delete_horizon().then(|| batch.base_timestamp());
        let horizon_passed = horizon.is_some_and(|at| self.now >= at);
        if batch.is_control() {
            let discardable = self.on_marker(&batch)?;
            if discardable && horizon_passed {
                self.stats.markers_removed += 1;
                return Ok(Outcome::Drop);
            }
            let at = horizon.unwrap_or_else(|| self.delete_horizon());
            self.note_horizon(at);
            if horizon.is_some() {
                return Ok(Outcome::Keep);
            }
            let records = collect_records(&batch)?;
            self.stats.records_read += records.len() as u64;
            self.stats.records_kept += records.len() as u64;
            return Ok(Outcome::Rewrite(rebuild(&batch, &records, Some(at))?));
        }
        let aborted = batch.is_transactional()
            && match self.aborted.holding(producer_id, batch.base_offset()) {
                Some(txn) => {
                    self.aborted_seen.insert(txn.last_offset);
                    true
                }
                None => false,
            };
        if batch.is_transactional() && !aborted {
            self.ongoing_committed.insert(producer_id);
        }
        let records = collect_records(&batch)?;
        self.stats.records_read += records.len() as u64;
        let total = records.len();
        let mut kept = Vec::with_capacity(total);
        let mut tombstones = false;
        if !aborted {
            for record in records {
                let Some(key) = &record.key else { continue };
                let digest = self.map.digest(key);
                if self
                    .map
                    .latest
                    .get(&digest)
                    .is_some_and(|&latest| latest > record.offset)
                {
                    continue;
                }
                if record.value.is_none() {
                    if horizon_passed {
                        self.stats.tombstones_removed += 1;
                        continue;
                    }
                    tombstones = true;
                }
                kept.push(record);
            }
        }
        self.stats.records_kept += kept.len() as u64;
        let new_horizon = match horizon {
            None if tombstones => Some(self.delete_horizon()),
            other => other,
        };
        if tombstones {
            if let Some(at) = new_horizon {
                self.note_horizon(at);
            }
        }
        if kept.len() == total && new_horizon == horizon {
            return Ok(Outcome::Keep);
        }
        if kept.is_empty() {
            let last_of_producer = producer_id >= 0
                && self.view.producer_last_offsets.get(&producer_id) == Some(&batch.last_offset());
            return Ok(if last_of_producer {
                Outcome::Rewrite(empty_batch(&batch))
            } else {
                Outcome::Drop
            });
        }
        Ok(Outcome::Rewrite(rebuild(&batch, &kept, new_horizon)?))
    }

    /// Whether the marker in `batch` may go once its horizon has passed:
    /// no batch of its transaction was left in the log (Kafka's rule).
    fn on_marker(&mut self, batch: &RecordBatch) -> io::Result<bool> {
        let Some(record) = batch.records().next() else {
            return Ok(true); // an emptied control batch
        };
        let marker = EndTxnMarker::parse(&record.map_err(invalid)?).map_err(invalid)?;
        let producer_id = batch.producer_id();
        Ok(if marker.commit {
            !self.ongoing_committed.remove(&producer_id)
        } else {
            !self.aborted_seen.remove(&batch.base_offset())
        })
    }
}

fn collect_records(batch: &RecordBatch) -> io::Result<Vec<crate::protocol::records::Record>> {
    batch
        .records()
        .collect::<Result<Vec<_>, _>>()
        .map_err(invalid)
}

/// `batch` with only `kept` (in order), the same base offset, last offset
/// delta, producer fields and codec; with `horizon`, the delete-horizon
/// attribute and that base timestamp.
fn rebuild(
    batch: &RecordBatch,
    kept: &[crate::protocol::records::Record],
    horizon: Option<i64>,
) -> io::Result<Bytes> {
    let original_base = batch.base_timestamp();
    let base_timestamp = horizon.unwrap_or(original_base);
    let mut body = BytesMut::new();
    for record in kept {
        let new = NewRecord {
            timestamp: record.timestamp,
            key: record.key.clone(),
            value: record.value.clone(),
            headers: record.headers.clone(),
        };
        let delta = record
            .timestamp_delta
            .checked_add(original_base)
            .and_then(|t| t.checked_sub(base_timestamp))
            .ok_or_else(|| invalid("timestamp delta overflow"))?;
        encode_record(&mut body, &new, delta, record.offset_delta).map_err(invalid)?;
    }
    let codec = batch.compression().map_err(invalid)?;
    let mut out = BytesMut::with_capacity(h::RECORDS + body.len());
    out.extend_from_slice(&batch.as_bytes()[..h::RECORDS]);
    compression::compress(codec, &body, &mut out).map_err(invalid)?;
    let length =
        i32::try_from(out.len() - h::LOG_OVERHEAD).map_err(|_| invalid("batch too large"))?;
    let count = i32::try_from(kept.len()).map_err(|_| invalid("too many records"))?;
    let mut attributes = batch.attributes();
    if horizon.is_some() {
        attributes |= h::DELETE_HORIZON_BIT;
    }
    let max_timestamp = if attributes & h::TIMESTAMP_TYPE_BIT != 0 {
        batch.max_timestamp()
    } else {
        kept.iter().map(|r| r.timestamp).max().unwrap_or(-1)
    };
    h::set(&mut out, h::BATCH_LENGTH, length.to_be_bytes());
    h::set(&mut out, h::ATTRIBUTES, attributes.to_be_bytes());
    h::set(&mut out, h::BASE_TIMESTAMP, base_timestamp.to_be_bytes());
    h::set(&mut out, h::MAX_TIMESTAMP, max_timestamp.to_be_bytes());
    h::set(&mut out, h::RECORD_COUNT, count.to_be_bytes());
    let crc = h::compute_crc(&out);
    h::set(&mut out, h::CRC, crc.to_be_bytes());
    Ok(out.freeze())
}

/// The header of `batch` with no records: keeps a producer's last sequence in the log.
fn empty_batch(batch: &RecordBatch) -> Bytes {
    let mut out = batch.as_bytes()[..h::RECORDS].to_vec();
    let attributes = batch.attributes() & !h::COMPRESSION_MASK;
    h::set(
        &mut out,
        h::BATCH_LENGTH,
        ((h::RECORDS - h::LOG_OVERHEAD) as i32).to_be_bytes(),
    );
    h::set(&mut out, h::ATTRIBUTES, attributes.to_be_bytes());
    h::set(&mut out, h::RECORD_COUNT, 0i32.to_be_bytes());
    let crc = h::compute_crc(&out);
    h::set(&mut out, h::CRC, crc.to_be_bytes());
    Bytes::from(out)
}

/// Which sealed segments one pass cleans, and from where they are dirty.
struct Plan {
    /// How many of the view's sealed segments are cleanable.
    cleanable: usize,
    first_dirty: i64,
}

fn plan(view: &CleanerView, now: i64, checkpoint: Checkpoint, force: bool) -> Option<Plan> {
    let config = &view.config;
    if !config.compacted() {
        return None;
    }
    let limit = view.last_stable_offset.min(view.high_watermark);
    let young = now.saturating_sub(config.min_compaction_lag_ms);
    let cleanable = view
        .sealed
        .iter()
        .take_while(|s| s.next_offset <= limit && s.max_timestamp <= young)
        .count();
    if cleanable == 0 {
        return None;
    }
    let first_dirty = checkpoint.first_dirty.max(view.log_start_offset);
    let segments = &view.sealed[..cleanable];
    let is_dirty = |s: &&SealedSegment| s.base_offset >= first_dirty || s.next_offset > first_dirty;
    let dirty: u64 = segments.iter().filter(is_dirty).map(|s| s.size).sum();
    let total: u64 = segments.iter().map(|s| s.size).sum();
    let ratio = if total == 0 {
        0.0
    } else {
        dirty as f64 / total as f64
    };
    let overdue = segments
        .iter()
        .find(is_dirty)
        .is_some_and(|s| s.created_ms <= now.saturating_sub(config.max_compaction_lag_ms));
    let horizon_due = checkpoint.next_horizon.is_some_and(|at| now >= at);
    let due = force
        || horizon_due
        || (dirty > 0 && (ratio >= config.min_cleanable_dirty_ratio || overdue));
    due.then_some(Plan {
        cleanable,
        first_dirty,
    })
}

/// Runs one cleaning pass over `partition` if it is due. `None`: nothing to do.
pub fn clean_partition(
    partition: &Partition,
    now: i64,
    options: &CleanerOptions,
) -> io::Result<Option<CleanStats>> {
    let started = Instant::now();
    let dir = partition.dir().to_path_buf();
    let view = partition.cleaner_view();
    let checkpoint = read_checkpoint(&dir)?;
    let Some(plan) = plan(&view, now, checkpoint, options.force) else {
        return Ok(None);
    };
    let mut pass = Pass {
        view: &view,
        now,
        map: KeyMap::new(),
        aborted: Aborted::new(&view.aborted),
        ongoing_committed: HashSet::new(),
        aborted_seen: HashSet::new(),
        min_horizon: None,
        stats: CleanStats::default(),
    };
    // Map the dirty segments, as many as the map holds (at least one).
    let mut end = plan.cleanable;
    let mut mapped_any = false;
    for (i, segment) in view.sealed[..plan.cleanable].iter().enumerate() {
        if segment.next_offset <= plan.first_dirty && segment.base_offset < plan.first_dirty {
            continue;
        }
        if mapped_any && pass.map.latest.len() >= options.max_map_entries {
            end = i;
            break;
        }
        for_each_batch(segment, |_, bytes| pass.map_batch(bytes))?;
        mapped_any = true;
    }
    let segments = &view.sealed[..end];
    let mut start = 0;
    while start < segments.len() {
        let group_end = group_end(segments, start, view.config.segment_bytes);
        let group = &segments[start..group_end];
        // The offset after the group: the next segment's base (the active one at the end).
        let next_base = view
            .sealed
            .get(start + group.len())
            .map_or(view.active_base_offset, |s| s.base_offset);
        if !clean_group(partition, &dir, &mut pass, group, next_base, options)? {
            tracing::info!(topic = %partition.topic, partition = partition.index, "segments changed under the cleaner; pass stopped");
            return Ok(None);
        }
        start = group_end;
    }
    let cleaned_up_to = view
        .sealed
        .get(end)
        .map_or(view.active_base_offset, |s| s.base_offset);
    write_checkpoint(
        &dir,
        Checkpoint {
            first_dirty: cleaned_up_to,
            next_horizon: pass.min_horizon,
        },
    )?;
    pass.stats.cleaned_up_to = cleaned_up_to;
    pass.stats.micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
    Ok(Some(pass.stats))
}

/// The end of the group starting at `start`: consecutive segments whose
/// sizes sum to at most `segment_bytes` and whose offsets fit a segment.
fn group_end(segments: &[SealedSegment], start: usize, segment_bytes: u64) -> usize {
    let base = segments[start].base_offset;
    let mut size = segments[start].size;
    let mut end = start + 1;
    while let Some(next) = segments.get(end) {
        let span = next.next_offset - base;
        if size + next.size > segment_bytes || span > i64::from(i32::MAX) {
            break;
        }
        size += next.size;
        end += 1;
    }
    end
}

/// Cleans one group into `.cleaned` files and swaps it in. False if the
/// partition's segments changed meanwhile (the work is thrown away).
fn clean_group(
    partition: &Partition,
    dir: &Path,
    pass: &mut Pass<'_>,
    group: &[SealedSegment],
    next_base: i64,
    options: &CleanerOptions,
) -> io::Result<bool> {
    let base = group[0].base_offset;
    let [index_path, time_path, txn_path, log] = segment_files(dir, base);
    let cleaned_log = suffixed(&log, ".cleaned");
    remove_if_present(&cleaned_log)?;
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&cleaned_log)?;
    let mut out = io::BufWriter::with_capacity(1 << 20, &file);
    let interval = pass.view.config.index_interval_bytes;
    let mut index = SegmentIndex::new(base);
    let mut aborted_entries = Vec::new();
    let mut position = 0u64;
    for segment in group {
        pass.stats.segments_read += 1;
        pass.stats.bytes_read += segment.size;
        for_each_batch(segment, |found, bytes| {
            let control = h::i16_at(&bytes, h::ATTRIBUTES) & h::CONTROL_BIT != 0;
            let producer_id = h::i64_at(&bytes, h::PRODUCER_ID);
            let written = match pass.clean_batch(bytes.clone())? {
                Outcome::Drop => return Ok(()),
                Outcome::Keep => bytes,
                Outcome::Rewrite(new) => new,
            };
            out.write_all(&written)?;
            let max_timestamp = h::i64_at(&written, h::MAX_TIMESTAMP);
            let size = written.len() as u64;
            index.observe(
                BatchPosition {
                    position,
                    size,
                    base_offset: found.base_offset,
                    last_offset: found.last_offset,
                    max_timestamp,
                },
                interval,
            );
            position += size;
            if control {
                if let Some(txn) = pass.aborted.ended_at(producer_id, found.base_offset) {
                    aborted_entries.push(txn);
                }
            }
            Ok(())
        })?;
    }
    out.flush()?;
    drop(out);
    file.sync_all()?;
    let (offsets, times) = index.encode();
    let range = format!("end.offset={next_base}\n");
    for (path, contents) in [
        (&index_path, offsets),
        (&time_path, times),
        (&txn_path, TxnIndex::encode_entries(&aborted_entries)),
        (&range_path(dir, base), range.into_bytes()),
    ] {
        let mut f = File::create(suffixed(path, ".cleaned"))?;
        f.write_all(&contents)?;
        f.sync_all()?;
    }
    super::properties::sync_dir(dir)?;
    let failpoint = options.failpoint.as_ref();
    fail(failpoint, SwapStep::CleanedWritten)?;
    let replaced: Vec<(i64, Arc<File>)> = group
        .iter()
        .map(|s| (s.base_offset, Arc::clone(&s.file)))
        .collect();
    let installed = partition.install_cleaned(&replaced, aborted_entries, || {
        commit_swap(dir, base, next_base, failpoint)?;
        Ok(Segment::open(dir, base, false, interval, pass.now)?.segment)
    })?;
    if !installed {
        for path in segment_files(dir, base)
            .iter()
            .chain([&range_path(dir, base)])
        {
            remove_if_present(&suffixed(path, ".cleaned"))?;
        }
        return Ok(false);
    }
    pass.stats.segments_written += 1;
    pass.stats.bytes_written += position;
    Ok(true)
}

/// One pass over every compacted partition that is due (the broker's
/// cleaner thread). Errors are logged per partition.
pub fn clean_all(log: &LogManager, options: &CleanerOptions) -> Vec<CleanStats> {
    let mut done = Vec::new();
    for topic in log.topics() {
        for partition in &topic.partitions {
            if !partition.config().compacted() {
                continue;
            }
            match clean_partition(partition, super::now_ms(), options) {
                Ok(Some(stats)) => {
                    tracing::info!(
                        topic = %topic.meta.name,
                        partition = partition.index,
                        read = stats.bytes_read,
                        written = stats.bytes_written,
                        records = stats.records_read,
                        kept = stats.records_kept,
                        ms = stats.micros / 1000,
                        "cleaned"
                    );
                    done.push(stats);
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::error!(topic = %topic.meta.name, partition = partition.index, error = %e, "cleaning failed")
                }
            }
        }
    }
    done
}
