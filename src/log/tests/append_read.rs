//! Appends assign offsets; reads return whole batches up to the high watermark.

use super::*;
use crate::config::log_config::TimestampType as LogTimestampType;
use crate::log::LogManager;
use crate::protocol::records::TimestampType;
use std::collections::BTreeMap;

/// Appends batches of 1, 3, 5, 2 and 4 records; returns (input, base offset, record count).
fn five_batches(p: &Partition, pad: usize) -> Vec<(Bytes, i64, i64)> {
    let mut out = Vec::new();
    for (i, n) in [1i64, 3, 5, 2, 4].into_iter().enumerate() {
        let timestamps: Vec<i64> = (0..n).map(|j| 1_000 + 10 * i as i64 + j).collect();
        let input = padded_batch(&format!("b{i}"), &timestamps, pad * (i + 1));
        let appended = append(p, &input, 5_000);
        out.push((input, appended.base_offset, n));
    }
    out
}

#[test]
fn offsets_are_assigned_contiguously_across_batches() {
    let dir = TempDir::new("contiguous");
    let (p, recovery) = open(&dir.partition_dir(), config(), 5_000);
    assert_eq!(
        (
            recovery.segments,
            recovery.truncated_bytes,
            recovery.indexes_rebuilt
        ),
        (1, 0, 0)
    );
    assert_eq!(p.offsets(), (0, 0, 0));
    let mut next = 0;
    for (i, n) in [1i64, 3, 5, 2, 4].into_iter().enumerate() {
        let timestamps: Vec<i64> = (0..n).map(|j| 1_000 + j).collect();
        let appended = append(&p, &batch(&format!("b{i}"), &timestamps), 5_000);
        assert_eq!(
            (appended.base_offset, appended.last_offset),
            (next, next + n - 1)
        );
        assert_eq!(appended.log_append_time, -1, "CreateTime topic");
        assert_eq!(appended.log_start_offset, 0);
        assert!(
            appended.sync.is_some(),
            "durable mode hands back the file to fsync"
        );
        next += n;
    }
    assert_eq!(p.offsets(), (0, 15, 15));

    let all = read_all(&p);
    assert_eq!(all.len(), 5);
    let flat: Vec<(i64, String)> = all
        .iter()
        .flat_map(records)
        .map(|(o, _, v)| (o, v))
        .collect();
    let expected: Vec<(i64, String)> = [1, 3, 5, 2, 4]
        .into_iter()
        .enumerate()
        .flat_map(|(i, n)| (0..n).map(move |j| format!("b{i}/{j}")))
        .enumerate()
        .map(|(o, v)| (o as i64, v))
        .collect();
    assert_eq!(flat, expected);
}

#[test]
fn stored_batches_are_the_input_with_offset_and_epoch_assigned() {
    let dir = TempDir::new("stored");
    let (p, _) = open(&dir.partition_dir(), config(), 5_000);
    let inputs = five_batches(&p, 7);
    for (got, (input, base, _)) in read_all(&p).iter().zip(&inputs) {
        assert_eq!(got.as_bytes(), &stored(input, *base));
        assert_eq!(got.partition_leader_epoch(), 0);
        assert_eq!(got.timestamp_type(), TimestampType::CreateTime);
    }
}

#[test]
fn a_read_from_any_offset_starts_with_the_batch_containing_it() {
    // Dense, sparse and default index intervals take different index paths.
    for interval in [0, 150, 4096] {
        let dir = TempDir::new("any-offset");
        let (p, _) = open(
            &dir.partition_dir(),
            LogConfig {
                index_interval_bytes: interval,
                ..config()
            },
            5_000,
        );
        let inputs = five_batches(&p, 20);
        let (_, hw, leo) = p.offsets();
        assert_eq!((hw, leo), (15, 15));
        for offset in 0..hw {
            let containing = inputs
                .iter()
                .position(|(_, base, n)| *base <= offset && offset < base + n)
                .unwrap();
            let got = batches(p.read(offset, 1 << 20).unwrap().records);
            let want: Vec<Bytes> = inputs[containing..]
                .iter()
                .map(|(input, base, _)| stored(input, *base))
                .collect();
            let got_bytes: Vec<Bytes> = got.iter().map(|b| b.as_bytes().clone()).collect();
            assert_eq!(
                got_bytes, want,
                "interval {interval}, read from offset {offset}"
            );

            let one = batches(p.read(offset, 1).unwrap().records);
            assert_eq!(
                one.len(),
                1,
                "a tiny max_bytes still returns one whole batch"
            );
            assert_eq!(one[0].base_offset(), inputs[containing].1);
        }
    }
}

