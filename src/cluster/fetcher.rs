//! Followers copy their leaders' logs with Kafka's own Fetch: one task per
//! leader broker, fetching every partition this broker follows from it in
//! one request (as Kafka's replica fetcher threads do).
//!
//! A follower fetches again only once what it appended is on its disk, so
//! the offset it reports is durable: acks=all then means the record sits
//! on `min.insync.replicas` disks, not just in their page caches. Where its
//! log parts from the leader's (a deposed leader's unreplicated tail), the
//! leader answers with the diverging epoch, and the follower cuts its log
//! there before fetching on.

use super::image::MetadataImage;
use super::records::NO_LEADER;
use super::throttles::FollowerThrottle;
use crate::broker::Broker;
use crate::cli::client::Connection;
use crate::log::partition::{AppendError, Partition};
use crate::protocol::error_code::ErrorCode;
use crate::protocol::messages::fetch_request::{FetchPartition, FetchTopic, ReplicaState};
use crate::protocol::messages::fetch_response::PartitionData;
use crate::protocol::messages::{ApiKey, FetchRequest, RequestBody, ResponseBody};
use crate::protocol::wire::Uuid;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// How long a leader may hold a fetch with nothing new (Kafka's
/// `replica.fetch.wait.max.ms`).
const MAX_WAIT_MS: i32 = 500;
/// Bytes per partition and per response (Kafka's `replica.fetch.max.bytes`
/// and `replica.fetch.response.max.bytes`).
const PARTITION_MAX_BYTES: i32 = 1 << 20;
const RESPONSE_MAX_BYTES: i32 = 10 << 20;
/// Connecting, and waiting for an answer beyond the leader's own wait.
const TIMEOUT: Duration = Duration::from_secs(10);
/// After a failed round (no connection, or every partition refused).
const BACKOFF: Duration = Duration::from_millis(200);
/// The newest Fetch this fetcher fills in (v18 adds KIP-1166's follower
/// high watermark, which it does not send).
const FETCH_VERSION: i16 = 17;
/// LastFetchedEpoch (and DivergingEpoch) arrive in v12, and leaders take
/// replica fetches only with the broker epoch of v15 (KIP-903).
const MIN_FETCH_VERSION: i16 = 15;

/// A partition followed from one leader, as the image names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Followed {
    pub(crate) topic: String,
    pub(crate) topic_id: Uuid,
    pub(crate) partition: i32,
    pub(crate) leader_epoch: i32,
}

/// What one leader's fetcher copies, and where that leader listens.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub(crate) struct Assignment {
    pub(crate) addr: String,
    pub(crate) partitions: Vec<Followed>,
}

/// The partitions this broker follows, by leader, from `image`.
pub(crate) fn assignments(
    image: &MetadataImage,
    node_id: i32,
    listener: &str,
) -> BTreeMap<i32, Assignment> {
    let mut wanted: BTreeMap<i32, Assignment> = BTreeMap::new();
    for topic in image.topics() {
        for (index, p) in topic.partitions.iter().enumerate() {
            if p.leader == node_id || p.leader == NO_LEADER || !p.replicas.contains(&node_id) {
                continue;
            }
            let Some(endpoint) = image
                .brokers
                .get(&p.leader)
                .and_then(|b| b.endpoint(listener))
            else {
                continue;
            };
            let assignment = wanted.entry(p.leader).or_default();
            assignment.addr = format!("{}:{}", endpoint.host, endpoint.port);
            assignment.partitions.push(Followed {
                topic: topic.name.clone(),
                topic_id: topic.id,
                partition: index as i32,
                leader_epoch: p.leader_epoch,
            });
        }
    }
    wanted
}

/// Runs one fetcher per leader this broker follows a partition of, as the
/// image changes, until `stop`.
pub async fn run(
    broker: Arc<Broker>,
    mut images: watch::Receiver<Arc<MetadataImage>>,
    mut stop: watch::Receiver<bool>,
) {
    let node_id = broker.config.node_id;
    let Some(listener) = broker
        .config
        .cluster
        .inter_broker_listener()
        .map(|l| l.name.clone())
    else {
        return;
    };
    let mut fetchers: BTreeMap<i32, watch::Sender<Assignment>> = BTreeMap::new();
    loop {
        let image = Arc::clone(&images.borrow_and_update());
        let wanted = assignments(&image, node_id, &listener);
        // A leader no longer followed: dropping its sender stops its task.
        fetchers.retain(|leader, _| wanted.contains_key(leader));
        for (leader, assignment) in wanted {
            match fetchers.get(&leader) {
                Some(sender) => {
                    sender.send_if_modified(|current| {
                        let changed = *current != assignment;
                        *current = assignment;
                        changed
                    });
                }
                None => {
                    let (sender, receiver) = watch::channel(assignment);
                    tokio::spawn(fetch_from(
                        Arc::clone(&broker),
                        leader,
                        receiver,
                        stop.clone(),
                    ));
                    fetchers.insert(leader, sender);
                }
            }
        }
        tokio::select! {
            _ = stop.changed() => return,
            changed = images.changed() => if changed.is_err() { return },
        }
    }
}

