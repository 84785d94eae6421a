//! The nemesis: from 1 s until the heal, a fault every 0.2 to 2 s, chosen
//! by the seed: a broker killed (losing what it had not fsynced, unless the
//! page cache reached the disk) and restarted later; a broker stopped
//! (SIGSTOP) for longer than its session, so it is deposed while its
//! sockets fill; a network partition, both ways or one way; lossy links; a
//! broker's clock jumping; the controller failing over (a new one has
//! heard from no broker yet, and takes a while to be elected).

use super::*;

impl World {
    /// One fault, then the next one some time later, until the heal.
    pub(super) fn nemesis(&mut self) {
        if self.healed {
            return;
        }
        let ids: Vec<i32> = self.brokers.keys().copied().collect();
        let rng = &mut self.ctx.rng;
        let choice = rng.range(0, 100);
        let broker = rng.pick(&ids).unwrap_or(1);
        let duration = rng.range(100, 5_000);
        let now = self.ctx.now;
        match choice {
            0..=24 => self.crash(broker, duration),
            // Longer than a session: deposed while stopped.
            25..=44 => self.pause(Node::Broker(broker), duration + 3_000),
            45..=69 => self.partition(duration),
            70..=79 => {
                self.net.drop_per_mille = self.ctx.rng.range(10, 300) as u32;
                self.ctx.trace(format!(
                    "network drops {} per mille",
                    self.net.drop_per_mille
                ));
                self.schedule(now + duration, Event::HealNetwork, 0);
            }
            80..=89 => {
                let jump = self.ctx.rng.range(-4_000, 4_000);
                if let Some(b) = self.brokers.get_mut(&broker) {
                    b.skew_ms += jump;
                }
                self.ctx
                    .trace(format!("broker {broker}'s clock jumps {jump} ms"));
            }
            _ => {
                self.controller.fail_over();
                self.summary.failovers += 1;
                self.ctx.trace("the controller fails over".into());
                let election = self.ctx.rng.range(50, 1_500);
                self.pause(Node::Controller, election);
            }
        }
        let next = now + self.ctx.rng.range(200, 2_000);
        self.schedule(next, Event::Nemesis, 0);
    }

    pub(super) fn crash(&mut self, id: i32, down_for: i64) {
        let keep_unsynced = self.ctx.rng.chance(300);
        let Some(broker) = self.brokers.get_mut(&id).filter(|b| b.up) else {
            return;
        };
        broker.crash(keep_unsynced, &mut self.ctx);
        self.ctx.trace(format!(
            "broker {id} killed (unsynced kept: {keep_unsynced})"
        ));
        self.summary.crashes += 1;
        self.paused.remove(&Node::Broker(id));
        self.stalled.remove(&Node::Broker(id));
        let at = self.ctx.now + down_for;
        self.schedule(at, Event::Restart(id), 0);
    }

    pub(super) fn restart(&mut self, id: i32) {
        let Some(broker) = self.brokers.get_mut(&id).filter(|b| !b.up) else {
            return;
        };
        broker.restart(&mut self.ctx);
        let generation = broker.generation;
        let now = self.ctx.now;
        self.schedule(now, Event::Tick(Node::Broker(id)), generation);
    }

    pub(super) fn pause(&mut self, node: Node, duration: i64) {
        if self.paused.contains_key(&node) {
            return;
        }
        let until = self.ctx.now + duration;
        self.paused.insert(node, until);
        self.summary.pauses += 1;
        self.ctx
            .trace(format!("{node:?} stopped for {duration} ms"));
        self.schedule(until, Event::Resume(node), 0);
    }

    pub(super) fn resume(&mut self, node: Node) {
        if self.paused.remove(&node).is_none() {
            return;
        }
        self.ctx.trace(format!("{node:?} resumed"));
        let now = self.ctx.now;
        for scheduled in self.stalled.remove(&node).unwrap_or_default() {
            self.seq += 1;
            self.queue.insert((now, self.seq), scheduled);
        }
    }

    /// Cuts the links between a random side and the rest (one way, or
    /// both), for `duration`.
    pub(super) fn partition(&mut self, duration: i64) {
        let nodes = self.nodes();
        let side: Vec<Node> = nodes
            .iter()
            .copied()
            .filter(|_| self.ctx.rng.chance(500))
            .collect();
        if side.is_empty() || side.len() == nodes.len() {
            return;
        }
        let one_way = self.ctx.rng.chance(300);
        for a in &side {
            for b in nodes.iter().filter(|n| !side.contains(n)) {
                self.net.cut(*a, *b);
                if !one_way {
                    self.net.cut(*b, *a);
                }
            }
        }
        self.summary.partitions += 1;
        self.ctx.trace(format!(
            "network partition: {side:?} cut off (one way: {one_way})"
        ));
        let at = self.ctx.now + duration;
        self.schedule(at, Event::HealNetwork, 0);
    }

    /// The end of the faults: every broker up, every node running, the
    /// network whole; the producer finishes what it started.
    pub(super) fn heal(&mut self) {
        self.healed = true;
        self.net.heal();
        self.ctx.trace("faults heal".into());
        let ids: Vec<i32> = self.brokers.keys().copied().collect();
        for id in ids {
            self.restart(id);
        }
        for node in self.paused.keys().copied().collect::<Vec<_>>() {
            self.resume(node);
        }
        for client in &mut self.clients {
            client.producing = false;
        }
    }
}