#[test]
fn max_bytes_is_respected_but_at_least_one_batch_is_returned() {
    let dir = TempDir::new("max-bytes");
    let (p, _) = open(&dir.partition_dir(), config(), 5_000);
    let inputs = five_batches(&p, 30);
    let sizes: Vec<usize> = inputs.iter().map(|(input, _, _)| input.len()).collect();
    let total: usize = sizes.iter().sum();
    let count = |offset: i64, max: usize| {
        let records = p.read(offset, max).unwrap().records;
        assert!(
            records.len() <= max || batches(records.clone()).len() == 1,
            "only a single batch may exceed max_bytes"
        );
        batches(records).len()
    };
    assert_eq!(count(0, 0), 1);
    assert_eq!(count(0, sizes[0] - 1), 1);
    assert_eq!(count(0, sizes[0]), 1);
    assert_eq!(count(0, sizes[0] + sizes[1] - 1), 1);
    assert_eq!(count(0, sizes[0] + sizes[1]), 2);
    assert_eq!(count(0, sizes[0] + sizes[1] + sizes[2] - 1), 2);
    assert_eq!(count(0, total - 1), 4);
    assert_eq!(count(0, total), 5);
    assert_eq!(count(0, usize::MAX), 5);
    // From the middle of the third batch (offsets 4..=8).
    assert_eq!(count(6, 0), 1);
    assert_eq!(count(6, sizes[2] + sizes[3]), 2);
    assert_eq!(count(6, sizes[2] + sizes[3] + sizes[4]), 3);
}

#[test]
fn durable_mode_hides_appends_until_they_are_marked_durable() {
    let dir = TempDir::new("durable");
    let (p, _) = open(&dir.partition_dir(), config(), 5_000);
    let visible = [
        append(&p, &batch("a", &[1, 2]), 5_000),
        append(&p, &batch("b", &[3]), 5_000),
    ];
    let hidden: Vec<Appended> = ["c", "d", "e"]
        .iter()
        .map(|tag| p.append(&batch(tag, &[10, 11, 12]), 5_000).unwrap())
        .collect();
    assert!(hidden.iter().all(|a| a.sync.is_some()));
    assert_eq!(
        p.offsets(),
        (0, 3, 12),
        "appended but not durable: the log end moves, the high watermark does not"
    );

    let read = p.read(0, 1 << 20).unwrap();
    assert_eq!(read.high_watermark, 3);
    let got: Vec<i64> = batches(read.records)
        .iter()
        .map(RecordBatch::base_offset)
        .collect();
    assert_eq!(got, vec![visible[0].base_offset, visible[1].base_offset]);
    assert!(
        p.read(3, 1 << 20).unwrap().records.is_empty(),
        "reading at the high watermark is empty, not an error"
    );
    // Above the high watermark but within the log: nothing yet, as Kafka
    // answers (a consumer waits rather than resetting its position).
    for offset in [4, 6, 11, 12] {
        let read = p.read(offset, 1 << 20).expect("within the log");
        assert!(read.records.is_empty(), "offset {offset}");
        assert_eq!(read.high_watermark, 3);
    }
    assert_eq!(
        p.read(13, 1 << 20).err(),
        Some(ReadError::OffsetOutOfRange {
            log_start_offset: 0,
            high_watermark: 3
        }),
        "past the log end"
    );
    assert_eq!(
        p.offset_for_timestamp(10).unwrap(),
        None,
        "lookups do not see data above the high watermark"
    );
    assert_eq!(p.offset_of_max_timestamp().unwrap(), Some((2, 3)));

    // The flusher completes the first hidden append: exactly its batch appears.
    p.mark_durable(hidden[0].last_offset + 1);
    assert_eq!(p.offsets(), (0, 6, 12));
    let got: Vec<i64> = batches(p.read(0, 1 << 20).unwrap().records)
        .iter()
        .map(RecordBatch::base_offset)
        .collect();
    assert_eq!(got, vec![0, 2, 3]);
    assert_eq!(p.offset_for_timestamp(10).unwrap(), Some((3, 10)));
    // A late completion of an earlier append never moves the watermark back,
    // and one past the log end is clamped to it.
    p.mark_durable(3);
    assert_eq!(p.offsets(), (0, 6, 12));
    p.mark_durable(1_000);
    assert_eq!(p.offsets(), (0, 12, 12));
    assert_eq!(read_all(&p).len(), 5);
}

