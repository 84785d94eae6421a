//! Crash recovery: a torn, corrupt or garbage-extended tail of the active
//! segment is cut at the end of the last whole valid batch, and the log
//! carries on from there.

use super::*;

/// One batch as it sits in a segment file.
#[derive(Clone, Debug)]
struct Written {
    bytes: Bytes,
    base: i64,
    next: i64,
    position: u64,
}

impl Written {
    fn end(&self) -> u64 {
        self.position + self.bytes.len() as u64
    }
}

/// The batches of segment `base` of `dir`, parsed from the file.
fn layout(dir: &Path, base: i64) -> Vec<Written> {
    let file = Bytes::from(std::fs::read(segment_file(dir, base, "log")).unwrap());
    let mut position = 0;
    batches(file)
        .into_iter()
        .map(|b| {
            let written = Written {
                bytes: b.as_bytes().clone(),
                base: b.base_offset(),
                next: b.next_offset(),
                position,
            };
            position += b.size() as u64;
            written
        })
        .collect()
}

/// Five batches of varied sizes and record counts, the last one small so
/// that cutting at each of its bytes stays quick.
fn five_batches(p: &Partition) -> Vec<Bytes> {
    let inputs = vec![
        padded_batch("first", &[100, 101, 102], 50),
        padded_batch("second", &[110], 300),
        compressed_batch("third", &[120, 121, 122, 123], 80, Compression::Snappy),
        padded_batch("fourth", &[130, 131], 120),
        batch("fifth", &[140, 141]),
    ];
    for input in &inputs {
        append(p, input, 5_000);
    }
    inputs
}

/// Opens the damaged partition at `pdir` and checks it recovered to exactly
/// `survivors` (the last `truncated` bytes cut), that appending then works,
/// and that the result survives another reopen.
fn check_recovered(
    pdir: &Path,
    cfg: &LogConfig,
    survivors: &[Written],
    truncated: u64,
    what: &str,
) {
    let (p, recovery) = open(pdir, cfg.clone(), 6_000);
    assert_eq!(recovery.truncated_bytes, truncated, "{what}: bytes cut");
    let leo = survivors.last().map_or(0, |w| w.next);
    assert_eq!(p.offsets(), (0, leo, leo), "{what}: offsets after recovery");
    let got: Vec<Bytes> = read_all(&p).iter().map(|b| b.as_bytes().clone()).collect();
    let want: Vec<Bytes> = survivors.iter().map(|w| w.bytes.clone()).collect();
    assert_eq!(
        got, want,
        "{what}: every whole batch before the damage is readable"
    );

    let new = batch("after-recovery", &[7_000, 7_001]);
    let appended = append(&p, &new, 7_000);
    assert_eq!(
        appended.base_offset, leo,
        "{what}: appends continue at the recovered log end"
    );
    let mut want = want;
    want.push(stored(&new, leo));
    let check = |p: &Partition| {
        let got: Vec<Bytes> = read_all(p).iter().map(|b| b.as_bytes().clone()).collect();
        assert_eq!(
            got, want,
            "{what}: the new batch is readable after the survivors"
        );
    };
    check(&p);
    drop(p);
    let (p, recovery) = open(pdir, cfg.clone(), 8_000);
    assert_eq!(
        recovery.truncated_bytes, 0,
        "{what}: the second recovery finds nothing to cut"
    );
    assert_eq!(p.offsets(), (0, leo + 2, leo + 2));
    check(&p);
}

/// A single-segment partition's files and batch layout, to damage copies of.
fn source(label: &str) -> (TempDir, Vec<u8>, Vec<Written>) {
    let src = TempDir::new(label);
    let (p, _) = open(&src.partition_dir(), config(), 5_000);
    let inputs = five_batches(&p);
    drop(p);
    let written = layout(&src.partition_dir(), 0);
    let want: Vec<Bytes> = inputs
        .iter()
        .zip(&written)
        .map(|(input, w)| stored(input, w.base))
        .collect();
    assert_eq!(
        written.iter().map(|w| w.bytes.clone()).collect::<Vec<_>>(),
        want
    );
    let log = std::fs::read(segment_file(&src.partition_dir(), 0, "log")).unwrap();
    (src, log, written)
}

