//! The records of the metadata log, shaped like KRaft's
//! (`metadata/src/main/resources/common/metadata/*.json` in Apache Kafka):
//! the same names, keys and meanings, with the fields Odradek acts on.
//!
//! Encoding: `u16 key, i16 version (0), fields` with Kafka's primitive
//! types (int32-counted arrays, int16-length strings). Decoding is bounded
//! like every other decode path: counts are checked against the bytes left.

use crate::protocol::wire::{self, DecodeError, Uuid};
use bytes::{BufMut, Bytes, BytesMut};

/// One listener of a registered broker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    pub name: String,
    pub host: String,
    pub port: u16,
    /// Kafka's SecurityProtocol id: 0 PLAINTEXT, 1 SSL, 2 SASL_PLAINTEXT, 3 SASL_SSL.
    pub security_protocol: i16,
}

/// `ConfigResource` types, as Kafka numbers them.
pub const CONFIG_TOPIC: i8 = 2;
pub const CONFIG_BROKER: i8 = 4;

/// A registration's epoch, to be taken from the offset it is applied at.
pub const EPOCH_FROM_OFFSET: i64 = -1;

/// `PartitionChangeRecord.Leader`: no leader, and leader unchanged.
pub const NO_LEADER: i32 = -1;
pub const NO_LEADER_CHANGE: i32 = -2;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MetadataRecord {
    /// Key 0. The broker's epoch is the log offset of this record: written
    /// as [`EPOCH_FROM_OFFSET`] by the controller (which cannot know the
    /// offset before the quorum assigns it) and taken from the offset as the
    /// record is applied.
    RegisterBroker {
        broker_id: i32,
        incarnation_id: Uuid,
        broker_epoch: i64,
        endpoints: Vec<Endpoint>,
        rack: Option<String>,
        fenced: bool,
        in_controlled_shutdown: bool,
    },
    /// Key 1.
    UnregisterBroker { broker_id: i32, broker_epoch: i64 },
    /// Key 2.
    Topic { name: String, topic_id: Uuid },
    /// Key 3: a new partition, complete.
    Partition {
        partition_id: i32,
        topic_id: Uuid,
        replicas: Vec<i32>,
        isr: Vec<i32>,
        leader: i32,
        leader_epoch: i32,
        partition_epoch: i32,
        /// A reassignment in flight: the replicas joining and leaving
        /// (both empty when none; version 1).
        adding: Vec<i32>,
        removing: Vec<i32>,
    },
    /// Key 4. `value: None` removes the setting. An empty `resource_name`
    /// with [`CONFIG_BROKER`] is the cluster-wide default.
    Config {
        resource_type: i8,
        resource_name: String,
        name: String,
        value: Option<String>,
    },
    /// Key 5: the fields that change; a leader change bumps the leader epoch.
    PartitionChange {
        partition_id: i32,
        topic_id: Uuid,
        isr: Option<Vec<i32>>,
        /// [`NO_LEADER_CHANGE`], [`NO_LEADER`] or a broker id.
        leader: i32,
        replicas: Option<Vec<i32>>,
        /// The reassignment's joining and leaving replicas; `Some(vec![])`
        /// ends it (version 1).
        adding: Option<Vec<i32>>,
        removing: Option<Vec<i32>>,
    },
    /// Key 9.
    RemoveTopic { topic_id: Uuid },
    /// Key 15: the controller gave `broker_id` the ids up to `next_producer_id`.
    ProducerIds {
        broker_id: i32,
        broker_epoch: i64,
        next_producer_id: i64,
    },
    /// Key 17: `fenced` and `in_controlled_shutdown` are `None` when unchanged.
    BrokerRegistrationChange {
        broker_id: i32,
        broker_epoch: i64,
        fenced: Option<bool>,
        in_controlled_shutdown: Option<bool>,
    },
    /// Key 20: written by a new controller leader to commit its term.
    NoOp,
    /// Odradek's own (key 1000): the first record of a quorum's log. The
    /// cluster id is minted once, by the first leader, never by each node.
    ClusterIdentity { cluster_id: String },
}

/// The version every record is written at, but for those with a newer one.
const VERSION: i16 = 0;
/// Partition and PartitionChange: version 1 added the reassignment's
/// adding and removing replicas.
const PARTITION_VERSION: i16 = 1;

/// Why bytes from the metadata log are not a record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecordError {
    Decode(DecodeError),
    UnknownKey(u16),
    UnsupportedVersion { key: u16, version: i16 },
    TrailingBytes(usize),
}

impl From<DecodeError> for RecordError {
    fn from(e: DecodeError) -> Self {
        RecordError::Decode(e)
    }
}

impl std::fmt::Display for RecordError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RecordError::Decode(e) => write!(f, "metadata record: {e}"),
            RecordError::UnknownKey(key) => write!(f, "metadata record: unknown key {key}"),
            RecordError::UnsupportedVersion { key, version } => {
                write!(
                    f,
                    "metadata record {key}: version {version} is not supported"
                )
            }
            RecordError::TrailingBytes(n) => write!(f, "metadata record: {n} bytes past its end"),
        }
    }
}

