//! The simulation's producers: each idempotent, acks=all, one batch in flight per
//! partition (so its sequence numbers never leave a gap), retrying a batch
//! as it is until it is acknowledged, at whichever broker its metadata
//! names as leader. Every record's value is unique, so the checker can
//! tell a loss from a duplicate.

use super::net::{Msg, Node, ProduceAnswer, ProduceRequest};
use super::{Ctx, TOPIC};
use crate::cluster::image::MetadataImage;
use crate::protocol::records::{BatchBuilder, NewRecord};
use bytes::Bytes;
use std::sync::Arc;

/// Producer ids are this plus the client's number.
const FIRST_PRODUCER_ID: i64 = 4242;
const METADATA_MS: i64 = 200;
/// An unanswered produce is sent again after this long: the first
/// producer waits long (as Kafka's clients, 30 s by default), the others
/// give up soon, so one writes on at a new leader while another still
/// waits on a stopped one.
const PATIENT_TIMEOUT_MS: i64 = 10_000;
const HASTY_TIMEOUT_MS: i64 = 1_500;
const RETRY_BACKOFF_MS: i64 = 50;

struct InFlight {
    id: u64,
    batch: Bytes,
    values: Vec<u64>,
    sent: i64,
    /// Refused: send again from then on.
    retry_at: Option<i64>,
}

struct Lane {
    partition: i32,
    next_sequence: i32,
    next_value: u64,
    in_flight: Option<InFlight>,
}

pub struct SimClient {
    id: u8,
    request_timeout_ms: i64,
    image: Option<Arc<MetadataImage>>,
    lanes: Vec<Lane>,
    next_metadata: i64,
    /// New batches are started only while this holds.
    pub producing: bool,
}

/// A record's value: its producer, its partition and its place in that
/// producer's sequence for the partition.
pub fn value_of(client: u8, partition: i32, n: u64) -> u64 {
    (u64::from(client) << 56) | (u64::from(partition as u32 & 0xffff) << 40) | n
}

/// The producer of a value (whose values in a partition must rise).
pub fn producer_of(value: u64) -> u8 {
    (value >> 56) as u8
}

impl SimClient {
    pub fn new(id: u8, partitions: i32) -> SimClient {
        SimClient {
            id,
            request_timeout_ms: if id == 0 {
                PATIENT_TIMEOUT_MS
            } else {
                HASTY_TIMEOUT_MS
            },
            image: None,
            lanes: (0..partitions)
                .map(|partition| Lane {
                    partition,
                    next_sequence: 0,
                    next_value: 0,
                    in_flight: None,
                })
                .collect(),
            next_metadata: 0,
            producing: true,
        }
    }

    /// Batches started and not yet acknowledged.
    pub fn unacknowledged(&self) -> usize {
        self.lanes.iter().filter(|l| l.in_flight.is_some()).count()
    }

    pub fn tick(&mut self, ctx: &mut Ctx) {
        if ctx.now >= self.next_metadata {
            let have = self.image.as_ref().map_or(-1, |i| i.offset);
            ctx.send(
                Node::Client(self.id),
                Node::Controller,
                Msg::PullMetadata { have },
            );
            self.next_metadata = ctx.now + METADATA_MS;
        }
        for i in 0..self.lanes.len() {
            self.drive(i, ctx);
        }
    }

    fn drive(&mut self, lane: usize, ctx: &mut Ctx) {
        let (producing, me, timeout) = (self.producing, self.id, self.request_timeout_ms);
        let leader = self
            .image
            .as_ref()
            .and_then(|image| image.partition(TOPIC, self.lanes[lane].partition))
            .map(|p| p.leader)
            .filter(|l| *l >= 0);
        let lane = &mut self.lanes[lane];
        let due = match &lane.in_flight {
            None if producing => {
                lane.in_flight = Some(next_batch(me, lane, ctx));
                true
            }
            None => false,
            Some(f) => match f.retry_at {
                Some(at) => ctx.now >= at,
                None => ctx.now - f.sent > timeout,
            },
        };
        let (Some(flight), true, Some(leader)) = (lane.in_flight.as_mut(), due, leader) else {
            return;
        };
        flight.id = ctx.next_id();
        flight.sent = ctx.now;
        flight.retry_at = None;
        let request = ProduceRequest {
            id: flight.id,
            partition: lane.partition,
            batch: flight.batch.clone(),
        };
        ctx.send(
            Node::Client(me),
            Node::Broker(leader),
            Msg::Produce(request),
        );
    }

    pub fn on_message(&mut self, msg: Msg, ctx: &mut Ctx) {
        match msg {
            Msg::Metadata(image) => {
                if self.image.as_ref().is_none_or(|i| i.offset < image.offset) {
                    self.image = Some(image);
                }
            }
            Msg::Produced(answer) => self.on_produced(answer, ctx),
            other => ctx.trace(format!("client ignores {other:?}")),
        }
    }

    fn on_produced(&mut self, answer: ProduceAnswer, ctx: &mut Ctx) {
        let Some(lane) = self
            .lanes
            .iter_mut()
            .find(|l| l.partition == answer.partition)
        else {
            return;
        };
        let Some(flight) = lane.in_flight.as_mut().filter(|f| f.id == answer.id) else {
            return;
        };
        match answer.result {
            Ok(base_offset) => {
                ctx.history.acknowledged(
                    lane.partition,
                    base_offset,
                    &flight.values,
                    &mut ctx.violations,
                );
                ctx.trace(format!(
                    "client {} acked {TOPIC}-{} at {base_offset}: {} records",
                    self.id,
                    lane.partition,
                    flight.values.len()
                ));
                lane.next_sequence += flight.values.len() as i32;
                lane.in_flight = None;
            }
            Err(why) => {
                if why == "OUT_OF_ORDER_SEQUENCE_NUMBER" {
                    ctx.violation(format!(
                        "{TOPIC}-{}: client {}'s sequence {} refused as out of order",
                        lane.partition, self.id, lane.next_sequence
                    ));
                }
                flight.retry_at = Some(ctx.now + RETRY_BACKOFF_MS);
            }
        }
    }
}

fn next_batch(client: u8, lane: &mut Lane, ctx: &mut Ctx) -> InFlight {
    let count = ctx.rng.range(1, 4) as u64;
    let values: Vec<u64> = (0..count)
        .map(|i| value_of(client, lane.partition, lane.next_value + i))
        .collect();
    lane.next_value += count;
    let producer_id = FIRST_PRODUCER_ID + i64::from(client);
    let mut batch = BatchBuilder::new(0).producer(producer_id, 0, lane.next_sequence);
    for v in &values {
        batch.push(NewRecord::new(
            ctx.now,
            None,
            Some(Bytes::copy_from_slice(&v.to_be_bytes())),
        ));
    }
    InFlight {
        id: 0,
        batch: batch.build().expect("a small batch encodes"),
        values,
        sent: ctx.now,
        retry_at: Some(ctx.now),
    }
}