/// Writes `log` as the only segment of a new partition directory.
fn damaged(root: &TempDir, name: &str, log: &[u8]) -> PathBuf {
    let pdir = root.path().join(name);
    std::fs::create_dir_all(&pdir).unwrap();
    std::fs::write(segment_file(&pdir, 0, "log"), log).unwrap();
    pdir
}

#[test]
fn a_log_cut_at_every_byte_of_its_last_batch_recovers_to_the_batch_before() {
    let (_src, log, written) = source("torn-src");
    let root = TempDir::new("torn");
    let last = written.last().unwrap().clone();
    let second_last = written[written.len() - 2].clone();
    let mut cuts: Vec<u64> = (last.position..=last.end()).collect();
    cuts.extend([
        second_last.position + 1,
        second_last.position + second_last.bytes.len() as u64 / 2,
        second_last.end() - 1,
    ]);
    for cut in cuts {
        let pdir = damaged(&root, &format!("cut-{cut}"), &log[..cut as usize]);
        let survivors: Vec<Written> = written.iter().filter(|w| w.end() <= cut).cloned().collect();
        let kept = survivors.last().map_or(0, Written::end);
        check_recovered(
            &pdir,
            &config(),
            &survivors,
            cut - kept,
            &format!("cut at byte {cut}"),
        );
        let appended_len = batch("after-recovery", &[7_000, 7_001]).len() as u64;
        let file_len = std::fs::metadata(segment_file(&pdir, 0, "log"))
            .unwrap()
            .len();
        assert_eq!(
            file_len,
            kept + appended_len,
            "cut at byte {cut}: the new batch was written where the valid data ends"
        );
        std::fs::remove_dir_all(&pdir).unwrap();
    }
}

#[test]
fn a_torn_active_segment_does_not_disturb_the_sealed_ones() {
    let src = TempDir::new("torn-multi-src");
    let one = padded_batch("m0", &[1, 2], 30).len() as u64;
    let cfg = LogConfig {
        segment_bytes: 2 * one + one / 2,
        index_interval_bytes: 0,
        ..config()
    };
    let (p, _) = open(&src.partition_dir(), cfg.clone(), 5_000);
    for i in 0..7 {
        append(
            &p,
            &padded_batch(&format!("m{i}"), &[10 * i, 10 * i + 1], 30),
            5_000,
        );
    }
    drop(p);
    let bases = segment_bases(&src.partition_dir());
    assert_eq!(bases, vec![0, 4, 8, 12]);
    let sealed: Vec<Written> = bases[..3]
        .iter()
        .flat_map(|&b| layout(&src.partition_dir(), b))
        .collect();
    let active = layout(&src.partition_dir(), 12);
    assert_eq!(active.len(), 1);
    let active_log = std::fs::read(segment_file(&src.partition_dir(), 12, "log")).unwrap();
    let root = TempDir::new("torn-multi");
    for cut in 0..=active_log.len() as u64 {
        let pdir = root.path().join(format!("cut-{cut}"));
        copy_dir(&src.partition_dir(), &pdir);
        std::fs::write(segment_file(&pdir, 12, "log"), &active_log[..cut as usize]).unwrap();
        let mut survivors = sealed.clone();
        let whole = cut == active_log.len() as u64;
        if whole {
            survivors.extend(active.iter().cloned());
        }
        let (p, recovery) = open(&pdir, cfg.clone(), 6_000);
        assert_eq!(
            recovery.truncated_bytes,
            if whole { 0 } else { cut },
            "cut {cut}: the partial batch is cut"
        );
        assert_eq!(
            recovery.indexes_rebuilt, 0,
            "cut {cut}: sealed indexes are still trusted"
        );
        assert_eq!(recovery.segments, 4);
        drop(p);
        check_recovered(
            &pdir,
            &cfg,
            &survivors,
            0,
            &format!("active segment cut at byte {cut}"),
        );
        // The first open already cut the tail: the active segment is exactly its whole batches.
        for base in &bases[..3] {
            assert!(segment_file(&pdir, *base, "index").exists());
        }
        std::fs::remove_dir_all(&pdir).unwrap();
    }
}

