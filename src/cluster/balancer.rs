//! The balancer's planner: from what the cluster holds (brokers and racks,
//! each partition's replicas, measured sizes and rates) to a bounded list
//! of replica moves, each one a reassignment. Free of I/O and
//! deterministic: the same view and goals give the same plan on every
//! controller and in the CLI.
//!
//! Hard goals come first, and a plan that cannot meet one moves nothing
//! and says which goal and why:
//! - every replica leaves the brokers being drained and the brokers gone
//!   too long (re-replication);
//! - a partition's replicas span as many racks as the usable brokers
//!   offer, up to its replication factor (a broker without a rack is a
//!   rack of its own, as in placement);
//! - no broker's replicas fill more than `max_disk_fraction` of its disk.
//!
//! Then soft goals, one move at a time, each the move that lowers the
//! imbalance most: the spread of replica counts, preferred-leader counts,
//! bytes on disk, bytes in and bytes out per broker. Each is a sum of
//! squared distances from the brokers' mean, in units of an average
//! replica, so a move helps exactly when it takes load from a broker
//! holding more than one unit above the receiving broker (by a margin,
//! so small drifts of traffic move nothing). Moves stop when none helps:
//! a balanced cluster gets an empty plan.

use std::collections::{BTreeMap, BTreeSet};

