//! Produce (key 0): validate each partition's batch, append it, and answer
//! once it is durable (acks=1/-1) or not at all (acks=0).

use super::produce_policy;
use super::txn_verification::{self, Verdict, Write};
use super::Implemented;
use crate::broker::Broker;
use crate::cluster::image::MetadataImage;
use crate::log::partition::{AppendError, Partition};
use crate::log::txn_verification::TxnGuard;
use crate::log::{PendingAppend, WaitError};
use crate::protocol::error_code::ErrorCode;
use crate::protocol::messages::produce_request::TopicProduceData;
use crate::protocol::messages::produce_response::{
    NodeEndpoint, PartitionProduceResponse, TopicProduceResponse,
};
use crate::protocol::messages::{ApiKey, ProduceRequest, ProduceResponse, ResponseBody};
use crate::protocol::records::{split_batches, RecordError};
use bytes::Bytes;
use std::collections::HashMap;
use std::sync::Arc;

pub const IMPLEMENTED: Implemented = Implemented {
    api_key: ApiKey::Produce,
    min: 3,
    max: 11,
};

/// INVALID_RECORD exists from v8 (KIP-467); older clients get CORRUPT_MESSAGE.
fn invalid_record(version: i16) -> ErrorCode {
    if version >= 8 {
        ErrorCode::InvalidRecord
    } else {
        ErrorCode::CorruptMessage
    }
}

/// Checks the records of one partition: exactly one v2 batch (as Kafka
/// requires from Produce v3), within `max.message.bytes`, with a valid CRC.
fn validate(
    records: Option<&Bytes>,
    max_message_bytes: usize,
    version: i16,
) -> Result<Bytes, (ErrorCode, String)> {
    let records = records
        .filter(|r| !r.is_empty())
        .ok_or((invalid_record(version), "no records".to_string()))?;
    if records.len() > max_message_bytes + crate::protocol::records::header::LOG_OVERHEAD {
        return Err((
            ErrorCode::MessageTooLarge,
            format!(
                "batch of {} bytes exceeds max.message.bytes {max_message_bytes}",
                records.len()
            ),
        ));
    }
    let batches = split_batches(records.clone()).map_err(|e| match e {
        RecordError::BadMagic(magic) => (
            ErrorCode::UnsupportedForMessageFormat,
            format!("message format v{magic} is not supported; v2 is"),
        ),
        other => (ErrorCode::CorruptMessage, other.to_string()),
    })?;
    let [batch] = batches.as_slice() else {
        return Err((
            invalid_record(version),
            format!("expected exactly one record batch, got {}", batches.len()),
        ));
    };
    batch
        .verify_crc()
        .map_err(|e| (ErrorCode::CorruptMessage, e.to_string()))?;
    if batch.record_count() < 1
        || i64::from(batch.record_count()) != i64::from(batch.last_offset_delta()) + 1
    {
        return Err((
            invalid_record(version),
            "record count disagrees with last offset delta".to_string(),
        ));
    }
    // As Kafka's LogValidator: every record parses (decompressing if need
    // be) and inner offsets run 0, 1, 2, … so consumers never meet a batch
    // whose CRC is right but whose records are not.
    let mut expected_delta = 0;
    for record in batch.records() {
        let record = record.map_err(|e| {
            (
                ErrorCode::CorruptMessage,
                format!("record {expected_delta}: {e}"),
            )
        })?;
        if record.offset_delta != expected_delta {
            return Err((
                invalid_record(version),
                format!(
                    "record {expected_delta} has offset delta {}",
                    record.offset_delta
                ),
            ));
        }
        expected_delta += 1;
    }
    if expected_delta != batch.record_count() {
        return Err((
            invalid_record(version),
            format!(
                "batch claims {} records, holds {expected_delta}",
                batch.record_count()
            ),
        ));
    }
    Ok(records.clone())
}