#[test]
fn a_flipped_bit_in_the_last_batch_cuts_it() {
    let (_src, log, written) = source("flip-src");
    let root = TempDir::new("flip");
    let last = written.last().unwrap().clone();
    let survivors = &written[..written.len() - 1];
    for at in last.position..last.end() {
        for mask in [0x01u8, 0x80] {
            let mut damaged_log = log.clone();
            damaged_log[at as usize] ^= mask;
            let pdir = damaged(&root, &format!("flip-{at}-{mask}"), &damaged_log);
            let field = at - last.position;
            if (12..16).contains(&field) {
                // The partition leader epoch is covered by neither the CRC nor
                // any offset check: the batch stays, with that epoch.
                let (p, recovery) = open(&pdir, config(), 6_000);
                assert_eq!(recovery.truncated_bytes, 0);
                assert_eq!(p.offsets().2, last.next);
            } else {
                check_recovered(
                    &pdir,
                    &config(),
                    survivors,
                    last.bytes.len() as u64,
                    &format!("bit {mask:#x} of byte {field} of the last batch flipped"),
                );
            }
            std::fs::remove_dir_all(&pdir).unwrap();
        }
    }
}

#[test]
fn a_corrupt_middle_batch_cuts_it_and_everything_after() {
    let (_src, log, written) = source("flip-middle-src");
    let root = TempDir::new("flip-middle");
    let victim = written[1].clone();
    // Base offset, length, magic, CRC, attributes, last offset delta, a record byte, the last byte.
    for field in [7, 11, 16, 18, 22, 26, 70, victim.bytes.len() as u64 - 1] {
        let mut damaged_log = log.clone();
        damaged_log[(victim.position + field) as usize] ^= 0x04;
        let pdir = damaged(&root, &format!("middle-{field}"), &damaged_log);
        check_recovered(
            &pdir,
            &config(),
            &written[..1],
            log.len() as u64 - victim.position,
            &format!("byte {field} of batch 1"),
        );
        std::fs::remove_dir_all(&pdir).unwrap();
    }
}

#[test]
fn garbage_after_the_last_batch_is_cut() {
    let (_src, log, written) = source("garbage-src");
    let root = TempDir::new("garbage");
    let mut rng = XorShift(0x0dda_5eed);
    let mut tails: Vec<(String, Vec<u8>)> = Vec::new();
    for len in [1, 11, 12, 42, 43, 60, 61, 62, 200, 5_000] {
        tails.push((format!("{len} random bytes"), rng.bytes(len)));
        tails.push((format!("{len} zero bytes"), vec![0; len]));
    }
    // Plausible headers: a v2 batch claiming more bytes than follow, and one
    // whose length fits but whose CRC does not match.
    let mut header = written[1].bytes[..61].to_vec();
    header[0..8].copy_from_slice(&written.last().unwrap().next.to_be_bytes());
    tails.push((
        "a header claiming more than the file holds".into(),
        header.clone(),
    ));
    let mut bad_crc = written[1].bytes.to_vec();
    bad_crc[0..8].copy_from_slice(&written.last().unwrap().next.to_be_bytes());
    bad_crc[17] ^= 0xff;
    tails.push(("a whole batch with a bad CRC".into(), bad_crc));
    // A stale copy of an earlier, valid batch: its offsets would run backwards.
    tails.push(("a stale copy of batch 1".into(), written[1].bytes.to_vec()));
    tails.push((
        "a stale copy of the last batch".into(),
        written.last().unwrap().bytes.to_vec(),
    ));
    // Offsets that skip ahead of the log end.
    let mut ahead = written.last().unwrap().bytes.to_vec();
    ahead[0..8].copy_from_slice(&(written.last().unwrap().next + 5).to_be_bytes());
    tails.push(("a valid batch with a gap before it".into(), ahead));

    for (i, (what, tail)) in tails.iter().enumerate() {
        let mut damaged_log = log.clone();
        damaged_log.extend_from_slice(tail);
        let pdir = damaged(&root, &format!("garbage-{i}"), &damaged_log);
        check_recovered(&pdir, &config(), &written, tail.len() as u64, what);
        std::fs::remove_dir_all(&pdir).unwrap();
    }
}

#[test]
fn an_empty_or_missing_log_recovers_empty() {
    let root = TempDir::new("empty");
    let pdir = damaged(&root, "empty", &[]);
    check_recovered(&pdir, &config(), &[], 0, "empty segment file");
    let fresh = root.path().join("fresh");
    check_recovered(&fresh, &config(), &[], 0, "no directory at all");
    let garbage = damaged(&root, "garbage-only", &[7; 100]);
    check_recovered(&garbage, &config(), &[], 100, "a segment of garbage");
}
