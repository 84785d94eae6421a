//! Offsets committed inside a transaction (TxnOffsetCommit). They are
//! written to `__consumer_offsets` at once, in a transactional batch, but
//! become the group's committed offsets only when the transaction
//! coordinator's commit marker reaches that partition; an abort drops them.
//! Until then OffsetFetch with `require_stable` answers UNSTABLE_OFFSET_COMMIT.

use super::store::{self, Entry, OffsetValue, OpenTxnRecords};
use super::{Committed, Committer, Group, GroupCoordinator, GroupState};
use crate::log::partition::AppendError;
use crate::log::txn_verification::TxnGuard;
use crate::log::LogManager;
use crate::protocol::error_code::ErrorCode;
use std::collections::HashMap;

#[derive(Clone, Debug)]
struct PendingOffset {
    group: String,
    topic: String,
    partition: i32,
    value: OffsetValue,
    /// The record's offset in `__consumer_offsets`.
    log_offset: i64,
    /// The `__consumer_offsets` partition holding it.
    offsets_partition: i32,
}

#[derive(Debug, Default)]
pub(super) struct PendingTxnOffsets {
    by_producer: HashMap<i64, Vec<PendingOffset>>,
}

impl PendingTxnOffsets {
    /// Transactions replay found still open.
    pub(super) fn from_replay(open: Vec<OpenTxnRecords>) -> PendingTxnOffsets {
        let mut pending = PendingTxnOffsets::default();
        for txn in open {
            for record in txn.records {
                let store::Key::Offset {
                    group,
                    topic,
                    partition,
                } = record.key
                else {
                    continue;
                };
                let Some(Ok(value)) = record.value.map(store::decode_offset) else {
                    continue;
                };
                pending
                    .by_producer
                    .entry(txn.producer_id)
                    .or_default()
                    .push(PendingOffset {
                        group,
                        topic,
                        partition,
                        value,
                        log_offset: record.offset,
                        offsets_partition: txn.partition,
                    });
            }
        }
        pending
    }

    /// Adds what another replay found.
    pub(super) fn merge(&mut self, other: PendingTxnOffsets) {
        for (producer, offsets) in other.by_producer {
            self.by_producer
                .entry(producer)
                .or_default()
                .extend(offsets);
        }
    }

    /// Forgets the offsets held in `__consumer_offsets` partition `partition`.
    pub(super) fn drop_partition(&mut self, partition: i32) {
        for offsets in self.by_producer.values_mut() {
            offsets.retain(|p| p.offsets_partition != partition);
        }
        self.by_producer.retain(|_, offsets| !offsets.is_empty());
    }

    fn has(&self, group: &str, topic: &str, partition: i32) -> bool {
        self.by_producer
            .values()
            .flatten()
            .any(|p| p.group == group && p.topic == topic && p.partition == partition)
    }
}

impl GroupCoordinator {
    pub(super) fn txn_offsets(&self) -> std::sync::MutexGuard<'_, PendingTxnOffsets> {
        self.txn_offsets.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Kafka's checks for a transactional commit: a group that does not
    /// exist is created; a member, if named, must be known and of the
    /// current generation.
    fn check_txn_commit(group: &Group, by: &Committer<'_>) -> Result<(), ErrorCode> {
        if group.state == GroupState::Dead {
            return Err(ErrorCode::CoordinatorNotAvailable);
        }
        if let Some(consumer) = &group.consumer {
            // KIP-848 groups: the generation field carries the member epoch.
            if by.generation < 0 && by.member_id.is_empty() {
                return Ok(());
            }
            return consumer.validate_commit(by.member_id, by.generation);
        }
        if by.generation < 0 && group.state == GroupState::Empty {
            return Ok(());
        }
        if group.is_fenced(by.instance_id, by.member_id) {
            return Err(ErrorCode::FencedInstanceId);
        }
        if !by.member_id.is_empty() && !group.members.contains_key(by.member_id) {
            return Err(ErrorCode::UnknownMemberId);
        }
        if by.generation >= 0 && by.generation != group.generation {
            return Err(ErrorCode::IllegalGeneration);
        }
        Ok(())
    }

