//! One partition's log: an ordered list of segments, the last one active.
//!
//! Offsets: `log_start_offset` ≤ `high_watermark` ≤ `log_end_offset`. Appends
//! advance the log end at once; the high watermark (what consumers may read)
//! advances only when the bytes are durable (or at once in page-cache mode).
//! The last stable offset (what `read_committed` consumers may read) stops
//! at the first offset of the earliest transaction still open.

use super::producer_state::{
    increment_sequence, BatchSequence, MarkerRefused, ProducerStates, SequenceCheck,
};
use super::replica_set::ReplicaSet;
use super::segment::{read_header_at, BatchPosition, Segment};
use super::txn_index::{AbortedTxn, TxnIndex};
use super::txn_verification::{Begun, TxnGuard, TxnVerifications};
use crate::config::log_config::{LogConfig, TimestampType};
use crate::protocol::records::control::{control_batch, EndTxnMarker};
use crate::protocol::records::header as batch;
use bytes::{Bytes, BytesMut};
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::Notify;

mod admin;
mod replication;
mod truncate;
#[cfg(test)]
pub use admin::read_epoch_checkpoint_for_tests;
pub use admin::{DeleteRecordsError, LEADER_EPOCH};
pub use replication::{
    Deposed, FetchPosition, FollowerFetch, FollowerRead, FollowerReadError, IsrChanges,
};

const LOG_START_CHECKPOINT: &str = "log-start-offset";

#[derive(Debug)]
pub enum AppendError {
    Io(io::Error),
    /// The batch is shorter than a header (validated earlier; never expected).
    Malformed,
    /// An idempotent producer skipped sequence numbers (OUT_OF_ORDER_SEQUENCE_NUMBER).
    OutOfOrderSequence {
        producer_id: i64,
        expected: i32,
        got: i32,
    },
    /// An idempotent producer's epoch is older than the one seen (INVALID_PRODUCER_EPOCH).
    InvalidProducerEpoch {
        producer_id: i64,
        current: i16,
        got: i16,
    },
    /// Batches copied from a leader, while this broker leads the partition.
    NotFollowing,
    /// Batches copied from a leader, stamped with an older leader epoch
    /// than the log's last.
    StaleEpoch {
        epoch: i32,
        latest: i32,
    },
    /// A write or fsync failed earlier: the partition takes no more appends
    /// (KAFKA_STORAGE_ERROR), and what was not synced never counts.
    StorageFailed,
    /// A replicated batch starts inside the log this broker already has.
    OffsetOverlap {
        log_end_offset: i64,
        base_offset: i64,
    },
    /// A marker from a transaction coordinator older than the one that
    /// wrote the producer's last marker (TRANSACTION_COORDINATOR_FENCED).
    CoordinatorFenced {
        producer_id: i64,
        current: i32,
        got: i32,
    },
    /// A transactional batch would open its producer's transaction, but its
    /// verification guard was voided (a marker came first): INVALID_TXN_STATE.
    TxnNotVerified {
        producer_id: i64,
    },
}

impl std::fmt::Display for AppendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AppendError::Io(e) => write!(f, "append failed: {e}"),
            AppendError::Malformed => write!(f, "malformed batch"),
            AppendError::OutOfOrderSequence {
                producer_id,
                expected,
                got,
            } => {
                write!(
                    f,
                    "producer {producer_id}: expected sequence {expected}, got {got}"
                )
            }
            AppendError::InvalidProducerEpoch {
                producer_id,
                current,
                got,
            } => {
                write!(
                    f,
                    "producer {producer_id}: epoch {got} is older than {current}"
                )
            }
            AppendError::NotFollowing => write!(f, "this broker leads the partition now"),
            AppendError::StaleEpoch { epoch, latest } => write!(
                f,
                "a batch of leader epoch {epoch}, older than the log's last, {latest}"
            ),
            AppendError::StorageFailed => {
                write!(f, "the partition's storage failed; it takes no more writes")
            }
            AppendError::OffsetOverlap {
                log_end_offset,
                base_offset,
            } => write!(
                f,
                "a replicated batch at offset {base_offset} overlaps the log, which ends at {log_end_offset}"
            ),
            AppendError::CoordinatorFenced {
                producer_id,
                current,
                got,
            } => write!(
                f,
                "producer {producer_id}: a marker of coordinator epoch {got}, older than {current}"
            ),
            AppendError::TxnNotVerified { producer_id } => write!(
                f,
                "producer {producer_id}: its transaction ended while the batch was being verified"
            ),
        }
    }
}

/// What an append did, and what the caller must wait for.
pub struct Appended {
    pub base_offset: i64,
    pub last_offset: i64,
    /// The broker's timestamp for LogAppendTime topics, else -1.
    pub log_append_time: i64,
    pub log_start_offset: i64,
    /// The file to fsync before acknowledging (durable mode), if any.
    pub sync: Option<Arc<File>>,
    /// A retry of a batch already in the log: nothing was appended.
    pub duplicate: bool,
    /// The epoch this broker led with when it took the batch: the batch
    /// counts as committed only while it still leads in that epoch.
    pub leader_epoch: i32,
}

#[derive(Debug, PartialEq, Eq)]
pub enum ReadError {
    OffsetOutOfRange {
        log_start_offset: i64,
        high_watermark: i64,
    },
    Io(String),
}

pub struct ReadResult {
    pub records: Bytes,
    pub high_watermark: i64,
    pub log_start_offset: i64,
    pub last_stable_offset: i64,
    /// For a `read_committed` read: the aborted transactions overlapping what was read.
    pub aborted: Vec<AbortedTxn>,
}

/// What a reader may see: everything below the high watermark, or only
/// what is below the last stable offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isolation {
    ReadUncommitted,
    ReadCommitted,
    /// A follower's fetch: everything up to the log end.
    Replica,
}

