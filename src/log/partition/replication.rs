//! A partition's part in replication. Leading, it records how far each
//! follower has copied it and lets the high watermark follow the in-sync
//! replicas (see [`ReplicaSet`]); following, it appends its leader's
//! batches byte for byte and takes its leader's high watermark.

use super::{
    admin, AppendError, Appended, Isolation, Oversize, Partition, ProducerFields, ReadError, Role,
    State,
};
use crate::log::replica_set::{FetchRefused, ReplicaSet};
use crate::protocol::records::control::EndTxnMarker;
use crate::protocol::records::header as batch;
use crate::protocol::records::BatchIter;
use bytes::Bytes;

/// ISR changes a leader should ask the controller for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IsrChanges {
    /// In-sync followers that fell behind for too long.
    pub out_of_sync: Vec<i32>,
    /// Followers outside the ISR that caught up.
    pub caught_up: Vec<i32>,
}

/// This broker no longer leads the partition in the epoch asked about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Deposed;

/// Where a follower stands: what it asks its leader for next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FetchPosition {
    /// The log end, durable (the follower waits for its fsync before it
    /// fetches again, so what it reports is on its disk).
    pub log_end_offset: i64,
    /// The epoch of its last batch, -1 with an empty log.
    pub last_fetched_epoch: i32,
    pub log_start_offset: i64,
}

/// One partition of a follower's fetch, as its leader reads it.
#[derive(Clone, Copy, Debug)]
pub struct FollowerFetch {
    pub follower: i32,
    pub fetch_offset: i64,
    /// The epoch of the follower's last batch (-1: none).
    pub last_fetched_epoch: i32,
    pub max_bytes: usize,
    pub oversize: Oversize,
    /// Whether this fetch reports the follower's progress (once per request).
    pub record: bool,
}

/// A leader's answer to one partition of a follower's fetch.
#[derive(Debug)]
pub enum FollowerRead {
    /// The follower's log parts from this one: it cuts to this epoch's end.
    Diverging { epoch: i32, end_offset: i64 },
    /// The log from the fetch offset; the high watermark after the fetch
    /// was recorded.
    Records { records: Bytes, high_watermark: i64 },
}

/// Why a follower's fetch of a partition got no records.
#[derive(Debug)]
pub enum FollowerReadError {
    Refused(FetchRefused),
    /// Below the log start or past the end (the answer names the start).
    OutOfRange,
    /// A read failed (ReadError's description).
    Io(String),
}

impl Partition {
    /// Leads the partition as `leader` of `replicas`, with `isr` in sync.
    pub fn lead(
        &self,
        leader: i32,
        replicas: &[i32],
        isr: &[i32],
        min_insync_replicas: usize,
        now_ms: i64,
    ) {
        let mut st = self.lock();
        self.lead_locked(&mut st, leader, replicas, isr, min_insync_replicas, now_ms);
    }

    /// Leads the partition from leader epoch `epoch` on (see
    /// [`Partition::set_leader_epoch`]), the epoch and the role taken
    /// together: a follower's fetch still in flight finds the partition
    /// led, and appends nothing behind the new epoch.
    pub fn lead_at_epoch(
        &self,
        epoch: i32,
        leader: i32,
        replicas: &[i32],
        isr: &[i32],
        min_insync_replicas: usize,
        now_ms: i64,
    ) -> std::io::Result<()> {
        let mut st = self.lock();
        self.lead_locked(&mut st, leader, replicas, isr, min_insync_replicas, now_ms);
        self.start_leader_epoch(&mut st, epoch)
    }

    fn lead_locked(
        &self,
        st: &mut State,
        leader: i32,
        replicas: &[i32],
        isr: &[i32],
        min_insync_replicas: usize,
        now_ms: i64,
    ) {
        // A new leader starts afresh: each follower gets one lag period.
        if !matches!(st.role, Role::Leader(_)) {
            st.role = Role::Leader(ReplicaSet::default());
            st.verifications.clear();
        }
        if let Role::Leader(set) = &mut st.role {
            set.update(leader, replicas, isr, min_insync_replicas, now_ms);
        }
        self.advance_high_watermark(st);
    }

