//! A broker in the simulation: real [`Partition`]s on disk, driven as the
//! real broker drives them (the same role taking, the same follower
//! serving, the same ISR proposals), with the network, the clock and
//! fsync simulated. A crash loses what was not fsynced (or, by chance, the
//! page cache reached the disk and nothing is lost).

use super::controller::LISTENER;
use super::net::{
    FetchAnswer, FetchRequest, Msg, Node, PartitionAnswer, ProduceAnswer, ProduceRequest,
};
use super::{Ctx, TOPIC};
use crate::cluster::controller::{Heartbeat, IsrChange};
use crate::cluster::fetcher::assignments;
use crate::cluster::image::MetadataImage;
use crate::cluster::isr::{preferred_elsewhere, wanted_isr};
use crate::cluster::replicas::take_role;
use crate::config::log_config::LogConfig;
use crate::handlers::check_leader_epoch;
use crate::log::partition::{FollowerFetch, FollowerRead, FollowerReadError, Oversize, Partition};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

mod follower;
mod leader;

pub const HEARTBEAT_MS: i64 = 500;
pub const LAG_MAX_MS: i64 = 5_000;
const ISR_CHECK_MS: i64 = 250;
const CHECKPOINT_MS: i64 = 1_000;
const REBALANCE_MS: i64 = 5_000;
const METADATA_MS: i64 = 100;
/// A request unanswered this long is taken as lost.
const REQUEST_TIMEOUT_MS: i64 = 1_000;
/// acks=all waits this long for the in-sync replicas.
const PRODUCE_TIMEOUT_MS: i64 = 2_000;
const FETCH_MAX_BYTES: usize = 16 << 10;

enum Fetching {
    Idle {
        not_before: i64,
    },
    InFlight {
        id: u64,
        sent: i64,
    },
    /// Appended; the leader's high watermarks apply, and the next fetch
    /// goes, once the appends are on disk.
    AwaitingSync {
        high_watermarks: Vec<(i32, i64)>,
    },
}

struct WaitingProduce {
    id: u64,
    client: Node,
    partition: i32,
    wanted: i64,
    epoch: i32,
    base_offset: i64,
    deadline: i64,
}

#[derive(Default)]
struct Due {
    register: i64,
    metadata: i64,
    heartbeat: i64,
    fsync: i64,
    isr: i64,
    checkpoint: i64,
    rebalance: i64,
}

pub struct SimBroker {
    pub id: i32,
    dir: PathBuf,
    /// Bumped by each crash: timers and messages of an earlier life are void.
    pub generation: u64,
    pub up: bool,
    incarnation: u8,
    /// This broker's clock minus the world's.
    pub skew_ms: i64,
    broker_epoch: Option<i64>,
    /// Registered and unfenced once in this life: as the node's join, only
    /// then does it take roles from the image and serve (a restarted
    /// broker must not lead from an image that predates its registration).
    joined: bool,
    image: Option<Arc<MetadataImage>>,
    /// The local logs; a crashed broker's stay, as its disk holds them.
    pub partitions: BTreeMap<i32, Arc<Partition>>,
    /// The high-watermark checkpoint, on disk.
    checkpoint: BTreeMap<i32, i64>,
    fetchers: BTreeMap<i32, Fetching>,
    waiting: Vec<WaitingProduce>,
    /// AlterPartition in flight, per partition: until the image passes
    /// the offset it was decided at (None: not answered yet), and when sent.
    isr_in_flight: BTreeMap<i32, (Option<i64>, i64)>,
    due: Due,
    /// The partitions this broker replicates.
    assigned: Vec<i32>,
    config: LogConfig,
}

