//! Partition reassignment (KIP-455), decided as Kafka's controller decides
//! it. A reassignment towards `target` makes the replicas the target (in
//! its order) followed by the replicas leaving (ascending), with `adding`
//! and `removing` recorded; the joining replicas copy the leader as
//! followers and enter the ISR as they catch up. Once every target replica
//! is in sync, the leaving ones are dropped from the replicas and the ISR
//! (the same change that brings the last one in). A leader that leaves
//! hands over to the first target replica in sync; a shrinking replica set
//! always bumps the leader epoch, so deposed replicas are fenced.
//! Cancelling drops the joining replicas.

use super::controller::{choose_leader, Controller, ControllerError};
use super::image::{MetadataImage, PartitionImage, TopicImage};
use super::records::{MetadataRecord, NO_LEADER, NO_LEADER_CHANGE};
use crate::protocol::wire::Uuid;

/// A partition's replica set, ISR and reassignment as a change would leave them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Assignment {
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    pub adding: Vec<i32>,
    pub removing: Vec<i32>,
}

impl Assignment {
    pub fn of(p: &PartitionImage) -> Assignment {
        Assignment {
            replicas: p.replicas.clone(),
            isr: p.isr.clone(),
            adding: p.adding.clone(),
            removing: p.removing.clone(),
        }
    }

    /// Towards `target` from the current replicas (which, mid-reassignment,
    /// hold the previous target and its leaving replicas: the new target
    /// supersedes it).
    pub fn towards(&self, target: &[i32]) -> Assignment {
        let mut removing: Vec<i32> = self
            .replicas
            .iter()
            .copied()
            .filter(|r| !target.contains(r))
            .collect();
        removing.sort_unstable();
        let mut adding: Vec<i32> = target
            .iter()
            .copied()
            .filter(|r| !self.replicas.contains(r))
            .collect();
        adding.sort_unstable();
        let mut replicas = target.to_vec();
        replicas.extend(&removing);
        Assignment {
            replicas,
            isr: self.isr.clone(),
            adding,
            removing,
        }
        .completed()
    }

    /// Cancelled: the joining replicas dropped, the rest in their order.
    pub fn reverted(&self) -> Assignment {
        let keep = |r: &i32| !self.adding.contains(r);
        Assignment {
            replicas: self.replicas.iter().copied().filter(keep).collect(),
            isr: self.isr.iter().copied().filter(keep).collect(),
            adding: Vec::new(),
            removing: Vec::new(),
        }
    }

    /// With `isr` as the ISR, completed if that puts every target replica in sync.
    pub fn with_isr(&self, isr: &[i32]) -> Assignment {
        Assignment {
            isr: isr.to_vec(),
            ..self.clone()
        }
        .completed()
    }

    /// Complete once every replica that stays is in sync (and one is).
    fn completed(self) -> Assignment {
        if self.adding.is_empty() && self.removing.is_empty() {
            return self;
        }
        let stays = |r: &i32| !self.removing.contains(r);
        let replicas: Vec<i32> = self.replicas.iter().copied().filter(stays).collect();
        let isr: Vec<i32> = self.isr.iter().copied().filter(stays).collect();
        if isr.is_empty() || !replicas.iter().all(|r| isr.contains(r)) {
            return self;
        }
        Assignment {
            replicas,
            isr,
            adding: Vec::new(),
            removing: Vec::new(),
        }
    }
}

/// The PartitionChange taking `p` to `next`, None if nothing changes. The
/// leader stays unless it left the ISR; then the first replica of `next`
/// in sync and active leads. A replica set losing members bumps the
/// leader epoch even when the leader stays.
pub fn change(
    image: &MetadataImage,
    topic_id: Uuid,
    partition: i32,
    p: &PartitionImage,
    next: &Assignment,
) -> Option<MetadataRecord> {
    let shrinks = p.replicas.iter().any(|r| !next.replicas.contains(r));
    let leader = if p.leader != NO_LEADER && next.isr.contains(&p.leader) {
        if shrinks {
            p.leader
        } else {
            NO_LEADER_CHANGE
        }
    } else {
        match choose_leader(image, &next.replicas, &next.isr, None) {
            NO_LEADER if p.leader == NO_LEADER && !shrinks => NO_LEADER_CHANGE,
            chosen => chosen,
        }
    };
    let record = MetadataRecord::PartitionChange {
        partition_id: partition,
        topic_id,
        isr: (p.isr != next.isr).then(|| next.isr.clone()),
        leader,
        replicas: (p.replicas != next.replicas).then(|| next.replicas.clone()),
        adding: (p.adding != next.adding).then(|| next.adding.clone()),
        removing: (p.removing != next.removing).then(|| next.removing.clone()),
    };
    let unchanged = matches!(
        &record,
        MetadataRecord::PartitionChange {
            isr: None,
            leader: NO_LEADER_CHANGE,
            replicas: None,
            adding: None,
            removing: None,
            ..
        }
    );
    (!unchanged).then_some(record)
}

