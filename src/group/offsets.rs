//! Committed offsets: OffsetCommit / OffsetFetch / OffsetDelete and retention.

use super::store::{Entry, OffsetValue};
use super::*;

/// A committed offset and the `__consumer_offsets` offset of its record.
#[derive(Clone, Debug)]
pub(super) struct Committed {
    pub(super) value: OffsetValue,
    pub(super) log_offset: i64,
}

impl Group {
    /// Offsets past retention: for a group with members none expire; an
    /// empty consumer group counts from when it became empty.
    pub(super) fn expired_offsets(&self, retention_ms: i64, now: i64) -> Vec<(String, i32)> {
        if !self.has_no_members() || retention_ms < 0 {
            return Vec::new();
        }
        self.offsets
            .iter()
            .filter(|(_, c)| {
                if c.value.expire_timestamp >= 0 {
                    return c.value.expire_timestamp <= now;
                }
                let base = if self.protocol_type.is_some() {
                    c.value.commit_timestamp.max(self.state_since)
                } else {
                    c.value.commit_timestamp
                };
                base.saturating_add(retention_ms) <= now
            })
            .map(|(k, _)| k.clone())
            .collect()
    }
}

impl GroupCoordinator {
    /// Checks whether `group_id` may commit now. A group that does not exist
    /// is created (empty) for a simple consumer's commit with generation -1.
    pub(super) fn check_commit(
        group: Option<&mut Group>,
        generation: i32,
        member_id: &str,
        instance_id: Option<&str>,
        now: i64,
    ) -> Result<(), ErrorCode> {
        let Some(group) = group else {
            return Err(ErrorCode::IllegalGeneration);
        };
        if group.state == GroupState::Dead {
            return Err(ErrorCode::CoordinatorNotAvailable);
        }
        if let Some(consumer) = &group.consumer {
            // KIP-848: the generation field carries the member epoch.
            return consumer.validate_commit(member_id, generation);
        }
        if group.is_fenced(instance_id, member_id) {
            return Err(ErrorCode::FencedInstanceId);
        }
        if generation < 0 && group.state == GroupState::Empty {
            return Ok(());
        }
        let state = group.state;
        let current = group.generation;
        let Some(member) = group.members.get_mut(member_id) else {
            return Err(ErrorCode::UnknownMemberId);
        };
        if generation != current {
            return Err(ErrorCode::IllegalGeneration);
        }
        match state {
            GroupState::CompletingRebalance => Err(ErrorCode::RebalanceInProgress),
            GroupState::Stable | GroupState::PreparingRebalance => {
                member.deadline = now + i64::from(member.session_timeout);
                Ok(())
            }
            GroupState::Empty | GroupState::Dead => Err(ErrorCode::UnknownMemberId),
        }
    }

    /// OffsetCommit: validated against the group, written and made durable,
    /// then visible to OffsetFetch. One error for all partitions.
    pub async fn commit_offsets(
        &self,
        log: &LogManager,
        by: Committer<'_>,
        offsets: Vec<(String, i32, OffsetValue)>,
        now: i64,
    ) -> Result<(), ErrorCode> {
        let Committer {
            group_id,
            generation,
            member_id,
            instance_id,
        } = by;
        if offsets.is_empty() {
            return Ok(());
        }
        let pending = {
            let mut groups = self.lock();
            if !groups.contains_key(group_id) && generation < 0 {
                groups.insert(group_id.to_string(), Group::new(group_id, now));
            }
            Self::check_commit(
                groups.get_mut(group_id),
                generation,
                member_id,
                instance_id,
                now,
            )?;
            let writes: Writes = offsets
                .iter()
                .map(|(topic, partition, value)| Entry::Offset {
                    topic: topic.clone(),
                    partition: *partition,
                    value: Some(value.clone()),
                })
                .collect();
            store::append(
                log,
                self.config.offsets_topic_num_partitions,
                group_id,
                &writes,
                now,
            )
            .map_err(|e| {
                tracing::error!(group = group_id, error = %e, "offset commit failed");
                ErrorCode::CoordinatorNotAvailable
            })?
        };
        let appended = pending.wait().await.map_err(|e| {
            tracing::error!(group = group_id, error = %e, "offset commit not durable");
            store::unwritten(&e)
        })?;
        let mut groups = self.lock();
        if let Some(group) = groups.get_mut(group_id) {
            for (i, (topic, partition, value)) in offsets.into_iter().enumerate() {
                let log_offset = appended.base_offset + i as i64;
                let key = (topic, partition);
                if group
                    .offsets
                    .get(&key)
                    .is_none_or(|c| c.log_offset < log_offset)
                {
                    group.offsets.insert(key, Committed { value, log_offset });
                }
            }
        }
        Ok(())
    }

    /// OffsetFetch v9+ from a member of a consumer group: its id and epoch
    /// must be current (Kafka: a fetch without member id and epoch < 0 is
    /// always allowed). Classic groups are not checked here.
    pub fn validate_fetch(
        &self,
        group_id: &str,
        member_id: Option<&str>,
        epoch: i32,
    ) -> Result<(), ErrorCode> {
        let member_id = member_id.filter(|m| !m.is_empty());
        if member_id.is_none() && epoch < 0 {
            return Ok(());
        }
        let groups = self.lock();
        let Some(consumer) = groups.get(group_id).and_then(|g| g.consumer.as_ref()) else {
            return Ok(());
        };
        let member = consumer
            .members
            .get(member_id.unwrap_or_default())
            .ok_or(ErrorCode::UnknownMemberId)?;
        if member.current.epoch != epoch {
            return Err(ErrorCode::StaleMemberEpoch);
        }
        Ok(())
    }

