//! The simulation's invariants, checked as it runs:
//! - the image: every ISR within its replicas and holding its leader,
//!   leader and partition epochs never going back;
//! - at most one leader per partition and epoch;
//! - no acknowledged record lost: every member of a partition's ISR holds
//!   every acknowledged record at its offset (on disk, crashed or not);
//! - the ISR's logs identical to the leader's below its high watermark;
//! - epochs never decreasing along a log.
//!
//! and once the faults heal and the cluster settles: every replica's log
//! the same, every acknowledged record in it once, records in the order
//! they were sent.

use super::broker::SimBroker;
use super::TOPIC;
use crate::cluster::image::MetadataImage;
use crate::cluster::records::NO_LEADER;
use crate::log::partition::{Isolation, Oversize, Partition};
use crate::protocol::records::BatchIter;
use std::collections::BTreeMap;

/// A record as a replica's log holds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stored {
    pub offset: i64,
    pub epoch: i32,
    pub value: u64,
}

#[derive(Default)]
pub struct History {
    /// Acknowledged records: partition → offset → value.
    pub acked: BTreeMap<i32, BTreeMap<i64, u64>>,
    /// Who led each (partition, leader epoch).
    leaders: BTreeMap<(i32, i32), i32>,
    /// The last (leader epoch, partition epoch) of each partition.
    epochs: BTreeMap<i32, (i32, i32)>,
}

impl History {
    pub fn check_image(&mut self, image: &MetadataImage, violations: &mut Vec<String>) {
        let Some(topic) = image.topic(TOPIC) else {
            return;
        };
        for (index, p) in topic.partitions.iter().enumerate() {
            let index = index as i32;
            if p.isr.is_empty() || p.isr.iter().any(|r| !p.replicas.contains(r)) {
                violations.push(format!(
                    "{TOPIC}-{index}: ISR {:?} outside replicas {:?}",
                    p.isr, p.replicas
                ));
            }
            if p.leader != NO_LEADER && !p.isr.contains(&p.leader) {
                violations.push(format!(
                    "{TOPIC}-{index}: leader {} outside ISR {:?}",
                    p.leader, p.isr
                ));
            }
            let now = (p.leader_epoch, p.partition_epoch);
            if let Some(before) = self.epochs.insert(index, now) {
                if now.0 < before.0 || now.1 < before.1 {
                    violations.push(format!(
                        "{TOPIC}-{index}: epochs went from {before:?} to {now:?}"
                    ));
                }
            }
        }
    }

    /// `broker` leads `partition` in `epoch`.
    pub fn led(&mut self, partition: i32, epoch: i32, broker: i32, violations: &mut Vec<String>) {
        let first = *self.leaders.entry((partition, epoch)).or_insert(broker);
        if first != broker {
            violations.push(format!(
                "{TOPIC}-{partition}: brokers {first} and {broker} both led in epoch {epoch}"
            ));
        }
    }

    pub fn acknowledged(
        &mut self,
        partition: i32,
        base_offset: i64,
        values: &[u64],
        violations: &mut Vec<String>,
    ) {
        let acked = self.acked.entry(partition).or_default();
        for (i, value) in values.iter().enumerate() {
            let offset = base_offset + i as i64;
            if let Some(other) = acked.insert(offset, *value) {
                if other != *value {
                    violations.push(format!(
                        "{TOPIC}-{partition}: offset {offset} acknowledged for {other:#x} and for {value:#x}"
                    ));
                }
            }
        }
    }

    pub fn acknowledged_count(&self) -> usize {
        self.acked.values().map(BTreeMap::len).sum()
    }

