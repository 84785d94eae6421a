//! Fetch (key 1): whole batches from each partition up to the high
//! watermark, long-polling until `min_bytes` arrive or `max_wait_ms` passes.
//! From v7, fetch sessions (KIP-227, see `fetch_session`) let a response
//! carry only the partitions with something new.

use super::fetch_session::{Plan, Target};
use super::Implemented;
use crate::broker::Broker;
use crate::cluster::throttles::LeaderThrottle;
use crate::log::partition::{Isolation, Oversize, ReadError};
use crate::log::watchers::{Awaited, Parked};
use crate::protocol::error_code::ErrorCode;
use crate::protocol::messages::fetch_response::AbortedTransaction;
use crate::protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use crate::protocol::messages::{ApiKey, FetchRequest, FetchResponse, ResponseBody};
use crate::protocol::wire::Uuid;
use bytes::Bytes;
use std::time::Duration;

/// v18 adds a follower's high watermark to each partition (KIP-1166), which
/// only replica fetches carry; a consumer's request is v17's.
pub const IMPLEMENTED: Implemented = Implemented {
    api_key: ApiKey::Fetch,
    min: 4,
    max: 18,
};

/// Topics are named up to v12 and identified by id from v13.
fn topic_names_are_ids(version: i16) -> bool {
    version >= 13
}

/// The request's partitions as fetch targets, topic ids resolved to names
/// (an unknown id keeps an empty name and answers UNKNOWN_TOPIC_ID).
fn requested_targets(broker: &Broker, version: i16, request: &FetchRequest) -> Vec<Target> {
    let mut targets = Vec::new();
    for topic in &request.topics {
        let (name, id) = if topic_names_are_ids(version) {
            let name = broker
                .log
                .topic_by_id(topic.topic_id)
                .map(|t| t.meta.name.clone())
                .unwrap_or_default();
            (name, topic.topic_id)
        } else {
            (topic.topic.clone(), Uuid::ZERO)
        };
        for p in &topic.partitions {
            targets.push(Target {
                topic: name.clone(),
                topic_id: id,
                partition: p.partition,
                fetch_offset: p.fetch_offset,
                current_leader_epoch: p.current_leader_epoch,
                last_fetched_epoch: p.last_fetched_epoch,
                max_bytes: p.partition_max_bytes,
                sent_high_watermark: -1,
                sent_log_start: -1,
            });
        }
    }
    targets
}

fn forgotten_partitions(
    broker: &Broker,
    version: i16,
    request: &FetchRequest,
) -> Vec<(String, i32)> {
    let mut forgotten = Vec::new();
    for topic in &request.forgotten_topics_data {
        let name = if topic_names_are_ids(version) {
            broker
                .log
                .topic_by_id(topic.topic_id)
                .map(|t| t.meta.name.clone())
                .unwrap_or_default()
        } else {
            topic.topic.clone()
        };
        forgotten.extend(topic.partitions.iter().map(|p| (name.clone(), *p)));
    }
    forgotten
}

/// Who is fetching: a consumer, or a follower (by broker id) copying the
/// log, whose fetch offset is recorded once per request, or a replica
/// fetch refused whole.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Fetcher {
    Consumer,
    Follower { id: i32, record: bool },
    Refused(ErrorCode),
}

impl Fetcher {
    fn of(broker: &Broker, ctx: &super::RequestContext, request: &FetchRequest) -> Fetcher {
        let version = ctx.api_version;
        let id = if version >= 15 {
            request.replica_state.replica_id
        } else {
            request.replica_id
        };
        if id < 0 {
            return Fetcher::Consumer;
        }
        match check_follower(broker, ctx, id, request.replica_state.replica_epoch) {
            Ok(()) => Fetcher::Follower { id, record: true },
            Err(code) => Fetcher::Refused(code),
        }
    }
}