impl std::error::Error for RecordError {}

fn put_ids(buf: &mut BytesMut, ids: &[i32]) {
    buf.put_i32(ids.len() as i32);
    ids.iter().for_each(|id| buf.put_i32(*id));
}

fn put_opt_ids(buf: &mut BytesMut, ids: Option<&[i32]>) {
    match ids {
        None => buf.put_i32(-1),
        Some(ids) => put_ids(buf, ids),
    }
}

fn put_str(buf: &mut BytesMut, s: Option<&str>) {
    match s {
        None => buf.put_i16(-1),
        Some(s) => {
            // Names and hosts are short; longer text is cut at a char boundary.
            let mut end = s.len().min(i16::MAX as usize);
            while !s.is_char_boundary(end) {
                end -= 1;
            }
            buf.put_i16(end as i16);
            buf.put_slice(&s.as_bytes()[..end]);
        }
    }
}

fn put_tristate(buf: &mut BytesMut, value: Option<bool>) {
    buf.put_i8(match value {
        None => 0,
        Some(true) => 1,
        Some(false) => -1,
    });
}

fn read_ids(buf: &mut Bytes) -> Result<Vec<i32>, DecodeError> {
    wire::required(wire::read_array(buf, false, wire::read_i32)?, "ids")
}

fn read_opt_ids(buf: &mut Bytes) -> Result<Option<Vec<i32>>, DecodeError> {
    wire::read_array(buf, false, wire::read_i32)
}

fn read_str(buf: &mut Bytes, field: &'static str) -> Result<String, DecodeError> {
    wire::required(wire::read_string(buf, false)?, field)
}

fn read_tristate(buf: &mut Bytes) -> Result<Option<bool>, DecodeError> {
    Ok(match wire::read_i8(buf)? {
        0 => None,
        n => Some(n > 0),
    })
}

impl MetadataRecord {
    pub fn key(&self) -> u16 {
        match self {
            MetadataRecord::RegisterBroker { .. } => 0,
            MetadataRecord::UnregisterBroker { .. } => 1,
            MetadataRecord::Topic { .. } => 2,
            MetadataRecord::Partition { .. } => 3,
            MetadataRecord::Config { .. } => 4,
            MetadataRecord::PartitionChange { .. } => 5,
            MetadataRecord::RemoveTopic { .. } => 9,
            MetadataRecord::ProducerIds { .. } => 15,
            MetadataRecord::BrokerRegistrationChange { .. } => 17,
            MetadataRecord::NoOp => 20,
            MetadataRecord::ClusterIdentity { .. } => 1000,
        }
    }

    /// The version this record is written at.
    fn version(&self) -> i16 {
        match self {
            MetadataRecord::Partition { .. } | MetadataRecord::PartitionChange { .. } => {
                PARTITION_VERSION
            }
            _ => VERSION,
        }
    }

    pub fn encode(&self, buf: &mut BytesMut) {
        buf.put_u16(self.key());
        buf.put_i16(self.version());
        match self {
            MetadataRecord::RegisterBroker {
                broker_id,
                incarnation_id,
                broker_epoch,
                endpoints,
                rack,
                fenced,
                in_controlled_shutdown,
            } => {
                buf.put_i32(*broker_id);
                buf.put_slice(&incarnation_id.0);
                buf.put_i64(*broker_epoch);
                buf.put_i32(endpoints.len() as i32);
                for e in endpoints {
                    put_str(buf, Some(&e.name));
                    put_str(buf, Some(&e.host));
                    buf.put_u16(e.port);
                    buf.put_i16(e.security_protocol);
                }
                put_str(buf, rack.as_deref());
                buf.put_u8(u8::from(*fenced));
                buf.put_u8(u8::from(*in_controlled_shutdown));
            }
            MetadataRecord::UnregisterBroker {
                broker_id,
                broker_epoch,
            } => {
                buf.put_i32(*broker_id);
                buf.put_i64(*broker_epoch);
            }
            MetadataRecord::Topic { name, topic_id } => {
                put_str(buf, Some(name));
                buf.put_slice(&topic_id.0);
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
                buf.put_i32(*partition_id);
                buf.put_slice(&topic_id.0);
                put_ids(buf, replicas);
                put_ids(buf, isr);
                buf.put_i32(*leader);
                buf.put_i32(*leader_epoch);
                buf.put_i32(*partition_epoch);
                put_ids(buf, adding);
                put_ids(buf, removing);
            }
            MetadataRecord::Config {
                resource_type,
                resource_name,
                name,
                value,
            } => {
                buf.put_i8(*resource_type);
                put_str(buf, Some(resource_name));
                put_str(buf, Some(name));
                put_str(buf, value.as_deref());
            }
            MetadataRecord::PartitionChange {
                partition_id,
                topic_id,
                isr,
                leader,
                replicas,
                adding,
                removing,
            } => {
                buf.put_i32(*partition_id);
                buf.put_slice(&topic_id.0);
                put_opt_ids(buf, isr.as_deref());
                buf.put_i32(*leader);
                put_opt_ids(buf, replicas.as_deref());
                put_opt_ids(buf, adding.as_deref());
                put_opt_ids(buf, removing.as_deref());
            }
            MetadataRecord::RemoveTopic { topic_id } => buf.put_slice(&topic_id.0),
            MetadataRecord::ProducerIds {
                broker_id,
                broker_epoch,
                next_producer_id,
            } => {
                buf.put_i32(*broker_id);
                buf.put_i64(*broker_epoch);
                buf.put_i64(*next_producer_id);
            }
            MetadataRecord::BrokerRegistrationChange {
                broker_id,
                broker_epoch,
                fenced,
                in_controlled_shutdown,
            } => {
                buf.put_i32(*broker_id);
                buf.put_i64(*broker_epoch);
                put_tristate(buf, *fenced);
                put_tristate(buf, *in_controlled_shutdown);
            }
            MetadataRecord::NoOp => {}
            MetadataRecord::ClusterIdentity { cluster_id } => put_str(buf, Some(cluster_id)),
        }
    }