impl SimBroker {
    pub fn new(
        id: i32,
        dir: PathBuf,
        assigned: Vec<i32>,
        min_insync: i32,
        broker_epoch: i64,
    ) -> SimBroker {
        let config = LogConfig {
            min_insync_replicas: min_insync,
            ..LogConfig::default()
        };
        let mut broker = SimBroker {
            id,
            dir,
            generation: 0,
            up: true,
            incarnation: 0,
            skew_ms: 0,
            broker_epoch: Some(broker_epoch),
            joined: true,
            image: None,
            partitions: BTreeMap::new(),
            checkpoint: BTreeMap::new(),
            fetchers: BTreeMap::new(),
            waiting: Vec::new(),
            isr_in_flight: BTreeMap::new(),
            due: Due::default(),
            assigned,
            config,
        };
        broker.open_partitions(0);
        broker
    }

    /// One clock for both of a real broker's: the wall clock (timestamps)
    /// and `log::steady_ms` (timers), which never jumps. Jumping the timers
    /// too is the harder case.
    fn local_now(&self, ctx: &Ctx) -> i64 {
        ctx.now + self.skew_ms
    }

    fn open_partitions(&mut self, now: i64) {
        for &index in &self.assigned {
            let dir = self.dir.join(format!("{TOPIC}-{index}"));
            match Partition::open(dir, TOPIC, index, self.config.clone(), now) {
                Ok((partition, _)) => {
                    partition.restore_high_watermark(self.checkpoint.get(&index).copied());
                    self.partitions.insert(index, Arc::new(partition));
                }
                Err(e) => panic!("broker {} cannot open {TOPIC}-{index}: {e}", self.id),
            }
        }
    }

    /// kill -9: what the page cache held is lost unless `keep_unsynced`.
    pub fn crash(&mut self, keep_unsynced: bool, ctx: &mut Ctx) {
        let now = self.local_now(ctx);
        for (index, partition) in &self.partitions {
            let (_, _, end) = partition.offsets();
            let durable = partition.fetch_position().log_end_offset;
            if !keep_unsynced && durable < end {
                if let Err(e) = partition.truncate_to(durable, now) {
                    ctx.violation(format!("losing broker {}'s unsynced tail: {e}", self.id));
                }
                ctx.trace(format!(
                    "broker {} crashed: {TOPIC}-{index} loses {durable}..{end}",
                    self.id
                ));
            }
        }
        self.up = false;
        self.generation += 1;
        self.broker_epoch = None;
        self.joined = false;
        self.image = None;
        self.fetchers.clear();
        self.waiting.clear();
        self.isr_in_flight.clear();
    }

    pub fn restart(&mut self, ctx: &mut Ctx) {
        self.partitions.clear();
        let now = self.local_now(ctx);
        self.open_partitions(now);
        self.up = true;
        self.incarnation = self.incarnation.wrapping_add(1);
        self.due = Due::default();
        ctx.trace(format!("broker {} restarted", self.id));
    }

    pub fn tick(&mut self, ctx: &mut Ctx) {
        let now = ctx.now;
        let me = Node::Broker(self.id);
        if self.broker_epoch.is_none() && now >= self.due.register {
            let register = Msg::Register {
                broker: self.id,
                incarnation: self.incarnation,
            };
            ctx.send(me, Node::Controller, register);
            self.due.register = now + 500;
        }
        if now >= self.due.metadata {
            let have = self.image.as_ref().map_or(-1, |i| i.offset);
            ctx.send(me, Node::Controller, Msg::PullMetadata { have });
            self.due.metadata = now + METADATA_MS;
        }
        if let (Some(broker_epoch), true) = (self.broker_epoch, now >= self.due.heartbeat) {
            let heartbeat = Heartbeat {
                broker_id: self.id,
                broker_epoch,
                applied_offset: self.image.as_ref().map_or(-1, |i| i.offset),
                want_shut_down: false,
                load: None,
            };
            ctx.send(me, Node::Controller, Msg::Heartbeat(heartbeat));
            self.due.heartbeat = now + HEARTBEAT_MS;
        }
        if now >= self.due.fsync {
            self.fsync(ctx);
            self.due.fsync = now + ctx.rng.range(2, 20);
        }
        if !self.joined {
            return;
        }
        self.fetch(ctx);
        if now >= self.due.isr {
            self.propose_isr_changes(ctx);
            self.due.isr = now + ISR_CHECK_MS;
        }
        if now >= self.due.checkpoint {
            for (index, partition) in &self.partitions {
                self.checkpoint.insert(*index, partition.offsets().1);
            }
            self.due.checkpoint = now + CHECKPOINT_MS;
        }
        if now >= self.due.rebalance {
            self.take_back_leadership(ctx);
            self.due.rebalance = now + REBALANCE_MS;
        }
        self.answer_waiting(ctx);
    }