/// Copies the assigned partitions from `leader` until the assignment is
/// dropped or `stop`.
async fn fetch_from(
    broker: Arc<Broker>,
    leader: i32,
    mut assignment: watch::Receiver<Assignment>,
    mut stop: watch::Receiver<bool>,
) {
    let mut connection: Option<Connection> = None;
    let mut complained = false;
    loop {
        if *stop.borrow() {
            return;
        }
        let current = assignment.borrow_and_update().clone();
        let outcome = tokio::select! {
            _ = stop.changed() => return,
            outcome = fetch_round(&broker, &current, &mut connection) => outcome,
        };
        let backoff = match outcome {
            Ok(progress) => {
                complained = false;
                !progress
            }
            Err(why) => {
                connection = None;
                // Once per outage, not once per retry.
                if !complained {
                    tracing::warn!(leader, addr = %current.addr, %why, "fetching from the leader failed; retrying");
                    complained = true;
                }
                true
            }
        };
        if backoff {
            tokio::select! {
                _ = stop.changed() => return,
                changed = assignment.changed() => if changed.is_err() { return },
                _ = tokio::time::sleep(BACKOFF) => {}
            }
        }
        if assignment.has_changed().is_err() {
            return;
        }
    }
}

/// One fetch from the leader and what follows from its answer. Ok(false)
/// when every partition was refused (the caller backs off).
async fn fetch_round(
    broker: &Broker,
    assignment: &Assignment,
    connection: &mut Option<Connection>,
) -> Result<bool, String> {
    let local: Vec<(Followed, Arc<Partition>)> = assignment
        .partitions
        .iter()
        .filter_map(|f| Some((f.clone(), broker.log.partition(&f.topic, f.partition)?)))
        .collect();
    let (local, throttled) = unthrottled(broker, local);
    if local.is_empty() {
        return Ok(false);
    }
    if connection.is_none() {
        let connected = Connection::connect(&assignment.addr, TIMEOUT)
            .await
            .map_err(|e| e.to_string())?;
        *connection = Some(connected);
    }
    let Some(conn) = connection.as_mut() else {
        return Err("no connection".into());
    };
    let version = conn
        .try_version(ApiKey::Fetch, FETCH_VERSION)
        .filter(|v| *v >= MIN_FETCH_VERSION)
        .ok_or("the leader serves no Fetch v15+")?;
    let request = fetch_request(broker, version, &local);
    let answer = tokio::time::timeout(
        TIMEOUT + Duration::from_millis(MAX_WAIT_MS as u64),
        conn.send(version, RequestBody::Fetch(request)),
    )
    .await
    .map_err(|_| "no answer in time".to_string())?
    .map_err(|e| e.to_string())?;
    let ResponseBody::Fetch(response) = answer else {
        return Err("an answer of the wrong kind".into());
    };
    if response.error_code != ErrorCode::None.code() {
        return Err(format!("fetch refused with error {}", response.error_code));
    }
    let by_key: BTreeMap<(String, Uuid, i32), &Arc<Partition>> = local
        .iter()
        .map(|(f, p)| ((key_name(version, f), key_id(version, f), f.partition), p))
        .collect();
    let mut pending = Vec::new();
    let mut progress = false;
    for topic in response.responses {
        for data in topic.partitions {
            let key = (topic.topic.clone(), topic.topic_id, data.partition_index);
            let Some(partition) = by_key.get(&key) else {
                continue;
            };
            if throttled.contains(&(partition.topic.clone(), partition.index)) {
                let bytes = data.records.as_ref().map_or(0, |r| r.len() as u64);
                broker
                    .follower_throttle
                    .record(crate::log::steady_ms(), bytes);
            }
            match apply(broker, partition, data) {
                Applied::Appended(append, high_watermark) => {
                    pending.push((Arc::clone(partition), append, high_watermark));
                    progress = true;
                }
                Applied::Nothing(high_watermark) => {
                    partition.set_leader_high_watermark(high_watermark);
                    progress = true;
                }
                Applied::Truncated => progress = true,
                Applied::Refused => {}
            }
        }
    }
    // The next fetch reports these offsets: they must be on disk first.
    for (partition, append, high_watermark) in pending {
        if let Some(append) = append {
            append.wait().await.map_err(|e| e.to_string())?;
        }
        partition.set_leader_high_watermark(high_watermark);
    }
    Ok(progress)
}

