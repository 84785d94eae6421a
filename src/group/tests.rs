use super::*;
use crate::broker::Broker;
use store::OffsetValue;

const T0: i64 = 1_000_000;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn req(group: &str, member: &str) -> JoinRequest {
    JoinRequest {
        group_id: group.into(),
        member_id: member.into(),
        group_instance_id: None,
        client_id: "client".into(),
        client_host: String::new(),
        session_timeout_ms: 10_000,
        rebalance_timeout_ms: 30_000,
        protocol_type: "consumer".into(),
        protocols: vec![("range".into(), Bytes::from_static(b"m"))],
        require_known_member_id: true,
    }
}

fn static_req(group: &str, member: &str, instance: &str) -> JoinRequest {
    JoinRequest {
        group_instance_id: Some(instance.into()),
        ..req(group, member)
    }
}

/// The answer, there at once or once its write is committed (within a
/// second): a leader's SyncGroup answers only after its assignment is.
fn ready<T>(mut pending: Pending<T>) -> T {
    if !matches!(pending, Pending::AfterWrite(_)) {
        return pending.try_now().expect("answered at once");
    }
    let answered = runtime().block_on(async {
        let answer = pending.result(|| panic!("the waiter was dropped"));
        tokio::time::timeout(std::time::Duration::from_secs(1), answer).await
    });
    answered.expect("answered once the write is committed")
}

/// Joins a new dynamic member the KIP-394 way: MEMBER_ID_REQUIRED, then rejoin.
fn join_new(broker: &Broker, group: &str, now: i64) -> (String, Pending<JoinResult>) {
    let first = ready(broker.groups.join(&broker.log, req(group, ""), now));
    assert_eq!(first.error, ErrorCode::MemberIdRequired);
    assert!(first.member_id.starts_with("client-"));
    let id = first.member_id.clone();
    (
        id.clone(),
        broker.groups.join(&broker.log, req(group, &id), now),
    )
}

fn sync(
    broker: &Broker,
    group: &str,
    generation: i32,
    member: &str,
    assignments: Vec<(String, Bytes)>,
    now: i64,
) -> Pending<SyncResult> {
    broker.groups.sync(
        &broker.log,
        SyncRequest {
            group_id: group.into(),
            generation,
            member_id: member.into(),
            group_instance_id: None,
            protocol_type: None,
            protocol_name: None,
            assignments,
        },
        now,
    )
}

fn state(broker: &Broker, group: &str) -> GroupState {
    broker.groups.describe(group).state
}

/// A stable group of one member; returns its id and generation.
fn stable_single(broker: &Broker, group: &str) -> (String, i32) {
    let (id, pending) = join_new(broker, group, T0);
    let joined = ready(pending);
    assert_eq!(joined.error, ErrorCode::None);
    let synced = ready(sync(
        broker,
        group,
        joined.generation,
        &id,
        vec![(id.clone(), Bytes::from_static(b"a"))],
        T0,
    ));
    assert_eq!(synced.error, ErrorCode::None);
    (id, joined.generation)
}

#[test]
fn one_member_joins_syncs_and_heartbeats() {
    let broker = Broker::for_tests();
    let (id, pending) = join_new(&broker, "g", T0);
    let joined = ready(pending);
    assert_eq!(joined.error, ErrorCode::None);
    assert_eq!(joined.generation, 1);
    assert_eq!(joined.leader, id);
    assert_eq!(joined.protocol_name.as_deref(), Some("range"));
    assert_eq!(joined.members.len(), 1);
    assert_eq!(state(&broker, "g"), GroupState::CompletingRebalance);
    assert_eq!(
        broker.groups.heartbeat("g", 1, &id, None, T0),
        ErrorCode::None
    );
    let synced = ready(sync(
        &broker,
        "g",
        1,
        &id,
        vec![(id.clone(), Bytes::from_static(b"assign"))],
        T0,
    ));
    assert_eq!(synced.error, ErrorCode::None);
    assert_eq!(synced.assignment, Bytes::from_static(b"assign"));
    assert_eq!(state(&broker, "g"), GroupState::Stable);
    assert_eq!(
        broker.groups.heartbeat("g", 1, &id, None, T0 + 1000),
        ErrorCode::None
    );
    let described = broker.groups.describe("g");
    assert_eq!(described.protocol, "range");
    assert_eq!(
        described.members[0].assignment,
        Bytes::from_static(b"assign")
    );
}

