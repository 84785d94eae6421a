//! The planner by examples and by properties: plans never break rack,
//! disk or move limits, converge when applied, and are empty when nothing
//! is out of balance.

use super::*;
use proptest::prelude::*;

fn broker(id: i32, rack: Option<&str>) -> BrokerView {
    BrokerView {
        id,
        rack: rack.map(str::to_string),
        usable: true,
        capacity_bytes: None,
    }
}

fn partition(topic: &str, partition: i32, replicas: &[i32], size_bytes: u64) -> PartitionView {
    PartitionView {
        topic: topic.to_string(),
        partition,
        replicas: replicas.to_vec(),
        size_bytes,
        bytes_in: 0.0,
        bytes_out: 0.0,
        moving: Vec::new(),
    }
}

fn view(brokers: Vec<BrokerView>, partitions: Vec<PartitionView>) -> View {
    View {
        brokers: brokers.into_iter().map(|b| (b.id, b)).collect(),
        partitions,
    }
}

/// The view once `plan`'s moves are complete.
fn applied(view: &View, plan: &Plan) -> View {
    let mut next = view.clone();
    for m in &plan.moves {
        let p = next
            .partitions
            .iter_mut()
            .find(|p| p.topic == m.topic && p.partition == m.partition)
            .expect("a planned partition exists");
        assert_eq!(
            p.replicas, m.from,
            "a move starts from the current replicas"
        );
        p.replicas = m.to.clone();
    }
    next
}

/// Plans and applies until a plan is empty; the views on the way.
fn converge(view: &View, goals: &Goals, rounds: usize) -> Vec<View> {
    let mut views = vec![view.clone()];
    for _ in 0..rounds {
        let last = views.last().expect("a view");
        let plan = plan(last, goals).expect("a feasible plan");
        if plan.moves.is_empty() {
            assert_eq!(plan.deferred, 0, "nothing held back by an empty plan");
            return views;
        }
        let next = applied(last, &plan);
        views.push(next);
    }
    panic!("no empty plan after {rounds} rounds");
}

fn counts(view: &View, leaders_only: bool) -> BTreeMap<i32, usize> {
    let mut counts: BTreeMap<i32, usize> = view.brokers.keys().map(|b| (*b, 0)).collect();
    for p in &view.partitions {
        let held = if leaders_only {
            &p.replicas[..1]
        } else {
            &p.replicas[..]
        };
        for r in held {
            *counts.entry(*r).or_default() += 1;
        }
    }
    counts
}

fn spread(counts: &BTreeMap<i32, usize>, among: impl Fn(i32) -> bool) -> usize {
    let held: Vec<usize> = counts
        .iter()
        .filter(|(b, _)| among(**b))
        .map(|(_, n)| *n)
        .collect();
    held.iter().max().unwrap_or(&0) - held.iter().min().unwrap_or(&0)
}

fn racks(view: &View, replicas: &[i32]) -> usize {
    replicas
        .iter()
        .map(|r| {
            view.brokers[r]
                .rack
                .clone()
                .unwrap_or_else(|| format!("\u{0}broker-{r}"))
        })
        .collect::<BTreeSet<_>>()
        .len()
}

/// Three brokers holding 12 partitions of 2 replicas, and a fourth,
/// empty broker that just joined.
fn three_brokers_and_a_new_one() -> View {
    let mut partitions = Vec::new();
    for i in 0..12 {
        let a = i % 3;
        partitions.push(partition("t", i, &[a, (a + 1) % 3], 1000));
    }
    view((0..4).map(|b| broker(b, None)).collect(), partitions)
}

#[test]
fn a_new_broker_gets_its_share() {
    let before = three_brokers_and_a_new_one();
    let goals = Goals {
        max_moves_per_broker: 100,
        ..Goals::default()
    };
    let views = converge(&before, &goals, 20);
    let after = views.last().expect("a view");
    let replicas = counts(after, false);
    let leaders = counts(after, true);
    assert_eq!(replicas[&3], 6, "24 replicas over 4 brokers: {replicas:?}");
    assert_eq!(spread(&replicas, |_| true), 0, "{replicas:?}");
    assert_eq!(spread(&leaders, |_| true), 0, "{leaders:?}");
}

