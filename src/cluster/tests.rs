//! Properties of the controller and the image, over random histories of
//! registrations, heartbeats, silences, shutdowns and topic changes.

use super::controller::{
    Controller, ControllerError, Heartbeat, IsrChange, NewTopic, Registration,
};
use super::image::MetadataImage;
use super::records::{Endpoint, MetadataRecord, NO_LEADER};
use crate::protocol::wire::Uuid;
use proptest::prelude::*;
use std::collections::BTreeMap;

const SESSION_MS: u64 = 9000;

/// A controller with its log: records are applied as they would be once committed.
struct Harness {
    controller: Controller,
    image: MetadataImage,
    now: u64,
    incarnations: u8,
    /// Leader epoch per partition, to check they never go back.
    epochs: BTreeMap<([u8; 16], usize), i32>,
}

impl Harness {
    fn new() -> Harness {
        Harness {
            controller: Controller::new(SESSION_MS),
            image: MetadataImage::empty(),
            now: 0,
            incarnations: 0,
            epochs: BTreeMap::new(),
        }
    }

    fn append(&mut self, records: Vec<MetadataRecord>) {
        for record in records {
            let decoded = MetadataRecord::decode(record.to_bytes()).expect("a record decodes");
            assert_eq!(decoded, record, "round trip");
            let offset = self.image.offset + 1;
            if let Err(e) = self.image.apply(offset, &record) {
                panic!("the controller wrote {record:?}, which does not apply: {e}");
            }
        }
    }

    fn register(&mut self, id: i32, rack: Option<&str>) {
        self.incarnations = self.incarnations.wrapping_add(1);
        let request = Registration {
            broker_id: id,
            incarnation_id: Uuid([self.incarnations; 16]),
            endpoints: vec![Endpoint {
                name: "PLAINTEXT".into(),
                host: "h".into(),
                port: 9092,
                security_protocol: 0,
            }],
            rack: rack.map(str::to_string),
        };
        if let Ok(records) = self
            .controller
            .register_broker(&self.image, request, self.now)
        {
            self.append(records);
        }
    }

    fn heartbeat(&mut self, id: i32, shut_down: bool) {
        let Some(b) = self.image.brokers.get(&id) else {
            return;
        };
        let beat = Heartbeat {
            broker_id: id,
            broker_epoch: b.epoch,
            applied_offset: self.image.offset,
            want_shut_down: shut_down,
            load: None,
        };
        let (records, _) = self
            .controller
            .heartbeat(&self.image, beat, self.now)
            .expect("a current epoch is accepted");
        self.append(records);
    }

    fn create(&mut self, name: &str, partitions: i32, rf: i16) {
        let topic = NewTopic {
            name: name.into(),
            topic_id: topic_id(name),
            partitions,
            replication_factor: rf,
            assignments: None,
            configs: BTreeMap::new(),
        };
        if let Some(Ok(records)) = self.controller.create_topics(&self.image, &[topic]).pop() {
            self.append(records);
        }
    }

    /// The leader of `name`-`partition` asks for `isr` (AlterPartition),
    /// on the epochs the image has, or on `stale_epoch` if given.
    fn alter_isr(
        &mut self,
        name: &str,
        partition: usize,
        isr: &[i32],
        stale_epoch: Option<i32>,
    ) -> Result<(), ControllerError> {
        let topic = self.image.topic(name).expect("the topic exists").clone();
        let p = &topic.partitions[partition];
        let change = IsrChange {
            broker_id: p.leader,
            broker_epoch: self.image.brokers[&p.leader].epoch,
            topic_id: topic.id.0,
            partition: partition as i32,
            leader_epoch: p.leader_epoch,
            partition_epoch: stale_epoch.unwrap_or(p.partition_epoch),
            isr: isr.to_vec(),
        };
        let records = self.controller.alter_partition(&self.image, &change)?;
        self.append(records);
        Ok(())
    }