/// A replica fetch reads past the high watermark and moves it, so only a
/// registered broker, on the inter-broker listener, naming its current
/// broker epoch (Fetch v15+, KIP-903) may send one.
fn check_follower(
    broker: &Broker,
    ctx: &super::RequestContext,
    id: i32,
    broker_epoch: i64,
) -> Result<(), ErrorCode> {
    let inter_broker = broker.config.cluster.inter_broker_listener();
    if ctx.api_version < 15 || inter_broker.is_none_or(|l| *l.name != *ctx.listener) {
        return Err(ErrorCode::ClusterAuthorizationFailed);
    }
    let image = broker.image();
    let registered = image
        .brokers
        .get(&id)
        .ok_or(ErrorCode::BrokerIdNotRegistered)?;
    if registered.epoch != broker_epoch {
        return Err(ErrorCode::StaleBrokerEpoch);
    }
    Ok(())
}

/// A follower's fetch of a partition this broker leads (see
/// [`Partition::serve_follower`](crate::log::partition::Partition::serve_follower)).
fn read_for_follower(
    partition: &crate::log::partition::Partition,
    follower: i32,
    record: bool,
    target: &Target,
    limit: usize,
    oversize: Oversize,
    data: &mut PartitionData,
) {
    use crate::log::partition::{FollowerFetch, FollowerRead, FollowerReadError};
    use crate::log::replica_set::FetchRefused;
    let (start, high_watermark, _) = partition.offsets();
    (data.log_start_offset, data.high_watermark) = (start, high_watermark);
    data.last_stable_offset = partition.last_stable_offset();
    let now = crate::log::steady_ms();
    let fetch = FollowerFetch {
        follower,
        fetch_offset: target.fetch_offset,
        last_fetched_epoch: target.last_fetched_epoch,
        max_bytes: limit,
        oversize,
        record,
    };
    let served = partition.serve_follower(&fetch, now);
    match served {
        Ok(FollowerRead::Diverging { epoch, end_offset }) => {
            data.diverging_epoch.epoch = epoch;
            data.diverging_epoch.end_offset = end_offset;
        }
        Ok(FollowerRead::Records {
            records,
            high_watermark,
        }) => {
            data.records = Some(records);
            data.high_watermark = high_watermark;
        }
        Err(FollowerReadError::Refused(FetchRefused::NotLeader)) => {
            data.error_code = ErrorCode::NotLeaderOrFollower.code();
        }
        // As Kafka: a replica the leader does not know yet retries.
        Err(FollowerReadError::Refused(FetchRefused::NotAReplica)) => {
            data.error_code = ErrorCode::UnknownLeaderEpoch.code();
        }
        // The follower learns the leader's log start here (from it, a
        // follower whose log lies wholly below restarts its log).
        Err(FollowerReadError::OutOfRange) => {
            data.error_code = ErrorCode::OffsetOutOfRange.code();
        }
        Err(FollowerReadError::Io(e)) => {
            tracing::error!(topic = %target.topic, partition = target.partition, error = %e, "read failed");
            data.error_code = ErrorCode::UnknownServerError.code();
        }
    }
}

