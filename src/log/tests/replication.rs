//! Replication between two partitions, as a leader and its follower see it
//! (the fetch between them is the handler's; here the bytes are handed
//! over directly): the follower's log is the leader's byte for byte, with
//! its producer state, aborted transactions and epochs; the high watermark
//! waits for the in-sync follower's disk; a deposed leader's tail is cut at
//! the divergence, and the log goes on from the new leader's.

use super::*;
use crate::log::partition::{AppendError, Isolation};
use crate::protocol::records::control::EndTxnMarker;

/// Copies whatever `follower` lacks from `leader`, as one fetch round does:
/// read from the follower's durable end, append, fsync (here: mark durable),
/// then report the new end. Returns how many batches moved.
fn replicate(leader: &Partition, follower: &Partition, follower_id: i32) -> usize {
    let position = follower.fetch_position();
    assert_eq!(
        leader.divergence(position.last_fetched_epoch, position.log_end_offset),
        None
    );
    leader
        .record_follower_fetch(follower_id, position.log_end_offset, 1_000)
        .unwrap();
    let read = leader
        .read_bounded(
            position.log_end_offset,
            1 << 20,
            Isolation::Replica,
            Oversize::FirstBatch,
        )
        .unwrap();
    let moved = split_batches(read.records.clone()).unwrap().len();
    if let Some(appended) = follower.append_replicated(read.records, 1_000).unwrap() {
        follower.mark_durable(appended.last_offset + 1);
    }
    follower.set_leader_high_watermark(read.high_watermark);
    // The next fetch tells the leader where the follower's disk ends.
    leader
        .record_follower_fetch(follower_id, follower.fetch_position().log_end_offset, 1_000)
        .unwrap();
    follower.set_leader_high_watermark(leader.offsets().1);
    moved
}

/// The whole log up to its end, as bytes.
fn log_bytes(p: &Partition) -> Bytes {
    p.read_bounded(
        p.offsets().0,
        1 << 30,
        Isolation::Replica,
        Oversize::FirstBatch,
    )
    .unwrap()
    .records
}

fn pair(tag: &str) -> (TempDir, TempDir, Partition, Partition) {
    let (ld, fd) = (
        TempDir::new(&format!("{tag}-leader")),
        TempDir::new(&format!("{tag}-follower")),
    );
    let (leader, _) = open(&ld.partition_dir(), config(), 1_000);
    let (follower, _) = open(&fd.partition_dir(), config(), 1_000);
    leader.set_leader_epoch(3).unwrap();
    leader.lead(0, &[0, 1], &[0, 1], 1, 1_000);
    follower.follow();
    (ld, fd, leader, follower)
}

#[test]
fn a_follower_holds_its_leaders_log_byte_for_byte_and_the_high_watermark_waits_for_it() {
    let (_ld, _fd, leader, follower) = pair("copy");
    append(&leader, &batch("plain", &[1, 2]), 1_000);
    append(&leader, &producer_batch(7, 0, 0, 3, false), 1_000);
    append(&leader, &producer_batch(8, 0, 0, 2, true), 1_000);
    let marker = EndTxnMarker {
        commit: false,
        coordinator_epoch: 0,
    };
    let abort = leader.append_marker(8, 0, marker, 1_000).unwrap();
    leader.mark_durable(abort.last_offset + 1);
    // Durable on the leader's disk, but not yet on its in-sync follower's.
    assert_eq!(leader.offsets(), (0, 0, 8));
    assert_eq!(replicate(&leader, &follower, 1), 4);
    assert_eq!(
        leader.offsets(),
        (0, 8, 8),
        "the follower's disk holds it all"
    );
    assert_eq!(follower.offsets(), (0, 8, 8));
    assert_eq!(log_bytes(&follower), log_bytes(&leader));
    assert_eq!(
        follower.end_offset_for_epoch(3),
        leader.end_offset_for_epoch(3)
    );
    let aborted = |p: &Partition| {
        p.read_isolated(0, 1 << 20, Isolation::ReadCommitted)
            .unwrap()
            .aborted
    };
    assert_eq!(aborted(&follower), aborted(&leader));
    assert_eq!(follower.last_stable_offset(), 8);
    // The follower takes over: producer 7's retry is a duplicate there too.
    follower.set_leader_epoch(4).unwrap();
    follower.lead(1, &[0, 1], &[1], 1, 2_000);
    let retry = follower
        .append(&producer_batch(7, 0, 0, 3, false), 2_000)
        .unwrap();
    assert!(retry.duplicate);
    assert_eq!(retry.base_offset, 2);
    assert!(matches!(
        follower.append(&producer_batch(7, 0, 9, 1, false), 2_000),
        Err(AppendError::OutOfOrderSequence { .. })
    ));
}

