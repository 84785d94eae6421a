//! Retention deletes whole sealed segments, oldest first, past
//! `retention.bytes` / `retention.ms`; the log start offset moves to the
//! next segment's base and is checkpointed.

use super::*;

/// Batch `i` has two records with timestamps `1000 i` and `1000 i + 1`.
fn two_record_batch(i: i64) -> Bytes {
    padded_batch(&format!("k{i}"), &[1_000 * i, 1_000 * i + 1], 30)
}

/// Two batches (four offsets) per segment.
fn retention_config(retention_bytes: i64, retention_ms: i64) -> LogConfig {
    let one = two_record_batch(0).len() as u64;
    LogConfig {
        segment_bytes: 2 * one + one / 2,
        retention_bytes,
        retention_ms,
        index_interval_bytes: 0,
        ..config()
    }
}

/// Ten batches: sealed segments 0, 4, 8, 12 and the active segment 16.
fn ten_batches(p: &Partition, dir: &Path) {
    for i in 0..10 {
        append(p, &two_record_batch(i), 5_000);
    }
    assert_eq!(segment_bases(dir), vec![0, 4, 8, 12, 16]);
}

fn checkpoint(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("log-start-offset")).unwrap()
}

fn assert_segment_gone(dir: &Path, base: i64) {
    for ext in ["log", "index", "timeindex"] {
        assert!(
            !segment_file(dir, base, ext).exists(),
            "{base:020}.{ext} was deleted"
        );
    }
}

#[test]
fn retention_by_bytes_deletes_the_oldest_segments_and_checkpoints_the_start() {
    let dir = TempDir::new("ret-bytes");
    let pdir = dir.partition_dir();
    let one = two_record_batch(0).len() as i64;
    // Room for five batches: deleting 0 leaves eight, deleting 4 leaves six,
    // deleting 8 would leave four, below the limit.
    let cfg = retention_config(5 * one, -1);
    let (p, _) = open(&pdir, cfg.clone(), 5_000);
    ten_batches(&p, &pdir);
    let backup = dir.path().join("backup");
    copy_dir(&pdir, &backup);

    assert_eq!(p.enforce_retention(5_000).unwrap(), 2);
    assert_eq!(segment_bases(&pdir), vec![8, 12, 16]);
    assert_segment_gone(&pdir, 0);
    assert_segment_gone(&pdir, 4);
    assert_eq!(checkpoint(&pdir), "log.start.offset=8\n");
    assert_eq!(p.offsets(), (8, 20, 20));
    for offset in [0, 4, 7, -1] {
        assert_eq!(
            p.read(offset, 1 << 20).err(),
            Some(ReadError::OffsetOutOfRange {
                log_start_offset: 8,
                high_watermark: 20
            })
        );
    }
    let first = p.read(8, 1).unwrap();
    assert_eq!(first.log_start_offset, 8);
    assert_eq!(batches(first.records)[0].base_offset(), 8);
    assert_eq!(read_all(&p).len(), 6);
    assert_eq!(
        p.offset_for_timestamp(0).unwrap(),
        Some((8, 4_000)),
        "deleted records are not found by time"
    );
    assert_eq!(p.enforce_retention(5_000).unwrap(), 0, "nothing more to do");
    drop(p);

    // A crash between the checkpoint and the unlinks leaves the old files
    // behind: the checkpoint still rules, and the next run deletes them.
    for base in [0, 4] {
        for ext in ["log", "index", "timeindex"] {
            std::fs::copy(
                segment_file(&backup, base, ext),
                segment_file(&pdir, base, ext),
            )
            .unwrap();
        }
    }
    let (p, _) = open(&pdir, cfg.clone(), 6_000);
    assert_eq!(p.offsets(), (8, 20, 20), "the log start survives a restart");
    assert!(is_out_of_range(p.read(0, 1 << 20)));
    assert!(is_out_of_range(p.read(7, 1 << 20)));
    assert_eq!(read_all(&p).len(), 6);
    assert_eq!(p.enforce_retention(6_000).unwrap(), 2);
    assert_eq!(segment_bases(&pdir), vec![8, 12, 16]);
    assert_eq!(append(&p, &two_record_batch(10), 6_000).log_start_offset, 8);
    drop(p);

    let (p, _) = open(&pdir, cfg, 7_000);
    assert_eq!(p.offsets(), (8, 22, 22));
    assert_eq!(read_all(&p).len(), 7);
}

#[test]
fn retention_never_deletes_the_active_segment() {
    let dir = TempDir::new("ret-active");
    let pdir = dir.partition_dir();
    let (p, _) = open(&pdir, retention_config(0, 0), 5_000);
    assert_eq!(
        p.enforce_retention(i64::MAX / 2).unwrap(),
        0,
        "an empty log"
    );
    append(&p, &two_record_batch(0), 5_000);
    append(&p, &two_record_batch(1), 5_000);
    assert_eq!(segment_bases(&pdir), vec![0]);
    assert_eq!(
        p.enforce_retention(i64::MAX / 2).unwrap(),
        0,
        "the only segment is active"
    );
    assert_eq!(p.offsets(), (0, 4, 4));
    for i in 2..10 {
        append(&p, &two_record_batch(i), 5_000);
    }
    assert_eq!(p.enforce_retention(i64::MAX / 2).unwrap(), 4);
    assert_eq!(segment_bases(&pdir), vec![16]);
    assert_eq!(p.offsets(), (16, 20, 20));
    assert_eq!(checkpoint(&pdir), "log.start.offset=16\n");
    assert_eq!(read_all(&p).len(), 2);
    assert_eq!(p.offset_of_max_timestamp().unwrap(), Some((19, 9_001)));
    drop(p);
    let (p, _) = open(&pdir, retention_config(0, 0), 6_000);
    assert_eq!(p.offsets(), (16, 20, 20));
    assert_eq!(append(&p, &two_record_batch(10), 6_000).base_offset, 20);
}

