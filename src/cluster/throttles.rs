//! Replication throttles (KIP-73), as `kafka-reassign-partitions
//! --throttle` sets them: a topic names the replicas to throttle
//! (`leader.replication.throttled.replicas`, `partition:broker` pairs or
//! `*`), a broker the rate (`leader.replication.throttled.rate`, bytes per
//! second, its own setting or the cluster default). A leader sends nothing
//! more to a throttled replica that is out of the ISR while the bytes it
//! sent to throttled replicas over the last seconds exceed the rate, so a
//! move copies at about that rate and never starves the in-sync followers.
//! A follower does the same on its side: while what it fetched for
//! throttled replicas (`follower.replication.throttled.replicas`, naming
//! the follower) exceeds `follower.replication.throttled.rate`, its fetches
//! ask nothing for those of them out of the ISR.
//! The controller clears a topic's throttled replicas in the change that
//! ends its last move ([`cleared`]): left-over throttles are Kafka's most
//! reported reassignment trouble.

use super::image::MetadataImage;
use super::records::{MetadataRecord, CONFIG_TOPIC};
use std::collections::VecDeque;
use std::sync::Mutex;

pub const LEADER_REPLICAS: &str = "leader.replication.throttled.replicas";
pub const FOLLOWER_REPLICAS: &str = "follower.replication.throttled.replicas";
pub const LEADER_RATE: &str = "leader.replication.throttled.rate";
pub const FOLLOWER_RATE: &str = "follower.replication.throttled.rate";

/// Kafka's replication quota window: 11 samples of one second.
const SAMPLES: usize = 11;
const SAMPLE_MS: i64 = 1000;

/// Whether `value` (a `*.replication.throttled.replicas` setting) names
/// the replica of `partition` on `broker`.
pub fn covers(value: &str, partition: i32, broker: i32) -> bool {
    if value.trim() == "*" {
        return true;
    }
    value.split(',').any(|item| {
        item.split_once(':').is_some_and(|(p, b)| {
            p.trim().parse() == Ok(partition) && b.trim().parse() == Ok(broker)
        })
    })
}

/// Bytes per second over the last [`SAMPLES`] seconds.
#[derive(Debug, Default)]
pub struct RateMeter {
    /// (second, bytes recorded in it), oldest first.
    samples: VecDeque<(i64, u64)>,
}

impl RateMeter {
    pub fn record(&mut self, now_ms: i64, bytes: u64) {
        let second = now_ms.div_euclid(SAMPLE_MS);
        match self.samples.back_mut() {
            Some((s, total)) if *s == second => *total += bytes,
            _ => self.samples.push_back((second, bytes)),
        }
        self.forget(second);
    }

    /// The rate over the window, the current second counted in full (as
    /// Kafka's rate does, so a burst shows at once).
    pub fn rate(&mut self, now_ms: i64) -> f64 {
        let second = now_ms.div_euclid(SAMPLE_MS);
        self.forget(second);
        let Some(&(oldest, _)) = self.samples.front() else {
            return 0.0;
        };
        let span = (second - oldest + 1).max(1) as f64;
        let bytes: u64 = self.samples.iter().map(|(_, b)| b).sum();
        bytes as f64 / span
    }

    fn forget(&mut self, second: i64) {
        while self
            .samples
            .front()
            .is_some_and(|(s, _)| second - s >= SAMPLES as i64)
        {
            self.samples.pop_front();
        }
    }
}

/// Whether the topic's `key` list names the replica of `partition` on
/// `named`, while `copying` (the replica being copied to) is out of the ISR.
fn throttled(
    image: &MetadataImage,
    key: &str,
    topic: &str,
    partition: i32,
    named: i32,
    copying: i32,
) -> bool {
    let listed = image
        .topic_configs(topic)
        .and_then(|c| c.get(key))
        .is_some_and(|v| covers(v, partition, named));
    listed
        && image
            .partition(topic, partition)
            .is_some_and(|p| !p.isr.contains(&copying))
}

/// Bytes moved for throttled replicas, against a broker's rate setting.
#[derive(Debug, Default)]
struct Quota {
    meter: Mutex<RateMeter>,
}

impl Quota {
    /// Whether what was recorded exceeds `node_id`'s `key` rate (never, unset).
    fn exceeded(&self, image: &MetadataImage, node_id: i32, now_ms: i64, key: &str) -> bool {
        let Some(rate) = rate(image, node_id, key) else {
            return false;
        };
        let mut meter = self.meter.lock().unwrap_or_else(|p| p.into_inner());
        meter.rate(now_ms) > rate as f64
    }

