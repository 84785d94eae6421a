//! KIP-890 part 1, the partition leader's side: a transactional write (a
//! produced batch, or a group's offsets in TxnOffsetCommit) is accepted
//! only if its transaction's coordinator has the partition in the ongoing
//! transaction. When that coordinator is this broker the check is local;
//! when it is another, the leader asks it with AddPartitionsToTxn v4+
//! `verify_only` — once per partition and transaction, since a partition
//! that already holds the producer's open transaction needs no asking.
//! A guard taken before the check makes sure no marker ended the
//! transaction between the answer and the append
//! ([`crate::log::txn_verification`]).

use crate::broker::Broker;
use crate::cluster::peers::PeerError;
use crate::log::partition::Partition;
use crate::log::txn_verification::{Begun, TxnGuard};
use crate::protocol::error_code::ErrorCode;
use crate::protocol::messages::add_partitions_to_txn_request::{
    AddPartitionsToTxnTopic, AddPartitionsToTxnTransaction,
};
use crate::protocol::messages::{AddPartitionsToTxnRequest, RequestBody, ResponseBody};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// The AddPartitionsToTxn versions that carry `verify_only`: from v4
/// (KIP-890) up to the newest this broker serves.
const VERIFY_VERSIONS: std::ops::RangeInclusive<i16> = 4..=5;

/// What a transactional write's append needs: the guard to hold, or the
/// error its partition is answered with.
pub type Verdict = Result<TxnGuard, ErrorCode>;

/// One transactional write waiting for its verification.
pub struct Write {
    pub topic: String,
    pub partition: Arc<Partition>,
    pub producer_id: i64,
    pub epoch: i16,
}

/// Verifies `writes`, all of `transactional_id`'s transaction (None: a
/// request that named none, checked here by producer id). The verdicts
/// come in the order of `writes`.
pub async fn verify(
    broker: &Broker,
    transactional_id: Option<&str>,
    writes: &[Write],
) -> Vec<Verdict> {
    // Guards first: a marker written while the coordinator is asked voids them.
    let begun: Vec<Begun> = writes
        .iter()
        .map(|w| w.partition.begin_txn_verification(w.producer_id, w.epoch))
        .collect();
    let coordinator = match transactional_id {
        None => Ok(None),
        Some(id) => coordinator_elsewhere(broker, id),
    };
    match (coordinator, transactional_id) {
        (Err(code), _) => writes.iter().map(|_| Err(code)).collect(),
        (Ok(None), _) | (_, None) => writes
            .iter()
            .zip(begun)
            .map(|(w, begun)| {
                broker
                    .txns
                    .verify_produce(w.producer_id, w.epoch, &w.topic, w.partition.index)
                    .map(|()| begun.guard)
            })
            .collect(),
        (Ok(Some(node)), Some(id)) => ask(broker, node, id, writes, begun).await,
    }
}

/// None when this broker coordinates `transactional_id` (or is alone),
/// else the broker that does. Coordinator errors are answered as Kafka's
/// leaders answer them to producers: retriable NOT_ENOUGH_REPLICAS.
fn coordinator_elsewhere(
    broker: &Broker,
    transactional_id: &str,
) -> Result<Option<i32>, ErrorCode> {
    use super::coordinators::{check, coordinator_of, Coordinated};
    match check(broker, Coordinated::Transaction, transactional_id) {
        Ok(()) => Ok(None),
        Err(ErrorCode::NotCoordinator) => {
            coordinator_of(broker, Coordinated::Transaction, transactional_id)
                .map(Some)
                .map_err(|_| ErrorCode::NotEnoughReplicas)
        }
        Err(_) => Err(ErrorCode::NotEnoughReplicas),
    }
}

/// Asks broker `node` about the writes whose partitions do not hold the
/// producer's open transaction; the others pass as they are.
async fn ask(
    broker: &Broker,
    node: i32,
    transactional_id: &str,
    writes: &[Write],
    begun: Vec<Begun>,
) -> Vec<Verdict> {
    // One request per producer id and epoch (a request has one of each in practice).
    let mut asked: BTreeMap<(i64, i16), BTreeMap<&str, Vec<i32>>> = BTreeMap::new();
    for (w, begun) in writes.iter().zip(&begun) {
        if !begun.open_here {
            asked
                .entry((w.producer_id, w.epoch))
                .or_default()
                .entry(&w.topic)
                .or_default()
                .push(w.partition.index);
        }
    }
    let mut denied: HashMap<(i64, String, i32), ErrorCode> = HashMap::new();
    for ((producer_id, epoch), topics) in asked {
        let partitions: Vec<(String, i32)> = topics
            .iter()
            .flat_map(|(t, ps)| ps.iter().map(|p| (t.to_string(), *p)))
            .collect();
        let answer = ask_one(broker, node, transactional_id, producer_id, epoch, topics).await;
        for (topic, partition) in partitions {
            let code = match &answer {
                Err(code) => Some(*code),
                Ok(errors) => errors.get(&(topic.clone(), partition)).copied(),
            };
            if let Some(code) = code {
                denied.insert((producer_id, topic, partition), code);
            }
        }
    }
    writes
        .iter()
        .zip(begun)
        .map(
            |(w, begun)| match denied.get(&(w.producer_id, w.topic.clone(), w.partition.index)) {
                Some(code) => Err(*code),
                None => Ok(begun.guard),
            },
        )
        .collect()
}

