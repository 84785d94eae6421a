//! Transaction markers carry their coordinator's epoch: once a partition
//! has a producer's marker from a coordinator, a marker from an older one
//! (deposed, but still writing) is refused, before and after a restart.

use super::*;
use crate::log::partition::AppendError;
use crate::protocol::records::control::EndTxnMarker;

fn marker(p: &Partition, pid: i64, coordinator_epoch: i32) -> Result<(), AppendError> {
    let marker = EndTxnMarker {
        commit: false,
        coordinator_epoch,
    };
    let appended = p.append_marker(pid, 0, marker, 1_000)?;
    p.mark_durable(appended.last_offset + 1);
    Ok(())
}

#[test]
fn a_marker_from_an_older_coordinator_is_refused_across_a_restart() {
    let dir = TempDir::new("coordinator-fenced");
    {
        let (p, _) = open(&dir.partition_dir(), config(), 0);
        append(&p, &producer_batch(3, 0, 0, 2, true), 1_000);
        marker(&p, 3, 2).unwrap();
        marker(&p, 3, 5).unwrap();
        assert!(matches!(
            marker(&p, 3, 4),
            Err(AppendError::CoordinatorFenced {
                producer_id: 3,
                current: 5,
                got: 4
            })
        ));
        marker(&p, 9, 1).expect("another producer's markers are its own");
    }
    let (p, _) = open(&dir.partition_dir(), config(), 0);
    assert!(matches!(
        marker(&p, 3, 4),
        Err(AppendError::CoordinatorFenced { current: 5, .. })
    ));
    marker(&p, 3, 5).expect("the same coordinator again");
    let described = p.producers();
    let of = |pid| {
        described
            .iter()
            .find(|s| s.producer_id == pid)
            .map(|s| s.coordinator_epoch)
    };
    assert_eq!((of(3), of(9)), (Some(5), Some(1)));
}