#[test]
fn moves_are_bounded_per_broker_and_per_plan() {
    let before = three_brokers_and_a_new_one();
    let goals = Goals {
        max_moves_per_broker: 2,
        max_moves: 3,
        ..Goals::default()
    };
    let plan = plan(&before, &goals).expect("plan");
    assert!(!plan.moves.is_empty() && plan.moves.len() <= 3);
    let into_new = plan.moves.iter().filter(|m| m.to.contains(&3)).count();
    assert!(into_new <= 2, "{plan:?}");
}

#[test]
fn a_balanced_cluster_gets_an_empty_plan() {
    let before = three_brokers_and_a_new_one();
    let goals = Goals {
        max_moves_per_broker: 100,
        ..Goals::default()
    };
    let balanced = converge(&before, &goals, 20).pop().expect("a view");
    assert_eq!(plan(&balanced, &goals), Ok(Plan::default()));
}

#[test]
fn a_drained_broker_ends_empty_and_keeps_no_leadership() {
    let before = three_brokers_and_a_new_one();
    let balanced = converge(
        &before,
        &Goals {
            max_moves_per_broker: 100,
            ..Goals::default()
        },
        20,
    )
    .pop()
    .expect("a view");
    let goals = Goals {
        drain: [1].into(),
        max_moves_per_broker: 1,
        ..Goals::default()
    };
    let first = plan(&balanced, &goals).expect("plan");
    assert!(first
        .moves
        .iter()
        .all(|m| m.reason == Reason::Drain || !m.to.contains(&1)));
    assert!(
        first.deferred > 0,
        "one move per broker at a time: the rest waits"
    );
    let drained = converge(&balanced, &goals, 50).pop().expect("a view");
    assert_eq!(counts(&drained, false)[&1], 0);
    let replicas = counts(&drained, false);
    assert_eq!(spread(&replicas, |b| b != 1), 0, "{replicas:?}");
}

#[test]
fn a_drain_that_leaves_too_few_brokers_moves_nothing_and_says_why() {
    let before = view(
        (0..3).map(|b| broker(b, None)).collect(),
        vec![partition("t", 0, &[0, 1, 2], 10)],
    );
    let goals = Goals {
        drain: [2].into(),
        ..Goals::default()
    };
    let refused = plan(&before, &goals).expect_err("no home for the third replica");
    assert_eq!(refused.goal, HardGoal::Drain);
    assert!(refused.to_string().contains("t-0"), "{refused}");
}

#[test]
fn replicas_of_a_gone_broker_are_copied_anew_elsewhere() {
    let mut before = view(
        (0..4).map(|b| broker(b, None)).collect(),
        vec![
            partition("t", 0, &[3, 0], 10),
            partition("t", 1, &[1, 2], 10),
        ],
    );
    before.brokers.get_mut(&3).expect("broker 3").usable = false;
    let goals = Goals {
        gone: [3].into(),
        ..Goals::default()
    };
    let plan = plan(&before, &goals).expect("plan");
    let m = plan
        .moves
        .iter()
        .find(|m| m.partition == 0)
        .expect("t-0 moves");
    assert_eq!(m.reason, Reason::ReReplicate);
    assert!(
        !m.to.contains(&3) && m.to.contains(&0) && m.to.len() == 2,
        "{m:?}"
    );
}

#[test]
fn replicas_crowded_in_one_rack_spread_out() {
    let before = view(
        vec![
            broker(0, Some("a")),
            broker(1, Some("a")),
            broker(2, Some("b")),
            broker(3, Some("b")),
        ],
        vec![
            partition("t", 0, &[0, 1], 10),
            partition("t", 1, &[2, 3], 10),
        ],
    );
    let after = converge(&before, &Goals::default(), 10)
        .pop()
        .expect("a view");
    for p in &after.partitions {
        assert_eq!(racks(&after, &p.replicas), 2, "{p:?}");
    }
}

