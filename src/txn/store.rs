//! The transaction coordinator's durable state: one record per state change
//! in the internal topic `__transaction_state`, keyed by transactional id and
//! partitioned as Kafka does (Java `String.hashCode`, modulo the partition
//! count). The layout is Kafka's (TransactionLogKey v0, TransactionLogValue
//! v0), so Kafka's tools could read it:
//!
//! ```text
//! key   := i16 0, transactional_id string
//! value := i16 0, producer_id i64, producer_epoch i16, timeout_ms i32,
//!          status i8, partitions nullable array of (topic string, [i32]),
//!          last_update_ms i64, start_ms i64
//! ```
//!
//! Strings are an `i16` length then UTF-8; arrays an `i32` count (-1: null).
//! Replaying the log from its start rebuilds every transaction's last state.

use crate::group::store::partition_for;
use crate::log::{LogManager, PendingAppend};
use crate::protocol::records::{BatchBuilder, NewRecord};
use bytes::{Buf, BufMut, Bytes, BytesMut};
use std::collections::{BTreeMap, BTreeSet};
use std::io;

pub const TRANSACTION_TOPIC: &str = "__transaction_state";

const KEY_VERSION: i16 = 0;
const VALUE_VERSION: i16 = 0;

/// Kafka's TransactionState, with its on-disk ids.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TxnState {
    Empty,
    Ongoing,
    PrepareCommit,
    PrepareAbort,
    CompleteCommit,
    CompleteAbort,
    Dead,
    PrepareEpochFence,
}

impl TxnState {
    pub const ALL: [TxnState; 8] = [
        TxnState::Empty,
        TxnState::Ongoing,
        TxnState::PrepareCommit,
        TxnState::PrepareAbort,
        TxnState::CompleteCommit,
        TxnState::CompleteAbort,
        TxnState::Dead,
        TxnState::PrepareEpochFence,
    ];

    pub fn id(self) -> i8 {
        match self {
            TxnState::Empty => 0,
            TxnState::Ongoing => 1,
            TxnState::PrepareCommit => 2,
            TxnState::PrepareAbort => 3,
            TxnState::CompleteCommit => 4,
            TxnState::CompleteAbort => 5,
            TxnState::Dead => 6,
            TxnState::PrepareEpochFence => 7,
        }
    }

    pub fn from_id(id: i8) -> Option<TxnState> {
        TxnState::ALL.into_iter().find(|s| s.id() == id)
    }

    /// The names DescribeTransactions and ListTransactions use (Kafka's `stateName`).
    pub fn name(self) -> &'static str {
        match self {
            TxnState::Empty => "Empty",
            TxnState::Ongoing => "Ongoing",
            TxnState::PrepareCommit => "PrepareCommit",
            TxnState::PrepareAbort => "PrepareAbort",
            TxnState::CompleteCommit => "CompleteCommit",
            TxnState::CompleteAbort => "CompleteAbort",
            TxnState::Dead => "Dead",
            TxnState::PrepareEpochFence => "PrepareEpochFence",
        }
    }
}

/// One transactional id's state as written to the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxnValue {
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub timeout_ms: i32,
    pub state: TxnState,
    pub partitions: BTreeSet<(String, i32)>,
    pub last_update_ms: i64,
    pub start_ms: i64,
}

fn put_string(buf: &mut BytesMut, s: &str) -> io::Result<()> {
    let len =
        i16::try_from(s.len()).map_err(|_| io::Error::other("string longer than 32767 bytes"))?;
    buf.put_i16(len);
    buf.put_slice(s.as_bytes());
    Ok(())
}

fn short(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("truncated {what}"))
}

fn get_string(buf: &mut Bytes) -> io::Result<String> {
    if buf.remaining() < 2 {
        return Err(short("string length"));
    }
    let len = usize::try_from(buf.get_i16())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "null string"))?;
    if buf.remaining() < len {
        return Err(short("string"));
    }
    String::from_utf8(buf.split_to(len).to_vec())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

fn get_fixed<const N: usize>(buf: &mut Bytes, what: &str) -> io::Result<[u8; N]> {
    if buf.remaining() < N {
        return Err(short(what));
    }
    let mut out = [0u8; N];
    buf.copy_to_slice(&mut out);
    Ok(out)
}

pub fn encode_key(transactional_id: &str) -> io::Result<Bytes> {
    let mut buf = BytesMut::with_capacity(4 + transactional_id.len());
    buf.put_i16(KEY_VERSION);
    put_string(&mut buf, transactional_id)?;
    Ok(buf.freeze())
}

pub fn decode_key(mut buf: Bytes) -> io::Result<String> {
    let version = i16::from_be_bytes(get_fixed(&mut buf, "key version")?);
    if version != KEY_VERSION {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("unknown key version {version}"),
        ));
    }
    get_string(&mut buf)
}

pub fn encode_value(value: &TxnValue) -> io::Result<Bytes> {
    let mut buf = BytesMut::with_capacity(64);
    buf.put_i16(VALUE_VERSION);
    buf.put_i64(value.producer_id);
    buf.put_i16(value.producer_epoch);
    buf.put_i32(value.timeout_ms);
    buf.put_i8(value.state.id());
    let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for (topic, partition) in &value.partitions {
        by_topic.entry(topic).or_default().push(*partition);
    }
    buf.put_i32(i32::try_from(by_topic.len()).map_err(|_| io::Error::other("too many topics"))?);
    for (topic, partitions) in by_topic {
        put_string(&mut buf, topic)?;
        buf.put_i32(
            i32::try_from(partitions.len()).map_err(|_| io::Error::other("too many partitions"))?,
        );
        for p in partitions {
            buf.put_i32(p);
        }
    }
    buf.put_i64(value.last_update_ms);
    buf.put_i64(value.start_ms);
    Ok(buf.freeze())
}

