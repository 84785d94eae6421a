//! Cutting a partition's log at its end, as a follower does when its log
//! has diverged from its leader's: whole batches go, from the one holding
//! the given offset on, and with them their segments, indexes, producer
//! snapshots, aborted-transaction entries and leader epochs.

use super::admin::write_epoch_checkpoint;
use super::{recover_producers, remove_segment_files, Partition, Segment};
use crate::log::index::SegmentIndex;
use std::io;

impl Partition {
    /// Cuts the log so that it ends before `offset`, at the base of the
    /// batch holding `offset` if it falls inside one, and never below the
    /// log start; returns the new log end offset. At or past the log end,
    /// no batch goes, but an epoch that starts at the log end does: a
    /// leader that began an epoch and was replaced before it appended
    /// anything would otherwise report that epoch, which the new leader
    /// never saw, and be told to truncate again on every fetch (Kafka's
    /// `UnifiedLog.truncateTo` does the same). The high watermark comes
    /// down with the log end.
    pub fn truncate_to(&self, offset: i64, now_ms: i64) -> io::Result<i64> {
        let mut st = self.lock();
        if offset >= st.log_end_offset {
            let end = st.log_end_offset;
            if st.epochs.truncate_from_end(end) {
                write_epoch_checkpoint(&self.dir, &st.epochs)?;
            }
            return Ok(end);
        }
        let offset = offset.max(st.log_start_offset);
        let keep = st
            .segments
            .iter()
            .rposition(|s| s.base_offset <= offset)
            .unwrap_or(0);
        // Later segments go whole, newest first: a crash part way leaves a
        // shorter log that is still contiguous.
        while st.segments.len() > keep + 1 {
            let Some(gone) = st.segments.pop() else { break };
            remove_segment_files(&self.dir, &gone)?;
            st.aborted.remove_segment(&self.dir, gone.base_offset)?;
        }
        let Some(segment) = st.segments.get(keep) else {
            return Ok(st.log_end_offset);
        };
        let cut = segment
            .find_batch(offset, segment.size)?
            .map_or(segment.size, |batch| batch.position);
        let base = segment.base_offset;
        segment.file.set_len(cut)?;
        segment.file.sync_all()?;
        // The cut segment is the active one now: its indexes are rebuilt
        // from what remains, as recovery does for an active segment.
        SegmentIndex::remove_files(&self.dir, base)?;
        let index_interval = st.config.index_interval_bytes;
        let reopened = Segment::open(&self.dir, base, true, index_interval, now_ms)?;
        let end = reopened.segment.next_offset;
        st.segments[keep] = reopened.segment;
        st.log_end_offset = end;
        st.high_watermark = st.high_watermark.min(end);
        st.durable_end = st.durable_end.min(end);
        let (producers, aborted) = recover_producers(&self.dir, &st.segments)?;
        st.producers = producers;
        st.aborted = aborted;
        if st.epochs.truncate_from_end(end) {
            write_epoch_checkpoint(&self.dir, &st.epochs)?;
        }
        debug_assert!(st.high_watermark <= st.log_end_offset);
        Ok(end)
    }
}

impl Partition {
    /// Empties the log and starts it again at `offset`: a follower whose
    /// whole log lies below its leader's log start (DeleteRecords or
    /// retention there) has nothing in common with it to keep.
    pub fn restart_at(&self, offset: i64, now_ms: i64) -> io::Result<()> {
        let mut st = self.lock();
        // The checkpoint first: a crash after it opens the log at `offset`.
        super::write_checkpoint(&self.dir, offset)?;
        while let Some(gone) = st.segments.pop() {
            remove_segment_files(&self.dir, &gone)?;
            st.aborted.remove_segment(&self.dir, gone.base_offset)?;
        }
        st.segments
            .push(Segment::create(&self.dir, offset, now_ms)?);
        st.log_start_offset = offset;
        st.log_end_offset = offset;
        st.high_watermark = offset;
        st.durable_end = offset;
        let (producers, aborted) = recover_producers(&self.dir, &st.segments)?;
        st.producers = producers;
        st.aborted = aborted;
        st.epochs = crate::log::epoch_cache::EpochCache::default();
        write_epoch_checkpoint(&self.dir, &st.epochs)?;
        Ok(())
    }
}
