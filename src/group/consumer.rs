//! KIP-848 consumer groups: the group epoch, the server-computed target
//! assignment and each member's incremental reconciliation towards it,
//! driven by ConsumerGroupHeartbeat.
//!
//! Any change of membership, subscription (names, regex, assignor) or of the
//! subscribed topics' metadata bumps the group epoch; the next heartbeat
//! computes a new target with the group's assignor, and every member then
//! reconciles through [`reconcile`] (revoke first, then take partitions
//! once free). Sessions (`group.consumer.session.timeout.ms`) and the
//! revocation deadline (the member's rebalance timeout) are enforced by
//! [`GroupCoordinator::tick`].

use super::assignor::{self, Partitions, Subscriber};
use super::reconcile::{self, Current, MemberState};
use super::store::{ConsumerGroupValue, Entry, StoredConsumerMember};
use super::*;
use crate::log::PendingAppend;
use crate::protocol::wire::Uuid;
use regex::Regex;
use std::collections::BTreeSet;

/// MemberEpoch -1: the member leaves.
pub const LEAVE_EPOCH: i32 = -1;
/// MemberEpoch -2: a static member leaves for now and will rejoin.
pub const STATIC_LEAVE_EPOCH: i32 = -2;

/// The topics a consumer group can subscribe to: name → (id, partition count).
pub type TopicsView = BTreeMap<String, (Uuid, i32)>;

/// Internal topics are never matched by a regex subscription.
const INTERNAL_TOPICS: &[&str] = &[store::OFFSETS_TOPIC, "__transaction_state"];

/// A ConsumerGroupHeartbeat, fields as in the request (None: unchanged).
#[derive(Clone, Debug, Default)]
pub struct ConsumerHeartbeat {
    pub group_id: String,
    pub member_id: String,
    pub member_epoch: i32,
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    pub rebalance_timeout_ms: i32,
    pub subscribed_topic_names: Option<Vec<String>>,
    pub subscribed_topic_regex: Option<String>,
    pub server_assignor: Option<String>,
    pub owned: Option<Partitions>,
    pub client_id: String,
    pub client_host: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsumerHeartbeatResult {
    pub error: ErrorCode,
    pub message: Option<String>,
    pub member_id: String,
    pub member_epoch: i32,
    pub heartbeat_interval_ms: i32,
    /// Sent on a full request or when the member's assignment changed.
    pub assignment: Option<Partitions>,
}

impl ConsumerHeartbeatResult {
    pub fn failed(error: ErrorCode, message: String, member_id: &str) -> Self {
        ConsumerHeartbeatResult {
            error,
            message: Some(message),
            member_id: member_id.to_string(),
            member_epoch: 0,
            heartbeat_interval_ms: 0,
            assignment: None,
        }
    }
}

/// A partition set with topic names, as ConsumerGroupDescribe reports it.
pub type NamedPartitions = Vec<(Uuid, String, Vec<i32>)>;

#[derive(Clone, Debug)]
pub struct ConsumerMemberDescription {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    pub member_epoch: i32,
    pub client_id: String,
    pub client_host: String,
    pub topic_names: Vec<String>,
    pub regex: Option<String>,
    pub assignment: NamedPartitions,
    pub target: NamedPartitions,
}

#[derive(Clone, Debug)]
pub struct ConsumerGroupDescription {
    pub group_id: String,
    /// GROUP_ID_NOT_FOUND for a missing or classic group.
    pub error: ErrorCode,
    pub message: Option<String>,
    pub state: &'static str,
    pub epoch: i32,
    pub assignment_epoch: i32,
    pub assignor: String,
    pub members: Vec<ConsumerMemberDescription>,
}

type Failure = (ErrorCode, String);

pub(super) struct ConsumerMember {
    pub(super) id: String,
    pub(super) instance_id: Option<String>,
    rack_id: Option<String>,
    pub(super) client_id: String,
    pub(super) client_host: String,
    rebalance_timeout: i32,
    pub(super) topic_names: Vec<String>,
    regex: Option<String>,
    compiled: Option<Regex>,
    server_assignor: Option<String>,
    /// Ids of the existing topics it subscribes to, as last resolved.
    resolved: BTreeSet<Uuid>,
    pub(super) current: Current,
    deadline: i64,
    revocation_deadline: Option<i64>,
}

impl ConsumerMember {
    fn new(id: String, req: &ConsumerHeartbeat, now: i64, session_ms: i32) -> ConsumerMember {
        ConsumerMember {
            id,
            instance_id: req.instance_id.clone(),
            rack_id: None,
            client_id: req.client_id.clone(),
            client_host: req.client_host.clone(),
            rebalance_timeout: req.rebalance_timeout_ms,
            topic_names: Vec::new(),
            regex: None,
            compiled: None,
            server_assignor: None,
            resolved: BTreeSet::new(),
            current: Current::new(),
            deadline: now + i64::from(session_ms),
            revocation_deadline: None,
        }
    }

