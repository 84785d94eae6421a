//! The leader's side of the ISR: followers that fall behind for longer than
//! `replica.lag.time.max.ms` leave it, followers that catch up join it, and
//! each change goes through the controller (AlterPartition), one at a time
//! per partition, decided on the partition epoch the leader knows.
//!
//! And the preferred replica's side of leadership: with
//! `auto.leader.rebalance.enable`, every
//! `leader.imbalance.check.interval.seconds` a broker asks the controller to
//! give back the leadership of the partitions it is the first replica of,
//! once it is in their ISR again (as Kafka's controller does after a
//! failover, so leaders do not pile up on the survivors).

use super::controller::{ControllerError, IsrChange};
use super::image::{MetadataImage, PartitionImage};
use super::node::{ClusterNode, ControllerCall, ControllerReply};
use crate::broker::Broker;
use crate::log::partition::{IsrChanges, Partition};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// How often led partitions are checked. Shrinking needs only a fraction of
/// the lag bound; joining should be quick, since acks=all counts on it.
const CHECK_EVERY: Duration = Duration::from_millis(250);

/// The ISR `p` should have, given what the leader measured: members out of
/// sync leave, caught-up replicas join. None if it stays as it is.
pub fn wanted_isr(p: &PartitionImage, leader: i32, changes: &IsrChanges) -> Option<Vec<i32>> {
    let mut isr: Vec<i32> = p
        .isr
        .iter()
        .copied()
        .filter(|r| *r == leader || !changes.out_of_sync.contains(r))
        .collect();
    for r in &changes.caught_up {
        if p.replicas.contains(r) && !isr.contains(r) {
            isr.push(*r);
        }
    }
    (isr != p.isr).then_some(isr)
}

/// Checks the partitions this broker leads until `stop`.
pub async fn run(broker: Arc<Broker>, node: Arc<ClusterNode>, mut stop: watch::Receiver<bool>) {
    let config = &broker.config.cluster;
    let lag_max_ms = i64::try_from(config.replica_lag_time_max_ms).unwrap_or(i64::MAX);
    let balance_every = Duration::from_secs(config.leader_imbalance_check_interval_s);
    let mut last_balance = tokio::time::Instant::now();
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            _ = tokio::time::sleep(CHECK_EVERY) => {}
        }
        let image = node.image();
        if config.auto_leader_rebalance && last_balance.elapsed() >= balance_every {
            last_balance = tokio::time::Instant::now();
            take_back_leadership(&node, &image, broker.config.node_id).await;
        }
        for (change, partition) in proposals(&broker, &image, node.broker_epoch(), lag_max_ms) {
            // Members it adds hold the high watermark back from now on: the
            // controller may commit them, and elect one, before this broker
            // hears of it.
            partition.propose_isr(&change.isr);
            let call = ControllerCall::AlterPartition(change.clone());
            match node.call(call).await {
                ControllerReply::Topics { outcomes, offset } => match outcomes.first() {
                    Some(Ok(())) => {
                        tracing::info!(partition = change.partition, isr = ?change.isr, "ISR changed");
                        // The next check must see this change (one in flight).
                        node.wait_for_offset(offset).await;
                    }
                    Some(Err(e)) => {
                        // As Kafka: only a refusal on the current partition
                        // epoch says no proposal was applied; after others,
                        // the members stay counted until the image moves.
                        if matches!(e, ControllerError::IneligibleReplica(_)) {
                            partition.isr_proposal_not_applied();
                        }
                        tracing::debug!(error = %e, "ISR change refused");
                    }
                    None => {}
                },
                other => tracing::debug!(reply = ?other, "ISR change not decided"),
            }
        }
    }
}

/// The partitions `node_id` is the preferred (first) replica of, and in
/// sync for, that another broker leads.
pub fn preferred_elsewhere(image: &MetadataImage, node_id: i32) -> Vec<(String, i32)> {
    let mut wanted = Vec::new();
    for topic in image.topics() {
        for (index, p) in topic.partitions.iter().enumerate() {
            let preferred = p.replicas.first() == Some(&node_id);
            if preferred && p.leader != node_id && p.isr.contains(&node_id) {
                wanted.push((topic.name.clone(), index as i32));
            }
        }
    }
    wanted
}

async fn take_back_leadership(node: &ClusterNode, image: &MetadataImage, node_id: i32) {
    let partitions = preferred_elsewhere(image, node_id);
    if partitions.is_empty() {
        return;
    }
    let count = partitions.len();
    match node
        .call(ControllerCall::ElectPreferred { partitions })
        .await
    {
        ControllerReply::Topics { outcomes, .. } => {
            let elected = outcomes.iter().filter(|o| o.is_ok()).count();
            tracing::info!(elected, of = count, "preferred leader election");
        }
        other => tracing::debug!(reply = ?other, "preferred leader election not decided"),
    }
}

/// The ISR changes this broker's led partitions call for.
fn proposals(
    broker: &Broker,
    image: &MetadataImage,
    broker_epoch: i64,
    lag_max_ms: i64,
) -> Vec<(IsrChange, Arc<Partition>)> {
    let node_id = broker.config.node_id;
    let now = crate::log::steady_ms();
    let mut changes = Vec::new();
    for topic in image.topics() {
        for (index, p) in topic.partitions.iter().enumerate() {
            if p.leader != node_id || p.replicas.len() < 2 {
                continue;
            }
            let Some(partition) = broker.log.partition(&topic.name, index as i32) else {
                continue;
            };
            let measured = partition.isr_changes(now, lag_max_ms);
            let Some(isr) = wanted_isr(p, node_id, &measured) else {
                continue;
            };
            let change = IsrChange {
                broker_id: node_id,
                broker_epoch,
                topic_id: topic.id.0,
                partition: index as i32,
                leader_epoch: p.leader_epoch,
                partition_epoch: p.partition_epoch,
                isr,
            };
            changes.push((change, partition));
        }
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn partition(replicas: &[i32], isr: &[i32]) -> PartitionImage {
        PartitionImage {
            replicas: replicas.to_vec(),
            isr: isr.to_vec(),
            leader: 0,
            leader_epoch: 1,
            partition_epoch: 1,
            adding: Vec::new(),
            removing: Vec::new(),
        }
    }

    #[test]
    fn laggards_leave_and_the_caught_up_join_but_the_leader_stays() {
        let p = partition(&[0, 1, 2], &[0, 1]);
        let none = IsrChanges::default();
        assert_eq!(wanted_isr(&p, 0, &none), None);
        let changes = IsrChanges {
            out_of_sync: vec![0, 1],
            caught_up: vec![2, 7],
        };
        assert_eq!(wanted_isr(&p, 0, &changes), Some(vec![0, 2]));
    }
}
