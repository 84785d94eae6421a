//! The controller's decisions, without I/O: given the current image (and
//! the clock, passed in), each operation returns the records to append to
//! the metadata log, or a typed refusal. The quorum's leader runs it; the
//! records only take effect once committed and applied to every image.
//!
//! Rules, as Kafka's QuorumController and PartitionChangeBuilder:
//! - a broker's epoch is the offset of its registration record; a request
//!   carrying another epoch is stale;
//! - brokers register fenced and are unfenced once their heartbeat shows
//!   they have caught up with the log up to their registration;
//! - a broker silent for the session timeout is fenced: it leaves every ISR
//!   it is in (but stays as the last member of an ISR it alone holds, so
//!   that no out-of-sync replica can be elected), and its leaderships move
//!   to the first other in-sync replica, in replica order;
//! - controlled shutdown moves leaderships first; then the broker is
//!   fenced and may go;
//! - every leader change bumps the leader epoch (the image enforces it).

use super::image::{ConfigResource, MetadataImage, PartitionImage, TopicImage};
use super::placement::{self, Load, NotEnoughBrokers};
use super::records::{
    Endpoint, MetadataRecord, CONFIG_BROKER, CONFIG_TOPIC, EPOCH_FROM_OFFSET, NO_LEADER,
    NO_LEADER_CHANGE,
};
use crate::protocol::wire::Uuid;
use std::collections::BTreeMap;

/// Producer ids handed to a broker per AllocateProducerIds (Kafka: 1000).
pub const PRODUCER_ID_BLOCK: i64 = 1000;

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ControllerError {
    /// A broker id registered by another, live incarnation.
    DuplicateBrokerRegistration(i32),
    BrokerIdNotRegistered(i32),
    StaleBrokerEpoch {
        broker_id: i32,
        epoch: i64,
        current: i64,
    },
    TopicAlreadyExists(String),
    UnknownTopic(String),
    InvalidTopic(String),
    InvalidPartitions(String),
    InvalidReplicationFactor(String),
    InvalidReplicaAssignment(String),
    /// A config resource the controller keeps no settings for.
    InvalidConfigResource(ConfigResource),
    /// AlterPartition from a broker that does not lead with that epoch.
    FencedLeaderEpoch(String),
    /// AlterPartition based on a partition epoch that is not the current one.
    InvalidUpdateVersion(String),
    /// AlterPartition adding a replica that may not be in sync (fenced,
    /// shutting down, or no replica at all).
    IneligibleReplica(String),
    /// ElectLeaders: the preferred replica leads already.
    ElectionNotNeeded(String),
    /// ElectLeaders: the preferred replica is not in sync or not active.
    PreferredLeaderNotAvailable(String),
    /// AlterPartitionReassignments cancelling where nothing moves.
    NoReassignmentInProgress(String),
}

/// AlterPartition: the leader of a partition asks for a new ISR, as of the
/// leader and partition epochs it knows.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct IsrChange {
    pub broker_id: i32,
    pub broker_epoch: i64,
    pub topic_id: [u8; 16],
    pub partition: i32,
    pub leader_epoch: i32,
    pub partition_epoch: i32,
    pub isr: Vec<i32>,
}

impl std::fmt::Display for ControllerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ControllerError::DuplicateBrokerRegistration(id) => {
                write!(f, "Another broker is registered with that broker id {id}.")
            }
            ControllerError::BrokerIdNotRegistered(id) => write!(f, "Broker {id} is not registered."),
            ControllerError::StaleBrokerEpoch { broker_id, epoch, current } => write!(
                f,
                "Expected broker epoch {current} for broker {broker_id}, but got broker epoch {epoch}."
            ),
            ControllerError::TopicAlreadyExists(name) => write!(f, "Topic '{name}' already exists."),
            ControllerError::UnknownTopic(name) => write!(f, "This server does not host this topic ID or name: {name}."),
            ControllerError::InvalidTopic(m)
            | ControllerError::InvalidPartitions(m)
            | ControllerError::InvalidReplicationFactor(m)
            | ControllerError::InvalidReplicaAssignment(m) => f.write_str(m),
            ControllerError::InvalidConfigResource((kind, name)) => {
                write!(f, "Unsupported config resource type {kind} named '{name}'.")
            }
            ControllerError::FencedLeaderEpoch(m)
            | ControllerError::InvalidUpdateVersion(m)
            | ControllerError::IneligibleReplica(m)
            | ControllerError::ElectionNotNeeded(m)
            | ControllerError::PreferredLeaderNotAvailable(m)
            | ControllerError::NoReassignmentInProgress(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for ControllerError {}

impl From<NotEnoughBrokers> for ControllerError {
    fn from(e: NotEnoughBrokers) -> Self {
        ControllerError::InvalidReplicationFactor(e.to_string())
    }
}

/// What a broker sends to register (BrokerRegistration's fields).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Registration {
    pub broker_id: i32,
    pub incarnation_id: Uuid,
    pub endpoints: Vec<Endpoint>,
    pub rack: Option<String>,
}

