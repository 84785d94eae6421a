//! The group coordinator's durable state: records in the internal topic
//! `__consumer_offsets`, one partition per group (Java `String.hashCode` of
//! the group id, as Kafka partitions it, modulo the partition count).
//!
//! The layout is Odradek's own, versioned like Kafka's. All integers are
//! big-endian; a string is an `i16` length and UTF-8 bytes (length -1 for
//! null); bytes are an `i32` length and the bytes.
//!
//! ```text
//! key   := i16 key_version, then
//!          key_version 1 (offset commit):  group string, topic string, partition i32
//!          key_version 2 (group metadata): group string
//! offset value (value_version 1):
//!          i16 1, offset i64, leader_epoch i32, metadata nullable string,
//!          commit_timestamp i64, expire_timestamp i64 (-1: none)
//! group value (value_version 1):
//!          i16 1, protocol_type string, generation i32,
//!          protocol nullable string, leader nullable string,
//!          state_timestamp i64, member count i32, then per member:
//!            member_id string, group_instance_id nullable string,
//!            client_id string, client_host string,
//!            rebalance_timeout i32, session_timeout i32,
//!            subscription bytes (the selected protocol's metadata),
//!            assignment bytes
//!          key_version 3 (KIP-848 consumer group): group string
//! consumer group value (value_version 1):
//!          i16 1, group_epoch i32, member count i32, then per member:
//!            member_id string, instance_id nullable string,
//!            rack_id nullable string, client_id string, client_host string,
//!            rebalance_timeout i32, topic name count i32 and strings,
//!            regex nullable string, server_assignor nullable string,
//!            member_epoch i32, previous_epoch i32, state i8,
//!            assigned partitions, partitions pending revocation
//!          partitions := topic count i32, per topic: id (16 bytes),
//!            partition count i32, partitions i32
//! ```
//!
//! A consumer group's value is a snapshot of its epoch, members,
//! subscriptions and current assignments, written whenever one changes;
//! the target assignment is recomputed after a restart.
//!
//! A null value (tombstone) deletes the key: an offset (OffsetDelete,
//! DeleteGroups, retention) or a whole group's metadata. Replaying the log
//! from its start to the high watermark rebuilds the coordinator's state.
//! The topic is created `cleanup.policy=compact` with no time or size
//! retention; the log cleaner keeps the latest record per key (replay
//! tolerates the offset gaps it leaves).
//!
//! TxnOffsetCommit writes its offsets in a transactional batch of the
//! producer; they count only once a commit marker for that producer follows
//! in the same partition, and are dropped by an abort marker.

use super::assignor::Partitions;
use crate::log::partition::AppendError;
use crate::log::txn_verification::TxnGuard;
use crate::log::{LogManager, PendingAppend, WaitError};
use crate::protocol::error_code::ErrorCode;
use crate::protocol::records::builder::NO_SEQUENCE;
use crate::protocol::records::control::EndTxnMarker;
use crate::protocol::records::{BatchBuilder, NewRecord};
use crate::protocol::wire::Uuid;
use bytes::{Buf, BufMut, Bytes, BytesMut};
use std::collections::BTreeMap;
use std::io;

pub const OFFSETS_TOPIC: &str = "__consumer_offsets";

const OFFSET_KEY: i16 = 1;
const GROUP_KEY: i16 = 2;
const CONSUMER_KEY: i16 = 3;
const VALUE_VERSION: i16 = 1;

/// A committed offset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OffsetValue {
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: Option<String>,
    pub commit_timestamp: i64,
    pub expire_timestamp: i64,
}

/// A member as stored with its group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredMember {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub rebalance_timeout: i32,
    pub session_timeout: i32,
    pub subscription: Bytes,
    pub assignment: Bytes,
}

/// A group's metadata as stored after each completed rebalance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupValue {
    pub protocol_type: String,
    pub generation: i32,
    pub protocol: Option<String>,
    pub leader: Option<String>,
    pub state_timestamp: i64,
    pub members: Vec<StoredMember>,
}

/// A KIP-848 member as stored with its group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredConsumerMember {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub rebalance_timeout: i32,
    pub topic_names: Vec<String>,
    pub regex: Option<String>,
    pub server_assignor: Option<String>,
    pub epoch: i32,
    pub previous_epoch: i32,
    pub state: i8,
    pub assigned: Partitions,
    pub revoking: Partitions,
}

/// A KIP-848 consumer group as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsumerGroupValue {
    pub epoch: i32,
    pub members: Vec<StoredConsumerMember>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Key {
    Offset {
        group: String,
        topic: String,
        partition: i32,
    },
    Group {
        group: String,
    },
    Consumer {
        group: String,
    },
}

