//! Tests of the storage engine: appends and reads, crash recovery of torn or
//! corrupt segments, index rebuilding, retention and timestamp lookups.
//! (The kill -9 durability test is the integration test `tests/kill_durability.rs`.)

mod append_read;
mod cleaner;
mod cleaner_replay;
mod coordinator_fencing;
mod deletion;
mod epochs;
mod idempotence;
mod index;
mod recovery;
mod replication;
mod retention;
mod timestamps;
mod truncation;
mod txn_verification;
mod watchers;

use super::partition::{Appended, Isolation, Oversize, Partition, ReadError, Recovery};
use crate::config::log_config::LogConfig;
use crate::protocol::records::{split_batches, BatchBuilder, Compression, NewRecord, RecordBatch};
use bytes::Bytes;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(label: &str) -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!(
            "odradek-logtest-{}-{n}-{label}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }

    /// The directory of the one partition a test works on.
    fn partition_dir(&self) -> PathBuf {
        self.0.join("t-0")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Durable mode, with everything else at the defaults.
fn config() -> LogConfig {
    LogConfig::default()
}

fn open(dir: &Path, config: LogConfig, now_ms: i64) -> (Partition, Recovery) {
    Partition::open(dir.to_path_buf(), "t", 0, config, now_ms).unwrap()
}

/// A batch of one record per timestamp; record `i` has key `tag` and value `"{tag}/{i}"`.
fn batch(tag: &str, timestamps: &[i64]) -> Bytes {
    padded_batch(tag, timestamps, 0)
}

/// Like [`batch`], each value followed by `pad` filler bytes (to control sizes).
fn padded_batch(tag: &str, timestamps: &[i64], pad: usize) -> Bytes {
    compressed_batch(tag, timestamps, pad, Compression::None)
}

fn compressed_batch(tag: &str, timestamps: &[i64], pad: usize, codec: Compression) -> Bytes {
    let mut builder = BatchBuilder::new(0).compression(codec);
    for (i, &ts) in timestamps.iter().enumerate() {
        let value = format!("{tag}/{i}{}", "~".repeat(pad));
        builder.push(NewRecord::new(
            ts,
            Some(Bytes::from(tag.to_string())),
            Some(Bytes::from(value)),
        ));
    }
    builder.build().unwrap()
}

/// What the log stores for `input` appended at `base_offset`: the same
/// bytes with the base offset assigned and the leader epoch zeroed.
fn stored(input: &[u8], base_offset: i64) -> Bytes {
    let mut out = input.to_vec();
    out[0..8].copy_from_slice(&base_offset.to_be_bytes());
    out[12..16].copy_from_slice(&0i32.to_be_bytes());
    Bytes::from(out)
}

/// A batch of producer `pid` (epoch `epoch`): `records` records from
/// sequence `first_seq`, transactional or only idempotent.
fn producer_batch(
    pid: i64,
    epoch: i16,
    first_seq: i32,
    records: usize,
    transactional: bool,
) -> Bytes {
    let mut builder = BatchBuilder::new(0)
        .producer(pid, epoch, first_seq)
        .transactional(transactional);
    for i in 0..records {
        builder.push(NewRecord::new(
            1_000 + i as i64,
            None,
            Some(Bytes::from(format!("{pid}/{first_seq}/{i}"))),
        ));
    }
    builder.build().unwrap()
}

/// An idempotent producer's batch (see [`producer_batch`]).
fn idempotent(pid: i64, epoch: i16, first_seq: i32, records: usize) -> Bytes {
    producer_batch(pid, epoch, first_seq, records, false)
}

/// Appends and marks durable at once, as the flusher would after its fsync.
fn append(p: &Partition, bytes: &[u8], now_ms: i64) -> Appended {
    let appended = p.append(bytes, now_ms).unwrap();
    p.mark_durable(appended.last_offset + 1);
    appended
}

/// Splits a read into batches, checking each is whole and its CRC valid.
fn batches(records: Bytes) -> Vec<RecordBatch> {
    let split = split_batches(records).unwrap();
    for b in &split {
        b.verify_crc().unwrap();
    }
    split
}

/// (offset, timestamp, value) of every record of `batch`.
fn records(batch: &RecordBatch) -> Vec<(i64, i64, String)> {
    batch
        .records()
        .map(|r| {
            let r = r.unwrap();
            let value = r
                .value
                .map(|v| String::from_utf8(v.to_vec()).unwrap())
                .unwrap_or_default();
            (r.offset, r.timestamp, value)
        })
        .collect()
}

/// Every batch from the log start to the high watermark, read one fetch at
/// a time; checks they are whole, valid and contiguous.
fn read_all(p: &Partition) -> Vec<RecordBatch> {
    let (start, hw, _) = p.offsets();
    let mut out: Vec<RecordBatch> = Vec::new();
    let mut next = start;
    while next < hw {
        let read = p.read(next, 1 << 20).unwrap();
        assert_eq!(read.high_watermark, hw);
        let got = batches(read.records);
        assert!(
            !got.is_empty(),
            "empty read at {next} below the high watermark {hw}"
        );
        for b in got {
            assert_eq!(b.base_offset(), next, "batches are contiguous");
            next = b.next_offset();
            out.push(b);
        }
    }
    assert_eq!(next, hw);
    out
}

fn is_out_of_range(result: Result<super::partition::ReadResult, ReadError>) -> bool {
    matches!(result, Err(ReadError::OffsetOutOfRange { .. }))
}

/// Base offsets of the segments in `dir`, from the `.log` file names.
fn segment_bases(dir: &Path) -> Vec<i64> {
    let mut bases: Vec<i64> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            e.unwrap()
                .file_name()
                .to_str()?
                .strip_suffix(".log")?
                .parse()
                .ok()
        })
        .collect();
    bases.sort_unstable();
    bases
}

fn segment_file(dir: &Path, base_offset: i64, ext: &str) -> PathBuf {
    dir.join(format!("{base_offset:020}.{ext}"))
}

/// Copies the regular files of `from` into a new directory `to`.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

/// Deterministic xorshift64*, so failures reproduce.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}