/// What a broker sends every `broker.heartbeat.interval.ms`.
#[derive(Clone, Debug, PartialEq)]
pub struct Heartbeat {
    pub broker_id: i32,
    pub broker_epoch: i64,
    /// The offset of the last metadata record the broker has applied.
    pub applied_offset: i64,
    pub want_shut_down: bool,
    /// What the broker measured of the partitions it leads, when it has a
    /// new report.
    pub load: Option<super::load::LoadReport>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HeartbeatReply {
    pub is_caught_up: bool,
    pub is_fenced: bool,
    /// Controlled shutdown done: it leads nothing, it may stop.
    pub should_shut_down: bool,
}

/// One topic of a CreateTopics request, after its defaults are resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewTopic {
    pub name: String,
    pub topic_id: Uuid,
    pub partitions: i32,
    pub replication_factor: i16,
    /// Explicit replicas per partition, replacing the two counts above.
    pub assignments: Option<Vec<Vec<i32>>>,
    pub configs: BTreeMap<String, String>,
}

/// The controller's own state beside the image: when each broker was last
/// heard from, and its latest load report. Rebuilt empty by a new
/// controller (every broker then gets a full session before it is
/// fenced), like Kafka's BrokerHeartbeatManager.
#[derive(Debug)]
pub struct Controller {
    session_timeout_ms: u64,
    last_heard: BTreeMap<i32, u64>,
    loads: BTreeMap<i32, super::load::LoadReport>,
}

impl Controller {
    pub fn new(session_timeout_ms: u64) -> Controller {
        Controller {
            session_timeout_ms,
            last_heard: BTreeMap::new(),
            loads: BTreeMap::new(),
        }
    }

    /// The latest load report of each broker that sent one.
    pub fn loads(&self) -> &BTreeMap<i32, super::load::LoadReport> {
        &self.loads
    }

    /// When this controller last heard from `broker_id`, if it has.
    pub fn last_heard_ms(&self, broker_id: i32) -> Option<u64> {
        self.last_heard.get(&broker_id).copied()
    }

    /// Registers (or re-registers, after a restart) a broker. Its epoch is
    /// the offset the registration lands at.
    pub fn register_broker(
        &mut self,
        image: &MetadataImage,
        request: Registration,
        now_ms: u64,
    ) -> Result<Vec<MetadataRecord>, ControllerError> {
        if let Some(existing) = image.brokers.get(&request.broker_id) {
            let alive = self.is_alive(request.broker_id, now_ms);
            if existing.incarnation_id != request.incarnation_id && alive && !existing.fenced {
                return Err(ControllerError::DuplicateBrokerRegistration(
                    request.broker_id,
                ));
            }
        }
        self.last_heard.insert(request.broker_id, now_ms);
        let mut records = vec![MetadataRecord::RegisterBroker {
            broker_id: request.broker_id,
            incarnation_id: request.incarnation_id,
            broker_epoch: EPOCH_FROM_OFFSET,
            endpoints: request.endpoints,
            rack: request.rack,
            fenced: true,
            in_controlled_shutdown: false,
        }];
        // A restarted broker lost what it led: leaders elsewhere take over
        // until it has caught up and is unfenced.
        records.extend(self.move_leadership_away(image, request.broker_id));
        Ok(records)
    }

    fn is_alive(&self, broker_id: i32, now_ms: u64) -> bool {
        self.last_heard
            .get(&broker_id)
            .is_some_and(|t| now_ms.saturating_sub(*t) < self.session_timeout_ms)
    }