/// The producer fields of a validated batch: control batches are the
/// broker's own; an idempotent batch must carry a sequence; a
/// transactional one must belong to a transaction that added this
/// partition (KIP-890's verification, whose verdict is looked up in
/// `verdicts`). Returns the guard a transactional append must hold.
fn check_producer(
    verdicts: &mut Verdicts,
    topic: &str,
    index: i32,
    batch: &Bytes,
    version: i16,
) -> Result<Option<TxnGuard>, (ErrorCode, String)> {
    use crate::protocol::records::header as h;
    let attributes = h::i16_at(batch, h::ATTRIBUTES);
    let producer_id = h::i64_at(batch, h::PRODUCER_ID);
    if attributes & h::CONTROL_BIT != 0 {
        return Err((
            invalid_record(version),
            "clients may not write control batches".to_string(),
        ));
    }
    if producer_id >= 0 && h::i32_at(batch, h::BASE_SEQUENCE) < 0 {
        return Err((
            invalid_record(version),
            format!("producer {producer_id} sent a batch without a sequence number"),
        ));
    }
    if attributes & h::TRANSACTIONAL_BIT == 0 {
        return Ok(None);
    }
    if producer_id < 0 {
        return Err((
            invalid_record(version),
            "a transactional batch needs a producer id".to_string(),
        ));
    }
    let epoch = h::i16_at(batch, h::PRODUCER_EPOCH);
    let verdict = verdicts
        .remove(&(topic.to_string(), index))
        .unwrap_or(Err(ErrorCode::InvalidTxnState));
    verdict.map(Some).map_err(|code| {
        let why = match code {
            ErrorCode::InvalidProducerEpoch => {
                format!("producer {producer_id} epoch {epoch} is fenced by a newer epoch")
            }
            ErrorCode::NotEnoughReplicas => format!(
                "the transaction of producer {producer_id} could not be verified: its coordinator is unavailable"
            ),
            ErrorCode::NetworkException => format!(
                "the transaction of producer {producer_id} could not be verified: its coordinator did not answer"
            ),
            _ => format!(
                "producer {producer_id} epoch {epoch} has no transaction including {topic}-{index}"
            ),
        };
        (code, why)
    })
}

/// KIP-890's verdict on each transactional batch of a request, by topic and partition.
type Verdicts = HashMap<(String, i32), Verdict>;

/// The producer id and epoch of a transactional batch (judged by its
/// header; the batch is validated later).
fn transactional_producer(records: &Bytes) -> Option<(i64, i16)> {
    use crate::protocol::records::header as h;
    if records.len() < h::RECORDS {
        return None;
    }
    let attributes = h::i16_at(records, h::ATTRIBUTES);
    let producer_id = h::i64_at(records, h::PRODUCER_ID);
    let transactional = attributes & h::TRANSACTIONAL_BIT != 0 && attributes & h::CONTROL_BIT == 0;
    (transactional && producer_id >= 0)
        .then(|| (producer_id, h::i16_at(records, h::PRODUCER_EPOCH)))
}

/// Verifies the request's transactional batches of partitions led here,
/// all at once (one round trip when their coordinator is elsewhere).
async fn verify_transactional(
    broker: &Broker,
    image: &MetadataImage,
    transactional_id: Option<&str>,
    topic_data: &[TopicProduceData],
) -> Verdicts {
    let mut keys = Vec::new();
    let mut writes = Vec::new();
    for topic in topic_data {
        for data in &topic.partition_data {
            let Some((producer_id, epoch)) = data.records.as_ref().and_then(transactional_producer)
            else {
                continue;
            };
            let Ok((partition, _)) =
                super::led_partition(broker, image, &topic.name, data.index, -1)
            else {
                continue;
            };
            keys.push((topic.name.clone(), data.index));
            writes.push(Write {
                topic: topic.name.clone(),
                partition,
                producer_id,
                epoch,
            });
        }
    }
    if writes.is_empty() {
        return Verdicts::new();
    }
    let verdicts = txn_verification::verify(broker, transactional_id, &writes).await;
    keys.into_iter().zip(verdicts).collect()
}

/// The partition's error message as Kafka sends it: none for
/// MESSAGE_TOO_LARGE, whose clients print the error's own description (the
/// broker's reason is logged at debug instead).
pub(super) fn error_message(code: ErrorCode, message: String) -> Option<String> {
    (code != ErrorCode::MessageTooLarge).then_some(message)
}

fn failed(index: i32, code: ErrorCode, message: Option<String>) -> PartitionProduceResponse {
    PartitionProduceResponse {
        index,
        error_code: code.code(),
        base_offset: -1,
        log_append_time_ms: -1,
        log_start_offset: -1,
        error_message: message.and_then(|m| error_message(code, m)),
        ..PartitionProduceResponse::default()
    }
}