impl Key {
    pub fn group(&self) -> &str {
        match self {
            Key::Offset { group, .. } | Key::Group { group } | Key::Consumer { group } => group,
        }
    }
}

/// One record to write: a key and its value, or `None` for a tombstone.
#[derive(Clone, Debug)]
pub enum Entry {
    Offset {
        topic: String,
        partition: i32,
        value: Option<OffsetValue>,
    },
    Group(Option<GroupValue>),
    Consumer(Option<ConsumerGroupValue>),
}

fn put_str(buf: &mut BytesMut, s: &str) {
    let bytes = &s.as_bytes()[..s.len().min(i16::MAX as usize)];
    buf.put_i16(bytes.len() as i16);
    buf.put_slice(bytes);
}

fn put_opt_str(buf: &mut BytesMut, s: Option<&str>) {
    match s {
        Some(s) => put_str(buf, s),
        None => buf.put_i16(-1),
    }
}

fn put_bytes(buf: &mut BytesMut, b: &[u8]) {
    buf.put_i32(i32::try_from(b.len()).unwrap_or(i32::MAX));
    buf.put_slice(b);
}

fn short() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        "truncated __consumer_offsets record",
    )
}

fn get_i16(buf: &mut Bytes) -> io::Result<i16> {
    if buf.remaining() < 2 {
        return Err(short());
    }
    Ok(buf.get_i16())
}

fn get_i32(buf: &mut Bytes) -> io::Result<i32> {
    if buf.remaining() < 4 {
        return Err(short());
    }
    Ok(buf.get_i32())
}

fn get_i64(buf: &mut Bytes) -> io::Result<i64> {
    if buf.remaining() < 8 {
        return Err(short());
    }
    Ok(buf.get_i64())
}

fn get_opt_str(buf: &mut Bytes) -> io::Result<Option<String>> {
    let len = get_i16(buf)?;
    if len < 0 {
        return Ok(None);
    }
    let len = len as usize;
    if buf.remaining() < len {
        return Err(short());
    }
    let raw = buf.split_to(len);
    String::from_utf8(raw.to_vec())
        .map(Some)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "invalid UTF-8"))
}

fn get_str(buf: &mut Bytes) -> io::Result<String> {
    get_opt_str(buf)?.ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "null string"))
}

fn get_bytes(buf: &mut Bytes) -> io::Result<Bytes> {
    let len = usize::try_from(get_i32(buf)?).map_err(|_| short())?;
    if buf.remaining() < len {
        return Err(short());
    }
    Ok(buf.split_to(len))
}

pub fn encode_key(key: &Key) -> Bytes {
    let mut buf = BytesMut::new();
    match key {
        Key::Offset {
            group,
            topic,
            partition,
        } => {
            buf.put_i16(OFFSET_KEY);
            put_str(&mut buf, group);
            put_str(&mut buf, topic);
            buf.put_i32(*partition);
        }
        Key::Group { group } => {
            buf.put_i16(GROUP_KEY);
            put_str(&mut buf, group);
        }
        Key::Consumer { group } => {
            buf.put_i16(CONSUMER_KEY);
            put_str(&mut buf, group);
        }
    }
    buf.freeze()
}

pub fn decode_key(mut buf: Bytes) -> io::Result<Key> {
    match get_i16(&mut buf)? {
        OFFSET_KEY => Ok(Key::Offset {
            group: get_str(&mut buf)?,
            topic: get_str(&mut buf)?,
            partition: get_i32(&mut buf)?,
        }),
        GROUP_KEY => Ok(Key::Group {
            group: get_str(&mut buf)?,
        }),
        CONSUMER_KEY => Ok(Key::Consumer {
            group: get_str(&mut buf)?,
        }),
        other => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("unknown key version {other}"),
        )),
    }
}

pub fn encode_offset(value: &OffsetValue) -> Bytes {
    let mut buf = BytesMut::new();
    buf.put_i16(VALUE_VERSION);
    buf.put_i64(value.offset);
    buf.put_i32(value.leader_epoch);
    put_opt_str(&mut buf, value.metadata.as_deref());
    buf.put_i64(value.commit_timestamp);
    buf.put_i64(value.expire_timestamp);
    buf.freeze()
}

