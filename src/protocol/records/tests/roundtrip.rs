use super::*;
use crate::protocol::records::compression::{compress, decompress};
use crate::protocol::records::header::RECORDS;

#[test]
fn round_trip_every_codec() {
    let expected = sample_records();
    for codec in Compression::ALL {
        let bytes = sample_builder(codec).build().unwrap();
        let batch = RecordBatch::new(bytes.clone()).unwrap();
        batch.verify_crc().unwrap();
        assert_eq!(batch.compression().unwrap(), codec);
        assert_eq!(batch.magic(), 2);
        assert_eq!(batch.base_offset(), 1000);
        assert_eq!(batch.batch_length() as usize, bytes.len() - 12);
        assert_eq!(batch.partition_leader_epoch(), 9);
        assert_eq!(
            (
                batch.producer_id(),
                batch.producer_epoch(),
                batch.base_sequence()
            ),
            (42, 3, 17)
        );
        assert_eq!(batch.record_count(), 5);
        assert_eq!(batch.last_offset_delta(), 4);
        assert_eq!((batch.last_offset(), batch.next_offset()), (1004, 1005));
        assert_eq!(batch.base_timestamp(), 1_700_000_000_000);
        assert_eq!(batch.max_timestamp(), 1_700_000_000_005);
        assert_eq!(batch.timestamp_type(), TimestampType::CreateTime);
        assert!(!batch.is_transactional() && !batch.is_control() && !batch.has_delete_horizon());

        let records = collect(&batch);
        assert_eq!(records.len(), expected.len(), "{codec:?}");
        for (i, (got, want)) in records.iter().zip(&expected).enumerate() {
            assert_eq!(got.offset, 1000 + i as i64);
            assert_eq!(got.offset_delta, i as i32);
            assert_eq!(got.timestamp, want.timestamp);
            assert_eq!(got.key, want.key, "{codec:?} record {i}");
            assert_eq!(got.value, want.value, "{codec:?} record {i}");
            assert_eq!(got.headers, want.headers, "{codec:?} record {i}");
        }
        // Null and empty stay distinct.
        assert_eq!(
            (records[1].key.clone(), records[2].key.clone()),
            (None, Some(Bytes::new()))
        );
    }
}

#[test]
fn uncompressed_records_are_zero_copy() {
    let bytes = small_batch(Compression::None);
    let batch = RecordBatch::new(bytes.clone()).unwrap();
    let key = collect(&batch)[0].key.clone().unwrap();
    let range = bytes.as_ptr_range();
    assert!(range.contains(&key.as_ptr()));
}

#[test]
fn empty_batch_round_trips() {
    for codec in Compression::ALL {
        let batch =
            RecordBatch::new(BatchBuilder::new(7).compression(codec).build().unwrap()).unwrap();
        batch.verify_crc().unwrap();
        assert_eq!((batch.record_count(), batch.last_offset_delta()), (0, 0));
        assert_eq!(batch.records().count(), 0);
    }
}

#[test]
fn log_append_time_batches_report_the_max_timestamp() {
    let bytes = BatchBuilder::new(0)
        .log_append_time(99)
        .record(NewRecord::new(5, None, None))
        .record(NewRecord::new(6, None, None))
        .build()
        .unwrap();
    let batch = RecordBatch::new(bytes).unwrap();
    assert_eq!(batch.timestamp_type(), TimestampType::LogAppendTime);
    assert_eq!(batch.max_timestamp(), 99);
    assert!(collect(&batch).iter().all(|r| r.timestamp == 99));
}

#[test]
fn control_batch_round_trips() {
    for commit in [true, false] {
        let marker = EndTxnMarker {
            commit,
            coordinator_epoch: 77,
        };
        let batch = RecordBatch::new(control_batch(500, 8, 2, 1234, marker).unwrap()).unwrap();
        batch.verify_crc().unwrap();
        assert!(batch.is_control() && batch.is_transactional());
        assert_eq!(batch.compression().unwrap(), Compression::None);
        assert_eq!(
            (
                batch.producer_id(),
                batch.producer_epoch(),
                batch.base_sequence()
            ),
            (8, 2, -1)
        );
        let records = collect(&batch);
        assert_eq!(records.len(), 1);
        assert_eq!(
            records[0].key.as_deref(),
            Some(&[0, 0, 0, u8::from(commit)][..])
        );
        assert_eq!(records[0].value.as_deref(), Some(&[0, 0, 0, 0, 0, 77][..]));
        assert_eq!(EndTxnMarker::parse(&records[0]).unwrap(), marker);
    }
    assert_eq!(
        ControlType::parse_key(&[0, 0, 0, 2]).unwrap(),
        ControlType::Other(2)
    );
    assert!(ControlType::parse_key(&[0xff, 0xff, 0, 1]).is_err());
    assert!(ControlType::parse_key(&[0, 0, 0]).is_err());
}