#[test]
fn three_members_followers_wait_for_the_leaders_assignment() {
    let broker = Broker::for_tests();
    let (a, pa) = join_new(&broker, "g", T0);
    let ra = ready(pa);
    assert_eq!(ra.generation, 1);
    ready(sync(&broker, "g", 1, &a, vec![], T0));
    // b and c join: a rebalance; a must rejoin before it completes.
    let (b, mut pb) = join_new(&broker, "g", T0);
    assert_eq!(state(&broker, "g"), GroupState::PreparingRebalance);
    assert_eq!(
        broker.groups.heartbeat("g", 1, &a, None, T0),
        ErrorCode::RebalanceInProgress
    );
    let (c, mut pc) = join_new(&broker, "g", T0);
    assert!(pb.try_now().is_none() && pc.try_now().is_none());
    let ra = ready(broker.groups.join(&broker.log, req("g", &a), T0));
    let (rb, rc) = (pb.try_now().unwrap(), pc.try_now().unwrap());
    assert_eq!((ra.generation, rb.generation, rc.generation), (2, 2, 2));
    assert_eq!(ra.leader, a);
    assert_eq!(ra.members.len(), 3);
    assert!(rb.members.is_empty() && rc.members.is_empty());
    // Followers wait for the leader's SyncGroup.
    let mut sb = sync(&broker, "g", 2, &b, vec![], T0);
    let mut sc = sync(&broker, "g", 2, &c, vec![], T0);
    assert!(sb.try_now().is_none() && sc.try_now().is_none());
    let assignments = vec![
        (a.clone(), Bytes::from_static(b"A")),
        (b.clone(), Bytes::from_static(b"B")),
        (c.clone(), Bytes::from_static(b"C")),
    ];
    let sa = ready(sync(&broker, "g", 2, &a, assignments, T0));
    assert_eq!(sa.assignment, Bytes::from_static(b"A"));
    assert_eq!(sb.try_now().unwrap().assignment, Bytes::from_static(b"B"));
    assert_eq!(sc.try_now().unwrap().assignment, Bytes::from_static(b"C"));
    assert_eq!(state(&broker, "g"), GroupState::Stable);
}

/// With `__consumer_offsets` replicated, the leader's assignment is
/// answered to nobody until the in-sync follower holds it.
#[test]
fn sync_group_answers_only_once_the_assignment_is_committed() {
    let broker = Broker::for_tests();
    let (a, pa) = join_new(&broker, "g", T0);
    assert_eq!(ready(pa).generation, 1);
    let (b, mut pb) = join_new(&broker, "g", T0);
    ready(broker.groups.join(&broker.log, req("g", &a), T0));
    assert_eq!(pb.try_now().unwrap().generation, 2);
    store::ensure_topic(
        &broker.log,
        broker.groups.config.offsets_topic_num_partitions,
    )
    .unwrap();
    let index = store::partition_of(&broker.log, "g").unwrap();
    let offsets = broker.log.partition(store::OFFSETS_TOPIC, index).unwrap();
    offsets.lead(0, &[0, 1], &[0, 1], 2, T0);

    let mut sb = sync(&broker, "g", 2, &b, vec![], T0);
    let assignments = vec![
        (a.clone(), Bytes::from_static(b"A")),
        (b.clone(), Bytes::from_static(b"B")),
    ];
    let sa = sync(&broker, "g", 2, &a, assignments, T0);
    assert!(matches!(sa, Pending::AfterWrite(_)));
    let rt = runtime();
    let leader = rt.spawn(sa.result(|| panic!("dropped")));
    rt.block_on(async { tokio::time::sleep(std::time::Duration::from_millis(200)).await });
    assert!(
        !leader.is_finished(),
        "answered before the follower copied it"
    );
    assert!(sb.try_now().is_none());

    let (_, _, log_end) = offsets.offsets();
    offsets.record_follower_fetch(1, log_end, T0).unwrap();
    let sa = rt.block_on(leader).unwrap();
    assert_eq!(sa.assignment, Bytes::from_static(b"A"));
    assert_eq!(sb.try_now().unwrap().assignment, Bytes::from_static(b"B"));
}

/// An assignment the in-sync follower never copies within the commit
/// timeout is answered to nobody: every member gets COORDINATOR_NOT_AVAILABLE and the
/// group rebalances, as Kafka's coordinator does.
#[test]
fn an_uncommitted_assignment_fails_the_sync_and_rebalances() {
    let broker = Broker::for_tests();
    let (a, pa) = join_new(&broker, "g", T0);
    assert_eq!(ready(pa).generation, 1);
    let (b, mut pb) = join_new(&broker, "g", T0);
    ready(broker.groups.join(&broker.log, req("g", &a), T0));
    assert_eq!(pb.try_now().unwrap().generation, 2);
    store::ensure_topic(
        &broker.log,
        broker.groups.config.offsets_topic_num_partitions,
    )
    .unwrap();
    let index = store::partition_of(&broker.log, "g").unwrap();
    let offsets = broker.log.partition(store::OFFSETS_TOPIC, index).unwrap();
    offsets.lead(0, &[0, 1], &[0, 1], 2, T0);

    let mut sb = sync(&broker, "g", 2, &b, vec![], T0);
    let assignments = vec![
        (a.clone(), Bytes::from_static(b"A")),
        (b.clone(), Bytes::from_static(b"B")),
    ];
    let sa = sync(&broker, "g", 2, &a, assignments, T0);
    // The commit timeout passes on a paused clock, not in real time.
    let paused = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    let sa = paused.block_on(sa.result(|| panic!("dropped")));
    assert_eq!(sa.error, ErrorCode::CoordinatorNotAvailable);
    assert!(sa.assignment.is_empty());
    let sb = sb.try_now().expect("the follower is answered too");
    assert_eq!(sb.error, ErrorCode::CoordinatorNotAvailable);
    assert_eq!(state(&broker, "g"), GroupState::PreparingRebalance);
}