    pub fn heartbeat(
        &mut self,
        image: &MetadataImage,
        heartbeat: Heartbeat,
        now_ms: u64,
    ) -> Result<(Vec<MetadataRecord>, HeartbeatReply), ControllerError> {
        let broker = registered(image, heartbeat.broker_id, heartbeat.broker_epoch)?;
        self.last_heard.insert(broker.id, now_ms);
        if let Some(report) = heartbeat.load {
            self.loads.insert(broker.id, report);
        }
        let caught_up = heartbeat.applied_offset >= broker.epoch;
        let mut records = Vec::new();
        let mut reply = HeartbeatReply {
            is_caught_up: caught_up,
            is_fenced: broker.fenced,
            should_shut_down: false,
        };
        if heartbeat.want_shut_down {
            if !broker.in_controlled_shutdown {
                records.push(MetadataRecord::BrokerRegistrationChange {
                    broker_id: broker.id,
                    broker_epoch: broker.epoch,
                    fenced: None,
                    in_controlled_shutdown: Some(true),
                });
                records.extend(self.move_leadership_away(image, broker.id));
            }
            // Leaderships moved (committed): fenced, so clients stop being
            // sent to it at once, and it may stop.
            if records.is_empty() && leads_nothing(image, broker.id) {
                if !broker.fenced {
                    records.push(MetadataRecord::BrokerRegistrationChange {
                        broker_id: broker.id,
                        broker_epoch: broker.epoch,
                        fenced: Some(true),
                        in_controlled_shutdown: None,
                    });
                }
                reply.should_shut_down = true;
                reply.is_fenced = true;
            }
        } else if broker.fenced && caught_up {
            records.push(MetadataRecord::BrokerRegistrationChange {
                broker_id: broker.id,
                broker_epoch: broker.epoch,
                fenced: Some(false),
                in_controlled_shutdown: None,
            });
            if !broker.in_controlled_shutdown {
                records.extend(elect_leaderless(image, broker.id));
            }
            reply.is_fenced = false;
        }
        Ok((records, reply))
    }

    /// Fences every unfenced broker silent for the session timeout.
    pub fn tick(&mut self, image: &MetadataImage, now_ms: u64) -> Vec<MetadataRecord> {
        let expired: Vec<(i32, i64)> = image
            .brokers
            .values()
            .filter(|b| !b.fenced && !self.is_alive(b.id, now_ms))
            .map(|b| (b.id, b.epoch))
            .collect();
        let mut records = Vec::new();
        // Each fencing is decided on the image the previous ones leave.
        let mut working = image.clone();
        for (broker_id, broker_epoch) in expired {
            // A broker this controller has never heard from gets one session
            // from now: a new controller must not fence everyone at once.
            if let std::collections::btree_map::Entry::Vacant(e) = self.last_heard.entry(broker_id)
            {
                e.insert(now_ms);
                continue;
            }
            let mut fencing = vec![MetadataRecord::BrokerRegistrationChange {
                broker_id,
                broker_epoch,
                fenced: Some(true),
                in_controlled_shutdown: None,
            }];
            fencing.extend(self.move_leadership_away(&working, broker_id));
            for record in &fencing {
                if let Err(e) = working.apply(working.offset, record) {
                    debug_assert!(false, "the controller's own record does not apply: {e}");
                }
            }
            records.extend(fencing);
        }
        records
    }

    /// Drops `broker` from every ISR and leadership it holds (keeping it as
    /// the last ISR member where it is the only one).
    fn move_leadership_away(&self, image: &MetadataImage, broker: i32) -> Vec<MetadataRecord> {
        let mut records = Vec::new();
        for topic in image.topics() {
            for (index, p) in topic.partitions.iter().enumerate() {
                if !p.isr.contains(&broker) {
                    continue;
                }
                let isr: Vec<i32> = p.isr.iter().copied().filter(|b| *b != broker).collect();
                let (isr, leader) = if isr.is_empty() {
                    (
                        None,
                        if p.leader == NO_LEADER {
                            NO_LEADER_CHANGE
                        } else {
                            NO_LEADER
                        },
                    )
                } else {
                    let leader = if p.leader == broker || p.leader == NO_LEADER {
                        choose_leader(image, &p.replicas, &isr, Some(broker))
                    } else {
                        NO_LEADER_CHANGE
                    };
                    (Some(isr), leader)
                };
                if isr.is_none() && leader == NO_LEADER_CHANGE {
                    continue;
                }
                records.push(MetadataRecord::PartitionChange {
                    partition_id: index as i32,
                    topic_id: topic.id,
                    isr,
                    leader,
                    replicas: None,
                    adding: None,
                    removing: None,
                });
            }
        }
        records
    }