    /// Copies the partition from another broker, which leads it.
    pub fn follow(&self) {
        let mut st = self.lock();
        if matches!(st.role, Role::Leader(_)) {
            let high_watermark = st.high_watermark;
            st.role = Role::Follower {
                leader_high_watermark: high_watermark,
            };
            st.verifications.clear();
            // Appends waiting to be committed learn they never will be.
            self.high_watermark_moved.notify_waiters();
        }
    }

    /// A restarted node of a cluster: the high watermark its checkpoint
    /// kept (none: the log start), until the metadata says whether it
    /// leads. Meanwhile it counts as a follower whose leader allows no
    /// more, so nothing but a real election can expose records above it.
    pub fn restore_high_watermark(&self, checkpointed: Option<i64>) {
        let mut st = self.lock();
        let restored = checkpointed
            .unwrap_or(st.log_start_offset)
            .clamp(st.log_start_offset, st.durable_end);
        st.high_watermark = restored;
        st.role = Role::Follower {
            leader_high_watermark: restored,
        };
    }

    /// Whether the high watermark has reached the start of the current
    /// leader epoch: until then a new leader cannot tell where the
    /// committed log ends (Kafka answers OFFSET_NOT_AVAILABLE meanwhile).
    pub fn high_watermark_known(&self) -> bool {
        let st = self.lock();
        st.epoch_start()
            .is_none_or(|start| st.high_watermark >= start)
    }

    /// A follower fetched from `fetch_offset`: everything before it is on
    /// its disk. The high watermark may move.
    pub fn record_follower_fetch(
        &self,
        follower: i32,
        fetch_offset: i64,
        now_ms: i64,
    ) -> Result<(), FetchRefused> {
        let mut st = self.lock();
        let leader_end = st.log_end_offset;
        let Role::Leader(set) = &mut st.role else {
            return Err(FetchRefused::NotLeader);
        };
        set.record_fetch(follower, fetch_offset, leader_end, now_ms)?;
        self.advance_high_watermark(&mut st);
        Ok(())
    }

    /// Following: the leader's high watermark, bounded by what this
    /// broker's disk holds.
    pub fn set_leader_high_watermark(&self, leader_high_watermark: i64) {
        let mut st = self.lock();
        if let Role::Follower {
            leader_high_watermark: hw,
        } = &mut st.role
        {
            *hw = leader_high_watermark;
            self.advance_high_watermark(&mut st);
        }
    }

    /// Leading: the ISR's size and the minimum acks=all needs.
    pub fn in_sync_replicas(&self) -> Option<(usize, usize)> {
        match &self.lock().role {
            Role::Leader(set) => Some((set.isr_size(), set.min_isr())),
            Role::Follower { .. } => None,
        }
    }

    /// Leading: the ISR this leader asks the controller for; the members it
    /// adds count for the high watermark until the change is decided.
    pub fn propose_isr(&self, isr: &[i32]) {
        if let Role::Leader(set) = &mut self.lock().role {
            set.propose(isr);
        }
    }

    /// Leading: the controller refused the ISR change proposed in a way
    /// that proves nothing proposed on this ISR was applied (see
    /// [`ReplicaSet::proposal_not_applied`]).
    pub fn isr_proposal_not_applied(&self) {
        let mut st = self.lock();
        if let Role::Leader(set) = &mut st.role {
            set.proposal_not_applied();
            self.advance_high_watermark(&mut st);
        }
    }