pub fn decode_offset(mut buf: Bytes) -> io::Result<OffsetValue> {
    let version = get_i16(&mut buf)?;
    if version != VALUE_VERSION {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("unknown offset value version {version}"),
        ));
    }
    Ok(OffsetValue {
        offset: get_i64(&mut buf)?,
        leader_epoch: get_i32(&mut buf)?,
        metadata: get_opt_str(&mut buf)?,
        commit_timestamp: get_i64(&mut buf)?,
        expire_timestamp: get_i64(&mut buf)?,
    })
}

pub fn encode_group(value: &GroupValue) -> Bytes {
    let mut buf = BytesMut::new();
    buf.put_i16(VALUE_VERSION);
    put_str(&mut buf, &value.protocol_type);
    buf.put_i32(value.generation);
    put_opt_str(&mut buf, value.protocol.as_deref());
    put_opt_str(&mut buf, value.leader.as_deref());
    buf.put_i64(value.state_timestamp);
    buf.put_i32(i32::try_from(value.members.len()).unwrap_or(i32::MAX));
    for m in &value.members {
        put_str(&mut buf, &m.member_id);
        put_opt_str(&mut buf, m.group_instance_id.as_deref());
        put_str(&mut buf, &m.client_id);
        put_str(&mut buf, &m.client_host);
        buf.put_i32(m.rebalance_timeout);
        buf.put_i32(m.session_timeout);
        put_bytes(&mut buf, &m.subscription);
        put_bytes(&mut buf, &m.assignment);
    }
    buf.freeze()
}

pub fn decode_group(mut buf: Bytes) -> io::Result<GroupValue> {
    let version = get_i16(&mut buf)?;
    if version != VALUE_VERSION {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("unknown group value version {version}"),
        ));
    }
    let protocol_type = get_str(&mut buf)?;
    let generation = get_i32(&mut buf)?;
    let protocol = get_opt_str(&mut buf)?;
    let leader = get_opt_str(&mut buf)?;
    let state_timestamp = get_i64(&mut buf)?;
    let count = get_i32(&mut buf)?;
    let mut members = Vec::new();
    for _ in 0..count.max(0) {
        members.push(StoredMember {
            member_id: get_str(&mut buf)?,
            group_instance_id: get_opt_str(&mut buf)?,
            client_id: get_str(&mut buf)?,
            client_host: get_str(&mut buf)?,
            rebalance_timeout: get_i32(&mut buf)?,
            session_timeout: get_i32(&mut buf)?,
            subscription: get_bytes(&mut buf)?,
            assignment: get_bytes(&mut buf)?,
        });
    }
    Ok(GroupValue {
        protocol_type,
        generation,
        protocol,
        leader,
        state_timestamp,
        members,
    })
}

fn put_partitions(buf: &mut BytesMut, partitions: &Partitions) {
    buf.put_i32(i32::try_from(partitions.len()).unwrap_or(i32::MAX));
    for (topic, ps) in partitions {
        buf.put_slice(&topic.0);
        buf.put_i32(i32::try_from(ps.len()).unwrap_or(i32::MAX));
        for p in ps {
            buf.put_i32(*p);
        }
    }
}

fn get_partitions(buf: &mut Bytes) -> io::Result<Partitions> {
    let mut partitions = Partitions::new();
    for _ in 0..get_i32(buf)?.max(0) {
        if buf.remaining() < 16 {
            return Err(short());
        }
        let mut id = [0u8; 16];
        buf.copy_to_slice(&mut id);
        let entry = partitions.entry(Uuid(id)).or_default();
        for _ in 0..get_i32(buf)?.max(0) {
            entry.insert(get_i32(buf)?);
        }
    }
    Ok(partitions)
}

pub fn encode_consumer_group(value: &ConsumerGroupValue) -> Bytes {
    let mut buf = BytesMut::new();
    buf.put_i16(VALUE_VERSION);
    buf.put_i32(value.epoch);
    buf.put_i32(i32::try_from(value.members.len()).unwrap_or(i32::MAX));
    for m in &value.members {
        put_str(&mut buf, &m.member_id);
        put_opt_str(&mut buf, m.instance_id.as_deref());
        put_opt_str(&mut buf, m.rack_id.as_deref());
        put_str(&mut buf, &m.client_id);
        put_str(&mut buf, &m.client_host);
        buf.put_i32(m.rebalance_timeout);
        buf.put_i32(i32::try_from(m.topic_names.len()).unwrap_or(i32::MAX));
        for name in &m.topic_names {
            put_str(&mut buf, name);
        }
        put_opt_str(&mut buf, m.regex.as_deref());
        put_opt_str(&mut buf, m.server_assignor.as_deref());
        buf.put_i32(m.epoch);
        buf.put_i32(m.previous_epoch);
        buf.put_i8(m.state);
        put_partitions(&mut buf, &m.assigned);
        put_partitions(&mut buf, &m.revoking);
    }
    buf.freeze()
}