#[test]
fn the_leader_refuses_copies_and_followers_refuse_overlaps() {
    let (_ld, _fd, leader, follower) = pair("refuse");
    append(&leader, &batch("a", &[1]), 1_000);
    let read = leader
        .read_bounded(0, 1 << 20, Isolation::Replica, Oversize::FirstBatch)
        .unwrap();
    assert!(matches!(
        leader.append_replicated(read.records.clone(), 1_000),
        Err(AppendError::NotFollowing)
    ));
    follower
        .append_replicated(read.records.clone(), 1_000)
        .unwrap();
    assert!(matches!(
        follower.append_replicated(read.records, 1_000),
        Err(AppendError::OffsetOverlap {
            log_end_offset: 1,
            base_offset: 0
        })
    ));
    let mut corrupt = log_bytes(&leader).to_vec();
    let last = corrupt.len() - 1;
    corrupt[last] ^= 0xff;
    assert!(matches!(
        follower.append_replicated(Bytes::from(corrupt), 1_000),
        Err(AppendError::Malformed)
    ));
}

#[test]
fn a_deposed_leaders_tail_is_cut_where_it_diverged_and_the_log_goes_on() {
    let (_ld, _fd, old, new) = pair("diverge");
    append(&old, &batch("shared", &[1, 2]), 1_000);
    replicate(&old, &new, 1);
    // The old leader takes two batches its follower never copies, then dies.
    append(&old, &batch("lost", &[3]), 1_000);
    append(&old, &batch("lost", &[4, 5]), 1_000);
    // The follower leads with epoch 4 and takes writes of its own.
    new.set_leader_epoch(4).unwrap();
    new.lead(1, &[0, 1], &[1], 1, 2_000);
    append(&new, &batch("kept", &[6]), 2_000);
    // The old leader returns as a follower: its last epoch (3) ends at 2
    // on the new leader, before its fetch offset (5).
    old.follow();
    let position = old.fetch_position();
    assert_eq!(
        (position.last_fetched_epoch, position.log_end_offset),
        (3, 5)
    );
    let (epoch, end) = new.divergence(3, 5).expect("the logs diverge");
    assert_eq!((epoch, end), (3, 2));
    assert_eq!(
        old.truncate_to_divergence(epoch, end, new.offsets().1, 3_000)
            .unwrap(),
        2
    );
    new.lead(1, &[0, 1], &[1, 0], 1, 3_000);
    assert_eq!(replicate(&new, &old, 0), 1);
    assert_eq!(log_bytes(&old), log_bytes(&new));
    assert_eq!(old.end_offset_for_epoch(3), (3, 2));
    assert_eq!(old.end_offset_for_epoch(4), (4, 3));
}