/// Whether a read may return one batch larger than its byte limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Oversize {
    /// The first batch comes back whatever its size, so a reader is never
    /// stuck behind a batch larger than its buffer.
    FirstBatch,
    /// Only batches that fit the limit whole.
    Never,
}

/// A producer as DescribeProducers reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProducerSummary {
    pub producer_id: i64,
    pub epoch: i16,
    pub last_sequence: i32,
    pub last_timestamp: i64,
    pub txn_first_offset: Option<i64>,
    /// Of the producer's last marker; -1 before any.
    pub coordinator_epoch: i32,
}

struct State {
    segments: Vec<Segment>,
    log_start_offset: i64,
    log_end_offset: i64,
    high_watermark: i64,
    config: LogConfig,
    /// Messages appended since the last fsync (page-cache mode).
    unflushed_messages: u64,
    producers: ProducerStates,
    aborted: TxnIndex,
    /// The history of leader epochs, and the epoch appends are stamped with.
    epochs: crate::log::epoch_cache::EpochCache,
    leader_epoch: i32,
    /// What this broker's own disk holds (in page-cache mode: what it
    /// wrote): `high_watermark` ≤ `durable_end` ≤ `log_end_offset`.
    durable_end: i64,
    role: Role,
    /// Set by a failed fsync: `durable_end` stops there for good.
    storage_failed: bool,
    /// Leading: KIP-890 verifications in flight (see [`TxnVerifications`]).
    verifications: TxnVerifications,
}

/// Whether this broker leads the partition (and what it knows of the other
/// replicas) or copies it from a leader (and what that leader allows).
enum Role {
    Leader(ReplicaSet),
    Follower { leader_high_watermark: i64 },
}

impl State {
    fn last_stable_offset(&self) -> i64 {
        self.producers
            .first_unstable_offset()
            .map_or(self.high_watermark, |first| first.min(self.high_watermark))
    }
}

pub struct Partition {
    pub topic: String,
    pub index: i32,
    dir: PathBuf,
    state: Mutex<State>,
    /// Consumer fetches parked until the high watermark moves.
    high_watermark_watchers: super::watchers::Watchers,
    /// Follower fetches parked until the log end moves.
    log_end_watchers: super::watchers::Watchers,
    /// Woken when this partition's high watermark moves (acks=all waits).
    high_watermark_moved: Notify,
    /// What producers and consumers send and take, while this broker leads it.
    pub traffic: crate::metrics::traffic::Traffic,
}

/// A sealed segment as the cleaner sees it (its file never changes).
pub struct SealedSegment {
    pub base_offset: i64,
    pub file: Arc<File>,
    pub size: u64,
    pub next_offset: i64,
    pub max_timestamp: i64,
    pub created_ms: i64,
}

/// What the cleaner needs to know about a partition, taken under its lock.
pub struct CleanerView {
    /// Every segment but the active one, in offset order.
    pub sealed: Vec<SealedSegment>,
    pub active_base_offset: i64,
    pub log_start_offset: i64,
    pub high_watermark: i64,
    pub last_stable_offset: i64,
    pub config: LogConfig,
    /// Every aborted transaction still indexed.
    pub aborted: Vec<AbortedTxn>,
    /// The last offset of each remembered producer's last batch.
    pub producer_last_offsets: std::collections::HashMap<i64, i64>,
}

/// What recovery found when a partition was opened.
#[derive(Debug, Default)]
pub struct Recovery {
    pub segments: usize,
    pub truncated_bytes: u64,
    pub indexes_rebuilt: usize,
}

fn list_segments(dir: &Path) -> io::Result<Vec<i64>> {
    let mut bases = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let name = entry?.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(base) = name
            .strip_suffix(".log")
            .and_then(|b| b.parse::<i64>().ok())
        {
            bases.push(base);
        }
    }
    bases.sort_unstable();
    Ok(bases)
}

fn read_checkpoint(dir: &Path) -> io::Result<i64> {
    Ok(super::properties::read(&dir.join(LOG_START_CHECKPOINT))?
        .and_then(|p| p.get("log.start.offset").and_then(|v| v.parse().ok()))
        .unwrap_or(0))
}

fn write_checkpoint(dir: &Path, offset: i64) -> io::Result<()> {
    let props = [("log.start.offset".to_string(), offset.to_string())].into();
    super::properties::write(&dir.join(LOG_START_CHECKPOINT), &props)
}

