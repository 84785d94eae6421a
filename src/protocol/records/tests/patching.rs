use super::*;
use crate::protocol::records::patch;
use bytes::BytesMut;

#[test]
fn patching_base_offset_and_epoch_keeps_the_crc_valid() {
    let original = small_batch(Compression::Zstd);
    let mut buf = BytesMut::from(&original[..]);
    patch::set_base_offset(&mut buf, 123_456).unwrap();
    patch::set_partition_leader_epoch(&mut buf, 31).unwrap();
    assert_eq!(buf[17..21], original[17..21], "CRC untouched");
    let batch = RecordBatch::new(buf.freeze()).unwrap();
    batch.verify_crc().unwrap();
    assert_eq!(
        (batch.base_offset(), batch.partition_leader_epoch()),
        (123_456, 31)
    );
    assert_eq!(
        collect(&batch).iter().map(|r| r.offset).collect::<Vec<_>>(),
        vec![123_456, 123_457, 123_458]
    );
}

#[test]
fn patching_max_timestamp_recomputes_the_crc() {
    for codec in [Compression::None, Compression::Snappy] {
        let original = small_batch(codec);
        let mut batch = RecordBatchMut::new(BytesMut::from(&original[..])).unwrap();
        batch.set_base_offset(77);
        batch.set_max_timestamp(TimestampType::LogAppendTime, 5_000);
        assert_ne!(batch.as_slice()[17..21], original[17..21], "CRC recomputed");
        let batch = batch.freeze();
        batch.verify_crc().unwrap();
        assert_eq!(batch.timestamp_type(), TimestampType::LogAppendTime);
        assert_eq!(batch.max_timestamp(), 5_000);
        assert_eq!(batch.compression().unwrap(), codec, "other attributes kept");
        assert!(collect(&batch).iter().all(|r| r.timestamp == 5_000));

        // Back to CreateTime via the slice function.
        let mut buf = BytesMut::from(&batch.as_bytes()[..]);
        patch::set_max_timestamp(&mut buf, TimestampType::CreateTime, 12).unwrap();
        let batch = RecordBatch::new(buf.freeze()).unwrap();
        batch.verify_crc().unwrap();
        assert_eq!(batch.timestamp_type(), TimestampType::CreateTime);
        assert_eq!(
            collect(&batch)
                .iter()
                .map(|r| r.timestamp)
                .collect::<Vec<_>>(),
            vec![10, 12, 11]
        );
    }
}

#[test]
fn recompute_crc_fixes_an_edited_batch() {
    let mut buf = BytesMut::from(&small_batch(Compression::None)[..]);
    buf[30] ^= 0xff; // base timestamp
    assert!(RecordBatch::new(buf.clone().freeze())
        .unwrap()
        .verify_crc()
        .is_err());
    let crc = patch::recompute_crc(&mut buf).unwrap();
    let batch = RecordBatch::new(buf.freeze()).unwrap();
    batch.verify_crc().unwrap();
    assert_eq!(batch.crc(), crc);
}

#[test]
fn patching_rejects_what_is_not_a_batch() {
    let mut short = [0u8; 20];
    short[16] = 2;
    assert!(matches!(
        patch::set_base_offset(&mut short, 1),
        Err(RecordError::Truncated { .. })
    ));
    let mut old = small_batch(Compression::None).to_vec();
    old[16] = 1;
    assert_eq!(
        patch::set_max_timestamp(&mut old, TimestampType::LogAppendTime, 1),
        Err(RecordError::BadMagic(1))
    );
    assert!(RecordBatchMut::new(BytesMut::from(&old[..])).is_err());
}
