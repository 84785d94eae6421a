//! Incremental reconciliation of one KIP-848 member towards its target
//! assignment, with the semantics of Kafka's CurrentAssignmentBuilder:
//! partitions leaving the member are revoked first (the member keeps its
//! epoch until it reports them gone); partitions joining it are given only
//! once no other member owns them (assigned or pending revocation).

use super::assignor::Partitions;
use crate::protocol::wire::Uuid;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemberState {
    /// At its epoch's target, or waiting for nothing.
    Stable,
    /// Must revoke `revoking` before it advances.
    UnrevokedPartitions,
    /// Waits for partitions other members still own.
    UnreleasedPartitions,
}

impl MemberState {
    pub fn code(self) -> i8 {
        match self {
            MemberState::Stable => 0,
            MemberState::UnrevokedPartitions => 1,
            MemberState::UnreleasedPartitions => 2,
        }
    }

    pub fn from_code(code: i8) -> MemberState {
        match code {
            1 => MemberState::UnrevokedPartitions,
            2 => MemberState::UnreleasedPartitions,
            _ => MemberState::Stable,
        }
    }
}

/// What a member currently has, as the coordinator tracks it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Current {
    pub epoch: i32,
    pub previous_epoch: i32,
    pub state: MemberState,
    pub assigned: Partitions,
    pub revoking: Partitions,
}

impl Default for Current {
    fn default() -> Self {
        Current::new()
    }
}

impl Current {
    pub fn new() -> Current {
        Current {
            epoch: 0,
            previous_epoch: 0,
            state: MemberState::Stable,
            assigned: Partitions::new(),
            revoking: Partitions::new(),
        }
    }
}

fn intersects(a: &Partitions, b: &Partitions) -> bool {
    a.iter()
        .any(|(t, ps)| b.get(t).is_some_and(|other| !ps.is_disjoint(other)))
}

pub fn contains(partitions: &Partitions, topic: Uuid, partition: i32) -> bool {
    partitions
        .get(&topic)
        .is_some_and(|ps| ps.contains(&partition))
}

/// `a ⊆ b`.
pub fn is_subset(a: &Partitions, b: &Partitions) -> bool {
    a.iter()
        .all(|(t, ps)| ps.is_empty() || b.get(t).is_some_and(|other| ps.is_subset(other)))
}

/// One reconciliation step. `owned_elsewhere` says whether another member
/// owns a partition; `reported` is what the member says it owns (None: it
/// did not say in this heartbeat).
pub fn reconcile(
    current: &Current,
    target_epoch: i32,
    target: &Partitions,
    owned_elsewhere: impl Fn(Uuid, i32) -> bool,
    reported: Option<&Partitions>,
) -> Current {
    match current.state {
        MemberState::Stable if current.epoch == target_epoch => current.clone(),
        MemberState::Stable | MemberState::UnreleasedPartitions => next(
            current,
            current.epoch,
            target_epoch,
            target,
            owned_elsewhere,
            reported,
        ),
        MemberState::UnrevokedPartitions => {
            let still_owned = reported.is_none_or(|r| intersects(r, &current.revoking));
            if still_owned {
                return current.clone();
            }
            let epoch = (current.epoch + 1).min(target_epoch);
            next(
                current,
                epoch,
                target_epoch,
                target,
                owned_elsewhere,
                reported,
            )
        }
    }
}