    fn record(&self, now_ms: i64, bytes: u64) {
        let mut meter = self.meter.lock().unwrap_or_else(|p| p.into_inner());
        meter.record(now_ms, bytes);
    }
}

/// A leader's throttle: what it sent to throttled replicas, against its rate.
#[derive(Debug, Default)]
pub struct LeaderThrottle {
    quota: Quota,
}

impl LeaderThrottle {
    /// Whether this broker (`node_id`), leading `topic`-`partition`,
    /// throttles what it sends `follower`: the topic names the partition's
    /// replica here among the throttled leaders (as Kafka reads the list:
    /// the sources of a move), and the follower is out of the ISR.
    pub fn applies(
        image: &MetadataImage,
        topic: &str,
        partition: i32,
        node_id: i32,
        follower: i32,
    ) -> bool {
        throttled(image, LEADER_REPLICAS, topic, partition, node_id, follower)
    }

    /// Whether what was sent to throttled replicas exceeds this broker's rate.
    pub fn exceeded(&self, image: &MetadataImage, node_id: i32, now_ms: i64) -> bool {
        self.quota.exceeded(image, node_id, now_ms, LEADER_RATE)
    }

    pub fn record(&self, now_ms: i64, bytes: u64) {
        self.quota.record(now_ms, bytes);
    }
}

/// A follower's throttle: what it fetched for throttled replicas, against
/// its rate.
#[derive(Debug, Default)]
pub struct FollowerThrottle {
    quota: Quota,
}

impl FollowerThrottle {
    /// Whether this broker (`node_id`), following `topic`-`partition`,
    /// throttles its own fetching of it: the topic names the replica here
    /// among the throttled followers, and it is out of the ISR.
    pub fn applies(image: &MetadataImage, topic: &str, partition: i32, node_id: i32) -> bool {
        throttled(image, FOLLOWER_REPLICAS, topic, partition, node_id, node_id)
    }

    /// Whether what was fetched for throttled replicas exceeds this broker's rate.
    pub fn exceeded(&self, image: &MetadataImage, node_id: i32, now_ms: i64) -> bool {
        self.quota.exceeded(image, node_id, now_ms, FOLLOWER_RATE)
    }

    pub fn record(&self, now_ms: i64, bytes: u64) {
        self.quota.record(now_ms, bytes);
    }
}

/// `key` for broker `node_id`: its own setting, else the cluster default.
fn rate(image: &MetadataImage, node_id: i32, key: &str) -> Option<u64> {
    let own = image.broker_configs(Some(node_id)).and_then(|c| c.get(key));
    let default = image.broker_configs(None).and_then(|c| c.get(key));
    own.or(default).and_then(|v| v.trim().parse().ok())
}

/// The records clearing `topic`'s throttled replicas, those set.
pub fn cleared(image: &MetadataImage, topic: &str) -> Vec<MetadataRecord> {
    let Some(configs) = image.topic_configs(topic) else {
        return Vec::new();
    };
    [LEADER_REPLICAS, FOLLOWER_REPLICAS]
        .into_iter()
        .filter(|key| configs.contains_key(*key))
        .map(|key| MetadataRecord::Config {
            resource_type: CONFIG_TOPIC,
            resource_name: topic.to_string(),
            name: key.to_string(),
            value: None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttled_replicas_are_pairs_or_everything() {
        assert!(covers("*", 3, 9));
        assert!(covers("0:1, 1:2,2:0", 1, 2));
        assert!(!covers("0:1,1:2", 1, 1));
        assert!(!covers("", 0, 0));
        assert!(!covers("x:1", 0, 1));
    }

    #[test]
    fn the_rate_spans_the_last_eleven_seconds() {
        let mut m = RateMeter::default();
        m.record(0, 1000);
        assert_eq!(m.rate(500), 1000.0, "the current second counts in full");
        m.record(1_500, 1000);
        assert_eq!(m.rate(1_900), 1000.0, "2000 bytes over two seconds");
        assert_eq!(m.rate(10_999), 2000.0 / 11.0);
        assert_eq!(
            m.rate(11_000),
            1000.0 / 11.0,
            "the first second has left the window"
        );
        assert_eq!(m.rate(30_000), 0.0);
    }
}