    fn stored(&self) -> StoredConsumerMember {
        StoredConsumerMember {
            member_id: self.id.clone(),
            instance_id: self.instance_id.clone(),
            rack_id: self.rack_id.clone(),
            client_id: self.client_id.clone(),
            client_host: self.client_host.clone(),
            rebalance_timeout: self.rebalance_timeout,
            topic_names: self.topic_names.clone(),
            regex: self.regex.clone(),
            server_assignor: self.server_assignor.clone(),
            epoch: self.current.epoch,
            previous_epoch: self.current.previous_epoch,
            state: self.current.state.code(),
            assigned: self.current.assigned.clone(),
            revoking: self.current.revoking.clone(),
        }
    }

    /// The topics it subscribes to, by name or regex, that exist now.
    fn resolve(&self, view: &TopicsView) -> BTreeSet<Uuid> {
        let mut ids: BTreeSet<Uuid> = self
            .topic_names
            .iter()
            .filter_map(|name| view.get(name))
            .map(|(id, _)| *id)
            .collect();
        if let Some(re) = &self.compiled {
            ids.extend(
                view.iter()
                    .filter(|(name, _)| {
                        !INTERNAL_TOPICS.contains(&name.as_str()) && re.is_match(name)
                    })
                    .map(|(_, (id, _))| *id),
            );
        }
        ids
    }
}

/// Kafka matches the whole topic name (RE2/J `matches()`).
fn compile_regex(regex: &str) -> Result<Regex, Failure> {
    Regex::new(&format!("^(?:{regex})$")).map_err(|e| {
        (
            ErrorCode::InvalidRegularExpression,
            format!("SubscribedTopicRegex `{regex}` is not a valid regular expression: {e}"),
        )
    })
}

pub(super) struct ConsumerGroup {
    pub(super) epoch: i32,
    assignment_epoch: i32,
    pub(super) members: BTreeMap<String, ConsumerMember>,
    target: BTreeMap<String, Partitions>,
    /// The subscribed topics as last resolved: name → (id, partitions).
    subscribed: TopicsView,
}

/// What a heartbeat did to the group.
struct Outcome {
    member_id: String,
    epoch: i32,
    assignment: Option<Partitions>,
    dirty: bool,
}

impl ConsumerGroup {
    pub(super) fn new() -> ConsumerGroup {
        ConsumerGroup {
            epoch: 0,
            assignment_epoch: 0,
            members: BTreeMap::new(),
            target: BTreeMap::new(),
            subscribed: TopicsView::new(),
        }
    }

    /// Kafka's names: Empty, Assigning (target behind the group epoch),
    /// Reconciling (members behind the target), Stable.
    pub(super) fn state(&self) -> &'static str {
        if self.members.is_empty() {
            "Empty"
        } else if self.epoch != self.assignment_epoch {
            "Assigning"
        } else if self.members.values().any(|m| {
            m.current.epoch != self.assignment_epoch || m.current.state != MemberState::Stable
        }) {
            "Reconciling"
        } else {
            "Stable"
        }
    }

