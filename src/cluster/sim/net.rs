//! The simulated network: who talks to whom, what they say, and what the
//! nemesis does to it (delays that reorder, drops, links cut one way or
//! both).

use super::rng::Rng;
use crate::cluster::controller::{Heartbeat, IsrChange};
use crate::cluster::image::MetadataImage;
use crate::log::partition::FetchPosition;
use bytes::Bytes;
use std::collections::BTreeSet;
use std::sync::Arc;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Node {
    /// The metadata quorum, as one node: its replication is openraft's,
    /// tested on its own; here it fails over (a new controller forgets
    /// every broker's last heartbeat) and is cut off like any node.
    Controller,
    Broker(i32),
    /// A producer.
    Client(u8),
}

#[derive(Debug)]
pub enum Msg {
    Register {
        broker: i32,
        incarnation: u8,
    },
    Registered {
        incarnation: u8,
        broker_epoch: i64,
    },
    Heartbeat(Heartbeat),
    /// The heartbeat of a broker epoch the controller does not know.
    HeartbeatRefused {
        broker_epoch: i64,
    },
    PullMetadata {
        have: i64,
    },
    Metadata(Arc<MetadataImage>),
    AlterPartition(IsrChange),
    /// Decided (or refused) as of the image at `offset`; `not_applied`
    /// when refused on the current partition epoch (IneligibleReplica).
    AlterPartitionDone {
        partition: i32,
        offset: i64,
        not_applied: bool,
    },
    ElectPreferred {
        partitions: Vec<i32>,
    },
    Fetch(FetchRequest),
    FetchAnswer(FetchAnswer),
    Produce(ProduceRequest),
    Produced(ProduceAnswer),
}

#[derive(Debug)]
pub struct FetchRequest {
    pub id: u64,
    pub replica: i32,
    pub broker_epoch: i64,
    pub partitions: Vec<(i32, i32, FetchPosition)>,
}

#[derive(Debug)]
pub enum PartitionAnswer {
    Refused,
    Diverging {
        epoch: i32,
        end_offset: i64,
        high_watermark: i64,
    },
    Records {
        records: Bytes,
        high_watermark: i64,
    },
    OutOfRange {
        log_start_offset: i64,
    },
}

#[derive(Debug)]
pub struct FetchAnswer {
    pub id: u64,
    pub partitions: Vec<(i32, PartitionAnswer)>,
}

#[derive(Debug)]
pub struct ProduceRequest {
    pub id: u64,
    pub partition: i32,
    pub batch: Bytes,
}

#[derive(Debug)]
pub struct ProduceAnswer {
    pub id: u64,
    pub partition: i32,
    /// The base offset, or why not.
    pub result: Result<i64, &'static str>,
}

/// The links and how they behave now.
#[derive(Default)]
pub struct Network {
    /// Links cut, one way: (from, to).
    cut: BTreeSet<(Node, Node)>,
    /// Messages lost, per thousand.
    pub drop_per_mille: u32,
}

impl Network {
    /// When a message sent now arrives, after how long; None if lost.
    pub fn delay(&self, from: Node, to: Node, rng: &mut Rng) -> Option<i64> {
        if from == to {
            return Some(0);
        }
        if self.cut.contains(&(from, to)) || rng.chance(self.drop_per_mille) {
            return None;
        }
        // Mostly quick; now and then slow enough to reorder.
        Some(if rng.chance(20) {
            rng.range(20, 300)
        } else {
            rng.range(1, 6)
        })
    }

    pub fn cut(&mut self, from: Node, to: Node) {
        self.cut.insert((from, to));
    }

    pub fn heal(&mut self) {
        self.cut.clear();
        self.drop_per_mille = 0;
    }
}