    pub fn create_topics(
        &self,
        image: &MetadataImage,
        topics: &[NewTopic],
    ) -> Vec<Result<Vec<MetadataRecord>, ControllerError>> {
        let mut load = Load::of(image);
        let mut names: Vec<&str> = Vec::new();
        topics
            .iter()
            .map(|topic| {
                if image.topic(&topic.name).is_some() || names.contains(&topic.name.as_str()) {
                    return Err(ControllerError::TopicAlreadyExists(topic.name.clone()));
                }
                if image.topic_by_id(topic.topic_id).is_some() {
                    return Err(ControllerError::InvalidTopic(format!(
                        "topic id {} is taken; retry",
                        topic.topic_id
                    )));
                }
                let records = create_topic(image, &mut load, topic)?;
                names.push(&topic.name);
                Ok(records)
            })
            .collect()
    }

    pub fn delete_topic(
        &self,
        image: &MetadataImage,
        name: &str,
    ) -> Result<Vec<MetadataRecord>, ControllerError> {
        let topic = image
            .topic(name)
            .ok_or_else(|| ControllerError::UnknownTopic(name.to_string()))?;
        Ok(vec![MetadataRecord::RemoveTopic { topic_id: topic.id }])
    }

    /// Grows `name` to `total` partitions (CreatePartitions).
    pub fn create_partitions(
        &self,
        image: &MetadataImage,
        name: &str,
        total: i32,
        assignments: Option<&[Vec<i32>]>,
    ) -> Result<Vec<MetadataRecord>, ControllerError> {
        let topic = image
            .topic(name)
            .ok_or_else(|| ControllerError::UnknownTopic(name.to_string()))?;
        let current = topic.partitions.len() as i32;
        if total <= current {
            return Err(ControllerError::InvalidPartitions(format!(
                "Topic currently has {current} partitions, which is higher than the requested {total}."
            )));
        }
        let replication = topic.partitions.first().map_or(1, |p| p.replicas.len());
        let mut load = Load::of(image);
        let mut records = Vec::new();
        for (n, partition) in (current..total).enumerate() {
            let replicas = match assignments {
                Some(given) => {
                    let replicas = given.get(n).cloned().ok_or_else(|| {
                        ControllerError::InvalidReplicaAssignment(format!(
                            "Increasing the number of partitions by {} but {} assignments provided.",
                            total - current,
                            given.len()
                        ))
                    })?;
                    check_assignment(image, &replicas)?;
                    replicas
                }
                None => placement::place(image, &mut load, replication)?,
            };
            records.push(new_partition(image, topic, partition, replicas));
        }
        Ok(records)
    }

    /// A resource's settings become `configs`: a record per setting that
    /// changes (`None` removes one). Resources are a topic (which must
    /// exist), a broker by id, or the cluster default (broker "").
    pub fn alter_configs(
        &self,
        image: &MetadataImage,
        resource: &ConfigResource,
        configs: &BTreeMap<String, String>,
    ) -> Result<Vec<MetadataRecord>, ControllerError> {
        let (resource_type, name) = resource;
        match *resource_type {
            CONFIG_TOPIC if image.topic(name).is_none() => {
                return Err(ControllerError::UnknownTopic(name.clone()))
            }
            CONFIG_TOPIC => {}
            CONFIG_BROKER if name.is_empty() || name.parse::<i32>().is_ok() => {}
            _ => return Err(ControllerError::InvalidConfigResource(resource.clone())),
        }
        let empty = BTreeMap::new();
        let current = image.configs.get(resource).unwrap_or(&empty);
        let record = |key: &String, value: Option<&String>| MetadataRecord::Config {
            resource_type: *resource_type,
            resource_name: name.clone(),
            name: key.clone(),
            value: value.cloned(),
        };
        let removed = current
            .keys()
            .filter(|k| !configs.contains_key(*k))
            .map(|k| record(k, None));
        let set = configs
            .iter()
            .filter(|(k, v)| current.get(*k) != Some(v))
            .map(|(k, v)| record(k, Some(v)));
        Ok(removed.chain(set).collect())
    }

