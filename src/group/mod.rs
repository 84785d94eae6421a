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

pub mod store;

#[cfg(test)]
mod tests;

use crate::config::GroupConfig;
use crate::log::LogManager;
use crate::protocol::error_code::ErrorCode;
use bytes::Bytes;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Mutex;
use store::{Entry, GroupValue, OffsetValue, StoredMember};
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

/// An answer now, or one that arrives when the rebalance completes.
pub enum Pending<T> {
    Ready(T),
    Wait(oneshot::Receiver<T>),
}

impl<T> Pending<T> {
    /// Waits for the answer; `orphaned` answers a waiter the coordinator dropped.
    pub async fn result(self, orphaned: impl FnOnce() -> T) -> T {
        match self {
            Pending::Ready(value) => value,
            Pending::Wait(rx) => rx.await.unwrap_or_else(|_| orphaned()),
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

#[derive(Clone, Debug)]
pub struct GroupDescription {
    pub group_id: String,
    pub state: GroupState,
    pub protocol_type: String,
    pub protocol: String,
    pub members: Vec<MemberDescription>,
}

struct Member {
    id: String,
    instance_id: Option<String>,
    client_id: String,
    client_host: String,
    session_timeout: i32,
    rebalance_timeout: i32,
    protocols: Vec<(String, Bytes)>,
    assignment: Bytes,
    join_waiter: Option<oneshot::Sender<JoinResult>>,
    sync_waiter: Option<oneshot::Sender<SyncResult>>,
    /// Session expiry, pushed forward by every heartbeat.
    deadline: i64,
    /// Join order: the leader is the earliest member.
    seq: u64,
    /// Sent its SyncGroup in the current CompletingRebalance phase.
    synced: bool,
}

impl Member {
    fn awaiting(&self) -> bool {
        self.join_waiter.is_some() || self.sync_waiter.is_some()
    }

    fn metadata(&self, protocol: Option<&str>) -> Bytes {
        protocol
            .and_then(|p| self.protocols.iter().find(|(name, _)| name == p))
            .map(|(_, m)| m.clone())
            .unwrap_or_default()
    }
}

/// A committed offset and the `__consumer_offsets` offset of its record.
#[derive(Clone, Debug)]
struct Committed {
    value: OffsetValue,
    log_offset: i64,
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
    }

    /// Protocols every member supports, in the order of the earliest member's list.
    fn candidate_protocols(&self) -> Vec<String> {
        let Some(first) = self.members.values().min_by_key(|m| m.seq) else {
            return Vec::new();
        };
        first
            .protocols
            .iter()
            .map(|(name, _)| name.clone())
            .filter(|name| {
                self.members
                    .values()
                    .all(|m| m.protocols.iter().any(|(n, _)| n == name))
            })
            .collect()
    }

    fn accepts(&self, protocol_type: &str, protocols: &[(String, Bytes)]) -> bool {
        if self.members.is_empty() {
            return !protocol_type.is_empty() && !protocols.is_empty();
        }
        let candidates = self.candidate_protocols();
        self.protocol_type.as_deref() == Some(protocol_type)
            && protocols.iter().any(|(name, _)| candidates.contains(name))
    }

    /// Each member votes for its most preferred candidate; the most votes win
    /// (ties go to the earlier candidate).
    fn select_protocol(&self) -> Option<String> {
        let candidates = self.candidate_protocols();
        let mut votes = vec![0usize; candidates.len()];
        for member in self.members.values() {
            if let Some(i) = member
                .protocols
                .iter()
                .find_map(|(name, _)| candidates.iter().position(|c| c == name))
            {
                votes[i] += 1;
            }
        }
        let best = votes.iter().copied().max()?;
        candidates
            .into_iter()
            .zip(votes)
            .find(|(_, v)| *v == best)
            .map(|(c, _)| c)
    }

    fn earliest_member(&self) -> Option<String> {
        self.members
            .values()
            .min_by_key(|m| m.seq)
            .map(|m| m.id.clone())
    }

    fn all_joined(&self) -> bool {
        self.pending.is_empty() && self.members.values().all(|m| m.join_waiter.is_some())
    }

    fn is_fenced(&self, instance_id: Option<&str>, member_id: &str) -> bool {
        instance_id
            .and_then(|i| self.statics.get(i))
            .is_some_and(|known| known != member_id)
    }

    fn stored(&self) -> GroupValue {
        let mut members: Vec<&Member> = self.members.values().collect();
        members.sort_by_key(|m| m.seq);
        GroupValue {
            protocol_type: self.protocol_type.clone().unwrap_or_default(),
            generation: self.generation,
            protocol: self.protocol.clone(),
            leader: self.leader.clone(),
            state_timestamp: self.state_since,
            members: members
                .into_iter()
                .map(|m| StoredMember {
                    member_id: m.id.clone(),
                    group_instance_id: m.instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    rebalance_timeout: m.rebalance_timeout,
                    session_timeout: m.session_timeout,
                    subscription: m.metadata(self.protocol.as_deref()),
                    assignment: m.assignment.clone(),
                })
                .collect(),
        }
    }

    /// What a member is told about the current generation.
    fn join_result(&self, member_id: &str, with_members: bool) -> JoinResult {
        let mut members = Vec::new();
        if with_members {
            let mut all: Vec<&Member> = self.members.values().collect();
            all.sort_by_key(|m| m.seq);
            members = all
                .into_iter()
                .map(|m| JoinedMember {
                    member_id: m.id.clone(),
                    group_instance_id: m.instance_id.clone(),
                    metadata: m.metadata(self.protocol.as_deref()),
                })
                .collect();
        }
        JoinResult {
            error: ErrorCode::None,
            generation: self.generation,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol.clone(),
            leader: self.leader.clone().unwrap_or_default(),
            member_id: member_id.to_string(),
            members,
            skip_assignment: false,
        }
    }

    fn prepare_rebalance(&mut self, config: &GroupConfig, now: i64) {
        if self.state == GroupState::CompletingRebalance {
            for member in self.members.values_mut() {
                member.assignment = Bytes::new();
                if let Some(waiter) = member.sync_waiter.take() {
                    // The session restarts with the answer, as Kafka's heartbeat does.
                    member.deadline = now + i64::from(member.session_timeout);
                    let _ = waiter.send(SyncResult::failed(ErrorCode::RebalanceInProgress));
                }
            }
        }
        let rebalance_timeout = i64::from(
            self.members
                .values()
                .map(|m| m.rebalance_timeout)
                .max()
                .unwrap_or(0)
                .max(0),
        );
        if self.state == GroupState::Empty {
            let delay = config.initial_rebalance_delay_ms.min(rebalance_timeout);
            self.delay_deadline = (delay > 0).then_some(now + delay);
            self.delay_cap = now + rebalance_timeout;
            self.joined_during_delay = false;
        }
        self.rebalance_deadline = Some(now + rebalance_timeout);
        self.sync_deadline = None;
        self.transition(GroupState::PreparingRebalance, now);
    }

    fn try_complete_join(&mut self, now: i64) -> Writes {
        if self.state == GroupState::PreparingRebalance
            && self.delay_deadline.is_none()
            && self.all_joined()
        {
            self.complete_join(now)
        } else {
            Vec::new()
        }
    }

    /// Ends the join phase: members that did not rejoin are dropped, the
    /// generation advances, and every waiting member gets its answer.
    fn complete_join(&mut self, now: i64) -> Writes {
        let gone: Vec<String> = self
            .members
            .values()
            .filter(|m| m.join_waiter.is_none())
            .map(|m| m.id.clone())
            .collect();
        for id in gone {
            self.drop_member(&id);
        }
        self.delay_deadline = None;
        self.rebalance_deadline = None;
        self.generation += 1;
        if self.members.is_empty() {
            self.protocol = None;
            self.leader = None;
            self.transition(GroupState::Empty, now);
            return vec![Entry::Group(Some(self.stored()))];
        }
        self.protocol = self.select_protocol();
        if self
            .leader
            .as_ref()
            .is_none_or(|l| !self.members.contains_key(l))
        {
            self.leader = self.earliest_member();
        }
        self.transition(GroupState::CompletingRebalance, now);
        let rebalance_timeout = i64::from(
            self.members
                .values()
                .map(|m| m.rebalance_timeout)
                .max()
                .unwrap_or(0)
                .max(0),
        );
        self.sync_deadline = Some(now + rebalance_timeout);
        for member in self.members.values_mut() {
            member.synced = false;
        }
        let leader = self.leader.clone().unwrap_or_default();
        let ids: Vec<String> = self.members.keys().cloned().collect();
        for id in ids {
            let result = self.join_result(&id, id == leader);
            let member = self.members.get_mut(&id).expect("member listed");
            member.deadline = now + i64::from(member.session_timeout);
            if let Some(waiter) = member.join_waiter.take() {
                let _ = waiter.send(result);
            }
        }
        Vec::new()
    }

    /// Removes a member from the maps, answering anything it waits for.
    fn drop_member(&mut self, id: &str) {
        let Some(mut member) = self.members.remove(id) else {
            return;
        };
        if let Some(instance) = &member.instance_id {
            if self.statics.get(instance).is_some_and(|m| m == id) {
                self.statics.remove(instance);
            }
        }
        if let Some(waiter) = member.join_waiter.take() {
            let _ = waiter.send(JoinResult::failed(
                ErrorCode::UnknownMemberId,
                id.to_string(),
            ));
        }
        if let Some(waiter) = member.sync_waiter.take() {
            let _ = waiter.send(SyncResult::failed(ErrorCode::UnknownMemberId));
        }
        if self.leader.as_deref() == Some(id) {
            self.leader = self.earliest_member();
        }
    }

    /// A member leaves (LeaveGroup, session expiry): the others rebalance.
    fn remove_member(&mut self, id: &str, config: &GroupConfig, now: i64) -> Writes {
        self.drop_member(id);
        match self.state {
            GroupState::Stable | GroupState::CompletingRebalance => {
                self.prepare_rebalance(config, now);
                self.try_complete_join(now)
            }
            GroupState::PreparingRebalance => self.try_complete_join(now),
            GroupState::Empty | GroupState::Dead => Vec::new(),
        }
    }

    fn add_member_and_rebalance(
        &mut self,
        id: String,
        req: &JoinRequest,
        config: &GroupConfig,
        now: i64,
    ) -> (Pending<JoinResult>, Writes) {
        let (tx, rx) = oneshot::channel();
        if self.members.is_empty() {
            self.protocol_type = Some(req.protocol_type.clone());
        }
        self.next_seq += 1;
        let member = Member {
            id: id.clone(),
            instance_id: req.group_instance_id.clone(),
            client_id: req.client_id.clone(),
            client_host: req.client_host.clone(),
            session_timeout: req.session_timeout_ms,
            rebalance_timeout: req.rebalance_timeout_ms,
            protocols: req.protocols.clone(),
            assignment: Bytes::new(),
            join_waiter: Some(tx),
            sync_waiter: None,
            deadline: now + i64::from(req.session_timeout_ms),
            seq: self.next_seq,
            synced: false,
        };
        if let Some(instance) = &req.group_instance_id {
            self.statics.insert(instance.clone(), id.clone());
        }
        self.members.insert(id.clone(), member);
        if self.leader.is_none() {
            self.leader = Some(id);
        }
        if self.state == GroupState::PreparingRebalance {
            if self.delay_deadline.is_some() {
                self.joined_during_delay = true;
            }
        } else {
            self.prepare_rebalance(config, now);
        }
        let writes = self.try_complete_join(now);
        (Pending::Wait(rx), writes)
    }

    fn update_member_and_rebalance(
        &mut self,
        id: &str,
        req: &JoinRequest,
        config: &GroupConfig,
        now: i64,
    ) -> (Pending<JoinResult>, Writes) {
        let (tx, rx) = oneshot::channel();
        let Some(member) = self.members.get_mut(id) else {
            return (
                Pending::Ready(JoinResult::failed(
                    ErrorCode::UnknownMemberId,
                    id.to_string(),
                )),
                Vec::new(),
            );
        };
        member.protocols = req.protocols.clone();
        member.session_timeout = req.session_timeout_ms;
        member.rebalance_timeout = req.rebalance_timeout_ms;
        member.client_id = req.client_id.clone();
        member.client_host = req.client_host.clone();
        member.deadline = now + i64::from(req.session_timeout_ms);
        member.join_waiter = Some(tx);
        if self.state != GroupState::PreparingRebalance {
            self.prepare_rebalance(config, now);
        }
        let writes = self.try_complete_join(now);
        (Pending::Wait(rx), writes)
    }

    /// KIP-345: a known group.instance.id rejoins with an empty member id;
    /// the old member id is fenced and replaced. As in Kafka, a Stable group
    /// takes the new protocol metadata without a rebalance unless it changes
    /// the group's protocol: restarted clients send different metadata (owned
    /// partitions, generation) even when nothing that matters changed.
    fn replace_static_member(
        &mut self,
        old_id: &str,
        new_id: String,
        req: &JoinRequest,
        config: &GroupConfig,
        now: i64,
    ) -> (Pending<JoinResult>, Writes) {
        let Some(mut member) = self.members.remove(old_id) else {
            return (
                Pending::Ready(JoinResult::failed(ErrorCode::UnknownMemberId, new_id)),
                Vec::new(),
            );
        };
        if let Some(waiter) = member.join_waiter.take() {
            let _ = waiter.send(JoinResult::failed(
                ErrorCode::FencedInstanceId,
                old_id.to_string(),
            ));
        }
        if let Some(waiter) = member.sync_waiter.take() {
            let _ = waiter.send(SyncResult::failed(ErrorCode::FencedInstanceId));
        }
        member.id = new_id.clone();
        member.deadline = now + i64::from(req.session_timeout_ms);
        member.protocols = req.protocols.clone();
        member.session_timeout = req.session_timeout_ms;
        member.rebalance_timeout = req.rebalance_timeout_ms;
        self.members.insert(new_id.clone(), member);
        if let Some(instance) = &req.group_instance_id {
            self.statics.insert(instance.clone(), new_id.clone());
        }
        let old_leader = self.leader.clone();
        if self.leader.as_deref() == Some(old_id) {
            self.leader = Some(new_id.clone());
        }
        if self.state == GroupState::Stable && self.select_protocol() == self.protocol {
            let is_leader = self.leader.as_deref() == Some(new_id.as_str());
            let mut result = self.join_result(&new_id, is_leader);
            // The old leader id, as Kafka answers: a restarted leader must not
            // compute an assignment that a Stable group would never hand out.
            result.leader = old_leader.unwrap_or_default();
            result.skip_assignment = is_leader;
            return (
                Pending::Ready(result),
                vec![Entry::Group(Some(self.stored()))],
            );
        }
        self.update_member_and_rebalance(&new_id, req, config, now)
    }

    fn join_new(
        &mut self,
        req: &JoinRequest,
        config: &GroupConfig,
        now: i64,
    ) -> (Pending<JoinResult>, Writes) {
        let prefix = req.group_instance_id.as_deref().unwrap_or(&req.client_id);
        let new_id = format!("{prefix}-{}", new_uuid());
        if let Some(instance) = &req.group_instance_id {
            if let Some(old_id) = self.statics.get(instance).cloned() {
                return self.replace_static_member(&old_id, new_id, req, config, now);
            }
            return self.add_member_and_rebalance(new_id, req, config, now);
        }
        if req.require_known_member_id {
            self.pending
                .insert(new_id.clone(), now + i64::from(req.session_timeout_ms));
            return (
                Pending::Ready(JoinResult::failed(ErrorCode::MemberIdRequired, new_id)),
                Vec::new(),
            );
        }
        self.add_member_and_rebalance(new_id, req, config, now)
    }

    fn join_known(
        &mut self,
        req: &JoinRequest,
        config: &GroupConfig,
        now: i64,
    ) -> (Pending<JoinResult>, Writes) {
        let id = req.member_id.clone();
        let fail = |code| {
            (
                Pending::Ready(JoinResult::failed(code, id.clone())),
                Vec::new(),
            )
        };
        if self.pending.remove(&id).is_some() {
            return self.add_member_and_rebalance(id.clone(), req, config, now);
        }
        if self.is_fenced(req.group_instance_id.as_deref(), &id) {
            return fail(ErrorCode::FencedInstanceId);
        }
        let Some(member) = self.members.get(&id) else {
            return fail(ErrorCode::UnknownMemberId);
        };
        let same = member.protocols == req.protocols;
        let is_leader = self.leader.as_deref() == Some(id.as_str());
        match self.state {
            GroupState::PreparingRebalance => {
                self.update_member_and_rebalance(&id, req, config, now)
            }
            GroupState::CompletingRebalance if same => {
                (Pending::Ready(self.join_result(&id, is_leader)), Vec::new())
            }
            GroupState::Stable if same && !is_leader => {
                if let Some(member) = self.members.get_mut(&id) {
                    member.deadline = now + i64::from(member.session_timeout);
                }
                (Pending::Ready(self.join_result(&id, false)), Vec::new())
            }
            GroupState::CompletingRebalance | GroupState::Stable => {
                self.update_member_and_rebalance(&id, req, config, now)
            }
            GroupState::Empty | GroupState::Dead => fail(ErrorCode::UnknownMemberId),
        }
    }

    /// What time decides: pending ids and sessions expire, delays and
    /// rebalance timeouts end.
    fn expire(&mut self, config: &GroupConfig, now: i64) -> Writes {
        let mut writes = Vec::new();
        self.pending.retain(|_, deadline| *deadline > now);
        if self.state == GroupState::PreparingRebalance {
            match self.delay_deadline {
                Some(deadline) if deadline <= now => {
                    if self.joined_during_delay && deadline < self.delay_cap {
                        self.delay_deadline = Some(
                            (deadline + config.initial_rebalance_delay_ms).min(self.delay_cap),
                        );
                        self.joined_during_delay = false;
                    } else {
                        writes.extend(self.complete_join(now));
                    }
                }
                Some(_) => {}
                None if self.rebalance_deadline.is_some_and(|d| d <= now) => {
                    writes.extend(self.complete_join(now))
                }
                None => {}
            }
        }
        if self.state == GroupState::CompletingRebalance
            && self.sync_deadline.is_some_and(|d| d <= now)
        {
            let unsynced: Vec<String> = self
                .members
                .values()
                .filter(|m| !m.synced)
                .map(|m| m.id.clone())
                .collect();
            for id in &unsynced {
                tracing::info!(group = %self.id, member = %id, "member did not sync in time");
                self.drop_member(id);
            }
            self.prepare_rebalance(config, now);
        }
        let expired: Vec<String> = self
            .members
            .values()
            .filter(|m| !m.awaiting() && m.deadline <= now)
            .map(|m| m.id.clone())
            .collect();
        for id in expired {
            tracing::info!(group = %self.id, member = %id, "member session expired");
            writes.extend(self.remove_member(&id, config, now));
        }
        writes.extend(self.try_complete_join(now));
        writes
    }

    /// Offsets past retention: for a group with members none expire; an
    /// empty consumer group counts from when it became empty.
    fn expired_offsets(&self, retention_ms: i64, now: i64) -> Vec<(String, i32)> {
        if !self.members.is_empty() || retention_ms < 0 {
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

fn new_uuid() -> String {
    let bytes = crate::log::topic::random_uuid()
        .map(|u| u.0)
        .unwrap_or_else(|_| {
            static COUNTER: AtomicI64 = AtomicI64::new(0);
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let mut b = [0u8; 16];
            b[..8].copy_from_slice(&crate::log::now_ms().to_be_bytes());
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
    groups: Mutex<HashMap<String, Group>>,
    last_retention_check: AtomicI64,
}

impl GroupCoordinator {
    /// Rebuilds every group from `__consumer_offsets`.
    pub fn load(config: GroupConfig, log: &LogManager) -> std::io::Result<GroupCoordinator> {
        let now = crate::log::now_ms();
        let mut metadata: HashMap<String, Option<GroupValue>> = HashMap::new();
        let mut offsets: HashMap<String, BTreeMap<(String, i32), Committed>> = HashMap::new();
        store::replay(log, |record| match record.key {
            store::Key::Offset {
                group,
                topic,
                partition,
            } => {
                let entries = offsets.entry(group).or_default();
                match record.value.map(store::decode_offset) {
                    Some(Ok(value)) => {
                        entries.insert(
                            (topic, partition),
                            Committed {
                                value,
                                log_offset: record.offset,
                            },
                        );
                    }
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
        for (id, entries) in offsets {
            if entries.is_empty() {
                continue;
            }
            groups
                .entry(id.clone())
                .or_insert_with(|| Group::new(&id, now))
                .offsets = entries;
        }
        if !groups.is_empty() {
            tracing::info!(groups = groups.len(), "loaded consumer groups");
        }
        Ok(GroupCoordinator {
            config,
            groups: Mutex::new(groups),
            last_retention_check: AtomicI64::new(now),
        })
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

    pub fn join(&self, log: &LogManager, req: JoinRequest, now: i64) -> Pending<JoinResult> {
        let fail = |code| Pending::Ready(JoinResult::failed(code, req.member_id.clone()));
        if req.group_id.is_empty() {
            return fail(ErrorCode::InvalidGroupId);
        }
        if req.session_timeout_ms < self.config.min_session_timeout_ms
            || req.session_timeout_ms > self.config.max_session_timeout_ms
        {
            return fail(ErrorCode::InvalidSessionTimeout);
        }
        let mut groups = self.lock();
        if !groups.contains_key(&req.group_id) {
            if !req.member_id.is_empty() {
                return fail(ErrorCode::UnknownMemberId);
            }
            groups.insert(req.group_id.clone(), Group::new(&req.group_id, now));
        }
        let group = groups.get_mut(&req.group_id).expect("group present");
        if group.state == GroupState::Dead {
            return fail(ErrorCode::CoordinatorNotAvailable);
        }
        if !group.accepts(&req.protocol_type, &req.protocols) {
            if group.is_removable() && group.generation == 0 {
                groups.remove(&req.group_id);
            }
            return fail(ErrorCode::InconsistentGroupProtocol);
        }
        let (outcome, writes) = if req.member_id.is_empty() {
            group.join_new(&req, &self.config, now)
        } else {
            group.join_known(&req, &self.config, now)
        };
        self.write(log, &req.group_id, &writes, now);
        outcome
    }

    pub fn sync(&self, log: &LogManager, req: SyncRequest, now: i64) -> Pending<SyncResult> {
        let fail = |code| Pending::Ready(SyncResult::failed(code));
        if req.group_id.is_empty() {
            return fail(ErrorCode::InvalidGroupId);
        }
        let mut groups = self.lock();
        let Some(group) = groups.get_mut(&req.group_id) else {
            return fail(ErrorCode::UnknownMemberId);
        };
        if group.state == GroupState::Dead {
            return fail(ErrorCode::CoordinatorNotAvailable);
        }
        if group.is_fenced(req.group_instance_id.as_deref(), &req.member_id) {
            return fail(ErrorCode::FencedInstanceId);
        }
        if !group.members.contains_key(&req.member_id) {
            return fail(ErrorCode::UnknownMemberId);
        }
        if req.generation != group.generation {
            return fail(ErrorCode::IllegalGeneration);
        }
        if req
            .protocol_type
            .as_ref()
            .is_some_and(|t| group.protocol_type.as_ref() != Some(t))
            || req
                .protocol_name
                .as_ref()
                .is_some_and(|p| group.protocol.as_ref() != Some(p))
        {
            return fail(ErrorCode::InconsistentGroupProtocol);
        }
        let ok = |group: &Group, assignment: Bytes| SyncResult {
            error: ErrorCode::None,
            protocol_type: group.protocol_type.clone(),
            protocol_name: group.protocol.clone(),
            assignment,
        };
        match group.state {
            GroupState::Empty | GroupState::Dead => fail(ErrorCode::UnknownMemberId),
            GroupState::PreparingRebalance => fail(ErrorCode::RebalanceInProgress),
            GroupState::Stable => {
                let member = group
                    .members
                    .get_mut(&req.member_id)
                    .expect("member present");
                member.deadline = now + i64::from(member.session_timeout);
                let assignment = member.assignment.clone();
                Pending::Ready(ok(group, assignment))
            }
            GroupState::CompletingRebalance => {
                let (tx, rx) = oneshot::channel();
                let member = group
                    .members
                    .get_mut(&req.member_id)
                    .expect("member present");
                member.deadline = now + i64::from(member.session_timeout);
                member.sync_waiter = Some(tx);
                member.synced = true;
                if group.leader.as_deref() == Some(req.member_id.as_str()) {
                    let mut given: HashMap<String, Bytes> = req.assignments.into_iter().collect();
                    for member in group.members.values_mut() {
                        member.assignment = given.remove(&member.id).unwrap_or_default();
                    }
                    group.transition(GroupState::Stable, now);
                    group.sync_deadline = None;
                    let answers: Vec<(oneshot::Sender<SyncResult>, Bytes)> = group
                        .members
                        .values_mut()
                        .filter_map(|m| {
                            m.deadline = now + i64::from(m.session_timeout);
                            m.sync_waiter.take().map(|w| (w, m.assignment.clone()))
                        })
                        .collect();
                    for (waiter, assignment) in answers {
                        let _ = waiter.send(ok(group, assignment));
                    }
                    let writes = vec![Entry::Group(Some(group.stored()))];
                    self.write(log, &req.group_id, &writes, now);
                }
                Pending::Wait(rx)
            }
        }
    }

    pub fn heartbeat(
        &self,
        group_id: &str,
        generation: i32,
        member_id: &str,
        instance_id: Option<&str>,
        now: i64,
    ) -> ErrorCode {
        if group_id.is_empty() {
            return ErrorCode::InvalidGroupId;
        }
        let mut groups = self.lock();
        let Some(group) = groups.get_mut(group_id) else {
            return ErrorCode::UnknownMemberId;
        };
        if group.state == GroupState::Dead {
            return ErrorCode::CoordinatorNotAvailable;
        }
        if group.is_fenced(instance_id, member_id) {
            return ErrorCode::FencedInstanceId;
        }
        let state = group.state;
        let current = group.generation;
        let Some(member) = group.members.get_mut(member_id) else {
            return ErrorCode::UnknownMemberId;
        };
        if generation != current {
            return ErrorCode::IllegalGeneration;
        }
        member.deadline = now + i64::from(member.session_timeout);
        match state {
            GroupState::PreparingRebalance => ErrorCode::RebalanceInProgress,
            GroupState::Empty | GroupState::Dead => ErrorCode::UnknownMemberId,
            GroupState::CompletingRebalance | GroupState::Stable => ErrorCode::None,
        }
    }

    /// LeaveGroup: each `(member_id, group_instance_id)` leaves; an error per member.
    pub fn leave(
        &self,
        log: &LogManager,
        group_id: &str,
        leaving: &[(String, Option<String>)],
        now: i64,
    ) -> Result<Vec<ErrorCode>, ErrorCode> {
        if group_id.is_empty() {
            return Err(ErrorCode::InvalidGroupId);
        }
        let mut groups = self.lock();
        let Some(group) = groups.get_mut(group_id) else {
            return Ok(vec![ErrorCode::UnknownMemberId; leaving.len()]);
        };
        if group.state == GroupState::Dead {
            return Err(ErrorCode::CoordinatorNotAvailable);
        }
        let mut errors = Vec::with_capacity(leaving.len());
        let mut writes = Vec::new();
        for (member_id, instance_id) in leaving {
            let target = match instance_id {
                Some(instance) => match group.statics.get(instance) {
                    None => Err(ErrorCode::UnknownMemberId),
                    Some(known) if !member_id.is_empty() && known != member_id => {
                        Err(ErrorCode::FencedInstanceId)
                    }
                    Some(known) => Ok(known.clone()),
                },
                None if group.pending.remove(member_id).is_some() => {
                    errors.push(ErrorCode::None);
                    writes.extend(group.try_complete_join(now));
                    continue;
                }
                None if group.members.contains_key(member_id) => Ok(member_id.clone()),
                None => Err(ErrorCode::UnknownMemberId),
            };
            match target {
                Ok(id) => {
                    writes.extend(group.remove_member(&id, &self.config, now));
                    errors.push(ErrorCode::None);
                }
                Err(code) => errors.push(code),
            }
        }
        self.write(log, group_id, &writes, now);
        Ok(errors)
    }

    pub fn describe(&self, group_id: &str) -> GroupDescription {
        let groups = self.lock();
        let Some(group) = groups.get(group_id) else {
            return GroupDescription {
                group_id: group_id.to_string(),
                state: GroupState::Dead,
                protocol_type: String::new(),
                protocol: String::new(),
                members: Vec::new(),
            };
        };
        let stable = group.state == GroupState::Stable;
        let mut members: Vec<&Member> = group.members.values().collect();
        members.sort_by_key(|m| m.seq);
        GroupDescription {
            group_id: group.id.clone(),
            state: group.state,
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
            if !group.members.is_empty() || group.state != GroupState::Empty {
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
                    ErrorCode::UnknownServerError
                }
            },
            Err(e) => {
                tracing::error!(group = group_id, error = %e, "group deletion failed");
                ErrorCode::CoordinatorNotAvailable
            }
        }
    }

    /// Checks whether `group_id` may commit now. A group that does not exist
    /// is created (empty) for a simple consumer's commit with generation -1.
    fn check_commit(
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
            ErrorCode::UnknownServerError
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
            let subscribed: Option<Vec<String>> = if group.members.is_empty() {
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
            let appended = pending
                .wait()
                .await
                .map_err(|_| ErrorCode::UnknownServerError)?;
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
