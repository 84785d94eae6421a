//! Control records: the transaction markers the broker writes on
//! EndTxn / WriteTxnMarkers.
//!
//! key   = version i16 (0), type i16 (0 abort, 1 commit, others KRaft-internal)
//! value = version i16 (0), coordinator epoch i32   (for abort/commit)

use super::builder::{BatchBuilder, NewRecord, NO_SEQUENCE};
use super::error::RecordError;
use super::record::Record;
use bytes::{BufMut, Bytes, BytesMut};

const CURRENT_VERSION: i16 = 0;

/// The `type` in a control record's key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ControlType {
    Abort,
    Commit,
    /// Leader change, snapshot and KRaft records; not transaction markers.
    Other(i16),
}

impl ControlType {
    pub fn from_id(id: i16) -> Self {
        match id {
            0 => ControlType::Abort,
            1 => ControlType::Commit,
            other => ControlType::Other(other),
        }
    }

    pub fn id(self) -> i16 {
        match self {
            ControlType::Abort => 0,
            ControlType::Commit => 1,
            ControlType::Other(id) => id,
        }
    }

    /// Reads a control record key. Like Kafka, a negative version is
    /// invalid and newer versions are read by their v0 prefix.
    pub fn parse_key(key: &[u8]) -> Result<Self, RecordError> {
        let (version, rest) = split_i16(key).ok_or(RecordError::InvalidControlRecord(
            "key shorter than 4 bytes",
        ))?;
        if version < 0 {
            return Err(RecordError::InvalidControlRecord("negative key version"));
        }
        let (id, _) = split_i16(rest).ok_or(RecordError::InvalidControlRecord(
            "key shorter than 4 bytes",
        ))?;
        Ok(ControlType::from_id(id))
    }
}

fn split_i16(bytes: &[u8]) -> Option<(i16, &[u8])> {
    bytes
        .split_first_chunk::<2>()
        .map(|(head, rest)| (i16::from_be_bytes(*head), rest))
}

/// A commit or abort marker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EndTxnMarker {
    pub commit: bool,
    pub coordinator_epoch: i32,
}

impl EndTxnMarker {
    pub fn control_type(&self) -> ControlType {
        if self.commit {
            ControlType::Commit
        } else {
            ControlType::Abort
        }
    }

    pub fn key(&self) -> Bytes {
        let mut key = BytesMut::with_capacity(4);
        key.put_i16(CURRENT_VERSION);
        key.put_i16(self.control_type().id());
        key.freeze()
    }

    pub fn value(&self) -> Bytes {
        let mut value = BytesMut::with_capacity(6);
        value.put_i16(CURRENT_VERSION);
        value.put_i32(self.coordinator_epoch);
        value.freeze()
    }

    /// Reads a marker from a record of a control batch.
    pub fn parse(record: &Record) -> Result<Self, RecordError> {
        let key = record
            .key
            .as_ref()
            .ok_or(RecordError::InvalidControlRecord("null key"))?;
        let commit = match ControlType::parse_key(key)? {
            ControlType::Commit => true,
            ControlType::Abort => false,
            ControlType::Other(_) => {
                return Err(RecordError::InvalidControlRecord(
                    "not a transaction marker",
                ))
            }
        };
        let value = record
            .value
            .as_ref()
            .ok_or(RecordError::InvalidControlRecord("null value"))?;
        let (version, rest) = split_i16(value).ok_or(RecordError::InvalidControlRecord(
            "value shorter than 6 bytes",
        ))?;
        if version < 0 {
            return Err(RecordError::InvalidControlRecord("negative value version"));
        }
        let (epoch, _) = rest
            .split_first_chunk::<4>()
            .ok_or(RecordError::InvalidControlRecord(
                "value shorter than 6 bytes",
            ))?;
        Ok(EndTxnMarker {
            commit,
            coordinator_epoch: i32::from_be_bytes(*epoch),
        })
    }
}

/// A complete control batch holding one commit/abort marker, with the
/// control and transactional attributes set and no sequence, uncompressed
/// (as Kafka writes markers). The leader epoch is left unset (-1): the
/// append path assigns it, like the base offset.
pub fn control_batch(
    base_offset: i64,
    producer_id: i64,
    producer_epoch: i16,
    timestamp: i64,
    marker: EndTxnMarker,
) -> Result<Bytes, RecordError> {
    BatchBuilder::new(base_offset)
        .producer(producer_id, producer_epoch, NO_SEQUENCE)
        .transactional(true)
        .control(true)
        .record(NewRecord::new(
            timestamp,
            Some(marker.key()),
            Some(marker.value()),
        ))
        .build()
}