#[test]
fn a_deposed_leader_never_confirms_what_it_took_in_its_old_epoch() {
    // Found by the SIGSTOP nemesis: a frozen leader thawed, took requests
    // waiting in its sockets, was told to truncate them away, then copied
    // its new leader's log past their offsets, and its high watermark with
    // it: the waiting acks=all answers said "committed" for records gone.
    use crate::log::partition::Deposed;
    use futures_util::FutureExt;
    let (_ld, _fd, zombie, _follower) = pair("zombie");
    let taken = zombie.append(&batch("zombie", &[1]), 1_000).unwrap();
    zombie.mark_durable(taken.last_offset + 1);
    assert_eq!(taken.leader_epoch, 3);
    let wanted = taken.last_offset + 1;
    assert_eq!(
        zombie.committed(wanted, 3),
        Ok(false),
        "its follower has not copied it"
    );
    let waiting = zombie.wait_until_committed(wanted, 3);
    futures_util::pin_mut!(waiting);
    assert!(waiting.as_mut().now_or_never().is_none());
    zombie.follow();
    assert_eq!(
        waiting.now_or_never(),
        Some(Err(Deposed)),
        "woken, and told"
    );
    // Even once its high watermark passes the offset again (other data).
    zombie.set_leader_high_watermark(wanted);
    assert_eq!(zombie.committed(wanted, 3), Err(Deposed));
    // Leading again, in a later epoch, it confirms only that epoch's appends.
    zombie.set_leader_epoch(5).unwrap();
    zombie.lead(0, &[0], &[0], 1, 2_000);
    assert_eq!(zombie.committed(wanted, 3), Err(Deposed));
    let again = append(&zombie, &batch("led", &[2]), 2_000);
    assert_eq!(again.leader_epoch, 5);
    assert_eq!(zombie.committed(again.last_offset + 1, 5), Ok(true));
}

#[test]
fn a_leader_replaced_before_its_first_append_forgets_its_empty_epoch() {
    // Found by the SIGSTOP nemesis: a follower led (epoch 4) for a moment
    // without appending, then followed the old leader again (epoch 5).
    let (_ld, _fd, old, new) = pair("empty-epoch");
    append(&old, &batch("shared", &[1, 2]), 1_000);
    replicate(&old, &new, 1);
    new.set_leader_epoch(4).unwrap();
    new.follow();
    old.set_leader_epoch(5).unwrap();
    let position = new.fetch_position();
    assert_eq!(
        position.last_fetched_epoch, 4,
        "the empty epoch is its latest"
    );
    let (epoch, end) = old
        .divergence(position.last_fetched_epoch, position.log_end_offset)
        .expect("the leader never saw epoch 4");
    assert_eq!((epoch, end), (3, 2));
    assert_eq!(new.truncate_to_divergence(epoch, end, 2, 3_000).unwrap(), 2);
    let position = new.fetch_position();
    assert_eq!(position.last_fetched_epoch, 3, "the empty epoch is gone");
    assert_eq!(
        old.divergence(position.last_fetched_epoch, position.log_end_offset),
        None,
        "so the next fetch goes on instead of truncating again, forever"
    );
}

#[test]
fn a_follower_below_its_leaders_log_start_restarts_there() {
    let dir = TempDir::new("restart-at");
    let (p, _) = open(&dir.partition_dir(), config(), 1_000);
    append(&p, &batch("old", &[1, 2]), 1_000);
    p.follow();
    p.restart_at(100, 2_000).unwrap();
    assert_eq!(p.offsets(), (100, 100, 100));
    assert_eq!(p.fetch_position().last_fetched_epoch, -1);
    drop(p);
    let (p, _) = open(&dir.partition_dir(), config(), 3_000);
    assert_eq!(p.offsets(), (100, 100, 100), "after a restart too");
}

#[test]
fn a_new_leader_knows_its_high_watermark_once_its_followers_reach_its_epoch() {
    let (_ld, _fd, old, new) = pair("hw-known");
    append(&old, &batch("a", &[1, 2]), 1_000);
    // The follower copies the batch but has not yet heard the new high watermark.
    let read = old
        .read_bounded(0, 1 << 20, Isolation::Replica, Oversize::FirstBatch)
        .unwrap();
    let appended = new.append_replicated(read.records, 1_000).unwrap().unwrap();
    new.mark_durable(appended.last_offset + 1);
    assert_eq!(new.offsets(), (0, 0, 2));
    new.set_leader_epoch(4).unwrap();
    new.lead(1, &[0, 1], &[1, 0], 1, 2_000);
    assert!(
        !new.high_watermark_known(),
        "the epoch starts at 2, the HW is 0"
    );
    old.follow();
    new.record_follower_fetch(0, 2, 2_000).unwrap();
    assert!(new.high_watermark_known());
    assert_eq!(new.offsets().1, 2);
}

