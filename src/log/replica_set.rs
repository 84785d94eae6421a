//! What a partition's leader knows of its followers: how far each has
//! durably copied the log, when each was last caught up, and so the high
//! watermark the in-sync replicas allow. A state machine without I/O; the
//! partition holds one under its lock while it leads.
//!
//! Kafka's rules (Partition.scala `maybeIncrementLeaderHW`, Replica.scala
//! `updateFetchStateOrThrow`), with one difference: a follower's fetch
//! offset is taken as durable on its disk, because Odradek's followers
//! fetch again only after their fsync.
//! - The high watermark is the least end offset over the ISR, the leader's
//!   own durable end included. It does not advance while the ISR is smaller
//!   than `min.insync.replicas` (KIP-966), capped at the replication factor.
//! - A follower is caught up when its fetch reaches the leader's log end at
//!   that moment; a fetch that reaches the log end of the follower's previous
//!   fetch proves it was caught up then. A member not caught up for
//!   `replica.lag.time.max.ms` is out of sync.
//! - A replica outside the ISR is back in sync once it reaches the high
//!   watermark and the start of the leader's current epoch.
//! - Members an ISR expansion adds count for the high watermark from the
//!   moment it is proposed, until the ISR it was proposed on changes (Kafka's
//!   "maximal ISR"): the controller may commit it, and then elect one of
//!   them, before this leader hears of it.
//!
//! Times are on the leader's clock that never jumps (`log::steady_ms`), where
//! Kafka uses the wall clock: setting that clock forward would throw every
//! follower out of the ISR at once, setting it back would keep a stalled
//! one in for as long.

use std::collections::BTreeMap;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    /// The follower's log end, durable on its disk; -1 before its first fetch.
    pub end_offset: i64,
    pub last_caught_up_ms: i64,
    last_fetch_ms: i64,
    leader_end_at_last_fetch: i64,
}

