//! Leader epochs on the log: batches stamped with the epoch the partition is
//! led with, the history of epochs kept across restarts (rebuilt from the
//! batches when its checkpoint is lost), and cut with the log's start.

use super::*;

fn stamped_epochs(p: &Partition) -> Vec<(i64, i32)> {
    read_all(p)
        .iter()
        .map(|b| (b.base_offset(), b.partition_leader_epoch()))
        .collect()
}

#[test]
fn batches_carry_their_leaders_epoch_and_the_history_survives_restarts() {
    let dir = TempDir::new("epochs");
    let (p, _) = open(&dir.partition_dir(), config(), 1_000);
    append(&p, &batch("a", &[1, 2]), 1_000);
    p.set_leader_epoch(3).unwrap();
    append(&p, &batch("b", &[3]), 1_000);
    p.set_leader_epoch(2).unwrap(); // an older image: ignored
    append(&p, &batch("c", &[4]), 1_000);
    p.set_leader_epoch(7).unwrap(); // led again, nothing appended yet
    assert_eq!(stamped_epochs(&p), vec![(0, 0), (2, 3), (3, 3)]);
    assert_eq!(p.end_offset_for_epoch(0), (0, 2));
    assert_eq!(p.end_offset_for_epoch(3), (3, 4));
    assert_eq!(p.end_offset_for_epoch(5), (3, 4));
    assert_eq!(p.end_offset_for_epoch(7), (7, 4));
    assert_eq!(p.end_offset_for_epoch(8), (-1, -1));
    let history = vec![(0, 0), (3, 2), (7, 4)];
    assert_eq!(
        super::super::partition::read_epoch_checkpoint_for_tests(&dir.partition_dir()).unwrap(),
        Some(history.clone())
    );
    drop(p);

    let (p, _) = open(&dir.partition_dir(), config(), 2_000);
    assert_eq!(p.leader_epoch(), 7);
    assert_eq!(p.end_offset_for_epoch(3), (3, 4));
    append(&p, &batch("d", &[5]), 2_000);
    assert_eq!(stamped_epochs(&p).last(), Some(&(4, 7)));
    drop(p);

    // Without its checkpoint, the history comes back from the stamps (the
    // epoch led with no batch yet is known from its first batch on).
    std::fs::remove_file(dir.partition_dir().join("leader-epoch-checkpoint")).unwrap();
    let (p, _) = open(&dir.partition_dir(), config(), 3_000);
    assert_eq!(p.end_offset_for_epoch(0), (0, 2));
    assert_eq!(p.end_offset_for_epoch(3), (3, 4));
    assert_eq!(p.end_offset_for_epoch(7), (7, 5));
}

#[test]
fn the_history_is_cut_with_the_log_start() {
    let dir = TempDir::new("epochs-start");
    let (p, _) = open(&dir.partition_dir(), config(), 1_000);
    append(&p, &batch("a", &[1, 2]), 1_000);
    p.set_leader_epoch(4).unwrap();
    append(&p, &batch("b", &[3, 4]), 1_000);
    assert_eq!(p.delete_records_before(3).unwrap(), 3);
    assert_eq!(
        super::super::partition::read_epoch_checkpoint_for_tests(&dir.partition_dir()).unwrap(),
        Some(vec![(4, 3)])
    );
    assert_eq!(
        p.end_offset_for_epoch(0),
        (0, 3),
        "before the first epoch kept"
    );
}