/// A followed partition and its local log.
type Local = (Followed, Arc<Partition>);

/// The partitions to fetch now, and those of them under the follower
/// throttle: while this broker fetched more than its rate for throttled
/// replicas, they are left out of the fetch (as Kafka's follower does).
fn unthrottled(broker: &Broker, local: Vec<Local>) -> (Vec<Local>, BTreeSet<(String, i32)>) {
    let image = broker.image();
    let node_id = broker.config.node_id;
    let throttled: BTreeSet<(String, i32)> = local
        .iter()
        .filter(|(f, _)| FollowerThrottle::applies(&image, &f.topic, f.partition, node_id))
        .map(|(f, _)| (f.topic.clone(), f.partition))
        .collect();
    let now = crate::log::steady_ms();
    if throttled.is_empty() || !broker.follower_throttle.exceeded(&image, node_id, now) {
        return (local, throttled);
    }
    let fetched = local
        .into_iter()
        .filter(|(f, _)| !throttled.contains(&(f.topic.clone(), f.partition)))
        .collect();
    (fetched, throttled)
}

fn key_name(version: i16, f: &Followed) -> String {
    if version >= 13 {
        String::new()
    } else {
        f.topic.clone()
    }
}

fn key_id(version: i16, f: &Followed) -> Uuid {
    if version >= 13 {
        f.topic_id
    } else {
        Uuid::ZERO
    }
}

fn fetch_request(
    broker: &Broker,
    version: i16,
    local: &[(Followed, Arc<Partition>)],
) -> FetchRequest {
    let mut topics: Vec<FetchTopic> = Vec::new();
    for (followed, partition) in local {
        let position = partition.fetch_position();
        let entry = FetchPartition {
            partition: followed.partition,
            current_leader_epoch: followed.leader_epoch,
            fetch_offset: position.log_end_offset,
            last_fetched_epoch: position.last_fetched_epoch,
            log_start_offset: position.log_start_offset,
            partition_max_bytes: PARTITION_MAX_BYTES,
            ..FetchPartition::default()
        };
        let (name, id) = (key_name(version, followed), key_id(version, followed));
        match topics.last_mut() {
            Some(last) if last.topic == name && last.topic_id == id => last.partitions.push(entry),
            _ => topics.push(FetchTopic {
                topic: name,
                topic_id: id,
                partitions: vec![entry],
            }),
        }
    }
    let node_id = broker.config.node_id;
    let broker_epoch = broker.cluster_node().map_or(-1, |n| n.broker_epoch());
    FetchRequest {
        replica_id: if version < 15 { node_id } else { -1 },
        replica_state: ReplicaState {
            replica_id: if version >= 15 { node_id } else { -1 },
            replica_epoch: if version >= 15 { broker_epoch } else { -1 },
        },
        max_wait_ms: MAX_WAIT_MS,
        min_bytes: 1,
        max_bytes: RESPONSE_MAX_BYTES,
        isolation_level: 0,
        session_id: 0,
        session_epoch: -1,
        topics,
        ..FetchRequest::default()
    }
}

enum Applied {
    /// Batches appended (None: all already there), with the leader's high watermark.
    Appended(Option<crate::log::PendingAppend>, i64),
    /// Nothing new; the leader's high watermark.
    Nothing(i64),
    /// The log was cut where it parted from the leader's.
    Truncated,
    /// Refused by the leader or locally; retried after a pause.
    Refused,
}

