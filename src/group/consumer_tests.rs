//! The KIP-848 state machine driven through the coordinator, with time and
//! topic metadata given explicitly.

use super::*;
use crate::broker::Broker;

const T0: i64 = 1_000_000;
const TOPIC: Uuid = Uuid([1; 16]);

/// The heartbeat's answer, its write left to land on its own (the
/// handler is what waits for the commit).
trait BeatNow {
    fn consumer_heartbeat_now(
        &self,
        log: &LogManager,
        req: ConsumerHeartbeat,
        view: &TopicsView,
        now: i64,
    ) -> ConsumerHeartbeatResult;
}

impl BeatNow for GroupCoordinator {
    fn consumer_heartbeat_now(
        &self,
        log: &LogManager,
        req: ConsumerHeartbeat,
        view: &TopicsView,
        now: i64,
    ) -> ConsumerHeartbeatResult {
        self.consumer_heartbeat(log, req, view, now).0
    }
}

fn view(partitions: i32) -> TopicsView {
    [("orders".to_string(), (TOPIC, partitions))].into()
}

fn join(member: &str) -> ConsumerHeartbeat {
    ConsumerHeartbeat {
        group_id: "g".into(),
        member_id: member.into(),
        member_epoch: 0,
        rebalance_timeout_ms: 30_000,
        subscribed_topic_names: Some(vec!["orders".into()]),
        owned: Some(Partitions::new()),
        client_id: "c".into(),
        ..ConsumerHeartbeat::default()
    }
}

fn beat(member: &str, epoch: i32, owned: &Partitions) -> ConsumerHeartbeat {
    ConsumerHeartbeat {
        group_id: "g".into(),
        member_id: member.into(),
        member_epoch: epoch,
        rebalance_timeout_ms: -1,
        owned: Some(owned.clone()),
        ..ConsumerHeartbeat::default()
    }
}

fn parts(result: &ConsumerHeartbeatResult) -> Vec<i32> {
    result
        .assignment
        .as_ref()
        .and_then(|a| a.get(&TOPIC))
        .map(|ps| ps.iter().copied().collect())
        .unwrap_or_default()
}

fn set(ps: &[i32]) -> Partitions {
    [(TOPIC, ps.iter().copied().collect())].into()
}

#[test]
fn second_member_gets_partitions_only_after_the_first_revokes() {
    let broker = Broker::for_tests();
    let (g, log) = (&broker.groups, &broker.log);
    let a = g.consumer_heartbeat_now(log, join("a"), &view(6), T0);
    assert_eq!(
        (a.error, a.member_epoch, parts(&a)),
        (ErrorCode::None, 1, vec![0, 1, 2, 3, 4, 5])
    );
    let b = g.consumer_heartbeat_now(log, join("b"), &view(6), T0);
    assert_eq!(b.member_epoch, 2);
    assert!(
        parts(&b).is_empty(),
        "b must wait for a's revocation: {b:?}"
    );
    assert_eq!(g.describe_consumer_group("g").state, "Reconciling");
    // a is told to revoke three partitions and keeps epoch 1.
    let a = g.consumer_heartbeat_now(
        log,
        beat("a", 1, &set(&[0, 1, 2, 3, 4, 5])),
        &view(6),
        T0 + 1,
    );
    assert_eq!(a.member_epoch, 1);
    let kept = parts(&a);
    assert_eq!(kept.len(), 3);
    // An OffsetCommit with the held epoch still works during revocation.
    g.lock()
        .get("g")
        .and_then(|g| g.consumer.as_ref())
        .unwrap()
        .validate_commit("a", 1)
        .unwrap();
    // b still gets nothing while a owns them.
    let b = g.consumer_heartbeat_now(log, beat("b", 2, &Partitions::new()), &view(6), T0 + 2);
    assert!(parts(&b).is_empty());
    // a acknowledges: epoch 2; then b gets the other three.
    let a = g.consumer_heartbeat_now(log, beat("a", 1, &set(&kept)), &view(6), T0 + 3);
    assert_eq!(a.member_epoch, 2);
    let b = g.consumer_heartbeat_now(log, beat("b", 2, &Partitions::new()), &view(6), T0 + 4);
    let mut all = parts(&b);
    assert_eq!(all.len(), 3);
    all.extend(kept);
    all.sort();
    assert_eq!(all, vec![0, 1, 2, 3, 4, 5]);
    assert_eq!(g.describe_consumer_group("g").state, "Stable");
}