#[test]
fn offsets_outside_the_log_are_out_of_range() {
    let dir = TempDir::new("out-of-range");
    let (p, _) = open(&dir.partition_dir(), config(), 5_000);
    let empty = p.read(0, 100).unwrap();
    assert!(empty.records.is_empty());
    assert_eq!((empty.log_start_offset, empty.high_watermark), (0, 0));
    assert!(is_out_of_range(p.read(1, 100)));
    assert!(is_out_of_range(p.read(-1, 100)));

    five_batches(&p, 0);
    assert_eq!(
        p.read(-1, 100).err(),
        Some(ReadError::OffsetOutOfRange {
            log_start_offset: 0,
            high_watermark: 15
        })
    );
    assert_eq!(
        p.read(16, 100).err(),
        Some(ReadError::OffsetOutOfRange {
            log_start_offset: 0,
            high_watermark: 15
        })
    );
    assert_eq!(
        p.read(i64::MAX, 100).err(),
        Some(ReadError::OffsetOutOfRange {
            log_start_offset: 0,
            high_watermark: 15
        })
    );
    assert!(is_out_of_range(p.read(i64::MIN, 100)));
    let at_end = p.read(15, 100).unwrap();
    assert!(at_end.records.is_empty());
    assert_eq!(at_end.high_watermark, 15);
}

#[test]
fn page_cache_mode_acknowledges_at_once_and_fsyncs_every_flush_messages() {
    let dir = TempDir::new("page-cache");
    let (p, _) = open(
        &dir.partition_dir(),
        LogConfig {
            flush_messages: Some(5),
            ..config()
        },
        5_000,
    );
    let syncs: Vec<bool> = (0..6)
        .map(|i| {
            p.append(&batch(&format!("p{i}"), &[1, 2]), 5_000)
                .unwrap()
                .sync
                .is_some()
        })
        .collect();
    // 2, 4, 6 (sync, reset), 2, 4, 6 (sync) messages since the last fsync.
    assert_eq!(syncs, vec![false, false, true, false, false, true]);
    assert_eq!(
        p.offsets(),
        (0, 12, 12),
        "no fsync needed before the data is visible"
    );
    assert_eq!(read_all(&p).len(), 6);
}

#[test]
fn log_append_time_topics_get_the_broker_timestamp_and_a_valid_crc() {
    let dir = TempDir::new("log-append-time");
    let cfg = LogConfig {
        timestamp_type: LogTimestampType::LogAppendTime,
        ..config()
    };
    let (p, _) = open(&dir.partition_dir(), cfg.clone(), 5_000);
    let now = 1_700_000_000_123;
    let inputs = [
        batch("plain", &[10, 30, 20]),
        compressed_batch("lz4", &[40, 50], 100, Compression::Lz4),
        compressed_batch("zstd", &[60], 0, Compression::Zstd),
    ];
    for (i, input) in inputs.iter().enumerate() {
        let appended = append(&p, input, now + i as i64);
        assert_eq!(appended.log_append_time, now + i as i64);
    }
    let check = |p: &Partition| {
        let all = read_all(p);
        assert_eq!(all.len(), 3);
        for (i, (got, input)) in all.iter().zip(&inputs).enumerate() {
            let original = RecordBatch::new(input.clone()).unwrap();
            let at = now + i as i64;
            assert_eq!(got.timestamp_type(), TimestampType::LogAppendTime);
            assert_eq!(got.max_timestamp(), at);
            assert_eq!(
                got.base_timestamp(),
                original.base_timestamp(),
                "only the max timestamp is patched"
            );
            assert_eq!(got.compression().unwrap(), original.compression().unwrap());
            got.verify_crc().unwrap();
            let recs = records(got);
            assert!(
                recs.iter().all(|(_, ts, _)| *ts == at),
                "records report the append time"
            );
            let values: Vec<String> = recs.into_iter().map(|(_, _, v)| v).collect();
            let want: Vec<String> = records(&original).into_iter().map(|(_, _, v)| v).collect();
            assert_eq!(values, want);
        }
        assert_eq!(p.offset_for_timestamp(now + 1).unwrap(), Some((3, now + 1)));
        assert_eq!(p.offset_of_max_timestamp().unwrap(), Some((5, now + 2)));
    };
    check(&p);
    drop(p);
    // Recovery validates the patched CRCs: nothing is cut.
    let (p, recovery) = open(&dir.partition_dir(), cfg, now + 10);
    assert_eq!(recovery.truncated_bytes, 0);
    assert_eq!(p.offsets(), (0, 6, 6));
    check(&p);
}