    /// The leader of `name`-`partition`, if any, takes its active replicas into the ISR.
    fn catch_up(&mut self, name: &str, partition: usize) {
        let Some(p) = self
            .image
            .topic(name)
            .and_then(|t| t.partitions.get(partition))
        else {
            return;
        };
        if p.leader == NO_LEADER {
            return;
        }
        let mut isr = p.isr.clone();
        let active = |b: &i32| self.image.brokers.get(b).is_some_and(|b| b.is_active());
        isr.extend(
            p.replicas
                .iter()
                .filter(|r| !p.isr.contains(r) && active(r)),
        );
        let _ = self.alter_isr(name, partition, &isr, None);
    }

    fn check_invariants(&mut self) {
        for topic in self.image.topics() {
            for (i, p) in topic.partitions.iter().enumerate() {
                if p.leader != NO_LEADER {
                    let leader = &self.image.brokers[&p.leader];
                    assert!(
                        leader.is_active(),
                        "{}-{i} led by inactive broker {}",
                        topic.name,
                        p.leader
                    );
                }
                let active_in_sync = p
                    .isr
                    .iter()
                    .any(|b| self.image.brokers.get(b).is_some_and(|b| b.is_active()));
                assert_eq!(
                    p.leader != NO_LEADER,
                    active_in_sync,
                    "{}-{i}: {p:?} leads iff an ISR member is active",
                    topic.name
                );
                let key = (topic.id.0, i);
                let before = self.epochs.insert(key, p.leader_epoch).unwrap_or(0);
                assert!(p.leader_epoch >= before, "leader epoch went back");
            }
        }
    }
}

/// Distinct names get distinct ids; a recreated topic gets a new one.
fn topic_id(name: &str) -> Uuid {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let mut id = [0u8; 16];
    id[..8].copy_from_slice(
        &NEXT
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            .to_be_bytes(),
    );
    id[8..8 + name.len().min(8)].copy_from_slice(&name.as_bytes()[..name.len().min(8)]);
    Uuid(id)
}

