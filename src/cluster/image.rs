//! The metadata image: what the metadata log says, applied record by
//! record. Handlers read an immutable image behind an `Arc`; applying a
//! record makes the next image (topics are shared between images, so a
//! change copies only what it touches).
//!
//! Invariants, checked as each record is applied (a record that would break
//! one is refused with the reason, and the image is left as it was):
//! - a partition's leader is one of its replicas and in its ISR, or none;
//! - its ISR is a subset of its replicas, without duplicates;
//! - leader and partition epochs never go down, and a new leader means a
//!   new leader epoch;
//! - topic names and ids are unique; partitions are numbered 0..n.

use super::records::{
    Endpoint, MetadataRecord, CONFIG_BROKER, CONFIG_TOPIC, NO_LEADER, NO_LEADER_CHANGE,
};
use crate::protocol::wire::Uuid;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokerRegistration {
    pub id: i32,
    pub incarnation_id: Uuid,
    /// The log offset of the registration: a restarted broker gets a new one.
    pub epoch: i64,
    pub endpoints: Vec<Endpoint>,
    pub rack: Option<String>,
    pub fenced: bool,
    pub in_controlled_shutdown: bool,
}

impl BrokerRegistration {
    /// Unfenced and not shutting down: may lead and take new replicas.
    pub fn is_active(&self) -> bool {
        !self.fenced && !self.in_controlled_shutdown
    }

    pub fn endpoint(&self, listener: &str) -> Option<&Endpoint> {
        self.endpoints.iter().find(|e| e.name == listener)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionImage {
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    /// A broker id, or [`NO_LEADER`].
    pub leader: i32,
    pub leader_epoch: i32,
    pub partition_epoch: i32,
    /// A reassignment in flight: the target replicas not yet in the old
    /// set, and the old replicas not in the target (both in `replicas`).
    pub adding: Vec<i32>,
    pub removing: Vec<i32>,
}

impl PartitionImage {
    pub fn reassigning(&self) -> bool {
        !self.adding.is_empty() || !self.removing.is_empty()
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopicImage {
    pub name: String,
    pub id: Uuid,
    /// Indexed by partition number.
    pub partitions: Vec<PartitionImage>,
}

/// A config resource: a topic by name, a broker by id, or (an empty name
/// with [`CONFIG_BROKER`]) the cluster-wide broker default.
pub type ConfigResource = (i8, String);

#[derive(Clone, Debug, Default)]
pub struct MetadataImage {
    /// The log offset of the last record applied; -1 before the first.
    pub offset: i64,
    pub cluster_id: Option<String>,
    pub brokers: BTreeMap<i32, BrokerRegistration>,
    topics: HashMap<Uuid, Arc<TopicImage>>,
    topic_ids: BTreeMap<String, Uuid>,
    pub configs: BTreeMap<ConfigResource, BTreeMap<String, String>>,
    /// The first producer id not yet handed out.
    pub next_producer_id: i64,
}

/// The fields a PartitionChange record changes (None: unchanged).
struct PartitionDelta<'a> {
    isr: &'a Option<Vec<i32>>,
    leader: i32,
    replicas: &'a Option<Vec<i32>>,
    adding: &'a Option<Vec<i32>>,
    removing: &'a Option<Vec<i32>>,
}

/// Why a record cannot be applied to the image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ApplyError {
    UnknownBroker(i32),
    StaleBrokerEpoch {
        broker_id: i32,
        epoch: i64,
        current: i64,
    },
    DuplicateTopic(String),
    UnknownTopic(Uuid),
    PartitionNotNext {
        topic: String,
        partition: i32,
        next: i32,
    },
    UnknownPartition {
        topic: String,
        partition: i32,
    },
    /// A partition state that breaks an invariant of the module doc.
    InvalidPartition {
        topic: String,
        partition: i32,
        reason: &'static str,
    },
    ProducerIdsBackwards {
        next: i64,
        current: i64,
    },
    ClusterIdChanged {
        current: String,
        proposed: String,
    },
}

impl std::fmt::Display for ApplyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ApplyError::UnknownBroker(id) => write!(f, "broker {id} is not registered"),
            ApplyError::StaleBrokerEpoch {
                broker_id,
                epoch,
                current,
            } => {
                write!(
                    f,
                    "broker {broker_id}: epoch {epoch} is not its current {current}"
                )
            }
            ApplyError::DuplicateTopic(name) => write!(f, "topic {name} exists"),
            ApplyError::UnknownTopic(id) => write!(f, "no topic has id {id}"),
            ApplyError::PartitionNotNext {
                topic,
                partition,
                next,
            } => {
                write!(
                    f,
                    "{topic}: partition {partition} added where {next} is next"
                )
            }
            ApplyError::UnknownPartition { topic, partition } => {
                write!(f, "{topic} has no partition {partition}")
            }
            ApplyError::InvalidPartition {
                topic,
                partition,
                reason,
            } => {
                write!(f, "{topic}-{partition}: {reason}")
            }
            ApplyError::ProducerIdsBackwards { next, current } => {
                write!(f, "producer ids would go back from {current} to {next}")
            }
            ApplyError::ClusterIdChanged { current, proposed } => {
                write!(f, "the cluster id is {current}; the log names {proposed}")
            }
        }
    }
}