    /// Leading: followers to drop from the ISR or add to it.
    pub fn isr_changes(&self, now_ms: i64, lag_max_ms: i64) -> IsrChanges {
        let st = self.lock();
        let Role::Leader(set) = &st.role else {
            return IsrChanges::default();
        };
        let epoch_start = st.epoch_start().unwrap_or(st.log_end_offset);
        IsrChanges {
            out_of_sync: set.out_of_sync(now_ms, lag_max_ms),
            caught_up: set.caught_up(st.high_watermark, epoch_start),
        }
    }

    /// Resolves once the high watermark reaches `offset` while this broker
    /// leads in `epoch`; fails as soon as it does not (it follows, or leads
    /// in a later epoch): its log may have been cut since, so what it took
    /// in `epoch` can no longer be confirmed. A deposed leader that thaws
    /// with requests in its sockets, takes them, is told to truncate and
    /// then copies its new leader's log past them must not acknowledge them.
    pub async fn wait_until_committed(&self, offset: i64, epoch: i32) -> Result<(), Deposed> {
        loop {
            let moved = self.high_watermark_moved.notified();
            tokio::pin!(moved);
            moved.as_mut().enable();
            if self.committed(offset, epoch)? {
                return Ok(());
            }
            moved.await;
        }
    }

    /// Whether `offset` is committed by this broker leading in `epoch`.
    pub fn committed(&self, offset: i64, epoch: i32) -> Result<bool, Deposed> {
        let st = self.lock();
        if !matches!(st.role, Role::Leader(_)) || st.leader_epoch != epoch {
            return Err(Deposed);
        }
        Ok(st.high_watermark >= offset)
    }

    /// Leading: where a follower's log parts from this one, as the epoch
    /// and end offset it should cut to (Kafka's DivergingEpoch): when its
    /// last epoch is unknown here, or ends here before its fetch offset.
    pub fn divergence(&self, last_fetched_epoch: i32, fetch_offset: i64) -> Option<(i32, i64)> {
        if last_fetched_epoch < 0 {
            return None;
        }
        let (epoch, end_offset) = self.end_offset_for_epoch(last_fetched_epoch);
        (epoch < last_fetched_epoch || end_offset < fetch_offset).then_some((epoch, end_offset))
    }

    /// Following: cuts the log where it parts from the leader's, as Kafka's
    /// followers do: at the smaller of the leader's end for the diverging
    /// epoch and this log's own end for it. A leader that knows no epoch
    /// that old leaves only what it had committed. Returns the new end.
    pub fn truncate_to_divergence(
        &self,
        epoch: i32,
        end_offset: i64,
        leader_high_watermark: i64,
        now_ms: i64,
    ) -> std::io::Result<i64> {
        let cut = if epoch < 0 {
            leader_high_watermark
        } else {
            self.end_offset_for_epoch(epoch).1.min(end_offset)
        };
        self.truncate_to(cut.max(0), now_ms)
    }

    /// Leading: a follower's fetch. Nothing but the point of divergence
    /// if its log parts from this one; otherwise the log up to its end,
    /// with the fetch offset recorded (if asked), which may move the high
    /// watermark.
    pub fn serve_follower(
        &self,
        fetch: &FollowerFetch,
        now_ms: i64,
    ) -> Result<FollowerRead, FollowerReadError> {
        if let Some((epoch, end_offset)) =
            self.divergence(fetch.last_fetched_epoch, fetch.fetch_offset)
        {
            return Ok(FollowerRead::Diverging { epoch, end_offset });
        }
        let read = self
            .read_bounded(
                fetch.fetch_offset,
                fetch.max_bytes,
                Isolation::Replica,
                fetch.oversize,
            )
            .map_err(|e| match e {
                ReadError::OffsetOutOfRange { .. } => FollowerReadError::OutOfRange,
                ReadError::Io(e) => FollowerReadError::Io(e),
            })?;
        if fetch.record {
            self.record_follower_fetch(fetch.follower, fetch.fetch_offset, now_ms)
                .map_err(FollowerReadError::Refused)?;
        }
        Ok(FollowerRead::Records {
            records: read.records,
            high_watermark: self.offsets().1,
        })
    }

