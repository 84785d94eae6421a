//! Truncating the log's end (a follower whose log diverged): whole batches
//! go with their segments, indexes, producer state and epochs, and the log
//! goes on from the cut, also after a restart.

use super::*;
use crate::log::partition::AppendError;

fn small_segments() -> LogConfig {
    let one = padded_batch("x", &[1, 2, 3], 40).len() as u64;
    LogConfig {
        segment_bytes: 3 * one + one / 2,
        index_interval_bytes: 0,
        ..config()
    }
}

fn bases(p: &Partition) -> Vec<i64> {
    read_all(p).iter().map(|b| b.base_offset()).collect()
}

#[test]
fn any_cut_keeps_exactly_the_batches_before_it_across_segments_and_restarts() {
    // Ten batches of three records over four segments; cut at every offset.
    for cut in 0..31 {
        let dir = TempDir::new("truncate-every");
        let (p, _) = open(&dir.partition_dir(), small_segments(), 1_000);
        for i in 0..10 {
            append(&p, &padded_batch(&format!("r{i}"), &[1, 2, 3], 40), 1_000);
        }
        let end = p.truncate_to(cut, 2_000).unwrap();
        let expected_end = (cut / 3) * 3; // the batch holding `cut` goes whole
        assert_eq!(end, expected_end.min(30), "cut at {cut}");
        let kept: Vec<i64> = (0..expected_end.min(30)).step_by(3).collect();
        assert_eq!(bases(&p), kept, "cut at {cut}");
        assert_eq!(p.offsets(), (0, expected_end.min(30), expected_end.min(30)));
        // The log goes on from the cut, and a restart finds the same log.
        append(&p, &padded_batch("after", &[4], 40), 2_000);
        let mut with_next = kept.clone();
        with_next.push(expected_end.min(30));
        assert_eq!(bases(&p), with_next);
        drop(p);
        let (p, recovery) = open(&dir.partition_dir(), small_segments(), 3_000);
        assert_eq!(recovery.truncated_bytes, 0);
        assert_eq!(bases(&p), with_next, "after a restart, cut at {cut}");
        assert_eq!(p.offsets().2, expected_end.min(30) + 1);
    }
}

#[test]
fn producer_state_and_epochs_go_back_with_the_log() {
    let dir = TempDir::new("truncate-producer");
    let (p, _) = open(&dir.partition_dir(), small_segments(), 1_000);
    append(&p, &idempotent(5, 0, 0, 2), 1_000);
    p.set_leader_epoch(4).unwrap();
    append(&p, &idempotent(5, 0, 2, 2), 1_000);
    append(&p, &idempotent(5, 0, 4, 2), 1_000);
    assert_eq!(p.truncate_to(2, 1_000).unwrap(), 2);
    // The producer's next sequence is 2 again: its cut batch is no duplicate.
    let again = p.append(&idempotent(5, 0, 2, 2), 1_000).unwrap();
    assert!(!again.duplicate);
    assert_eq!(again.base_offset, 2);
    p.mark_durable(again.last_offset + 1);
    assert!(matches!(
        p.append(&idempotent(5, 0, 9, 1), 1_000),
        Err(AppendError::OutOfOrderSequence { .. })
    ));
    // Epoch 4 began at 2, which is gone; the re-append stamped it again.
    assert_eq!(p.end_offset_for_epoch(0), (0, 2));
    assert_eq!(p.truncate_to(2, 1_000).unwrap(), 2);
    assert_eq!(p.end_offset_for_epoch(0), (0, 2));
    assert_eq!(
        p.end_offset_for_epoch(4),
        (-1, -1),
        "epoch 4 held only what was cut"
    );
    assert_eq!(
        p.truncate_to(9, 1_000).unwrap(),
        2,
        "past the end: nothing changes"
    );
}