#[test]
fn leaving_triggers_a_rebalance_and_the_last_leaver_empties_the_group() {
    let broker = Broker::for_tests();
    let (a, _) = stable_single(&broker, "g");
    let (b, mut pb) = join_new(&broker, "g", T0);
    let ra = ready(broker.groups.join(&broker.log, req("g", &a), T0));
    assert_eq!(pb.try_now().unwrap().generation, 2);
    ready(sync(&broker, "g", 2, &a, vec![], T0));
    assert_eq!(ra.generation, 2);
    assert_eq!(
        broker
            .groups
            .leave(&broker.log, "g", &[(b.clone(), None)], T0)
            .unwrap(),
        vec![ErrorCode::None]
    );
    assert_eq!(state(&broker, "g"), GroupState::PreparingRebalance);
    let ra = ready(broker.groups.join(&broker.log, req("g", &a), T0));
    assert_eq!(ra.generation, 3);
    assert_eq!(ra.members.len(), 1);
    assert_eq!(
        broker
            .groups
            .leave(&broker.log, "g", &[(a.clone(), None)], T0)
            .unwrap(),
        vec![ErrorCode::None]
    );
    assert_eq!(state(&broker, "g"), GroupState::Empty);
    assert_eq!(
        broker
            .groups
            .leave(&broker.log, "g", &[(a, None)], T0)
            .unwrap(),
        vec![ErrorCode::UnknownMemberId]
    );
}

#[test]
fn expired_sessions_remove_members_and_rebalance() {
    let broker = Broker::for_tests();
    let (a, _) = stable_single(&broker, "g");
    let (b, mut pb) = join_new(&broker, "g", T0);
    ready(broker.groups.join(&broker.log, req("g", &a), T0));
    pb.try_now().unwrap();
    ready(sync(&broker, "g", 2, &a, vec![], T0));
    ready(sync(&broker, "g", 2, &b, vec![], T0));
    // a heartbeats, b does not: b expires after its 10 s session.
    assert_eq!(
        broker.groups.heartbeat("g", 2, &a, None, T0 + 8_000),
        ErrorCode::None
    );
    broker.groups.tick(&broker.log, T0 + 10_001);
    assert_eq!(state(&broker, "g"), GroupState::PreparingRebalance);
    assert_eq!(
        broker.groups.heartbeat("g", 2, &b, None, T0 + 10_001),
        ErrorCode::UnknownMemberId
    );
    let ra = ready(broker.groups.join(&broker.log, req("g", &a), T0 + 10_002));
    assert_eq!((ra.generation, ra.members.len()), (3, 1));
}

#[test]
fn rebalance_timeout_drops_members_that_do_not_rejoin() {
    let broker = Broker::for_tests();
    let (a, _) = stable_single(&broker, "g");
    let (_b, mut pb) = join_new(&broker, "g", T0);
    assert!(pb.try_now().is_none());
    // a keeps heartbeating but never rejoins; the rebalance times out after 30 s.
    broker.groups.tick(&broker.log, T0 + 5_000);
    assert_eq!(
        broker.groups.heartbeat("g", 1, &a, None, T0 + 5_000),
        ErrorCode::RebalanceInProgress
    );
    broker.groups.tick(&broker.log, T0 + 30_000);
    let rb = pb.try_now().expect("join completed by the timeout");
    assert_eq!((rb.generation, rb.members.len()), (2, 1));
    assert_eq!(rb.leader, rb.member_id);
    assert_eq!(
        broker.groups.heartbeat("g", 2, &a, None, T0 + 30_000),
        ErrorCode::UnknownMemberId
    );
}

#[test]
fn initial_rebalance_delay_holds_an_empty_groups_first_join() {
    let mut config = Broker::test_config();
    config.group.initial_rebalance_delay_ms = 3000;
    let broker = Broker::open(config).unwrap();
    let mut pa = broker
        .groups
        .join(&broker.log, req("g", "").tap_known(false), T0);
    assert!(pa.try_now().is_none());
    broker.groups.tick(&broker.log, T0 + 1000);
    let mut pb = broker
        .groups
        .join(&broker.log, req("g", "").tap_known(false), T0 + 1000);
    broker.groups.tick(&broker.log, T0 + 3000); // a member joined during the delay: extended
    assert!(pa.try_now().is_none());
    broker.groups.tick(&broker.log, T0 + 6000);
    let (ra, rb) = (pa.try_now().unwrap(), pb.try_now().unwrap());
    assert_eq!((ra.generation, rb.generation), (1, 1));
    assert_eq!(ra.leader, ra.member_id);
    assert_eq!(ra.members.len(), 2);
}