    /// OffsetFetch: the committed offsets of the partitions asked for
    /// (`None` for an offset never committed), or of every partition with one.
    pub fn fetch_offsets(
        &self,
        group_id: &str,
        wanted: Option<Vec<(String, Vec<i32>)>>,
    ) -> TopicOffsets {
        let groups = self.lock();
        let group = groups.get(group_id);
        let lookup = |topic: &str, partition: i32| {
            group
                .and_then(|g| g.offsets.get(&(topic.to_string(), partition)))
                .map(|c| FetchedOffset {
                    partition,
                    offset: c.value.offset,
                    leader_epoch: c.value.leader_epoch,
                    metadata: c.value.metadata.clone(),
                })
        };
        match wanted {
            Some(topics) => topics
                .into_iter()
                .map(|(topic, partitions)| {
                    let found = partitions
                        .into_iter()
                        .map(|p| (p, lookup(&topic, p)))
                        .collect();
                    (topic, found)
                })
                .collect(),
            None => {
                let mut by_topic: BTreeMap<String, Vec<(i32, Option<FetchedOffset>)>> =
                    BTreeMap::new();
                for (topic, partition) in group
                    .map(|g| g.offsets.keys().cloned().collect::<Vec<_>>())
                    .unwrap_or_default()
                {
                    let found = lookup(&topic, partition);
                    by_topic.entry(topic).or_default().push((partition, found));
                }
                by_topic.into_iter().collect()
            }
        }
    }

    /// OffsetDelete: removes committed offsets of partitions the group does
    /// not consume. Ok holds an error per partition.
    pub async fn delete_offsets(
        &self,
        log: &LogManager,
        group_id: &str,
        partitions: Vec<(String, i32)>,
        now: i64,
    ) -> Result<Vec<ErrorCode>, ErrorCode> {
        let (pending, errors, deleted) = {
            let groups = self.lock();
            let Some(group) = groups.get(group_id) else {
                return Err(ErrorCode::GroupIdNotFound);
            };
            if group.state == GroupState::Dead {
                return Err(ErrorCode::GroupIdNotFound);
            }
            let subscribed: Option<Vec<String>> = if let Some(consumer) = &group.consumer {
                Some(consumer.subscribed_topics())
            } else if group.members.is_empty() {
                Some(Vec::new())
            } else if group.protocol_type.as_deref() == Some("consumer") {
                let mut topics = Vec::new();
                let mut readable = true;
                for member in group.members.values() {
                    match consumer_subscription(&member.metadata(group.protocol.as_deref())) {
                        Some(t) => topics.extend(t),
                        None => readable = false,
                    }
                }
                readable.then_some(topics)
            } else {
                None
            };
            let Some(subscribed) = subscribed else {
                return Err(ErrorCode::NonEmptyGroup);
            };
            let mut errors = Vec::new();
            let mut writes = Vec::new();
            let mut deleted = Vec::new();
            for (topic, partition) in partitions {
                if subscribed.contains(&topic) {
                    errors.push(ErrorCode::GroupSubscribedToTopic);
                    continue;
                }
                errors.push(ErrorCode::None);
                if group.offsets.contains_key(&(topic.clone(), partition)) {
                    writes.push(Entry::Offset {
                        topic: topic.clone(),
                        partition,
                        value: None,
                    });
                    deleted.push((topic, partition));
                }
            }
            let pending = if writes.is_empty() {
                None
            } else {
                Some(
                    store::append(
                        log,
                        self.config.offsets_topic_num_partitions,
                        group_id,
                        &writes,
                        now,
                    )
                    .map_err(|e| {
                        tracing::error!(group = group_id, error = %e, "offset delete failed");
                        ErrorCode::CoordinatorNotAvailable
                    })?,
                )
            };
            (pending, errors, deleted)
        };
        if let Some(pending) = pending {
            let appended = pending.wait().await.map_err(|e| store::unwritten(&e))?;
            let mut groups = self.lock();
            if let Some(group) = groups.get_mut(group_id) {
                for key in deleted {
                    if group
                        .offsets
                        .get(&key)
                        .is_some_and(|c| c.log_offset < appended.base_offset)
                    {
                        group.offsets.remove(&key);
                    }
                }
            }
        }
        Ok(errors)
    }
}

/// The topics of a `consumer` protocol subscription (ConsumerProtocolSubscription:
/// version i16, then an array of topic strings).
fn consumer_subscription(metadata: &[u8]) -> Option<Vec<String>> {
    let mut buf = metadata;
    let take = |buf: &mut &[u8], n: usize| -> Option<Vec<u8>> {
        if buf.len() < n {
            return None;
        }
        let (head, tail) = buf.split_at(n);
        *buf = tail;
        Some(head.to_vec())
    };
    let version = i16::from_be_bytes(take(&mut buf, 2)?.try_into().ok()?);
    if version < 0 {
        return None;
    }
    let count = i32::from_be_bytes(take(&mut buf, 4)?.try_into().ok()?);
    let mut topics = Vec::new();
    for _ in 0..count.max(0) {
        let len = i16::from_be_bytes(take(&mut buf, 2)?.try_into().ok()?);
        let name = take(&mut buf, usize::try_from(len).ok()?)?;
        topics.push(String::from_utf8(name).ok()?);
    }
    Some(topics)
}