#[derive(Clone, Debug, PartialEq)]
pub struct BrokerView {
    pub id: i32,
    pub rack: Option<String>,
    /// Registered, unfenced and not shutting down: it may receive replicas.
    pub usable: bool,
    /// The size of its log directory's disk, when known.
    pub capacity_bytes: Option<u64>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct PartitionView {
    pub topic: String,
    pub partition: i32,
    /// In order: the first is the preferred leader.
    pub replicas: Vec<i32>,
    /// One replica's bytes on disk.
    pub size_bytes: u64,
    /// Bytes per second produced into it (every replica takes them in).
    pub bytes_in: f64,
    /// Bytes per second its leader serves to consumers.
    pub bytes_out: f64,
    /// Brokers joining or leaving it in a reassignment under way: a
    /// partition being moved is left alone, and its brokers' moves count
    /// against their bound.
    pub moving: Vec<i32>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct View {
    pub brokers: BTreeMap<i32, BrokerView>,
    pub partitions: Vec<PartitionView>,
}

impl View {
    /// Brokers that hold replicas but are not among `brokers` (down, or
    /// no longer registered): known, and unusable as homes.
    pub fn add_unlisted_brokers(&mut self) {
        for p in &self.partitions {
            for r in &p.replicas {
                self.brokers.entry(*r).or_insert(BrokerView {
                    id: *r,
                    rack: None,
                    usable: false,
                    capacity_bytes: None,
                });
            }
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Goals {
    /// Brokers to empty before they are stopped.
    pub drain: BTreeSet<i32>,
    /// Brokers gone longer than the set time: their replicas are copied
    /// anew elsewhere.
    pub gone: BTreeSet<i32>,
    /// The highest share of a broker's disk its replicas may fill.
    pub max_disk_fraction: f64,
    pub max_moves: usize,
    /// Moves a broker joins (receiving or giving up a replica) at once,
    /// those under way included.
    pub max_moves_per_broker: usize,
}

impl Default for Goals {
    fn default() -> Goals {
        Goals {
            drain: BTreeSet::new(),
            gone: BTreeSet::new(),
            max_disk_fraction: 0.85,
            max_moves: 64,
            max_moves_per_broker: 2,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Reason {
    Drain,
    ReReplicate,
    RackSpread,
    Disk,
    Balance,
    /// The same replicas, another preferred leader: no data moves.
    Leader,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Move {
    pub topic: String,
    pub partition: i32,
    pub from: Vec<i32>,
    pub to: Vec<i32>,
    pub reason: Reason,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Plan {
    pub moves: Vec<Move>,
    /// Moves a hard goal needs that the bounds held back for a later plan.
    pub deferred: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HardGoal {
    Drain,
    ReReplicate,
    Disk,
}

/// Why a plan cannot meet a hard goal.
#[derive(Clone, Debug, PartialEq)]
pub struct Unsatisfiable {
    pub goal: HardGoal,
    pub why: String,
}

impl std::fmt::Display for Unsatisfiable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let goal = match self.goal {
            HardGoal::Drain => "drain",
            HardGoal::ReReplicate => "re-replication",
            HardGoal::Disk => "disk limit",
        };
        write!(f, "cannot meet the {goal} goal: {}", self.why)
    }
}

/// Below this, a change of imbalance is rounding, not a reason to move.
const EPSILON: f64 = 1e-6;

/// The least a soft move must lower the imbalance by (in squared units
/// of an average replica). Moving a replica or a leader between brokers
/// two apart lowers it by 2; this keeps the balancer from chasing small
/// drifts of bytes and rates back and forth as traffic changes.
const MIN_GAIN: f64 = 0.5;

pub fn plan(view: &View, goals: &Goals) -> Result<Plan, Unsatisfiable> {
    let mut planner = Planner::new(view, goals);
    planner.check_homes()?;
    planner.evict()?;
    planner.spread_racks();
    planner.relieve_disks()?;
    planner.balance();
    Ok(Plan {
        moves: planner.moves,
        deferred: planner.deferred,
    })
}

/// One dimension of load, per broker, in units of an average replica (or
/// leader) so that the dimensions weigh alike.
#[derive(Clone, Copy, Debug)]
enum Term {
    Replicas,
    Leaders,
    Disk,
    BytesIn,
    BytesOut,
}

const TERMS: [Term; 5] = [
    Term::Replicas,
    Term::Leaders,
    Term::Disk,
    Term::BytesIn,
    Term::BytesOut,
];

struct Planner<'a> {
    view: &'a View,
    goals: &'a Goals,
    /// The replicas of each partition as the plan leaves them.
    replicas: Vec<Vec<i32>>,
    /// Partitions a move of this plan (or one under way) already touches.
    frozen: Vec<bool>,
    /// Per term, per broker that takes part in balancing: its load.
    load: [BTreeMap<i32, f64>; 5],
    /// Per term, the size of one unit (0: the term is off).
    unit: [f64; 5],
    disk_used: BTreeMap<i32, u64>,
    busy: BTreeMap<i32, usize>,
    /// Brokers that may receive replicas (usable, neither drained nor
    /// gone), and how many racks they span: fixed for a plan.
    eligible: Vec<i32>,
    eligible_racks: usize,
    moves: Vec<Move>,
    deferred: usize,
}

impl<'a> Planner<'a> {
    fn new(view: &'a View, goals: &'a Goals) -> Planner<'a> {
        let replicas: Vec<Vec<i32>> = view.partitions.iter().map(|p| p.replicas.clone()).collect();
        let frozen = view
            .partitions
            .iter()
            .map(|p| !p.moving.is_empty())
            .collect();
        let mut busy = BTreeMap::new();
        let mut disk_used = BTreeMap::new();
        for p in &view.partitions {
            for b in &p.moving {
                *busy.entry(*b).or_default() += 1;
            }
            for r in &p.replicas {
                *disk_used.entry(*r).or_default() += p.size_bytes;
            }
        }
        let mut planner = Planner {
            view,
            goals,
            replicas,
            frozen,
            load: Default::default(),
            unit: [0.0; 5],
            disk_used,
            busy,
            moves: Vec::new(),
            deferred: 0,
            eligible: Vec::new(),
            eligible_racks: 0,
        };
        planner.eligible = view
            .brokers
            .keys()
            .copied()
            .filter(|b| planner.eligible(*b))
            .collect();
        planner.eligible_racks = planner
            .eligible
            .iter()
            .map(|b| planner.rack(*b))
            .collect::<BTreeSet<_>>()
            .len();
        planner.measure();
        planner
    }

    fn eligible(&self, broker: i32) -> bool {
        self.view.brokers.get(&broker).is_some_and(|b| b.usable)
            && !self.goals.drain.contains(&broker)
            && !self.goals.gone.contains(&broker)
    }

    fn evicted(&self, broker: i32) -> bool {
        self.goals.drain.contains(&broker) || self.goals.gone.contains(&broker)
    }

    fn eligible_brokers(&self) -> Vec<i32> {
        self.eligible.clone()
    }

    fn rack(&self, broker: i32) -> String {
        match self.view.brokers.get(&broker).and_then(|b| b.rack.clone()) {
            Some(rack) => rack,
            None => format!("\u{0}broker-{broker}"),
        }
    }

    fn racks_of(&self, replicas: &[i32]) -> usize {
        replicas
            .iter()
            .map(|r| self.rack(*r))
            .collect::<BTreeSet<_>>()
            .len()
    }

    fn disk_limit(&self, broker: i32) -> Option<u64> {
        let capacity = self.view.brokers.get(&broker)?.capacity_bytes?;
        Some((capacity as f64 * self.goals.max_disk_fraction) as u64)
    }

    fn has_room(&self, broker: i32, bytes: u64) -> bool {
        let used = self.disk_used.get(&broker).copied().unwrap_or(0);
        self.disk_limit(broker)
            .is_none_or(|limit| used.saturating_add(bytes) <= limit)
    }

    fn free(&self, broker: i32) -> bool {
        self.busy.get(&broker).copied().unwrap_or(0) < self.goals.max_moves_per_broker
    }

    fn weight(&self, term: Term, p: &PartitionView, leader: bool) -> f64 {
        let unit = self.unit[term as usize];
        if unit <= 0.0 {
            return 0.0;
        }
        let raw = match term {
            Term::Replicas => 1.0,
            Term::Leaders => f64::from(u8::from(leader)),
            Term::Disk => p.size_bytes as f64,
            Term::BytesIn => p.bytes_in,
            Term::BytesOut if leader => p.bytes_out,
            Term::BytesOut => 0.0,
        };
        raw / unit
    }

    /// Loads of the balancing brokers, and each term's unit: the mean per
    /// replica (per leader for the leaders' terms).
    fn measure(&mut self) {
        let brokers = self.eligible_brokers();
        for load in &mut self.load {
            *load = brokers.iter().map(|b| (*b, 0.0)).collect();
        }
        let (mut replicas, mut leaders) = (0.0, 0.0);
        let mut totals = [0.0; 5];
        for p in &self.view.partitions {
            replicas += p.replicas.len() as f64;
            leaders += 1.0;
            totals[Term::Disk as usize] += p.size_bytes as f64 * p.replicas.len() as f64;
            totals[Term::BytesIn as usize] += p.bytes_in * p.replicas.len() as f64;
            totals[Term::BytesOut as usize] += p.bytes_out;
        }
        let per = |total: f64, count: f64| {
            if total > 0.0 && count > 0.0 {
                total / count
            } else {
                0.0
            }
        };
        self.unit = [
            f64::from(u8::from(replicas > 0.0)),
            f64::from(u8::from(leaders > 0.0)),
            per(totals[Term::Disk as usize], replicas),
            per(totals[Term::BytesIn as usize], replicas),
            per(totals[Term::BytesOut as usize], leaders),
        ];
        for (index, p) in self.view.partitions.iter().enumerate() {
            for (position, r) in self.replicas[index].iter().enumerate() {
                for term in TERMS {
                    let w = self.weight(term, p, position == 0);
                    if let Some(x) = self.load[term as usize].get_mut(r) {
                        *x += w;
                    }
                }
            }
        }
    }

    /// The change of imbalance if `index`'s replica at `position` moved
    /// from `from` to `to` (a broker outside the balancing ones counts as
    /// a sink or source with no load of its own).
    fn delta(&self, index: usize, position: usize, from: i32, to: i32) -> f64 {
        let p = &self.view.partitions[index];
        TERMS
            .iter()
            .map(|term| {
                let w = self.weight(*term, p, position == 0);
                self.shift(*term, from, to, w)
            })
            .sum()
    }

    /// The change of Σ(x - mean)² when `w` goes from `from` to `to`: the
    /// mean cancels, leaving 2w(x_to - x_from + w) for two balancing
    /// brokers, and the one-sided halves otherwise.
    fn shift(&self, term: Term, from: i32, to: i32, w: f64) -> f64 {
        if w == 0.0 {
            return 0.0;
        }
        let load = &self.load[term as usize];
        let out = load.get(&from).map_or(0.0, |x| w * w - 2.0 * w * x);
        let into = load.get(&to).map_or(0.0, |x| 2.0 * w * x + w * w);
        out + into
    }

    /// The change of imbalance if `index`'s preferred leader became the
    /// replica at `position`.
    fn leader_delta(&self, index: usize, position: usize) -> f64 {
        let p = &self.view.partitions[index];
        let (from, to) = (self.replicas[index][0], self.replicas[index][position]);
        [Term::Leaders, Term::BytesOut]
            .iter()
            .map(|term| {
                let lead = self.weight(*term, p, true) - self.weight(*term, p, false);
                self.shift(*term, from, to, lead)
            })
            .sum()
    }

    fn apply(&mut self, index: usize, to: Vec<i32>, reason: Reason) {
        let p = &self.view.partitions[index];
        let from = self.replicas[index].clone();
        for (position, r) in from.iter().enumerate() {
            for term in TERMS {
                let w = self.weight(term, p, position == 0);
                if let Some(x) = self.load[term as usize].get_mut(r) {
                    *x -= w;
                }
            }
        }
        for (position, r) in to.iter().enumerate() {
            for term in TERMS {
                let w = self.weight(term, p, position == 0);
                if let Some(x) = self.load[term as usize].get_mut(r) {
                    *x += w;
                }
            }
        }
        for r in from.iter().filter(|r| !to.contains(r)) {
            *self.busy.entry(*r).or_default() += 1;
            if let Some(used) = self.disk_used.get_mut(r) {
                *used = used.saturating_sub(p.size_bytes);
            }
        }
        for r in to.iter().filter(|r| !from.contains(r)) {
            *self.busy.entry(*r).or_default() += 1;
            *self.disk_used.entry(*r).or_default() += p.size_bytes;
        }
        self.frozen[index] = true;
        self.replicas[index] = to.clone();
        self.moves.push(Move {
            topic: p.topic.clone(),
            partition: p.partition,
            from,
            to,
            reason,
        });
    }

    fn room_for_a_move(&self) -> bool {
        self.moves.len() < self.goals.max_moves
    }

    /// Every partition with replicas on evicted brokers has enough
    /// eligible brokers to take them.
    fn check_homes(&self) -> Result<(), Unsatisfiable> {
        let eligible = self.eligible_brokers();
        for (index, p) in self.view.partitions.iter().enumerate() {
            let leaving: Vec<i32> = self.replicas[index]
                .iter()
                .copied()
                .filter(|r| self.evicted(*r))
                .collect();
            let Some(first) = leaving.first() else {
                continue;
            };
            let homes = eligible
                .iter()
                .filter(|b| !self.replicas[index].contains(b))
                .count();
            if homes < leaving.len() {
                let goal = if self.goals.drain.contains(first) {
                    HardGoal::Drain
                } else {
                    HardGoal::ReReplicate
                };
                return Err(Unsatisfiable {
                    goal,
                    why: format!(
                        "{}-{} has {} replicas; {} must leave brokers {:?}, and only {} usable broker(s) hold none of it",
                        p.topic,
                        p.partition,
                        p.replicas.len(),
                        leaving.len(),
                        leaving,
                        homes
                    ),
                });
            }
        }
        Ok(())
    }

    /// The best eligible broker to hold `index`'s replica at `position`
    /// instead of `from`: outside the partition, with disk room (and a
    /// free move slot, if `bounded`), in a rack the others do not use when
    /// one is left, then the one that lowers the imbalance most.
    fn best_home(
        &self,
        index: usize,
        position: usize,
        from: i32,
        rest: &[i32],
        bounded: bool,
    ) -> Option<i32> {
        let size = self.view.partitions[index].size_bytes;
        let taken: BTreeSet<String> = rest.iter().map(|r| self.rack(*r)).collect();
        self.eligible_brokers()
            .into_iter()
            .filter(|b| !rest.contains(b) && *b != from)
            .filter(|b| self.has_room(*b, size) && (!bounded || self.free(*b)))
            .map(|b| {
                let new_rack = !taken.contains(&self.rack(b));
                (b, new_rack, self.delta(index, position, from, b))
            })
            .min_by(|a, b| {
                (!a.1, a.2)
                    .partial_cmp(&(!b.1, b.2))
                    .unwrap_or(std::cmp::Ordering::Equal)
            })
            .map(|(b, _, _)| b)
    }

    /// Replicas off the drained and gone brokers.
    fn evict(&mut self) -> Result<(), Unsatisfiable> {
        for index in 0..self.view.partitions.len() {
            if self.frozen[index] || !self.replicas[index].iter().any(|r| self.evicted(*r)) {
                continue;
            }
            let (reason, goal) = if self.replicas[index]
                .iter()
                .any(|r| self.goals.drain.contains(r))
            {
                (Reason::Drain, HardGoal::Drain)
            } else {
                (Reason::ReReplicate, HardGoal::ReReplicate)
            };
            let leaves = |planner: &Planner, r: i32| planner.evicted(r);
            match self.replaced(index, leaves, true) {
                Some(to) if self.room_for_a_move() && self.sender_free(index, &to) => {
                    self.apply(index, to, reason)
                }
                _ if self.replaced(index, leaves, false).is_some() => self.deferred += 1,
                _ => {
                    let p = &self.view.partitions[index];
                    return Err(Unsatisfiable {
                        goal,
                        why: format!(
                            "no usable broker has room under the disk limit for a replica of {}-{} ({} bytes)",
                            p.topic, p.partition, p.size_bytes
                        ),
                    });
                }
            }
        }
        Ok(())
    }

    /// Whether the brokers giving up replicas of `index` have a free slot
    /// (an evicted or dead broker sends nothing: it is not counted).
    fn sender_free(&self, index: usize, to: &[i32]) -> bool {
        self.replicas[index]
            .iter()
            .filter(|r| !to.contains(r) && self.eligible(**r))
            .all(|r| self.free(*r))
    }

    /// `index`'s replicas with each one `leaves` picks replaced by its best
    /// home, if every one has a home.
    fn replaced(
        &self,
        index: usize,
        leaves: impl Fn(&Planner, i32) -> bool,
        bounded: bool,
    ) -> Option<Vec<i32>> {
        let mut to = self.replicas[index].clone();
        for position in 0..to.len() {
            let from = to[position];
            if !leaves(self, from) {
                continue;
            }
            let rest: Vec<i32> = to.iter().copied().filter(|r| *r != from).collect();
            to[position] = self.best_home(index, position, from, &rest, bounded)?;
        }
        Some(to)
    }

    /// How many racks `index`'s replicas should span: its replication
    /// factor, or every rack the eligible brokers offer if fewer.
    fn racks_wanted(&self, index: usize) -> usize {
        self.replicas[index].len().min(self.eligible_racks)
    }

    /// Partitions crowded into too few racks get a replica moved from a
    /// shared rack to an unused one.
    fn spread_racks(&mut self) {
        for index in 0..self.view.partitions.len() {
            if self.frozen[index] || !self.room_for_a_move() {
                continue;
            }
            let current = self.replicas[index].clone();
            if self.racks_of(&current) >= self.racks_wanted(index) {
                continue;
            }
            let candidate = (0..current.len()).rev().find_map(|position| {
                let from = current[position];
                let shares = current
                    .iter()
                    .any(|r| *r != from && self.rack(*r) == self.rack(from));
                if !shares || !self.eligible(from) || !self.free(from) {
                    return None;
                }
                let rest: Vec<i32> = current.iter().copied().filter(|r| *r != from).collect();
                let home = self.best_home(index, position, from, &rest, true)?;
                let mut to = current.clone();
                to[position] = home;
                (self.racks_of(&to) > self.racks_of(&current)).then_some(to)
            });
            if let Some(to) = candidate {
                self.apply(index, to, Reason::RackSpread);
            }
        }
    }

    /// Brokers over their disk limit give up replicas, largest first, to
    /// brokers with room, until under it.
    fn relieve_disks(&mut self) -> Result<(), Unsatisfiable> {
        for broker in self.view.brokers.keys().copied().collect::<Vec<_>>() {
            let Some(limit) = self.disk_limit(broker) else {
                continue;
            };
            let mut order: Vec<usize> = (0..self.view.partitions.len())
                .filter(|i| !self.frozen[*i] && self.replicas[*i].contains(&broker))
                .collect();
            order.sort_by_key(|i| std::cmp::Reverse(self.view.partitions[*i].size_bytes));
            let mut held_back = false;
            for index in order {
                if self.disk_used.get(&broker).copied().unwrap_or(0) <= limit {
                    break;
                }
                if !self.room_for_a_move() || !self.free(broker) {
                    self.deferred += 1;
                    held_back = true;
                    break;
                }
                match self.replaced(index, |_, r| r == broker, true) {
                    Some(to) if self.racks_of(&to) >= self.racks_of(&self.replicas[index]) => {
                        self.apply(index, to, Reason::Disk)
                    }
                    None if self.replaced(index, |_, r| r == broker, false).is_some() => {
                        self.deferred += 1;
                        held_back = true;
                    }
                    _ => {}
                }
            }
            let used = self.disk_used.get(&broker).copied().unwrap_or(0);
            if used > limit && !held_back {
                return Err(Unsatisfiable {
                    goal: HardGoal::Disk,
                    why: format!(
                        "broker {broker} holds {used} bytes, over its limit of {limit} ({:.0}% of its disk), and no broker has room for its replicas",
                        self.goals.max_disk_fraction * 100.0
                    ),
                });
            }
        }
        Ok(())
    }

    /// The soft goals: the single move that lowers the imbalance most,
    /// again and again, while one does and the bounds allow.
    fn balance(&mut self) {
        while self.room_for_a_move() {
            let Some((index, to, reason)) = self.best_move() else {
                return;
            };
            self.apply(index, to, reason);
        }
    }

    fn best_move(&self) -> Option<(usize, Vec<i32>, Reason)> {
        let mut best: Option<(f64, usize, Vec<i32>, Reason)> = None;
        let mut consider = |gain: f64, index: usize, to: Vec<i32>, reason: Reason| {
            if gain <= -MIN_GAIN && best.as_ref().is_none_or(|b| gain < b.0 - EPSILON) {
                best = Some((gain, index, to, reason));
            }
        };
        let eligible = self.eligible_brokers();
        for index in 0..self.view.partitions.len() {
            if self.frozen[index] {
                continue;
            }
            let current = &self.replicas[index];
            let racks = self.racks_of(current);
            let size = self.view.partitions[index].size_bytes;
            for (position, from) in current.iter().copied().enumerate() {
                if !self.eligible(from) {
                    continue;
                }
                if position > 0 && self.eligible(current[0]) {
                    let mut to = current.clone();
                    to.swap(0, position);
                    consider(
                        self.leader_delta(index, position),
                        index,
                        to,
                        Reason::Leader,
                    );
                }
                if !self.free(from) {
                    continue;
                }
                for to_broker in eligible.iter().copied() {
                    if current.contains(&to_broker)
                        || !self.free(to_broker)
                        || !self.has_room(to_broker, size)
                    {
                        continue;
                    }
                    let mut to = current.clone();
                    to[position] = to_broker;
                    if self.racks_of(&to) < racks {
                        continue;
                    }
                    consider(
                        self.delta(index, position, from, to_broker),
                        index,
                        to,
                        Reason::Balance,
                    );
                }
            }
        }
        best.map(|(_, index, to, reason)| (index, to, reason))
    }
}

#[cfg(test)]
#[path = "balancer_tests.rs"]
mod tests;
