//! Interop with the independent `kafka-protocol` crate (uncompressed, since
//! its codecs are not enabled here): each side decodes what the other encodes.

use super::*;
use kafka_protocol::indexmap::IndexMap;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records as kp;

#[test]
fn kafka_protocol_decodes_our_batches() {
    let bytes = BatchBuilder::new(100)
        .producer(7, 1, 5)
        .transactional(true)
        .record(
            NewRecord::new(1_000, Some(Bytes::from_static(b"k")), None)
                .with_header("h", Some(Bytes::from_static(b"v"))),
        )
        .record(NewRecord::new(999, None, Some(Bytes::new())))
        .build()
        .unwrap();
    let mut buf = bytes.clone();
    let set = kp::RecordBatchDecoder::decode(&mut buf).unwrap();
    assert_eq!(set.records.len(), 2);
    let (a, b) = (&set.records[0], &set.records[1]);
    assert_eq!(
        (a.offset, a.timestamp, a.sequence, a.producer_id),
        (100, 1_000, 5, 7)
    );
    assert!(a.transactional);
    assert_eq!(a.key.as_deref(), Some(&b"k"[..]));
    assert_eq!(a.value, None);
    assert_eq!(
        a.headers.get(&b"h"[..]).cloned(),
        Some(Some(Bytes::from_static(b"v")))
    );
    assert_eq!(
        (b.offset, b.timestamp, b.key.clone(), b.value.clone()),
        (101, 999, None, Some(Bytes::new()))
    );
}

#[test]
fn we_decode_kafka_protocol_batches() {
    let record =
        |offset: i64, key: Option<&'static [u8]>, value: Option<&'static [u8]>| kp::Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: 4,
            producer_id: 9,
            producer_epoch: 2,
            timestamp_type: kp::TimestampType::Creation,
            offset,
            sequence: offset as i32,
            timestamp: 50 + offset,
            key: key.map(Bytes::from_static),
            value: value.map(Bytes::from_static),
            headers: IndexMap::from([
                (StrBytes::from_static_str("h1"), None),
                (
                    StrBytes::from_static_str("h2"),
                    Some(Bytes::from_static(b"x")),
                ),
            ]),
        };
    let records = [
        record(0, Some(b"a"), Some(b"1")),
        record(1, None, Some(b"")),
        record(2, Some(b""), None),
    ];
    let mut buf = bytes::BytesMut::new();
    let options = kp::RecordEncodeOptions {
        version: 2,
        compression: kp::Compression::None,
    };
    kp::RecordBatchEncoder::encode(&mut buf, &records, &options).unwrap();

    let batches = split_batches(buf.freeze()).unwrap();
    assert_eq!(batches.len(), 1);
    let batch = &batches[0];
    batch.verify_crc().unwrap();
    assert_eq!(
        (
            batch.producer_id(),
            batch.producer_epoch(),
            batch.base_sequence()
        ),
        (9, 2, 0)
    );
    assert_eq!(
        (batch.partition_leader_epoch(), batch.max_timestamp()),
        (4, 52)
    );
    let decoded = collect(batch);
    assert_eq!(decoded.len(), 3);
    for (ours, theirs) in decoded.iter().zip(&records) {
        assert_eq!(
            (ours.offset, ours.timestamp),
            (theirs.offset, theirs.timestamp)
        );
        assert_eq!((&ours.key, &ours.value), (&theirs.key, &theirs.value));
        let headers: Vec<_> = theirs
            .headers
            .iter()
            .map(|(k, v)| (Bytes::copy_from_slice(k.as_bytes()), v.clone()))
            .collect();
        assert_eq!(ours.headers, headers);
    }
}