    /// TxnOffsetCommit: validated against the group, written inside the
    /// producer's transaction and durable, then pending until the marker.
    pub async fn txn_commit_offsets(
        &self,
        log: &LogManager,
        by: Committer<'_>,
        producer: (i64, i16),
        offsets: Vec<(String, i32, OffsetValue)>,
        guard: Option<TxnGuard>,
        now: i64,
    ) -> Result<(), ErrorCode> {
        if offsets.is_empty() {
            return Ok(());
        }
        let partitions = self.config.offsets_topic_num_partitions;
        let pending = {
            let mut groups = self.lock();
            let group = groups
                .entry(by.group_id.to_string())
                .or_insert_with(|| Group::new(by.group_id, now));
            Self::check_txn_commit(group, &by)?;
            let writes: Vec<Entry> = offsets
                .iter()
                .map(|(topic, partition, value)| Entry::Offset {
                    topic: topic.clone(),
                    partition: *partition,
                    value: Some(value.clone()),
                })
                .collect();
            store::append_transactional(log, partitions, by.group_id, &writes, producer, guard, now)
                .map_err(|e| match e {
                    // The transaction ended while it was being verified.
                    AppendError::TxnNotVerified { .. } => ErrorCode::InvalidTxnState,
                    e => {
                        tracing::error!(group = by.group_id, error = %e, "transactional offset commit failed");
                        ErrorCode::CoordinatorNotAvailable
                    }
                })?
        };
        let offsets_partition =
            store::partition_of(log, by.group_id).ok_or(ErrorCode::CoordinatorNotAvailable)?;
        let appended = pending.wait().await.map_err(|e| {
            tracing::error!(group = by.group_id, error = %e, "transactional offset commit not durable");
            store::unwritten(&e)
        })?;
        let mut txn = self.txn_offsets();
        let entries = txn.by_producer.entry(producer.0).or_default();
        for (i, (topic, partition, value)) in offsets.into_iter().enumerate() {
            let log_offset = appended.base_offset + i as i64;
            entries.push(PendingOffset {
                group: by.group_id.to_string(),
                topic,
                partition,
                value,
                log_offset,
                offsets_partition,
            });
        }
        Ok(())
    }

    /// The transaction coordinator wrote `producer_id`'s marker to
    /// `__consumer_offsets` partition `offsets_partition`: its offsets there
    /// become committed (or are dropped).
    pub fn complete_transaction(&self, producer_id: i64, offsets_partition: i32, commit: bool) {
        let settled: Vec<PendingOffset> = {
            let mut txn = self.txn_offsets();
            let Some(entries) = txn.by_producer.remove(&producer_id) else {
                return;
            };
            let (settled, rest): (Vec<_>, Vec<_>) = entries
                .into_iter()
                .partition(|p| p.offsets_partition == offsets_partition);
            if !rest.is_empty() {
                txn.by_producer.insert(producer_id, rest);
            }
            settled
        };
        if !commit {
            return;
        }
        let now = crate::log::steady_ms();
        let mut groups = self.lock();
        for p in settled {
            let group = groups
                .entry(p.group.clone())
                .or_insert_with(|| Group::new(&p.group, now));
            let key = (p.topic, p.partition);
            // A plain commit written after the transactional one wins.
            if group
                .offsets
                .get(&key)
                .is_none_or(|c| c.log_offset < p.log_offset)
            {
                group.offsets.insert(
                    key,
                    Committed {
                        value: p.value,
                        log_offset: p.log_offset,
                    },
                );
            }
        }
    }

    /// Whether a transaction still holds an offset for this partition (OffsetFetch `require_stable`).
    pub fn has_pending_txn_offset(&self, group: &str, topic: &str, partition: i32) -> bool {
        self.txn_offsets().has(group, topic, partition)
    }
}