/// Every count is bounded by the bytes left: a short record fails at once.
pub fn decode_consumer_group(mut buf: Bytes) -> io::Result<ConsumerGroupValue> {
    let version = get_i16(&mut buf)?;
    if version != VALUE_VERSION {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("unknown consumer group value version {version}"),
        ));
    }
    let epoch = get_i32(&mut buf)?;
    let mut members = Vec::new();
    for _ in 0..get_i32(&mut buf)?.max(0) {
        let member_id = get_str(&mut buf)?;
        let instance_id = get_opt_str(&mut buf)?;
        let rack_id = get_opt_str(&mut buf)?;
        let client_id = get_str(&mut buf)?;
        let client_host = get_str(&mut buf)?;
        let rebalance_timeout = get_i32(&mut buf)?;
        let mut topic_names = Vec::new();
        for _ in 0..get_i32(&mut buf)?.max(0) {
            topic_names.push(get_str(&mut buf)?);
        }
        let regex = get_opt_str(&mut buf)?;
        let server_assignor = get_opt_str(&mut buf)?;
        let member_epoch = get_i32(&mut buf)?;
        let previous_epoch = get_i32(&mut buf)?;
        if buf.remaining() < 1 {
            return Err(short());
        }
        let state = buf.get_i8();
        members.push(StoredConsumerMember {
            member_id,
            instance_id,
            rack_id,
            client_id,
            client_host,
            rebalance_timeout,
            topic_names,
            regex,
            server_assignor,
            epoch: member_epoch,
            previous_epoch,
            state,
            assigned: get_partitions(&mut buf)?,
            revoking: get_partitions(&mut buf)?,
        });
    }
    Ok(ConsumerGroupValue { epoch, members })
}

/// Java's `String.hashCode`, so groups land where Kafka would put them.
pub fn java_hash(s: &str) -> i32 {
    s.encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)))
}

pub fn partition_for(group: &str, partitions: i32) -> i32 {
    // Kafka's Utils.abs: i32::MIN maps to 0.
    let hash = java_hash(group);
    let abs = if hash == i32::MIN { 0 } else { hash.abs() };
    abs % partitions.max(1)
}

/// The `__consumer_offsets` partition holding `group`, if the topic exists.
pub fn partition_of(log: &LogManager, group: &str) -> Option<i32> {
    let topic = log.topic(OFFSETS_TOPIC)?;
    Some(partition_for(
        group,
        i32::try_from(topic.partitions.len()).ok()?,
    ))
}

/// Creates `__consumer_offsets` if it does not exist yet.
pub fn ensure_topic(log: &LogManager, partitions: i32) -> io::Result<()> {
    log.ensure_internal_topic(OFFSETS_TOPIC, partitions)
}

/// Kafka's answer to a coordinator write that was not committed: with too
/// few replicas, or too slow, the coordinator is unavailable for now
/// (clients retry); with its disk failed, or its partition's leadership
/// gone, it no longer coordinates (clients look for the new one).
pub fn unwritten(error: &WaitError) -> ErrorCode {
    match error {
        WaitError::NotReplicated { .. } | WaitError::Closed => ErrorCode::CoordinatorNotAvailable,
        WaitError::Fsync(_) | WaitError::Deposed => ErrorCode::NotCoordinator,
    }
}

/// Appends `entries` of `group` as one batch to the group's partition. The
/// append is in the log when this returns; wait on the result for durability.
pub fn append(
    log: &LogManager,
    partitions: i32,
    group: &str,
    entries: &[Entry],
    now: i64,
) -> io::Result<PendingAppend> {
    append_batch(log, partitions, group, entries, None, now).map_err(|e| match e {
        AppendError::Io(e) => e,
        e => io::Error::other(e.to_string()),
    })
}

/// As [`append`], inside the transaction of `producer` (id, epoch), with
/// the KIP-890 `guard` of its verification.
pub fn append_transactional(
    log: &LogManager,
    partitions: i32,
    group: &str,
    entries: &[Entry],
    producer: (i64, i16),
    guard: Option<TxnGuard>,
    now: i64,
) -> Result<PendingAppend, AppendError> {
    append_batch(
        log,
        partitions,
        group,
        entries,
        Some((producer, guard)),
        now,
    )
}