    /// One group-commit round: everything written so far is on disk.
    fn fsync(&mut self, ctx: &mut Ctx) {
        for partition in self.partitions.values() {
            partition.mark_durable(partition.offsets().2);
        }
        for state in self.fetchers.values_mut() {
            if let Fetching::AwaitingSync { high_watermarks } = state {
                for (index, high_watermark) in high_watermarks.drain(..) {
                    if let Some(partition) = self.partitions.get(&index) {
                        partition.set_leader_high_watermark(high_watermark);
                    }
                }
                *state = Fetching::Idle { not_before: 0 };
            }
        }
        self.answer_waiting(ctx);
    }

    pub fn on_message(&mut self, from: Node, msg: Msg, ctx: &mut Ctx) {
        match msg {
            Msg::Registered {
                incarnation,
                broker_epoch,
            } if incarnation == self.incarnation && self.broker_epoch.is_none() => {
                ctx.trace(format!(
                    "broker {} registered with epoch {broker_epoch}",
                    self.id
                ));
                self.broker_epoch = Some(broker_epoch);
            }
            Msg::Registered { .. } => {}
            Msg::Metadata(image) => self.on_image(image, ctx),
            Msg::HeartbeatRefused { broker_epoch } if self.broker_epoch == Some(broker_epoch) => {
                // As the node does: register again.
                ctx.trace(format!("broker {}'s epoch {broker_epoch} refused", self.id));
                self.broker_epoch = None;
            }
            Msg::HeartbeatRefused { .. } => {}
            Msg::AlterPartitionDone {
                partition,
                offset,
                not_applied,
            } => {
                if let Some((decided, _)) = self.isr_in_flight.get_mut(&partition) {
                    *decided = Some(offset);
                }
                if not_applied {
                    if let Some(local) = self.partitions.get(&partition) {
                        local.isr_proposal_not_applied();
                    }
                }
            }
            Msg::Fetch(_) | Msg::Produce(_) if !self.joined => {}
            Msg::Fetch(request) => self.serve_fetch(from, request, ctx),
            Msg::FetchAnswer(answer) => {
                if let Node::Broker(leader) = from {
                    self.on_fetch_answer(leader, answer, ctx);
                }
            }
            Msg::Produce(request) => self.on_produce(from, request, ctx),
            other => ctx.trace(format!("broker {} ignores {other:?}", self.id)),
        }
    }

    /// A newer image: every local partition takes its role from it.
    fn on_image(&mut self, image: Arc<MetadataImage>, ctx: &mut Ctx) {
        if self
            .image
            .as_ref()
            .is_some_and(|i| i.offset >= image.offset)
        {
            return;
        }
        let unfenced = image
            .brokers
            .get(&self.id)
            .is_some_and(|b| Some(b.epoch) == self.broker_epoch && !b.fenced);
        if !self.joined && !unfenced {
            self.image = Some(image);
            return;
        }
        if !self.joined {
            ctx.trace(format!("broker {} joined", self.id));
            self.joined = true;
        }
        let now = self.local_now(ctx);
        if let Some(topic) = image.topic(TOPIC) {
            for (index, p) in topic.partitions.iter().enumerate() {
                let Some(partition) = self.partitions.get(&(index as i32)) else {
                    continue;
                };
                take_role(partition, p, self.id, now);
                if p.leader == self.id {
                    ctx.history
                        .led(index as i32, p.leader_epoch, self.id, &mut ctx.violations);
                }
            }
        }
        self.image = Some(image);
        self.answer_waiting(ctx);
    }

    /// Up, and joined since its last start: it serves.
    pub fn serving(&self) -> bool {
        self.up && self.joined
    }
}