fn next(
    current: &Current,
    epoch: i32,
    target_epoch: i32,
    target: &Partitions,
    owned_elsewhere: impl Fn(Uuid, i32) -> bool,
    reported: Option<&Partitions>,
) -> Current {
    let mut kept = Partitions::new();
    let mut revoke = Partitions::new();
    for (topic, partitions) in &current.assigned {
        for &p in partitions {
            let side = if contains(target, *topic, p) {
                &mut kept
            } else {
                &mut revoke
            };
            side.entry(*topic).or_default().insert(p);
        }
    }
    let with_epoch = |epoch: i32| {
        if epoch == current.epoch {
            current.previous_epoch
        } else {
            current.epoch
        }
    };
    // Revocation first, unless the member already reports them gone.
    if !revoke.is_empty() && reported.is_none_or(|r| intersects(r, &revoke)) {
        return Current {
            epoch,
            previous_epoch: with_epoch(epoch),
            state: MemberState::UnrevokedPartitions,
            assigned: kept,
            revoking: revoke,
        };
    }
    let mut unreleased = false;
    for (topic, partitions) in target {
        for &p in partitions {
            if contains(&kept, *topic, p) {
                continue;
            }
            if owned_elsewhere(*topic, p) {
                unreleased = true;
            } else {
                kept.entry(*topic).or_default().insert(p);
            }
        }
    }
    Current {
        epoch: target_epoch,
        previous_epoch: with_epoch(target_epoch),
        state: if unreleased {
            MemberState::UnreleasedPartitions
        } else {
            MemberState::Stable
        },
        assigned: kept,
        revoking: Partitions::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    const T: Uuid = Uuid([7; 16]);

    fn parts(ps: &[i32]) -> Partitions {
        if ps.is_empty() {
            return Partitions::new();
        }
        [(T, ps.iter().copied().collect::<BTreeSet<i32>>())].into()
    }

    fn member(epoch: i32, state: MemberState, assigned: &[i32], revoking: &[i32]) -> Current {
        Current {
            epoch,
            previous_epoch: epoch - 1,
            state,
            assigned: parts(assigned),
            revoking: parts(revoking),
        }
    }

    #[test]
    fn a_new_member_gets_only_free_partitions_then_the_rest_when_released() {
        let new = Current::new();
        // Target 3,4,5 at epoch 2; 5 is still owned by someone else.
        let step = reconcile(
            &new,
            2,
            &parts(&[3, 4, 5]),
            |_, p| p == 5,
            Some(&Partitions::new()),
        );
        assert_eq!(step.epoch, 2);
        assert_eq!(step.state, MemberState::UnreleasedPartitions);
        assert_eq!(step.assigned, parts(&[3, 4]));
        // Still owned: nothing changes.
        assert_eq!(
            reconcile(&step, 2, &parts(&[3, 4, 5]), |_, p| p == 5, None),
            step
        );
        // Released: the member gets it and is stable.
        let done = reconcile(&step, 2, &parts(&[3, 4, 5]), |_, _| false, None);
        assert_eq!(done.state, MemberState::Stable);
        assert_eq!(done.assigned, parts(&[3, 4, 5]));
    }

    #[test]
    fn revocation_comes_first_and_keeps_the_epoch_until_acknowledged() {
        let owner = member(1, MemberState::Stable, &[0, 1, 2, 3, 4, 5], &[]);
        let target = parts(&[0, 1, 2]);
        let step = reconcile(
            &owner,
            2,
            &target,
            |_, _| false,
            Some(&parts(&[0, 1, 2, 3, 4, 5])),
        );
        assert_eq!(step.state, MemberState::UnrevokedPartitions);
        assert_eq!(step.epoch, 1, "no new epoch before revoking");
        assert_eq!(step.assigned, parts(&[0, 1, 2]));
        assert_eq!(step.revoking, parts(&[3, 4, 5]));
        // Still reports 3: stays.
        assert_eq!(
            reconcile(&step, 2, &target, |_, _| false, Some(&parts(&[0, 1, 2, 3]))),
            step
        );
        // A heartbeat without owned partitions does not count as revoking.
        assert_eq!(reconcile(&step, 2, &target, |_, _| false, None), step);
        // Revoked: advances to the target epoch.
        let done = reconcile(&step, 2, &target, |_, _| false, Some(&parts(&[0, 1, 2])));
        assert_eq!(
            (done.epoch, done.previous_epoch, done.state),
            (2, 1, MemberState::Stable)
        );
        assert_eq!(done.assigned, parts(&[0, 1, 2]));
        assert!(done.revoking.is_empty());
    }

    #[test]
    fn a_stable_member_at_the_target_epoch_is_left_alone() {
        let m = member(3, MemberState::Stable, &[1], &[]);
        assert_eq!(reconcile(&m, 3, &parts(&[1, 2]), |_, _| false, None), m);
    }

    #[test]
    fn subset_and_membership_helpers() {
        assert!(is_subset(&parts(&[1]), &parts(&[1, 2])));
        assert!(!is_subset(&parts(&[3]), &parts(&[1, 2])));
        assert!(is_subset(&Partitions::new(), &Partitions::new()));
        assert!(contains(&parts(&[1]), T, 1) && !contains(&parts(&[1]), T, 2));
    }
}