#[derive(Clone, Debug)]
enum Op {
    Register(i32, Option<u8>),
    Heartbeat(i32),
    HeartbeatAll,
    Shutdown(i32),
    Advance(u64),
    Create(u8, i32, i16),
    Delete(u8),
    Grow(u8, i32),
    /// A reassignment of a partition towards these brokers (None: cancel).
    Reassign(u8, u8, Option<Vec<i32>>),
    /// A partition's leader takes every active replica into its ISR.
    CatchUp(u8, u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..5i32, prop::option::of(0..3u8)).prop_map(|(b, r)| Op::Register(b, r)),
        (0..5i32).prop_map(Op::Heartbeat),
        Just(Op::HeartbeatAll),
        Just(Op::HeartbeatAll),
        (0..5i32).prop_map(Op::Shutdown),
        (0..12_000u64).prop_map(Op::Advance),
        (0..4u8, 1..5i32, 1..4i16).prop_map(|(t, p, r)| Op::Create(t, p, r)),
        (0..4u8).prop_map(Op::Delete),
        (0..4u8, 1..8i32).prop_map(|(t, n)| Op::Grow(t, n)),
        (
            0..4u8,
            0..4u8,
            prop::option::of(prop::collection::vec(0..6i32, 0..5))
        )
            .prop_map(|(t, p, target)| Op::Reassign(t, p, target)),
        (0..4u8, 0..4u8).prop_map(|(t, p)| Op::CatchUp(t, p)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn controller_histories_keep_the_images_invariants(ops in prop::collection::vec(op(), 1..80)) {
        let mut h = Harness::new();
        for op in ops {
            match op {
                Op::Register(b, rack) => h.register(b, rack.map(|r| ["a", "b", "c"][r as usize])),
                Op::Heartbeat(b) => h.heartbeat(b, false),
                Op::HeartbeatAll => {
                    let ids: Vec<i32> = h.image.brokers.keys().copied().collect();
                    ids.into_iter().for_each(|b| h.heartbeat(b, false));
                }
                Op::Shutdown(b) => h.heartbeat(b, true),
                Op::Advance(ms) => {
                    h.now += ms;
                    let records = h.controller.tick(&h.image, h.now);
                    h.append(records);
                }
                Op::Create(t, p, r) => h.create(&format!("t{t}"), p, r),
                Op::Delete(t) => {
                    if let Ok(records) = h.controller.delete_topic(&h.image, &format!("t{t}")) {
                        h.append(records);
                    }
                }
                Op::Grow(t, n) => {
                    let name = format!("t{t}");
                    let total = h.image.topic(&name).map_or(0, |t| t.partitions.len() as i32) + n;
                    if let Ok(records) = h.controller.create_partitions(&h.image, &name, total, None) {
                        h.append(records);
                    }
                }
                Op::Reassign(t, p, target) => {
                    let reassigned = h.controller.alter_reassignment(
                        &h.image, &format!("t{t}"), i32::from(p), target.as_deref(), true,
                    );
                    if let Ok(records) = reassigned {
                        h.append(records);
                    }
                }
                Op::CatchUp(t, p) => h.catch_up(&format!("t{t}"), usize::from(p)),
            }
            h.check_invariants();
        }
    }
}

fn cluster(racks: &[&str]) -> Harness {
    let mut h = Harness::new();
    for (id, rack) in racks.iter().enumerate() {
        h.register(id as i32, Some(rack));
    }
    for id in 0..racks.len() as i32 {
        h.heartbeat(id, false);
    }
    assert!(
        h.image.brokers.values().all(|b| !b.fenced),
        "caught-up brokers are unfenced"
    );
    h
}

#[test]
fn placement_spreads_leaders_and_racks() {
    let mut h = cluster(&["a", "a", "b", "b", "c", "c"]);
    h.create("orders", 12, 3);
    h.create("payments", 5, 2);
    let mut leaders: BTreeMap<i32, usize> = BTreeMap::new();
    for topic in h.image.topics() {
        for p in &topic.partitions {
            *leaders.entry(p.leader).or_default() += 1;
            assert_eq!(p.leader, p.replicas[0], "the preferred replica leads");
            let racks: Vec<_> = p
                .replicas
                .iter()
                .map(|r| h.image.brokers[r].rack.clone())
                .collect();
            assert!(
                racks
                    .iter()
                    .enumerate()
                    .all(|(i, r)| !racks[..i].contains(r)),
                "{:?} share a rack",
                p.replicas
            );
        }
    }
    let (min, max) = (
        leaders.values().min().copied(),
        leaders.values().max().copied(),
    );
    assert_eq!(
        leaders.len(),
        6,
        "every broker leads some partition: {leaders:?}"
    );
    assert!(
        max.unwrap_or(0) - min.unwrap_or(0) <= 1,
        "leaders spread evenly: {leaders:?}"
    );
}

#[test]
fn isr_changes_come_from_the_leader_on_the_current_epochs() {
    let mut h = cluster(&["a", "b", "c"]);
    h.create("t", 1, 3);
    let p = h.image.topic("t").unwrap().partitions[0].clone();
    let (leader, followers) = (p.leader, p.replicas[1..].to_vec());
    // A laggard leaves; the same request again changes nothing.
    h.alter_isr("t", 0, &[leader, followers[0]], None).unwrap();
    let shrunk = h.image.topic("t").unwrap().partitions[0].clone();
    assert_eq!(shrunk.isr, [leader, followers[0]]);
    assert!(shrunk.partition_epoch > p.partition_epoch);
    assert_eq!(shrunk.leader_epoch, p.leader_epoch, "the same leader");
    let offset = h.image.offset;
    h.alter_isr("t", 0, &[leader, followers[0]], None).unwrap();
    assert_eq!(h.image.offset, offset);
    // A request on the old partition epoch is refused.
    let stale = h.alter_isr("t", 0, &p.replicas, Some(p.partition_epoch));
    assert!(matches!(
        stale,
        Err(ControllerError::InvalidUpdateVersion(_))
    ));
    // The leader may not leave, nor a stranger join.
    assert!(h.alter_isr("t", 0, &followers, None).is_err());
    let stranger = h.alter_isr("t", 0, &[leader, 9], None);
    assert!(matches!(
        stranger,
        Err(ControllerError::IneligibleReplica(_))
    ));
    // A fenced replica may not join; once back, it may.
    let out = followers[1];
    for _ in 0..6 {
        h.now += 2000;
        for b in [leader, followers[0]] {
            h.heartbeat(b, false);
        }
        let records = h.controller.tick(&h.image, h.now);
        h.append(records);
    }
    assert!(h.image.brokers[&out].fenced);
    let fenced = h.alter_isr("t", 0, &[leader, followers[0], out], None);
    assert!(matches!(fenced, Err(ControllerError::IneligibleReplica(_))));
    h.heartbeat(out, false);
    h.alter_isr("t", 0, &[leader, followers[0], out], None)
        .unwrap();
    assert_eq!(h.image.topic("t").unwrap().partitions[0].isr.len(), 3);
}

#[test]
fn the_preferred_replica_leads_again_once_back_in_sync() {
    let mut h = cluster(&["a", "b", "c"]);
    h.create("t", 1, 3);
    let p = h.image.topic("t").unwrap().partitions[0].clone();
    let preferred = p.replicas[0];
    let elect = |h: &mut Harness| {
        let records = h.controller.elect_preferred(&h.image, "t", 0)?;
        h.append(records);
        Ok::<(), ControllerError>(())
    };
    assert!(matches!(
        elect(&mut h),
        Err(ControllerError::ElectionNotNeeded(_))
    ));
    assert!(matches!(
        h.controller.elect_preferred(&h.image, "t", 5),
        Err(ControllerError::UnknownTopic(_))
    ));
    // The preferred replica falls silent: fenced, out of the ISR, not leading.
    let others: Vec<i32> = p.replicas[1..].to_vec();
    for _ in 0..6 {
        h.now += 2000;
        for b in &others {
            h.heartbeat(*b, false);
        }
        let records = h.controller.tick(&h.image, h.now);
        h.append(records);
    }
    let moved = h.image.topic("t").unwrap().partitions[0].clone();
    assert_ne!(moved.leader, preferred);
    // Back and active, but not in sync yet: it may not lead.
    h.heartbeat(preferred, false);
    assert!(matches!(
        elect(&mut h),
        Err(ControllerError::PreferredLeaderNotAvailable(_))
    ));
    // In sync again (its leader said so): it leads with a new epoch.
    let mut isr = moved.isr.clone();
    isr.push(preferred);
    h.alter_isr("t", 0, &isr, None).unwrap();
    elect(&mut h).unwrap();
    let back = &h.image.topic("t").unwrap().partitions[0];
    assert_eq!(back.leader, preferred);
    assert!(back.leader_epoch > moved.leader_epoch);
}

#[test]
fn a_silent_broker_is_fenced_and_its_leaderships_move() {
    let mut h = cluster(&["a", "b", "c"]);
    h.create("t", 3, 3);
    // New partitions are empty: every replica is in sync.
    for p in &h.image.topic("t").unwrap().partitions {
        assert_eq!(p.isr, p.replicas);
    }
    h.create("single", 3, 1);
    let led_by_0: Vec<usize> = h
        .image
        .topic("t")
        .unwrap()
        .partitions
        .iter()
        .enumerate()
        .filter(|(_, p)| p.leader == 0)
        .map(|(i, _)| i)
        .collect();
    assert!(!led_by_0.is_empty());
    // Brokers 1 and 2 keep heartbeating; broker 0 falls silent.
    for _ in 0..6 {
        h.now += 2000;
        h.heartbeat(1, false);
        h.heartbeat(2, false);
        let records = h.controller.tick(&h.image, h.now);
        h.append(records);
    }
    assert!(h.image.brokers[&0].fenced);
    for i in led_by_0 {
        let p = &h.image.topic("t").unwrap().partitions[i];
        assert_ne!(p.leader, 0);
        assert!(p.leader_epoch >= 1, "a new leader, a new epoch");
        assert!(!p.isr.contains(&0));
    }
    // Its RF=1 partitions have no leader, and keep it as their ISR.
    let single = h.image.topic("single").unwrap().clone();
    for p in single.partitions.iter().filter(|p| p.replicas == [0]) {
        assert_eq!((p.leader, p.isr.as_slice()), (NO_LEADER, &[0][..]));
    }
    // It comes back (a new incarnation), catches up and leads them again.
    h.register(0, Some("a"));
    h.heartbeat(0, false);
    assert!(!h.image.brokers[&0].fenced);
    let now = &h.image.topic("single").unwrap().partitions;
    for (p, q) in single.partitions.iter().zip(now) {
        if p.replicas == [0] {
            assert_eq!(q.leader, 0);
            assert!(q.leader_epoch > p.leader_epoch);
        }
    }
}

#[test]
fn controlled_shutdown_moves_leaders_before_the_broker_may_stop() {
    let mut h = cluster(&["a", "b", "c"]);
    h.create("t", 6, 2);
    let epoch = h.image.brokers[&1].epoch;
    let beat = Heartbeat {
        broker_id: 1,
        broker_epoch: epoch,
        applied_offset: h.image.offset,
        want_shut_down: true,
        load: None,
    };
    let (records, reply) = h
        .controller
        .heartbeat(&h.image, beat.clone(), h.now)
        .unwrap();
    assert!(
        !reply.should_shut_down,
        "not before its leaderships have moved"
    );
    h.append(records);
    assert!(h
        .image
        .topic("t")
        .unwrap()
        .partitions
        .iter()
        .all(|p| p.leader != 1));
    let (records, reply) = h.controller.heartbeat(&h.image, beat, h.now).unwrap();
    assert!(reply.should_shut_down, "it leads nothing now");
    h.append(records);
    assert!(
        h.image.brokers[&1].fenced,
        "and clients are no longer sent to it"
    );
}

#[test]
fn stale_epochs_and_duplicate_brokers_are_refused() {
    let mut h = cluster(&["a"]);
    let epoch = h.image.brokers[&0].epoch;
    let stale = Heartbeat {
        broker_id: 0,
        broker_epoch: epoch - 1,
        applied_offset: 0,
        want_shut_down: false,
        load: None,
    };
    assert!(matches!(
        h.controller.heartbeat(&h.image, stale, h.now),
        Err(super::controller::ControllerError::StaleBrokerEpoch { .. })
    ));
    let other = Registration {
        broker_id: 0,
        incarnation_id: Uuid([99; 16]),
        endpoints: Vec::new(),
        rack: None,
    };
    let refused = h.controller.register_broker(&h.image, other, h.now);
    assert_eq!(
        refused,
        Err(super::controller::ControllerError::DuplicateBrokerRegistration(0))
    );
    assert!(h.controller.create_topics(
        &h.image,
        &[NewTopic {
            name: "t".into(),
            topic_id: Uuid([1; 16]),
            partitions: 1,
            replication_factor: 2,
            assignments: None,
            configs: BTreeMap::new(),
        }]
    )[0]
    .as_ref()
    .unwrap_err()
    .to_string()
    .contains("only 1 broker(s) are registered"));
}

proptest! {
    #[test]
    fn hostile_record_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        let _ = MetadataRecord::decode(bytes::Bytes::from(bytes));
    }
}