/// Members that leave while the initial rebalance delay runs end the join
/// phase at once: the emptied group is Empty, and can be deleted, at once
/// (before, it waited out the delay, extended by each join, up to the
/// rebalance timeout).
#[test]
fn members_leaving_during_the_initial_delay_leave_an_empty_deletable_group() {
    let rt = runtime();
    let mut config = Broker::test_config();
    config.group.initial_rebalance_delay_ms = 3000;
    let broker = Broker::open(config).unwrap();
    let mut joins = Vec::new();
    for (i, now) in [T0, T0 + 500, T0 + 1000].into_iter().enumerate() {
        let (id, pending) = join_new(&broker, "g", now);
        assert!(!id.is_empty(), "member {i}");
        joins.push((id, pending));
    }
    assert_eq!(state(&broker, "g"), GroupState::PreparingRebalance);
    let now = T0 + 1500;
    let mut answers = Vec::new();
    for (id, pending) in joins {
        let left = broker
            .groups
            .leave(&broker.log, "g", &[(id, None)], now)
            .unwrap();
        assert_eq!(left, vec![ErrorCode::None]);
        answers.push(pending);
    }
    // The first leave ended the join phase for the other two, who then left too.
    let errors: Vec<ErrorCode> = answers
        .iter_mut()
        .map(|p| p.try_now().unwrap().error)
        .collect();
    assert_eq!(
        errors,
        [ErrorCode::UnknownMemberId, ErrorCode::None, ErrorCode::None]
    );
    assert_eq!(state(&broker, "g"), GroupState::Empty);
    assert_eq!(
        rt.block_on(broker.groups.delete_group(&broker.log, "g", now)),
        ErrorCode::None
    );
}

/// One member of two leaves during the delay while the other waits in
/// JoinGroup: the phase ends and the one left is answered.
#[test]
fn a_leave_during_the_initial_delay_completes_the_join_for_those_waiting() {
    let mut config = Broker::test_config();
    config.group.initial_rebalance_delay_ms = 3000;
    let broker = Broker::open(config).unwrap();
    let (a, mut pa) = join_new(&broker, "g", T0);
    let (b, _pb) = join_new(&broker, "g", T0 + 100);
    assert!(pa.try_now().is_none(), "the delay holds the first join");
    broker
        .groups
        .leave(&broker.log, "g", &[(b, None)], T0 + 200)
        .unwrap();
    let joined = pa.try_now().expect("answered when the other left");
    assert_eq!((joined.error, joined.generation), (ErrorCode::None, 1));
    assert_eq!(joined.member_id, a);
    assert_eq!(state(&broker, "g"), GroupState::CompletingRebalance);
}

trait Known {
    fn tap_known(self, required: bool) -> Self;
}

impl Known for JoinRequest {
    fn tap_known(mut self, required: bool) -> Self {
        self.require_known_member_id = required;
        self
    }
}

#[test]
fn static_members_rejoin_without_a_rebalance_and_stale_ids_are_fenced() {
    let broker = Broker::for_tests();
    let joined = ready(
        broker
            .groups
            .join(&broker.log, static_req("g", "", "instance-1"), T0),
    );
    assert_eq!(
        joined.error,
        ErrorCode::None,
        "static members need no MEMBER_ID_REQUIRED round"
    );
    let old = joined.member_id.clone();
    assert!(old.starts_with("instance-1-"));
    ready(sync(
        &broker,
        "g",
        1,
        &old,
        vec![(old.clone(), Bytes::from_static(b"A"))],
        T0,
    ));
    // Restarted with the same instance id and protocols: a new id, same generation.
    let rejoined = ready(broker.groups.join(
        &broker.log,
        static_req("g", "", "instance-1"),
        T0 + 100,
    ));
    assert_eq!(rejoined.error, ErrorCode::None);
    assert_ne!(rejoined.member_id, old);
    assert_eq!(rejoined.generation, 1);
    assert!(rejoined.skip_assignment, "the leader keeps its assignment");
    assert_eq!(
        rejoined.leader, old,
        "told the old leader id, so it computes no assignment"
    );
    assert_eq!(state(&broker, "g"), GroupState::Stable);
    let synced = ready(sync(&broker, "g", 1, &rejoined.member_id, vec![], T0 + 100));
    assert_eq!(synced.assignment, Bytes::from_static(b"A"));
    // The old member id is fenced.
    assert_eq!(
        broker
            .groups
            .heartbeat("g", 1, &old, Some("instance-1"), T0 + 100),
        ErrorCode::FencedInstanceId
    );
    let fenced = ready(broker.groups.join(
        &broker.log,
        static_req("g", &old, "instance-1"),
        T0 + 100,
    ));
    assert_eq!(fenced.error, ErrorCode::FencedInstanceId);
    // New metadata for the same protocol (a restarted client's owned
    // partitions, say) is taken without a rebalance...
    let mut restarted = static_req("g", "", "instance-1");
    restarted.protocols = vec![("range".into(), Bytes::from_static(b"other"))];
    let again = ready(broker.groups.join(&broker.log, restarted, T0 + 200));
    assert_eq!((again.error, again.generation), (ErrorCode::None, 1));
    assert_eq!(state(&broker, "g"), GroupState::Stable);
    assert_eq!(
        broker.groups.describe("g").members[0].metadata,
        Bytes::from_static(b"other")
    );
    // ...but a change of the group's protocol forces one.
    let mut changed = static_req("g", "", "instance-1");
    changed.protocols = vec![
        ("roundrobin".into(), Bytes::from_static(b"m")),
        ("range".into(), Bytes::from_static(b"m")),
    ];
    let rebalanced = ready(broker.groups.join(&broker.log, changed, T0 + 300));
    assert_eq!(
        (rebalanced.generation, rebalanced.protocol_name.as_deref()),
        (2, Some("roundrobin"))
    );
}

