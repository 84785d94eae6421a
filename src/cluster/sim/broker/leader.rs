//! A simulated broker as a leader: serving its followers' fetches,
//! taking produce requests and answering them once committed, proposing
//! ISR changes and asking for its preferred leaderships back.

use super::*;

impl SimBroker {
    /// Leading: a follower's fetch, checked and served as the fetch
    /// handler does.
    pub(super) fn serve_fetch(&mut self, from: Node, request: FetchRequest, ctx: &mut Ctx) {
        let now = self.local_now(ctx);
        let image = self.image.clone();
        let registered = image.as_ref().is_some_and(|i| {
            i.brokers
                .get(&request.replica)
                .is_some_and(|b| b.epoch == request.broker_epoch)
        });
        let mut partitions = Vec::new();
        for (index, leader_epoch, position) in request.partitions {
            let led = image
                .as_ref()
                .and_then(|i| i.partition(TOPIC, index))
                .filter(|p| {
                    p.leader == self.id && check_leader_epoch(leader_epoch, p.leader_epoch).is_ok()
                });
            let local = self.partitions.get(&index);
            let (Some(_), Some(partition), true) = (led, local, registered) else {
                partitions.push((index, PartitionAnswer::Refused));
                continue;
            };
            let fetch = FollowerFetch {
                follower: request.replica,
                fetch_offset: position.log_end_offset,
                last_fetched_epoch: position.last_fetched_epoch,
                max_bytes: FETCH_MAX_BYTES,
                oversize: Oversize::FirstBatch,
                record: true,
            };
            let served = partition.serve_follower(&fetch, now);
            let answer = match served {
                Ok(FollowerRead::Diverging { epoch, end_offset }) => PartitionAnswer::Diverging {
                    epoch,
                    end_offset,
                    high_watermark: partition.offsets().1,
                },
                Ok(FollowerRead::Records {
                    records,
                    high_watermark,
                }) => PartitionAnswer::Records {
                    records,
                    high_watermark,
                },
                Err(FollowerReadError::OutOfRange) => PartitionAnswer::OutOfRange {
                    log_start_offset: partition.offsets().0,
                },
                Err(_) => PartitionAnswer::Refused,
            };
            partitions.push((index, answer));
        }
        let answer = FetchAnswer {
            id: request.id,
            partitions,
        };
        ctx.send(Node::Broker(self.id), from, Msg::FetchAnswer(answer));
        self.answer_waiting(ctx);
    }

    pub(super) fn on_produce(&mut self, client: Node, request: ProduceRequest, ctx: &mut Ctx) {
        let now = self.local_now(ctx);
        let (id, index, me) = (request.id, request.partition, Node::Broker(self.id));
        let reply = |ctx: &mut Ctx, result| {
            let answer = ProduceAnswer {
                id,
                partition: index,
                result,
            };
            ctx.send(me, client, Msg::Produced(answer));
        };
        let leads = self
            .image
            .as_ref()
            .and_then(|i| i.partition(TOPIC, request.partition))
            .is_some_and(|p| p.leader == self.id);
        let Some(partition) = self.partitions.get(&request.partition).filter(|_| leads) else {
            return reply(ctx, Err("NOT_LEADER_OR_FOLLOWER"));
        };
        if partition
            .in_sync_replicas()
            .is_some_and(|(isr, min)| isr < min)
        {
            return reply(ctx, Err("NOT_ENOUGH_REPLICAS"));
        }
        match partition.append(&request.batch, now) {
            Ok(appended) => {
                self.waiting.push(WaitingProduce {
                    id: request.id,
                    client,
                    partition: request.partition,
                    wanted: appended.last_offset + 1,
                    epoch: appended.leader_epoch,
                    base_offset: appended.base_offset,
                    deadline: ctx.now + PRODUCE_TIMEOUT_MS,
                });
                self.answer_waiting(ctx);
            }
            Err(crate::log::partition::AppendError::OutOfOrderSequence { .. }) => {
                reply(ctx, Err("OUT_OF_ORDER_SEQUENCE_NUMBER"))
            }
            Err(_) => reply(ctx, Err("append failed")),
        }
    }

    /// acks=all answers: once committed while still leading in the epoch
    /// the batch was taken in; refused once deposed; timed out.
    pub(super) fn answer_waiting(&mut self, ctx: &mut Ctx) {
        let me = Node::Broker(self.id);
        let partitions = &self.partitions;
        self.waiting.retain(|w| {
            let Some(partition) = partitions.get(&w.partition) else {
                return false;
            };
            let result = match partition.committed(w.wanted, w.epoch) {
                Ok(true) => Ok(w.base_offset),
                Ok(false) if ctx.now < w.deadline => return true,
                Ok(false) => Err("NOT_ENOUGH_REPLICAS_AFTER_APPEND"),
                Err(_) => Err("NOT_LEADER_OR_FOLLOWER"),
            };
            let answer = ProduceAnswer {
                id: w.id,
                partition: w.partition,
                result,
            };
            ctx.send(me, w.client, Msg::Produced(answer));
            false
        });
    }

    pub(super) fn propose_isr_changes(&mut self, ctx: &mut Ctx) {
        let (Some(image), Some(broker_epoch)) = (self.image.clone(), self.broker_epoch) else {
            return;
        };
        let Some(topic) = image.topic(TOPIC) else {
            return;
        };
        let now = self.local_now(ctx);
        for (index, p) in topic.partitions.iter().enumerate() {
            let index = index as i32;
            let Some(partition) = self.partitions.get(&index) else {
                continue;
            };
            if p.leader != self.id || p.replicas.len() < 2 {
                continue;
            }
            let in_flight = self
                .isr_in_flight
                .get(&index)
                .is_some_and(|(decided, sent)| match decided {
                    Some(offset) => image.offset < *offset,
                    None => ctx.now - sent < REQUEST_TIMEOUT_MS,
                });
            if in_flight {
                continue;
            }
            let measured = partition.isr_changes(now, LAG_MAX_MS);
            let Some(isr) = wanted_isr(p, self.id, &measured) else {
                continue;
            };
            ctx.trace(format!(
                "broker {} proposes ISR {isr:?} for {TOPIC}-{index}",
                self.id
            ));
            partition.propose_isr(&isr);
            self.isr_in_flight.insert(index, (None, ctx.now));
            let change = IsrChange {
                broker_id: self.id,
                broker_epoch,
                topic_id: topic.id.0,
                partition: index,
                leader_epoch: p.leader_epoch,
                partition_epoch: p.partition_epoch,
                isr,
            };
            ctx.send(
                Node::Broker(self.id),
                Node::Controller,
                Msg::AlterPartition(change),
            );
        }
    }

    pub(super) fn take_back_leadership(&mut self, ctx: &mut Ctx) {
        let Some(image) = &self.image else { return };
        let partitions: Vec<i32> = preferred_elsewhere(image, self.id)
            .into_iter()
            .map(|(_, p)| p)
            .collect();
        if !partitions.is_empty() {
            let elect = Msg::ElectPreferred { partitions };
            ctx.send(Node::Broker(self.id), Node::Controller, elect);
        }
    }
}