pub fn decode_value(mut buf: Bytes) -> io::Result<TxnValue> {
    let invalid = |why: String| io::Error::new(io::ErrorKind::InvalidData, why);
    let version = i16::from_be_bytes(get_fixed(&mut buf, "value version")?);
    if version < 0 {
        return Err(invalid(format!("bad value version {version}")));
    }
    let producer_id = i64::from_be_bytes(get_fixed(&mut buf, "producer id")?);
    let producer_epoch = i16::from_be_bytes(get_fixed(&mut buf, "producer epoch")?);
    let timeout_ms = i32::from_be_bytes(get_fixed(&mut buf, "timeout")?);
    let [status] = get_fixed::<1>(&mut buf, "status")?;
    let state = TxnState::from_id(status as i8)
        .ok_or_else(|| invalid(format!("unknown transaction status {status}")))?;
    let topics = i32::from_be_bytes(get_fixed(&mut buf, "topic count")?);
    let mut partitions = BTreeSet::new();
    for _ in 0..topics.max(0) {
        let topic = get_string(&mut buf)?;
        let count = i32::from_be_bytes(get_fixed(&mut buf, "partition count")?);
        // Each partition takes 4 bytes: a count beyond what remains is a lie.
        if usize::try_from(count).unwrap_or(0) > buf.remaining() / 4 {
            return Err(short("partition list"));
        }
        for _ in 0..count.max(0) {
            partitions.insert((
                topic.clone(),
                i32::from_be_bytes(get_fixed(&mut buf, "partition")?),
            ));
        }
    }
    let last_update_ms = i64::from_be_bytes(get_fixed(&mut buf, "last update")?);
    let start_ms = i64::from_be_bytes(get_fixed(&mut buf, "start")?);
    Ok(TxnValue {
        producer_id,
        producer_epoch,
        timeout_ms,
        state,
        partitions,
        last_update_ms,
        start_ms,
    })
}

/// Creates `__transaction_state` if it does not exist yet.
pub fn ensure_topic(log: &LogManager, partitions: i32) -> io::Result<()> {
    log.ensure_internal_topic(TRANSACTION_TOPIC, partitions)
}

/// Appends one state change; wait on the result for durability.
pub fn append(
    log: &LogManager,
    partitions: i32,
    transactional_id: &str,
    value: &TxnValue,
    now: i64,
) -> io::Result<PendingAppend> {
    ensure_topic(log, partitions)?;
    let topic = log
        .topic(TRANSACTION_TOPIC)
        .ok_or_else(|| io::Error::other("transaction topic vanished"))?;
    let count = i32::try_from(topic.partitions.len()).unwrap_or(1);
    let index = usize::try_from(partition_for(transactional_id, count)).unwrap_or(0);
    let partition = topic
        .partitions
        .get(index)
        .ok_or_else(|| io::Error::other("no transaction log partition"))?;
    let record = NewRecord::new(
        now,
        Some(encode_key(transactional_id)?),
        Some(encode_value(value)?),
    );
    let batch = BatchBuilder::new(0)
        .record(record)
        .build()
        .map_err(|e| io::Error::other(e.to_string()))?;
    log.append(partition, &batch)
        .map(|pending| pending.until_committed(partition, crate::log::COMMIT_TIMEOUT))
        .map_err(|e| io::Error::other(e.to_string()))
}

/// Every transactional id's last state, from the whole topic.
pub fn replay(log: &LogManager, only: Option<i32>) -> io::Result<BTreeMap<String, TxnValue>> {
    let mut last = BTreeMap::new();
    crate::log::scan::topic_batches(log, TRANSACTION_TOPIC, only, |_, batch| {
        for record in batch.records() {
            let Ok(record) = record else { break };
            let Some(key) = record.key else { continue };
            let id = match decode_key(key) {
                Ok(id) => id,
                Err(e) => {
                    tracing::warn!(error = %e, "skipping unreadable {TRANSACTION_TOPIC} key");
                    continue;
                }
            };
            match record.value.map(decode_value) {
                Some(Ok(value)) => {
                    last.insert(id, value);
                }
                Some(Err(e)) => {
                    tracing::warn!(transactional_id = %id, error = %e, "skipping unreadable transaction state")
                }
                None => {
                    last.remove(&id);
                }
            }
        }
    })?;
    Ok(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_and_truncation_is_an_error() {
        let value = TxnValue {
            producer_id: 42,
            producer_epoch: 7,
            timeout_ms: 60_000,
            state: TxnState::Ongoing,
            partitions: [
                ("a".to_string(), 0),
                ("a".to_string(), 3),
                ("b".to_string(), 1),
            ]
            .into(),
            last_update_ms: 1_700_000_000_123,
            start_ms: 1_700_000_000_000,
        };
        let bytes = encode_value(&value).unwrap();
        assert_eq!(decode_value(bytes.clone()).unwrap(), value);
        for cut in 0..bytes.len() {
            assert!(decode_value(bytes.slice(..cut)).is_err(), "cut at {cut}");
        }
        assert_eq!(decode_key(encode_key("my-txn").unwrap()).unwrap(), "my-txn");
        for state in TxnState::ALL {
            assert_eq!(TxnState::from_id(state.id()), Some(state));
        }
    }
}