#[test]
fn wrong_generations_unknown_members_and_bad_requests_are_refused() {
    let broker = Broker::for_tests();
    let (id, generation) = stable_single(&broker, "g");
    assert_eq!(
        broker.groups.heartbeat("g", generation + 1, &id, None, T0),
        ErrorCode::IllegalGeneration
    );
    assert_eq!(
        ready(sync(&broker, "g", generation - 1, &id, vec![], T0)).error,
        ErrorCode::IllegalGeneration
    );
    assert_eq!(
        broker.groups.heartbeat("g", generation, "nobody", None, T0),
        ErrorCode::UnknownMemberId
    );
    assert_eq!(
        broker
            .groups
            .heartbeat("nowhere", generation, &id, None, T0),
        ErrorCode::UnknownMemberId
    );
    assert_eq!(
        ready(broker.groups.join(&broker.log, req("g", "nobody"), T0)).error,
        ErrorCode::UnknownMemberId
    );
    assert_eq!(
        ready(broker.groups.join(&broker.log, req("fresh", "made-up"), T0)).error,
        ErrorCode::UnknownMemberId
    );
    let mut short = req("g", "");
    short.session_timeout_ms = 10;
    assert_eq!(
        ready(broker.groups.join(&broker.log, short, T0)).error,
        ErrorCode::InvalidSessionTimeout
    );
    let mut other_type = req("g", "");
    other_type.protocol_type = "connect".into();
    assert_eq!(
        ready(broker.groups.join(&broker.log, other_type, T0)).error,
        ErrorCode::InconsistentGroupProtocol
    );
    let mut no_common = req("g", "");
    no_common.protocols = vec![("roundrobin".into(), Bytes::new())];
    assert_eq!(
        ready(broker.groups.join(&broker.log, no_common, T0)).error,
        ErrorCode::InconsistentGroupProtocol
    );
    assert_eq!(
        ready(broker.groups.join(&broker.log, req("", ""), T0)).error,
        ErrorCode::InvalidGroupId
    );
}

#[test]
fn the_protocol_most_members_prefer_wins() {
    let broker = Broker::for_tests();
    let both = |first: &str, second: &str| {
        vec![
            (first.to_string(), Bytes::new()),
            (second.to_string(), Bytes::new()),
        ]
    };
    let mut a = req("g", "").tap_known(false);
    a.protocols = both("range", "roundrobin");
    let mut pa = broker.groups.join(&broker.log, a, T0);
    let ra = pa.try_now().unwrap();
    ready(sync(&broker, "g", 1, &ra.member_id, vec![], T0));
    let mut b = req("g", "").tap_known(false);
    b.protocols = both("roundrobin", "range");
    let mut c = req("g", "").tap_known(false);
    c.protocols = both("roundrobin", "range");
    let mut pb = broker.groups.join(&broker.log, b, T0);
    let mut pc = broker.groups.join(&broker.log, c, T0);
    let mut again = req("g", &ra.member_id);
    again.protocols = both("range", "roundrobin");
    let ra = ready(broker.groups.join(&broker.log, again, T0));
    assert_eq!(ra.protocol_name.as_deref(), Some("roundrobin"));
    assert_eq!(
        pb.try_now().unwrap().protocol_name.as_deref(),
        Some("roundrobin")
    );
    assert!(pc.try_now().is_some());
}

