//! The group coordinator for Kafka's classic rebalance protocol
//! (JoinGroup / SyncGroup / Heartbeat / LeaveGroup) and committed offsets.
//!
//! States, as Kafka has them: `Empty → PreparingRebalance →
//! CompletingRebalance → Stable`, back to `PreparingRebalance` on any
//! membership change, and `Dead` for a group that no longer exists.
//!
//! Every operation takes the current time in milliseconds, so the state
//! machine is deterministic under test; [`GroupCoordinator::tick`] (called
//! periodically by the server's upkeep task) fires what time decides:
//! the initial rebalance delay, rebalance timeouts, session expiry of
//! members and of pending (KIP-394) member ids, and offset retention.
//!
//! JoinGroup and SyncGroup answers that must wait for a rebalance are
//! oneshot channels ([`Pending::Wait`]) completed by whichever call or tick
//! finishes the rebalance.
//!
//! Durable state (committed offsets, group metadata after each rebalance)
//! lives in `__consumer_offsets`; see [`store`] for the record layout.
//!
//! Layout: this file has the public types and the coordinator's shared
//! plumbing (load, describe, list, delete, tick); `classic` the classic
//! protocol's state machine; `offsets` committed offsets and retention;
//! `consumer` (with `assignor` and `reconcile`) the KIP-848 consumer
//! rebalance protocol. A group is of one type at a time: classic, or
//! consumer when [`Group::consumer`] is set; an empty group may change type.

pub mod assignor;
mod classic;
pub mod consumer;
mod offsets;
pub mod reconcile;
pub mod store;
mod txn_offsets;

#[cfg(test)]
mod tests;

use crate::config::GroupConfig;
use crate::log::LogManager;
use crate::protocol::error_code::ErrorCode;
use bytes::Bytes;
use classic::Member;
use offsets::Committed;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Mutex;
use store::{Entry, GroupValue};
use tokio::sync::oneshot;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupState {
    Empty,
    PreparingRebalance,
    CompletingRebalance,
    Stable,
    Dead,
}

impl GroupState {
    pub fn name(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
            GroupState::Dead => "Dead",
        }
    }
}

/// An answer now, or one that arrives when the rebalance completes, or
/// one that waits for a write to commit.
pub enum Pending<T> {
    Ready(T),
    Wait(oneshot::Receiver<T>),
    AfterWrite(Box<AfterWrite<T>>),
}

/// Answers that must not go out before `write` is committed: `settle`
/// then hands every waiter its answer (this one's through `answer`), or
/// the error the write met.
pub struct AfterWrite<T> {
    pub write: crate::log::PendingAppend,
    pub settle: Box<dyn FnOnce(Result<(), ErrorCode>) + Send>,
    pub answer: oneshot::Receiver<T>,
}

impl<T> Pending<T> {
    /// Waits for the answer; `orphaned` answers a waiter the coordinator dropped.
    pub async fn result(self, orphaned: impl FnOnce() -> T) -> T {
        match self {
            Pending::Ready(value) => value,
            Pending::Wait(rx) => rx.await.unwrap_or_else(|_| orphaned()),
            Pending::AfterWrite(after) => {
                let AfterWrite {
                    write,
                    settle,
                    answer,
                } = *after;
                // Its own task: the other waiters are answered even if
                // this request is dropped.
                tokio::spawn(async move {
                    let outcome = write.wait().await.map(drop).map_err(|e| {
                        tracing::error!(error = %e, "group write not committed");
                        store::unwritten(&e)
                    });
                    settle(outcome);
                });
                answer.await.unwrap_or_else(|_| orphaned())
            }
        }
    }

    /// The answer if it is already there (tests).
    pub fn try_now(&mut self) -> Option<T> {
        match self {
            Pending::Ready(_) => {
                let Pending::Ready(value) =
                    std::mem::replace(self, Pending::Wait(oneshot::channel().1))
                else {
                    unreachable!()
                };
                Some(value)
            }
            Pending::Wait(rx) => rx.try_recv().ok(),
            Pending::AfterWrite(_) => None,
        }
    }
}