#[test]
fn after_a_failed_fsync_the_high_watermark_stays_and_appends_are_refused() {
    let dir = TempDir::new("sync-failed");
    let (p, _) = open(&dir.partition_dir(), config(), 1_000);
    append(&p, &batch("synced", &[1]), 1_000);
    let lost = p.append(&batch("lost", &[2]), 1_000).unwrap();
    let later = p.append(&batch("later", &[3]), 1_000).unwrap();
    // The fsync covering `lost` fails; a later one succeeds.
    p.mark_sync_failed();
    p.mark_durable(later.last_offset + 1);
    assert_eq!(p.offsets(), (0, 1, lost.last_offset + 2));
    assert!(matches!(
        p.append(&batch("refused", &[4]), 1_000),
        Err(AppendError::StorageFailed)
    ));
}

/// A leader killed while its follower lagged comes back with the high
/// watermark its checkpoint kept, not its log end: what the follower had
/// not copied was never committed, and stays hidden until the in-sync
/// replicas hold it again. Alone in its ISR it exposes its log at once.
#[test]
fn a_restarted_replica_exposes_nothing_above_its_checkpointed_high_watermark() {
    let (ld, _fd, leader, follower) = pair("restore");
    append(&leader, &batch("committed", &[1, 2]), 1_000);
    replicate(&leader, &follower, 1);
    assert_eq!(leader.offsets().1, 2);
    append(&leader, &batch("uncommitted", &[3]), 1_000);
    assert_eq!(
        leader.offsets(),
        (0, 2, 3),
        "the follower has not copied it"
    );
    drop(leader);

    let (restarted, _) = open(&ld.partition_dir(), config(), 2_000);
    assert_eq!(
        restarted.offsets(),
        (0, 3, 3),
        "a node alone trusts its log"
    );
    restarted.restore_high_watermark(Some(2));
    assert_eq!(restarted.offsets(), (0, 2, 3));
    assert_eq!(read_all(&restarted).len(), 1, "only the committed batch");
    restarted.set_leader_epoch(4).unwrap();
    restarted.lead(0, &[0, 1], &[0, 1], 1, 2_000);
    assert_eq!(restarted.offsets().1, 2, "the follower must copy it first");
    assert!(!restarted.high_watermark_known());
    replicate(&restarted, &follower, 1);
    assert_eq!(restarted.offsets().1, 3);

    // No checkpoint at all: nothing is exposed until an election says more.
    let (again, _) = open(&ld.partition_dir(), config(), 3_000);
    again.restore_high_watermark(None);
    assert_eq!(again.offsets(), (0, 0, 3));
    again.restore_high_watermark(Some(99));
    assert_eq!(again.offsets(), (0, 3, 3), "clamped to the log end");
    again.restore_high_watermark(Some(0));
    again.lead(0, &[0, 1], &[0], 1, 3_000);
    assert_eq!(again.offsets(), (0, 3, 3), "the only in-sync replica");
}

/// The failure a balancer test met: a follower whose first target replica
/// took the lead (a new epoch) still had a fetch answer of the old
/// leader's in flight; its batches, of the older epoch, are refused as
/// such (not as a broken disk, which took the whole broker out).
#[test]
fn batches_of_an_older_epoch_than_the_log_s_last_are_refused_as_stale() {
    let (_ld, _fd, leader, follower) = pair("stale");
    append(&leader, &batch("a", &[1]), 1_000);
    let read = leader
        .read_bounded(0, 1 << 20, Isolation::Replica, Oversize::FirstBatch)
        .unwrap();
    // The leader stamped epoch 3; the follower took the lead at 4.
    follower
        .lead_at_epoch(4, 1, &[0, 1], &[1], 1, 1_000)
        .unwrap();
    follower.follow();
    let appended = follower.append_replicated(read.records, 1_000);
    assert!(
        matches!(
            appended,
            Err(AppendError::StaleEpoch {
                epoch: 3,
                latest: 4
            })
        ),
        "{:?}",
        appended.map(|a| a.map(|a| a.base_offset))
    );
    assert_eq!(follower.offsets().2, 0, "nothing appended");
}