#[test]
fn pending_member_ids_and_unknown_ids_do_not_accumulate() {
    let broker = Broker::for_tests();
    for i in 0..2000 {
        let unknown = ready(broker.groups.join(
            &broker.log,
            req(&format!("g{i}"), &format!("random-{i}")),
            T0,
        ));
        assert_eq!(unknown.error, ErrorCode::UnknownMemberId);
        let required = ready(broker.groups.join(&broker.log, req("busy", ""), T0));
        assert_eq!(required.error, ErrorCode::MemberIdRequired);
    }
    assert_eq!(
        broker.groups.list().len(),
        1,
        "unknown member ids create no groups"
    );
    assert_eq!(
        broker.groups.lock().get("busy").unwrap().pending.len(),
        2000
    );
    broker.groups.tick(&broker.log, T0 + 10_001);
    assert!(broker.groups.lock().get("busy").unwrap().pending.is_empty());
    broker.groups.expire_now(&broker.log, T0 + 10_002);
    assert!(
        broker.groups.list().is_empty(),
        "an empty group without offsets is removed"
    );
}

#[test]
fn non_empty_groups_cannot_be_deleted() {
    let broker = Broker::for_tests();
    let rt = runtime();
    let (id, _) = stable_single(&broker, "g");
    assert_eq!(
        rt.block_on(broker.groups.delete_group(&broker.log, "g", T0)),
        ErrorCode::NonEmptyGroup
    );
    assert_eq!(
        rt.block_on(broker.groups.delete_group(&broker.log, "none", T0)),
        ErrorCode::GroupIdNotFound
    );
    broker
        .groups
        .leave(&broker.log, "g", &[(id, None)], T0)
        .unwrap();
    assert_eq!(
        rt.block_on(broker.groups.delete_group(&broker.log, "g", T0)),
        ErrorCode::None
    );
    assert_eq!(state(&broker, "g"), GroupState::Dead);
}

fn offset(n: i64) -> OffsetValue {
    OffsetValue {
        offset: n,
        leader_epoch: 3,
        metadata: Some(format!("m{n}")),
        commit_timestamp: T0,
        expire_timestamp: -1,
    }
}

fn committed(broker: &Broker, group: &str, topic: &str, partition: i32) -> Option<i64> {
    let fetched = broker
        .groups
        .fetch_offsets(group, Some(vec![(topic.to_string(), vec![partition])]));
    fetched[0].1[0].1.as_ref().map(|f| f.offset)
}

#[test]
fn offsets_commit_fetch_and_delete() {
    let broker = Broker::for_tests();
    let rt = runtime();
    let commit =
        |group: &str, generation: i32, member: &str, offsets: Vec<(String, i32, OffsetValue)>| {
            rt.block_on(broker.groups.commit_offsets(
                &broker.log,
                Committer {
                    group_id: group,
                    generation,
                    member_id: member,
                    instance_id: None,
                },
                offsets,
                T0,
            ))
        };
    // A simple consumer (no group membership) commits with generation -1.
    commit(
        "simple",
        -1,
        "",
        vec![("t".into(), 0, offset(5)), ("t".into(), 1, offset(7))],
    )
    .unwrap();
    assert_eq!(committed(&broker, "simple", "t", 0), Some(5));
    assert_eq!(committed(&broker, "simple", "t", 2), None);
    assert_eq!(committed(&broker, "nobody", "t", 0), None);
    let all = broker.groups.fetch_offsets("simple", None);
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].1.len(), 2);
    assert_eq!(
        all[0].1[1].1.as_ref().unwrap().metadata.as_deref(),
        Some("m7")
    );
    commit("simple", -1, "", vec![("t".into(), 0, offset(6))]).unwrap();
    assert_eq!(committed(&broker, "simple", "t", 0), Some(6));
    // A group member must be in the current generation.
    let (id, generation) = stable_single(&broker, "g");
    assert_eq!(
        commit("g", generation + 1, &id, vec![("t".into(), 0, offset(1))]),
        Err(ErrorCode::IllegalGeneration)
    );
    assert_eq!(
        commit(
            "g",
            generation,
            "stranger",
            vec![("t".into(), 0, offset(1))]
        ),
        Err(ErrorCode::UnknownMemberId)
    );
    assert_eq!(
        commit("g", -1, "", vec![("t".into(), 0, offset(1))]),
        Err(ErrorCode::UnknownMemberId)
    );
    assert_eq!(
        commit("new", 4, "x", vec![("t".into(), 0, offset(1))]),
        Err(ErrorCode::IllegalGeneration)
    );
    commit("g", generation, &id, vec![("t".into(), 0, offset(11))]).unwrap();
    assert_eq!(committed(&broker, "g", "t", 0), Some(11));
    // OffsetDelete: the simple group is empty, so anything goes.
    let errors = rt
        .block_on(
            broker
                .groups
                .delete_offsets(&broker.log, "simple", vec![("t".into(), 0)], T0),
        )
        .unwrap();
    assert_eq!(errors, vec![ErrorCode::None]);
    assert_eq!(committed(&broker, "simple", "t", 0), None);
    assert_eq!(committed(&broker, "simple", "t", 1), Some(7));
    assert_eq!(
        rt.block_on(
            broker
                .groups
                .delete_offsets(&broker.log, "missing", vec![], T0)
        ),
        Err(ErrorCode::GroupIdNotFound)
    );
}