fn topic(name: &str) -> crate::cluster::image::ConfigResource {
    (crate::cluster::records::CONFIG_TOPIC, name.to_string())
}

#[test]
fn topic_configs_change_by_the_settings_that_differ() {
    let mut h = cluster(&["a"]);
    h.create("t", 1, 1);
    let first: BTreeMap<String, String> = [
        ("retention.ms".to_string(), "5".to_string()),
        ("cleanup.policy".to_string(), "compact".to_string()),
    ]
    .into();
    let records = h
        .controller
        .alter_configs(&h.image, &topic("t"), &first)
        .unwrap();
    assert_eq!(records.len(), 2);
    h.append(records);
    let next: BTreeMap<String, String> = [("retention.ms".to_string(), "6".to_string())].into();
    let records = h
        .controller
        .alter_configs(&h.image, &topic("t"), &next)
        .unwrap();
    assert_eq!(records.len(), 2, "one setting removed, one changed");
    h.append(records);
    assert_eq!(h.image.topic_configs("t"), Some(&next));
    assert!(h
        .controller
        .alter_configs(&h.image, &topic("absent"), &next)
        .is_err());
}

#[test]
fn broker_and_cluster_configs_are_kept_per_resource() {
    use crate::cluster::records::CONFIG_BROKER;
    let mut h = cluster(&["a"]);
    let settings: BTreeMap<String, String> =
        [("log.retention.ms".to_string(), "5".to_string())].into();
    for name in ["", "1"] {
        let records = h
            .controller
            .alter_configs(&h.image, &(CONFIG_BROKER, name.to_string()), &settings)
            .unwrap();
        h.append(records);
    }
    assert_eq!(h.image.broker_configs(None), Some(&settings));
    assert_eq!(h.image.broker_configs(Some(1)), Some(&settings));
    assert_eq!(h.image.broker_configs(Some(2)), None);
    let records = h
        .controller
        .alter_configs(&h.image, &(CONFIG_BROKER, "1".into()), &BTreeMap::new())
        .unwrap();
    h.append(records);
    assert_eq!(h.image.broker_configs(Some(1)), None, "emptied, then gone");
    assert!(h
        .controller
        .alter_configs(&h.image, &(CONFIG_BROKER, "one".into()), &settings)
        .is_err());
}

