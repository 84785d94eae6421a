//! Deterministic simulation of a cluster's replication (issue 12, E2).
//!
//! Three to five brokers replicate one topic. Their partitions are Odradek's
//! own [`Partition`](crate::log::partition::Partition)s on disk, led and
//! followed through the same calls the broker makes (role taking, follower
//! serving, truncation at divergence, ISR proposals, acks=all commit
//! checks), under Odradek's own controller. What is simulated is all the
//! rest: the network (delays that reorder, losses, links cut one way or
//! both), the clock (and each broker's skew), fsync (a crash loses what
//! was not synced, unless the page cache happened to reach the disk), and
//! the nemesis: crashes and restarts, pauses, partitions, clock jumps,
//! controller failovers.
//!
//! One seed drives every choice, so a failing seed replays exactly. The
//! invariants ([`checks`]) are checked all along; after the faults heal,
//! the cluster must settle (liveness) and its logs must agree.

mod broker;
mod checks;
mod client;
mod controller;
mod nemesis;
mod net;
mod rng;
#[cfg(test)]
mod tests;

use broker::SimBroker;
use checks::History;
use client::SimClient;
use controller::SimController;
use net::{Msg, Network, Node};
use rng::Rng;
use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};

pub const TOPIC: &str = "sim";
/// Trace lines kept for a failure's report (`ODRADEK_SIM_TRACE` for more).
const TRACE_LINES: usize = 400;
const SESSION_TIMEOUT_MS: u64 = 3_000;
const CONTROLLER_TICK_MS: i64 = 100;
/// A run that takes more events than this is a runaway, reported as such.
const MAX_EVENTS: u64 = 20_000_000;
const CLIENT_TICK_MS: i64 = 10;
/// Producers, each with a batch in flight per partition: a second one
/// writes on while the first waits on a stopped leader.
const CLIENTS: u8 = 2;

#[derive(Clone, Debug)]
pub struct Settings {
    pub brokers: i32,
    pub partitions: i32,
    pub replication_factor: usize,
    pub min_insync_replicas: i32,
    /// Faults run from 1 s to this time.
    pub fault_ms: i64,
    /// After the faults, how long the cluster has to settle.
    pub settle_ms: i64,
}

impl Settings {
    /// A seed's shape: 3 to 5 brokers, RF 3, min.insync.replicas 2.
    pub fn for_seed(seed: u64, fault_ms: i64) -> Settings {
        Settings {
            brokers: 3 + (seed % 3) as i32,
            partitions: 2,
            replication_factor: 3,
            min_insync_replicas: 2,
            fault_ms,
            settle_ms: 60_000,
        }
    }
}

#[derive(Debug, Default)]
pub struct Summary {
    pub events: u64,
    pub acknowledged: usize,
    pub crashes: u32,
    pub pauses: u32,
    pub partitions: u32,
    pub failovers: u32,
    /// Simulated time from the heal to a settled cluster.
    pub settled_after_ms: i64,
}

#[derive(Debug)]
pub struct Failure {
    pub seed: u64,
    pub at_ms: i64,
    pub violations: Vec<String>,
    pub trace: Vec<String>,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "seed {} failed at {} ms:", self.seed, self.at_ms)?;
        for v in &self.violations {
            writeln!(f, "  {v}")?;
        }
        writeln!(f, "last events:")?;
        for line in &self.trace {
            writeln!(f, "  {line}")?;
        }
        Ok(())
    }
}

/// What every actor may touch while it handles an event.
pub struct Ctx {
    pub now: i64,
    pub rng: Rng,
    pub history: History,
    pub violations: Vec<String>,
    outbox: Vec<(Node, Node, Msg)>,
    next_id: u64,
    trace: VecDeque<String>,
    trace_lines: usize,
}

impl Ctx {
    pub fn send(&mut self, from: Node, to: Node, msg: Msg) {
        self.outbox.push((from, to, msg));
    }