    /// The invariants over the replicas' logs, as the controller's image
    /// names the ISRs and leaders.
    pub fn check_replicas(
        &self,
        image: &MetadataImage,
        brokers: &BTreeMap<i32, SimBroker>,
        violations: &mut Vec<String>,
    ) {
        let Some(topic) = image.topic(TOPIC) else {
            return;
        };
        for (index, p) in topic.partitions.iter().enumerate() {
            let index = index as i32;
            let empty = BTreeMap::new();
            let acked = self.acked.get(&index).unwrap_or(&empty);
            let leader = brokers
                .get(&p.leader)
                .filter(|b| b.up)
                .and_then(|b| b.partitions.get(&index))
                .filter(|l| l.leader_epoch() == p.leader_epoch);
            // Each member's log read once; the leader is one of them (the
            // image's check says so).
            let logs: BTreeMap<i32, Vec<Stored>> = p
                .isr
                .iter()
                .filter_map(|m| Some((*m, records_of(brokers.get(m)?.partitions.get(&index)?))))
                .collect();
            let leader_log = leader.and_then(|l| Some((logs.get(&p.leader)?, l.offsets().1)));
            for (member, log) in &logs {
                check_epochs_rise(log, index, *member, violations);
                let by_offset: BTreeMap<i64, u64> =
                    log.iter().map(|r| (r.offset, r.value)).collect();
                for (offset, value) in acked {
                    if by_offset.get(offset) != Some(value) {
                        violations.push(format!(
                            "{TOPIC}-{index}: ISR member {member} lacks acknowledged {value:#x} at {offset} (holds {:?})",
                            by_offset.get(offset)
                        ));
                        break;
                    }
                }
                if let Some((leader_log, high_watermark)) = leader_log {
                    let below = |r: &&Stored| r.offset < high_watermark;
                    let theirs: Vec<&Stored> = log.iter().filter(below).collect();
                    let ours: Vec<&Stored> =
                        leader_log.iter().filter(below).take(theirs.len()).collect();
                    if theirs != ours {
                        violations.push(format!(
                            "{TOPIC}-{index}: ISR member {member}'s log differs from leader {}'s below the high watermark {high_watermark}",
                            p.leader
                        ));
                    }
                }
            }
        }
    }

    /// Once settled: every replica's log identical, each acknowledged
    /// record in it once, values in the order sent.
    pub fn check_settled(
        &self,
        brokers: &BTreeMap<i32, SimBroker>,
        partitions: i32,
        violations: &mut Vec<String>,
    ) {
        for index in 0..partitions {
            let logs: Vec<(i32, Vec<Stored>)> = brokers
                .values()
                .filter_map(|b| Some((b.id, records_of(b.partitions.get(&index)?))))
                .collect();
            let Some((first, reference)) = logs.first() else {
                continue;
            };
            for (broker, log) in &logs[1..] {
                if log != reference {
                    violations.push(format!(
                        "{TOPIC}-{index}: settled logs of brokers {first} and {broker} differ ({} and {} records)",
                        reference.len(),
                        log.len()
                    ));
                }
            }
            let mut seen = std::collections::BTreeSet::new();
            let mut last: BTreeMap<u8, u64> = BTreeMap::new();
            for r in reference {
                if !seen.insert(r.value) {
                    violations.push(format!("{TOPIC}-{index}: {:#x} written twice", r.value));
                }
                let producer = super::client::producer_of(r.value);
                if let Some(before) = last.insert(producer, r.value).filter(|l| *l >= r.value) {
                    violations.push(format!("{TOPIC}-{index}: {:#x} after {before:#x}", r.value));
                }
            }
            let by_offset: BTreeMap<i64, u64> =
                reference.iter().map(|r| (r.offset, r.value)).collect();
            if let Some(acked) = self.acked.get(&index) {
                for (offset, value) in acked {
                    if by_offset.get(offset) != Some(value) {
                        violations.push(format!(
                            "{TOPIC}-{index}: acknowledged {value:#x} at {offset} lost"
                        ));
                    }
                }
            }
        }
    }
}

fn check_epochs_rise(log: &[Stored], index: i32, broker: i32, violations: &mut Vec<String>) {
    if let Some(w) = log.windows(2).find(|w| w[1].epoch < w[0].epoch) {
        violations.push(format!(
            "{TOPIC}-{index} on broker {broker}: epoch {} at {} after epoch {} at {}",
            w[1].epoch, w[1].offset, w[0].epoch, w[0].offset
        ));
    }
}

/// Every record of a replica's log, to its end.
pub fn records_of(partition: &Partition) -> Vec<Stored> {
    let (start, _, end) = partition.offsets();
    let mut out = Vec::new();
    if start >= end {
        return out;
    }
    let read = partition.read_bounded(start, 1 << 30, Isolation::Replica, Oversize::FirstBatch);
    let Ok(read) = read else {
        return out;
    };
    for batch in BatchIter::new(read.records) {
        let Ok(batch) = batch else { break };
        let epoch = batch.partition_leader_epoch();
        for record in batch.records() {
            let Ok(record) = record else { break };
            let value = record
                .value
                .as_ref()
                .and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok())
                .map_or(u64::MAX, u64::from_be_bytes);
            out.push(Stored {
                offset: record.offset,
                epoch,
                value,
            });
        }
    }
    out
}
