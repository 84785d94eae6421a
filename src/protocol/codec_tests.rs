//! Codec-wide tests: property round trips of every message at every version,
//! differential checks against the independent `kafka-protocol` crate, and a
//! bounded fuzz-style run over hostile frames.

use super::frame::decode_request;
use super::messages::{round_trip_every_message, ApiKey, RequestBody, ResponseBody};
use super::testing::Rng;
use super::wire::Encode;
use bytes::{Bytes, BytesMut};
use kafka_protocol::messages as kp;
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn every_message_round_trips_at_every_version(seed in any::<u64>()) {
        let checked = round_trip_every_message(seed).map_err(TestCaseError::fail)?;
        // 186 specs with 674 versions between them: a count this low means
        // the generated list lost messages.
        prop_assert!(checked > 600, "only {checked} message versions checked");
    }
}

/// Versions both spec sets define for `key` (the crate follows a newer Kafka).
fn shared_versions(key: ApiKey) -> Option<(kp::ApiKey, i16, i16)> {
    let theirs = kp::ApiKey::try_from(key as i16).ok()?;
    let range = theirs.valid_versions();
    let (min, mut max) = key.spec_versions();
    // An unstable latest version may change upstream without a version bump
    // (ReadShareGroupStateSummary v0 gained LeaderEpoch after our spec set),
    // so only stable versions are compared.
    if key.latest_version_unstable() {
        max -= 1;
    }
    // kafka-protocol 0.18 lists OffsetCommit and OffsetFetch v10 in its
    // ApiKey table, but its messages for them stop at v9 (v10 was unstable
    // when it was cut).
    if matches!(key, ApiKey::OffsetCommit | ApiKey::OffsetFetch) {
        max = max.min(9);
    }
    let (lo, hi) = (min.max(range.min), max.min(range.max));
    (lo <= hi).then_some((theirs, lo, hi))
}

/// One side of the protocol (requests or responses), as both codecs see it.
trait Side: Encode + PartialEq + Sized {
    fn random(key: ApiKey, rng: &mut Rng, version: i16) -> Self;
    fn decode(key: ApiKey, buf: &mut Bytes, version: i16) -> Result<Self, String>;
    /// kafka-protocol decodes `buf` and encodes what it decoded.
    fn theirs_round_trip(
        key: kp::ApiKey,
        buf: &mut Bytes,
        version: i16,
    ) -> Result<BytesMut, String>;
}

impl Side for RequestBody {
    fn random(key: ApiKey, rng: &mut Rng, version: i16) -> Self {
        RequestBody::random(key, rng, version)
    }
    fn decode(key: ApiKey, buf: &mut Bytes, version: i16) -> Result<Self, String> {
        RequestBody::decode(key, buf, version).map_err(|e| e.to_string())
    }
    fn theirs_round_trip(
        key: kp::ApiKey,
        buf: &mut Bytes,
        version: i16,
    ) -> Result<BytesMut, String> {
        let decoded = kp::RequestKind::decode(key, buf, version)
            .map_err(|e| format!("kafka-protocol rejected our bytes: {e}"))?;
        let mut out = BytesMut::new();
        decoded
            .encode(&mut out, version)
            .map_err(|e| format!("kafka-protocol re-encode: {e}"))?;
        Ok(out)
    }
}

impl Side for ResponseBody {
    fn random(key: ApiKey, rng: &mut Rng, version: i16) -> Self {
        ResponseBody::random(key, rng, version)
    }
    fn decode(key: ApiKey, buf: &mut Bytes, version: i16) -> Result<Self, String> {
        ResponseBody::decode(key, buf, version).map_err(|e| e.to_string())
    }
    fn theirs_round_trip(
        key: kp::ApiKey,
        buf: &mut Bytes,
        version: i16,
    ) -> Result<BytesMut, String> {
        let decoded = kp::ResponseKind::decode(key, buf, version)
            .map_err(|e| format!("kafka-protocol rejected our bytes: {e}"))?;
        let mut out = BytesMut::new();
        decoded
            .encode(&mut out, version)
            .map_err(|e| format!("kafka-protocol re-encode: {e}"))?;
        Ok(out)
    }
}

/// Our encoding of a random body, decoded and re-encoded by kafka-protocol,
/// must come back byte for byte; and our decoder must read the crate's
/// bytes back into the original value.
fn differential<S: Side>(
    key: ApiKey,
    theirs: kp::ApiKey,
    version: i16,
    seed: u64,
) -> Result<(), String> {
    let context = |e: String| format!("{key:?} v{version} seed {seed}: {e}");
    let body = S::random(key, &mut Rng::new(seed), version);
    let ours = body
        .to_bytes(version)
        .map_err(|e| context(e.to_string()))?
        .freeze();
    let mut input = ours.clone();
    let theirs_bytes = S::theirs_round_trip(theirs, &mut input, version).map_err(context)?;
    if !input.is_empty() {
        return Err(context(format!(
            "kafka-protocol left {} bytes",
            input.len()
        )));
    }
    if theirs_bytes.as_ref() != ours.as_ref() {
        return Err(context(format!(
            "bytes differ\n ours:   {ours:02x?}\n theirs: {theirs_bytes:02x?}"
        )));
    }
    let ours_again = S::decode(key, &mut theirs_bytes.freeze(), version).map_err(context)?;
    if ours_again != body {
        return Err(context(
            "decoding kafka-protocol's bytes changed the value".into(),
        ));
    }
    Ok(())
}