    /// The next block of producer ids for `broker_id`, starting at
    /// `at_least` or later (a node joining with ids it handed out alone).
    pub fn allocate_producer_ids(
        &self,
        image: &MetadataImage,
        broker_id: i32,
        broker_epoch: i64,
        at_least: i64,
    ) -> Result<(Vec<MetadataRecord>, i64), ControllerError> {
        registered(image, broker_id, broker_epoch)?;
        let start = image.next_producer_id.max(at_least);
        let record = MetadataRecord::ProducerIds {
            broker_id,
            broker_epoch,
            next_producer_id: start + PRODUCER_ID_BLOCK,
        };
        Ok((vec![record], start))
    }
}

impl Controller {
    /// AlterPartition, as Kafka's ReplicationControlManager checks it: from
    /// the current leader (broker epoch, leader epoch), on the current
    /// partition epoch, to an ISR of replicas that holds the leader and
    /// adds only active brokers. Nothing changes if the ISR is the same.
    pub fn alter_partition(
        &self,
        image: &MetadataImage,
        change: &IsrChange,
    ) -> Result<Vec<MetadataRecord>, ControllerError> {
        registered(image, change.broker_id, change.broker_epoch)?;
        let topic_id = Uuid(change.topic_id);
        let topic = image
            .topic_by_id(topic_id)
            .ok_or_else(|| ControllerError::UnknownTopic(topic_id.to_string()))?;
        let p = usize::try_from(change.partition)
            .ok()
            .and_then(|i| topic.partitions.get(i))
            .ok_or_else(|| {
                ControllerError::UnknownTopic(format!("{}-{}", topic.name, change.partition))
            })?;
        if p.leader != change.broker_id || p.leader_epoch != change.leader_epoch {
            return Err(ControllerError::FencedLeaderEpoch(format!(
                "{}-{}: led by {} with epoch {}, not by {} with epoch {}",
                topic.name,
                change.partition,
                p.leader,
                p.leader_epoch,
                change.broker_id,
                change.leader_epoch
            )));
        }
        if p.partition_epoch != change.partition_epoch {
            return Err(ControllerError::InvalidUpdateVersion(format!(
                "{}-{}: partition epoch {} is not the current {}",
                topic.name, change.partition, change.partition_epoch, p.partition_epoch
            )));
        }
        let duplicated = change
            .isr
            .iter()
            .enumerate()
            .any(|(i, r)| change.isr[..i].contains(r));
        if !change.isr.contains(&change.broker_id) || duplicated {
            return Err(ControllerError::InvalidUpdateVersion(format!(
                "{}-{}: an ISR must hold its leader once, not {:?}",
                topic.name, change.partition, change.isr
            )));
        }
        let ineligible = change.isr.iter().find(|r| {
            !p.replicas.contains(r)
                || (!p.isr.contains(r) && !image.brokers.get(r).is_some_and(|b| b.is_active()))
        });
        if let Some(r) = ineligible {
            return Err(ControllerError::IneligibleReplica(format!(
                "{}-{}: broker {r} may not join the ISR",
                topic.name, change.partition
            )));
        }
        let mut current = p.isr.clone();
        let mut wanted = change.isr.clone();
        current.sort_unstable();
        wanted.sort_unstable();
        if current == wanted {
            return Ok(Vec::new());
        }
        // The ISR a reassignment waits for may complete it.
        let next = super::reassignment::Assignment::of(p).with_isr(&change.isr);
        Ok(super::reassignment::change_and_clear(
            image,
            topic,
            change.partition,
            p,
            &next,
        ))
    }
}

/// The registration of `broker_id` if `broker_epoch` is its current epoch.
fn registered(
    image: &MetadataImage,
    broker_id: i32,
    broker_epoch: i64,
) -> Result<&super::image::BrokerRegistration, ControllerError> {
    let broker = image
        .brokers
        .get(&broker_id)
        .ok_or(ControllerError::BrokerIdNotRegistered(broker_id))?;
    if broker.epoch != broker_epoch {
        return Err(ControllerError::StaleBrokerEpoch {
            broker_id,
            epoch: broker_epoch,
            current: broker.epoch,
        });
    }
    Ok(broker)
}

