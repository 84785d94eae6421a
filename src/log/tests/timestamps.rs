//! ListOffsets lookups: the first record at or after a timestamp, and the
//! record with the largest timestamp.

use super::*;

/// Kafka's rule, by brute force: the first batch (in offset order) whose max
/// timestamp reaches `target`, then its first record that does.
fn reference(all: &[RecordBatch], target: i64) -> Option<(i64, i64)> {
    all.iter()
        .filter(|b| b.max_timestamp() >= target)
        .find_map(|b| {
            records(b)
                .into_iter()
                .find(|(_, ts, _)| *ts >= target)
                .map(|(o, ts, _)| (o, ts))
        })
}

#[test]
fn the_first_record_at_or_after_a_timestamp_is_found_inside_its_batch() {
    let dir = TempDir::new("ts-inside");
    let (p, _) = open(&dir.partition_dir(), config(), 5_000);
    assert_eq!(
        p.offset_for_timestamp(0).unwrap(),
        None,
        "an empty log has no answer"
    );
    append(&p, &batch("a", &[100, 300, 200]), 5_000); // offsets 0..=2
    append(&p, &batch("b", &[150, 400]), 5_000); // offsets 3..=4
    append(&p, &batch("c", &[500]), 5_000); // offset 5
    let cases = [
        (i64::MIN, Some((0, 100))),
        (-1, Some((0, 100))),
        (100, Some((0, 100))),
        (101, Some((1, 300))),
        (250, Some((1, 300))),
        (300, Some((1, 300))),
        (301, Some((4, 400))),
        (400, Some((4, 400))),
        (401, Some((5, 500))),
        (500, Some((5, 500))),
        (501, None),
        (i64::MAX, None),
    ];
    for (target, want) in cases {
        assert_eq!(
            p.offset_for_timestamp(target).unwrap(),
            want,
            "target {target}"
        );
    }
}

/// Batches of 1 to 4 records, every fifth compressed, timestamps rising
/// overall but out of order within batches and now and then across them.
fn mixed_batches(p: &Partition) {
    let mut rng = XorShift(0x7157);
    let codecs = [
        Compression::Lz4,
        Compression::Gzip,
        Compression::Zstd,
        Compression::Snappy,
    ];
    for i in 0..60i64 {
        let n = 1 + (rng.next() % 4) as usize;
        let base = 100 * i + if i % 7 == 3 { 250 } else { 0 };
        let timestamps: Vec<i64> = (0..n).map(|_| base + (rng.next() % 90) as i64).collect();
        let input = if i % 5 == 4 {
            compressed_batch(
                &format!("x{i}"),
                &timestamps,
                10,
                codecs[(i as usize / 5) % 4],
            )
        } else {
            padded_batch(&format!("x{i}"), &timestamps, 10)
        };
        append(p, &input, 5_000);
    }
}

#[test]
fn timestamp_lookups_match_a_brute_force_scan_across_segments() {
    for interval in [0, 200, 4096] {
        let dir = TempDir::new("ts-segments");
        let cfg = LogConfig {
            segment_bytes: 1_200,
            index_interval_bytes: interval,
            ..config()
        };
        let (p, _) = open(&dir.partition_dir(), cfg.clone(), 5_000);
        mixed_batches(&p);
        assert!(
            segment_bases(&dir.partition_dir()).len() >= 5,
            "several segments"
        );
        let check = |p: &Partition| {
            let all = read_all(p);
            let max = all.iter().map(RecordBatch::max_timestamp).max().unwrap();
            for target in -2..=max + 2 {
                assert_eq!(
                    p.offset_for_timestamp(target).unwrap(),
                    reference(&all, target),
                    "interval {interval}, target {target}"
                );
            }
        };
        check(&p);
        drop(p);
        // Again with the sealed segments' indexes loaded from disk.
        let (p, recovery) = open(&dir.partition_dir(), cfg, 6_000);
        assert_eq!(recovery.indexes_rebuilt, 0);
        check(&p);
    }
}

#[test]
fn the_max_timestamp_is_the_first_record_carrying_it() {
    let dir = TempDir::new("ts-max");
    let cfg = LogConfig {
        segment_bytes: 150,
        ..config()
    };
    let (p, _) = open(&dir.partition_dir(), cfg, 5_000);
    assert_eq!(p.offset_of_max_timestamp().unwrap(), None);
    append(&p, &batch("a", &[1, 2]), 5_000); // 0..=1
    assert_eq!(p.offset_of_max_timestamp().unwrap(), Some((1, 2)));
    append(&p, &padded_batch("b", &[5, 9, 3], 40), 5_000); // 2..=4
    append(&p, &batch("c", &[4]), 5_000); // 5
    assert_eq!(
        p.offset_of_max_timestamp().unwrap(),
        Some((3, 9)),
        "in the middle of a batch"
    );
    append(&p, &padded_batch("d", &[9, 9, 1], 40), 5_000); // 6..=8
    assert_eq!(
        p.offset_of_max_timestamp().unwrap(),
        Some((3, 9)),
        "ties go to the first"
    );
    append(&p, &batch("e", &[2, 10, 10]), 5_000); // 9..=11
    assert_eq!(
        p.offset_of_max_timestamp().unwrap(),
        Some((10, 10)),
        "the first of equals within a batch"
    );
    assert!(
        segment_bases(&dir.partition_dir()).len() >= 3,
        "the answers come from several segments"
    );

    // Not above the high watermark.
    let hidden = p.append(&batch("f", &[50]), 5_000).unwrap();
    assert_eq!(p.offset_of_max_timestamp().unwrap(), Some((10, 10)));
    p.mark_durable(hidden.last_offset + 1);
    assert_eq!(p.offset_of_max_timestamp().unwrap(), Some((12, 50)));
}
