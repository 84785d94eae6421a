//! Codec throughput: decode a Produce request carrying 1 MiB of records and
//! encode a Fetch response carrying 1 MiB, beside a plain 1 MiB copy of the
//! same bytes as the floor (run in the same process, so compare ratios).
//!
//! `cargo bench --bench codec`

use bytes::{Bytes, BytesMut};
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use odradek::protocol::frame::{decode_request, encode_request, encode_response};
use odradek::protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use odradek::protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use odradek::protocol::messages::{
    ApiKey, FetchResponse, ProduceRequest, RequestBody, RequestHeader, ResponseBody,
};

const MIB: usize = 1 << 20;

/// 1 MiB of records split over 16 partitions, as a busy producer sends it.
fn produce_frame() -> Bytes {
    let chunk = Bytes::from(vec![0x5au8; MIB / 16]);
    let body = RequestBody::Produce(ProduceRequest {
        acks: -1,
        timeout_ms: 30_000,
        topic_data: vec![TopicProduceData {
            name: "bench".into(),
            partition_data: (0..16)
                .map(|i| PartitionProduceData {
                    index: i,
                    records: Some(chunk.clone()),
                })
                .collect(),
            ..TopicProduceData::default()
        }],
        ..ProduceRequest::default()
    });
    let header = RequestHeader {
        request_api_key: 0,
        request_api_version: 9,
        correlation_id: 1,
        client_id: Some("bench".into()),
    };
    encode_request(&header, &body)
        .expect("encode produce")
        .freeze()
        .slice(4..)
}

fn fetch_response() -> ResponseBody {
    let chunk = Bytes::from(vec![0xa5u8; MIB / 16]);
    ResponseBody::Fetch(FetchResponse {
        responses: vec![FetchableTopicResponse {
            topic: "bench".into(),
            partitions: (0..16)
                .map(|i| PartitionData {
                    partition_index: i,
                    high_watermark: 1_000,
                    records: Some(chunk.clone()),
                    ..PartitionData::default()
                })
                .collect(),
            ..FetchableTopicResponse::default()
        }],
        ..FetchResponse::default()
    })
}

fn codec(c: &mut Criterion) {
    let mut group = c.benchmark_group("codec_1MiB");
    group.throughput(Throughput::Bytes(MIB as u64));

    let source = vec![0x33u8; MIB];
    group.bench_function("floor_memcpy_1MiB", |b| {
        b.iter(|| {
            let mut out = BytesMut::with_capacity(MIB);
            out.extend_from_slice(black_box(&source));
            black_box(out)
        })
    });

    let frame = produce_frame();
    group.bench_function("decode_produce_v9", |b| {
        b.iter(|| black_box(decode_request(black_box(frame.clone())).expect("decode")))
    });

    let response = fetch_response();
    group.bench_function("encode_fetch_v12", |b| {
        b.iter(|| {
            black_box(encode_response(ApiKey::Fetch, 12, 7, black_box(&response)).expect("encode"))
        })
    });
    group.finish();
}

criterion_group!(benches, codec);
criterion_main!(benches);