#[test]
fn a_reassignment_moves_a_partition_once_its_new_replicas_are_in_sync() {
    let mut h = cluster(&["a", "a", "a", "a"]);
    h.create("moving", 1, 3);
    let before = h.image.topic("moving").expect("created").partitions[0].clone();
    let old_leader = before.leader;
    let newcomer = (0..4)
        .find(|b| !before.replicas.contains(b))
        .expect("a spare broker");
    let target = vec![newcomer, before.replicas[1], before.replicas[2]];
    let records = h
        .controller
        .alter_reassignment(&h.image, "moving", 0, Some(&target), true)
        .expect("a valid target");
    h.append(records);
    let moving = h.image.topic("moving").expect("kept").partitions[0].clone();
    let mut expected = target.clone();
    expected.push(before.replicas[0]);
    assert_eq!(
        moving.replicas, expected,
        "the target, then the leaving replica"
    );
    assert_eq!(
        (moving.adding.clone(), moving.removing.clone()),
        (vec![newcomer], vec![before.replicas[0]])
    );
    assert_eq!(moving.leader_epoch, before.leader_epoch, "nothing left yet");
    // A second target while one is in flight, and cancelling where none is.
    let cancel = h
        .controller
        .alter_reassignment(&h.image, "moving", 0, None, true);
    assert!(cancel.is_ok());
    let nothing =
        h.controller
            .alter_reassignment(&MetadataImage::clone(&h.image), "moving", 0, None, true);
    assert!(nothing.is_ok(), "still in flight in this image");
    // The newcomer catches up: the move completes in the same change.
    h.catch_up("moving", 0);
    let done = h.image.topic("moving").expect("kept").partitions[0].clone();
    assert_eq!(done.replicas, target);
    assert!(!done.reassigning());
    assert!(!done.isr.contains(&before.replicas[0]));
    assert!(
        done.leader_epoch > moving.leader_epoch,
        "a shrunk replica set bumps the epoch"
    );
    if old_leader == before.replicas[0] {
        assert_eq!(
            done.leader, newcomer,
            "the first target replica in sync leads"
        );
    } else {
        assert_eq!(done.leader, old_leader, "a leader that stays keeps leading");
    }
    let none = h
        .controller
        .alter_reassignment(&h.image, "moving", 0, None, true);
    assert_eq!(
        none.map_err(|e| e.code()),
        Err(crate::protocol::error_code::ErrorCode::NoReassignmentInProgress)
    );
}

