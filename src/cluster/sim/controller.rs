//! The controller in the simulation: Odradek's own [`Controller`] deciding
//! on its own [`MetadataImage`], with records applied as soon as decided
//! (the quorum's commit is taken as given).

use super::net::{Msg, Node};
use super::{Ctx, TOPIC};
use crate::cluster::controller::{Controller, ControllerError, Registration};
use crate::cluster::image::MetadataImage;
use crate::cluster::records::{Endpoint, MetadataRecord};
use crate::protocol::wire::Uuid;
use std::sync::Arc;

pub const LISTENER: &str = "PLAINTEXT";

pub struct SimController {
    pub controller: Controller,
    pub image: MetadataImage,
    session_timeout_ms: u64,
}

impl SimController {
    pub fn new(session_timeout_ms: u64) -> SimController {
        SimController {
            controller: Controller::new(session_timeout_ms),
            image: MetadataImage::empty(),
            session_timeout_ms,
        }
    }

    /// A new controller takes over: it has heard from no broker yet.
    pub fn fail_over(&mut self) {
        self.controller = Controller::new(self.session_timeout_ms);
    }

    pub fn apply(&mut self, records: Vec<MetadataRecord>, ctx: &mut Ctx) {
        for record in records {
            let offset = self.image.offset + 1;
            if let Err(e) = self.image.apply(offset, &record) {
                ctx.violation(format!(
                    "the controller wrote {record:?}, which does not apply: {e}"
                ));
                continue;
            }
            ctx.trace(format!("metadata {offset}: {record:?}"));
        }
        ctx.history.check_image(&self.image, &mut ctx.violations);
    }

    pub fn registration(broker: i32, incarnation: u8) -> Registration {
        let mut id = [incarnation; 16];
        id[0] = broker as u8;
        Registration {
            broker_id: broker,
            incarnation_id: Uuid(id),
            endpoints: vec![Endpoint {
                name: LISTENER.into(),
                host: format!("broker-{broker}"),
                port: 9092,
                security_protocol: 0,
            }],
            rack: None,
        }
    }

    /// Before the run: the brokers registered and unfenced, and the topic
    /// created with `assignments` (replicas per partition).
    pub fn bootstrap(&mut self, brokers: &[i32], assignments: Vec<Vec<i32>>, ctx: &mut Ctx) {
        for &b in brokers {
            let registered =
                self.controller
                    .register_broker(&self.image, Self::registration(b, 0), 0);
            match registered {
                Ok(records) => self.apply(records, ctx),
                Err(e) => ctx.violation(format!("bootstrap registration refused: {e}")),
            }
            let heartbeat = crate::cluster::controller::Heartbeat {
                broker_id: b,
                broker_epoch: self.image.brokers.get(&b).map_or(-1, |r| r.epoch),
                applied_offset: self.image.offset,
                want_shut_down: false,
                load: None,
            };
            match self.controller.heartbeat(&self.image, heartbeat, 0) {
                Ok((records, _)) => self.apply(records, ctx),
                Err(e) => ctx.violation(format!("bootstrap heartbeat refused: {e}")),
            }
        }
        let topic_id = Uuid([0x51; 16]);
        let mut records = vec![MetadataRecord::Topic {
            name: TOPIC.into(),
            topic_id,
        }];
        for (partition, replicas) in assignments.into_iter().enumerate() {
            records.push(MetadataRecord::Partition {
                partition_id: partition as i32,
                topic_id,
                leader: replicas[0],
                isr: replicas.clone(),
                replicas,
                leader_epoch: 0,
                partition_epoch: 0,
                adding: Vec::new(),
                removing: Vec::new(),
            });
        }
        self.apply(records, ctx);
    }

    pub fn tick(&mut self, ctx: &mut Ctx) {
        let records = self.controller.tick(&self.image, now(ctx));
        self.apply(records, ctx);
    }

    pub fn on_message(&mut self, from: Node, msg: Msg, ctx: &mut Ctx) {
        match msg {
            Msg::Register {
                broker,
                incarnation,
            } => {
                let request = Self::registration(broker, incarnation);
                match self
                    .controller
                    .register_broker(&self.image, request, now(ctx))
                {
                    Ok(records) => {
                        self.apply(records, ctx);
                        let broker_epoch = self.image.brokers.get(&broker).map_or(-1, |b| b.epoch);
                        let answer = Msg::Registered {
                            incarnation,
                            broker_epoch,
                        };
                        ctx.send(Node::Controller, from, answer);
                    }
                    Err(e) => ctx.trace(format!("registration of {broker} refused: {e}")),
                }
            }
            Msg::Heartbeat(heartbeat) => {
                match self
                    .controller
                    .heartbeat(&self.image, heartbeat.clone(), now(ctx))
                {
                    Ok((records, _)) => self.apply(records, ctx),
                    Err(_) => {
                        let refused = Msg::HeartbeatRefused {
                            broker_epoch: heartbeat.broker_epoch,
                        };
                        ctx.send(Node::Controller, from, refused);
                    }
                }
            }
            Msg::PullMetadata { have } => {
                if self.image.offset > have {
                    let image = Arc::new(self.image.clone());
                    ctx.send(Node::Controller, from, Msg::Metadata(image));
                }
            }
            Msg::AlterPartition(change) => {
                let not_applied = match self.controller.alter_partition(&self.image, &change) {
                    Ok(records) => {
                        self.apply(records, ctx);
                        false
                    }
                    Err(e) => {
                        ctx.trace(format!("AlterPartition refused: {e}"));
                        matches!(e, ControllerError::IneligibleReplica(_))
                    }
                };
                let done = Msg::AlterPartitionDone {
                    partition: change.partition,
                    offset: self.image.offset,
                    not_applied,
                };
                ctx.send(Node::Controller, from, done);
            }
            Msg::ElectPreferred { partitions } => {
                for partition in partitions {
                    if let Ok(records) =
                        self.controller
                            .elect_preferred(&self.image, TOPIC, partition)
                    {
                        self.apply(records, ctx);
                    }
                }
            }
            other => ctx.trace(format!("controller ignores {other:?}")),
        }
    }
}

fn now(ctx: &Ctx) -> u64 {
    u64::try_from(ctx.now).unwrap_or(0)
}
