//! A deterministic mutation fuzzer: thousands of corrupted batches through
//! every entry point, asserting only that nothing panics and that limits hold.

use super::*;
use crate::protocol::records::header::{LOG_OVERHEAD, RECORDS, RECORD_COUNT};
use crate::protocol::records::patch;
use bytes::BytesMut;

const ITERATIONS: usize = 4000;
const LIMIT: usize = 256 * 1024;

fn seeds() -> Vec<Bytes> {
    let mut seeds: Vec<Bytes> = Compression::ALL
        .iter()
        .map(|&codec| small_batch(codec))
        .collect();
    seeds.push(
        control_batch(
            3,
            4,
            5,
            6,
            EndTxnMarker {
                commit: true,
                coordinator_epoch: 7,
            },
        )
        .unwrap(),
    );
    seeds.push(BatchBuilder::new(0).build().unwrap());
    seeds
}

fn mutate(rng: &mut XorShift, seed: &[u8]) -> BytesMut {
    let mut buf = BytesMut::from(seed);
    for _ in 0..=rng.below(4) {
        match rng.below(6) {
            // Flip bits, mostly in the records section where parsing happens.
            0 | 1 => {
                let start = if rng.below(4) == 0 {
                    0
                } else {
                    RECORDS.min(buf.len())
                };
                if buf.len() > start {
                    let at = start + rng.below(buf.len() - start);
                    buf[at] ^= 1 << rng.below(8);
                }
            }
            2 => {
                let at = rng.below(buf.len() + 1);
                buf.truncate(at);
            }
            3 => {
                let at = rng.below(buf.len() + 1);
                let tail = buf.split_off(at);
                for _ in 0..=rng.below(8) {
                    buf.extend_from_slice(&[rng.next() as u8]);
                }
                buf.unsplit(tail);
            }
            // Interesting values in the count: huge, negative, off by one.
            4 if buf.len() >= RECORDS => {
                let count = [i32::MAX, i32::MIN, -1, 0, 1, 2, 4, 1 << 20][rng.below(8)];
                buf[RECORD_COUNT..RECORD_COUNT + 4].copy_from_slice(&count.to_be_bytes());
            }
            _ => {
                if buf.len() > RECORDS {
                    let at = RECORDS + rng.below(buf.len() - RECORDS);
                    buf[at] = [0x00, 0x01, 0x7f, 0x80, 0xff][rng.below(5)];
                }
            }
        }
    }
    // Usually keep the framing consistent so the record parser is reached.
    if rng.below(8) != 0 && buf.len() >= RECORDS {
        let len = (buf.len() - LOG_OVERHEAD) as i32;
        buf[8..12].copy_from_slice(&len.to_be_bytes());
        buf[16] = 2;
    }
    buf
}

fn exercise(bytes: Bytes) {
    for batch in BatchIter::new(bytes.clone()).flatten() {
        let _ = batch.verify_crc();
    }
    let Ok(batch) = RecordBatch::new(bytes) else {
        return;
    };
    let _ = format!("{batch:?}");
    let _ = (
        batch.compression(),
        batch.timestamp_type(),
        batch.last_offset(),
        batch.next_offset(),
    );
    let _ = batch.verify_crc();
    let mut decoded = 0usize;
    for record in batch.records_with_limit(LIMIT) {
        match record {
            Ok(record) => {
                decoded += 1;
                if batch.is_control() {
                    let _ = EndTxnMarker::parse(&record);
                }
            }
            Err(err) => {
                let _ = err.to_string();
            }
        }
    }
    assert!(decoded <= LIMIT / 7);
    let mut buf = BytesMut::from(&batch.as_bytes()[..]);
    patch::set_max_timestamp(&mut buf, TimestampType::LogAppendTime, 1).unwrap();
    RecordBatch::new(buf.freeze())
        .unwrap()
        .verify_crc()
        .unwrap();
}

#[test]
fn mutated_batches_never_panic() {
    let seeds = seeds();
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    for _ in 0..ITERATIONS {
        let seed = &seeds[rng.below(seeds.len())];
        exercise(mutate(&mut rng, seed).freeze());
    }
}

#[test]
fn random_record_sections_never_panic() {
    let mut rng = XorShift(42);
    let header = &small_batch(Compression::None)[..RECORDS];
    for _ in 0..ITERATIONS {
        let mut buf = BytesMut::from(header);
        for _ in 0..rng.below(64) {
            buf.extend_from_slice(&[rng.next() as u8]);
        }
        let len = (buf.len() - LOG_OVERHEAD) as i32;
        buf[8..12].copy_from_slice(&len.to_be_bytes());
        let count = rng.below(12) as i32 - 1;
        buf[RECORD_COUNT..RECORD_COUNT + 4].copy_from_slice(&count.to_be_bytes());
        buf[22] = rng.below(8) as u8; // any codec id, including invalid ones
        exercise(buf.freeze());
    }
}