    pub fn to_bytes(&self) -> Bytes {
        let mut buf = BytesMut::with_capacity(64);
        self.encode(&mut buf);
        buf.freeze()
    }

    /// Decodes one whole record; trailing bytes are an error.
    pub fn decode(mut buf: Bytes) -> Result<MetadataRecord, RecordError> {
        let key = wire::read_u16(&mut buf)?;
        let version = wire::read_i16(&mut buf)?;
        let newest = if matches!(key, 3 | 5) {
            PARTITION_VERSION
        } else {
            VERSION
        };
        if !(0..=newest).contains(&version) {
            return Err(RecordError::UnsupportedVersion { key, version });
        }
        let b = &mut buf;
        let record = match key {
            0 => MetadataRecord::RegisterBroker {
                broker_id: wire::read_i32(b)?,
                incarnation_id: wire::read_uuid(b)?,
                broker_epoch: wire::read_i64(b)?,
                endpoints: wire::required(
                    wire::read_array(b, false, |b| {
                        Ok(Endpoint {
                            name: read_str(b, "endpoint name")?,
                            host: read_str(b, "endpoint host")?,
                            port: wire::read_u16(b)?,
                            security_protocol: wire::read_i16(b)?,
                        })
                    })?,
                    "endpoints",
                )?,
                rack: wire::read_string(b, false)?,
                fenced: wire::read_bool(b)?,
                in_controlled_shutdown: wire::read_bool(b)?,
            },
            1 => MetadataRecord::UnregisterBroker {
                broker_id: wire::read_i32(b)?,
                broker_epoch: wire::read_i64(b)?,
            },
            2 => MetadataRecord::Topic {
                name: read_str(b, "topic name")?,
                topic_id: wire::read_uuid(b)?,
            },
            3 => MetadataRecord::Partition {
                partition_id: wire::read_i32(b)?,
                topic_id: wire::read_uuid(b)?,
                replicas: read_ids(b)?,
                isr: read_ids(b)?,
                leader: wire::read_i32(b)?,
                leader_epoch: wire::read_i32(b)?,
                partition_epoch: wire::read_i32(b)?,
                adding: if version >= 1 {
                    read_ids(b)?
                } else {
                    Vec::new()
                },
                removing: if version >= 1 {
                    read_ids(b)?
                } else {
                    Vec::new()
                },
            },
            4 => MetadataRecord::Config {
                resource_type: wire::read_i8(b)?,
                resource_name: read_str(b, "resource name")?,
                name: read_str(b, "config name")?,
                value: wire::read_string(b, false)?,
            },
            5 => MetadataRecord::PartitionChange {
                partition_id: wire::read_i32(b)?,
                topic_id: wire::read_uuid(b)?,
                isr: read_opt_ids(b)?,
                leader: wire::read_i32(b)?,
                replicas: read_opt_ids(b)?,
                adding: if version >= 1 { read_opt_ids(b)? } else { None },
                removing: if version >= 1 { read_opt_ids(b)? } else { None },
            },
            9 => MetadataRecord::RemoveTopic {
                topic_id: wire::read_uuid(b)?,
            },
            15 => MetadataRecord::ProducerIds {
                broker_id: wire::read_i32(b)?,
                broker_epoch: wire::read_i64(b)?,
                next_producer_id: wire::read_i64(b)?,
            },
            17 => MetadataRecord::BrokerRegistrationChange {
                broker_id: wire::read_i32(b)?,
                broker_epoch: wire::read_i64(b)?,
                fenced: read_tristate(b)?,
                in_controlled_shutdown: read_tristate(b)?,
            },
            20 => MetadataRecord::NoOp,
            1000 => MetadataRecord::ClusterIdentity {
                cluster_id: read_str(b, "cluster id")?,
            },
            other => return Err(RecordError::UnknownKey(other)),
        };
        if !buf.is_empty() {
            return Err(RecordError::TrailingBytes(buf.len()));
        }
        Ok(record)
    }
}
