//! A simulated broker as a follower: one fetch in flight per leader, and
//! the answer applied as the fetcher applies it (truncation at a
//! divergence, appends, the leader's high watermark once on disk).

use super::*;

impl SimBroker {
    /// Sends a fetch to each leader it follows a partition of and is not
    /// waiting on.
    pub(super) fn fetch(&mut self, ctx: &mut Ctx) {
        let (Some(image), Some(broker_epoch)) = (&self.image, self.broker_epoch) else {
            return;
        };
        let wanted = assignments(image, self.id, LISTENER);
        self.fetchers
            .retain(|leader, _| wanted.contains_key(leader));
        for (leader, assignment) in wanted {
            let state = self
                .fetchers
                .entry(leader)
                .or_insert(Fetching::Idle { not_before: 0 });
            match state {
                Fetching::InFlight { sent, .. } if ctx.now - *sent > REQUEST_TIMEOUT_MS => {}
                Fetching::Idle { not_before } if ctx.now >= *not_before => {}
                _ => continue,
            }
            let partitions = assignment
                .partitions
                .iter()
                .filter_map(|f| {
                    let local = self.partitions.get(&f.partition)?;
                    Some((f.partition, f.leader_epoch, local.fetch_position()))
                })
                .collect();
            let id = ctx.next_id();
            *state = Fetching::InFlight { id, sent: ctx.now };
            let request = FetchRequest {
                id,
                replica: self.id,
                broker_epoch,
                partitions,
            };
            ctx.send(
                Node::Broker(self.id),
                Node::Broker(leader),
                Msg::Fetch(request),
            );
        }
    }

    /// Following: what the leader sent, applied as the fetcher does.
    pub(super) fn on_fetch_answer(&mut self, leader: i32, answer: FetchAnswer, ctx: &mut Ctx) {
        let expected = matches!(self.fetchers.get(&leader), Some(Fetching::InFlight { id, .. }) if *id == answer.id);
        if !expected {
            return;
        }
        let now = self.local_now(ctx);
        let mut high_watermarks = Vec::new();
        let mut progress = false;
        for (index, part) in answer.partitions {
            let Some(partition) = self.partitions.get(&index) else {
                continue;
            };
            match part {
                PartitionAnswer::Refused => {}
                PartitionAnswer::Diverging {
                    epoch,
                    end_offset,
                    high_watermark,
                } => {
                    match partition.truncate_to_divergence(epoch, end_offset, high_watermark, now) {
                        Ok(end) => ctx.trace(format!(
                            "broker {} cuts {TOPIC}-{index} to {end} (diverging epoch {epoch} ends at {end_offset})",
                            self.id
                        )),
                        Err(e) => ctx.violation(format!("truncation failed: {e}")),
                    }
                    progress = true;
                }
                PartitionAnswer::OutOfRange { log_start_offset } => {
                    if log_start_offset > partition.fetch_position().log_end_offset {
                        if let Err(e) = partition.restart_at(log_start_offset, now) {
                            ctx.violation(format!("restarting a log failed: {e}"));
                        }
                        progress = true;
                    }
                }
                PartitionAnswer::Records {
                    records,
                    high_watermark,
                } => {
                    if records.is_empty() {
                        partition.set_leader_high_watermark(high_watermark);
                        continue;
                    }
                    match partition.append_replicated(records, now) {
                        Ok(Some(_)) => {
                            high_watermarks.push((index, high_watermark));
                            progress = true;
                        }
                        Ok(None) => partition.set_leader_high_watermark(high_watermark),
                        Err(e) => ctx.trace(format!(
                            "broker {} cannot append {TOPIC}-{index}'s batches: {e}",
                            self.id
                        )),
                    }
                }
            }
        }
        let state = if high_watermarks.is_empty() {
            // Nothing new: the leader would have held the fetch a while.
            let pause = if progress { 0 } else { ctx.rng.range(5, 40) };
            Fetching::Idle {
                not_before: ctx.now + pause,
            }
        } else {
            Fetching::AwaitingSync { high_watermarks }
        };
        self.fetchers.insert(leader, state);
    }
}