fn append_batch(
    log: &LogManager,
    partitions: i32,
    group: &str,
    entries: &[Entry],
    producer: Option<((i64, i16), Option<TxnGuard>)>,
    now: i64,
) -> Result<PendingAppend, AppendError> {
    ensure_topic(log, partitions).map_err(AppendError::Io)?;
    let topic = log
        .topic(OFFSETS_TOPIC)
        .ok_or_else(|| AppendError::Io(io::Error::other("offsets topic vanished")))?;
    let count = i32::try_from(topic.partitions.len()).unwrap_or(1);
    let partition = usize::try_from(partition_for(group, count)).unwrap_or(0);
    let partition = topic
        .partitions
        .get(partition)
        .ok_or_else(|| AppendError::Io(io::Error::other("no offsets partition")))?;
    let mut builder = match producer {
        Some(((producer_id, epoch), _)) => BatchBuilder::new(0)
            .producer(producer_id, epoch, NO_SEQUENCE)
            .transactional(true),
        None => BatchBuilder::new(0),
    };
    for entry in entries {
        let (key, value) = match entry {
            Entry::Offset {
                topic,
                partition,
                value,
            } => (
                Key::Offset {
                    group: group.to_string(),
                    topic: topic.clone(),
                    partition: *partition,
                },
                value.as_ref().map(encode_offset),
            ),
            Entry::Group(value) => (
                Key::Group {
                    group: group.to_string(),
                },
                value.as_ref().map(encode_group),
            ),
            Entry::Consumer(value) => (
                Key::Consumer {
                    group: group.to_string(),
                },
                value.as_ref().map(encode_consumer_group),
            ),
        };
        builder.push(NewRecord::new(now, Some(encode_key(&key)), value));
    }
    let batch = builder
        .build()
        .map_err(|e| AppendError::Io(io::Error::other(e.to_string())))?;
    let guard = producer.and_then(|(_, guard)| guard);
    log.append_verified(partition, &batch, guard)
        .map(|pending| pending.until_committed(partition, crate::log::COMMIT_TIMEOUT))
}

/// One replayed record: its key and value (None: tombstone).
#[derive(Clone, Debug)]
pub struct Replayed {
    /// The record's offset in its `__consumer_offsets` partition.
    pub offset: i64,
    pub key: Key,
    pub value: Option<Bytes>,
}

/// Records of a transaction not yet committed or aborted when replay ended.
#[derive(Clone, Debug)]
pub struct OpenTxnRecords {
    pub producer_id: i64,
    pub partition: i32,
    pub records: Vec<Replayed>,
}

/// Reads every partition of `__consumer_offsets` (or only partition `only`)
/// from log start to log end, in order, skipping records it cannot parse. Records of a
/// transaction are visited when its commit marker is met (so by record
/// offset they may arrive out of order); those of a transaction still open
/// are returned.
pub fn replay(
    log: &LogManager,
    only: Option<i32>,
    mut visit: impl FnMut(Replayed),
) -> io::Result<Vec<OpenTxnRecords>> {
    let mut open_txns = Vec::new();
    let Some(topic) = log.topic(OFFSETS_TOPIC) else {
        return Ok(open_txns);
    };
    for partition in &topic.partitions {
        if only.is_some_and(|i| i != partition.index) {
            continue;
        }
        let mut in_txn: BTreeMap<i64, Vec<Replayed>> = BTreeMap::new();
        crate::log::scan::partition_batches(partition, |batch| {
            if batch.is_control() {
                let marker = batch
                    .records()
                    .next()
                    .and_then(|r| r.ok())
                    .and_then(|r| EndTxnMarker::parse(&r).ok());
                let records = in_txn.remove(&batch.producer_id()).unwrap_or_default();
                if marker.is_some_and(|m| m.commit) {
                    records.into_iter().for_each(&mut visit);
                }
                return;
            }
            for record in batch.records() {
                let Ok(record) = record else { break };
                let Some(key) = record.key else { continue };
                match decode_key(key) {
                    Ok(key) => {
                        let replayed = Replayed {
                            offset: record.offset,
                            key,
                            value: record.value,
                        };
                        if batch.is_transactional() {
                            in_txn
                                .entry(batch.producer_id())
                                .or_default()
                                .push(replayed);
                        } else {
                            visit(replayed);
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "skipping unreadable __consumer_offsets key")
                    }
                }
            }
        })?;
        open_txns.extend(
            in_txn
                .into_iter()
                .map(|(producer_id, records)| OpenTxnRecords {
                    producer_id,
                    partition: partition.index,
                    records,
                }),
        );
    }
    Ok(open_txns)
}
