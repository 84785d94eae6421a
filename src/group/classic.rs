//! The classic protocol's state machine: JoinGroup / SyncGroup /
//! Heartbeat / LeaveGroup, rebalances and session expiry.

use super::store::{Entry, GroupValue, StoredMember};
use super::*;

pub(super) struct Member {
    pub(super) id: String,
    pub(super) instance_id: Option<String>,
    pub(super) client_id: String,
    pub(super) client_host: String,
    pub(super) session_timeout: i32,
    pub(super) rebalance_timeout: i32,
    pub(super) protocols: Vec<(String, Bytes)>,
    pub(super) assignment: Bytes,
    pub(super) join_waiter: Option<oneshot::Sender<JoinResult>>,
    pub(super) sync_waiter: Option<oneshot::Sender<SyncResult>>,
    /// Session expiry, pushed forward by every heartbeat.
    pub(super) deadline: i64,
    /// Join order: the leader is the earliest member.
    pub(super) seq: u64,
    /// Sent its SyncGroup in the current CompletingRebalance phase.
    pub(super) synced: bool,
}

impl Member {
    pub(super) fn awaiting(&self) -> bool {
        self.join_waiter.is_some() || self.sync_waiter.is_some()
    }

    pub(super) fn metadata(&self, protocol: Option<&str>) -> Bytes {
        protocol
            .and_then(|p| self.protocols.iter().find(|(name, _)| name == p))
            .map(|(_, m)| m.clone())
            .unwrap_or_default()
    }
}

