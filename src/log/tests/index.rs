//! Index files are hints: a sealed segment whose `.index` / `.timeindex`
//! is missing or damaged is rescanned, its index rewritten, and reads and
//! timestamp lookups give the same answers as before.

use super::*;
use crate::log::index::SegmentIndex;
use crate::log::segment::BatchPosition;

/// Every answer the partition gives that an index could influence.
#[derive(Debug, PartialEq)]
struct Answers {
    offsets: (i64, i64, i64),
    /// The bytes of a read from every offset, and of a one-batch read.
    reads: Vec<(Bytes, Bytes)>,
    by_time: Vec<Option<(i64, i64)>>,
    max_time: Option<(i64, i64)>,
}

const MAX_TS: i64 = 24 * 1_000 + 10;

fn answers(p: &Partition) -> Answers {
    answers_up_to(p, MAX_TS)
}

fn answers_up_to(p: &Partition, max_ts: i64) -> Answers {
    let offsets = p.offsets();
    let reads = (offsets.0..offsets.1)
        .map(|o| {
            (
                p.read(o, 1 << 20).unwrap().records,
                p.read(o, 0).unwrap().records,
            )
        })
        .collect();
    let by_time = (-1..=max_ts + 1)
        .step_by(7)
        .chain([0, 1_000, 1_005, 1_009, 1_010, max_ts, max_ts + 1])
        .map(|t| p.offset_for_timestamp(t).unwrap())
        .collect();
    Answers {
        offsets,
        reads,
        by_time,
        max_time: p.offset_of_max_timestamp().unwrap(),
    }
}

fn index_config() -> LogConfig {
    let one = padded_batch("i00", &[0, 1, 2], 20).len() as u64;
    // Six batches per segment, an index entry every second batch or so.
    LogConfig {
        segment_bytes: 6 * one + one / 2,
        index_interval_bytes: 300,
        ..config()
    }
}

/// A partition of four full sealed segments and an active one. Batch `i`
/// has timestamps `1000 i + [5, 0, 9]`: out of order within the batch.
fn source() -> (TempDir, Answers) {
    let src = TempDir::new("index-src");
    let (p, _) = open(&src.partition_dir(), index_config(), 5_000);
    for i in 0..25 {
        let t = 1_000 * i;
        append(
            &p,
            &padded_batch(&format!("i{i:02}"), &[t + 5, t, t + 9], 20),
            5_000,
        );
    }
    assert_eq!(segment_bases(&src.partition_dir()), vec![0, 18, 36, 54, 72]);
    let answers = answers(&p);
    assert_eq!(answers.offsets, (0, 75, 75));
    drop(p);
    (src, answers)
}

/// The segment whose index the tests damage: sealed, in the middle.
const VICTIM: i64 = 18;

fn index_files(pdir: &Path) -> (Vec<u8>, Vec<u8>) {
    (
        std::fs::read(segment_file(pdir, VICTIM, "index")).unwrap(),
        std::fs::read(segment_file(pdir, VICTIM, "timeindex")).unwrap(),
    )
}

/// Rewrites both files from entries (relative offset, position, max timestamp before).
fn write_entries(pdir: &Path, entries: &[(u32, u32, i64)]) {
    let mut offsets = Vec::new();
    let mut times = Vec::new();
    for &(relative, position, ts) in entries {
        offsets.extend_from_slice(&relative.to_be_bytes());
        offsets.extend_from_slice(&position.to_be_bytes());
        times.extend_from_slice(&ts.to_be_bytes());
        times.extend_from_slice(&position.to_be_bytes());
    }
    std::fs::write(segment_file(pdir, VICTIM, "index"), offsets).unwrap();
    std::fs::write(segment_file(pdir, VICTIM, "timeindex"), times).unwrap();
}

fn entries_of(files: &(Vec<u8>, Vec<u8>)) -> Vec<(u32, u32, i64)> {
    files
        .0
        .chunks_exact(8)
        .zip(files.1.chunks_exact(12))
        .map(|(o, t)| {
            let relative = u32::from_be_bytes(o[0..4].try_into().unwrap());
            let position = u32::from_be_bytes(o[4..8].try_into().unwrap());
            let ts = i64::from_be_bytes(t[0..8].try_into().unwrap());
            (relative, position, ts)
        })
        .collect()
}

#[test]
fn a_valid_index_is_trusted_and_left_alone() {
    let (src, want) = source();
    let before = index_files(&src.partition_dir());
    assert!(
        entries_of(&before).len() >= 3,
        "the victim has a sparse index of several entries"
    );
    let (p, recovery) = open(&src.partition_dir(), index_config(), 6_000);
    assert_eq!(
        (
            recovery.segments,
            recovery.indexes_rebuilt,
            recovery.truncated_bytes
        ),
        (5, 0, 0)
    );
    assert_eq!(answers(&p), want);
    assert_eq!(index_files(&src.partition_dir()), before);
}

