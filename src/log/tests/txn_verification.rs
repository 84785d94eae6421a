//! KIP-890's guards in a partition: a transactional batch that would open
//! its producer's transaction is appended only if no marker of that
//! producer came between its verification and its append.

use super::*;
use crate::log::partition::AppendError;
use crate::protocol::records::control::EndTxnMarker;

fn commit(p: &Partition, pid: i64, epoch: i16) {
    let marker = EndTxnMarker {
        commit: true,
        coordinator_epoch: 0,
    };
    let appended = p.append_marker(pid, epoch, marker, 1_000).unwrap();
    p.mark_durable(appended.last_offset + 1);
}

fn txn_batch(pid: i64, first_seq: i32) -> Bytes {
    producer_batch(pid, 0, first_seq, 2, true)
}

#[test]
fn a_verified_batch_opens_the_transaction_and_later_ones_need_no_asking() {
    let dir = TempDir::new("verify-open");
    let (p, _) = open(&dir.partition_dir(), config(), 0);
    let begun = p.begin_txn_verification(5, 0);
    assert!(
        !begun.open_here,
        "nothing open yet: the coordinator must be asked"
    );
    p.append_verified(&txn_batch(5, 0), 1_000, Some(begun.guard))
        .unwrap();
    assert!(p.begin_txn_verification(5, 0).open_here);
    assert!(
        !p.begin_txn_verification(5, 1).open_here,
        "another epoch's transaction is not"
    );
    assert!(
        !p.begin_txn_verification(6, 0).open_here,
        "nor another producer's"
    );
}

#[test]
fn a_marker_between_verification_and_append_refuses_the_batch() {
    let dir = TempDir::new("verify-late");
    let (p, _) = open(&dir.partition_dir(), config(), 0);
    let first = p.begin_txn_verification(5, 0);
    p.append_verified(&txn_batch(5, 0), 1_000, Some(first.guard))
        .unwrap();
    // The next batch starts while the transaction is open here, and its
    // marker comes before the batch is appended.
    let next = p.begin_txn_verification(5, 0);
    assert!(next.open_here);
    commit(&p, 5, 0);
    assert!(matches!(
        p.append_verified(&txn_batch(5, 2), 1_000, Some(next.guard)),
        Err(AppendError::TxnNotVerified { producer_id: 5 })
    ));
    // Verified by the coordinator before the marker, appended after it.
    let verified = p.begin_txn_verification(5, 0);
    assert!(!verified.open_here);
    commit(&p, 5, 0);
    let end = p.offsets().2;
    assert!(matches!(
        p.append_verified(&txn_batch(5, 2), 1_000, Some(verified.guard)),
        Err(AppendError::TxnNotVerified { producer_id: 5 })
    ));
    assert_eq!(p.offsets().2, end, "nothing was appended");
    assert_eq!(end, 4, "two batches of two records and two markers");
}

#[test]
fn pipelined_writes_share_a_guard_and_a_new_leader_forgets_them() {
    let dir = TempDir::new("verify-once");
    let (p, _) = open(&dir.partition_dir(), config(), 0);
    let first = p.begin_txn_verification(5, 0);
    let second = p.begin_txn_verification(5, 0);
    p.append_verified(&txn_batch(5, 0), 1_000, Some(first.guard))
        .unwrap();
    p.append_verified(&txn_batch(5, 2), 1_000, Some(second.guard))
        .unwrap();
    commit(&p, 5, 0);
    let begun = p.begin_txn_verification(5, 0);
    p.follow();
    p.lead(1, &[1], &[1], 1, 1_000);
    assert!(matches!(
        p.append_verified(&txn_batch(5, 4), 1_000, Some(begun.guard)),
        Err(AppendError::TxnNotVerified { .. })
    ));
}