pub struct JoinRequest {
    pub group_id: String,
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout_ms: i32,
    pub rebalance_timeout_ms: i32,
    pub protocol_type: String,
    pub protocols: Vec<(String, Bytes)>,
    /// JoinGroup v4+ (KIP-394): a new dynamic member first gets MEMBER_ID_REQUIRED.
    pub require_known_member_id: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JoinedMember {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub metadata: Bytes,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JoinResult {
    pub error: ErrorCode,
    pub generation: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub leader: String,
    pub member_id: String,
    pub members: Vec<JoinedMember>,
    pub skip_assignment: bool,
}

impl JoinResult {
    pub fn failed(error: ErrorCode, member_id: String) -> Self {
        JoinResult {
            error,
            generation: -1,
            protocol_type: None,
            protocol_name: None,
            leader: String::new(),
            member_id,
            members: Vec::new(),
            skip_assignment: false,
        }
    }
}

pub struct SyncRequest {
    pub group_id: String,
    pub generation: i32,
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub assignments: Vec<(String, Bytes)>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncResult {
    pub error: ErrorCode,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub assignment: Bytes,
}

impl SyncResult {
    pub fn failed(error: ErrorCode) -> Self {
        SyncResult {
            error,
            protocol_type: None,
            protocol_name: None,
            assignment: Bytes::new(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct MemberDescription {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub metadata: Bytes,
    pub assignment: Bytes,
}

/// A group as ListGroups reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListedGroup {
    pub group_id: String,
    pub protocol_type: String,
    pub state: &'static str,
    /// "classic" or "consumer" (ListGroups v5 GroupType).
    pub group_type: &'static str,
}

#[derive(Clone, Debug)]
pub struct GroupDescription {
    pub group_id: String,
    pub state: GroupState,
    /// As DescribeGroups reports it: a consumer group's own state names.
    pub state_name: &'static str,
    pub protocol_type: String,
    pub protocol: String,
    pub members: Vec<MemberDescription>,
}

struct Group {
    id: String,
    state: GroupState,
    state_since: i64,
    protocol_type: Option<String>,
    protocol: Option<String>,
    generation: i32,
    leader: Option<String>,
    members: HashMap<String, Member>,
    /// KIP-394 member ids handed out with MEMBER_ID_REQUIRED, and when they expire.
    pending: HashMap<String, i64>,
    /// group.instance.id → member id (KIP-345).
    statics: HashMap<String, String>,
    offsets: BTreeMap<(String, i32), Committed>,
    /// While an Empty group's first rebalance waits `group.initial.rebalance.delay.ms`.
    delay_deadline: Option<i64>,
    delay_cap: i64,
    joined_during_delay: bool,
    rebalance_deadline: Option<i64>,
    /// When members that have not sent SyncGroup are dropped (as Kafka's pending-sync timeout).
    sync_deadline: Option<i64>,
    next_seq: u64,
    /// Set for a KIP-848 consumer group (then the classic fields stay empty).
    consumer: Option<Box<consumer::ConsumerGroup>>,
}

/// Records to write for a group, collected while the state changes.
type Writes = Vec<Entry>;

impl Group {
    fn new(id: &str, now: i64) -> Group {
        Group {
            id: id.to_string(),
            state: GroupState::Empty,
            state_since: now,
            protocol_type: None,
            protocol: None,
            generation: 0,
            leader: None,
            members: HashMap::new(),
            pending: HashMap::new(),
            statics: HashMap::new(),
            offsets: BTreeMap::new(),
            delay_deadline: None,
            delay_cap: 0,
            joined_during_delay: false,
            rebalance_deadline: None,
            sync_deadline: None,
            next_seq: 0,
            consumer: None,
        }
    }

    fn transition(&mut self, state: GroupState, now: i64) {
        self.state = state;
        self.state_since = now;
    }

    fn is_removable(&self) -> bool {
        self.state == GroupState::Empty
            && self.members.is_empty()
            && self.pending.is_empty()
            && self.offsets.is_empty()
            && self.consumer.as_ref().is_none_or(|c| c.members.is_empty())
    }

    /// No members of either protocol.
    fn has_no_members(&self) -> bool {
        self.members.is_empty() && self.consumer.as_ref().is_none_or(|c| c.members.is_empty())
    }
}

fn new_uuid() -> String {
    let bytes = crate::log::topic::random_uuid()
        .map(|u| u.0)
        .unwrap_or_else(|_| {
            static COUNTER: AtomicI64 = AtomicI64::new(0);
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let mut b = [0u8; 16];
            b[..8].copy_from_slice(&crate::log::steady_ms().to_be_bytes());
            b[8..].copy_from_slice(&n.to_be_bytes());
            b
        });
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// Who commits offsets: the group, and the member and generation it claims.
#[derive(Clone, Copy, Debug)]
pub struct Committer<'a> {
    pub group_id: &'a str,
    /// -1 for a commit from outside group management (a "simple" consumer).
    pub generation: i32,
    pub member_id: &'a str,
    pub instance_id: Option<&'a str>,
}

/// OffsetFetch's answer: per topic, per partition, the committed offset if any.
pub type TopicOffsets = Vec<(String, Vec<(i32, Option<FetchedOffset>)>)>;

/// A committed offset as OffsetFetch reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FetchedOffset {
    pub partition: i32,
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: Option<String>,
}

pub struct GroupCoordinator {
    config: GroupConfig,
    groups: std::sync::Arc<Mutex<HashMap<String, Group>>>,
    last_retention_check: AtomicI64,
    /// Offsets committed inside transactions not yet ended.
    txn_offsets: Mutex<txn_offsets::PendingTxnOffsets>,
}

/// The groups stored in `__consumer_offsets` (or only in its partition
/// `only`), and the transactional offset commits still open there.
fn rebuild(
    config: &GroupConfig,
    log: &LogManager,
    only: Option<i32>,
    now: i64,
) -> std::io::Result<(HashMap<String, Group>, Vec<store::OpenTxnRecords>)> {
    {
        let mut metadata: HashMap<String, Option<GroupValue>> = HashMap::new();
        let mut offsets: HashMap<String, BTreeMap<(String, i32), Committed>> = HashMap::new();
        let mut consumers: HashMap<String, Option<store::ConsumerGroupValue>> = HashMap::new();
        let open_txns = store::replay(log, only, |record| match record.key {
            store::Key::Offset {
                group,
                topic,
                partition,
            } => {
                let entries = offsets.entry(group).or_default();
                match record.value.map(store::decode_offset) {
                    // Transactional commits arrive at their marker: a later
                    // plain commit (higher record offset) still wins.
                    Some(Ok(value))
                        if entries
                            .get(&(topic.clone(), partition))
                            .is_none_or(|c| c.log_offset < record.offset) =>
                    {
                        entries.insert(
                            (topic, partition),
                            Committed {
                                value,
                                log_offset: record.offset,
                            },
                        );
                    }
                    Some(Ok(_)) => {}
                    Some(Err(e)) => tracing::warn!(error = %e, "skipping unreadable offset commit"),
                    None => {
                        entries.remove(&(topic, partition));
                    }
                }
            }
            store::Key::Group { group } => match record.value.map(store::decode_group) {
                Some(Ok(value)) => {
                    metadata.insert(group, Some(value));
                }
                Some(Err(e)) => tracing::warn!(error = %e, "skipping unreadable group metadata"),
                None => {
                    metadata.insert(group, None);
                }
            },
            store::Key::Consumer { group } => {
                match record.value.map(store::decode_consumer_group) {
                    Some(Ok(value)) => {
                        consumers.insert(group, Some(value));
                    }
                    Some(Err(e)) => {
                        tracing::warn!(error = %e, "skipping unreadable consumer group")
                    }
                    None => {
                        consumers.insert(group, None);
                    }
                }
            }
        })?;
        let mut groups = HashMap::new();
        for (id, value) in metadata {
            let Some(value) = value else { continue };
            let mut group = Group::new(&id, now);
            group.protocol_type = Some(value.protocol_type).filter(|t| !t.is_empty());
            group.generation = value.generation;
            group.protocol = value.protocol;
            group.leader = value.leader;
            group.state_since = value.state_timestamp;
            for stored in value.members {
                group.next_seq += 1;
                if let Some(instance) = &stored.group_instance_id {
                    group
                        .statics
                        .insert(instance.clone(), stored.member_id.clone());
                }
                let protocols = group
                    .protocol
                    .clone()
                    .map(|p| vec![(p, stored.subscription.clone())])
                    .unwrap_or_default();
                group.members.insert(
                    stored.member_id.clone(),
                    Member {
                        id: stored.member_id,
                        instance_id: stored.group_instance_id,
                        client_id: stored.client_id,
                        client_host: stored.client_host,
                        session_timeout: stored.session_timeout,
                        rebalance_timeout: stored.rebalance_timeout,
                        protocols,
                        assignment: stored.assignment,
                        join_waiter: None,
                        sync_waiter: None,
                        deadline: now + i64::from(stored.session_timeout),
                        seq: group.next_seq,
                        synced: true,
                    },
                );
            }
            if !group.members.is_empty() {
                group.state = GroupState::Stable;
                if group
                    .leader
                    .as_ref()
                    .is_none_or(|l| !group.members.contains_key(l))
                {
                    group.leader = group.earliest_member();
                }
            }
            groups.insert(id, group);
        }
        for (id, value) in consumers {
            let Some(value) = value else { continue };
            let mut group = Group::new(&id, now);
            group.protocol_type = Some("consumer".to_string());
            group.consumer = Some(Box::new(consumer::ConsumerGroup::restore(
                value,
                config.consumer_session_timeout_ms,
                now,
            )));
            groups.insert(id, group);
        }
        for (id, entries) in offsets {
            if entries.is_empty() {
                continue;
            }
            groups
                .entry(id.clone())
                .or_insert_with(|| Group::new(&id, now))
                .offsets = entries;
        }
        Ok((groups, open_txns))
    }
}

impl GroupCoordinator {
    /// Rebuilds every group from `__consumer_offsets`.
    pub fn load(config: GroupConfig, log: &LogManager) -> std::io::Result<GroupCoordinator> {
        let now = crate::log::steady_ms();
        let (groups, open_txns) = rebuild(&config, log, None, now)?;
        if !groups.is_empty() {
            tracing::info!(groups = groups.len(), "loaded consumer groups");
        }
        let txn_offsets = Mutex::new(txn_offsets::PendingTxnOffsets::from_replay(open_txns));
        Ok(GroupCoordinator {
            config,
            groups: std::sync::Arc::new(Mutex::new(groups)),
            last_retention_check: AtomicI64::new(now),
            txn_offsets,
        })
    }

    /// This broker now leads `__consumer_offsets` partition `partition`:
    /// its groups are rebuilt from that partition's log, replacing whatever
    /// was known of them. Returns how many groups it holds.
    ///
    /// Groups change and write their records under the groups' lock, so
    /// holding it from the replay to the replacement loses no change made
    /// in between.
    pub fn load_partition(&self, log: &LogManager, partition: i32) -> std::io::Result<usize> {
        let mut groups = self.lock();
        let (loaded, open_txns) =
            rebuild(&self.config, log, Some(partition), crate::log::steady_ms())?;
        let count = loaded.len();
        self.forget_partition(&mut groups, log, partition);
        groups.extend(loaded);
        self.txn_offsets()
            .merge(txn_offsets::PendingTxnOffsets::from_replay(open_txns));
        Ok(count)
    }

    /// This broker no longer leads `__consumer_offsets` partition
    /// `partition`: it forgets the groups stored there.
    pub fn unload_partition(&self, log: &LogManager, partition: i32) {
        let mut groups = self.lock();
        self.forget_partition(&mut groups, log, partition);
    }

    fn forget_partition(
        &self,
        groups: &mut HashMap<String, Group>,
        log: &LogManager,
        partition: i32,
    ) {
        let Some(count) = log.topic(store::OFFSETS_TOPIC).map(|t| t.meta.partitions) else {
            return;
        };
        groups.retain(|id, _| store::partition_for(id, count) != partition);
        self.txn_offsets().drop_partition(partition);
    }

    pub fn config(&self) -> &GroupConfig {
        &self.config
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Group>> {
        self.groups.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Appends `writes` while the caller still holds the lock, so the log
    /// order is the order of the state changes.
    fn write(
        &self,
        log: &LogManager,
        group: &str,
        writes: &[Entry],
        now: i64,
    ) -> Option<crate::log::PendingAppend> {
        if writes.is_empty() {
            return None;
        }
        match store::append(
            log,
            self.config.offsets_topic_num_partitions,
            group,
            writes,
            now,
        ) {
            Ok(pending) => Some(pending),
            Err(e) => {
                tracing::error!(group, error = %e, "writing group state failed");
                None
            }
        }
    }

    pub fn describe(&self, group_id: &str) -> GroupDescription {
        let groups = self.lock();
        let Some(group) = groups.get(group_id) else {
            return GroupDescription {
                group_id: group_id.to_string(),
                state: GroupState::Dead,
                state_name: GroupState::Dead.name(),
                protocol_type: String::new(),
                protocol: String::new(),
                members: Vec::new(),
            };
        };
        if let Some(consumer) = &group.consumer {
            return GroupDescription {
                group_id: group.id.clone(),
                state: group.state,
                state_name: consumer.state(),
                protocol_type: "consumer".to_string(),
                protocol: consumer.assignor().to_string(),
                members: consumer::classic_view(consumer)
                    .into_iter()
                    .map(
                        |(
                            member_id,
                            group_instance_id,
                            client_id,
                            client_host,
                            metadata,
                            assignment,
                        )| MemberDescription {
                            member_id,
                            group_instance_id,
                            client_id,
                            client_host,
                            metadata,
                            assignment,
                        },
                    )
                    .collect(),
            };
        }
        let stable = group.state == GroupState::Stable;
        let mut members: Vec<&Member> = group.members.values().collect();
        members.sort_by_key(|m| m.seq);
        GroupDescription {
            group_id: group.id.clone(),
            state: group.state,
            state_name: group.state.name(),
            protocol_type: group.protocol_type.clone().unwrap_or_default(),
            protocol: if stable {
                group.protocol.clone().unwrap_or_default()
            } else {
                String::new()
            },
            members: members
                .into_iter()
                .map(|m| MemberDescription {
                    member_id: m.id.clone(),
                    group_instance_id: m.instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    metadata: if stable {
                        m.metadata(group.protocol.as_deref())
                    } else {
                        Bytes::new()
                    },
                    assignment: if stable {
                        m.assignment.clone()
                    } else {
                        Bytes::new()
                    },
                })
                .collect(),
        }
    }

    /// Every live group for ListGroups: id, protocol type, state name, group type.
    pub fn listing(&self) -> Vec<ListedGroup> {
        let groups = self.lock();
        let mut all: Vec<ListedGroup> = groups
            .values()
            .filter(|g| g.state != GroupState::Dead)
            .map(|g| ListedGroup {
                group_id: g.id.clone(),
                protocol_type: g.protocol_type.clone().unwrap_or_default(),
                state: g.consumer.as_ref().map_or(g.state.name(), |c| c.state()),
                group_type: if g.consumer.is_some() {
                    "consumer"
                } else {
                    "classic"
                },
            })
            .collect();
        all.sort_by(|a, b| a.group_id.cmp(&b.group_id));
        all
    }

    /// Every group: id, protocol type, state.
    pub fn list(&self) -> Vec<(String, String, GroupState)> {
        let groups = self.lock();
        let mut all: Vec<_> = groups
            .values()
            .map(|g| {
                (
                    g.id.clone(),
                    g.protocol_type.clone().unwrap_or_default(),
                    g.state,
                )
            })
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }

    /// DeleteGroups: only empty groups go; their offsets and metadata are tombstoned.
    pub async fn delete_group(&self, log: &LogManager, group_id: &str, now: i64) -> ErrorCode {
        let pending = {
            let mut groups = self.lock();
            let Some(group) = groups.get(group_id) else {
                return ErrorCode::GroupIdNotFound;
            };
            if group.state == GroupState::Dead {
                return ErrorCode::GroupIdNotFound;
            }
            if !group.has_no_members() || group.state != GroupState::Empty {
                return ErrorCode::NonEmptyGroup;
            }
            let mut writes: Writes = group
                .offsets
                .keys()
                .map(|(topic, partition)| Entry::Offset {
                    topic: topic.clone(),
                    partition: *partition,
                    value: None,
                })
                .collect();
            writes.push(Entry::Group(None));
            if group.consumer.is_some() {
                writes.push(Entry::Consumer(None));
            }
            let pending = store::append(
                log,
                self.config.offsets_topic_num_partitions,
                group_id,
                &writes,
                now,
            );
            if pending.is_ok() {
                groups.remove(group_id);
            }
            pending
        };
        match pending {
            Ok(pending) => match pending.wait().await {
                Ok(_) => ErrorCode::None,
                Err(e) => {
                    tracing::error!(group = group_id, error = %e, "group deletion not durable");
                    store::unwritten(&e)
                }
            },
            Err(e) => {
                tracing::error!(group = group_id, error = %e, "group deletion failed");
                ErrorCode::CoordinatorNotAvailable
            }
        }
    }

    /// Fires timeouts; every `offsets.retention.check.interval.ms`, expires
    /// offsets and removes empty groups left with none.
    pub fn tick(&self, log: &LogManager, now: i64) {
        let last = self.last_retention_check.load(Ordering::Relaxed);
        let retention_due = now - last >= self.config.offsets_retention_check_interval_ms;
        if retention_due {
            self.last_retention_check.store(now, Ordering::Relaxed);
        }
        self.expire(log, now, retention_due);
    }

    fn expire(&self, log: &LogManager, now: i64, retention: bool) {
        let mut groups = self.lock();
        let mut dead = Vec::new();
        for group in groups.values_mut() {
            let mut writes = group.expire(&self.config, now);
            if let Some(consumer) = group.consumer.as_mut() {
                if consumer.expire(&group.id, now) {
                    writes.push(Entry::Consumer(Some(consumer.stored())));
                    if consumer.members.is_empty() {
                        group.state_since = now;
                    }
                }
            }
            if retention {
                for key in group.expired_offsets(self.config.offsets_retention_ms, now) {
                    group.offsets.remove(&key);
                    writes.push(Entry::Offset {
                        topic: key.0,
                        partition: key.1,
                        value: None,
                    });
                }
                if group.is_removable() {
                    writes.push(Entry::Group(None));
                    if group.consumer.is_some() {
                        writes.push(Entry::Consumer(None));
                    }
                    group.transition(GroupState::Dead, now);
                    dead.push(group.id.clone());
                }
            }
            let id = group.id.clone();
            self.write(log, &id, &writes, now);
        }
        for id in dead {
            groups.remove(&id);
        }
    }

    /// Runs the retention pass now (tests).
    #[cfg(test)]
    fn expire_now(&self, log: &LogManager, now: i64) {
        self.expire(log, now, true);
    }
}