/// The PartitionChange taking `p` (of `topic`) to `next`; when it ends the
/// topic's last move, also the clearing of the topic's throttled replicas.
pub fn change_and_clear(
    image: &MetadataImage,
    topic: &TopicImage,
    partition: i32,
    p: &PartitionImage,
    next: &Assignment,
) -> Vec<MetadataRecord> {
    let Some(record) = change(image, topic.id, partition, p, next) else {
        return Vec::new();
    };
    let ends_a_move = p.reassigning() && next.adding.is_empty() && next.removing.is_empty();
    let others_move = topic
        .partitions
        .iter()
        .enumerate()
        .any(|(i, other)| i as i32 != partition && other.reassigning());
    let mut records = vec![record];
    if ends_a_move && !others_move {
        records.extend(super::throttles::cleared(image, &topic.name));
    }
    records
}

impl Controller {
    /// AlterPartitionReassignments for one partition: `target` None
    /// cancels. Kafka's checks, in Kafka's order: the partition exists;
    /// the target lists registered brokers (fenced ones too), each once;
    /// with `allow_rf_change` false, it keeps the replication factor.
    pub fn alter_reassignment(
        &self,
        image: &MetadataImage,
        topic: &str,
        partition: i32,
        target: Option<&[i32]>,
        allow_rf_change: bool,
    ) -> Result<Vec<MetadataRecord>, ControllerError> {
        let name = format!("{topic}-{partition}");
        let (topic_image, p) = super::controller::partition_of(image, topic, partition)?;
        let current = Assignment::of(p);
        let next = match target {
            None => {
                if !p.reassigning() {
                    return Err(ControllerError::NoReassignmentInProgress(format!(
                        "{name}: no reassignment is in progress"
                    )));
                }
                let next = current.reverted();
                if next.isr.is_empty() {
                    return Err(ControllerError::InvalidReplicaAssignment(format!(
                        "Unable to revert partition assignment for {name} because it would require an unclean leader election."
                    )));
                }
                next
            }
            Some(target) => {
                super::controller::check_assignment(image, target)?;
                let factor = p.replicas.len() - p.removing.len();
                if !allow_rf_change && target.len() != factor {
                    return Err(ControllerError::InvalidReplicationFactor(format!(
                        "The replication factor is changed from {factor} to {}",
                        target.len()
                    )));
                }
                current.towards(target)
            }
        };
        Ok(change_and_clear(image, topic_image, partition, p, &next))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assignment(replicas: &[i32], isr: &[i32]) -> Assignment {
        Assignment {
            replicas: replicas.to_vec(),
            isr: isr.to_vec(),
            adding: Vec::new(),
            removing: Vec::new(),
        }
    }

    #[test]
    fn a_move_lists_the_target_then_the_leaving_replicas_and_completes_once_all_are_in_sync() {
        let moving = assignment(&[1, 2, 3], &[1, 2, 3]).towards(&[6, 4, 5]);
        assert_eq!(moving.replicas, vec![6, 4, 5, 1, 2, 3]);
        assert_eq!(
            (moving.adding.clone(), moving.removing.clone()),
            (vec![4, 5, 6], vec![1, 2, 3])
        );
        let two_in = moving.with_isr(&[1, 2, 3, 4, 6]);
        assert_eq!(two_in.adding, vec![4, 5, 6], "5 is not in sync yet");
        let done = two_in.with_isr(&[1, 2, 3, 4, 6, 5]);
        assert_eq!(
            done,
            Assignment {
                replicas: vec![6, 4, 5],
                isr: vec![4, 6, 5],
                adding: vec![],
                removing: vec![],
            }
        );
    }

    #[test]
    fn reorders_and_shrinks_in_sync_complete_at_once() {
        let reordered = assignment(&[1, 2, 3], &[1, 2, 3]).towards(&[3, 2, 1]);
        assert_eq!(reordered, assignment(&[3, 2, 1], &[1, 2, 3]));
        let shrunk = assignment(&[1, 2, 3], &[1, 2, 3]).towards(&[1, 2]);
        assert_eq!(shrunk, assignment(&[1, 2], &[1, 2]));
        let waiting = assignment(&[1, 2, 3], &[1, 3]).towards(&[1, 2]);
        assert_eq!(waiting.removing, vec![3], "2 must catch up before 3 goes");
    }

    #[test]
    fn a_new_target_supersedes_one_in_flight_and_a_cancel_keeps_the_order() {
        let first = assignment(&[1, 2, 3], &[1, 2, 3]).towards(&[4, 2, 1]);
        assert_eq!(first.replicas, vec![4, 2, 1, 3]);
        let reverted = first.reverted();
        assert_eq!(reverted, assignment(&[2, 1, 3], &[1, 2, 3]));
        let second = first.towards(&[5, 2, 1]);
        assert_eq!(second.replicas, vec![5, 2, 1, 3, 4]);
        assert_eq!((second.adding, second.removing), (vec![5], vec![3, 4]));
    }
}