/// Reads one partition within `limit` bytes, if `image` says this broker
/// leads it.
#[allow(clippy::too_many_arguments)]
fn read_target(
    broker: &Broker,
    image: &crate::cluster::image::MetadataImage,
    version: i16,
    target: &Target,
    limit: usize,
    oversize: Oversize,
    read_committed: bool,
    fetcher: Fetcher,
) -> PartitionData {
    let mut data = PartitionData {
        partition_index: target.partition,
        high_watermark: -1,
        last_stable_offset: -1,
        log_start_offset: -1,
        aborted_transactions: read_committed.then(Vec::new),
        records: Some(Bytes::new()),
        ..PartitionData::default()
    };
    if target.topic.is_empty() && topic_names_are_ids(version) {
        data.error_code = ErrorCode::UnknownTopicId.code();
        return data;
    }
    let partition = match super::led_partition(
        broker,
        image,
        &target.topic,
        target.partition,
        target.current_leader_epoch,
    ) {
        Ok((partition, _)) => partition,
        Err(not) => {
            data.error_code = not.code.code();
            if let Some((leader_id, leader_epoch)) = not.leader {
                data.current_leader.leader_id = leader_id;
                data.current_leader.leader_epoch = leader_epoch;
            }
            return data;
        }
    };
    match fetcher {
        Fetcher::Follower { id, record } => {
            // A throttled replica out of the ISR gets nothing while the
            // throttled bytes exceed the rate; its fetch still counts (the
            // leader learns its position).
            let now = crate::log::steady_ms();
            let throttle = &broker.leader_throttle;
            let node_id = broker.config.node_id;
            let throttled =
                LeaderThrottle::applies(image, &target.topic, target.partition, node_id, id);
            let (limit, oversize) = if throttled && throttle.exceeded(image, node_id, now) {
                (0, Oversize::Never)
            } else {
                (limit, oversize)
            };
            read_for_follower(&partition, id, record, target, limit, oversize, &mut data);
            if throttled {
                let sent = data.records.as_ref().map_or(0, |r| r.len() as u64);
                throttle.record(now, sent);
            }
            return data;
        }
        Fetcher::Refused(code) => {
            data.error_code = code.code();
            return data;
        }
        Fetcher::Consumer => {}
    }
    if limit == 0 {
        let (start, high_watermark, _) = partition.offsets();
        (
            data.log_start_offset,
            data.high_watermark,
            data.last_stable_offset,
        ) = (start, high_watermark, partition.last_stable_offset());
        return data;
    }
    let isolation = if read_committed {
        Isolation::ReadCommitted
    } else {
        Isolation::ReadUncommitted
    };
    match partition.read_bounded(target.fetch_offset, limit, isolation, oversize) {
        Ok(read) => {
            partition.traffic.fetched(read.records.len() as u64);
            data.high_watermark = read.high_watermark;
            data.last_stable_offset = read.last_stable_offset;
            data.log_start_offset = read.log_start_offset;
            data.records = Some(read.records);
            if read_committed {
                data.aborted_transactions = Some(
                    read.aborted
                        .iter()
                        .map(|t| AbortedTransaction {
                            producer_id: t.producer_id,
                            first_offset: t.first_offset,
                        })
                        .collect(),
                );
            }
        }
        // As Kafka: no offsets with the error (the client asks ListOffsets).
        Err(ReadError::OffsetOutOfRange { .. }) => {
            data.error_code = ErrorCode::OffsetOutOfRange.code();
        }
        Err(ReadError::Io(e)) => {
            tracing::error!(topic = %target.topic, partition = target.partition, error = %e, "read failed");
            data.error_code = ErrorCode::UnknownServerError.code();
        }
    }
    data
}

/// Whether an incremental response must carry this partition.
fn changed(target: &Target, data: &PartitionData) -> bool {
    data.error_code != 0
        || data.records.as_ref().is_some_and(|r| !r.is_empty())
        || data.high_watermark != target.sent_high_watermark
        || data.log_start_offset != target.sent_log_start
}

/// One pass over the targets: what to answer, the record bytes it carries,
/// and whether any partition failed.
fn read_all(
    broker: &Broker,
    version: i16,
    request: &FetchRequest,
    targets: &[Target],
    incremental: bool,
    fetcher: Fetcher,
) -> (Vec<(usize, PartitionData)>, usize, bool) {
    let mut remaining = usize::try_from(request.max_bytes).unwrap_or(0);
    let mut total = 0usize;
    let mut any_error = false;
    let mut answered = Vec::with_capacity(targets.len());
    // One image for the whole pass (each long-poll round takes a fresh one).
    let image = broker.image();
    for (i, target) in targets.iter().enumerate() {
        // KIP-74: the first partition with data may exceed the limits by
        // one batch; every other partition gets only batches that fit.
        let limit = usize::try_from(target.max_bytes)
            .unwrap_or(0)
            .min(remaining);
        let (limit, oversize) = if total == 0 {
            (limit.max(1), Oversize::FirstBatch)
        } else {
            (limit, Oversize::Never)
        };
        let data = read_target(
            broker,
            &image,
            version,
            target,
            limit,
            oversize,
            request.isolation_level == 1,
            fetcher,
        );
        let bytes = data.records.as_ref().map_or(0, Bytes::len);
        total += bytes;
        remaining = remaining.saturating_sub(bytes);
        any_error |= data.error_code != 0;
        if !incremental || changed(target, &data) {
            answered.push((i, data));
        }
    }
    (answered, total, any_error)
}

