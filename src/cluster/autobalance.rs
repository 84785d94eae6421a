//! The balancer in the controller. With `odradek.balancer.enable`, every
//! `odradek.balancer.interval.ms` the active controller plans
//! ([`super::balancer`]) from the image and the brokers' latest load
//! reports, and starts the plan's moves as reassignments: they show in
//! ListPartitionReassignments and can be cancelled like any other. The
//! replicas of a broker fenced for `odradek.balancer.replace.after.ms` are
//! copied anew elsewhere.

use super::balancer::{self, BrokerView, Goals, PartitionView, Unsatisfiable, View};
use super::controller::Controller;
use super::image::MetadataImage;
use super::load::{LoadReport, PartitionLoad};
use crate::config::BalancerConfig;
use std::collections::{BTreeMap, BTreeSet};

/// A reassignment to start: topic, partition, target replicas.
pub type Target = (String, i32, Option<Vec<i32>>);

/// Moves per round: a round starts few, the next ones follow as these end.
const MAX_MOVES_PER_ROUND: usize = 16;

pub fn moves(
    image: &MetadataImage,
    controller: &Controller,
    config: &BalancerConfig,
    now_ms: u64,
) -> Result<Vec<Target>, Unsatisfiable> {
    let view = view(image, controller.loads());
    let goals = Goals {
        drain: BTreeSet::new(),
        gone: gone(image, controller, config, now_ms),
        max_disk_fraction: f64::from(config.max_disk_percent) / 100.0,
        max_moves: MAX_MOVES_PER_ROUND,
        max_moves_per_broker: config.max_moves_per_broker,
    };
    let plan = balancer::plan(&view, &goals)?;
    Ok(plan
        .moves
        .into_iter()
        .map(|m| (m.topic, m.partition, Some(m.to)))
        .collect())
}

/// Brokers whose replicas are copied anew: fenced for longer than the set
/// time (as this controller has known them), or no longer registered.
fn gone(
    image: &MetadataImage,
    controller: &Controller,
    config: &BalancerConfig,
    now_ms: u64,
) -> BTreeSet<i32> {
    let mut gone: BTreeSet<i32> = image
        .brokers
        .values()
        .filter(|b| b.fenced)
        .filter(|b| {
            controller
                .last_heard_ms(b.id)
                .is_some_and(|t| now_ms.saturating_sub(t) >= config.replace_after_ms)
        })
        .map(|b| b.id)
        .collect();
    for topic in image.topics() {
        for p in &topic.partitions {
            gone.extend(p.replicas.iter().filter(|r| !image.brokers.contains_key(r)));
        }
    }
    gone
}

/// The planner's view of the image: brokers able to take replicas, and
/// each partition with the size and rates its leader last reported (none
/// for a partition outside the reports' top lists).
pub fn view(image: &MetadataImage, loads: &BTreeMap<i32, LoadReport>) -> View {
    let reported: BTreeMap<(&str, i32), &PartitionLoad> = loads
        .values()
        .flat_map(|r| r.partitions.iter())
        .map(|p| ((p.topic.as_str(), p.partition), p))
        .collect();
    let mut view = View::default();
    for b in image.brokers.values() {
        let broker = BrokerView {
            id: b.id,
            rack: b.rack.clone(),
            usable: b.is_active(),
            capacity_bytes: loads.get(&b.id).and_then(|r| r.disk_total_bytes),
        };
        view.brokers.insert(b.id, broker);
    }
    for topic in image.topics() {
        for (index, p) in topic.partitions.iter().enumerate() {
            let partition = i32::try_from(index).unwrap_or(i32::MAX);
            let load = reported.get(&(topic.name.as_str(), partition));
            view.partitions.push(PartitionView {
                topic: topic.name.clone(),
                partition,
                replicas: p.replicas.clone(),
                size_bytes: load.map_or(0, |l| l.size_bytes),
                bytes_in: load.map_or(0.0, |l| l.rates.bytes_in.m5),
                bytes_out: load.map_or(0.0, |l| l.rates.bytes_out.m5),
                moving: p.adding.iter().chain(&p.removing).copied().collect(),
            });
        }
    }
    view.add_unlisted_brokers();
    view
}