#[test]
fn a_full_disk_gives_up_replicas_to_brokers_with_room() {
    let mut before = view(
        (0..3).map(|b| broker(b, None)).collect(),
        vec![
            partition("t", 0, &[0], 600),
            partition("t", 1, &[0], 300),
            partition("t", 2, &[1], 100),
        ],
    );
    for b in before.brokers.values_mut() {
        b.capacity_bytes = Some(1000);
    }
    let plan = plan(&before, &Goals::default()).expect("plan");
    assert_eq!(plan.moves[0].reason, Reason::Disk);
    let after = applied(&before, &plan);
    let used: u64 = after
        .partitions
        .iter()
        .filter(|p| p.replicas.contains(&0))
        .map(|p| p.size_bytes)
        .sum();
    assert!(used <= 850, "broker 0 holds {used} bytes");
}

#[test]
fn a_disk_limit_no_broker_can_meet_moves_nothing_and_says_why() {
    let mut before = view(
        (0..2).map(|b| broker(b, None)).collect(),
        vec![partition("t", 0, &[0, 1], 900)],
    );
    for b in before.brokers.values_mut() {
        b.capacity_bytes = Some(1000);
    }
    let refused = plan(&before, &Goals::default()).expect_err("no room anywhere");
    assert_eq!(refused.goal, HardGoal::Disk);
}

#[test]
fn measured_load_outweighs_counts() {
    // Same replica counts, but broker 0's partitions take all the traffic.
    let mut partitions = vec![
        partition("t", 0, &[0], 0),
        partition("t", 1, &[0], 0),
        partition("t", 2, &[1], 0),
        partition("t", 3, &[1], 0),
    ];
    partitions[0].bytes_in = 1e6;
    partitions[1].bytes_in = 1e6;
    let before = view((0..2).map(|b| broker(b, None)).collect(), partitions);
    let after = converge(&before, &Goals::default(), 10)
        .pop()
        .expect("a view");
    let hot_on_0 = after
        .partitions
        .iter()
        .filter(|p| p.bytes_in > 0.0 && p.replicas[0] == 0)
        .count();
    assert_eq!(
        hot_on_0, 1,
        "one hot partition each: {:?}",
        after.partitions
    );
}

