//! Server-side assignors of KIP-848 consumer groups (the `ServerAssignor`
//! of ConsumerGroupHeartbeat): `uniform`, balanced and sticky, and `range`,
//! contiguous ranges per topic. Both are pure functions of the members'
//! subscriptions, the topics' partition counts and the previous target.

use crate::protocol::wire::Uuid;
use std::collections::{BTreeMap, BTreeSet};

/// Partitions by topic id.
pub type Partitions = BTreeMap<Uuid, BTreeSet<i32>>;

pub const UNIFORM: &str = "uniform";
pub const RANGE: &str = "range";
/// The first is the default, as in Kafka's `group.consumer.assignors`.
pub const ASSIGNORS: &[&str] = &[UNIFORM, RANGE];

/// One member as an assignor sees it.
pub struct Subscriber<'a> {
    pub member_id: &'a str,
    /// Ids of the existing topics it subscribes to.
    pub topics: BTreeSet<Uuid>,
    /// Its previous target assignment (what stickiness keeps).
    pub previous: &'a Partitions,
}

/// The target assignment of every member (members with nothing get an empty entry).
pub fn assign(
    assignor: &str,
    members: &[Subscriber<'_>],
    topics: &BTreeMap<Uuid, i32>,
) -> BTreeMap<String, Partitions> {
    if assignor == RANGE {
        range(members, topics)
    } else {
        uniform(members, topics)
    }
}

pub fn count(partitions: &Partitions) -> usize {
    partitions.values().map(BTreeSet::len).sum()
}

/// Per topic, the subscribed members sorted by id get contiguous ranges; the
/// first `partitions % members` get one more.
fn range(members: &[Subscriber<'_>], topics: &BTreeMap<Uuid, i32>) -> BTreeMap<String, Partitions> {
    let mut sorted: Vec<&Subscriber<'_>> = members.iter().collect();
    sorted.sort_by_key(|m| m.member_id);
    let mut result: BTreeMap<String, Partitions> = members
        .iter()
        .map(|m| (m.member_id.to_string(), Partitions::new()))
        .collect();
    for (&topic, &count) in topics {
        let subscribed: Vec<&str> = sorted
            .iter()
            .filter(|m| m.topics.contains(&topic))
            .map(|m| m.member_id)
            .collect();
        if subscribed.is_empty() || count <= 0 {
            continue;
        }
        let n = subscribed.len() as i32;
        let (per, extra) = (count / n, count % n);
        let mut start = 0;
        for (i, member) in subscribed.into_iter().enumerate() {
            let len = per + i32::from((i as i32) < extra);
            if len > 0 {
                result
                    .entry(member.to_string())
                    .or_default()
                    .entry(topic)
                    .or_default()
                    .extend(start..start + len);
            }
            start += len;
        }
    }
    result
}

/// Every partition of a subscribed topic goes to a subscribed member, as
/// evenly as subscriptions allow. Members keep what they had up to the
/// fair share; the rest goes to the least loaded eligible member; then
/// partitions move from the most to the least loaded while that narrows a
/// gap of two or more.
fn uniform(
    members: &[Subscriber<'_>],
    topics: &BTreeMap<Uuid, i32>,
) -> BTreeMap<String, Partitions> {
    let mut sorted: Vec<&Subscriber<'_>> = members.iter().collect();
    sorted.sort_by_key(|m| m.member_id);
    let mut result: BTreeMap<String, Partitions> = members
        .iter()
        .map(|m| (m.member_id.to_string(), Partitions::new()))
        .collect();
    let subscribed = |topic: &Uuid| sorted.iter().any(|m| m.topics.contains(topic));
    let all: Vec<(Uuid, i32)> = topics
        .iter()
        .filter(|(t, _)| subscribed(t))
        .flat_map(|(&t, &count)| (0..count.max(0)).map(move |p| (t, p)))
        .collect();
    let active = sorted.iter().filter(|m| !m.topics.is_empty()).count();
    if all.is_empty() || active == 0 {
        return result;
    }
    let fair = all.len().div_ceil(active);
    let mut load: BTreeMap<&str, usize> = sorted.iter().map(|m| (m.member_id, 0)).collect();
    let mut taken: BTreeSet<(Uuid, i32)> = BTreeSet::new();
    let valid = |t: &Uuid, p: i32| topics.get(t).is_some_and(|&count| p < count);
    // 1. stickiness
    for member in &sorted {
        for (topic, partitions) in member.previous {
            if !member.topics.contains(topic) {
                continue;
            }
            for &p in partitions {
                if load[member.member_id] >= fair || !valid(topic, p) || !taken.insert((*topic, p))
                {
                    continue;
                }
                *load.entry(member.member_id).or_default() += 1;
                result
                    .entry(member.member_id.to_string())
                    .or_default()
                    .entry(*topic)
                    .or_default()
                    .insert(p);
            }
        }
    }
    // 2. the rest to the least loaded eligible member
    for &(topic, p) in &all {
        if taken.contains(&(topic, p)) {
            continue;
        }
        let Some(member) = sorted
            .iter()
            .filter(|m| m.topics.contains(&topic))
            .min_by_key(|m| (load[m.member_id], m.member_id))
        else {
            continue;
        };
        taken.insert((topic, p));
        *load.entry(member.member_id).or_default() += 1;
        result
            .entry(member.member_id.to_string())
            .or_default()
            .entry(topic)
            .or_default()
            .insert(p);
    }
    // 3. balance (bounded: every move narrows the spread)
    for _ in 0..all.len() * 2 {
        let Some(moved) = one_balancing_move(&sorted, &mut result, &mut load) else {
            break;
        };
        if !moved {
            break;
        }
    }
    result
}

/// Moves one partition from a member to an eligible one holding at least two
/// fewer; Some(false) when nothing can move.
fn one_balancing_move<'a>(
    sorted: &[&Subscriber<'a>],
    result: &mut BTreeMap<String, Partitions>,
    load: &mut BTreeMap<&'a str, usize>,
) -> Option<bool> {
    let mut by_load: Vec<&str> = sorted.iter().map(|m| m.member_id).collect();
    by_load.sort_by_key(|id| (std::cmp::Reverse(load[id]), *id));
    for from in by_load {
        let owned: Vec<(Uuid, i32)> = result
            .get(from)?
            .iter()
            .flat_map(|(t, ps)| ps.iter().map(move |p| (*t, *p)))
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        for (topic, p) in owned {
            let target = sorted
                .iter()
                .filter(|m| {
                    m.member_id != from
                        && m.topics.contains(&topic)
                        && load[m.member_id] + 1 < load[from]
                })
                .min_by_key(|m| (load[m.member_id], m.member_id));
            if let Some(to) = target {
                let to = to.member_id;
                if let Some(ps) = result.get_mut(from).and_then(|r| r.get_mut(&topic)) {
                    ps.remove(&p);
                    if ps.is_empty() {
                        result.get_mut(from)?.remove(&topic);
                    }
                }
                result
                    .entry(to.to_string())
                    .or_default()
                    .entry(topic)
                    .or_default()
                    .insert(p);
                *load.get_mut(from)? -= 1;
                *load.get_mut(to)? += 1;
                return Some(true);
            }
        }
    }
    Some(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topic(n: u8) -> Uuid {
        Uuid([n; 16])
    }

    fn members<'a>(
        ids: &[&'a str],
        topics: &[Uuid],
        previous: &'a BTreeMap<String, Partitions>,
    ) -> Vec<Subscriber<'a>> {
        static EMPTY: Partitions = Partitions::new();
        ids.iter()
            .map(|id| Subscriber {
                member_id: id,
                topics: topics.iter().copied().collect(),
                previous: previous.get(*id).unwrap_or(&EMPTY),
            })
            .collect()
    }

    /// Every partition of every topic exactly once.
    fn assert_complete(result: &BTreeMap<String, Partitions>, topics: &BTreeMap<Uuid, i32>) {
        let mut seen = BTreeSet::new();
        for partitions in result.values() {
            for (t, ps) in partitions {
                for p in ps {
                    assert!(seen.insert((*t, *p)), "{t}-{p} assigned twice: {result:?}");
                }
            }
        }
        let expected: BTreeSet<(Uuid, i32)> = topics
            .iter()
            .flat_map(|(t, n)| (0..*n).map(move |p| (*t, p)))
            .collect();
        assert_eq!(seen, expected);
    }

    fn loads(result: &BTreeMap<String, Partitions>) -> Vec<usize> {
        result.values().map(count).collect()
    }

    #[test]
    fn uniform_balances_six_partitions_over_two_and_three_members() {
        let topics: BTreeMap<Uuid, i32> = [(topic(1), 6)].into();
        let none = BTreeMap::new();
        let two = assign(UNIFORM, &members(&["a", "b"], &[topic(1)], &none), &topics);
        assert_complete(&two, &topics);
        assert_eq!(loads(&two), vec![3, 3]);
        // A third member joins: the first two keep two each of what they had.
        let three = assign(
            UNIFORM,
            &members(&["a", "b", "c"], &[topic(1)], &two),
            &topics,
        );
        assert_complete(&three, &topics);
        assert_eq!(loads(&three), vec![2, 2, 2]);
        for id in ["a", "b"] {
            let kept = &three[id][&topic(1)];
            assert!(
                kept.is_subset(&two[id][&topic(1)]),
                "{id} lost a partition it could keep: {three:?}"
            );
        }
        // "b" leaves: "a" and "c" keep theirs and split b's.
        let after = assign(UNIFORM, &members(&["a", "c"], &[topic(1)], &three), &topics);
        assert_complete(&after, &topics);
        assert_eq!(loads(&after), vec![3, 3]);
        assert!(three["c"][&topic(1)].is_subset(&after["c"][&topic(1)]));
    }

    #[test]
    fn uniform_respects_different_subscriptions() {
        let topics: BTreeMap<Uuid, i32> = [(topic(1), 4), (topic(2), 2)].into();
        let none = Partitions::new();
        let subs = vec![
            Subscriber {
                member_id: "a",
                topics: [topic(1)].into(),
                previous: &none,
            },
            Subscriber {
                member_id: "b",
                topics: [topic(1), topic(2)].into(),
                previous: &none,
            },
        ];
        let result = assign(UNIFORM, &subs, &topics);
        assert_complete(&result, &topics);
        assert!(!result["a"].contains_key(&topic(2)));
        assert_eq!(loads(&result), vec![3, 3]);
    }

    #[test]
    fn range_gives_contiguous_ranges_per_topic() {
        let topics: BTreeMap<Uuid, i32> = [(topic(1), 7), (topic(2), 2)].into();
        let none = BTreeMap::new();
        let result = assign(
            RANGE,
            &members(&["c", "a", "b"], &[topic(1), topic(2)], &none),
            &topics,
        );
        assert_complete(&result, &topics);
        assert_eq!(result["a"][&topic(1)], [0, 1, 2].into());
        assert_eq!(result["b"][&topic(1)], [3, 4].into());
        assert_eq!(result["c"][&topic(1)], [5, 6].into());
        assert_eq!(result["a"][&topic(2)], [0].into());
        assert_eq!(result["b"][&topic(2)], [1].into());
        assert!(!result["c"].contains_key(&topic(2)));
    }

    #[test]
    fn unsubscribed_topics_and_empty_groups_get_nothing() {
        let topics: BTreeMap<Uuid, i32> = [(topic(1), 3), (topic(2), 3)].into();
        let none = BTreeMap::new();
        for assignor in ASSIGNORS {
            let result = assign(assignor, &members(&["a"], &[topic(1)], &none), &topics);
            assert_eq!(
                result["a"].keys().copied().collect::<Vec<_>>(),
                vec![topic(1)],
                "{assignor}"
            );
            assert!(assign(assignor, &[], &topics).is_empty());
        }
    }
}