impl Partition {
    /// Opens (or creates) the partition directory and recovers it: sealed
    /// segments are trusted up to their index and checked after it; the
    /// active segment is validated batch by batch (length, magic, CRC) and a
    /// torn or corrupt tail is cut off.
    pub fn open(
        dir: PathBuf,
        topic: &str,
        index: i32,
        config: LogConfig,
        now_ms: i64,
    ) -> io::Result<(Partition, Recovery)> {
        if !dir.exists() {
            std::fs::create_dir_all(&dir)?;
            if let Some(parent) = dir.parent() {
                super::properties::sync_dir(parent)?;
            }
        }
        // A crash may have left a cleaner's swap half done: finish or undo it first.
        super::cleaner::recover_swaps(&dir)?;
        let checkpoint = read_checkpoint(&dir)?;
        let bases = list_segments(&dir)?;
        let mut recovery = Recovery::default();
        let mut segments = Vec::with_capacity(bases.len());
        for (i, &base) in bases.iter().enumerate() {
            let active = i + 1 == bases.len();
            let opened = Segment::open(&dir, base, active, config.index_interval_bytes, now_ms)?;
            if opened.truncated > 0 {
                tracing::warn!(
                    topic,
                    partition = index,
                    segment = base,
                    bytes = opened.truncated,
                    "truncated a torn or corrupt tail"
                );
            }
            if opened.index_rebuilt && !active {
                tracing::info!(
                    topic,
                    partition = index,
                    segment = base,
                    "rebuilt a missing or damaged index"
                );
                opened.segment.index.save(&dir)?;
                recovery.indexes_rebuilt += 1;
            }
            recovery.truncated_bytes += opened.truncated;
            segments.push(opened.segment);
        }
        if segments.is_empty() {
            segments.push(Segment::create(&dir, checkpoint.max(0), now_ms)?);
        }
        recovery.segments = segments.len();
        let first_base = segments.first().map_or(0, |s| s.base_offset);
        let log_end_offset = segments.last().map_or(0, |s| s.next_offset);
        let log_start_offset = checkpoint.max(first_base).min(log_end_offset);
        let (producers, aborted) = recover_producers(&dir, &segments)?;
        let epochs = admin::recover_epochs(&dir, &segments, log_start_offset, log_end_offset)?;
        let leader_epoch = epochs.latest_epoch().unwrap_or(LEADER_EPOCH);
        let state = State {
            segments,
            log_start_offset,
            log_end_offset,
            // Whatever survived on disk is the log; nothing above it was acknowledged.
            high_watermark: log_end_offset,
            config,
            unflushed_messages: 0,
            producers,
            aborted,
            epochs,
            leader_epoch,
            durable_end: log_end_offset,
            role: Role::Leader(ReplicaSet::default()),
            storage_failed: false,
            verifications: TxnVerifications::default(),
        };
        let partition = Partition {
            topic: topic.to_string(),
            index,
            dir,
            state: Mutex::new(state),
            high_watermark_watchers: Default::default(),
            log_end_watchers: Default::default(),
            high_watermark_moved: Notify::new(),
            traffic: Default::default(),
        };
        Ok((partition, recovery))
    }