    pub fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    pub fn trace(&mut self, line: String) {
        if self.trace.len() >= self.trace_lines {
            self.trace.pop_front();
        }
        self.trace.push_back(format!("{:>7} {line}", self.now));
    }

    pub fn violation(&mut self, what: String) {
        self.violations.push(what);
    }
}

enum Event {
    Deliver { from: Node, to: Node, msg: Msg },
    Tick(Node),
    Nemesis,
    Restart(i32),
    Resume(Node),
    HealNetwork,
    Heal,
}

struct Scheduled {
    event: Event,
    /// The receiving broker's life it belongs to (0 for other nodes).
    generation: u64,
}

struct World {
    settings: Settings,
    ctx: Ctx,
    queue: BTreeMap<(i64, u64), Scheduled>,
    seq: u64,
    net: Network,
    controller: SimController,
    brokers: BTreeMap<i32, SimBroker>,
    clients: Vec<SimClient>,
    /// Nodes stopped (SIGSTOP) until the given time.
    paused: BTreeMap<Node, i64>,
    /// Events that reached a stopped node, in order, for its resumption.
    stalled: BTreeMap<Node, Vec<Scheduled>>,
    healed: bool,
    summary: Summary,
}

/// Runs one seed in a fresh directory under `root`.
pub fn run(seed: u64, settings: &Settings, root: &Path) -> Result<Summary, Failure> {
    let dir = root.join(format!("seed-{seed}"));
    let _ = std::fs::remove_dir_all(&dir);
    let mut world = World::new(seed, settings.clone(), &dir);
    let outcome = world.run().map_err(|mut failure| {
        failure.seed = seed;
        failure
    });
    if outcome.is_ok() {
        drop(world);
        let _ = std::fs::remove_dir_all(&dir);
    }
    outcome
}

impl World {
    fn new(seed: u64, settings: Settings, dir: &Path) -> World {
        let mut ctx = Ctx {
            now: 0,
            rng: Rng::new(seed),
            history: History::default(),
            violations: Vec::new(),
            outbox: Vec::new(),
            next_id: 0,
            trace: VecDeque::new(),
            trace_lines: std::env::var("ODRADEK_SIM_TRACE")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(TRACE_LINES),
        };
        let ids: Vec<i32> = (1..=settings.brokers).collect();
        let assignments: Vec<Vec<i32>> = (0..settings.partitions)
            .map(|p| {
                (0..settings.replication_factor)
                    .map(|r| ids[(p as usize + r) % ids.len()])
                    .collect()
            })
            .collect();
        let mut controller = SimController::new(SESSION_TIMEOUT_MS);
        controller.bootstrap(&ids, assignments.clone(), &mut ctx);
        let brokers = ids
            .iter()
            .map(|&id| {
                let assigned: Vec<i32> = (0..settings.partitions)
                    .filter(|p| assignments[*p as usize].contains(&id))
                    .collect();
                let epoch = controller.image.brokers.get(&id).map_or(-1, |b| b.epoch);
                let broker = SimBroker::new(
                    id,
                    dir.join(format!("broker-{id}")),
                    assigned,
                    settings.min_insync_replicas,
                    epoch,
                );
                (id, broker)
            })
            .collect();
        let mut world = World {
            clients: (0..CLIENTS)
                .map(|id| SimClient::new(id, settings.partitions))
                .collect(),
            settings,
            ctx,
            queue: BTreeMap::new(),
            seq: 0,
            net: Network::default(),
            controller,
            brokers,
            paused: BTreeMap::new(),
            stalled: BTreeMap::new(),
            healed: false,
            summary: Summary::default(),
        };
        world.schedule(0, Event::Tick(Node::Controller), 0);
        for id in 0..CLIENTS {
            world.schedule(0, Event::Tick(Node::Client(id)), 0);
        }
        for id in ids {
            world.schedule(0, Event::Tick(Node::Broker(id)), 0);
        }
        world.schedule(1_000, Event::Nemesis, 0);
        let heal_at = world.settings.fault_ms;
        world.schedule(heal_at, Event::Heal, 0);
        world
    }