#[test]
fn offsets_of_a_subscribed_topic_are_not_deleted_while_the_group_is_active() {
    let broker = Broker::for_tests();
    let rt = runtime();
    // ConsumerProtocolSubscription v0: topics ["t"], no user data.
    let subscription = Bytes::from_static(&[0, 0, 0, 0, 0, 1, 0, 1, b't', 0, 0, 0, 0]);
    let mut join = req("g", "").tap_known(false);
    join.protocols = vec![("range".into(), subscription)];
    let joined = ready(broker.groups.join(&broker.log, join, T0));
    ready(sync(&broker, "g", 1, &joined.member_id, vec![], T0));
    let offsets = vec![("t".into(), 0, offset(1)), ("u".into(), 0, offset(2))];
    rt.block_on(broker.groups.commit_offsets(
        &broker.log,
        Committer {
            group_id: "g",
            generation: 1,
            member_id: &joined.member_id,
            instance_id: None,
        },
        offsets,
        T0,
    ))
    .unwrap();
    let errors = rt
        .block_on(broker.groups.delete_offsets(
            &broker.log,
            "g",
            vec![("t".into(), 0), ("u".into(), 0)],
            T0,
        ))
        .unwrap();
    assert_eq!(
        errors,
        vec![ErrorCode::GroupSubscribedToTopic, ErrorCode::None]
    );
    assert_eq!(committed(&broker, "g", "t", 0), Some(1));
    assert_eq!(committed(&broker, "g", "u", 0), None);
}

#[test]
fn offsets_of_empty_groups_expire_after_retention() {
    let broker = Broker::for_tests();
    let rt = runtime();
    rt.block_on(broker.groups.commit_offsets(
        &broker.log,
        Committer {
            group_id: "old",
            generation: -1,
            member_id: "",
            instance_id: None,
        },
        vec![("t".into(), 0, offset(1))],
        T0,
    ))
    .unwrap();
    let retention = broker.config.group.offsets_retention_ms;
    broker.groups.expire_now(&broker.log, T0 + retention - 1);
    assert_eq!(committed(&broker, "old", "t", 0), Some(1));
    broker.groups.expire_now(&broker.log, T0 + retention);
    assert_eq!(committed(&broker, "old", "t", 0), None);
    assert!(broker.groups.list().is_empty());
}

#[test]
fn commits_and_groups_survive_a_restart() {
    let config = Broker::test_config();
    let rt = runtime();
    let member;
    {
        let broker = Broker::open(config.clone()).unwrap();
        rt.block_on(broker.groups.commit_offsets(
            &broker.log,
            Committer {
                group_id: "simple",
                generation: -1,
                member_id: "",
                instance_id: None,
            },
            vec![("t".into(), 0, offset(42)), ("t".into(), 1, offset(43))],
            T0,
        ))
        .unwrap();
        rt.block_on(broker.groups.commit_offsets(
            &broker.log,
            Committer {
                group_id: "gone",
                generation: -1,
                member_id: "",
                instance_id: None,
            },
            vec![("t".into(), 0, offset(1))],
            T0,
        ))
        .unwrap();
        let errors = rt
            .block_on(broker.groups.delete_offsets(
                &broker.log,
                "simple",
                vec![("t".into(), 1)],
                T0,
            ))
            .unwrap();
        assert_eq!(errors, vec![ErrorCode::None]);
        assert_eq!(
            rt.block_on(broker.groups.delete_group(&broker.log, "gone", T0)),
            ErrorCode::None
        );
        let (id, _) = stable_single(&broker, "active");
        member = id;
        broker.close().unwrap();
    }
    let broker = Broker::open(config).unwrap();
    assert_eq!(committed(&broker, "simple", "t", 0), Some(42));
    let fetched = broker.groups.fetch_offsets("simple", None);
    assert_eq!(
        fetched[0].1[0].1.as_ref().unwrap().metadata.as_deref(),
        Some("m42")
    );
    assert_eq!(fetched[0].1[0].1.as_ref().unwrap().leader_epoch, 3);
    assert_eq!(
        committed(&broker, "simple", "t", 1),
        None,
        "the tombstone was replayed"
    );
    assert_eq!(state(&broker, "gone"), GroupState::Dead);
    let active = broker.groups.describe("active");
    assert_eq!(active.state, GroupState::Stable);
    assert_eq!(active.members[0].member_id, member);
    assert_eq!(active.members[0].assignment, Bytes::from_static(b"a"));
    assert_eq!(
        broker
            .groups
            .heartbeat("active", 1, &member, None, crate::log::now_ms()),
        ErrorCode::None
    );
}