impl Progress {
    fn new(now_ms: i64) -> Progress {
        Progress {
            end_offset: -1,
            // As Kafka: a member is given one lag period from the moment
            // this broker starts leading, not judged on what it did before.
            last_caught_up_ms: now_ms,
            last_fetch_ms: now_ms,
            leader_end_at_last_fetch: -1,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplicaSet {
    /// The other replicas (the leader is not among them).
    followers: BTreeMap<i32, Progress>,
    /// The followers in the ISR (the leader always is).
    in_sync: Vec<i32>,
    /// `min.insync.replicas`, capped at the replication factor.
    min_isr: usize,
    /// An ISR change proposed and not yet seen decided: the followers in
    /// sync it was proposed on, and the members it adds.
    proposed: Option<(Vec<i32>, Vec<i32>)>,
}

/// Why a fetch from a replica was not recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FetchRefused {
    /// Not a replica of this partition (as Kafka: retry, the metadata moves).
    NotAReplica,
    /// This broker does not lead the partition (yet, or any more).
    NotLeader,
}

impl Default for ReplicaSet {
    /// A partition with no other replica: its high watermark is its own
    /// durable end.
    fn default() -> ReplicaSet {
        ReplicaSet {
            followers: BTreeMap::new(),
            in_sync: Vec::new(),
            min_isr: 1,
            proposed: None,
        }
    }
}

impl ReplicaSet {
    /// The leader `leader` of `replicas` with `isr`, as the metadata says;
    /// progress already known of a follower is kept.
    pub fn update(
        &mut self,
        leader: i32,
        replicas: &[i32],
        isr: &[i32],
        min_insync_replicas: usize,
        now_ms: i64,
    ) {
        let previous = std::mem::take(&mut self.followers);
        self.followers = replicas
            .iter()
            .filter(|r| **r != leader)
            .map(|r| {
                (
                    *r,
                    previous.get(r).copied().unwrap_or(Progress::new(now_ms)),
                )
            })
            .collect();
        self.in_sync = isr
            .iter()
            .copied()
            .filter(|r| *r != leader && self.followers.contains_key(r))
            .collect();
        self.min_isr = min_insync_replicas.clamp(1, replicas.len().max(1));
        // Decided (or overtaken by another change): the ISR says it now.
        if self
            .proposed
            .as_ref()
            .is_some_and(|(from, _)| *from != self.in_sync)
        {
            self.proposed = None;
        }
    }

    /// This leader asks the controller for `isr`: the members it adds hold
    /// the high watermark back from now on. Added to those of earlier
    /// proposals on the same ISR: any of them may yet be committed (a
    /// retry refused says nothing of the first attempt).
    pub fn propose(&mut self, isr: &[i32]) {
        let mut added: Vec<i32> = match self.proposed.take() {
            Some((from, added)) if from == self.in_sync => added,
            _ => Vec::new(),
        };
        for r in isr {
            if self.followers.contains_key(r) && !self.in_sync.contains(r) && !added.contains(r) {
                added.push(*r);
            }
        }
        self.proposed = Some((self.in_sync.clone(), added));
    }

    /// The controller refused the proposed change on the current partition
    /// epoch (a replica it may not add): nothing proposed on this ISR was
    /// applied. Other refusals (a stale epoch) prove nothing of the kind.
    pub fn proposal_not_applied(&mut self) {
        self.proposed = None;
    }

    pub fn isr_size(&self) -> usize {
        self.in_sync.len() + 1
    }

    pub fn min_isr(&self) -> usize {
        self.min_isr
    }

    pub fn progress(&self, follower: i32) -> Option<Progress> {
        self.followers.get(&follower).copied()
    }

    /// A follower fetched from `fetch_offset` while the leader's log ended
    /// at `leader_end`.
    pub fn record_fetch(
        &mut self,
        follower: i32,
        fetch_offset: i64,
        leader_end: i64,
        now_ms: i64,
    ) -> Result<(), FetchRefused> {
        let progress = self
            .followers
            .get_mut(&follower)
            .ok_or(FetchRefused::NotAReplica)?;
        if fetch_offset >= leader_end {
            progress.last_caught_up_ms = progress.last_caught_up_ms.max(now_ms);
        } else if fetch_offset >= progress.leader_end_at_last_fetch {
            progress.last_caught_up_ms = progress.last_caught_up_ms.max(progress.last_fetch_ms);
        }
        progress.end_offset = fetch_offset;
        progress.last_fetch_ms = now_ms;
        progress.leader_end_at_last_fetch = leader_end;
        Ok(())
    }

    /// The high watermark the ISR allows, given the leader's own durable
    /// end; None while the ISR is below its minimum (it must not move).
    pub fn high_watermark(&self, leader_durable_end: i64) -> Option<i64> {
        if self.isr_size() < self.min_isr {
            return None;
        }
        let added = self.proposed.iter().flat_map(|(_, added)| added);
        Some(
            self.in_sync
                .iter()
                .chain(added)
                .filter_map(|r| self.followers.get(r))
                .map(|p| p.end_offset)
                .fold(leader_durable_end, i64::min),
        )
    }

    /// ISR members not caught up for longer than `lag_max_ms`.
    pub fn out_of_sync(&self, now_ms: i64, lag_max_ms: i64) -> Vec<i32> {
        self.in_sync
            .iter()
            .copied()
            .filter(|r| {
                self.followers
                    .get(r)
                    .is_some_and(|p| now_ms - p.last_caught_up_ms > lag_max_ms)
            })
            .collect()
    }

    /// Replicas outside the ISR that have caught up: at or past the high
    /// watermark and the start of the leader's current epoch.
    pub fn caught_up(&self, high_watermark: i64, epoch_start_offset: i64) -> Vec<i32> {
        self.followers
            .iter()
            .filter(|(r, p)| {
                !self.in_sync.contains(r)
                    && p.end_offset >= high_watermark
                    && p.end_offset >= epoch_start_offset
            })
            .map(|(r, _)| *r)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn set(replicas: &[i32], isr: &[i32], min_isr: usize) -> ReplicaSet {
        let mut s = ReplicaSet::default();
        s.update(0, replicas, isr, min_isr, 0);
        s
    }

    #[test]
    fn alone_the_high_watermark_is_the_durable_end() {
        assert_eq!(ReplicaSet::default().high_watermark(42), Some(42));
        assert_eq!(set(&[0], &[0], 2).high_watermark(42), Some(42));
    }

    #[test]
    fn the_slowest_in_sync_follower_bounds_the_high_watermark() {
        let mut s = set(&[0, 1, 2], &[0, 1, 2], 1);
        assert_eq!(s.high_watermark(10), Some(-1), "nobody fetched yet");
        s.record_fetch(1, 10, 10, 5).unwrap();
        s.record_fetch(2, 7, 10, 5).unwrap();
        assert_eq!(s.high_watermark(10), Some(7));
        assert_eq!(s.high_watermark(5), Some(5), "the leader's own disk too");
        // Out of the ISR, 2 no longer holds the high watermark back.
        s.update(0, &[0, 1, 2], &[0, 1], 1, 6);
        assert_eq!(s.high_watermark(10), Some(10));
        assert_eq!(s.caught_up(10, 0), Vec::<i32>::new());
        s.record_fetch(2, 10, 10, 7).unwrap();
        assert_eq!(s.caught_up(10, 0), vec![2]);
        assert_eq!(
            s.caught_up(10, 11),
            Vec::<i32>::new(),
            "not into this epoch yet"
        );
    }

    #[test]
    fn below_min_isr_the_high_watermark_stays() {
        let mut s = set(&[0, 1, 2], &[0], 2);
        s.record_fetch(1, 10, 10, 1).unwrap();
        assert_eq!(s.high_watermark(10), None);
        // min.insync.replicas above the replication factor is capped.
        assert_eq!(set(&[0], &[0], 3).high_watermark(10), Some(10));
    }

    #[test]
    fn strangers_are_refused_and_progress_survives_updates() {
        let mut s = set(&[0, 1], &[0, 1], 1);
        assert_eq!(s.record_fetch(9, 0, 0, 1), Err(FetchRefused::NotAReplica));
        s.record_fetch(1, 4, 4, 1).unwrap();
        s.update(0, &[0, 1, 2], &[0, 1], 1, 2);
        assert_eq!(s.progress(1).map(|p| p.end_offset), Some(4));
        assert_eq!(s.progress(2).map(|p| p.end_offset), Some(-1));
        s.update(0, &[0, 2], &[0], 1, 3);
        assert_eq!(s.progress(1), None);
    }

    #[test]
    fn lag_is_measured_from_the_last_time_caught_up() {
        let mut s = set(&[0, 1], &[0, 1], 1);
        // Caught up at 100; the leader then grows and the follower's next
        // fetch (at 200) reaches the end the leader had at 100.
        s.record_fetch(1, 10, 10, 100).unwrap();
        s.record_fetch(1, 10, 20, 200).unwrap();
        assert_eq!(s.progress(1).unwrap().last_caught_up_ms, 100);
        s.record_fetch(1, 20, 30, 300).unwrap();
        assert_eq!(s.progress(1).unwrap().last_caught_up_ms, 200);
        assert!(s.out_of_sync(30_100, 30_000).is_empty());
        assert_eq!(s.out_of_sync(30_201, 30_000), vec![1]);
    }

    #[test]
    fn a_proposed_member_holds_the_high_watermark_until_decided() {
        let mut s = set(&[0, 1, 2], &[0, 1], 1);
        s.record_fetch(1, 10, 10, 1).unwrap();
        s.record_fetch(2, 6, 10, 1).unwrap();
        assert_eq!(s.high_watermark(10), Some(10));
        s.propose(&[0, 1, 2]);
        assert_eq!(s.high_watermark(10), Some(6), "2 may be in the ISR already");
        // An image with the old ISR (another change, or not yet decided).
        s.update(0, &[0, 1, 2], &[0, 1], 1, 2);
        assert_eq!(s.high_watermark(10), Some(6));
        s.update(0, &[0, 1, 2], &[0, 1, 2], 1, 3);
        assert_eq!(s.high_watermark(10), Some(6), "now a member");
        s.update(0, &[0, 1, 2], &[0, 1], 1, 4);
        assert_eq!(s.high_watermark(10), Some(10), "out again");
        s.propose(&[0, 1, 2]);
        s.propose(&[0]);
        assert_eq!(
            s.high_watermark(10),
            Some(6),
            "the first may still be committed"
        );
        s.proposal_not_applied();
        assert_eq!(s.high_watermark(10), Some(10));
    }

    proptest! {
        /// Whatever the fetches, the high watermark never passes the
        /// leader's durable end nor any in-sync follower's end, and equals
        /// one of them.
        #[test]
        fn the_high_watermark_is_the_least_in_sync_end(
            fetches in proptest::collection::vec((1..4i32, 0..100i64, 0..100i64), 0..40),
            isr_mask in 0u8..8,
            leader_end in 0..100i64,
        ) {
            let isr: Vec<i32> = std::iter::once(0)
                .chain((1..4).filter(|r| isr_mask & (1 << (r - 1)) != 0))
                .collect();
            let mut s = set(&[0, 1, 2, 3], &isr, 1);
            let mut ends = BTreeMap::new();
            for (i, (r, offset, end)) in fetches.into_iter().enumerate() {
                s.record_fetch(r, offset, end, i as i64).unwrap();
                ends.insert(r, offset);
            }
            let hw = s.high_watermark(leader_end).unwrap();
            let members: Vec<i64> = isr[1..].iter().map(|r| *ends.get(r).unwrap_or(&-1)).collect();
            prop_assert!(hw <= leader_end);
            prop_assert!(members.iter().all(|e| hw <= *e));
            prop_assert!(hw == leader_end || members.contains(&hw));
        }
    }
}