#[test]
fn retention_by_time_deletes_segments_whose_newest_record_is_too_old() {
    let dir = TempDir::new("ret-time");
    let pdir = dir.partition_dir();
    let (p, _) = open(&pdir, retention_config(-1, 10_000), 5_000);
    ten_batches(&p, &pdir);
    // Segment k holds batches 2k and 2k+1: its newest record is 1000 (2k+1) + 1.
    assert_eq!(
        p.enforce_retention(11_001).unwrap(),
        0,
        "segment 0 is exactly 10 s old"
    );
    assert_eq!(p.enforce_retention(11_002).unwrap(), 1);
    assert_eq!(p.offsets(), (4, 20, 20));
    assert_eq!(p.enforce_retention(13_002).unwrap(), 1);
    assert_eq!(segment_bases(&pdir), vec![8, 12, 16]);
    assert_eq!(checkpoint(&pdir), "log.start.offset=8\n");
    assert!(is_out_of_range(p.read(7, 1)));
    assert_eq!(
        p.enforce_retention(1_000_000).unwrap(),
        2,
        "all but the active segment"
    );
    assert_eq!(segment_bases(&pdir), vec![16]);
    assert_eq!(p.offsets(), (16, 20, 20));
    drop(p);
    let (p, _) = open(&pdir, retention_config(-1, 10_000), 1_000_000);
    assert_eq!(p.offsets(), (16, 20, 20));
    assert_eq!(read_all(&p).len(), 2);
}

#[test]
fn retention_by_time_stops_at_the_first_segment_to_keep() {
    let dir = TempDir::new("ret-time-order");
    let pdir = dir.partition_dir();
    let (p, _) = open(&pdir, retention_config(-1, 10_000), 5_000);
    // Segment 0 carries a timestamp from the future; the older segments
    // behind it wait for it, as in Kafka.
    append(&p, &two_record_batch(0), 5_000);
    append(&p, &two_record_batch(50), 5_000);
    for i in 2..10 {
        append(&p, &two_record_batch(i), 5_000);
    }
    assert_eq!(p.enforce_retention(20_000).unwrap(), 0);
    assert_eq!(p.enforce_retention(61_002).unwrap(), 4);
    // Records without timestamps never expire by time.
    let dir = TempDir::new("ret-no-ts");
    let pdir = dir.partition_dir();
    let (p, _) = open(&pdir, retention_config(-1, 10_000), 5_000);
    for i in 0..6 {
        append(&p, &padded_batch(&format!("k{i}"), &[-1, -1], 30), 5_000);
    }
    assert_eq!(segment_bases(&pdir).len(), 3);
    assert_eq!(p.enforce_retention(i64::MAX / 2).unwrap(), 0);
}

#[test]
fn unlimited_retention_deletes_nothing() {
    let dir = TempDir::new("ret-none");
    let pdir = dir.partition_dir();
    let (p, _) = open(&pdir, retention_config(-1, -1), 5_000);
    ten_batches(&p, &pdir);
    assert_eq!(p.enforce_retention(i64::MAX / 2).unwrap(), 0);
    assert_eq!(segment_bases(&pdir).len(), 5);
    assert!(!pdir.join("log-start-offset").exists());
}

#[test]
fn retention_never_moves_the_log_start_past_the_high_watermark() {
    let dir = TempDir::new("ret-hw");
    let pdir = dir.partition_dir();
    let (p, _) = open(&pdir, retention_config(0, -1), 5_000);
    for i in 0..4 {
        append(&p, &two_record_batch(i), 5_000);
    }
    // Appended but not yet fsynced: segments 8 and 12 hold nothing a consumer has seen.
    let mut last = None;
    for i in 4..7 {
        last = Some(p.append(&two_record_batch(i), 5_000).unwrap());
    }
    assert_eq!(segment_bases(&pdir), vec![0, 4, 8, 12]);
    assert_eq!(p.offsets(), (0, 8, 14));
    assert_eq!(p.enforce_retention(5_000).unwrap(), 2);
    let (start, hw, _) = p.offsets();
    assert!(
        start <= hw,
        "log start {start} above the high watermark {hw}"
    );
    assert_eq!(start, 8);
    assert!(p.read(8, 1 << 20).unwrap().records.is_empty());
    p.mark_durable(last.unwrap().last_offset + 1);
    assert_eq!(
        read_all(&p).len(),
        3,
        "every acknowledged batch is still there"
    );
    assert_eq!(p.enforce_retention(5_000).unwrap(), 1);
    assert_eq!(p.offsets(), (12, 14, 14));
}