#[test]
fn segments_roll_by_segment_bytes_and_reads_cross_them() {
    let dir = TempDir::new("roll-bytes");
    let one = padded_batch("r0", &[1, 2, 3], 40).len() as u64;
    let cfg = LogConfig {
        segment_bytes: 3 * one + one / 2,
        index_interval_bytes: 0,
        ..config()
    };
    let (p, _) = open(&dir.partition_dir(), cfg.clone(), 5_000);
    let mut inputs = Vec::new();
    for i in 0..10 {
        let input = padded_batch(&format!("r{i}"), &[100 * i, 100 * i + 1, 100 * i + 2], 40);
        assert_eq!(input.len() as u64, one);
        let appended = append(&p, &input, 5_000);
        inputs.push((input, appended.base_offset));
    }
    let pdir = dir.partition_dir();
    assert_eq!(
        segment_bases(&pdir),
        vec![0, 9, 18, 27],
        "three batches of three records per segment"
    );
    for base in [0, 9, 18, 27] {
        let len = std::fs::metadata(segment_file(&pdir, base, "log"))
            .unwrap()
            .len();
        assert!(len <= cfg.segment_bytes, "segment {base} holds {len} bytes");
        let sealed = base != 27;
        assert_eq!(
            segment_file(&pdir, base, "index").exists(),
            sealed,
            "sealed segments have index files"
        );
        assert_eq!(segment_file(&pdir, base, "timeindex").exists(), sealed);
    }
    // One read stays within a segment; the next one continues in the next.
    let first = batches(p.read(3, 1 << 20).unwrap().records);
    assert_eq!(
        first
            .iter()
            .map(RecordBatch::base_offset)
            .collect::<Vec<_>>(),
        vec![3, 6]
    );
    let second = batches(p.read(9, 1 << 20).unwrap().records);
    assert_eq!(
        second
            .iter()
            .map(RecordBatch::base_offset)
            .collect::<Vec<_>>(),
        vec![9, 12, 15]
    );
    let last = batches(p.read(29, 1 << 20).unwrap().records);
    assert_eq!(
        last.iter()
            .map(RecordBatch::base_offset)
            .collect::<Vec<_>>(),
        vec![27]
    );

    let check = |p: &Partition| {
        let all = read_all(p);
        let got: Vec<Bytes> = all.iter().map(|b| b.as_bytes().clone()).collect();
        let want: Vec<Bytes> = inputs
            .iter()
            .map(|(input, base)| stored(input, *base))
            .collect();
        assert_eq!(got, want);
    };
    check(&p);
    drop(p);
    let (p, recovery) = open(&pdir, cfg.clone(), 6_000);
    assert_eq!(
        (
            recovery.segments,
            recovery.truncated_bytes,
            recovery.indexes_rebuilt
        ),
        (4, 0, 0)
    );
    assert_eq!(p.offsets(), (0, 30, 30));
    check(&p);

    // A batch larger than a segment gets a segment of its own.
    let big = padded_batch("big", &[5_000], 5 * one as usize);
    assert_eq!(append(&p, &big, 6_000).base_offset, 30);
    assert_eq!(append(&p, &batch("after", &[5_001]), 6_000).base_offset, 31);
    assert_eq!(segment_bases(&pdir), vec![0, 9, 18, 27, 30, 31]);
    assert_eq!(
        batches(p.read(30, 1).unwrap().records)[0].as_bytes(),
        &stored(&big, 30)
    );
    assert_eq!(read_all(&p).len(), 12);
}