#[test]
fn invalid_reassignments_change_nothing() {
    use crate::protocol::error_code::ErrorCode;
    let mut h = cluster(&["a", "a", "a"]);
    h.create("fixed", 1, 2);
    let code = |h: &Harness, topic: &str, partition: i32, target: Option<&[i32]>, rf: bool| {
        h.controller
            .alter_reassignment(&h.image, topic, partition, target, rf)
            .map(|_| ())
            .map_err(|e| e.code())
    };
    let invalid = Err(ErrorCode::InvalidReplicaAssignment);
    assert_eq!(code(&h, "fixed", 0, Some(&[]), true), invalid, "empty");
    assert_eq!(
        code(&h, "fixed", 0, Some(&[0, 0]), true),
        invalid,
        "duplicate"
    );
    assert_eq!(
        code(&h, "fixed", 0, Some(&[0, 7]), true),
        invalid,
        "unregistered"
    );
    assert_eq!(
        code(&h, "fixed", 0, Some(&[0, -1]), true),
        invalid,
        "negative"
    );
    assert_eq!(
        code(&h, "nope", 0, Some(&[0, 1]), true),
        Err(ErrorCode::UnknownTopicOrPartition)
    );
    assert_eq!(
        code(&h, "fixed", 3, Some(&[0, 1]), true),
        Err(ErrorCode::UnknownTopicOrPartition)
    );
    assert_eq!(
        code(&h, "fixed", 0, Some(&[0, 1, 2]), false),
        Err(ErrorCode::InvalidReplicationFactor)
    );
    assert_eq!(
        code(&h, "fixed", 0, None, true),
        Err(ErrorCode::NoReassignmentInProgress)
    );
}

