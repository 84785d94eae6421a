use super::*;
use crate::protocol::records::compression::{compress, decompress};
use crate::protocol::records::header::{RECORDS, RECORD_COUNT};
use crate::protocol::records::patch;
use bytes::BytesMut;
use std::time::{Duration, Instant};

/// A header followed by `records` bytes, claiming `count` records, with a valid length and CRC.
fn handmade(count: i32, records: &[u8]) -> RecordBatch {
    let mut buf = BytesMut::from(&small_batch(Compression::None)[..RECORDS]);
    buf.extend_from_slice(records);
    let len = (buf.len() - 12) as i32;
    buf[8..12].copy_from_slice(&len.to_be_bytes());
    buf[RECORD_COUNT..RECORD_COUNT + 4].copy_from_slice(&count.to_be_bytes());
    patch::recompute_crc(&mut buf).unwrap();
    RecordBatch::new(buf.freeze()).unwrap()
}

fn first_error(batch: &RecordBatch) -> RecordError {
    batch.records().find_map(Result::err).expect("an error")
}

#[test]
fn record_count_i32_max_fails_fast_without_allocating() {
    // Regression: another crate aborted on record_count = i32::MAX by
    // preallocating for the claim.
    for codec in Compression::ALL {
        let bytes = small_batch(codec);
        let mut buf = poke(&bytes, RECORD_COUNT, &i32::MAX.to_be_bytes());
        patch::recompute_crc(&mut buf).unwrap();
        let batch = RecordBatch::new(buf.freeze()).unwrap();
        let start = Instant::now();
        let results: Vec<_> = batch.records().collect();
        assert!(start.elapsed() < Duration::from_secs(2));
        assert_eq!(results.len(), 1, "{codec:?}");
        assert!(
            matches!(results[0], Err(RecordError::TooManyRecords { claimed, .. }) if claimed == i64::from(i32::MAX))
        );
        let (_, upper) = batch.records().size_hint();
        assert!(upper.is_some_and(|n| n <= 1));
    }
}

#[test]
fn record_count_larger_than_present_stops_with_an_error() {
    let plain = small_batch(Compression::None);
    let mut buf = poke(&plain, RECORD_COUNT, &4i32.to_be_bytes());
    patch::recompute_crc(&mut buf).unwrap();
    let results: Vec<_> = RecordBatch::new(buf.freeze()).unwrap().records().collect();
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 3);
    assert!(matches!(
        results.last(),
        Some(Err(RecordError::Truncated { .. }))
    ));
}

#[test]
fn negative_counts_and_lengths_are_rejected() {
    assert!(matches!(
        first_error(&handmade(-1, &[0; 8])),
        RecordError::InvalidLength {
            field: "record count",
            ..
        }
    ));
    // Record length -2 (zig-zag 3).
    assert!(matches!(
        first_error(&handmade(1, &[3, 0, 0, 0, 0, 0, 0])),
        RecordError::InvalidLength { .. }
    ));
    // Key length -2.
    assert!(matches!(
        first_error(&handmade(1, &[12, 0, 0, 0, 3, 1, 0, 0, 0, 0, 0, 0, 0])),
        RecordError::InvalidLength {
            field: "record key",
            ..
        }
    ));
}

#[test]
fn record_structure_errors_carry_context() {
    // length 6: attrs, ts 0, offset 0, key null, value null, 0 headers => exact.
    let ok = [12, 0, 0, 0, 1, 1, 0];
    assert_eq!(handmade(1, &ok).records().filter(Result::is_ok).count(), 1);
    // Declared length one larger than the fields use.
    let long = [14, 0, 0, 0, 1, 1, 0, 0];
    assert_eq!(
        first_error(&handmade(1, &long)),
        RecordError::RecordLengthMismatch {
            declared: 7,
            consumed: 6
        }
    );
    // Null header key.
    let null_key = [16, 0, 0, 0, 1, 1, 2, 1, 1];
    assert_eq!(
        first_error(&handmade(1, &null_key)),
        RecordError::NullHeaderKey
    );
    // Header count far beyond the bytes.
    let many = [14, 0, 0, 0, 1, 1, 0xfe, 0x0f];
    assert!(matches!(
        first_error(&handmade(1, &many)),
        RecordError::TooManyHeaders { .. }
    ));
    // Bytes left after the declared records.
    assert_eq!(
        first_error(&handmade(1, &[ok, ok].concat())),
        RecordError::TrailingBytes { remaining: 7 }
    );
    // A varint that never ends.
    assert_eq!(
        first_error(&handmade(1, &[0xff; 8])),
        RecordError::BadVarint {
            field: "record length"
        }
    );
    // Unassigned codec 5.
    let plain = small_batch(Compression::None);
    let batch = RecordBatch::new(poke(&plain, 21, &[0, 5]).freeze()).unwrap();
    assert_eq!(
        batch.compression(),
        Err(RecordError::UnsupportedCompression(5))
    );
    assert_eq!(first_error(&batch), RecordError::UnsupportedCompression(5));
}

