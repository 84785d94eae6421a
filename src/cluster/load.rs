//! Load reports: what a broker measured of the partitions it leads, sent
//! to the controller with its heartbeats. The controller keeps the latest
//! report of each broker (in memory: a new controller waits one report)
//! for the balancer and the hot-partition report.

use super::image::MetadataImage;
use crate::log::LogManager;
use crate::metrics::traffic::Rates;
use serde::{Deserialize, Serialize};

/// The partitions a report names at most: the busiest, then the largest.
/// Bounded so a heartbeat stays small whatever a broker leads.
pub const REPORTED_PARTITIONS: usize = 64;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PartitionLoad {
    pub topic: String,
    pub partition: i32,
    pub size_bytes: u64,
    pub rates: Rates,
}

impl PartitionLoad {
    /// What ranks partitions: bytes in and out over five minutes.
    pub fn busy(&self) -> f64 {
        self.rates.bytes_in.m5 + self.rates.bytes_out.m5
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LoadReport {
    /// The size of the disk under the broker's log directory.
    pub disk_total_bytes: Option<u64>,
    /// How many partitions it leads (the report names at most
    /// [`REPORTED_PARTITIONS`] of them).
    pub led: usize,
    pub partitions: Vec<PartitionLoad>,
}

/// This broker's report: the partitions it leads, busiest first.
pub fn report(log: &LogManager, image: &MetadataImage, node_id: i32) -> LoadReport {
    let mut partitions = Vec::new();
    for topic in log.topics() {
        for p in &topic.partitions {
            let leads = image
                .partition(&topic.meta.name, p.index)
                .is_some_and(|i| i.leader == node_id);
            if !leads {
                continue;
            }
            partitions.push(PartitionLoad {
                topic: topic.meta.name.clone(),
                partition: p.index,
                size_bytes: p.size_bytes(),
                rates: p.traffic.rates(),
            });
        }
    }
    let led = partitions.len();
    partitions.sort_by(|a, b| {
        b.busy()
            .total_cmp(&a.busy())
            .then(b.size_bytes.cmp(&a.size_bytes))
            .then((&a.topic, a.partition).cmp(&(&b.topic, b.partition)))
    });
    partitions.truncate(REPORTED_PARTITIONS);
    LoadReport {
        disk_total_bytes: log.disk_space().map(|(total, _)| total),
        led,
        partitions,
    }
}
