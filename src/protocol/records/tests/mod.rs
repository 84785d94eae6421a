//! Tests for the record batch module: round trips, patching, hostile
//! input, a deterministic fuzz loop and interop with the `kafka-protocol` crate.

mod fuzz;
mod hostile;
mod interop;
mod patching;
mod roundtrip;

use super::*;
use bytes::Bytes;

/// Records covering null vs empty keys and values, duplicate header keys,
/// null header values, negative timestamp deltas and a value large enough
/// to span several lz4 (64 KiB) and xerial snappy (32 KiB) blocks.
fn sample_records() -> Vec<NewRecord> {
    let big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    vec![
        NewRecord::new(
            1_700_000_000_000,
            Some(Bytes::from_static(b"k1")),
            Some(Bytes::from_static(b"v1")),
        )
        .with_header("dup", Some(Bytes::from_static(b"a")))
        .with_header("dup", Some(Bytes::from_static(b"b")))
        .with_header("nullv", None)
        .with_header("", Some(Bytes::new())),
        NewRecord::new(1_700_000_000_005, None, None),
        NewRecord::new(1_699_999_999_990, Some(Bytes::new()), Some(Bytes::new())),
        NewRecord::new(1_700_000_000_001, None, Some(Bytes::from(big))),
        NewRecord::new(1_700_000_000_002, Some(Bytes::from_static(b"k")), None),
    ]
}

fn sample_builder(codec: Compression) -> BatchBuilder {
    let mut builder = BatchBuilder::new(1000)
        .producer(42, 3, 17)
        .partition_leader_epoch(9)
        .compression(codec);
    for record in sample_records() {
        builder.push(record);
    }
    builder
}

/// A small batch, so loops over every byte stay fast.
fn small_batch(codec: Compression) -> Bytes {
    BatchBuilder::new(5)
        .compression(codec)
        .record(
            NewRecord::new(
                10,
                Some(Bytes::from_static(b"key")),
                Some(Bytes::from_static(b"value")),
            )
            .with_header("h", Some(Bytes::from_static(b"x")))
            .with_header("h", None),
        )
        .record(NewRecord::new(12, None, Some(Bytes::new())))
        .record(NewRecord::new(11, Some(Bytes::new()), None))
        .build()
        .unwrap()
}

fn collect(batch: &RecordBatch) -> Vec<Record> {
    batch.records().collect::<Result<Vec<_>, _>>().unwrap()
}

/// A copy of `buf` with `value` written at `at` (CRC not recomputed).
fn poke(buf: &[u8], at: usize, value: &[u8]) -> bytes::BytesMut {
    let mut out = bytes::BytesMut::from(buf);
    out[at..at + value.len()].copy_from_slice(value);
    out
}

/// Deterministic xorshift64*, so fuzz failures reproduce.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}
