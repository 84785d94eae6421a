//! The log cleaner: latest value per key, tombstones and their delete
//! horizon, compaction lag bounds and the dirty ratio, the active segment
//! and everything from the last stable offset left alone, aborted
//! transactions and markers, offsets kept (reads across the gaps), and a
//! crash at every step of the swap.

use super::*;
use crate::log::cleaner::{clean_partition, CleanStats, CleanerOptions, SwapStep};
use crate::log::partition::Isolation;
use crate::protocol::records::EndTxnMarker;

type Row = (i64, String, Option<String>);

fn compact_config(segment_bytes: u64) -> LogConfig {
    let mut c = config();
    c.cleanup_policy = "compact".into();
    c.segment_bytes = segment_bytes;
    c.delete_retention_ms = 1_000;
    c
}

fn options(force: bool) -> CleanerOptions {
    CleanerOptions {
        force,
        ..CleanerOptions::with_buffer(1 << 20)
    }
}

fn clean(p: &Partition, now: i64, force: bool) -> Option<CleanStats> {
    clean_partition(p, now, &options(force)).unwrap()
}

/// A batch of (key, value) records at `ts`; a `None` value is a tombstone.
fn kv(pairs: &[(&str, Option<&str>)], ts: i64) -> Bytes {
    kv_builder(BatchBuilder::new(0), pairs, ts)
}

fn kv_builder(mut builder: BatchBuilder, pairs: &[(&str, Option<&str>)], ts: i64) -> Bytes {
    for (k, v) in pairs {
        builder.push(NewRecord::new(
            ts,
            Some(Bytes::from(k.to_string())),
            v.map(|v| Bytes::from(v.to_string())),
        ));
    }
    builder.build().unwrap()
}

fn txn_batch(pid: i64, seq: i32, pairs: &[(&str, Option<&str>)], ts: i64) -> Bytes {
    kv_builder(
        BatchBuilder::new(0)
            .producer(pid, 0, seq)
            .transactional(true),
        pairs,
        ts,
    )
}

fn marker(p: &Partition, pid: i64, commit: bool, now: i64) {
    let m = EndTxnMarker {
        commit,
        coordinator_epoch: 0,
    };
    let appended = p.append_marker(pid, 0, m, now).unwrap();
    p.mark_durable(appended.last_offset + 1);
}

/// Every batch readable from the log start, fetch by fetch, tolerating
/// gaps; checks each fetch starts at or after the offset asked for.
fn all_batches(p: &Partition) -> Vec<RecordBatch> {
    let (start, hw, _) = p.offsets();
    let mut next = start;
    let mut out: Vec<RecordBatch> = Vec::new();
    while next < hw {
        let got = batches(p.read(next, 1 << 20).unwrap().records);
        if got.is_empty() {
            break;
        }
        for b in got {
            assert!(b.last_offset() >= next, "a read went backwards");
            if let Some(prev) = out.last() {
                assert!(
                    b.base_offset() > prev.last_offset(),
                    "offsets must increase"
                );
            }
            next = b.next_offset();
            out.push(b);
        }
    }
    out
}