impl Group {
    /// Protocols every member supports, in the order of the earliest member's list.
    pub(super) fn candidate_protocols(&self) -> Vec<String> {
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

    pub(super) fn accepts(&self, protocol_type: &str, protocols: &[(String, Bytes)]) -> bool {
        if self.members.is_empty() {
            return !protocol_type.is_empty() && !protocols.is_empty();
        }
        let candidates = self.candidate_protocols();
        self.protocol_type.as_deref() == Some(protocol_type)
            && protocols.iter().any(|(name, _)| candidates.contains(name))
    }

    /// Each member votes for its most preferred candidate; the most votes win
    /// (ties go to the earlier candidate).
    pub(super) fn select_protocol(&self) -> Option<String> {
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

    pub(super) fn earliest_member(&self) -> Option<String> {
        self.members
            .values()
            .min_by_key(|m| m.seq)
            .map(|m| m.id.clone())
    }

    pub(super) fn all_joined(&self) -> bool {
        self.pending.is_empty() && self.members.values().all(|m| m.join_waiter.is_some())
    }

    pub(super) fn is_fenced(&self, instance_id: Option<&str>, member_id: &str) -> bool {
        instance_id
            .and_then(|i| self.statics.get(i))
            .is_some_and(|known| known != member_id)
    }

    pub(super) fn stored(&self) -> GroupValue {
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
    pub(super) fn join_result(&self, member_id: &str, with_members: bool) -> JoinResult {
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

    pub(super) fn prepare_rebalance(&mut self, config: &GroupConfig, now: i64) {
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

    pub(super) fn try_complete_join(&mut self, now: i64) -> Writes {
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
    pub(super) fn complete_join(&mut self, now: i64) -> Writes {
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
    pub(super) fn drop_member(&mut self, id: &str) {
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
    pub(super) fn remove_member(&mut self, id: &str, config: &GroupConfig, now: i64) -> Writes {
        self.drop_member(id);
        match self.state {
            GroupState::Stable | GroupState::CompletingRebalance => {
                self.prepare_rebalance(config, now);
                self.try_complete_join(now)
            }
            GroupState::PreparingRebalance => self.complete_join_after_removal(now),
            GroupState::Empty | GroupState::Dead => Vec::new(),
        }
    }

    /// After a member or pending id is removed during the join phase: if
    /// everyone left has rejoined, the phase ends now, even while the
    /// initial rebalance delay runs (as Kafka's coordinator does). The delay
    /// only waits for more members to join; waiting it out for a group
    /// whose members are leaving kept an emptied group from being Empty,
    /// and so from being deleted, for up to the rebalance timeout.
    pub(super) fn complete_join_after_removal(&mut self, now: i64) -> Writes {
        if self.state != GroupState::PreparingRebalance || !self.all_joined() {
            return Vec::new();
        }
        self.delay_deadline = None;
        self.joined_during_delay = false;
        self.complete_join(now)
    }

    pub(super) fn add_member_and_rebalance(
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

    pub(super) fn update_member_and_rebalance(
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
    pub(super) fn replace_static_member(
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

    pub(super) fn join_new(
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

    pub(super) fn join_known(
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
    pub(super) fn expire(&mut self, config: &GroupConfig, now: i64) -> Writes {
        let mut writes = Vec::new();
        let pending_before = self.pending.len();
        self.pending.retain(|_, deadline| *deadline > now);
        if self.pending.len() < pending_before {
            writes.extend(self.complete_join_after_removal(now));
        }
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
}

impl GroupCoordinator {
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
        if let Some(consumer) = &group.consumer {
            // A consumer group with members takes no classic members; an
            // empty one turns classic (its offsets stay).
            if !consumer.members.is_empty() {
                return fail(ErrorCode::InconsistentGroupProtocol);
            }
            group.consumer = None;
            group.protocol_type = None;
            self.write(log, &req.group_id, &[Entry::Consumer(None)], now);
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
                    let waiters: Vec<(oneshot::Sender<SyncResult>, Bytes)> = group
                        .members
                        .values_mut()
                        .filter_map(|m| {
                            m.deadline = now + i64::from(m.session_timeout);
                            m.sync_waiter.take().map(|w| (w, m.assignment.clone()))
                        })
                        .collect();
                    let answers = waiters
                        .into_iter()
                        .map(|(waiter, assignment)| (waiter, ok(group, assignment)))
                        .collect();
                    let settle = self.settle_sync(&req.group_id, group.generation, answers);
                    let writes = vec![Entry::Group(Some(group.stored()))];
                    let Some(write) = self.write(log, &req.group_id, &writes, now) else {
                        drop(groups);
                        settle(Err(ErrorCode::CoordinatorNotAvailable));
                        return Pending::Wait(rx);
                    };
                    return Pending::AfterWrite(Box::new(AfterWrite {
                        write,
                        settle,
                        answer: rx,
                    }));
                }
                Pending::Wait(rx)
            }
        }
    }

    /// What answers a group's members once the leader's assignment is
    /// committed. If it is not, they hear why and, as with Kafka, the
    /// group rebalances: the assignment was never stored.
    fn settle_sync(
        &self,
        group_id: &str,
        generation: i32,
        answers: Vec<(oneshot::Sender<SyncResult>, SyncResult)>,
    ) -> Box<dyn FnOnce(Result<(), ErrorCode>) + Send> {
        let groups = std::sync::Arc::clone(&self.groups);
        let config = self.config.clone();
        let group_id = group_id.to_string();
        Box::new(move |outcome| {
            let Err(code) = outcome else {
                for (waiter, answer) in answers {
                    let _ = waiter.send(answer);
                }
                return;
            };
            for (waiter, _) in answers {
                let _ = waiter.send(SyncResult::failed(code));
            }
            let mut groups = groups.lock().unwrap_or_else(|p| p.into_inner());
            let Some(group) = groups.get_mut(&group_id) else {
                return;
            };
            if group.generation == generation && group.state == GroupState::Stable {
                for member in group.members.values_mut() {
                    member.assignment = Bytes::new();
                }
                group.prepare_rebalance(&config, crate::log::steady_ms());
            }
        })
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
                    writes.extend(group.complete_join_after_removal(now));
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
}