#[test]
fn construction_validates_magic_and_length() {
    let plain = small_batch(Compression::None);
    assert_eq!(
        RecordBatch::new(poke(&plain, 16, &[1]).freeze()),
        Err(RecordError::BadMagic(1))
    );
    // A short v0 message reports its magic, not a length error.
    let mut v0 = vec![0u8; 26];
    v0[11] = 14;
    assert_eq!(
        RecordBatch::new(Bytes::from(v0)),
        Err(RecordError::BadMagic(0))
    );
    let wrong_len = poke(&plain, 8, &((plain.len() - 11) as i32).to_be_bytes());
    assert!(matches!(
        RecordBatch::new(wrong_len.freeze()),
        Err(RecordError::InvalidBatchLength { .. })
    ));
    let negative = poke(&plain, 8, &(-1i32).to_be_bytes());
    assert!(matches!(
        RecordBatch::new(negative.freeze()),
        Err(RecordError::InvalidBatchLength { .. })
    ));
    let mut extra = plain.to_vec();
    extra.push(0);
    assert!(matches!(
        RecordBatch::new(Bytes::from(extra)),
        Err(RecordError::InvalidBatchLength { .. })
    ));
}

#[test]
fn truncation_at_every_position_never_panics() {
    for codec in Compression::ALL {
        let bytes = small_batch(codec);
        for cut in 0..bytes.len() {
            let short = bytes.slice(..cut);
            assert!(
                RecordBatch::new(short.clone()).is_err(),
                "{codec:?} cut {cut}"
            );
            // Fix the length so the records section itself is truncated.
            if cut >= RECORDS {
                let fixed = poke(&short, 8, &((cut - 12) as i32).to_be_bytes());
                let batch = RecordBatch::new(fixed.freeze()).unwrap();
                let results: Vec<_> = batch.records().collect();
                // Codecs may tolerate a missing end mark (lz4); the CRC still
                // catches that. Uncompressed records must notice themselves.
                assert!(batch.verify_crc().is_err(), "{codec:?} cut {cut}");
                if codec == Compression::None {
                    assert!(results.iter().any(Result::is_err), "cut {cut}");
                }
            }
            let mut iter = BatchIter::new(short);
            assert_eq!(iter.by_ref().count(), 0);
            assert_eq!(iter.partial_tail().map(Bytes::len).unwrap_or(0), cut);
        }
    }
}

#[test]
fn decompression_bombs_stop_at_the_cap() {
    const MIB: usize = 1024 * 1024;
    let zeros = vec![0u8; 10 * MIB];
    for codec in [
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ] {
        let mut compressed = BytesMut::new();
        compress(codec, &zeros, &mut compressed).unwrap();
        assert!(compressed.len() < MIB, "{codec:?} compresses zeros");
        assert_eq!(
            decompress(codec, &compressed, MIB),
            Err(RecordError::DecompressedTooLarge { limit: MIB }),
            "{codec:?}"
        );
        assert_eq!(
            decompress(codec, &compressed, zeros.len()).unwrap().len(),
            zeros.len()
        );

        let batch = BatchBuilder::new(0)
            .compression(codec)
            .record(NewRecord::new(0, None, Some(Bytes::from(zeros.clone()))))
            .build()
            .unwrap();
        let batch = RecordBatch::new(batch).unwrap();
        let results: Vec<_> = batch.records_with_limit(MIB).collect();
        assert_eq!(
            results,
            vec![Err(RecordError::DecompressedTooLarge { limit: MIB })],
            "{codec:?}"
        );
    }
    // A raw snappy block whose header claims 10 MiB: refused before allocating.
    let raw = snap::raw::Encoder::new().compress_vec(&zeros).unwrap();
    assert_eq!(
        decompress(Compression::Snappy, &raw, MIB),
        Err(RecordError::DecompressedTooLarge { limit: MIB })
    );
    // A limit too small for even one record is refused before decompressing.
    let batch = RecordBatch::new(small_batch(Compression::Gzip)).unwrap();
    assert!(matches!(
        batch.records_with_limit(6).next(),
        Some(Err(RecordError::TooManyRecords { .. }))
    ));
}

#[test]
fn malformed_compressed_sections_are_errors() {
    for codec in [
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ] {
        for garbage in [
            &b""[..],
            b"\x00",
            b"not compressed at all",
            b"\x82SNAPPY\x00\x00\x00\x00\x01\x00\x00\x00\x01\x7f\xff\xff\xff",
        ] {
            // Must not panic; an empty result is fine for some codecs.
            let _ = decompress(codec, garbage, 1024);
        }
    }
    let truncated_xerial = b"\x82SNAPPY\x00\x00\x00";
    assert!(matches!(
        decompress(Compression::Snappy, truncated_xerial, 1024),
        Err(RecordError::Truncated { .. })
    ));
    let negative_block = b"\x82SNAPPY\x00\x00\x00\x00\x01\x00\x00\x00\x01\xff\xff\xff\xff";
    assert!(matches!(
        decompress(Compression::Snappy, negative_block, 1024),
        Err(RecordError::InvalidLength { .. })
    ));
}