fn append_failed(topic: &str, index: i32, error: AppendError) -> PartitionProduceResponse {
    let code = match &error {
        AppendError::OutOfOrderSequence { .. } => ErrorCode::OutOfOrderSequenceNumber,
        AppendError::InvalidProducerEpoch { .. } => ErrorCode::InvalidProducerEpoch,
        AppendError::TxnNotVerified { .. } => ErrorCode::InvalidTxnState,
        // The directory is offline: said once, when it went.
        AppendError::StorageFailed | AppendError::Io(_) => ErrorCode::KafkaStorageError,
        // Data batches carry no coordinator epoch: never expected here.
        AppendError::Malformed
        | AppendError::NotFollowing
        | AppendError::StaleEpoch { .. }
        | AppendError::OffsetOverlap { .. }
        | AppendError::CoordinatorFenced { .. } => {
            tracing::error!(topic, partition = index, error = %error, "append failed");
            ErrorCode::UnknownServerError
        }
    };
    failed(index, code, Some(error.to_string()))
}

enum Outcome {
    Done(PartitionProduceResponse),
    /// Appended; acks=all also waits for the partition's high watermark.
    Pending(i32, PendingAppend),
}

/// acks=all with fewer in-sync replicas than `min.insync.replicas`: refused
/// before the append, as Kafka does, so a retry duplicates nothing.
fn enough_replicas(partition: &Partition) -> Result<(), PartitionProduceResponse> {
    match partition.in_sync_replicas() {
        Some((isr, min)) if isr < min => Err(failed(
            partition.index,
            ErrorCode::NotEnoughReplicas,
            Some(format!(
                "{} in-sync replicas, min.insync.replicas is {min}",
                isr
            )),
        )),
        _ => Ok(()),
    }
}

/// Appends a checked batch. acks=all first needs enough in-sync replicas,
/// then waits (up to `timeout`) until the high watermark passes the batch,
/// that is until every in-sync replica has it on disk.
fn append(
    broker: &Broker,
    topic: &str,
    partition: &Arc<Partition>,
    batch: &Bytes,
    guard: Option<TxnGuard>,
    acks: i16,
    timeout: std::time::Duration,
) -> Outcome {
    let all = acks == -1;
    if all {
        if let Err(response) = enough_replicas(partition) {
            return Outcome::Done(response);
        }
    }
    let appended = broker.log.append_verified(partition, batch, guard);
    if appended.is_ok() {
        let records = crate::protocol::records::header::i32_at(
            batch,
            crate::protocol::records::header::RECORD_COUNT,
        );
        partition
            .traffic
            .produced(batch.len() as u64, u64::try_from(records).unwrap_or(0));
    }
    match appended {
        Ok(pending) if all => {
            Outcome::Pending(partition.index, pending.until_committed(partition, timeout))
        }
        Ok(pending) => Outcome::Pending(partition.index, pending),
        Err(e) => Outcome::Done(append_failed(topic, partition.index, e)),
    }
}