    /// The assignor most members ask for (ties: the earlier in [`assignor::ASSIGNORS`]), else the default.
    pub(super) fn assignor(&self) -> &'static str {
        let votes = |name: &str| {
            self.members
                .values()
                .filter(|m| m.server_assignor.as_deref() == Some(name))
                .count()
        };
        assignor::ASSIGNORS
            .iter()
            .copied()
            .max_by_key(|name| {
                (
                    votes(name),
                    std::cmp::Reverse(assignor::ASSIGNORS.iter().position(|a| a == name)),
                )
            })
            .unwrap_or(assignor::UNIFORM)
    }

    pub(super) fn stored(&self) -> ConsumerGroupValue {
        ConsumerGroupValue {
            epoch: self.epoch,
            members: self.members.values().map(ConsumerMember::stored).collect(),
        }
    }

    pub(super) fn restore(value: ConsumerGroupValue, session_ms: i32, now: i64) -> ConsumerGroup {
        let mut group = ConsumerGroup::new();
        group.epoch = value.epoch;
        // The target is recomputed on the first heartbeat: the stored epoch
        // is one the assignment has not caught up with.
        group.assignment_epoch = value.epoch - 1;
        for m in value.members {
            let compiled = m.regex.as_deref().and_then(|r| compile_regex(r).ok());
            group.members.insert(
                m.member_id.clone(),
                ConsumerMember {
                    id: m.member_id,
                    instance_id: m.instance_id,
                    rack_id: m.rack_id,
                    client_id: m.client_id,
                    client_host: m.client_host,
                    rebalance_timeout: m.rebalance_timeout,
                    topic_names: m.topic_names,
                    regex: m.regex,
                    compiled,
                    server_assignor: m.server_assignor,
                    resolved: BTreeSet::new(),
                    current: Current {
                        epoch: m.epoch,
                        previous_epoch: m.previous_epoch,
                        state: MemberState::from_code(m.state),
                        assigned: m.assigned,
                        revoking: m.revoking,
                    },
                    deadline: now + i64::from(session_ms),
                    revocation_deadline: None,
                },
            );
        }
        group
    }

    fn static_member(&self, instance: &str) -> Option<String> {
        self.members
            .values()
            .find(|m| m.instance_id.as_deref() == Some(instance))
            .map(|m| m.id.clone())
    }

    fn remove(&mut self, id: &str) {
        self.members.remove(id);
        self.target.remove(id);
        self.epoch += 1;
    }

    /// Members whose session or revocation deadline passed are fenced.
    pub(super) fn expire(&mut self, group_id: &str, now: i64) -> bool {
        let gone: Vec<String> = self
            .members
            .values()
            .filter(|m| m.deadline <= now || m.revocation_deadline.is_some_and(|d| d <= now))
            .map(|m| m.id.clone())
            .collect();
        for id in &gone {
            tracing::info!(group = group_id, member = %id, "consumer group member fenced: session or revocation timeout");
            self.remove(id);
        }
        !gone.is_empty()
    }

    fn leave(&mut self, req: &ConsumerHeartbeat) -> Result<Outcome, Failure> {
        let id = match &req.instance_id {
            Some(instance) => {
                let Some(id) = self.static_member(instance) else {
                    return Err((
                        ErrorCode::UnknownMemberId,
                        format!("instance id {instance} is unknown"),
                    ));
                };
                if id != req.member_id {
                    return Err((
                        ErrorCode::FencedInstanceId,
                        format!("instance id {instance} belongs to another member"),
                    ));
                }
                id
            }
            None if self.members.contains_key(&req.member_id) => req.member_id.clone(),
            None => {
                return Err((
                    ErrorCode::UnknownMemberId,
                    format!("member {} is unknown", req.member_id),
                ))
            }
        };
        if req.member_epoch == STATIC_LEAVE_EPOCH && req.instance_id.is_some() {
            // Keeps its assignment for the session timeout so that the same
            // instance can come back without a rebalance.
            if let Some(m) = self.members.get_mut(&id) {
                m.current.previous_epoch = m.current.epoch;
                m.current.epoch = STATIC_LEAVE_EPOCH;
                m.current.revoking.clear();
                m.current.state = MemberState::Stable;
                m.revocation_deadline = None;
            }
        } else {
            self.remove(&id);
        }
        Ok(Outcome {
            member_id: id,
            epoch: req.member_epoch,
            assignment: None,
            dirty: true,
        })
    }

    /// MemberEpoch 0: a new member, a known one starting over, or a static
    /// member taking over its instance id. Returns the id and whether the
    /// group changed.
    fn join(
        &mut self,
        req: &ConsumerHeartbeat,
        now: i64,
        session_ms: i32,
    ) -> Result<(String, bool), Failure> {
        let requested = (!req.member_id.is_empty()).then(|| req.member_id.clone());
        if let Some(instance) = &req.instance_id {
            if let Some(old_id) = self.static_member(instance) {
                if requested.as_deref() != Some(old_id.as_str()) {
                    let Some(old) = self.members.get(&old_id) else {
                        return Err((
                            ErrorCode::UnknownServerError,
                            "static member vanished".into(),
                        ));
                    };
                    if old.current.epoch != STATIC_LEAVE_EPOCH {
                        return Err((
                            ErrorCode::UnreleasedInstanceId,
                            format!("static member with instance id {instance} is not released"),
                        ));
                    }
                    // The new member takes the old one's place and assignment.
                    let new_id = requested.unwrap_or_else(new_uuid);
                    if let Some(mut member) = self.members.remove(&old_id) {
                        member.id = new_id.clone();
                        member.deadline = now + i64::from(session_ms);
                        self.members.insert(new_id.clone(), member);
                    }
                    if let Some(target) = self.target.remove(&old_id) {
                        self.target.insert(new_id.clone(), target);
                    }
                    return Ok((new_id, true));
                }
            }
        }
        if let Some(id) = requested {
            if let Some(member) = self.members.get_mut(&id) {
                // A rejoin (after fencing, say): the client has let go of everything.
                member.current = Current {
                    previous_epoch: member.current.epoch,
                    ..Current::new()
                };
                member.revocation_deadline = None;
                return Ok((id, true));
            }
        }
        let id = req.member_id.clone();
        let id = if id.is_empty() { new_uuid() } else { id };
        self.members.insert(
            id.clone(),
            ConsumerMember::new(id.clone(), req, now, session_ms),
        );
        self.epoch += 1;
        Ok((id, true))
    }

    /// MemberEpoch > 0: the member must exist and be at its epoch (or the
    /// previous one with a subset of its partitions: a lost response).
    fn check_known(&self, req: &ConsumerHeartbeat) -> Result<(), Failure> {
        let Some(member) = self.members.get(&req.member_id) else {
            return Err((
                ErrorCode::UnknownMemberId,
                format!("member {} is unknown", req.member_id),
            ));
        };
        if let Some(instance) = &req.instance_id {
            match self.static_member(instance) {
                None => {
                    return Err((
                        ErrorCode::UnknownMemberId,
                        format!("instance id {instance} is unknown"),
                    ))
                }
                Some(id) if id != req.member_id => {
                    return Err((
                        ErrorCode::FencedInstanceId,
                        format!("instance id {instance} belongs to another member"),
                    ))
                }
                Some(_) => {}
            }
        }
        let current = &member.current;
        let fenced = if req.member_epoch > current.epoch {
            true
        } else if req.member_epoch < current.epoch {
            req.member_epoch != current.previous_epoch
                || !req
                    .owned
                    .as_ref()
                    .is_some_and(|o| reconcile::is_subset(o, &current.assigned))
        } else {
            false
        };
        if fenced {
            return Err((
                ErrorCode::FencedMemberEpoch,
                format!(
                    "member epoch {} does not match the current {}",
                    req.member_epoch, current.epoch
                ),
            ));
        }
        Ok(())
    }

    /// Re-resolves every member's subscription; true if anything changed.
    fn refresh_subscriptions(&mut self, view: &TopicsView) -> bool {
        let mut changed = false;
        let mut subscribed = TopicsView::new();
        for member in self.members.values_mut() {
            let resolved = member.resolve(view);
            changed |= resolved != member.resolved;
            member.resolved = resolved;
        }
        let wanted: BTreeSet<Uuid> = self
            .members
            .values()
            .flat_map(|m| m.resolved.iter().copied())
            .collect();
        for (name, (id, partitions)) in view {
            if wanted.contains(id) {
                subscribed.insert(name.clone(), (*id, *partitions));
            }
        }
        if subscribed != self.subscribed {
            self.subscribed = subscribed;
            changed = true;
        }
        changed
    }

    fn compute_target(&mut self) {
        let topics: BTreeMap<Uuid, i32> = self.subscribed.values().copied().collect();
        let empty = Partitions::new();
        let subscribers: Vec<Subscriber<'_>> = self
            .members
            .values()
            .map(|m| Subscriber {
                member_id: &m.id,
                topics: m.resolved.clone(),
                previous: self.target.get(&m.id).unwrap_or(&empty),
            })
            .collect();
        let target = assignor::assign(self.assignor(), &subscribers, &topics);
        self.target = target;
        self.assignment_epoch = self.epoch;
    }

    fn heartbeat(
        &mut self,
        req: &ConsumerHeartbeat,
        view: &TopicsView,
        session_ms: i32,
        now: i64,
    ) -> Result<Outcome, Failure> {
        if req.member_epoch == LEAVE_EPOCH || req.member_epoch == STATIC_LEAVE_EPOCH {
            return self.leave(req);
        }
        let compiled = match req.subscribed_topic_regex.as_deref() {
            Some(re) if !re.is_empty() => Some(compile_regex(re)?),
            _ => None,
        };
        let epoch_start = self.epoch;
        let (id, mut dirty) = if req.member_epoch == 0 {
            self.join(req, now, session_ms)?
        } else {
            self.check_known(req)?;
            (req.member_id.clone(), false)
        };
        let Some(member) = self.members.get_mut(&id) else {
            return Err((
                ErrorCode::UnknownMemberId,
                format!("member {id} is unknown"),
            ));
        };
        member.deadline = now + i64::from(session_ms);
        if req.rebalance_timeout_ms > 0 {
            member.rebalance_timeout = req.rebalance_timeout_ms;
        }
        if req.rack_id.is_some() {
            member.rack_id = req.rack_id.clone();
        }
        if req.instance_id.is_some() {
            member.instance_id = req.instance_id.clone();
        }
        member.client_id = req.client_id.clone();
        member.client_host = req.client_host.clone();
        let mut subscription_changed = false;
        if let Some(names) = &req.subscribed_topic_names {
            let mut names = names.clone();
            names.sort();
            names.dedup();
            subscription_changed |= names != member.topic_names;
            member.topic_names = names;
        }
        if let Some(re) = &req.subscribed_topic_regex {
            let re = (!re.is_empty()).then(|| re.clone());
            subscription_changed |= re != member.regex;
            member.regex = re;
            member.compiled = compiled;
        }
        if let Some(name) = &req.server_assignor {
            if !assignor::ASSIGNORS.contains(&name.as_str()) {
                return Err((
                    ErrorCode::UnsupportedAssignor,
                    format!("ServerAssignor {name} is not supported (uniform, range)"),
                ));
            }
            subscription_changed |= member.server_assignor.as_deref() != Some(name.as_str());
            member.server_assignor = Some(name.clone());
        }
        // One bump for everything this heartbeat changed (a join bumped already).
        if (self.refresh_subscriptions(view) || subscription_changed) && self.epoch == epoch_start {
            self.epoch += 1;
        }
        dirty |= self.epoch != epoch_start;
        if self.epoch != self.assignment_epoch {
            self.compute_target();
        }
        let target = self.target.get(&id).cloned().unwrap_or_default();
        let others: Vec<&ConsumerMember> = self.members.values().filter(|m| m.id != id).collect();
        let owned_elsewhere = |t: Uuid, p: i32| {
            others.iter().any(|m| {
                reconcile::contains(&m.current.assigned, t, p)
                    || reconcile::contains(&m.current.revoking, t, p)
            })
        };
        let Some(before) = self.members.get(&id).map(|m| m.current.clone()) else {
            return Err((
                ErrorCode::UnknownMemberId,
                format!("member {id} is unknown"),
            ));
        };
        let next = reconcile::reconcile(
            &before,
            self.assignment_epoch,
            &target,
            owned_elsewhere,
            req.owned.as_ref(),
        );
        let Some(member) = self.members.get_mut(&id) else {
            return Err((
                ErrorCode::UnknownMemberId,
                format!("member {id} is unknown"),
            ));
        };
        if next.state == MemberState::UnrevokedPartitions {
            if before.state != MemberState::UnrevokedPartitions {
                member.revocation_deadline = Some(now + i64::from(member.rebalance_timeout.max(0)));
            }
        } else {
            member.revocation_deadline = None;
        }
        let assignment_changed = next.assigned != before.assigned;
        dirty |= next != before;
        member.current = next;
        let full = req.member_epoch == 0
            || (req.rebalance_timeout_ms != -1
                && (req.subscribed_topic_names.is_some() || req.subscribed_topic_regex.is_some())
                && req.owned.is_some());
        Ok(Outcome {
            member_id: id,
            epoch: member.current.epoch,
            assignment: (full || assignment_changed).then(|| member.current.assigned.clone()),
            dirty,
        })
    }

    fn named(&self, partitions: &Partitions, view: &BTreeMap<Uuid, String>) -> NamedPartitions {
        partitions
            .iter()
            .map(|(id, ps)| {
                (
                    *id,
                    view.get(id).cloned().unwrap_or_default(),
                    ps.iter().copied().collect(),
                )
            })
            .collect()
    }

    fn describe(&self, group_id: &str) -> ConsumerGroupDescription {
        let names: BTreeMap<Uuid, String> = self
            .subscribed
            .iter()
            .map(|(name, (id, _))| (*id, name.clone()))
            .collect();
        let empty = Partitions::new();
        ConsumerGroupDescription {
            group_id: group_id.to_string(),
            error: ErrorCode::None,
            message: None,
            state: self.state(),
            epoch: self.epoch,
            assignment_epoch: self.assignment_epoch,
            assignor: self.assignor().to_string(),
            members: self
                .members
                .values()
                .map(|m| ConsumerMemberDescription {
                    member_id: m.id.clone(),
                    instance_id: m.instance_id.clone(),
                    rack_id: m.rack_id.clone(),
                    member_epoch: m.current.epoch,
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    topic_names: m.topic_names.clone(),
                    regex: m.regex.clone(),
                    assignment: self.named(&m.current.assigned, &names),
                    target: self.named(self.target.get(&m.id).unwrap_or(&empty), &names),
                })
                .collect(),
        }
    }

    /// OffsetCommit by a group member (Kafka: a simple commit, epoch < 0,
    /// only while the group has no members).
    pub(super) fn validate_commit(&self, member_id: &str, epoch: i32) -> Result<(), ErrorCode> {
        if epoch < 0 && self.members.is_empty() {
            return Ok(());
        }
        let member = self
            .members
            .get(member_id)
            .ok_or(ErrorCode::UnknownMemberId)?;
        if epoch != member.current.epoch {
            return Err(ErrorCode::StaleMemberEpoch);
        }
        Ok(())
    }

    /// The topics the group subscribes to by name (OffsetDelete refuses them).
    pub(super) fn subscribed_topics(&self) -> Vec<String> {
        self.subscribed.keys().cloned().collect()
    }
}