#[test]
fn a_missing_or_damaged_index_is_rebuilt_and_rewritten() {
    let (src, want) = source();
    let pristine = index_files(&src.partition_dir());
    let entries = entries_of(&pristine);
    let log_len = std::fs::metadata(segment_file(&src.partition_dir(), VICTIM, "log"))
        .unwrap()
        .len() as u32;
    let last = entries.len() - 1;
    let mut rng = XorShift(0x1de5);
    let random_same_len = (rng.bytes(pristine.0.len()), rng.bytes(pristine.1.len()));
    let random_any_len = (rng.bytes(24), rng.bytes(36));

    type Damage = Box<dyn Fn(&Path)>;
    let index_path = |pdir: &Path| segment_file(pdir, VICTIM, "index");
    let time_path = |pdir: &Path| segment_file(pdir, VICTIM, "timeindex");
    type Entries = Vec<(u32, u32, i64)>;
    let with = move |change: &dyn Fn(&mut Entries)| {
        let mut e = entries.clone();
        change(&mut e);
        e
    };
    let swapped = with(&|e| e.swap(0, 1));
    let middle_swapped = with(&|e| e.swap(1, 2));
    let beyond = with(&|e| e[last].1 = log_len + 100);
    let at_end = with(&|e| e[last].1 = log_len);
    let mid_batch = with(&|e| e[last].1 += 7);
    let offset_low = with(&|e| e[last].0 -= 1);
    let offset_high = with(&|e| e[last].0 += 1);
    let time_backwards = with(&|e| e[last].2 = e[last - 1].2 - 1);
    let first_not_at_zero = with(&|e| e[0].1 = 1);
    let damages: Vec<(&str, Damage)> = vec![
        (
            "offset index deleted",
            Box::new(move |d| std::fs::remove_file(index_path(d)).unwrap()),
        ),
        (
            "time index deleted",
            Box::new(move |d| std::fs::remove_file(time_path(d)).unwrap()),
        ),
        (
            "both deleted",
            Box::new(move |d| {
                std::fs::remove_file(index_path(d)).unwrap();
                std::fs::remove_file(time_path(d)).unwrap();
            }),
        ),
        (
            "offset index truncated to an odd length",
            Box::new(move |d| truncate_by(&index_path(d), 3)),
        ),
        (
            "time index truncated to an odd length",
            Box::new(move |d| truncate_by(&time_path(d), 5)),
        ),
        (
            "both emptied",
            Box::new(move |d| {
                std::fs::write(index_path(d), []).unwrap();
                std::fs::write(time_path(d), []).unwrap();
            }),
        ),
        (
            "random bytes of the same lengths",
            Box::new(move |d| {
                std::fs::write(index_path(d), &random_same_len.0).unwrap();
                std::fs::write(time_path(d), &random_same_len.1).unwrap();
            }),
        ),
        (
            "random bytes of other lengths",
            Box::new(move |d| {
                std::fs::write(index_path(d), &random_any_len.0).unwrap();
                std::fs::write(time_path(d), &random_any_len.1).unwrap();
            }),
        ),
        (
            "first two entries swapped",
            Box::new(move |d| write_entries(d, &swapped)),
        ),
        (
            "middle entries swapped",
            Box::new(move |d| write_entries(d, &middle_swapped)),
        ),
        (
            "last position beyond the file",
            Box::new(move |d| write_entries(d, &beyond)),
        ),
        (
            "last position at the end of the file",
            Box::new(move |d| write_entries(d, &at_end)),
        ),
        (
            "last position inside a batch",
            Box::new(move |d| write_entries(d, &mid_batch)),
        ),
        (
            "last relative offset too low",
            Box::new(move |d| write_entries(d, &offset_low)),
        ),
        (
            "last relative offset too high",
            Box::new(move |d| write_entries(d, &offset_high)),
        ),
        (
            "timestamps going backwards",
            Box::new(move |d| write_entries(d, &time_backwards)),
        ),
        (
            "first entry not at position 0",
            Box::new(move |d| write_entries(d, &first_not_at_zero)),
        ),
        (
            "positions of the two files disagree",
            Box::new(move |d| {
                let mut times = std::fs::read(time_path(d)).unwrap();
                times[11] ^= 1;
                std::fs::write(time_path(d), times).unwrap();
            }),
        ),
    ];

    let root = TempDir::new("index-damage");
    for (i, (what, damage)) in damages.iter().enumerate() {
        let pdir = root.path().join(format!("damage-{i}"));
        copy_dir(&src.partition_dir(), &pdir);
        damage(&pdir);
        let (p, recovery) = open(&pdir, index_config(), 6_000);
        assert_eq!(recovery.indexes_rebuilt, 1, "{what}: the index is rebuilt");
        assert_eq!(
            recovery.truncated_bytes, 0,
            "{what}: the log itself is intact"
        );
        assert!(
            answers(&p) == want,
            "{what}: reads and lookups give the same answers"
        );
        assert_eq!(
            index_files(&pdir),
            pristine,
            "{what}: the rebuilt index is written back"
        );
        drop(p);
        let (p, recovery) = open(&pdir, index_config(), 7_000);
        assert_eq!(
            recovery.indexes_rebuilt, 0,
            "{what}: the rewritten index is trusted next time"
        );
        assert!(answers(&p) == want, "{what}: answers after the second open");
        // Appends carry on in the active segment.
        assert_eq!(
            append(&p, &batch("more", &[MAX_TS + 50]), 7_000).base_offset,
            75
        );
        assert_eq!(
            p.offset_for_timestamp(MAX_TS + 1).unwrap(),
            Some((75, MAX_TS + 50))
        );
        std::fs::remove_dir_all(&pdir).unwrap();
    }
}

