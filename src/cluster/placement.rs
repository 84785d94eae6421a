//! Where a new partition's replicas go. Deterministic: the same image and
//! request give the same placement on every controller.
//!
//! - Replicas of one partition sit on distinct brokers, and on distinct
//!   racks while racks remain (a broker without `broker.rack` is its own rack).
//! - The first replica leads (the preferred leader). Each new partition's
//!   leader is the active broker leading the fewest partitions so far, so
//!   leaders spread evenly; followers are chosen the same way, by replica count.

use super::image::{BrokerRegistration, MetadataImage};
use std::collections::BTreeMap;

/// Partitions led and replicas held, per broker: what placement evens out.
#[derive(Clone, Debug, Default)]
pub struct Load {
    leaders: BTreeMap<i32, usize>,
    replicas: BTreeMap<i32, usize>,
}

impl Load {
    /// The load the image already places on each broker (preferred leaders).
    pub fn of(image: &MetadataImage) -> Load {
        let mut load = Load::default();
        for topic in image.topics() {
            for p in &topic.partitions {
                load.add(&p.replicas);
            }
        }
        load
    }

    pub fn add(&mut self, replicas: &[i32]) {
        if let Some(first) = replicas.first() {
            *self.leaders.entry(*first).or_default() += 1;
        }
        for r in replicas {
            *self.replicas.entry(*r).or_default() += 1;
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotEnoughBrokers {
    pub wanted: usize,
    pub available: usize,
}

impl std::fmt::Display for NotEnoughBrokers {
    // Kafka's own message (StripedReplicaPlacer), which tools and users know.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Unable to replicate the partition {} time(s): The target replication factor of {} cannot be reached because only {} broker(s) are registered.",
            self.wanted, self.wanted, self.available
        )
    }
}

fn rack_of(broker: &BrokerRegistration) -> String {
    broker
        .rack
        .clone()
        .unwrap_or_else(|| format!("\u{0}broker-{}", broker.id))
}

/// Places one partition of `replication_factor` replicas on the active
/// brokers of `image`, counting it into `load`.
pub fn place(
    image: &MetadataImage,
    load: &mut Load,
    replication_factor: usize,
) -> Result<Vec<i32>, NotEnoughBrokers> {
    let candidates: Vec<&BrokerRegistration> = image.active_brokers().collect();
    if replication_factor == 0 || candidates.len() < replication_factor {
        return Err(NotEnoughBrokers {
            wanted: replication_factor,
            available: candidates.len(),
        });
    }
    let count = |map: &BTreeMap<i32, usize>, id: i32| map.get(&id).copied().unwrap_or(0);
    let mut chosen: Vec<&BrokerRegistration> = Vec::with_capacity(replication_factor);
    while chosen.len() < replication_factor {
        let used_racks: Vec<String> = chosen.iter().map(|b| rack_of(b)).collect();
        let best = candidates
            .iter()
            .filter(|b| !chosen.iter().any(|c| c.id == b.id))
            .min_by_key(|b| {
                let rack_taken = used_racks.contains(&rack_of(b));
                let weight = if chosen.is_empty() {
                    (count(&load.leaders, b.id), count(&load.replicas, b.id))
                } else {
                    (count(&load.replicas, b.id), count(&load.leaders, b.id))
                };
                (rack_taken, weight, b.id)
            });
        match best {
            Some(b) => chosen.push(b),
            None => break,
        }
    }
    let replicas: Vec<i32> = chosen.iter().map(|b| b.id).collect();
    load.add(&replicas);
    Ok(replicas)
}