impl GroupCoordinator {
    /// A ConsumerGroupHeartbeat, and the write of the group's new state
    /// when it changed: the answer must wait for that write's commit.
    pub fn consumer_heartbeat(
        &self,
        log: &LogManager,
        req: ConsumerHeartbeat,
        view: &TopicsView,
        now: i64,
    ) -> (ConsumerHeartbeatResult, Option<PendingAppend>) {
        let fail = |(code, message): Failure| {
            (
                ConsumerHeartbeatResult::failed(code, message, &req.member_id),
                None,
            )
        };
        if let Err(failure) = validate(&req) {
            return fail(failure);
        }
        let session_ms = self.config.consumer_session_timeout_ms;
        let mut groups = self.lock();
        if !groups.contains_key(&req.group_id) {
            if req.member_epoch != 0 {
                return fail((
                    ErrorCode::UnknownMemberId,
                    format!("group {} has no member {}", req.group_id, req.member_id),
                ));
            }
            groups.insert(req.group_id.clone(), Group::new(&req.group_id, now));
        }
        let Some(group) = groups.get_mut(&req.group_id) else {
            return fail((ErrorCode::UnknownServerError, "group vanished".into()));
        };
        if group.state == GroupState::Dead {
            return fail((
                ErrorCode::CoordinatorNotAvailable,
                "group is being removed".into(),
            ));
        }
        if group.consumer.is_none() {
            if !group.members.is_empty()
                || group.state != GroupState::Empty
                || !group.pending.is_empty()
            {
                return fail((
                    ErrorCode::GroupIdNotFound,
                    format!("group {} is not a consumer group", req.group_id),
                ));
            }
            // An empty classic group (committed offsets only) becomes a consumer group.
            group.consumer = Some(Box::new(ConsumerGroup::new()));
            group.protocol_type = Some("consumer".to_string());
        }
        let Some(consumer) = group.consumer.as_mut() else {
            return fail((ErrorCode::UnknownServerError, "not a consumer group".into()));
        };
        let was_empty = consumer.members.is_empty();
        let outcome = match consumer.heartbeat(&req, view, session_ms, now) {
            Ok(outcome) => outcome,
            Err(failure) => {
                if consumer.members.is_empty() && group.offsets.is_empty() && consumer.epoch == 0 {
                    groups.remove(&req.group_id);
                }
                return fail(failure);
            }
        };
        let now_empty = consumer.members.is_empty();
        let stored = outcome.dirty.then(|| consumer.stored());
        if was_empty != now_empty {
            group.state_since = now;
        }
        let write = match stored {
            Some(stored) => {
                let write = self.write(log, &req.group_id, &[Entry::Consumer(Some(stored))], now);
                if write.is_none() {
                    return fail((
                        ErrorCode::CoordinatorNotAvailable,
                        "the group's state could not be written".into(),
                    ));
                }
                write
            }
            None => None,
        };
        let result = ConsumerHeartbeatResult {
            error: ErrorCode::None,
            message: None,
            member_id: outcome.member_id,
            member_epoch: outcome.epoch,
            heartbeat_interval_ms: self.config.consumer_heartbeat_interval_ms,
            assignment: outcome.assignment,
        };
        (result, write)
    }