    pub fn fetch_position(&self) -> FetchPosition {
        let st = self.lock();
        FetchPosition {
            log_end_offset: st.durable_end,
            last_fetched_epoch: st.epochs.latest_epoch().unwrap_or(-1),
            log_start_offset: st.log_start_offset,
        }
    }

    /// Following: appends the leader's batches as they are (offsets, epoch
    /// stamps and all), rebuilding producer state, the aborted-transaction
    /// index and the epoch history from them. A batch that overlaps the
    /// log end is refused; a gap (a compacted leader) is kept. A trailing
    /// partial batch is left for the next fetch. None if nothing was new.
    pub fn append_replicated(
        &self,
        records: Bytes,
        now_ms: i64,
    ) -> Result<Option<Appended>, AppendError> {
        let mut st = self.lock();
        if matches!(st.role, Role::Leader(_)) {
            return Err(AppendError::NotFollowing);
        }
        if st.storage_failed {
            return Err(AppendError::StorageFailed);
        }
        let mut first_offset = None;
        let mut last = None;
        let mut record_count = 0u64;
        for parsed in BatchIter::new(records) {
            let parsed = parsed.map_err(|_| AppendError::Malformed)?;
            if parsed.magic() != 2 || parsed.verify_crc().is_err() {
                return Err(AppendError::Malformed);
            }
            if parsed.base_offset() < st.log_end_offset {
                return Err(AppendError::OffsetOverlap {
                    log_end_offset: st.log_end_offset,
                    base_offset: parsed.base_offset(),
                });
            }
            let bytes = parsed.as_bytes();
            let last_delta = i64::from(parsed.last_offset_delta().max(0));
            self.maybe_roll(&mut st, bytes.len() as u64, last_delta, now_ms)
                .map_err(AppendError::Io)?;
            let epoch = parsed.partition_leader_epoch().max(0);
            // A batch of an older epoch than the log's last (a deposed
            // leader's, in a fetch answered before the change) is refused:
            // the log stays as it is, and the disk is fine.
            if let Some(latest) = st.epochs.latest_epoch().filter(|latest| epoch < *latest) {
                return Err(AppendError::StaleEpoch { epoch, latest });
            }
            admin::assign_epoch(&self.dir, &mut st, epoch, parsed.base_offset())
                .map_err(AppendError::Io)?;
            st.leader_epoch = st.leader_epoch.max(epoch);
            let mut header = [0u8; batch::RECORDS];
            header.copy_from_slice(&bytes[..batch::RECORDS]);
            let marker = if parsed.is_control() {
                let first = parsed.records().next().and_then(Result::ok);
                first.and_then(|record| EndTxnMarker::parse(&record).ok())
            } else {
                None
            };
            let producer = ProducerFields::of(&header);
            let (found, file) = self.write_batch(
                &mut st,
                &header,
                &bytes[batch::RECORDS..],
                producer,
                marker,
                now_ms,
            )?;
            first_offset.get_or_insert(found.base_offset);
            last = Some((found.last_offset, file));
            record_count += u64::try_from(parsed.record_count()).unwrap_or(0);
        }
        let (Some(base_offset), Some((last_offset, file))) = (first_offset, last) else {
            return Ok(None);
        };
        let sync = self.written(&mut st, file, record_count);
        Ok(Some(Appended {
            base_offset,
            last_offset,
            log_append_time: -1,
            log_start_offset: st.log_start_offset,
            sync,
            duplicate: false,
            leader_epoch: st.leader_epoch,
        }))
    }
}

impl State {
    /// Where the epoch this broker stamps batches with began, if it is the
    /// latest in the history.
    fn epoch_start(&self) -> Option<i64> {
        self.epochs
            .entries()
            .last()
            .filter(|(epoch, _)| *epoch == self.leader_epoch)
            .map(|(_, start)| *start)
    }
}