    /// The fetches parked on this partition for `awaited`.
    pub fn watchers(&self, awaited: super::watchers::Awaited) -> &super::watchers::Watchers {
        match awaited {
            super::watchers::Awaited::HighWatermark => &self.high_watermark_watchers,
            super::watchers::Awaited::LogEnd => &self.log_end_watchers,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves consistent state: every
        // mutation is a single assignment after the I/O succeeded.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn config(&self) -> LogConfig {
        self.lock().config.clone()
    }

    pub fn set_config(&self, config: LogConfig) {
        self.lock().config = config;
    }

    pub fn offsets(&self) -> (i64, i64, i64) {
        let st = self.lock();
        (st.log_start_offset, st.high_watermark, st.log_end_offset)
    }

    pub fn last_stable_offset(&self) -> i64 {
        self.lock().last_stable_offset()
    }

    /// The producers this partition remembers (DescribeProducers).
    pub fn producers(&self) -> Vec<ProducerSummary> {
        let st = self.lock();
        let mut all: Vec<ProducerSummary> = st
            .producers
            .iter()
            .map(|(producer_id, e)| ProducerSummary {
                producer_id,
                epoch: e.epoch,
                last_sequence: e.last_sequence(),
                last_timestamp: e.last_timestamp,
                txn_first_offset: e.txn_first_offset,
                coordinator_epoch: e.coordinator_epoch,
            })
            .collect();
        all.sort_by_key(|p| p.producer_id);
        all
    }

    /// Writes a transaction marker for `producer_id` (the transaction
    /// coordinator's EndTxn): closes the producer's transaction here and,
    /// for an abort, records it in the aborted-transaction index.
    pub fn append_marker(
        &self,
        producer_id: i64,
        epoch: i16,
        marker: EndTxnMarker,
        now_ms: i64,
    ) -> Result<Appended, AppendError> {
        let bytes = control_batch(0, producer_id, epoch, now_ms, marker)
            .map_err(|_| AppendError::Malformed)?;
        self.append_batch(&bytes, now_ms, Some(marker), None)
    }

    /// Appends one validated batch, assigning its offsets. In durable mode
    /// the caller must fsync `Appended::sync` and then call `mark_durable`.
    pub fn append(&self, record_batch: &[u8], now_ms: i64) -> Result<Appended, AppendError> {
        self.append_batch(record_batch, now_ms, None, None)
    }

    /// [`Partition::append`] of a client's batch: a transactional one that
    /// opens its producer's transaction here needs `guard` (from
    /// [`Partition::begin_txn_verification`]) to still hold.
    pub fn append_verified(
        &self,
        record_batch: &[u8],
        now_ms: i64,
        guard: Option<TxnGuard>,
    ) -> Result<Appended, AppendError> {
        self.append_batch(record_batch, now_ms, None, guard)
    }

    /// KIP-890: the guard of `producer_id`'s next transactional batch,
    /// taken before its coordinator is asked, and whether the producer's
    /// transaction (at `epoch`) is open here already, so that it need not be.
    pub fn begin_txn_verification(&self, producer_id: i64, epoch: i16) -> Begun {
        let mut st = self.lock();
        let open_here = st
            .producers
            .get(producer_id)
            .is_some_and(|e| e.epoch == epoch && e.txn_first_offset.is_some());
        Begun {
            guard: st.verifications.begin(producer_id),
            open_here,
        }
    }

    /// Appends a data batch (`marker` None) or the control batch of `marker`.
    fn append_batch(
        &self,
        record_batch: &[u8],
        now_ms: i64,
        marker: Option<EndTxnMarker>,
        guard: Option<TxnGuard>,
    ) -> Result<Appended, AppendError> {
        if record_batch.len() < batch::RECORDS {
            return Err(AppendError::Malformed);
        }
        let control = batch::i16_at(record_batch, batch::ATTRIBUTES) & batch::CONTROL_BIT != 0;
        if control != marker.is_some() {
            // Control batches come only from the transaction coordinator.
            return Err(AppendError::Malformed);
        }
        let mut st = self.lock();
        if st.storage_failed {
            return Err(AppendError::StorageFailed);
        }
        if let Some(marker) = marker {
            let producer_id = batch::i64_at(record_batch, batch::PRODUCER_ID);
            let epoch = batch::i16_at(record_batch, batch::PRODUCER_EPOCH);
            match st
                .producers
                .check_marker(producer_id, epoch, marker.coordinator_epoch)
            {
                Ok(()) => {}
                Err(MarkerRefused::ProducerEpoch { current, got }) => {
                    return Err(AppendError::InvalidProducerEpoch {
                        producer_id,
                        current,
                        got,
                    })
                }
                Err(MarkerRefused::CoordinatorEpoch { current, got }) => {
                    return Err(AppendError::CoordinatorFenced {
                        producer_id,
                        current,
                        got,
                    })
                }
            }
        }
        let last_delta = i64::from(batch::i32_at(record_batch, batch::LAST_OFFSET_DELTA).max(0));
        let record_count =
            u64::try_from(batch::i32_at(record_batch, batch::RECORD_COUNT)).unwrap_or(0);
        let producer = ProducerFields::of(record_batch);
        if let Some(p) = &producer {
            match st
                .producers
                .check(p.producer_id, p.epoch, p.first_seq, p.last_seq)
            {
                SequenceCheck::Append => {}
                SequenceCheck::Duplicate(original) => return Ok(self.duplicate(&st, original)),
                SequenceCheck::OutOfOrder { expected, got } => {
                    return Err(AppendError::OutOfOrderSequence {
                        producer_id: p.producer_id,
                        expected,
                        got,
                    })
                }
                SequenceCheck::InvalidEpoch { current, got } => {
                    return Err(AppendError::InvalidProducerEpoch {
                        producer_id: p.producer_id,
                        current,
                        got,
                    })
                }
            }
            if let (true, Some(guard)) = (p.transactional, guard) {
                debug_assert_eq!(
                    guard.producer_id(),
                    p.producer_id,
                    "another producer's guard"
                );
                let open = st
                    .producers
                    .get(p.producer_id)
                    .is_some_and(|e| e.epoch == p.epoch && e.txn_first_offset.is_some());
                if !open && !st.verifications.holds(guard) {
                    return Err(AppendError::TxnNotVerified {
                        producer_id: p.producer_id,
                    });
                }
            }
        }
        self.maybe_roll(&mut st, record_batch.len() as u64, last_delta, now_ms)
            .map_err(AppendError::Io)?;

        let base_offset = st.log_end_offset;
        let mut header = [0u8; batch::RECORDS];
        header.copy_from_slice(&record_batch[..batch::RECORDS]);
        let _ = batch::put(&mut header, batch::BASE_OFFSET, base_offset.to_be_bytes());
        // The epoch lies outside the CRC (which starts at the attributes).
        let leader_epoch = st.leader_epoch;
        let _ = batch::put(
            &mut header,
            batch::PARTITION_LEADER_EPOCH,
            leader_epoch.to_be_bytes(),
        );
        admin::assign_epoch(&self.dir, &mut st, leader_epoch, base_offset)
            .map_err(AppendError::Io)?;
        let body = &record_batch[batch::RECORDS..];
        let mut log_append_time = -1;
        if st.config.timestamp_type == TimestampType::LogAppendTime {
            log_append_time = now_ms;
            let attributes = batch::i16_at(&header, batch::ATTRIBUTES) | batch::TIMESTAMP_TYPE_BIT;
            let _ = batch::put(&mut header, batch::ATTRIBUTES, attributes.to_be_bytes());
            let _ = batch::put(&mut header, batch::MAX_TIMESTAMP, now_ms.to_be_bytes());
            let crc = crc32c::crc32c_append(crc32c::crc32c(&header[batch::ATTRIBUTES..]), body);
            let _ = batch::put(&mut header, batch::CRC, crc.to_be_bytes());
        }
        let (found, file) = self.write_batch(&mut st, &header, body, producer, marker, now_ms)?;
        let sync = self.written(&mut st, file, record_count);
        Ok(Appended {
            base_offset,
            last_offset: found.last_offset,
            log_append_time,
            log_start_offset: st.log_start_offset,
            sync,
            duplicate: false,
            leader_epoch,
        })
    }

    /// After a write: in durable mode the file to fsync before the batch
    /// counts; in page-cache mode the batch counts at once, and the file is
    /// returned only when `flush.messages` calls for a flush.
    fn written(&self, st: &mut State, file: Arc<File>, record_count: u64) -> Option<Arc<File>> {
        self.log_end_watchers.wake();
        if st.config.durable() {
            return Some(file);
        }
        st.durable_end = st.log_end_offset;
        self.advance_high_watermark(st);
        st.unflushed_messages += record_count;
        match st.config.flush_messages {
            Some(every) if st.unflushed_messages >= every => {
                st.unflushed_messages = 0;
                Some(file)
            }
            _ => None,
        }
    }

    /// Moves the high watermark to what the partition's role allows: its
    /// own durable end and, leading, its in-sync followers' ends; following,
    /// its leader's high watermark.
    fn advance_high_watermark(&self, st: &mut State) {
        let target = match &st.role {
            Role::Leader(replicas) => match replicas.high_watermark(st.durable_end) {
                Some(hw) if hw > st.high_watermark => hw,
                _ => return,
            },
            Role::Follower {
                leader_high_watermark,
            } => (*leader_high_watermark).min(st.durable_end),
        };
        if target == st.high_watermark {
            return;
        }
        debug_assert!(target <= st.log_end_offset, "HW {target} past the log end");
        st.high_watermark = target;
        self.high_watermark_watchers.wake();
        self.high_watermark_moved.notify_waiters();
    }

    /// Writes one batch whose header is final (offsets and epoch stamped)
    /// at the log end, and records what it says about its producer or, for
    /// a control batch, the transaction it ends.
    fn write_batch(
        &self,
        st: &mut State,
        header: &[u8; batch::RECORDS],
        body: &[u8],
        producer: Option<ProducerFields>,
        marker: Option<EndTxnMarker>,
        now_ms: i64,
    ) -> Result<(BatchPosition, Arc<File>), AppendError> {
        let base_offset = batch::i64_at(header, batch::BASE_OFFSET);
        let last_delta = i64::from(batch::i32_at(header, batch::LAST_OFFSET_DELTA).max(0));
        let max_timestamp = batch::i64_at(header, batch::MAX_TIMESTAMP);
        let index_interval = st.config.index_interval_bytes;
        let segment = st.segments.last_mut().ok_or(AppendError::Malformed)?;
        if segment.size == 0 {
            // `segment.ms` counts from the first batch, not from when the
            // (possibly long idle) empty segment was created.
            segment.created_ms = now_ms;
        }
        let found = BatchPosition {
            position: segment.size,
            size: (header.len() + body.len()) as u64,
            base_offset,
            last_offset: base_offset + last_delta,
            max_timestamp,
        };
        let mut joined = Vec::with_capacity(header.len() + body.len());
        joined.extend_from_slice(header);
        joined.extend_from_slice(body);
        if let Err(e) = segment.append(&joined, found, index_interval) {
            // Cut whatever part of the batch reached the file.
            let _ = segment.file.set_len(segment.size);
            return Err(AppendError::Io(e));
        }
        let file = Arc::clone(&segment.file);
        st.log_end_offset = found.last_offset + 1;
        if let Some(p) = producer {
            let sequence = BatchSequence {
                first_seq: p.first_seq,
                last_seq: p.last_seq,
                base_offset,
                last_offset: found.last_offset,
            };
            st.producers.record(
                p.producer_id,
                p.epoch,
                sequence,
                max_timestamp,
                p.transactional,
            );
            if p.transactional {
                st.verifications.transaction_opened(p.producer_id);
            }
        }
        if let Some(marker) = marker {
            let producer_id = batch::i64_at(header, batch::PRODUCER_ID);
            let epoch = batch::i16_at(header, batch::PRODUCER_EPOCH);
            st.verifications.transaction_ended(producer_id);
            let first = st.producers.end_transaction(
                producer_id,
                epoch,
                marker.coordinator_epoch,
                max_timestamp,
            );
            if let (Some(first_offset), false) = (first, marker.commit) {
                let last_stable_offset = st
                    .producers
                    .first_unstable_offset()
                    .unwrap_or(base_offset + 1);
                let aborted = AbortedTxn {
                    producer_id,
                    first_offset,
                    last_offset: base_offset,
                    last_stable_offset,
                };
                let segment_base = st.segments.last().map_or(base_offset, |s| s.base_offset);
                st.aborted
                    .append(&self.dir, segment_base, aborted)
                    .map_err(AppendError::Io)?;
            }
        }
        Ok((found, file))
    }

    /// The answer to a retried batch: its original offsets, acknowledged once
    /// the original is durable (the next fsync round, if it is not yet).
    fn duplicate(&self, st: &State, original: BatchSequence) -> Appended {
        let pending = original.last_offset >= st.durable_end;
        Appended {
            base_offset: original.base_offset,
            last_offset: original.last_offset,
            log_append_time: -1,
            log_start_offset: st.log_start_offset,
            sync: if pending {
                st.segments.last().map(|s| Arc::clone(&s.file))
            } else {
                None
            },
            duplicate: true,
            leader_epoch: st.leader_epoch,
        }
    }

    /// Called once everything up to `next_offset` is on stable storage.
    /// After a failed fsync nothing more counts: a later successful one
    /// says nothing of the pages the failed one lost.
    pub fn mark_durable(&self, next_offset: i64) {
        let mut st = self.lock();
        if st.storage_failed {
            return;
        }
        let next = next_offset.min(st.log_end_offset);
        if next > st.durable_end {
            st.durable_end = next;
            self.advance_high_watermark(&mut st);
        }
    }

    /// An fsync of this partition's data failed: the high watermark stays
    /// below what it covered, and no more appends are taken.
    pub fn mark_sync_failed(&self) {
        let mut st = self.lock();
        if !st.storage_failed {
            tracing::error!(topic = %self.topic, partition = self.index, durable_end = st.durable_end, "fsync failed: the partition takes no more writes");
        }
        st.storage_failed = true;
    }

    /// The active segment's file, for page-cache mode's periodic flush.
    pub fn active_file(&self) -> Option<Arc<File>> {
        self.lock().segments.last().map(|s| Arc::clone(&s.file))
    }

    fn maybe_roll(
        &self,
        st: &mut State,
        incoming: u64,
        last_delta: i64,
        now_ms: i64,
    ) -> io::Result<()> {
        let config = &st.config;
        let Some(active) = st.segments.last() else {
            return Ok(());
        };
        let full = active.size + incoming > config.segment_bytes;
        let old = now_ms - active.created_ms >= config.segment_ms;
        let offsets_overflow =
            st.log_end_offset + last_delta - active.base_offset > i64::from(i32::MAX);
        if active.size == 0 || !(full || old || offsets_overflow) {
            return Ok(());
        }
        active.seal(&self.dir)?;
        st.aborted.sync_segment(&self.dir, active.base_offset)?;
        super::properties::write_atomically(
            &snapshot_path(&self.dir, st.log_end_offset),
            &st.producers.encode(),
        )?;
        let next = Segment::create(&self.dir, st.log_end_offset, now_ms)?;
        st.segments.push(next);
        Ok(())
    }

    /// The partition as the log cleaner sees it.
    pub fn cleaner_view(&self) -> CleanerView {
        let st = self.lock();
        let sealed_count = st.segments.len().saturating_sub(1);
        CleanerView {
            sealed: st.segments[..sealed_count]
                .iter()
                .map(|s| SealedSegment {
                    base_offset: s.base_offset,
                    file: Arc::clone(&s.file),
                    size: s.size,
                    next_offset: s.next_offset,
                    max_timestamp: s.max_timestamp,
                    created_ms: s.created_ms,
                })
                .collect(),
            active_base_offset: st.segments.last().map_or(0, |s| s.base_offset),
            log_start_offset: st.log_start_offset,
            high_watermark: st.high_watermark,
            last_stable_offset: st.last_stable_offset(),
            config: st.config.clone(),
            aborted: st.aborted.overlapping(i64::MIN, i64::MAX),
            producer_last_offsets: st
                .producers
                .iter()
                .filter_map(|(id, e)| e.last_offset().map(|o| (id, o)))
                .collect(),
        }
    }

    /// Replaces the sealed segments `replaced` (base offset and file, as the
    /// cleaner read them) with the segment `swap` puts on disk, under the
    /// lock so no reader sees half of it. Returns false, without calling
    /// `swap`, if they are no longer all there (retention removed some).
    pub fn install_cleaned(
        &self,
        replaced: &[(i64, Arc<File>)],
        aborted: Vec<AbortedTxn>,
        swap: impl FnOnce() -> io::Result<Segment>,
    ) -> io::Result<bool> {
        let mut st = self.lock();
        let Some(&(first, _)) = replaced.first() else {
            return Ok(false);
        };
        let Some(at) = st.segments.iter().position(|s| s.base_offset == first) else {
            return Ok(false);
        };
        let end = at + replaced.len();
        let present = end < st.segments.len()
            && st.segments[at..end]
                .iter()
                .zip(replaced)
                .all(|(s, (base, file))| s.base_offset == *base && Arc::ptr_eq(&s.file, file));
        if !present {
            return Ok(false);
        }
        let cleaned = swap()?;
        let bases: Vec<i64> = replaced.iter().map(|(b, _)| *b).collect();
        st.aborted.replace_segments(&bases, first, aborted);
        st.segments.splice(at..end, [cleaned]);
        Ok(true)
    }

    /// Reads whole batches from `offset` up to `max_bytes` (at least one
    /// batch if any is there), never past the high watermark.
    pub fn read(&self, offset: i64, max_bytes: usize) -> Result<ReadResult, ReadError> {
        self.read_isolated(offset, max_bytes, Isolation::ReadUncommitted)
    }

    /// As [`Partition::read`], but a `ReadCommitted` read stops at the last
    /// stable offset and lists the aborted transactions in what it returns.
    pub fn read_isolated(
        &self,
        offset: i64,
        max_bytes: usize,
        isolation: Isolation,
    ) -> Result<ReadResult, ReadError> {
        self.read_bounded(offset, max_bytes, isolation, Oversize::FirstBatch)
    }

    /// As [`Partition::read_isolated`]; with `Oversize::Never` only batches
    /// that fit `max_bytes` whole are returned (KIP-74: in a Fetch, only the
    /// first non-empty partition may exceed the limits, by one batch).
    pub fn read_bounded(
        &self,
        offset: i64,
        max_bytes: usize,
        isolation: Isolation,
        oversize: Oversize,
    ) -> Result<ReadResult, ReadError> {
        let committed = isolation == Isolation::ReadCommitted;
        let (
            file,
            start,
            limit_offset,
            log_start_offset,
            high_watermark,
            last_stable_offset,
            segment_end,
        ) = {
            let st = self.lock();
            // A follower copies the whole log; everyone else sees up to the
            // high watermark.
            let visible_end = if isolation == Isolation::Replica {
                st.log_end_offset
            } else {
                st.high_watermark
            };
            // Out of range means outside the log. Between the high watermark
            // and the log end (a new leader whose high watermark has not
            // caught up with its predecessor's) a consumer gets nothing and
            // retries, as Kafka answers it: OFFSET_OUT_OF_RANGE there would
            // send it to its auto.offset.reset, re-reading or skipping.
            if offset < st.log_start_offset || offset > st.log_end_offset {
                return Err(ReadError::OffsetOutOfRange {
                    log_start_offset: st.log_start_offset,
                    high_watermark: st.high_watermark,
                });
            }
            let last_stable_offset = st.last_stable_offset();
            let limit_offset = if committed {
                last_stable_offset
            } else {
                visible_end
            };
            let empty = ReadResult {
                records: Bytes::new(),
                high_watermark: st.high_watermark,
                log_start_offset: st.log_start_offset,
                last_stable_offset,
                aborted: Vec::new(),
            };
            if offset >= limit_offset {
                return Ok(empty);
            }
            // The segment holding `offset`, or the first one after a gap
            // (segments the cleaner emptied hold nothing to read).
            let at = st
                .segments
                .partition_point(|s| s.base_offset <= offset)
                .saturating_sub(1);
            let Some(segment) = st.segments[at..]
                .iter()
                .find(|s| s.next_offset > offset && s.size > 0)
            else {
                return Ok(empty);
            };
            let start = segment.index.position_for_offset(offset);
            (
                Arc::clone(&segment.file),
                start,
                limit_offset,
                st.log_start_offset,
                st.high_watermark,
                last_stable_offset,
                segment.size,
            )
        };
        // File reads happen outside the lock; the Arc keeps a deleted segment readable.
        let io_err = |e: io::Error| ReadError::Io(e.to_string());
        let mut position = start;
        let mut first: Option<u64> = None;
        let mut end = start;
        let mut end_offset = offset;
        while let Some(found) = read_header_at(&file, position, segment_end).map_err(io_err)? {
            if found.base_offset >= limit_offset {
                break;
            }
            position += found.size;
            if found.last_offset < offset {
                continue;
            }
            let begin = *first.get_or_insert(found.position);
            let nothing_taken = end <= begin;
            let may_exceed = nothing_taken && oversize == Oversize::FirstBatch;
            if position - begin > max_bytes as u64 && !may_exceed {
                break;
            }
            end = position;
            end_offset = found.last_offset + 1;
        }
        let Some(begin) = first.filter(|&begin| end > begin) else {
            return Ok(ReadResult {
                records: Bytes::new(),
                high_watermark,
                log_start_offset,
                last_stable_offset,
                aborted: Vec::new(),
            });
        };
        let len =
            usize::try_from(end - begin).map_err(|_| ReadError::Io("read too large".into()))?;
        let mut buf = BytesMut::zeroed(len);
        file.read_exact_at(&mut buf, begin).map_err(io_err)?;
        let aborted = if committed {
            self.lock().aborted.overlapping(offset, end_offset)
        } else {
            Vec::new()
        };
        Ok(ReadResult {
            records: buf.freeze(),
            high_watermark,
            log_start_offset,
            last_stable_offset,
            aborted,
        })
    }

    /// Deletes whole sealed segments past `retention.ms` / `retention.bytes`
    /// and advances the log start offset. Returns the segments removed.
    pub fn enforce_retention(&self, now_ms: i64) -> io::Result<usize> {
        let mut st = self.lock();
        let max_age = st.config.producer_id_expiration_ms;
        st.producers.expire(now_ms, max_age);
        let mut removed = 0;
        // `cleanup.policy=compact` alone keeps everything (no cleaner yet).
        while st.config.deletes() {
            if st.segments.len() < 2 {
                break;
            }
            let total: u64 = st.segments.iter().map(|s| s.size).sum();
            let first = &st.segments[0];
            let retention_ms = st.config.retention_ms;
            let retention_bytes = st.config.retention_bytes;
            // An empty sealed segment (compaction emptied it) has no age of its own.
            let expired = retention_ms >= 0
                && (first.size == 0
                    || first.max_timestamp >= 0 && first.max_timestamp < now_ms - retention_ms);
            let oversize = retention_bytes >= 0 && total - first.size >= retention_bytes as u64;
            // `cleanup.policy=compact` alone: the cleaner, not retention, bounds the log.
            if !st.config.deletes() || !(expired || oversize) {
                break;
            }
            let next_base = st.segments[1].base_offset;
            if next_base > st.high_watermark {
                // Never delete what consumers have not been allowed to read
                // (keeps log_start_offset <= high_watermark).
                break;
            }
            st.log_start_offset = st.log_start_offset.max(next_base);
            write_checkpoint(&self.dir, st.log_start_offset)?;
            let gone = st.segments.remove(0);
            st.aborted.remove_segment(&self.dir, gone.base_offset)?;
            remove_segment_files(&self.dir, &gone)?;
            removed += 1;
        }
        Ok(removed)
    }

    /// Seals the active segment's index and fsyncs it (clean shutdown).
    pub fn close(&self) -> io::Result<()> {
        let st = self.lock();
        if let Some(active) = st.segments.last() {
            active.file.sync_all()?;
        }
        Ok(())
    }

    /// ListOffsets by timestamp: the first record at or after `log_start`
    /// whose timestamp is at least `timestamp`, as (offset, timestamp).
    pub fn offset_for_timestamp(&self, timestamp: i64) -> io::Result<Option<(i64, i64)>> {
        let st = self.lock();
        for segment in st.segments.iter().filter(|s| s.max_timestamp >= timestamp) {
            let limit = segment.size;
            let mut position = segment.index.position_for_timestamp(timestamp);
            while let Some(found) = segment.read_header(position, limit)? {
                position += found.size;
                if found.max_timestamp < timestamp || found.base_offset >= st.high_watermark {
                    continue;
                }
                let hit = first_record(&segment.file, found, |r| {
                    r.timestamp >= timestamp && r.offset >= st.log_start_offset
                })?;
                if hit.is_some() {
                    return Ok(hit);
                }
            }
        }
        Ok(None)
    }

    /// ListOffsets MAX_TIMESTAMP (KIP-734): the record with the largest
    /// timestamp below the high watermark (the first of equals).
    pub fn offset_of_max_timestamp(&self) -> io::Result<Option<(i64, i64)>> {
        let st = self.lock();
        let mut best: Option<(BatchPosition, usize)> = None;
        for (i, segment) in st.segments.iter().enumerate() {
            let mut position = 0;
            while let Some(found) = segment.read_header(position, segment.size)? {
                position += found.size;
                if found.base_offset >= st.high_watermark || found.last_offset < st.log_start_offset
                {
                    continue;
                }
                if best.is_none_or(|(b, _)| found.max_timestamp > b.max_timestamp) {
                    best = Some((found, i));
                }
            }
        }
        let Some((found, i)) = best else {
            return Ok(None);
        };
        let max = found.max_timestamp;
        first_record(&st.segments[i].file, found, |r| r.timestamp == max)
    }
}

/// The first record of the batch at `found` that satisfies `wanted`.
fn first_record(
    file: &File,
    found: BatchPosition,
    wanted: impl Fn(&crate::protocol::records::Record) -> bool,
) -> io::Result<Option<(i64, i64)>> {
    let len = usize::try_from(found.size).map_err(|_| io::Error::other("batch too large"))?;
    let mut bytes = BytesMut::zeroed(len);
    file.read_exact_at(&mut bytes, found.position)?;
    let parsed = crate::protocol::records::RecordBatch::new(bytes.freeze())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
    for record in parsed.records() {
        let record =
            record.map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
        if wanted(&record) {
            return Ok(Some((record.offset, record.timestamp)));
        }
    }
    Ok(None)
}

fn remove_segment_files(dir: &Path, segment: &Segment) -> io::Result<()> {
    std::fs::remove_file(segment.path())?;
    match std::fs::remove_file(snapshot_path(dir, segment.base_offset)) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    super::index::SegmentIndex::remove_files(dir, segment.base_offset)?;
    super::properties::sync_dir(dir)
}

fn snapshot_path(dir: &Path, offset: i64) -> PathBuf {
    dir.join(format!("{offset:020}.snapshot"))
}

/// The producer fields of a batch from an idempotent producer (not a control batch).
struct ProducerFields {
    producer_id: i64,
    epoch: i16,
    first_seq: i32,
    last_seq: i32,
    transactional: bool,
}

impl ProducerFields {
    fn of(header: &[u8]) -> Option<ProducerFields> {
        if header.len() < batch::RECORDS {
            return None;
        }
        let producer_id = batch::i64_at(header, batch::PRODUCER_ID);
        let attributes = batch::i16_at(header, batch::ATTRIBUTES);
        let control = attributes & batch::CONTROL_BIT != 0;
        if producer_id < 0 || control {
            return None;
        }
        let first_seq = batch::i32_at(header, batch::BASE_SEQUENCE);
        let last_delta = batch::i32_at(header, batch::LAST_OFFSET_DELTA).max(0);
        Some(ProducerFields {
            producer_id,
            epoch: batch::i16_at(header, batch::PRODUCER_EPOCH),
            first_seq,
            last_seq: increment_sequence(first_seq, last_delta),
            transactional: attributes & batch::TRANSACTIONAL_BIT != 0,
        })
    }
}

/// Producer state and aborted transactions after recovery: the snapshot
/// taken when the active segment was started, plus the active segment's
/// batches; without a usable snapshot, every segment's batches. The
/// aborted-transaction index of every replayed segment is rebuilt.
fn recover_producers(dir: &Path, segments: &[Segment]) -> io::Result<(ProducerStates, TxnIndex)> {
    let Some(active) = segments.last() else {
        return Ok((ProducerStates::default(), TxnIndex::default()));
    };
    let snapshot = std::fs::read(snapshot_path(dir, active.base_offset))
        .ok()
        .and_then(|b| ProducerStates::decode(&b));
    let (mut states, replay) = match snapshot {
        Some(states) => (states, std::slice::from_ref(active)),
        None => (ProducerStates::default(), segments),
    };
    let trusted: Vec<i64> = segments[..segments.len() - replay.len()]
        .iter()
        .map(|s| s.base_offset)
        .collect();
    let mut aborted = TxnIndex::load(dir, &trusted)?;
    for segment in replay {
        let mut rebuilt = Vec::new();
        let mut position = 0;
        while let Some(found) = segment.read_header(position, segment.size)? {
            let mut header = [0u8; batch::RECORDS];
            segment.file.read_exact_at(&mut header, position)?;
            if let Some(p) = ProducerFields::of(&header) {
                let sequence = BatchSequence {
                    first_seq: p.first_seq,
                    last_seq: p.last_seq,
                    base_offset: found.base_offset,
                    last_offset: found.last_offset,
                };
                states.record(
                    p.producer_id,
                    p.epoch,
                    sequence,
                    found.max_timestamp,
                    p.transactional,
                );
            } else if batch::i16_at(&header, batch::ATTRIBUTES) & batch::CONTROL_BIT != 0 {
                let producer_id = batch::i64_at(&header, batch::PRODUCER_ID);
                let epoch = batch::i16_at(&header, batch::PRODUCER_EPOCH);
                match read_marker(&segment.file, found) {
                    Ok(marker) => {
                        let first = states.end_transaction(
                            producer_id,
                            epoch,
                            marker.coordinator_epoch,
                            found.max_timestamp,
                        );
                        if let (Some(first_offset), false) = (first, marker.commit) {
                            let last_stable_offset = states
                                .first_unstable_offset()
                                .unwrap_or(found.base_offset + 1);
                            rebuilt.push(AbortedTxn {
                                producer_id,
                                first_offset,
                                last_offset: found.base_offset,
                                last_stable_offset,
                            });
                        }
                    }
                    Err(e) => {
                        tracing::warn!(offset = found.base_offset, error = %e, "skipping an unreadable control batch")
                    }
                }
            }
            position += found.size;
        }
        aborted.rebuild_segment(dir, segment.base_offset, rebuilt)?;
    }
    Ok((states, aborted))
}

/// The transaction marker in the control batch at `found`.
fn read_marker(file: &File, found: BatchPosition) -> io::Result<EndTxnMarker> {
    let invalid = |e: crate::protocol::records::RecordError| {
        io::Error::new(io::ErrorKind::InvalidData, e.to_string())
    };
    let len = usize::try_from(found.size).map_err(|_| io::Error::other("batch too large"))?;
    let mut bytes = BytesMut::zeroed(len);
    file.read_exact_at(&mut bytes, found.position)?;
    let parsed = crate::protocol::records::RecordBatch::new(bytes.freeze()).map_err(invalid)?;
    let record = parsed
        .records()
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "empty control batch"))?
        .map_err(invalid)?;
    EndTxnMarker::parse(&record).map_err(invalid)
}