    /// ConsumerGroupDescribe: GROUP_ID_NOT_FOUND for a missing or classic group.
    pub fn describe_consumer_group(&self, group_id: &str) -> ConsumerGroupDescription {
        let groups = self.lock();
        match groups
            .get(group_id)
            .and_then(|g| g.consumer.as_ref().map(|c| (g, c)))
        {
            Some((group, consumer)) if group.state != GroupState::Dead => {
                consumer.describe(group_id)
            }
            _ => {
                let message = if groups.contains_key(group_id) {
                    format!("group {group_id} is not a consumer group")
                } else {
                    format!("group {group_id} not found")
                };
                ConsumerGroupDescription {
                    group_id: group_id.to_string(),
                    error: ErrorCode::GroupIdNotFound,
                    message: Some(message),
                    state: "Dead",
                    epoch: -1,
                    assignment_epoch: -1,
                    assignor: String::new(),
                    members: Vec::new(),
                }
            }
        }
    }
}

/// Request checks Kafka makes before the group is looked at.
fn validate(req: &ConsumerHeartbeat) -> Result<(), Failure> {
    let invalid = |what: &str| Err((ErrorCode::InvalidRequest, what.to_string()));
    if req.group_id.is_empty() {
        return invalid("GroupId can't be empty.");
    }
    if req.instance_id.as_deref() == Some("") {
        return invalid("InstanceId can't be empty.");
    }
    if req.rack_id.as_deref() == Some("") {
        return invalid("RackId can't be empty.");
    }
    match req.member_epoch {
        0 => {
            if req.rebalance_timeout_ms == -1 {
                return invalid("RebalanceTimeoutMs must be provided in first request.");
            }
            if req.owned.as_ref().is_none_or(|o| assignor::count(o) > 0) {
                return invalid("TopicPartitions must be empty when (re-)joining.");
            }
            if req.subscribed_topic_names.is_none() && req.subscribed_topic_regex.is_none() {
                return invalid(
                    "SubscribedTopicNames or SubscribedTopicRegex must be set in first request.",
                );
            }
        }
        LEAVE_EPOCH | STATIC_LEAVE_EPOCH => {
            if req.member_id.is_empty() {
                return invalid("MemberId can't be empty.");
            }
        }
        epoch if epoch > 0 => {
            if req.member_id.is_empty() {
                return invalid("MemberId can't be empty.");
            }
        }
        _ => return invalid("MemberEpoch is invalid."),
    }
    Ok(())
}