#[test]
fn record_layouts_round_trip() {
    let key = store::Key::Offset {
        group: "g".into(),
        topic: "t".into(),
        partition: 7,
    };
    assert_eq!(store::decode_key(store::encode_key(&key)).unwrap(), key);
    let value = offset(9);
    assert_eq!(
        store::decode_offset(store::encode_offset(&value)).unwrap(),
        value
    );
    assert!(store::decode_offset(Bytes::from_static(&[0, 1, 0])).is_err());
    assert_eq!(store::java_hash("group"), 98_629_247);
    assert_eq!(store::partition_for("any", 1), 0);
}

#[test]
fn members_that_never_sync_are_dropped_after_the_rebalance_timeout() {
    let broker = Broker::for_tests();
    let (a, _) = stable_single(&broker, "g");
    let (b, mut pb) = join_new(&broker, "g", T0);
    ready(broker.groups.join(&broker.log, req("g", &a), T0));
    assert_eq!(pb.try_now().unwrap().generation, 2);
    // b syncs and waits; the leader a never sends its assignment.
    let mut sb = sync(&broker, "g", 2, &b, vec![], T0);
    assert!(sb.try_now().is_none());
    for t in [8_000, 16_000, 24_000] {
        assert_eq!(
            broker.groups.heartbeat("g", 2, &a, None, T0 + t),
            ErrorCode::None
        );
        broker.groups.tick(&broker.log, T0 + t);
    }
    broker.groups.tick(&broker.log, T0 + 29_999);
    assert_eq!(state(&broker, "g"), GroupState::CompletingRebalance);
    broker.groups.tick(&broker.log, T0 + 30_000);
    assert_eq!(sb.try_now().unwrap().error, ErrorCode::RebalanceInProgress);
    assert_eq!(
        broker.groups.heartbeat("g", 2, &a, None, T0 + 30_000),
        ErrorCode::UnknownMemberId
    );
    let rb = ready(broker.groups.join(&broker.log, req("g", &b), T0 + 30_001));
    assert_eq!(
        (rb.generation, rb.leader.as_str(), rb.members.len()),
        (3, b.as_str(), 1)
    );
}

#[test]
fn batch_leave_by_instance_id_and_by_pending_member_id() {
    let broker = Broker::for_tests();
    let joined = ready(
        broker
            .groups
            .join(&broker.log, static_req("g", "", "i-1"), T0),
    );
    ready(sync(&broker, "g", 1, &joined.member_id, vec![], T0));
    let pending = ready(broker.groups.join(&broker.log, req("g", ""), T0));
    assert_eq!(pending.error, ErrorCode::MemberIdRequired);
    let leaving = vec![
        ("stale-id".to_string(), Some("i-1".to_string())),
        (String::new(), Some("i-1".to_string())),
        (pending.member_id.clone(), None),
        (String::new(), Some("i-unknown".to_string())),
    ];
    let errors = broker.groups.leave(&broker.log, "g", &leaving, T0).unwrap();
    assert_eq!(
        errors,
        vec![
            ErrorCode::FencedInstanceId,
            ErrorCode::None,
            ErrorCode::None,
            ErrorCode::UnknownMemberId
        ]
    );
    assert_eq!(state(&broker, "g"), GroupState::Empty);
    assert_eq!(broker.groups.describe("g").members.len(), 0);
}

#[test]
fn transactional_commits_are_checked_against_the_group() {
    let broker = Broker::for_tests();
    let rt = runtime();
    let (id, generation) = stable_single(&broker, "g");
    let value = OffsetValue {
        offset: 5,
        leader_epoch: -1,
        metadata: None,
        commit_timestamp: T0,
        expire_timestamp: -1,
    };
    let commit = |generation: i32, member_id: &str| {
        let by = Committer {
            group_id: "g",
            generation,
            member_id,
            instance_id: None,
        };
        rt.block_on(broker.groups.txn_commit_offsets(
            &broker.log,
            by,
            (9, 0),
            vec![("t".to_string(), 0, value.clone())],
            None,
            T0,
        ))
    };
    assert_eq!(
        commit(generation + 1, &id),
        Err(ErrorCode::IllegalGeneration)
    );
    assert_eq!(
        commit(generation, "stranger"),
        Err(ErrorCode::UnknownMemberId)
    );
    assert_eq!(commit(generation, &id), Ok(()));
    assert!(broker.groups.has_pending_txn_offset("g", "t", 0));
    let fetched = broker.groups.fetch_offsets("g", None);
    assert!(
        fetched.is_empty(),
        "nothing committed before the marker: {fetched:?}"
    );
}