#[test]
fn crc_is_crc32c_over_attributes_to_end() {
    assert_eq!(crc32c::crc32c(b"123456789"), 0xe306_9283);
    let bytes = small_batch(Compression::None);
    let batch = RecordBatch::new(bytes.clone()).unwrap();
    assert_eq!(batch.crc(), crc32c::crc32c(&bytes[21..]));
}

#[test]
fn crc_mismatch_is_detected_after_flipping_any_covered_byte() {
    let bytes = small_batch(Compression::Lz4);
    for at in 21..bytes.len() {
        let mut corrupt = bytes.to_vec();
        corrupt[at] ^= 0x01;
        let batch = RecordBatch::new(Bytes::from(corrupt)).unwrap();
        match batch.verify_crc() {
            Err(RecordError::CrcMismatch { stored, computed }) => {
                assert_eq!(stored, batch.crc());
                assert_ne!(stored, computed);
            }
            other => panic!("byte {at}: expected CrcMismatch, got {other:?}"),
        }
    }
    // Flipping the CRC itself is also a mismatch.
    let mut corrupt = bytes.to_vec();
    corrupt[17] ^= 0x80;
    assert!(matches!(
        RecordBatch::new(Bytes::from(corrupt)).unwrap().verify_crc(),
        Err(RecordError::CrcMismatch { .. })
    ));
}

#[test]
fn xerial_and_raw_snappy_both_decode() {
    let data: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 13) as u8).collect();
    // Xerial-framed, several 32 KiB blocks, as the Java producer writes.
    let mut framed = bytes::BytesMut::new();
    compress(Compression::Snappy, &data, &mut framed).unwrap();
    assert_eq!(&framed[..8], &[0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0]);
    assert_eq!(&framed[8..16], &[0, 0, 0, 1, 0, 0, 0, 1]);
    assert_eq!(
        decompress(Compression::Snappy, &framed, usize::MAX).unwrap(),
        data
    );
    // One raw block, as some non-Java clients write.
    let raw = snap::raw::Encoder::new().compress_vec(&data).unwrap();
    assert_eq!(
        decompress(Compression::Snappy, &raw, data.len()).unwrap(),
        data
    );

    // And a batch whose records section is a raw snappy block.
    let plain = small_batch(Compression::None);
    let raw_records = snap::raw::Encoder::new()
        .compress_vec(&plain[RECORDS..])
        .unwrap();
    let mut buf = bytes::BytesMut::from(&plain[..RECORDS]);
    buf.extend_from_slice(&raw_records);
    let len = (buf.len() - 12) as i32;
    buf[8..12].copy_from_slice(&len.to_be_bytes());
    buf[22] |= 2; // attributes low byte: snappy
    let mut batch = RecordBatchMut::new(buf).unwrap();
    batch.set_partition_leader_epoch(1);
    let batch = batch.freeze();
    assert_eq!(collect(&batch), collect(&RecordBatch::new(plain).unwrap()));
}

#[test]
fn lz4_frames_use_independent_64k_blocks() {
    let mut out = bytes::BytesMut::new();
    compress(Compression::Lz4, b"hello", &mut out).unwrap();
    assert_eq!(&out[..4], &[0x04, 0x22, 0x4d, 0x18]); // frame magic
    assert_eq!(out[4] & 0x20, 0x20, "block independence flag");
    assert_eq!(out[5] >> 4 & 0x07, 4, "64 KiB max block size");
}

#[test]
fn batch_iter_splits_and_reports_a_partial_tail() {
    let a = small_batch(Compression::None);
    let b = small_batch(Compression::Gzip);
    let c = control_batch(
        9,
        1,
        1,
        1,
        EndTxnMarker {
            commit: true,
            coordinator_epoch: 0,
        },
    )
    .unwrap();
    let whole = [a.clone(), b.clone(), c.clone()].concat();
    let batches = split_batches(Bytes::from(whole.clone())).unwrap();
    assert_eq!(
        batches
            .iter()
            .map(|b| b.as_bytes().clone())
            .collect::<Vec<_>>(),
        vec![a.clone(), b, c]
    );

    for cut in [5, 11, 12, 40, a.len() - 1] {
        let mut data = whole.clone();
        data.extend_from_slice(&a[..cut]);
        let mut iter = BatchIter::new(Bytes::from(data.clone()));
        assert_eq!(iter.by_ref().filter(Result::is_ok).count(), 3);
        assert_eq!(iter.partial_tail().map(Bytes::len), Some(cut));
        assert!(
            matches!(split_batches(Bytes::from(data)), Err(RecordError::PartialBatch { remaining, .. }) if remaining == cut)
        );
    }
    let mut iter = BatchIter::new(Bytes::from(whole));
    assert_eq!(iter.by_ref().count(), 3);
    assert!(iter.partial_tail().is_none());
}