/// The consumer-protocol forms DescribeGroups carries for a consumer group
/// member: its subscription and assignment, each with a version 0 prefix.
pub(super) fn classic_view(
    consumer: &ConsumerGroup,
) -> Vec<(String, Option<String>, String, String, Bytes, Bytes)> {
    use crate::protocol::messages::consumer_protocol_assignment::{
        ConsumerProtocolAssignment, TopicPartition,
    };
    use crate::protocol::messages::consumer_protocol_subscription::ConsumerProtocolSubscription;
    use crate::protocol::wire::Encode;
    let names: BTreeMap<Uuid, String> = consumer
        .subscribed
        .iter()
        .map(|(name, (id, _))| (*id, name.clone()))
        .collect();
    let with_version = |body: Option<bytes::BytesMut>| -> Bytes {
        let mut out = bytes::BytesMut::new();
        out.extend_from_slice(&0i16.to_be_bytes());
        if let Some(body) = body {
            out.extend_from_slice(&body);
        }
        out.freeze()
    };
    consumer
        .members
        .values()
        .map(|m| {
            let subscription = ConsumerProtocolSubscription {
                topics: names
                    .iter()
                    .filter(|(id, _)| m.resolved.contains(id))
                    .map(|(_, n)| n.clone())
                    .collect(),
                ..ConsumerProtocolSubscription::default()
            };
            let assignment = ConsumerProtocolAssignment {
                assigned_partitions: m
                    .current
                    .assigned
                    .iter()
                    .map(|(id, ps)| TopicPartition {
                        topic: names.get(id).cloned().unwrap_or_default(),
                        partitions: ps.iter().copied().collect(),
                    })
                    .collect(),
                user_data: None,
            };
            (
                m.id.clone(),
                m.instance_id.clone(),
                m.client_id.clone(),
                m.client_host.clone(),
                with_version(subscription.to_bytes(0).ok()),
                with_version(assignment.to_bytes(0).ok()),
            )
        })
        .collect()
}

#[cfg(test)]
#[path = "consumer_tests.rs"]
mod tests;