#[test]
fn epochs_are_checked_and_members_expire() {
    let broker = Broker::for_tests();
    let (g, log) = (&broker.groups, &broker.log);
    let a = g.consumer_heartbeat_now(log, join("a"), &view(2), T0);
    let owned = set(&[0, 1]);
    assert_eq!(
        g.consumer_heartbeat_now(log, beat("a", 5, &owned), &view(2), T0)
            .error,
        ErrorCode::FencedMemberEpoch
    );
    assert_eq!(
        g.consumer_heartbeat_now(log, beat("zz", 1, &owned), &view(2), T0)
            .error,
        ErrorCode::UnknownMemberId
    );
    assert_eq!(
        g.consumer_heartbeat_now(log, beat("a", a.member_epoch, &owned), &view(2), T0)
            .error,
        ErrorCode::None
    );
    // A commit with an old epoch is stale; OffsetFetch likewise.
    assert_eq!(
        g.validate_fetch("g", Some("a"), 0),
        Err(ErrorCode::StaleMemberEpoch)
    );
    assert_eq!(g.validate_fetch("g", Some("a"), 1), Ok(()));
    assert_eq!(g.validate_fetch("g", None, -1), Ok(()));
    // Session timeout: the member is fenced by tick and the group epoch moves on.
    let session = i64::from(g.config().consumer_session_timeout_ms);
    g.tick(log, T0 + session + 1);
    let described = g.describe_consumer_group("g");
    assert_eq!((described.state, described.epoch), ("Empty", 2));
    assert_eq!(
        g.consumer_heartbeat_now(log, beat("a", 1, &owned), &view(2), T0)
            .error,
        ErrorCode::UnknownMemberId
    );
}

#[test]
fn leave_static_rejoin_and_unreleased_instance() {
    let broker = Broker::for_tests();
    let (g, log) = (&broker.groups, &broker.log);
    let static_join = |member: &str| ConsumerHeartbeat {
        instance_id: Some("i1".into()),
        ..join(member)
    };
    let a = g.consumer_heartbeat_now(log, static_join("a"), &view(2), T0);
    assert_eq!(parts(&a), vec![0, 1]);
    // The same instance cannot join twice while held.
    assert_eq!(
        g.consumer_heartbeat_now(log, static_join("a2"), &view(2), T0)
            .error,
        ErrorCode::UnreleasedInstanceId
    );
    // -2: leaves for now, keeping the assignment.
    let leave = ConsumerHeartbeat {
        instance_id: Some("i1".into()),
        ..beat("a", STATIC_LEAVE_EPOCH, &Partitions::new())
    };
    assert_eq!(
        g.consumer_heartbeat_now(log, leave, &view(2), T0)
            .member_epoch,
        STATIC_LEAVE_EPOCH
    );
    let epoch = g.describe_consumer_group("g").epoch;
    // The instance comes back under a new member id: same partitions, no new group epoch.
    let back = g.consumer_heartbeat_now(log, static_join("a2"), &view(2), T0 + 1);
    assert_eq!((back.error, parts(&back)), (ErrorCode::None, vec![0, 1]));
    assert_eq!(g.describe_consumer_group("g").epoch, epoch);
    // -1: gone for good.
    let gone = g.consumer_heartbeat_now(
        log,
        beat("a2", LEAVE_EPOCH, &Partitions::new()),
        &view(2),
        T0 + 2,
    );
    assert_eq!(
        (gone.error, gone.member_epoch),
        (ErrorCode::None, LEAVE_EPOCH)
    );
    assert_eq!(g.describe_consumer_group("g").state, "Empty");
}