#[test]
fn segments_roll_by_segment_ms_counted_from_the_first_append() {
    let dir = TempDir::new("roll-ms");
    let cfg = LogConfig {
        segment_ms: 1_000,
        ..config()
    };
    // The partition (and its empty first segment) is created long before the first append.
    let (p, _) = open(&dir.partition_dir(), cfg.clone(), 0);
    let at =
        |p: &Partition, now: i64| append(p, &batch(&format!("t{now}"), &[now]), now).base_offset;
    assert_eq!(at(&p, 10_000), 0, "an empty segment never rolls");
    assert_eq!(at(&p, 10_500), 1);
    assert_eq!(
        segment_bases(&dir.partition_dir()),
        vec![0],
        "the segment is 500 ms old, not 10.5 s"
    );
    assert_eq!(at(&p, 10_999), 2);
    assert_eq!(at(&p, 11_000), 3);
    assert_eq!(segment_bases(&dir.partition_dir()), vec![0, 3]);
    assert_eq!(at(&p, 11_999), 4);
    assert_eq!(at(&p, 12_500), 5);
    assert_eq!(segment_bases(&dir.partition_dir()), vec![0, 3, 5]);
    assert_eq!(read_all(&p).len(), 6);
    drop(p);

    // After a restart the age comes from the active segment's first batch.
    let (p, _) = open(&dir.partition_dir(), cfg.clone(), 12_600);
    assert_eq!(at(&p, 12_700), 6);
    assert_eq!(segment_bases(&dir.partition_dir()), vec![0, 3, 5]);
    assert_eq!(at(&p, 13_500), 7);
    assert_eq!(segment_bases(&dir.partition_dir()), vec![0, 3, 5, 7]);
    let values: Vec<String> = read_all(&p)
        .iter()
        .flat_map(records)
        .map(|(_, _, v)| v)
        .collect();
    let want: Vec<String> = [
        10_000, 10_500, 10_999, 11_000, 11_999, 12_500, 12_700, 13_500,
    ]
    .iter()
    .map(|t| format!("t{t}/0"))
    .collect();
    assert_eq!(values, want);
}

#[test]
fn log_manager_append_resolves_after_the_fsync_and_survives_reopen() {
    let dir = TempDir::new("manager");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let inputs: Vec<Bytes> = (0..10)
        .map(|i| batch(&format!("m{i}"), &[i, i + 1]))
        .collect();
    {
        let manager = LogManager::open(dir.path(), LogConfig::default()).unwrap();
        manager.create_topic("events", 2, BTreeMap::new()).unwrap();
        let lazy: BTreeMap<String, String> =
            [("flush.messages".to_string(), "1000".to_string())].into();
        manager.create_topic("lazy", 1, lazy).unwrap();
        let p = manager.partition("events", 1).unwrap();
        runtime.block_on(async {
            // Start every append before waiting on any (group commit).
            let pending: Vec<_> = inputs
                .iter()
                .map(|b| manager.append(&p, b).unwrap())
                .collect();
            for (i, pending) in pending.into_iter().enumerate() {
                let appended = pending.wait().await.unwrap();
                assert_eq!(appended.base_offset, 2 * i as i64);
                assert!(
                    p.offsets().1 > appended.last_offset,
                    "acknowledged means readable"
                );
            }
        });
        assert_eq!(p.offsets(), (0, 20, 20));
        assert_eq!(read_all(&p).len(), 10);

        let lazy = manager.partition("lazy", 0).unwrap();
        let pending = manager.append(&lazy, &inputs[0]).unwrap();
        assert_eq!(
            lazy.offsets(),
            (0, 2, 2),
            "page-cache mode: visible before any fsync"
        );
        runtime.block_on(pending.wait()).unwrap();
        manager.close().unwrap();
    }
    let manager = LogManager::open(dir.path(), LogConfig::default()).unwrap();
    assert_eq!(manager.topic("events").unwrap().partitions.len(), 2);
    let p = manager.partition("events", 1).unwrap();
    let got: Vec<Bytes> = read_all(&p).iter().map(|b| b.as_bytes().clone()).collect();
    let want: Vec<Bytes> = inputs
        .iter()
        .enumerate()
        .map(|(i, b)| stored(b, 2 * i as i64))
        .collect();
    assert_eq!(got, want);
    assert_eq!(manager.partition("events", 0).unwrap().offsets(), (0, 0, 0));
    assert_eq!(manager.partition("lazy", 0).unwrap().offsets(), (0, 2, 2));
}

