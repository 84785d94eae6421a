//! Transaction markers: written by each partition's leader. The
//! coordinator writes those of the partitions it leads itself, and sends
//! the others to their leaders in WriteTxnMarkers requests (key 27), which
//! every broker serves ([`crate::handlers::txn_markers`]).

use crate::broker::Broker;
use crate::cluster::records::NO_LEADER;
use crate::group::store::OFFSETS_TOPIC;
use crate::log::partition::AppendError;
use crate::log::PendingAppend;
use crate::protocol::error_code::ErrorCode;
use crate::protocol::messages::write_txn_markers_request::{
    WritableTxnMarker, WritableTxnMarkerTopic,
};
use crate::protocol::messages::{RequestBody, ResponseBody, WriteTxnMarkersRequest};
use crate::protocol::records::control::EndTxnMarker;
use std::collections::BTreeMap;

/// One transaction's outcome, as every marker of it says.
#[derive(Clone, Copy, Debug)]
pub struct Outcome {
    pub producer_id: i64,
    pub epoch: i16,
    pub commit: bool,
    /// The leader epoch of the coordinator's `__transaction_state` partition.
    pub coordinator_epoch: i32,
}

/// Appends the marker to `topic`-`index`, which this broker must lead.
/// `None`: skipped, the partition has seen a newer epoch of the producer
/// (a later transaction of the id owns it).
pub fn append_here(
    broker: &Broker,
    outcome: Outcome,
    topic: &str,
    index: i32,
) -> Result<Option<PendingAppend>, ErrorCode> {
    let image = broker.image();
    let (partition, _) =
        crate::handlers::led_partition(broker, &image, topic, index, -1).map_err(|not| not.code)?;
    let marker = EndTxnMarker {
        commit: outcome.commit,
        coordinator_epoch: outcome.coordinator_epoch,
    };
    match broker
        .log
        .append_marker(&partition, outcome.producer_id, outcome.epoch, marker)
    {
        // Markers are written as acks=all: the transaction's outcome must
        // survive the loss of this leader.
        Ok(append) => Ok(Some(
            append.until_committed(&partition, crate::log::COMMIT_TIMEOUT),
        )),
        Err(AppendError::InvalidProducerEpoch { current, got, .. }) => {
            tracing::warn!(
                topic,
                partition = index,
                current,
                got,
                "marker skipped: newer producer epoch in the partition"
            );
            Ok(None)
        }
        Err(AppendError::CoordinatorFenced { current, got, .. }) => {
            tracing::warn!(
                topic,
                partition = index,
                current,
                got,
                "marker refused: it comes from a deposed transaction coordinator"
            );
            Err(ErrorCode::TransactionCoordinatorFenced)
        }
        Err(e) => {
            tracing::error!(topic, partition = index, error = %e, "writing a transaction marker failed");
            Err(ErrorCode::UnknownServerError)
        }
    }
}

/// Once a marker of `__consumer_offsets` is durable here, the group
/// coordinator applies (or drops) the transaction's offsets.
pub fn settle_offsets(broker: &Broker, outcome: Outcome, topic: &str, index: i32) {
    if topic == OFFSETS_TOPIC {
        broker
            .groups
            .complete_transaction(outcome.producer_id, index, outcome.commit);
    }
}

/// The partitions of a transaction by their leader; a partition without
/// a leader fails the whole completion (retried later by the coordinator).
pub fn by_leader<'a>(
    broker: &Broker,
    partitions: impl IntoIterator<Item = &'a (String, i32)>,
) -> Result<BTreeMap<i32, Vec<(String, i32)>>, ErrorCode> {
    let image = broker.image();
    let mut grouped: BTreeMap<i32, Vec<(String, i32)>> = BTreeMap::new();
    for (topic, index) in partitions {
        let Some(state) = image.partition(topic, *index) else {
            tracing::warn!(
                topic,
                partition = index,
                "no marker for a partition that no longer exists"
            );
            continue;
        };
        if state.leader == NO_LEADER {
            tracing::warn!(
                topic,
                partition = index,
                "a transaction's partition has no leader: its completion waits"
            );
            return Err(ErrorCode::CoordinatorNotAvailable);
        }
        grouped
            .entry(state.leader)
            .or_default()
            .push((topic.clone(), *index));
    }
    Ok(grouped)
}

/// Sends the markers of `partitions` to `leader` and checks every answer.
pub async fn write_at(
    broker: &Broker,
    leader: i32,
    outcome: Outcome,
    partitions: &[(String, i32)],
) -> Result<(), ErrorCode> {
    let unavailable = |why: String| {
        tracing::warn!(leader, %why, "sending transaction markers failed");
        ErrorCode::CoordinatorNotAvailable
    };
    let mut topics: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for (topic, index) in partitions {
        topics.entry(topic).or_default().push(*index);
    }
    let request = WriteTxnMarkersRequest {
        markers: vec![WritableTxnMarker {
            producer_id: outcome.producer_id,
            producer_epoch: outcome.epoch,
            transaction_result: outcome.commit,
            topics: topics
                .into_iter()
                .map(|(name, partition_indexes)| WritableTxnMarkerTopic {
                    name: name.to_string(),
                    partition_indexes,
                })
                .collect(),
            coordinator_epoch: outcome.coordinator_epoch,
            ..WritableTxnMarker::default()
        }],
    };
    let answer = broker
        .peers
        .send(broker, leader, 0..=1, RequestBody::WriteTxnMarkers(request))
        .await
        .map_err(|e| unavailable(e.to_string()))?;
    let ResponseBody::WriteTxnMarkers(answer) = answer else {
        return Err(unavailable("an answer of the wrong kind".into()));
    };
    let failed = answer
        .markers
        .iter()
        .flat_map(|m| &m.topics)
        .flat_map(|t| t.partitions.iter().map(move |p| (&t.name, p)))
        .find(|(_, p)| p.error_code != ErrorCode::None.code());
    match failed {
        Some((topic, p)) => Err(unavailable(format!(
            "{topic}-{}: error {}",
            p.partition_index, p.error_code
        ))),
        None => Ok(()),
    }
}
