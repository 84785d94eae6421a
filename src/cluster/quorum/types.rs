//! openraft's type configuration for the metadata quorum: what a log entry
//! carries (a batch of metadata records, applied all or nothing) and what
//! applying it answers.

use crate::cluster::records::MetadataRecord;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// One proposal: records the controller decided together. They are applied
/// all or nothing, at one log offset (the Raft index).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Proposal(pub Vec<MetadataRecord>);

impl fmt::Display for Proposal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} metadata record(s)", self.0.len())
    }
}

impl Proposal {
    /// `u32 count`, then per record `u32 length` and the record.
    fn encode(&self) -> Vec<u8> {
        let mut out = bytes::BytesMut::new();
        out.extend_from_slice(&(self.0.len() as u32).to_be_bytes());
        for record in &self.0 {
            let bytes = record.to_bytes();
            out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
            out.extend_from_slice(&bytes);
        }
        out.to_vec()
    }

    fn decode(raw: Vec<u8>) -> Result<Proposal, String> {
        let mut buf = bytes::Bytes::from(raw);
        let take_u32 = |buf: &mut bytes::Bytes| -> Result<usize, String> {
            let head: [u8; 4] = buf
                .get(..4)
                .and_then(|h| h.try_into().ok())
                .ok_or("truncated proposal")?;
            let _ = buf.split_to(4);
            Ok(u32::from_be_bytes(head) as usize)
        };
        let count = take_u32(&mut buf)?;
        let mut records = Vec::with_capacity(count.min(buf.len() / 4));
        for _ in 0..count {
            let len = take_u32(&mut buf)?;
            if len > buf.len() {
                return Err("truncated proposal".into());
            }
            records.push(MetadataRecord::decode(buf.split_to(len)).map_err(|e| e.to_string())?);
        }
        if !buf.is_empty() {
            return Err("bytes after the proposal".into());
        }
        Ok(Proposal(records))
    }
}

impl Serialize for Proposal {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(&self.encode())
    }
}

impl<'de> Deserialize<'de> for Proposal {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = Vec::<u8>::deserialize(deserializer)?;
        Proposal::decode(raw).map_err(serde::de::Error::custom)
    }
}

/// What applying a proposal gave: the offset it landed at, or why the
/// image refused it (the controller decided on an image that has moved on).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Applied {
    pub offset: i64,
    pub refused: Option<String>,
}

openraft::declare_raft_types!(
    pub QuorumTypes:
        D = Proposal,
        R = Applied,
        NodeId = u64,
        Node = openraft::BasicNode,
);

pub type LogId = openraft::type_config::alias::LogIdOf<QuorumTypes>;
pub type Vote = openraft::type_config::alias::VoteOf<QuorumTypes>;
pub type Entry = openraft::type_config::alias::EntryOf<QuorumTypes>;
pub type SnapshotMeta = openraft::type_config::alias::SnapshotMetaOf<QuorumTypes>;
pub type StoredMembership = openraft::type_config::alias::StoredMembershipOf<QuorumTypes>;
pub type SnapshotData = std::io::Cursor<Vec<u8>>;
pub type Snapshot = openraft::type_config::alias::SnapshotOf<QuorumTypes, SnapshotData>;