#[test]
fn new_partitions_and_regex_topics_trigger_a_new_target() {
    let broker = Broker::for_tests();
    let (g, log) = (&broker.groups, &broker.log);
    let regex_join = ConsumerHeartbeat {
        subscribed_topic_names: None,
        subscribed_topic_regex: Some("ord.*".into()),
        ..join("a")
    };
    let a = g.consumer_heartbeat_now(log, regex_join, &view(2), T0);
    assert_eq!((a.member_epoch, parts(&a)), (1, vec![0, 1]));
    // Partitions added: new epoch, new partitions.
    let a = g.consumer_heartbeat_now(log, beat("a", 1, &set(&[0, 1])), &view(3), T0 + 1);
    assert_eq!((a.member_epoch, parts(&a)), (2, vec![0, 1, 2]));
    // A new matching topic.
    let mut topics = view(3);
    topics.insert("orders-eu".into(), (Uuid([2; 16]), 1));
    topics.insert("__consumer_offsets".into(), (Uuid([3; 16]), 1));
    let a = g.consumer_heartbeat_now(log, beat("a", 2, &set(&[0, 1, 2])), &topics, T0 + 2);
    assert_eq!(a.member_epoch, 3);
    let assigned = a.assignment.expect("assignment changed");
    assert_eq!(
        assigned.keys().copied().collect::<Vec<_>>(),
        vec![TOPIC, Uuid([2; 16])]
    );
    let bad = ConsumerHeartbeat {
        subscribed_topic_regex: Some("(".into()),
        ..join("b")
    };
    assert_eq!(
        g.consumer_heartbeat_now(log, bad, &topics, T0).error,
        ErrorCode::InvalidRegularExpression
    );
    let bad = ConsumerHeartbeat {
        server_assignor: Some("sticky".into()),
        ..join("b")
    };
    assert_eq!(
        g.consumer_heartbeat_now(log, bad, &topics, T0).error,
        ErrorCode::UnsupportedAssignor
    );
}

#[test]
fn the_group_survives_a_restart_and_excludes_classic_members() {
    let config = Broker::test_config();
    let broker = Broker::open(config.clone()).unwrap();
    let (g, log) = (&broker.groups, &broker.log);
    g.consumer_heartbeat_now(log, join("a"), &view(2), T0);
    // A classic join to a consumer group with members is refused.
    let classic = JoinRequest {
        group_id: "g".into(),
        member_id: String::new(),
        group_instance_id: None,
        client_id: "c".into(),
        client_host: String::new(),
        session_timeout_ms: 10_000,
        rebalance_timeout_ms: 10_000,
        protocol_type: "consumer".into(),
        protocols: vec![("range".into(), Bytes::new())],
        require_known_member_id: true,
    };
    let mut refused = g.join(log, classic, T0);
    assert_eq!(
        refused.try_now().map(|r| r.error),
        Some(ErrorCode::InconsistentGroupProtocol)
    );
    let listed = g.listing();
    assert_eq!(
        (listed[0].group_type, listed[0].state),
        ("consumer", "Stable")
    );
    broker.close().unwrap();
    drop(broker);
    let broker = Broker::open(config).unwrap();
    let (reloaded, log) = (&broker.groups, &broker.log);
    let described = reloaded.describe_consumer_group("g");
    assert_eq!((described.epoch, described.members.len()), (1, 1));
    assert_eq!(described.members[0].assignment[0].2, vec![0, 1]);
    // The member carries on with its epoch after the restart.
    let a = reloaded.consumer_heartbeat_now(log, beat("a", 1, &set(&[0, 1])), &view(2), T0 + 1);
    assert_eq!(a.error, ErrorCode::None);
}