impl std::error::Error for ApplyError {}

fn check_partition(topic: &str, partition: i32, p: &PartitionImage) -> Result<(), ApplyError> {
    let invalid = |reason| {
        Err(ApplyError::InvalidPartition {
            topic: topic.into(),
            partition,
            reason,
        })
    };
    let distinct = |ids: &[i32]| ids.iter().enumerate().all(|(i, id)| !ids[..i].contains(id));
    if p.replicas.is_empty() {
        return invalid("no replicas");
    }
    if !distinct(&p.replicas) || !distinct(&p.isr) {
        return invalid("a broker is listed twice");
    }
    if !p.isr.iter().all(|b| p.replicas.contains(b)) {
        return invalid("an ISR member is not a replica");
    }
    if p.leader != NO_LEADER && !p.isr.contains(&p.leader) {
        return invalid("the leader is not in the ISR");
    }
    if !distinct(&p.adding) || !distinct(&p.removing) {
        return invalid("a broker is listed twice");
    }
    let outside = p
        .adding
        .iter()
        .chain(&p.removing)
        .any(|b| !p.replicas.contains(b));
    if outside || p.adding.iter().any(|b| p.removing.contains(b)) {
        return invalid(
            "a reassignment names a broker outside the replicas, or both adds and removes it",
        );
    }
    if p.replicas.iter().all(|b| p.removing.contains(b)) {
        return invalid("a reassignment removes every replica");
    }
    Ok(())
}

impl MetadataImage {
    pub fn empty() -> MetadataImage {
        MetadataImage {
            offset: -1,
            ..MetadataImage::default()
        }
    }

    /// The image of one broker that has joined no quorum: registered,
    /// unfenced, its own cluster.
    pub fn alone(
        node_id: i32,
        cluster_id: &str,
        endpoints: Vec<Endpoint>,
        rack: Option<String>,
    ) -> MetadataImage {
        let mut image = MetadataImage::empty();
        let broker = BrokerRegistration {
            id: node_id,
            incarnation_id: Uuid::ZERO,
            epoch: 0,
            endpoints,
            rack,
            fenced: false,
            in_controlled_shutdown: false,
        };
        image.brokers.insert(node_id, broker);
        image.cluster_id = Some(cluster_id.to_string());
        image
    }

    /// Adds a topic led by `leader`, every partition at epoch 0 (the image
    /// of a broker that has joined no quorum). A name or id already taken
    /// is left as it is.
    pub fn add_local_topic(&mut self, name: &str, id: Uuid, partitions: i32, leader: i32) {
        if self.topic_ids.contains_key(name) || self.topics.contains_key(&id) {
            return;
        }
        let partitions = (0..partitions)
            .map(|_| PartitionImage {
                replicas: vec![leader],
                isr: vec![leader],
                leader,
                leader_epoch: 0,
                partition_epoch: 0,
                adding: Vec::new(),
                removing: Vec::new(),
            })
            .collect();
        let topic = TopicImage {
            name: name.to_string(),
            id,
            partitions,
        };
        self.topic_ids.insert(name.to_string(), id);
        self.topics.insert(id, Arc::new(topic));
    }

    pub fn topic(&self, name: &str) -> Option<&Arc<TopicImage>> {
        self.topics.get(self.topic_ids.get(name)?)
    }

    pub fn topic_by_id(&self, id: Uuid) -> Option<&Arc<TopicImage>> {
        self.topics.get(&id)
    }

    /// Every topic, by name.
    pub fn topics(&self) -> impl Iterator<Item = &Arc<TopicImage>> {
        self.topic_ids.values().filter_map(|id| self.topics.get(id))
    }

    pub fn partition(&self, topic: &str, partition: i32) -> Option<&PartitionImage> {
        self.topic(topic)?
            .partitions
            .get(usize::try_from(partition).ok()?)
    }

    /// Brokers that may lead and take replicas.
    pub fn active_brokers(&self) -> impl Iterator<Item = &BrokerRegistration> {
        self.brokers.values().filter(|b| b.is_active())
    }