#[test]
fn partition_records_of_version_0_still_decode() {
    let change = MetadataRecord::PartitionChange {
        partition_id: 2,
        topic_id: Uuid([7; 16]),
        isr: Some(vec![1, 2]),
        leader: 1,
        replicas: None,
        adding: None,
        removing: None,
    };
    let bytes = change.to_bytes();
    // Version 0: the same fields without the trailing adding and removing (-1, -1).
    let mut v0 = bytes[..bytes.len() - 8].to_vec();
    v0[2..4].copy_from_slice(&0i16.to_be_bytes());
    assert_eq!(MetadataRecord::decode(v0.into()), Ok(change));
    let mut v2 = bytes.to_vec();
    v2[2..4].copy_from_slice(&2i16.to_be_bytes());
    assert!(
        MetadataRecord::decode(v2.into()).is_err(),
        "a newer version is refused"
    );
}

/// The balancer in the controller (autobalance): a broker that joins gets
/// moves towards it, started as reassignments the controller accepts; a
/// broker fenced longer than the set time has its replicas copied anew.
#[test]
fn the_controllers_balancer_moves_replicas_to_a_new_broker_and_off_a_gone_one() {
    use crate::cluster::autobalance;
    use crate::config::BalancerConfig;
    let mut h = cluster(&["a", "b", "c"]);
    h.create("t", 6, 2);
    let config = BalancerConfig {
        enable: true,
        replace_after_ms: 60_000,
        ..BalancerConfig::default()
    };
    assert_eq!(
        autobalance::moves(&h.image, &h.controller, &config, h.now),
        Ok(vec![])
    );
    h.register(3, Some("d"));
    h.heartbeat(3, false);
    let moves = autobalance::moves(&h.image, &h.controller, &config, h.now).expect("a plan");
    assert!(!moves.is_empty());
    assert!(
        moves
            .iter()
            .all(|(_, _, to)| to.as_ref().is_some_and(|to| to.contains(&3))),
        "{moves:?}"
    );
    for (topic, partition, target) in &moves {
        let records = h
            .controller
            .alter_reassignment(&h.image, topic, *partition, target.as_deref(), false)
            .expect("the controller takes the balancer's move");
        h.append(records);
    }
    // Broker 1 falls silent: fenced after a session, replaced after a minute.
    for _ in 0..40 {
        h.now += 2000;
        for id in [0, 2, 3] {
            h.heartbeat(id, false);
        }
        let records = h.controller.tick(&h.image, h.now);
        h.append(records);
    }
    assert!(h.image.brokers[&1].fenced);
    let moves = autobalance::moves(&h.image, &h.controller, &config, h.now).expect("a plan");
    let held_by_1 = h
        .image
        .topic("t")
        .unwrap()
        .partitions
        .iter()
        .filter(|p| p.replicas.contains(&1) && !p.reassigning())
        .count();
    assert!(held_by_1 > 0);
    assert!(
        moves
            .iter()
            .any(|(_, _, to)| to.as_ref().is_some_and(|to| !to.contains(&1))),
        "{moves:?}"
    );
}