    fn schedule(&mut self, at: i64, event: Event, generation: u64) {
        self.seq += 1;
        self.queue
            .insert((at, self.seq), Scheduled { event, generation });
    }

    fn generation(&self, node: Node) -> u64 {
        match node {
            Node::Broker(id) => self.brokers.get(&id).map_or(0, |b| b.generation),
            _ => 0,
        }
    }

    fn run(&mut self) -> Result<Summary, Failure> {
        let deadline = self.settings.fault_ms + self.settings.settle_ms;
        let mut next_check = 0;
        while let Some(((at, _), scheduled)) = self.queue.pop_first() {
            self.ctx.now = at;
            self.summary.events += 1;
            if self.summary.events > MAX_EVENTS {
                let why = format!("a runaway: {MAX_EVENTS} events by {at} ms");
                self.ctx.violations.push(why);
                return Err(self.failure());
            }
            self.dispatch(scheduled);
            self.flush_outbox();
            if self.ctx.now >= next_check {
                let image = &self.controller.image;
                self.ctx
                    .history
                    .check_replicas(image, &self.brokers, &mut self.ctx.violations);
                next_check = self.ctx.now + 500;
            }
            if !self.ctx.violations.is_empty() {
                return Err(self.failure());
            }
            if self.healed && self.settled() {
                self.summary.settled_after_ms = self.ctx.now - self.settings.fault_ms;
                break;
            }
            if self.ctx.now > deadline {
                let why = format!(
                    "not settled {} ms after the faults healed: {}",
                    self.settings.settle_ms,
                    self.describe()
                );
                self.ctx.violations.push(why);
                return Err(self.failure());
            }
        }
        let image = &self.controller.image;
        self.ctx
            .history
            .check_replicas(image, &self.brokers, &mut self.ctx.violations);
        self.ctx.history.check_settled(
            &self.brokers,
            self.settings.partitions,
            &mut self.ctx.violations,
        );
        if !self.ctx.violations.is_empty() {
            return Err(self.failure());
        }
        self.summary.acknowledged = self.ctx.history.acknowledged_count();
        Ok(std::mem::take(&mut self.summary))
    }

    fn failure(&mut self) -> Failure {
        Failure {
            seed: 0,
            at_ms: self.ctx.now,
            violations: std::mem::take(&mut self.ctx.violations),
            trace: self.ctx.trace.iter().cloned().collect(),
        }
    }

    fn dispatch(&mut self, scheduled: Scheduled) {
        let target = match &scheduled.event {
            Event::Deliver { to, .. } => Some(*to),
            Event::Tick(node) => Some(*node),
            _ => None,
        };
        if let Some(node) = target {
            if scheduled.generation != self.generation(node) {
                return;
            }
            if self.paused.contains_key(&node) {
                self.stalled.entry(node).or_default().push(scheduled);
                return;
            }
            if let Node::Broker(id) = node {
                if !self.brokers.get(&id).is_some_and(|b| b.up) {
                    return;
                }
            }
        }
        match scheduled.event {
            Event::Deliver { from, to, msg } => self.deliver(from, to, msg),
            Event::Tick(node) => self.tick(node, scheduled.generation),
            Event::Nemesis => self.nemesis(),
            Event::Restart(id) => self.restart(id),
            Event::Resume(node) => self.resume(node),
            Event::HealNetwork => self.net.heal(),
            Event::Heal => self.heal(),
        }
    }

    fn deliver(&mut self, from: Node, to: Node, msg: Msg) {
        let ctx = &mut self.ctx;
        match to {
            Node::Controller => self.controller.on_message(from, msg, ctx),
            Node::Client(id) => {
                if let Some(client) = self.clients.get_mut(usize::from(id)) {
                    client.on_message(msg, ctx);
                }
            }
            Node::Broker(id) => {
                if let Some(broker) = self.brokers.get_mut(&id) {
                    broker.on_message(from, msg, ctx);
                }
            }
        }
    }