    fn broker_mut(&mut self, id: i32, epoch: i64) -> Result<&mut BrokerRegistration, ApplyError> {
        let broker = self
            .brokers
            .get_mut(&id)
            .ok_or(ApplyError::UnknownBroker(id))?;
        if broker.epoch != epoch {
            return Err(ApplyError::StaleBrokerEpoch {
                broker_id: id,
                epoch,
                current: broker.epoch,
            });
        }
        Ok(broker)
    }

    /// Applies the record at log `offset`. On error the image is unchanged.
    pub fn apply(&mut self, offset: i64, record: &MetadataRecord) -> Result<(), ApplyError> {
        match record {
            MetadataRecord::RegisterBroker {
                broker_id,
                incarnation_id,
                broker_epoch,
                endpoints,
                rack,
                fenced,
                in_controlled_shutdown,
            } => {
                self.brokers.insert(
                    *broker_id,
                    BrokerRegistration {
                        id: *broker_id,
                        incarnation_id: *incarnation_id,
                        epoch: if *broker_epoch >= 0 {
                            *broker_epoch
                        } else {
                            offset
                        },
                        endpoints: endpoints.clone(),
                        rack: rack.clone(),
                        fenced: *fenced,
                        in_controlled_shutdown: *in_controlled_shutdown,
                    },
                );
            }
            MetadataRecord::UnregisterBroker {
                broker_id,
                broker_epoch,
            } => {
                self.broker_mut(*broker_id, *broker_epoch)?;
                self.brokers.remove(broker_id);
            }
            MetadataRecord::BrokerRegistrationChange {
                broker_id,
                broker_epoch,
                fenced,
                in_controlled_shutdown,
            } => {
                let broker = self.broker_mut(*broker_id, *broker_epoch)?;
                if let Some(fenced) = fenced {
                    broker.fenced = *fenced;
                }
                if let Some(shutting_down) = in_controlled_shutdown {
                    broker.in_controlled_shutdown = *shutting_down;
                }
            }
            MetadataRecord::Topic { name, topic_id } => {
                if self.topic_ids.contains_key(name) || self.topics.contains_key(topic_id) {
                    return Err(ApplyError::DuplicateTopic(name.clone()));
                }
                self.topic_ids.insert(name.clone(), *topic_id);
                let topic = TopicImage {
                    name: name.clone(),
                    id: *topic_id,
                    partitions: Vec::new(),
                };
                self.topics.insert(*topic_id, Arc::new(topic));
            }
            MetadataRecord::RemoveTopic { topic_id } => {
                let topic = self
                    .topics
                    .remove(topic_id)
                    .ok_or(ApplyError::UnknownTopic(*topic_id))?;
                self.topic_ids.remove(&topic.name);
                self.configs.remove(&(CONFIG_TOPIC, topic.name.clone()));
            }
            MetadataRecord::Partition {
                partition_id,
                topic_id,
                replicas,
                isr,
                leader,
                leader_epoch,
                partition_epoch,
                adding,
                removing,
            } => {
                let topic = self
                    .topics
                    .get(topic_id)
                    .ok_or(ApplyError::UnknownTopic(*topic_id))?;
                let next = topic.partitions.len() as i32;
                if *partition_id != next {
                    return Err(ApplyError::PartitionNotNext {
                        topic: topic.name.clone(),
                        partition: *partition_id,
                        next,
                    });
                }
                let partition = PartitionImage {
                    replicas: replicas.clone(),
                    isr: isr.clone(),
                    leader: *leader,
                    leader_epoch: *leader_epoch,
                    partition_epoch: *partition_epoch,
                    adding: adding.clone(),
                    removing: removing.clone(),
                };
                check_partition(&topic.name, *partition_id, &partition)?;
                let topic = self.topics.get_mut(topic_id).map(Arc::make_mut);
                if let Some(topic) = topic {
                    topic.partitions.push(partition);
                }
            }
            MetadataRecord::PartitionChange {
                partition_id,
                topic_id,
                isr,
                leader,
                replicas,
                adding,
                removing,
            } => self.apply_partition_change(
                *topic_id,
                *partition_id,
                PartitionDelta {
                    isr,
                    leader: *leader,
                    replicas,
                    adding,
                    removing,
                },
            )?,
            MetadataRecord::Config {
                resource_type,
                resource_name,
                name,
                value,
            } => {
                let resource = (*resource_type, resource_name.clone());
                match value {
                    Some(value) => {
                        self.configs
                            .entry(resource)
                            .or_default()
                            .insert(name.clone(), value.clone());
                    }
                    None => {
                        if let Some(settings) = self.configs.get_mut(&resource) {
                            settings.remove(name);
                            if settings.is_empty() {
                                self.configs.remove(&resource);
                            }
                        }
                    }
                }
            }
            MetadataRecord::ProducerIds {
                next_producer_id, ..
            } => {
                if *next_producer_id < self.next_producer_id {
                    return Err(ApplyError::ProducerIdsBackwards {
                        next: *next_producer_id,
                        current: self.next_producer_id,
                    });
                }
                self.next_producer_id = *next_producer_id;
            }
            MetadataRecord::NoOp => {}
            MetadataRecord::ClusterIdentity { cluster_id } => match &self.cluster_id {
                Some(current) if current != cluster_id => {
                    return Err(ApplyError::ClusterIdChanged {
                        current: current.clone(),
                        proposed: cluster_id.clone(),
                    })
                }
                _ => self.cluster_id = Some(cluster_id.clone()),
            },
        }
        self.offset = offset;
        Ok(())
    }