/// Groups answered partitions by topic, in the order the targets list them.
fn into_topics(
    version: i16,
    targets: &[Target],
    answered: Vec<(usize, PartitionData)>,
) -> Vec<FetchableTopicResponse> {
    let mut topics: Vec<FetchableTopicResponse> = Vec::new();
    for (i, data) in answered {
        let target = &targets[i];
        let (name, id) = if topic_names_are_ids(version) {
            (String::new(), target.topic_id)
        } else {
            (target.topic.clone(), Uuid::ZERO)
        };
        match topics.last_mut() {
            Some(last) if last.topic == name && last.topic_id == id => last.partitions.push(data),
            _ => topics.push(FetchableTopicResponse {
                topic: name,
                topic_id: id,
                partitions: vec![data],
            }),
        }
    }
    topics
}

/// v16+ (KIP-951): where to find the leaders the errors name.
fn hinted_leaders(
    broker: &Broker,
    ctx: &super::RequestContext,
    answered: &[(usize, PartitionData)],
) -> Vec<crate::protocol::messages::fetch_response::NodeEndpoint> {
    let hinted: Vec<i32> = answered
        .iter()
        .filter(|(_, p)| p.error_code == ErrorCode::NotLeaderOrFollower.code())
        .map(|(_, p)| p.current_leader.leader_id)
        .collect();
    if ctx.api_version < 16 || hinted.is_empty() {
        return Vec::new();
    }
    super::leader_endpoints(&broker.image(), &ctx.listener, hinted)
        .into_iter()
        .map(|(node_id, host, port, rack)| {
            crate::protocol::messages::fetch_response::NodeEndpoint {
                node_id,
                host,
                port: i32::from(port),
                rack,
            }
        })
        .collect()
}

fn top_level_error(code: ErrorCode, session_id: i32) -> ResponseBody {
    ResponseBody::Fetch(FetchResponse {
        error_code: code.code(),
        session_id,
        ..FetchResponse::default()
    })
}

pub async fn handle(
    broker: &Broker,
    ctx: &super::RequestContext,
    request: FetchRequest,
) -> ResponseBody {
    let version = ctx.api_version;
    let requested = requested_targets(broker, version, &request);
    let plan = if version >= 7 {
        let forgotten = forgotten_partitions(broker, version, &request);
        broker.fetch_sessions.plan(
            request.session_id,
            request.session_epoch,
            &requested,
            &forgotten,
        )
    } else {
        Plan::Full { session_id: 0 }
    };
    let (session_id, targets, incremental) = match plan {
        Plan::Full { session_id } => (session_id, requested, false),
        Plan::Incremental {
            session_id,
            targets,
        } => (session_id, targets, true),
        Plan::UnknownSession => return top_level_error(ErrorCode::FetchSessionIdNotFound, 0),
        Plan::InvalidEpoch => return top_level_error(ErrorCode::InvalidFetchSessionEpoch, 0),
    };
    let max_wait = Duration::from_millis(u64::try_from(request.max_wait_ms).unwrap_or(0));
    let deadline = tokio::time::Instant::now() + max_wait;
    let min_bytes = usize::try_from(request.min_bytes).unwrap_or(0);
    let mut fetcher = Fetcher::of(broker, ctx, &request);
    // Parked before the first read, so no move after it is missed.
    let parked = (!max_wait.is_zero() && min_bytes > 0).then(|| park(broker, &targets, fetcher));
    loop {
        let (answered, total, any_error) =
            read_all(broker, version, &request, &targets, incremental, fetcher);
        if let Fetcher::Follower { record, .. } = &mut fetcher {
            *record = false;
        }
        if total >= min_bytes || any_error || tokio::time::Instant::now() >= deadline {
            if session_id != 0 {
                let sent: Vec<_> = answered
                    .iter()
                    .map(|(i, d)| {
                        (
                            targets[*i].topic.clone(),
                            targets[*i].partition,
                            d.high_watermark,
                            d.log_start_offset,
                        )
                    })
                    .collect();
                broker.fetch_sessions.record_sent(session_id, &sent);
            }
            let node_endpoints = hinted_leaders(broker, ctx, &answered);
            let responses = into_topics(version, &targets, answered);
            return ResponseBody::Fetch(FetchResponse {
                session_id,
                responses,
                node_endpoints,
                ..FetchResponse::default()
            });
        }
        let Some(parked) = &parked else {
            // Not reached: without a wait or a minimum, the first pass answers.
            tokio::time::sleep_until(deadline).await;
            continue;
        };
        tokio::select! {
            _ = parked.arrived() => {}
            _ = tokio::time::sleep_until(deadline) => {}
        }
    }
}

