//! Idempotent producers: retries deduplicated, gaps and old epochs refused,
//! and the state rebuilt after a restart, from the log or from a snapshot.

use super::*;
use crate::log::partition::AppendError;

/// A batch of `records` records from producer `pid` at `epoch`, sequences from `first_seq`.
#[test]
fn a_retried_batch_gets_its_original_offset_and_is_not_appended_again() {
    let dir = TempDir::new("idem-dup");
    let (p, _) = open(&dir.partition_dir(), config(), 0);
    let first = append(&p, &idempotent(7, 0, 0, 3), 0);
    let second = append(&p, &idempotent(7, 0, 3, 2), 0);
    assert_eq!((first.base_offset, second.base_offset), (0, 3));
    let retry = p.append(&idempotent(7, 0, 0, 3), 0).unwrap();
    assert!(retry.duplicate);
    assert_eq!((retry.base_offset, retry.last_offset), (0, 2));
    assert_eq!(p.offsets().2, 5, "nothing was appended");
    assert_eq!(read_all(&p).len(), 2);
}

#[test]
fn gaps_and_old_epochs_are_refused() {
    let dir = TempDir::new("idem-refuse");
    let (p, _) = open(&dir.partition_dir(), config(), 0);
    append(&p, &idempotent(9, 2, 0, 2), 0);
    assert!(matches!(
        p.append(&idempotent(9, 2, 5, 1), 0),
        Err(AppendError::OutOfOrderSequence {
            producer_id: 9,
            expected: 2,
            got: 5
        })
    ));
    assert!(matches!(
        p.append(&idempotent(9, 1, 2, 1), 0),
        Err(AppendError::InvalidProducerEpoch {
            current: 2,
            got: 1,
            ..
        })
    ));
    // A new epoch starts again at sequence 0.
    assert!(matches!(
        p.append(&idempotent(9, 3, 2, 1), 0),
        Err(AppendError::OutOfOrderSequence { expected: 0, .. })
    ));
    assert_eq!(append(&p, &idempotent(9, 3, 0, 1), 0).base_offset, 2);
    // Batches without a producer id are never checked.
    assert_eq!(append(&p, &batch("plain", &[1]), 0).base_offset, 3);
    assert_eq!(append(&p, &batch("plain", &[1]), 0).base_offset, 4);
}

#[test]
fn retries_are_still_recognised_after_a_restart() {
    let dir = TempDir::new("idem-restart");
    {
        let (p, _) = open(&dir.partition_dir(), config(), 0);
        append(&p, &idempotent(1, 0, 0, 4), 0);
        append(&p, &idempotent(1, 0, 4, 4), 0);
    }
    let (p, _) = open(&dir.partition_dir(), config(), 0);
    let retry = p.append(&idempotent(1, 0, 4, 4), 0).unwrap();
    assert!(retry.duplicate && retry.base_offset == 4);
    assert!(matches!(
        p.append(&idempotent(1, 0, 9, 1), 0),
        Err(AppendError::OutOfOrderSequence { expected: 8, .. })
    ));
}

#[test]
fn the_snapshot_taken_at_a_roll_carries_state_across_segments() {
    let dir = TempDir::new("idem-snapshot");
    let small = LogConfig {
        segment_bytes: 200,
        ..config()
    };
    {
        let (p, _) = open(&dir.partition_dir(), small.clone(), 0);
        for i in 0..6 {
            append(&p, &idempotent(3, 0, i * 2, 2), 0);
        }
    }
    let snapshots = std::fs::read_dir(dir.partition_dir())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "snapshot")
        })
        .count();
    assert!(snapshots >= 2, "rolls write snapshots ({snapshots})");
    // The snapshot for the active segment holds the producer as of its base.
    let active = *segment_bases(&dir.partition_dir()).last().unwrap();
    let snapshot = std::fs::read(segment_file(&dir.partition_dir(), active, "snapshot")).unwrap();
    let states =
        crate::log::producer_state::ProducerStates::decode(&snapshot).expect("snapshot decodes");
    assert_eq!(states.get(3).map(|e| e.epoch), Some(0));
    let (p, _) = open(&dir.partition_dir(), small, 0);
    assert!(p.append(&idempotent(3, 0, 10, 2), 0).unwrap().duplicate);
    assert_eq!(append(&p, &idempotent(3, 0, 12, 2), 0).base_offset, 12);
}