/// The checkpoint holds every partition's high watermark at close; a node
/// of a cluster reopening takes them back (a partition missing from it gets
/// its log start), a node alone keeps its whole log visible.
#[test]
fn high_watermarks_are_checkpointed_and_restored_by_a_node_of_a_cluster() {
    let dir = TempDir::new("hw-checkpoint");
    {
        let manager = LogManager::open(dir.path(), LogConfig::default()).unwrap();
        manager.create_topic("kept", 2, BTreeMap::new()).unwrap();
        let p = manager.partition("kept", 1).unwrap();
        append(&p, &batch("a", &[1, 2]), 1_000);
        manager.close().unwrap();
        // Written after the checkpoint: above the high watermark it kept.
        append(&p, &batch("b", &[3]), 1_000);
        manager.create_topic("late", 1, BTreeMap::new()).unwrap();
        append(
            &manager.partition("late", 0).unwrap(),
            &batch("c", &[4]),
            1_000,
        );
    }
    let checkpoint = crate::log::hw_checkpoint::read(dir.path())
        .unwrap()
        .unwrap();
    assert_eq!(checkpoint.len(), 2);
    assert_eq!(checkpoint[&("kept".to_string(), 1)], 2);

    let alone = LogManager::open(dir.path(), LogConfig::default()).unwrap();
    assert_eq!(alone.partition("kept", 1).unwrap().offsets(), (0, 3, 3));
    drop(alone);
    let member = LogManager::open(dir.path(), LogConfig::default()).unwrap();
    member.restore_high_watermarks();
    assert_eq!(member.partition("kept", 1).unwrap().offsets(), (0, 2, 3));
    assert_eq!(member.partition("late", 0).unwrap().offsets(), (0, 0, 1));
    member.checkpoint_high_watermarks().unwrap();
    let rewritten = crate::log::hw_checkpoint::read(dir.path())
        .unwrap()
        .unwrap();
    assert_eq!(rewritten.len(), 3);
}

#[test]
fn a_bounded_read_returns_only_batches_that_fit_unless_the_first_may_exceed() {
    let dir = TempDir::new("bounded");
    let (p, _) = open(&dir.partition_dir(), config(), 5_000);
    let first = append(&p, &padded_batch("big", &[1_000], 4_000), 5_000);
    append(&p, &padded_batch("next", &[1_001], 100), 5_000);
    let size = |r: &crate::log::partition::ReadResult| r.records.len();
    let iso = Isolation::ReadUncommitted;

    // The first batch is larger than the limit: only FirstBatch returns it.
    let oversize = p.read_bounded(0, 1_000, iso, Oversize::FirstBatch).unwrap();
    assert_eq!(batches(oversize.records.clone()).len(), 1);
    assert!(size(&oversize) > 4_000);
    let strict = p.read_bounded(0, 1_000, iso, Oversize::Never).unwrap();
    assert_eq!(size(&strict), 0, "nothing fits a 1000-byte limit whole");
    assert_eq!(strict.high_watermark, 2);

    // What fits comes back whole, and nothing past the limit.
    let big = size(&oversize);
    let both = p
        .read_bounded(0, big + 1_000, iso, Oversize::Never)
        .unwrap();
    assert_eq!(batches(both.records).len(), 2);
    let one = p.read_bounded(0, big, iso, Oversize::Never).unwrap();
    assert_eq!(size(&one), big);
    assert_eq!(first.base_offset, 0);
}