/// Parks the fetch on its own partitions: consumers wait for their high
/// watermarks to move, followers for their log ends.
fn park(broker: &Broker, targets: &[Target], fetcher: Fetcher) -> Parked {
    let awaited = match fetcher {
        Fetcher::Follower { .. } => Awaited::LogEnd,
        Fetcher::Consumer | Fetcher::Refused(_) => Awaited::HighWatermark,
    };
    let partitions = targets
        .iter()
        .filter_map(|t| broker.log.partition(&t.topic, t.partition))
        .collect();
    Parked::on(partitions, awaited)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::messages::fetch_request::{FetchPartition, FetchTopic, ReplicaState};

    /// A replica fetch of t-0 from offset 0 as `replica_id` with `epoch`.
    fn replica_fetch(broker: &Broker, version: i16, replica_id: i32, epoch: i64) -> i16 {
        let request = FetchRequest {
            replica_id: if version < 15 { replica_id } else { -1 },
            replica_state: ReplicaState {
                replica_id: if version >= 15 { replica_id } else { -1 },
                replica_epoch: epoch,
            },
            max_wait_ms: 0,
            topics: vec![FetchTopic {
                topic: "t".into(),
                topic_id: broker
                    .log
                    .topic("t")
                    .map(|t| t.meta.id)
                    .unwrap_or(Uuid::ZERO),
                partitions: vec![FetchPartition {
                    partition: 0,
                    partition_max_bytes: 1 << 20,
                    ..FetchPartition::default()
                }],
            }],
            ..FetchRequest::default()
        };
        let ctx = crate::handlers::RequestContext::for_tests(version);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let ResponseBody::Fetch(response) = runtime.block_on(handle(broker, &ctx, request)) else {
            panic!("not a fetch response")
        };
        response.responses[0].partitions[0].error_code
    }

    #[test]
    fn only_a_registered_broker_with_its_epoch_may_fetch_as_a_replica() {
        let broker = Broker::for_tests();
        broker
            .log
            .create_topic("t", 1, std::collections::BTreeMap::new())
            .unwrap();
        let node = broker.config.node_id;
        let code = |v, id, epoch| replica_fetch(&broker, v, id, epoch);
        assert_eq!(
            code(12, node, -1),
            ErrorCode::ClusterAuthorizationFailed.code()
        );
        assert_eq!(code(15, 42, 0), ErrorCode::BrokerIdNotRegistered.code());
        assert_eq!(code(15, node, 7), ErrorCode::StaleBrokerEpoch.code());
        // Its own registration (epoch 0 alone) passes these checks; the
        // partition it leads has no such follower.
        assert_eq!(code(15, node, 0), ErrorCode::UnknownLeaderEpoch.code());
    }
}