/// What one partition's answer does to its local log.
fn apply(broker: &Broker, partition: &Arc<Partition>, data: PartitionData) -> Applied {
    let now = crate::log::now_ms();
    let name = format!("{}-{}", partition.topic, partition.index);
    if data.error_code == ErrorCode::OffsetOutOfRange.code() {
        let position = partition.fetch_position();
        // The leader's log starts past all of this one (deleted records or
        // retention there): nothing in common to keep.
        if data.log_start_offset > position.log_end_offset {
            return match partition.restart_at(data.log_start_offset, now) {
                Ok(()) => {
                    tracing::info!(partition = %name, offset = data.log_start_offset, "restarted the log at the leader's log start");
                    Applied::Truncated
                }
                Err(e) => {
                    tracing::error!(partition = %name, error = %e, "restarting the log");
                    Applied::Refused
                }
            };
        }
        tracing::warn!(partition = %name, fetch_offset = position.log_end_offset, "the leader has no such offset");
        return Applied::Refused;
    }
    if data.error_code != ErrorCode::None.code() {
        tracing::debug!(partition = %name, code = data.error_code, "the leader refused the fetch");
        return Applied::Refused;
    }
    if data.diverging_epoch.epoch >= 0 || data.diverging_epoch.end_offset >= 0 {
        return truncate_to_divergence(partition, &data, now);
    }
    let records = data.records.unwrap_or_default();
    if records.is_empty() {
        return Applied::Nothing(data.high_watermark);
    }
    match broker.log.append_replicated(partition, records) {
        Ok(append) => Applied::Appended(append, data.high_watermark),
        // The partition changed hands while the fetch was answered: the
        // next fetch follows the new assignment.
        Err(e @ (AppendError::NotFollowing | AppendError::StaleEpoch { .. })) => {
            tracing::debug!(partition = %name, error = %e, "an answer overtaken by a leader change");
            Applied::Refused
        }
        Err(e) => {
            tracing::error!(partition = %name, error = %e, "appending the leader's batches");
            Applied::Refused
        }
    }
}

fn truncate_to_divergence(partition: &Partition, data: &PartitionData, now: i64) -> Applied {
    let diverging = &data.diverging_epoch;
    match partition.truncate_to_divergence(
        diverging.epoch,
        diverging.end_offset,
        data.high_watermark,
        now,
    ) {
        Ok(end) => {
            tracing::info!(partition = %format!("{}-{}", partition.topic, partition.index), epoch = diverging.epoch, end, "cut the log where it parted from the leader's");
            Applied::Truncated
        }
        Err(e) => {
            tracing::error!(error = %e, "cutting a diverged log");
            Applied::Refused
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::records::{Endpoint, MetadataRecord};

    #[test]
    fn a_broker_follows_the_partitions_it_replicates_from_their_leaders() {
        let mut image = MetadataImage::empty();
        let mut offset = 0;
        let mut apply = |image: &mut MetadataImage, record: MetadataRecord| {
            offset += 1;
            image.apply(offset, &record).unwrap();
        };
        for id in 0..3 {
            apply(
                &mut image,
                MetadataRecord::RegisterBroker {
                    broker_id: id,
                    incarnation_id: Uuid([id as u8; 16]),
                    broker_epoch: i64::from(id),
                    endpoints: vec![Endpoint {
                        name: "PLAINTEXT".into(),
                        host: "h".into(),
                        port: 9000 + id as u16,
                        security_protocol: 0,
                    }],
                    rack: None,
                    fenced: false,
                    in_controlled_shutdown: false,
                },
            );
        }
        let topic_id = Uuid([9; 16]);
        apply(
            &mut image,
            MetadataRecord::Topic {
                name: "t".into(),
                topic_id,
            },
        );
        for (partition, replicas) in [vec![0, 1], vec![1, 2], vec![2, 0], vec![1]]
            .into_iter()
            .enumerate()
        {
            apply(
                &mut image,
                MetadataRecord::Partition {
                    partition_id: partition as i32,
                    topic_id,
                    leader: replicas[0],
                    isr: replicas.clone(),
                    replicas,
                    leader_epoch: 3,
                    partition_epoch: 0,
                    adding: Vec::new(),
                    removing: Vec::new(),
                },
            );
        }
        let of_zero = assignments(&image, 0, "PLAINTEXT");
        assert_eq!(of_zero.keys().copied().collect::<Vec<_>>(), vec![2]);
        assert_eq!(of_zero[&2].addr, "h:9002");
        assert_eq!(of_zero[&2].partitions[0].partition, 2);
        let of_one = assignments(&image, 1, "PLAINTEXT");
        assert_eq!(of_one.keys().copied().collect::<Vec<_>>(), vec![0]);
        assert!(assignments(&image, 1, "OTHER").is_empty());
    }
}