/// Random clusters: 2–7 brokers, some in racks, some unusable, partitions
/// of 1–3 replicas with random sizes and rates, some of them moving.
fn clusters() -> impl Strategy<Value = (View, Goals)> {
    (2i32..8, 0usize..4, 1usize..40, any::<u64>()).prop_map(
        |(brokers, rack_count, partitions, seed)| {
            let mut rng = seed;
            let mut next = move |bound: u64| {
                rng = rng
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (rng >> 33) % bound.max(1)
            };
            let rack_names = ["a", "b", "c"];
            let mut view = View::default();
            for id in 0..brokers {
                let rack = (rack_count > 0)
                    .then(|| rack_names[next(rack_count as u64) as usize].to_string());
                view.brokers.insert(
                    id,
                    BrokerView {
                        id,
                        rack,
                        usable: next(8) != 0,
                        capacity_bytes: (next(3) == 0).then(|| 50_000 + next(50_000)),
                    },
                );
            }
            for i in 0..partitions {
                let rf = 1 + next(3.min(brokers as u64)) as usize;
                let mut replicas = Vec::new();
                while replicas.len() < rf {
                    let b = next(brokers as u64) as i32;
                    if !replicas.contains(&b) {
                        replicas.push(b);
                    }
                }
                let moving = if next(10) == 0 {
                    vec![replicas[0]]
                } else {
                    Vec::new()
                };
                view.partitions.push(PartitionView {
                    topic: format!("t{}", next(3)),
                    partition: i as i32,
                    replicas,
                    size_bytes: next(4000),
                    bytes_in: next(1000) as f64,
                    bytes_out: next(3000) as f64,
                    moving,
                });
            }
            let drain: BTreeSet<i32> = (next(4) == 0)
                .then(|| next(brokers as u64) as i32)
                .into_iter()
                .collect();
            let goals = Goals {
                drain,
                max_moves: 1 + next(20) as usize,
                max_moves_per_broker: 1 + next(3) as usize,
                ..Goals::default()
            };
            (view, goals)
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn plans_keep_every_limit((view, goals) in clusters()) {
        let Ok(plan) = plan(&view, &goals) else { return Ok(()) };
        prop_assert_eq!(super::plan(&view, &goals), Ok(plan.clone()), "deterministic");
        prop_assert!(plan.moves.len() <= goals.max_moves);
        let mut involved: BTreeMap<i32, usize> = BTreeMap::new();
        for p in &view.partitions {
            for b in &p.moving {
                *involved.entry(*b).or_default() += 1;
            }
        }
        let mut touched = BTreeSet::new();
        for m in &plan.moves {
            prop_assert!(touched.insert((m.topic.clone(), m.partition)), "one move per partition");
            let p = view.partitions.iter().find(|p| p.topic == m.topic && p.partition == m.partition).expect("partition");
            prop_assert!(p.moving.is_empty(), "a partition being moved is left alone");
            prop_assert_eq!(m.to.len(), m.from.len(), "the replication factor stays");
            prop_assert_eq!(m.to.iter().collect::<BTreeSet<_>>().len(), m.to.len(), "distinct replicas");
            for b in m.to.iter().filter(|b| !m.from.contains(b)) {
                prop_assert!(view.brokers[b].usable && !goals.drain.contains(b), "{:?} receives on {}", m, b);
                *involved.entry(*b).or_default() += 1;
            }
            for b in m.from.iter().filter(|b| !m.to.contains(b)) {
                if view.brokers[b].usable && !goals.drain.contains(b) {
                    *involved.entry(*b).or_default() += 1;
                }
            }
            if m.reason != Reason::Drain && m.reason != Reason::ReReplicate {
                prop_assert!(racks(&view, &m.to) >= racks(&view, &m.from), "{:?} loses a rack", m);
            }
        }
        let before: BTreeMap<i32, usize> = view.partitions.iter().flat_map(|p| p.moving.iter()).fold(BTreeMap::new(), |mut m, b| { *m.entry(*b).or_default() += 1; m });
        for (b, n) in &involved {
            let already = before.get(b).copied().unwrap_or(0);
            prop_assert!(*n <= goals.max_moves_per_broker.max(already), "broker {} in {} moves", b, n);
        }
        // No broker is pushed over its disk limit by the plan.
        let after = applied(&view, &plan);
        for (b, broker) in &view.brokers {
            let Some(capacity) = broker.capacity_bytes else { continue };
            let limit = (capacity as f64 * goals.max_disk_fraction) as u64;
            let used = |v: &View| v.partitions.iter().filter(|p| p.replicas.contains(b)).map(|p| p.size_bytes).sum::<u64>();
            prop_assert!(used(&after) <= limit.max(used(&view)), "broker {} over its limit", b);
        }
    }

    #[test]
    fn applied_plans_converge_and_empty_drained_brokers((view, goals) in clusters()) {
        let mut view = view;
        for p in &mut view.partitions {
            p.moving.clear();
        }
        let Ok(_) = plan(&view, &goals) else { return Ok(()) };
        let mut last = view.clone();
        for round in 0..300 {
            let Ok(plan) = plan(&last, &goals) else {
                // Moving replicas can fill disks a later round needs.
                return Ok(());
            };
            if plan.moves.is_empty() {
                prop_assert_eq!(plan.deferred, 0);
                for b in &goals.drain {
                    prop_assert_eq!(counts(&last, false)[b], 0, "broker {} drained", b);
                }
                return Ok(());
            }
            prop_assert!(round < 299, "no empty plan after 300 rounds");
            last = applied(&last, &plan);
        }
    }

    #[test]
    fn without_racks_or_rates_replica_counts_even_out((view, goals) in clusters()) {
        let mut view = view;
        for b in view.brokers.values_mut() {
            b.rack = None;
            b.usable = true;
            b.capacity_bytes = None;
        }
        for p in &mut view.partitions {
            p.moving.clear();
            p.replicas.truncate(1);
            p.size_bytes = 0;
            p.bytes_in = 0.0;
            p.bytes_out = 0.0;
        }
        let goals = Goals { drain: BTreeSet::new(), ..goals };
        let last = converge(&view, &goals, 300).pop().expect("a view");
        let replicas = counts(&last, false);
        prop_assert!(spread(&replicas, |_| true) <= 1, "{:?}", replicas);
    }
}