#[test]
fn requests_and_responses_agree_with_kafka_protocol() {
    let mut failures = Vec::new();
    let mut apis = 0;
    let mut checks = 0;
    for &key in ApiKey::ALL {
        let Some((theirs, lo, hi)) = shared_versions(key) else {
            continue;
        };
        apis += 1;
        for version in lo..=hi {
            for seed in 0..24u64 {
                let seed = seed * 7919 + version as u64;
                checks += 2;
                if let Err(e) = differential::<RequestBody>(key, theirs, version, seed) {
                    failures.push(e);
                }
                if let Err(e) = differential::<ResponseBody>(key, theirs, version, seed) {
                    failures.push(e);
                }
            }
        }
    }
    assert!(apis >= 70, "only {apis} APIs shared with kafka-protocol");
    assert!(
        failures.is_empty(),
        "{} of {checks} checks failed; first few:\n{}",
        failures.len(),
        failures[..failures.len().min(5)].join("\n")
    );
}

/// Mutated valid frames and random bytes: every input must decode or fail
/// with a typed error. Bounded so it runs in CI; cargo-fuzz goes further.
#[test]
fn bounded_fuzz_of_request_frames_never_panics() {
    let mut rng = Rng::new(0x0D2A_DE4B);
    let mut decoded_ok = 0usize;
    let mut rejected = 0usize;
    for round in 0..20_000u64 {
        let key = ApiKey::ALL[rng.below(ApiKey::ALL.len() as u64) as usize];
        let (min, max) = key.spec_versions();
        let version = min + rng.below((max - min + 1) as u64) as i16;
        let body = RequestBody::random(key, &mut rng, version);
        let header = super::messages::RequestHeader {
            request_api_key: key as i16,
            request_api_version: version,
            correlation_id: round as i32,
            client_id: Some("fuzz".into()),
        };
        let Ok(frame) = super::frame::encode_request(&header, &body) else {
            continue;
        };
        let mut bytes = frame[4..].to_vec();
        match rng.below(4) {
            0 => {
                let flips = 1 + rng.below(4);
                for _ in 0..flips {
                    if bytes.is_empty() {
                        break;
                    }
                    let at = rng.below(bytes.len() as u64) as usize;
                    bytes[at] = rng.next_u64() as u8;
                }
            }
            1 => bytes.truncate(rng.below(bytes.len() as u64 + 1) as usize),
            2 => {
                // Large counts and lengths planted at random offsets.
                if bytes.len() > 4 {
                    let at = rng.below(bytes.len() as u64 - 3) as usize;
                    bytes[at..at + 4].copy_from_slice(&[0x7f, 0xff, 0xff, 0xff]);
                }
            }
            _ => bytes = (0..rng.below(64)).map(|_| rng.next_u64() as u8).collect(),
        }
        match decode_request(Bytes::from(bytes)) {
            Ok(_) => decoded_ok += 1,
            Err(_) => rejected += 1,
        }
    }
    // Both outcomes must occur, or the mutations are not reaching the decoder.
    assert!(
        decoded_ok > 1000 && rejected > 1000,
        "ok {decoded_ok}, rejected {rejected}"
    );
}

/// `records` fields are slices of the request frame, not copies.
#[test]
fn produce_records_are_not_copied() {
    use super::messages::produce_request::{PartitionProduceData, TopicProduceData};
    use super::messages::{ProduceRequest, RequestHeader};

    let records = Bytes::from(vec![0xabu8; 1 << 20]);
    let body = RequestBody::Produce(ProduceRequest {
        acks: -1,
        timeout_ms: 30_000,
        topic_data: vec![TopicProduceData {
            name: "zero-copy".into(),
            partition_data: vec![PartitionProduceData {
                index: 0,
                records: Some(records),
            }],
            ..Default::default()
        }],
        ..ProduceRequest::default()
    });
    let header = RequestHeader {
        request_api_key: 0,
        request_api_version: 9,
        correlation_id: 1,
        client_id: None,
    };
    let frame = super::frame::encode_request(&header, &body)
        .unwrap()
        .freeze()
        .slice(4..);
    let frame_range = frame.as_ptr() as usize..frame.as_ptr() as usize + frame.len();
    let request = decode_request(frame.clone()).unwrap();
    let RequestBody::Produce(produce) = request.body else {
        panic!("not a produce request")
    };
    let decoded = produce.topic_data[0].partition_data[0]
        .records
        .as_ref()
        .unwrap();
    assert_eq!(decoded.len(), 1 << 20);
    let start = decoded.as_ptr() as usize;
    assert!(
        frame_range.contains(&start) && frame_range.contains(&(start + decoded.len() - 1)),
        "records were copied out of the frame"
    );
}