#[test]
fn an_index_cut_at_an_entry_boundary_still_answers_correctly() {
    // One record per batch, an index entry every second batch; batch 2
    // holds the segment's largest timestamp, out of order with the rest.
    let dir = TempDir::new("index-cut");
    let one = padded_batch("c0", &[0], 100).len() as u64;
    let cfg = LogConfig {
        segment_bytes: 8 * one + one / 2,
        index_interval_bytes: one as usize + 1,
        ..config()
    };
    let (p, _) = open(&dir.partition_dir(), cfg.clone(), 5_000);
    for (i, ts) in [10, 20, 90, 30, 40, 50, 60, 70, 80].into_iter().enumerate() {
        append(&p, &padded_batch(&format!("c{i}"), &[ts], 100), 5_000);
    }
    assert_eq!(segment_bases(&dir.partition_dir()), vec![0, 8]);
    let want = answers_up_to(&p, 100);
    assert_eq!(p.offset_for_timestamp(85).unwrap(), Some((2, 90)));
    drop(p);

    let index = segment_file(&dir.partition_dir(), 0, "index");
    let times = segment_file(&dir.partition_dir(), 0, "timeindex");
    assert_eq!(
        std::fs::metadata(&index).unwrap().len(),
        4 * 8,
        "entries at batches 0, 2, 4 and 6"
    );
    // Keep the entries at batches 0 and 2: a shorter but valid sparse index.
    truncate_by(&index, 16);
    truncate_by(&times, 24);
    let (p, recovery) = open(&dir.partition_dir(), cfg, 6_000);
    assert_eq!(recovery.truncated_bytes, 0);
    assert_eq!(p.offset_for_timestamp(85).unwrap(), Some((2, 90)));
    assert!(
        answers_up_to(&p, 100) == want,
        "the same answers from the shorter index"
    );
}

fn truncate_by(path: &Path, bytes: u64) {
    let file = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    let len = file.metadata().unwrap().len();
    file.set_len(len - bytes).unwrap();
}

#[test]
fn a_sparse_index_points_at_batch_starts() {
    let mut index = SegmentIndex::new(100);
    let mut position = 0;
    // Batches of 3 offsets and 50 bytes, max timestamps 10, 20, ...
    for i in 0..10i64 {
        let found = BatchPosition {
            position,
            size: 50,
            base_offset: 100 + 3 * i,
            last_offset: 102 + 3 * i,
            max_timestamp: 10 * (i + 1),
        };
        index.observe(found, 120);
        position += 50;
    }
    // An entry for the first batch, then one once 120 bytes have passed.
    let positions: Vec<u32> = index.entries().iter().map(|e| e.position).collect();
    assert_eq!(positions, vec![0, 150, 300, 450]);
    let relative: Vec<u32> = index.entries().iter().map(|e| e.relative_offset).collect();
    assert_eq!(relative, vec![0, 9, 18, 27]);
    let before: Vec<i64> = index
        .entries()
        .iter()
        .map(|e| e.max_timestamp_before)
        .collect();
    assert_eq!(before, vec![-1, 30, 60, 90]);
    assert_eq!(index.position_for_offset(0), 0, "below the base");
    assert_eq!(index.position_for_offset(100), 0);
    assert_eq!(index.position_for_offset(108), 0);
    assert_eq!(index.position_for_offset(109), 150);
    assert_eq!(index.position_for_offset(126), 300);
    assert_eq!(index.position_for_offset(127), 450);
    assert_eq!(index.position_for_offset(10_000), 450);
    assert_eq!(index.position_for_timestamp(-5), 0);
    assert_eq!(
        index.position_for_timestamp(30),
        0,
        "the batch ending at 150 has timestamp 30"
    );
    assert_eq!(index.position_for_timestamp(31), 150);
    assert_eq!(index.position_for_timestamp(61), 300);
    assert_eq!(index.position_for_timestamp(91), 450);
    assert_eq!(index.position_for_timestamp(i64::MAX), 450);

    let dir = TempDir::new("index-unit");
    index.save(dir.path()).unwrap();
    let loaded = SegmentIndex::load(dir.path(), 100, 500).unwrap();
    assert_eq!(loaded.entries(), index.entries());
    assert!(
        SegmentIndex::load(dir.path(), 100, 450).is_none(),
        "an entry at the end of the log is refused"
    );
    SegmentIndex::remove_files(dir.path(), 100).unwrap();
    assert!(SegmentIndex::load(dir.path(), 100, 500).is_none());
    SegmentIndex::remove_files(dir.path(), 100).unwrap();
}