impl Controller {
    /// ElectLeaders (preferred): the first replica leads again, with a new
    /// epoch, if it is active and in sync.
    pub fn elect_preferred(
        &self,
        image: &MetadataImage,
        topic: &str,
        partition: i32,
    ) -> Result<Vec<MetadataRecord>, ControllerError> {
        let name = format!("{topic}-{partition}");
        let (topic_image, p) = partition_of(image, topic, partition)?;
        let Some(&preferred) = p.replicas.first() else {
            return Err(ControllerError::PreferredLeaderNotAvailable(name));
        };
        if p.leader == preferred {
            return Err(ControllerError::ElectionNotNeeded(format!(
                "{name}: its preferred replica {preferred} leads already"
            )));
        }
        let active = image.brokers.get(&preferred).is_some_and(|b| b.is_active());
        if !active || !p.isr.contains(&preferred) {
            return Err(ControllerError::PreferredLeaderNotAvailable(format!(
                "{name}: its preferred replica {preferred} is not active and in sync"
            )));
        }
        Ok(vec![MetadataRecord::PartitionChange {
            partition_id: partition,
            topic_id: topic_image.id,
            isr: None,
            leader: preferred,
            replicas: None,
            adding: None,
            removing: None,
        }])
    }
}

/// `topic` and its `partition`, UNKNOWN_TOPIC_OR_PARTITION if either is missing.
pub(super) fn partition_of<'a>(
    image: &'a MetadataImage,
    topic: &str,
    partition: i32,
) -> Result<(&'a TopicImage, &'a PartitionImage), ControllerError> {
    let unknown = || ControllerError::UnknownTopic(format!("{topic}-{partition}"));
    let topic_image = image.topic(topic).ok_or_else(unknown)?;
    let p = usize::try_from(partition)
        .ok()
        .and_then(|i| topic_image.partitions.get(i))
        .ok_or_else(unknown)?;
    Ok((topic_image, p))
}

fn leads_nothing(image: &MetadataImage, broker: i32) -> bool {
    image
        .topics()
        .all(|t| t.partitions.iter().all(|p| p.leader != broker))
}

impl ControllerError {
    /// The Kafka error code a client is answered with.
    pub fn code(&self) -> crate::protocol::error_code::ErrorCode {
        use crate::protocol::error_code::ErrorCode;
        match self {
            ControllerError::DuplicateBrokerRegistration(_) => {
                ErrorCode::DuplicateBrokerRegistration
            }
            ControllerError::BrokerIdNotRegistered(_) => ErrorCode::BrokerIdNotRegistered,
            ControllerError::StaleBrokerEpoch { .. } => ErrorCode::StaleBrokerEpoch,
            ControllerError::TopicAlreadyExists(_) => ErrorCode::TopicAlreadyExists,
            ControllerError::UnknownTopic(_) => ErrorCode::UnknownTopicOrPartition,
            ControllerError::InvalidTopic(_) => ErrorCode::InvalidTopicException,
            ControllerError::InvalidPartitions(_) => ErrorCode::InvalidPartitions,
            ControllerError::InvalidReplicationFactor(_) => ErrorCode::InvalidReplicationFactor,
            ControllerError::InvalidReplicaAssignment(_) => ErrorCode::InvalidReplicaAssignment,
            ControllerError::InvalidConfigResource(_) => ErrorCode::InvalidRequest,
            ControllerError::FencedLeaderEpoch(_) => ErrorCode::FencedLeaderEpoch,
            ControllerError::InvalidUpdateVersion(_) => ErrorCode::InvalidUpdateVersion,
            ControllerError::IneligibleReplica(_) => ErrorCode::IneligibleReplica,
            ControllerError::ElectionNotNeeded(_) => ErrorCode::ElectionNotNeeded,
            ControllerError::PreferredLeaderNotAvailable(_) => {
                ErrorCode::PreferredLeaderNotAvailable
            }
            ControllerError::NoReassignmentInProgress(_) => ErrorCode::NoReassignmentInProgress,
        }
    }
}

/// The first of `replicas`, in their order, that is in `isr` and active.
pub(super) fn choose_leader(
    image: &MetadataImage,
    replicas: &[i32],
    isr: &[i32],
    excluded: Option<i32>,
) -> i32 {
    replicas
        .iter()
        .copied()
        .filter(|r| Some(*r) != excluded && isr.contains(r))
        .find(|r| image.brokers.get(r).is_some_and(|b| b.is_active()))
        .unwrap_or(NO_LEADER)
}