/// Every data record as (offset, key, value), in offset order.
fn contents(p: &Partition) -> Vec<Row> {
    all_batches(p)
        .iter()
        .filter(|b| !b.is_control())
        .flat_map(|b| {
            b.records()
                .map(|r| {
                    let r = r.unwrap();
                    let text = |b: Option<Bytes>| b.map(|b| String::from_utf8(b.to_vec()).unwrap());
                    (r.offset, text(r.key).unwrap(), text(r.value))
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

fn row(offset: i64, key: &str, value: Option<&str>) -> Row {
    (offset, key.to_string(), value.map(str::to_string))
}

/// Ten batches (one segment each) of keys k0..k4, values "v{batch}-{key}";
/// the last batch is in the active segment.
fn ten_rounds(p: &Partition) {
    for i in 0..10 {
        let values: Vec<String> = (0..5).map(|k| format!("v{i}-k{k}")).collect();
        let keys: Vec<String> = (0..5).map(|k| format!("k{k}")).collect();
        let pairs: Vec<(&str, Option<&str>)> = keys
            .iter()
            .zip(&values)
            .map(|(k, v)| (k.as_str(), Some(v.as_str())))
            .collect();
        append(p, &kv(&pairs, 1_000 + i), 1_000 + i);
    }
}

fn ten_rounds_cleaned() -> Vec<Row> {
    (8..10)
        .flat_map(|i| (0..5).map(move |k| (i * 5 + k, format!("k{k}"), Some(format!("v{i}-k{k}")))))
        .collect()
}

#[test]
fn the_latest_record_per_key_survives_at_its_offset_and_the_active_segment_is_untouched() {
    let dir = TempDir::new("clean-keys");
    let (p, _) = open(&dir.partition_dir(), compact_config(200), 0);
    ten_rounds(&p);
    assert_eq!(segment_bases(&dir.partition_dir()).len(), 10);
    let before = contents(&p);
    assert_eq!(before.len(), 50);
    let stats = clean(&p, 100_000, false).expect("a fully dirty log is due");
    assert_eq!((stats.records_read, stats.records_kept), (45, 5));
    assert_eq!(stats.cleaned_up_to, 45);
    // Sealed segments keep only batch 8's records (the latest there); the
    // active segment's batch 9 repeats every key but is not cleaned.
    assert_eq!(contents(&p), ten_rounds_cleaned());
    assert_eq!(p.offsets(), (0, 50, 50));
    // Nothing new is dirty: no pass is due.
    assert!(clean(&p, 100_000, false).is_none());
    // A forced pass merges the now tiny segments into one.
    clean(&p, 100_000, true).unwrap();
    assert_eq!(segment_bases(&dir.partition_dir()), vec![0, 45]);
    assert_eq!(contents(&p), ten_rounds_cleaned());
}

#[test]
fn reads_and_lookups_cross_the_gaps_and_recovery_accepts_them() {
    let dir = TempDir::new("clean-gaps");
    let (p, _) = open(&dir.partition_dir(), compact_config(200), 0);
    ten_rounds(&p);
    clean(&p, 100_000, false).unwrap();
    // A fetch inside a gap returns the next batch.
    for offset in [0, 3, 39, 40, 42] {
        let got = batches(p.read(offset, 1 << 20).unwrap().records);
        assert_eq!(got[0].base_offset(), 40, "fetch at {offset}");
    }
    assert_eq!(p.offset_for_timestamp(0).unwrap(), Some((40, 1_008)));
    assert_eq!(p.offset_for_timestamp(1_009).unwrap(), Some((45, 1_009)));
    // Reopened with its indexes, then without them (a full scan of each
    // cleaned segment): the same log.
    drop(p);
    let (p, recovery) = open(&dir.partition_dir(), compact_config(200), 0);
    assert_eq!(recovery.truncated_bytes, 0);
    assert_eq!(contents(&p), ten_rounds_cleaned());
    drop(p);
    for base in segment_bases(&dir.partition_dir()) {
        let _ = std::fs::remove_file(segment_file(&dir.partition_dir(), base, "index"));
        let _ = std::fs::remove_file(segment_file(&dir.partition_dir(), base, "timeindex"));
    }
    let (p, recovery) = open(&dir.partition_dir(), compact_config(200), 0);
    assert_eq!(recovery.truncated_bytes, 0);
    assert_eq!(contents(&p), ten_rounds_cleaned());
    assert_eq!(p.offsets(), (0, 50, 50));
}

#[test]
fn only_topics_with_compact_in_their_policy_are_cleaned() {
    let dir = TempDir::new("clean-policy");
    let mut c = compact_config(200);
    c.cleanup_policy = "delete".into();
    let (p, _) = open(&dir.partition_dir(), c.clone(), 0);
    ten_rounds(&p);
    assert!(clean(&p, 100_000, true).is_none());
    assert_eq!(contents(&p).len(), 50);
    c.cleanup_policy = "compact,delete".into();
    p.set_config(c);
    assert!(clean(&p, 100_000, false).is_some());
    assert_eq!(contents(&p), ten_rounds_cleaned());
}

#[test]
fn tombstones_survive_one_pass_and_go_after_the_delete_horizon() {
    let dir = TempDir::new("clean-tombstones");
    let (p, _) = open(&dir.partition_dir(), compact_config(100), 0);
    append(
        &p,
        &kv(&[("k1", Some("a")), ("k2", Some("b"))], 1_000),
        1_000,
    );
    append(&p, &kv(&[("k1", None)], 1_001), 1_001);
    append(&p, &kv(&[("k3", Some("c"))], 1_002), 1_002);
    assert_eq!(segment_bases(&dir.partition_dir()), vec![0, 2, 3]);
    clean(&p, 5_000, false).unwrap();
    assert_eq!(
        contents(&p),
        vec![
            row(1, "k2", Some("b")),
            row(2, "k1", None),
            row(3, "k3", Some("c"))
        ]
    );
    // The tombstone's batch carries its delete horizon (now + delete.retention.ms)
    // as its base timestamp; the record's own timestamp is unchanged.
    let all = all_batches(&p);
    let tombstone = all.iter().find(|b| b.base_offset() == 2).unwrap();
    assert!(tombstone.has_delete_horizon());
    assert_eq!(tombstone.base_timestamp(), 6_000);
    assert_eq!(records(tombstone), vec![(2, 1_001, String::new())]);
    assert!(!all[0].has_delete_horizon(), "no tombstone, no horizon");
    // Before the horizon nothing is due; at it the pass runs by itself.
    assert!(clean(&p, 5_999, false).is_none());
    let stats = clean(&p, 6_000, false).expect("the horizon makes a pass due");
    assert_eq!(stats.tombstones_removed, 1);
    assert_eq!(
        contents(&p),
        vec![row(1, "k2", Some("b")), row(3, "k3", Some("c"))]
    );
    assert!(clean(&p, 1_000_000, false).is_none());
}

#[test]
fn min_compaction_lag_protects_young_records() {
    let dir = TempDir::new("clean-min-lag");
    let mut c = compact_config(100);
    c.min_compaction_lag_ms = 1_000;
    let (p, _) = open(&dir.partition_dir(), c, 0);
    for (i, ts) in [1_000, 2_000, 3_000, 4_000].into_iter().enumerate() {
        let value = format!("v{i}");
        append(&p, &kv(&[("k", Some(&value))], ts), ts);
    }
    // At 2500 only the first segment (max timestamp 1000) is old enough;
    // alone it holds nothing to remove.
    let stats = clean(&p, 2_500, true).unwrap();
    assert_eq!((stats.segments_read, stats.records_kept), (1, 1));
    assert_eq!(contents(&p).len(), 4);
    // Later, all three sealed segments are: only the latest of them stays.
    clean(&p, 10_000, true).unwrap();
    assert_eq!(
        contents(&p),
        vec![row(2, "k", Some("v2")), row(3, "k", Some("v3"))]
    );
}

#[test]
fn the_dirty_ratio_gates_a_pass_unless_max_compaction_lag_forces_it() {
    let dir = TempDir::new("clean-ratio");
    let mut c = compact_config(100);
    c.max_compaction_lag_ms = 1_000;
    let (p, _) = open(&dir.partition_dir(), c, 0);
    for i in 0..20 {
        append(&p, &kv(&[(&format!("u{i}"), Some("x"))], 1_000), 1_000);
    }
    clean(&p, 1_000, false).expect("all dirty: ratio 1");
    append(&p, &kv(&[("u0", Some("y"))], 1_000), 1_000);
    append(&p, &kv(&[("u1", Some("y"))], 1_000), 1_000);
    // Two dirty segments out of 21: below the ratio, and not yet overdue.
    assert!(clean(&p, 1_500, false).is_none());
    assert_eq!(contents(&p).len(), 22);
    let stats = clean(&p, 2_001, false).expect("max.compaction.lag.ms forces a pass");
    assert_eq!(stats.records_kept, 20);
    let rows = contents(&p);
    assert_eq!(rows.len(), 21);
    assert!(!rows.contains(&row(0, "u0", Some("x"))));
    assert!(rows.contains(&row(20, "u0", Some("y"))));
}

#[test]
fn aborted_transactions_are_dropped_and_markers_go_after_the_horizon() {
    let dir = TempDir::new("clean-txn");
    let (p, _) = open(&dir.partition_dir(), compact_config(100), 0);
    // pid 7: an aborted transaction, then a committed one; pid 8: committed.
    append(
        &p,
        &txn_batch(7, 0, &[("k1", Some("aborted"))], 1_000),
        1_000,
    ); // 0
    marker(&p, 7, false, 1_000); // 1
    append(
        &p,
        &txn_batch(8, 0, &[("k2", Some("committed"))], 1_000),
        1_000,
    ); // 2
    marker(&p, 8, true, 1_000); // 3
    append(&p, &txn_batch(7, 1, &[("k3", Some("later"))], 1_000), 1_000); // 4
    marker(&p, 7, true, 1_000); // 5
    append(&p, &kv(&[("k4", Some("plain"))], 1_000), 1_000); // 6, active
    assert_eq!(p.last_stable_offset(), 7);
    let committed = |p: &Partition| {
        p.read_isolated(0, 1 << 20, Isolation::ReadCommitted)
            .unwrap()
    };
    assert_eq!(committed(&p).aborted.len(), 1);

    clean(&p, 5_000, true).unwrap();
    assert_eq!(
        contents(&p),
        vec![
            row(2, "k2", Some("committed")),
            row(4, "k3", Some("later")),
            row(6, "k4", Some("plain")),
        ]
    );
    let markers: Vec<i64> = all_batches(&p)
        .iter()
        .filter(|b| b.is_control())
        .map(|b| b.base_offset())
        .collect();
    assert_eq!(
        markers,
        vec![1, 3, 5],
        "every marker survives the first pass"
    );
    assert_eq!(committed(&p).aborted.len(), 1);

    // After the horizon the abort marker goes (its data is gone, and so
    // is its aborted-transaction entry); commit markers whose data remains stay.
    clean(&p, 7_000, false).expect("the horizon makes a pass due");
    let markers: Vec<i64> = all_batches(&p)
        .iter()
        .filter(|b| b.is_control())
        .map(|b| b.base_offset())
        .collect();
    assert_eq!(markers, vec![3, 5]);
    assert!(committed(&p).aborted.is_empty());
    assert_eq!(contents(&p).len(), 3);

    // After a restart (the txn index files are rewritten) the same holds,
    // and the producers' state is intact.
    let producers = p.producers();
    drop(p);
    let (p, _) = open(&dir.partition_dir(), compact_config(100), 0);
    assert!(committed(&p).aborted.is_empty());
    assert_eq!(p.producers(), producers);
    assert_eq!(p.last_stable_offset(), 7);
}

#[test]
fn a_producers_last_batch_stays_as_an_empty_batch_for_its_sequence() {
    let dir = TempDir::new("clean-producer");
    let (p, _) = open(&dir.partition_dir(), compact_config(100), 0);
    let idempotent = |seq: i32, value: &str| {
        kv_builder(
            BatchBuilder::new(0).producer(9, 0, seq),
            &[("k", Some(value))],
            1_000,
        )
    };
    append(&p, &idempotent(0, "a"), 1_000); // 0
    append(&p, &idempotent(1, "b"), 1_000); // 1: pid 9's last batch
    append(&p, &kv(&[("k", Some("c"))], 1_000), 1_000); // 2
    append(&p, &kv(&[("z", Some("d"))], 1_000), 1_000); // 3, active
    clean(&p, 5_000, true).unwrap();
    let all = all_batches(&p);
    let bases: Vec<(i64, i32)> = all
        .iter()
        .map(|b| (b.base_offset(), b.record_count()))
        .collect();
    assert_eq!(bases, vec![(1, 0), (2, 1), (3, 1)]);
    // Without any snapshot the state is replayed from the log: the retried
    // last batch is still recognised as a duplicate.
    drop(p);
    for entry in std::fs::read_dir(dir.partition_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|x| x == "snapshot") {
            std::fs::remove_file(path).unwrap();
        }
    }
    let (p, _) = open(&dir.partition_dir(), compact_config(100), 0);
    let retry = p.append(&idempotent(1, "b"), 6_000).unwrap();
    assert!(retry.duplicate);
    assert_eq!(retry.base_offset, 1);
}

#[test]
fn nothing_at_or_past_the_last_stable_offset_is_cleaned() {
    let dir = TempDir::new("clean-lso");
    let (p, _) = open(&dir.partition_dir(), compact_config(100), 0);
    append(&p, &kv(&[("k", Some("a"))], 1_000), 1_000); // 0
    append(&p, &txn_batch(5, 0, &[("t", Some("open"))], 1_000), 1_000); // 1: stays open
    append(&p, &kv(&[("k", Some("b"))], 1_000), 1_000); // 2
    append(&p, &kv(&[("k", Some("c"))], 1_000), 1_000); // 3
    append(&p, &kv(&[("x", Some("d"))], 1_000), 1_000); // 4, active
    assert_eq!(p.last_stable_offset(), 1);
    let before = contents(&p);
    let stats = clean(&p, 5_000, true).unwrap();
    assert_eq!(stats.segments_read, 1, "only the segment below the LSO");
    assert_eq!(contents(&p), before, "k=a is the latest below the LSO");
    // Once the transaction ends, the rest is cleanable.
    marker(&p, 5, true, 1_000);
    append(&p, &kv(&[("y", Some("e"))], 1_000), 1_000); // rolls again
    clean(&p, 5_000, true).unwrap();
    assert_eq!(
        contents(&p),
        vec![
            row(1, "t", Some("open")),
            row(3, "k", Some("c")),
            row(4, "x", Some("d")),
            row(6, "y", Some("e")),
        ]
    );
}

#[test]
fn compressed_batches_stay_compressed_and_keep_their_offset_deltas() {
    let dir = TempDir::new("clean-compressed");
    let (p, _) = open(&dir.partition_dir(), compact_config(300), 0);
    let batch = kv_builder(
        BatchBuilder::new(0).compression(Compression::Zstd),
        &[
            ("a", Some("1")),
            ("b", Some("1")),
            ("a", Some("2")),
            ("c", Some("1")),
        ],
        1_000,
    );
    append(&p, &batch, 1_000);
    append(&p, &kv(&[("b", Some("2"))], 1_000), 1_000);
    append(&p, &kv(&[("z", Some("z"))], 1_000), 1_000);
    p.set_config(compact_config(100));
    append(&p, &kv(&[("y", Some("y"))], 1_000), 1_000); // rolls: the rest is sealed
    clean(&p, 5_000, true).unwrap();
    let all = all_batches(&p);
    assert_eq!(all[0].compression().unwrap(), Compression::Zstd);
    assert_eq!(all[0].last_offset(), 3, "the last offset delta is kept");
    assert_eq!(
        contents(&p),
        vec![
            row(2, "a", Some("2")),
            row(3, "c", Some("1")),
            row(4, "b", Some("2")),
            row(5, "z", Some("z")),
            row(6, "y", Some("y")),
        ]
    );
}

fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.unwrap().file_name().to_str().map(str::to_string))
        .filter(|n| n.ends_with(".cleaned") || n.ends_with(".swap"))
        .collect()
}

#[test]
fn a_crash_at_any_step_of_the_swap_loses_nothing_and_duplicates_nothing() {
    let steps = [
        (SwapStep::CleanedWritten, false),
        (SwapStep::IndexesSwapped, false),
        (SwapStep::LogSwapped, true),
        (SwapStep::OldDeleted, true),
    ];
    for (step, committed) in steps {
        let dir = TempDir::new("clean-crash");
        let (p, _) = open(&dir.partition_dir(), compact_config(200), 0);
        ten_rounds(&p);
        let original = contents(&p);
        // One group for all sealed segments, so the swap replaces several.
        p.set_config(compact_config(1 << 20));
        let crash = CleanerOptions {
            failpoint: Some(Arc::new(move |at| {
                if at == step {
                    Err(std::io::Error::other("injected crash"))
                } else {
                    Ok(())
                }
            })),
            ..options(true)
        };
        assert!(clean_partition(&p, 100_000, &crash).is_err(), "{step:?}");
        drop(p); // the "crash": nothing cleaned up in-process
        let (p, _) = open(&dir.partition_dir(), compact_config(1 << 20), 0);
        assert!(leftovers(&dir.partition_dir()).is_empty(), "{step:?}");
        let expected = if committed {
            ten_rounds_cleaned()
        } else {
            original.clone()
        };
        assert_eq!(contents(&p), expected, "after a crash at {step:?}");
        assert_eq!(p.offsets(), (0, 50, 50));
        // The next pass completes the work.
        clean(&p, 100_000, true).unwrap();
        assert_eq!(contents(&p), ten_rounds_cleaned(), "{step:?}");
        assert_eq!(segment_bases(&dir.partition_dir()), vec![0, 45]);
        append(&p, &kv(&[("k0", Some("new"))], 2_000), 2_000);
        assert_eq!(contents(&p).last(), Some(&row(50, "k0", Some("new"))));
    }
}

#[test]
fn retention_leaves_compact_only_logs_alone() {
    let dir = TempDir::new("clean-retention");
    let mut c = compact_config(100);
    c.retention_ms = 10;
    let (p, _) = open(&dir.partition_dir(), c.clone(), 0);
    ten_rounds(&p);
    assert_eq!(p.enforce_retention(1_000_000).unwrap(), 0);
    c.cleanup_policy = "compact,delete".into();
    p.set_config(c);
    assert_eq!(p.enforce_retention(1_000_000).unwrap(), 9);
}

#[test]
fn a_pass_racing_retention_gives_up_cleanly() {
    let dir = TempDir::new("clean-race");
    let mut c = compact_config(200);
    c.cleanup_policy = "compact,delete".into();
    c.retention_bytes = 600;
    let (p, _) = open(&dir.partition_dir(), c, 0);
    let p = Arc::new(p);
    ten_rounds(&p);
    let racer = Arc::clone(&p);
    let racing = CleanerOptions {
        failpoint: Some(Arc::new(move |at| {
            if at == SwapStep::CleanedWritten {
                // Retention removes segments between the write and the swap.
                assert!(racer.enforce_retention(100_000).unwrap() > 0);
            }
            Ok(())
        })),
        ..options(true)
    };
    assert_eq!(clean_partition(&p, 100_000, &racing).unwrap(), None);
    assert!(leftovers(&dir.partition_dir()).is_empty());
    let (start, _, _) = p.offsets();
    let rows = contents(&p);
    assert_eq!(rows.first().map(|r| r.0), Some(start));
    assert_eq!(
        rows.len() as i64,
        50 - start,
        "nothing cleaned, nothing lost"
    );
    // The next pass works on what retention left.
    clean(&p, 100_000, true).unwrap();
    assert_eq!(contents(&p), ten_rounds_cleaned());
}