    fn apply_partition_change(
        &mut self,
        topic_id: Uuid,
        partition_id: i32,
        delta: PartitionDelta<'_>,
    ) -> Result<(), ApplyError> {
        let topic = self
            .topics
            .get(&topic_id)
            .ok_or(ApplyError::UnknownTopic(topic_id))?;
        let index = usize::try_from(partition_id)
            .ok()
            .filter(|i| *i < topic.partitions.len());
        let Some(index) = index else {
            return Err(ApplyError::UnknownPartition {
                topic: topic.name.clone(),
                partition: partition_id,
            });
        };
        let mut next = topic.partitions[index].clone();
        if let Some(isr) = delta.isr {
            next.isr = isr.clone();
        }
        if let Some(replicas) = delta.replicas {
            next.replicas = replicas.clone();
        }
        if let Some(adding) = delta.adding {
            next.adding = adding.clone();
        }
        if let Some(removing) = delta.removing {
            next.removing = removing.clone();
        }
        if delta.leader != NO_LEADER_CHANGE {
            next.leader = delta.leader;
            next.leader_epoch += 1;
        }
        next.partition_epoch += 1;
        check_partition(&topic.name, partition_id, &next)?;
        if let Some(topic) = self.topics.get_mut(&topic_id).map(Arc::make_mut) {
            topic.partitions[index] = next;
        }
        Ok(())
    }

    /// The records that rebuild this image from an empty one: a snapshot.
    pub fn to_records(&self) -> Vec<MetadataRecord> {
        let mut records = Vec::new();
        if let Some(cluster_id) = &self.cluster_id {
            records.push(MetadataRecord::ClusterIdentity {
                cluster_id: cluster_id.clone(),
            });
        }
        for b in self.brokers.values() {
            records.push(MetadataRecord::RegisterBroker {
                broker_id: b.id,
                incarnation_id: b.incarnation_id,
                broker_epoch: b.epoch,
                endpoints: b.endpoints.clone(),
                rack: b.rack.clone(),
                fenced: b.fenced,
                in_controlled_shutdown: b.in_controlled_shutdown,
            });
        }
        for topic in self.topics() {
            records.push(MetadataRecord::Topic {
                name: topic.name.clone(),
                topic_id: topic.id,
            });
            for (index, p) in topic.partitions.iter().enumerate() {
                records.push(MetadataRecord::Partition {
                    partition_id: index as i32,
                    topic_id: topic.id,
                    replicas: p.replicas.clone(),
                    isr: p.isr.clone(),
                    leader: p.leader,
                    leader_epoch: p.leader_epoch,
                    partition_epoch: p.partition_epoch,
                    adding: p.adding.clone(),
                    removing: p.removing.clone(),
                });
            }
        }
        for ((resource_type, resource_name), settings) in &self.configs {
            for (name, value) in settings {
                records.push(MetadataRecord::Config {
                    resource_type: *resource_type,
                    resource_name: resource_name.clone(),
                    name: name.clone(),
                    value: Some(value.clone()),
                });
            }
        }
        if self.next_producer_id > 0 {
            records.push(MetadataRecord::ProducerIds {
                broker_id: -1,
                broker_epoch: -1,
                next_producer_id: self.next_producer_id,
            });
        }
        records
    }

    /// Settings of a topic (empty if none are set).
    pub fn topic_configs(&self, name: &str) -> Option<&BTreeMap<String, String>> {
        self.configs.get(&(CONFIG_TOPIC, name.to_string()))
    }

    /// Dynamic settings of one broker (`Some(id)`) or the cluster default (`None`).
    pub fn broker_configs(&self, broker: Option<i32>) -> Option<&BTreeMap<String, String>> {
        let name = broker.map(|id| id.to_string()).unwrap_or_default();
        self.configs.get(&(CONFIG_BROKER, name))
    }
}