/// Partitions without a leader whose ISR holds `broker`, which has just
/// become active: it leads them again.
fn elect_leaderless(image: &MetadataImage, broker: i32) -> Vec<MetadataRecord> {
    let mut records = Vec::new();
    for topic in image.topics() {
        for (index, p) in topic.partitions.iter().enumerate() {
            if p.leader == NO_LEADER && p.isr.contains(&broker) {
                // It takes writes the others will not copy: it alone is in sync.
                let isr = (p.isr.len() > 1).then(|| vec![broker]);
                records.push(MetadataRecord::PartitionChange {
                    partition_id: index as i32,
                    topic_id: topic.id,
                    isr,
                    leader: broker,
                    replicas: None,
                    adding: None,
                    removing: None,
                });
            }
        }
    }
    records
}

pub(super) fn check_assignment(
    image: &MetadataImage,
    replicas: &[i32],
) -> Result<(), ControllerError> {
    if replicas.is_empty() {
        return Err(ControllerError::InvalidReplicaAssignment(
            "The manual partition assignment includes an empty replica list.".into(),
        ));
    }
    if replicas
        .iter()
        .enumerate()
        .any(|(i, r)| replicas[..i].contains(r))
    {
        return Err(ControllerError::InvalidReplicaAssignment(format!(
            "The manual partition assignment includes the broker more than once: {replicas:?}."
        )));
    }
    if let Some(missing) = replicas.iter().find(|r| !image.brokers.contains_key(r)) {
        return Err(ControllerError::InvalidReplicaAssignment(format!(
            "The manual partition assignment includes broker {missing}, but no such broker is registered."
        )));
    }
    Ok(())
}

/// A new partition led by its first active replica, with every replica in
/// sync (they are all empty); without an active replica, the first to
/// become active leads.
fn new_partition(
    image: &MetadataImage,
    topic: &TopicImage,
    partition: i32,
    replicas: Vec<i32>,
) -> MetadataRecord {
    let leader = choose_leader(image, &replicas, &replicas, None);
    MetadataRecord::Partition {
        partition_id: partition,
        topic_id: topic.id,
        isr: replicas.clone(),
        replicas,
        leader,
        leader_epoch: 0,
        partition_epoch: 0,
        adding: Vec::new(),
        removing: Vec::new(),
    }
}

fn create_topic(
    image: &MetadataImage,
    load: &mut Load,
    topic: &NewTopic,
) -> Result<Vec<MetadataRecord>, ControllerError> {
    if !crate::log::topic::valid_topic_name(&topic.name) {
        return Err(ControllerError::InvalidTopic(format!(
            "Topic name \"{}\" is illegal",
            topic.name
        )));
    }
    let assignments: Vec<Vec<i32>> = match &topic.assignments {
        Some(given) => {
            for replicas in given {
                check_assignment(image, replicas)?;
            }
            if given.is_empty() {
                return Err(ControllerError::InvalidReplicaAssignment(
                    "No partitions were assigned.".into(),
                ));
            }
            given.iter().for_each(|r| load.add(r));
            given.clone()
        }
        None => {
            if topic.partitions < 1 {
                return Err(ControllerError::InvalidPartitions(
                    "Number of partitions must be larger than 0.".into(),
                ));
            }
            if topic.replication_factor < 1 {
                return Err(ControllerError::InvalidReplicationFactor(
                    "Replication factor must be larger than 0.".into(),
                ));
            }
            (0..topic.partitions)
                .map(|_| placement::place(image, load, topic.replication_factor as usize))
                .collect::<Result<_, _>>()?
        }
    };
    let shell = TopicImage {
        name: topic.name.clone(),
        id: topic.topic_id,
        partitions: Vec::new(),
    };
    let mut records = vec![MetadataRecord::Topic {
        name: topic.name.clone(),
        topic_id: topic.topic_id,
    }];
    for (name, value) in &topic.configs {
        records.push(MetadataRecord::Config {
            resource_type: super::records::CONFIG_TOPIC,
            resource_name: topic.name.clone(),
            name: name.clone(),
            value: Some(value.clone()),
        });
    }
    for (index, replicas) in assignments.into_iter().enumerate() {
        records.push(new_partition(image, &shell, index as i32, replicas));
    }
    Ok(records)
}