/// One verify-only AddPartitionsToTxn: the partitions the coordinator
/// denied, with the error each gets; Err when it gave no answer at all.
async fn ask_one(
    broker: &Broker,
    node: i32,
    transactional_id: &str,
    producer_id: i64,
    epoch: i16,
    topics: BTreeMap<&str, Vec<i32>>,
) -> Result<HashMap<(String, i32), ErrorCode>, ErrorCode> {
    let request = AddPartitionsToTxnRequest {
        transactions: vec![AddPartitionsToTxnTransaction {
            transactional_id: transactional_id.to_string(),
            producer_id,
            producer_epoch: epoch,
            verify_only: true,
            topics: topics
                .into_iter()
                .map(|(name, partitions)| AddPartitionsToTxnTopic {
                    name: name.to_string(),
                    partitions,
                })
                .collect(),
        }],
        ..AddPartitionsToTxnRequest::default()
    };
    let sent = broker
        .peers
        .send(
            broker,
            node,
            VERIFY_VERSIONS,
            RequestBody::AddPartitionsToTxn(request),
        )
        .await;
    let answer = match sent {
        Ok(ResponseBody::AddPartitionsToTxn(answer)) => answer,
        // A coordinator that cannot verify: the write goes unverified, as Kafka lets it.
        Err(PeerError::Unsupported(_)) => {
            tracing::warn!(
                node,
                "the transaction coordinator does not verify (no AddPartitionsToTxn v4)"
            );
            return Ok(HashMap::new());
        }
        Ok(_) => unreachable_answer(node, "an answer of another API")?,
        Err(e) => unreachable_answer(node, &e.to_string())?,
    };
    if answer.error_code != ErrorCode::None.code() {
        tracing::warn!(
            node,
            code = answer.error_code,
            "the transaction coordinator refused a verification"
        );
        return Err(for_producer(answer.error_code));
    }
    let mut denied = HashMap::new();
    for result in answer
        .results_by_transaction
        .iter()
        .filter(|r| r.transactional_id == transactional_id)
    {
        for topic in &result.topic_results {
            for p in &topic.results_by_partition {
                if p.partition_error_code != ErrorCode::None.code() {
                    denied.insert(
                        (topic.name.clone(), p.partition_index),
                        for_producer(p.partition_error_code),
                    );
                }
            }
        }
    }
    Ok(denied)
}

fn unreachable_answer<T>(node: i32, why: &str) -> Result<T, ErrorCode> {
    tracing::warn!(
        node,
        why,
        "no verification from the transaction coordinator"
    );
    Err(ErrorCode::NetworkException)
}

/// A coordinator's code as a producer is answered it, as Kafka's leaders
/// do: PRODUCER_FENCED as INVALID_PRODUCER_EPOCH (which producers expect
/// here), the coordinator's own unavailability as NOT_ENOUGH_REPLICAS
/// (retriable for every producer). A code this broker does not know
/// refuses the write.
fn for_producer(code: i16) -> ErrorCode {
    const PRODUCER_FENCED: i16 = 90;
    match code {
        c if c == ErrorCode::InvalidProducerEpoch.code() || c == PRODUCER_FENCED => {
            ErrorCode::InvalidProducerEpoch
        }
        c if c == ErrorCode::InvalidProducerIdMapping.code() => ErrorCode::InvalidProducerIdMapping,
        c if [
            ErrorCode::ConcurrentTransactions,
            ErrorCode::CoordinatorLoadInProgress,
            ErrorCode::CoordinatorNotAvailable,
            ErrorCode::NotCoordinator,
        ]
        .iter()
        .any(|e| e.code() == c) =>
        {
            ErrorCode::NotEnoughReplicas
        }
        _ => ErrorCode::InvalidTxnState,
    }
}

#[cfg(test)]
mod tests {
    use super::for_producer;
    use crate::protocol::error_code::ErrorCode;

    #[test]
    fn coordinator_codes_reach_producers_as_kafkas_leaders_send_them() {
        assert_eq!(for_producer(90), ErrorCode::InvalidProducerEpoch);
        assert_eq!(for_producer(47), ErrorCode::InvalidProducerEpoch);
        assert_eq!(for_producer(48), ErrorCode::InvalidTxnState);
        assert_eq!(for_producer(49), ErrorCode::InvalidProducerIdMapping);
        for retriable in [14, 15, 16, 51] {
            assert_eq!(for_producer(retriable), ErrorCode::NotEnoughReplicas);
        }
        assert_eq!(
            for_producer(31),
            ErrorCode::InvalidTxnState,
            "CLUSTER_AUTHORIZATION_FAILED"
        );
        assert_eq!(for_producer(-1), ErrorCode::InvalidTxnState);
    }
}