    fn tick(&mut self, node: Node, generation: u64) {
        let ctx = &mut self.ctx;
        let next = match node {
            Node::Controller => {
                self.controller.tick(ctx);
                CONTROLLER_TICK_MS
            }
            Node::Client(id) => {
                if let Some(client) = self.clients.get_mut(usize::from(id)) {
                    client.tick(ctx);
                }
                CLIENT_TICK_MS
            }
            Node::Broker(id) => {
                if let Some(broker) = self.brokers.get_mut(&id) {
                    broker.tick(ctx);
                }
                ctx.rng.range(3, 9)
            }
        };
        let at = self.ctx.now + next;
        self.schedule(at, Event::Tick(node), generation);
    }

    /// Sends what the handlers wrote, through the network.
    fn flush_outbox(&mut self) {
        for (from, to, msg) in std::mem::take(&mut self.ctx.outbox) {
            let Some(delay) = self.net.delay(from, to, &mut self.ctx.rng) else {
                continue;
            };
            let generation = self.generation(to);
            let at = self.ctx.now + delay;
            self.schedule(at, Event::Deliver { from, to, msg }, generation);
        }
    }

    fn nodes(&self) -> Vec<Node> {
        let mut nodes = vec![Node::Controller];
        nodes.extend((0..CLIENTS).map(Node::Client));
        nodes.extend(self.brokers.keys().map(|id| Node::Broker(*id)));
        nodes
    }

    /// Every batch acknowledged, every partition led with its full ISR,
    /// every replica at the leader's end with the high watermark there.
    fn settled(&self) -> bool {
        if self.unacknowledged() > 0 {
            return false;
        }
        let Some(topic) = self.controller.image.topic(TOPIC) else {
            return false;
        };
        topic.partitions.iter().enumerate().all(|(index, p)| {
            let index = index as i32;
            let Some(leader) = self
                .brokers
                .get(&p.leader)
                .and_then(|b| b.partitions.get(&index))
            else {
                return false;
            };
            let (_, high_watermark, end) = leader.offsets();
            p.isr.len() == p.replicas.len()
                && high_watermark == end
                && p.replicas.iter().all(|r| {
                    self.brokers
                        .get(r)
                        .and_then(|b| b.partitions.get(&index))
                        .is_some_and(|local| local.offsets().2 == end)
                        && self.brokers.get(r).is_some_and(SimBroker::serving)
                })
        })
    }

    fn unacknowledged(&self) -> usize {
        self.clients.iter().map(SimClient::unacknowledged).sum()
    }

    fn describe(&self) -> String {
        let mut out = String::new();
        if let Some(topic) = self.controller.image.topic(TOPIC) {
            for (index, p) in topic.partitions.iter().enumerate() {
                let ends: Vec<(i32, (i64, i64, i64))> = p
                    .replicas
                    .iter()
                    .filter_map(|r| {
                        Some((
                            *r,
                            self.brokers
                                .get(r)?
                                .partitions
                                .get(&(index as i32))?
                                .offsets(),
                        ))
                    })
                    .collect();
                out.push_str(&format!(
                    "[{TOPIC}-{index}: leader {} epoch {} isr {:?}, offsets {ends:?}] ",
                    p.leader, p.leader_epoch, p.isr
                ));
            }
        }
        let fenced: Vec<i32> = self
            .controller
            .image
            .brokers
            .values()
            .filter(|b| b.fenced)
            .map(|b| b.id)
            .collect();
        out.push_str(&format!(
            "fenced {fenced:?}, unacknowledged batches {}",
            self.unacknowledged()
        ));
        out
    }
}

/// Where seeds run (`tag` apart, so runs in parallel never share files):
/// memory-backed if the machine has it.
pub fn scratch_dir(tag: &str) -> PathBuf {
    let shm = Path::new("/dev/shm");
    let base = if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    };
    base.join(format!("odradek-sim-{}-{tag}", std::process::id()))
}
