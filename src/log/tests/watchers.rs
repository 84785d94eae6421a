//! Fetches park per partition: an append elsewhere wakes none of them.

use super::*;
use crate::log::watchers::{Awaited, Parked};
use futures_util::FutureExt;

fn woken(parked: &Parked) -> bool {
    parked.arrived().now_or_never().is_some()
}

#[test]
fn a_parked_fetch_wakes_only_for_a_move_of_its_own_partition() {
    let dir = TempDir::new("watchers");
    let (watched, _) = open(&dir.path().join("t-0"), config(), 1_000);
    let (other, _) = open(&dir.path().join("t-1"), config(), 1_000);
    let watched = Arc::new(watched);
    let follower = Parked::on(vec![Arc::clone(&watched)], Awaited::LogEnd);
    let consumer = Parked::on(vec![Arc::clone(&watched)], Awaited::HighWatermark);

    append(&other, &batch("elsewhere", &[1]), 1_000);
    assert!(
        !woken(&follower),
        "another partition's append wakes no follower here"
    );
    assert!(!woken(&consumer), "nor a consumer");

    let appended = watched.append(&batch("here", &[2]), 1_000).unwrap();
    assert!(woken(&follower), "the log end moved");
    assert!(
        !woken(&consumer),
        "not yet durable: the high watermark stays"
    );
    watched.mark_durable(appended.last_offset + 1);
    assert!(woken(&consumer), "the high watermark moved");
    assert!(!woken(&follower) && !woken(&consumer), "one wake per move");

    assert_eq!(watched.watchers(Awaited::LogEnd).parked(), 1);
    drop(follower);
    drop(consumer);
    assert_eq!(
        watched.watchers(Awaited::LogEnd).parked(),
        0,
        "a fetch that answered leaves"
    );
    assert_eq!(watched.watchers(Awaited::HighWatermark).parked(), 0);
}