pub async fn handle(
    broker: &Broker,
    ctx: &super::RequestContext,
    request: ProduceRequest,
) -> Option<ResponseBody> {
    // Two phases: the ordered one (checks and appends, in request order),
    // then the wait for durability, during which the connection's next
    // request may start.
    ctx.hold_turn();
    let timeout = std::time::Duration::from_millis(u64::try_from(request.timeout_ms).unwrap_or(0));
    let version = ctx.api_version;
    let image = broker.image();
    let transactional_id = request.transactional_id.clone();
    let transactional_id = transactional_id.as_deref();
    let acks = request.acks;
    let mut verdicts =
        verify_transactional(broker, &image, transactional_id, &request.topic_data).await;
    let mut topics: Vec<(String, Vec<Outcome>)> = Vec::with_capacity(request.topic_data.len());
    for topic in request.topic_data {
        let mut outcomes = Vec::with_capacity(topic.partition_data.len());
        for data in topic.partition_data {
            let index = data.index;
            let outcome = if !(-1..=1).contains(&acks) {
                Outcome::Done(failed(index, ErrorCode::InvalidRequiredAcks, None))
            } else if !crate::log::topic::valid_topic_name(&topic.name) {
                Outcome::Done(failed(index, ErrorCode::InvalidTopicException, None))
            } else {
                match super::led_partition(broker, &image, &topic.name, index, -1) {
                    Err(not) => {
                        let mut response = failed(index, not.code, None);
                        if let Some((leader_id, leader_epoch)) = not.leader {
                            response.current_leader.leader_id = leader_id;
                            response.current_leader.leader_epoch = leader_epoch;
                        }
                        Outcome::Done(response)
                    }
                    Ok((partition, _)) => {
                        let config = partition.config();
                        let checked =
                            validate(data.records.as_ref(), config.max_message_bytes, version)
                                .and_then(|batch| {
                                    check_producer(
                                        &mut verdicts,
                                        &topic.name,
                                        index,
                                        &batch,
                                        version,
                                    )
                                    .map(|guard| (batch, guard))
                                })
                                .map_err(|(code, message)| failed(index, code, Some(message)));
                        // Then the topic's own rules (compaction keys, timestamps, codec).
                        let checked = checked.and_then(|(batch, guard)| {
                            let name = format!("{}-{index}", topic.name);
                            produce_policy::apply(
                                &config,
                                batch,
                                crate::log::now_ms(),
                                version,
                                &name,
                            )
                            .map(|batch| (batch, guard))
                            .map_err(|rejected| rejected.into_response(index))
                        });
                        match checked {
                            Err(response) => {
                                tracing::debug!(topic = %topic.name, partition = index, code = response.error_code, message = ?response.error_message, "rejected batch");
                                Outcome::Done(response)
                            }
                            Ok((batch, guard)) => append(
                                broker,
                                &topic.name,
                                &partition,
                                &batch,
                                guard,
                                acks,
                                timeout,
                            ),
                        }
                    }
                }
            };
            outcomes.push(outcome);
        }
        topics.push((topic.name, outcomes));
    }
    // Every append above is queued before any wait: one fsync round serves them all.
    ctx.pass_turn();
    let mut responses = Vec::with_capacity(topics.len());
    for (name, outcomes) in topics {
        let mut partition_responses = Vec::with_capacity(outcomes.len());
        for outcome in outcomes {
            partition_responses.push(match outcome {
                Outcome::Done(response) => response,
                Outcome::Pending(index, pending) => match pending.wait().await {
                    Ok(appended) => PartitionProduceResponse {
                        index,
                        error_code: ErrorCode::None.code(),
                        base_offset: appended.base_offset,
                        log_append_time_ms: appended.log_append_time,
                        log_start_offset: appended.log_start_offset,
                        ..PartitionProduceResponse::default()
                    },
                    Err(e) => {
                        let code = match e {
                            WaitError::NotReplicated {
                                below_min_isr: true,
                                ..
                            } => ErrorCode::NotEnoughReplicasAfterAppend,
                            WaitError::NotReplicated { .. } => ErrorCode::RequestTimedOut,
                            WaitError::Deposed => ErrorCode::NotLeaderOrFollower,
                            // Not durable here: the directory went offline (or the
                            // log closed) under it. Retriable, as Kafka answers: the
                            // client finds the partition's next leader.
                            WaitError::Fsync(_) | WaitError::Closed => ErrorCode::KafkaStorageError,
                        };
                        failed(index, code, Some(e.to_string()))
                    }
                },
            });
        }
        responses.push(TopicProduceResponse {
            name,
            partition_responses,
            ..TopicProduceResponse::default()
        });
    }
    if acks == 0 {
        return None;
    }
    // v10+ (KIP-951): where to find the leaders the errors name.
    let node_endpoints = if version >= 10 {
        let hinted = responses
            .iter()
            .flat_map(|t| &t.partition_responses)
            .filter(|p| p.error_code == ErrorCode::NotLeaderOrFollower.code())
            .map(|p| p.current_leader.leader_id);
        super::leader_endpoints(&image, &ctx.listener, hinted)
            .into_iter()
            .map(|(node_id, host, port, rack)| NodeEndpoint {
                node_id,
                host,
                port: i32::from(port),
                rack,
            })
            .collect()
    } else {
        Vec::new()
    };
    Some(ResponseBody::Produce(ProduceResponse {
        responses,
        node_endpoints,
        ..ProduceResponse::default()
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
    use crate::protocol::records::{BatchBuilder, NewRecord};
    use std::collections::BTreeMap;

    fn batch(records: usize) -> Bytes {
        let mut builder = BatchBuilder::new(0);
        for i in 0..records {
            builder.push(NewRecord::new(
                1_700_000_000_000,
                Some(Bytes::from(format!("k{i}"))),
                Some(Bytes::from(vec![7u8; 100])),
            ));
        }
        builder.build().expect("batch builds")
    }

    fn produce(
        broker: &Broker,
        topic: &str,
        partition: i32,
        records: Bytes,
    ) -> PartitionProduceResponse {
        let request = ProduceRequest {
            acks: -1,
            timeout_ms: 1000,
            topic_data: vec![TopicProduceData {
                name: topic.into(),
                partition_data: vec![PartitionProduceData {
                    index: partition,
                    records: Some(records),
                }],
                ..Default::default()
            }],
            ..ProduceRequest::default()
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let Some(ResponseBody::Produce(mut response)) = runtime.block_on(handle(
            broker,
            &crate::handlers::RequestContext::for_tests(9),
            request,
        )) else {
            panic!("no produce response")
        };
        response.responses.remove(0).partition_responses.remove(0)
    }

    fn broker_with_topic() -> Broker {
        let broker = Broker::for_tests();
        broker.log.create_topic("t", 2, BTreeMap::new()).unwrap();
        broker
    }

    #[test]
    fn a_valid_batch_is_appended_at_the_log_end() {
        let broker = broker_with_topic();
        let first = produce(&broker, "t", 1, batch(3));
        assert_eq!((first.error_code, first.base_offset), (0, 0));
        let second = produce(&broker, "t", 1, batch(2));
        assert_eq!((second.error_code, second.base_offset), (0, 3));
        assert_eq!(broker.log.partition("t", 1).unwrap().offsets(), (0, 5, 5));
    }

    #[test]
    fn a_crc_mismatch_is_corrupt_message_and_appends_nothing() {
        let broker = broker_with_topic();
        let mut bytes = batch(3).to_vec();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        let response = produce(&broker, "t", 0, Bytes::from(bytes));
        assert_eq!(response.error_code, ErrorCode::CorruptMessage.code());
        assert_eq!(response.base_offset, -1);
        assert_eq!(broker.log.partition("t", 0).unwrap().offsets(), (0, 0, 0));
    }

    #[test]
    fn bad_input_gets_kafkas_error_codes() {
        let broker = broker_with_topic();
        let mut old_format = batch(1).to_vec();
        old_format[16] = 1; // magic v1
        assert_eq!(
            produce(&broker, "t", 0, Bytes::from(old_format)).error_code,
            ErrorCode::UnsupportedForMessageFormat.code()
        );
        assert_eq!(
            produce(&broker, "no/such", 0, batch(1)).error_code,
            ErrorCode::InvalidTopicException.code()
        );
        assert_eq!(
            produce(&broker, "t", 7, batch(1)).error_code,
            ErrorCode::UnknownTopicOrPartition.code()
        );
        assert_eq!(
            produce(&broker, "missing", 0, batch(1)).error_code,
            ErrorCode::UnknownTopicOrPartition.code()
        );
        let mut two = batch(1).to_vec();
        two.extend_from_slice(&batch(1));
        assert_eq!(
            produce(&broker, "t", 0, Bytes::from(two)).error_code,
            ErrorCode::InvalidRecord.code()
        );
        let mut sparse = BatchBuilder::new(0);
        sparse.push(NewRecord::new(1, None, Some(Bytes::from_static(b"a"))));
        let mut sparse = sparse.build().unwrap().to_vec();
        // The record's offset delta (after its length and attributes varints and the timestamp delta) becomes 1.
        let record_start = crate::protocol::records::header::RECORDS;
        assert_eq!(sparse[record_start + 3], 0, "offset delta byte");
        sparse[record_start + 3] = 2; // zig-zag 1
        let crc = crate::protocol::records::header::compute_crc(&sparse);
        sparse[17..21].copy_from_slice(&crc.to_be_bytes());
        assert_eq!(
            produce(&broker, "t", 0, Bytes::from(sparse)).error_code,
            ErrorCode::InvalidRecord.code()
        );
        let config: BTreeMap<String, String> =
            [("max.message.bytes".to_string(), "1000".to_string())].into();
        broker.log.create_topic("small", 1, config).unwrap();
        assert_eq!(
            produce(&broker, "small", 0, batch(50)).error_code,
            ErrorCode::MessageTooLarge.code()
        );
        assert_eq!(
            broker.log.partition("t", 0).unwrap().offsets(),
            (0, 0, 0),
            "nothing appended"
        );
    }
}
