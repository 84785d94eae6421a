//! Hot partitions, from the load the leaders report: a partition is hot
//! when its traffic (bytes in and out over five minutes) is at least
//! `factor` times its topic's median and above a floor, or when it carries
//! most of its broker's traffic. Each comes with why, and what would help.
//! Pure: the controller feeds it its latest reports.

use super::image::MetadataImage;
use super::load::LoadReport;
use std::collections::BTreeMap;

#[derive(Clone, Debug, PartialEq)]
pub struct Thresholds {
    /// Times its topic's median that makes a partition hot (the seed's k).
    pub factor: f64,
    /// Bytes per second below which nothing is hot.
    pub floor: f64,
    /// The share of its broker's traffic that makes a partition dominate
    /// it (a broker leading at least [`MIN_LED_TO_DOMINATE`] partitions).
    pub broker_share: f64,
}

impl Default for Thresholds {
    fn default() -> Thresholds {
        Thresholds {
            factor: 3.0,
            floor: 1024.0 * 1024.0,
            broker_share: 0.6,
        }
    }
}

/// With fewer partitions, one of them always carries much of the broker.
pub const MIN_LED_TO_DOMINATE: usize = 3;

#[derive(Clone, Debug, PartialEq)]
pub enum Why {
    /// `times` its topic's median (`median` bytes per second).
    AboveTopicMedian { times: f64, median: f64 },
    /// `share` of its leader's traffic, over `partitions` partitions it leads.
    DominatesBroker { share: f64, partitions: usize },
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Advice {
    /// Its broker carries more than the cluster's mean: moving other
    /// partitions off it gives this one room (the balancer does so).
    MoveOtherLoadOff,
    /// Its topic's traffic is uneven across partitions: more partitions
    /// spread it, if its keys are many (a single dominant key is not
    /// helped by partitions).
    AddPartitions,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Hot {
    pub topic: String,
    pub partition: i32,
    pub leader: i32,
    /// Bytes in and out per second, five-minute averages.
    pub bytes_in: f64,
    pub bytes_out: f64,
    pub why: Vec<Why>,
    pub advice: Vec<Advice>,
}

/// The hot partitions of the reports, hottest first. A partition no report
/// names counts as idle (reports name each leader's busiest).
pub fn hot_partitions(
    image: &MetadataImage,
    reports: &BTreeMap<i32, LoadReport>,
    thresholds: &Thresholds,
) -> Vec<Hot> {
    let mut by_topic: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    let mut per_broker: BTreeMap<i32, f64> = BTreeMap::new();
    for (broker, report) in reports {
        for p in &report.partitions {
            by_topic.entry(p.topic.as_str()).or_default().push(p.busy());
            *per_broker.entry(*broker).or_default() += p.busy();
        }
    }
    let medians: BTreeMap<&str, f64> = by_topic
        .iter_mut()
        .map(|(topic, rates)| {
            let count = image
                .topic(topic)
                .map_or(rates.len(), |t| t.partitions.len());
            (*topic, median(rates, count))
        })
        .collect();
    let cluster_mean = if per_broker.is_empty() {
        0.0
    } else {
        per_broker.values().sum::<f64>() / per_broker.len() as f64
    };
    let mut hot = Vec::new();
    for (broker, report) in reports {
        let broker_total = per_broker.get(broker).copied().unwrap_or(0.0);
        for p in &report.partitions {
            let busy = p.busy();
            if busy < thresholds.floor {
                continue;
            }
            let mut why = Vec::new();
            let mut advice = Vec::new();
            let median = medians.get(p.topic.as_str()).copied().unwrap_or(0.0);
            if busy >= thresholds.factor * median {
                let times = if median > 0.0 {
                    busy / median
                } else {
                    f64::INFINITY
                };
                why.push(Why::AboveTopicMedian { times, median });
                advice.push(Advice::AddPartitions);
            }
            let led = report.led;
            if led >= MIN_LED_TO_DOMINATE && busy >= thresholds.broker_share * broker_total {
                why.push(Why::DominatesBroker {
                    share: busy / broker_total,
                    partitions: led,
                });
            }
            if why.is_empty() {
                continue;
            }
            if broker_total > cluster_mean {
                advice.push(Advice::MoveOtherLoadOff);
            }
            advice.sort();
            hot.push(Hot {
                topic: p.topic.clone(),
                partition: p.partition,
                leader: *broker,
                bytes_in: p.rates.bytes_in.m5,
                bytes_out: p.rates.bytes_out.m5,
                why,
                advice,
            });
        }
    }
    hot.sort_by(|a, b| (b.bytes_in + b.bytes_out).total_cmp(&(a.bytes_in + a.bytes_out)));
    hot
}

/// The median of `rates` padded with idle partitions up to `count`.
fn median(rates: &mut [f64], count: usize) -> f64 {
    let count = count.max(rates.len());
    if count == 0 {
        return 0.0;
    }
    rates.sort_by(|a, b| b.total_cmp(a));
    let at = |i: usize| rates.get(i).copied().unwrap_or(0.0);
    if count % 2 == 1 {
        at(count / 2)
    } else {
        (at(count / 2 - 1) + at(count / 2)) / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::load::PartitionLoad;
    use crate::metrics::traffic::{Averages, Rates};

    fn load(topic: &str, partition: i32, bytes_in: f64) -> PartitionLoad {
        let m = |v: f64| Averages {
            m1: v,
            m5: v,
            m15: v,
        };
        PartitionLoad {
            topic: topic.to_string(),
            partition,
            size_bytes: 0,
            rates: Rates {
                bytes_in: m(bytes_in),
                ..Rates::default()
            },
        }
    }

    fn report(partitions: Vec<PartitionLoad>) -> LoadReport {
        LoadReport {
            disk_total_bytes: None,
            led: partitions.len(),
            partitions,
        }
    }

    const MB: f64 = 1024.0 * 1024.0;

    #[test]
    fn a_partition_far_above_its_topics_median_is_hot_and_others_are_not() {
        let reports = BTreeMap::from([
            (
                0,
                report(vec![load("t", 0, 20.0 * MB), load("t", 1, 2.0 * MB)]),
            ),
            (
                1,
                report(vec![load("t", 2, 2.5 * MB), load("t", 3, 1.5 * MB)]),
            ),
        ]);
        let hot = hot_partitions(&MetadataImage::empty(), &reports, &Thresholds::default());
        assert_eq!(hot.len(), 1, "{hot:?}");
        let h = &hot[0];
        assert_eq!((h.topic.as_str(), h.partition, h.leader), ("t", 0, 0));
        assert!(matches!(h.why[0], Why::AboveTopicMedian { times, .. } if times > 8.0));
        assert!(h.advice.contains(&Advice::AddPartitions));
        assert!(
            h.advice.contains(&Advice::MoveOtherLoadOff),
            "broker 0 carries more than the mean"
        );
    }

    #[test]
    fn nothing_below_the_floor_is_hot_and_an_even_topic_has_none() {
        let quiet = BTreeMap::from([(0, report(vec![load("t", 0, 1000.0), load("t", 1, 1.0)]))]);
        assert!(hot_partitions(&MetadataImage::empty(), &quiet, &Thresholds::default()).is_empty());
        let even = BTreeMap::from([
            (0, report(vec![load("t", 0, 5.0 * MB)])),
            (1, report(vec![load("t", 1, 5.0 * MB)])),
        ]);
        assert!(hot_partitions(&MetadataImage::empty(), &even, &Thresholds::default()).is_empty());
    }

    #[test]
    fn a_partition_carrying_most_of_its_brokers_traffic_dominates_it() {
        let reports = BTreeMap::from([(
            0,
            report(vec![
                load("a", 0, 10.0 * MB),
                load("b", 0, 3.0 * MB),
                load("c", 0, 3.0 * MB),
            ]),
        )]);
        let hot = hot_partitions(&MetadataImage::empty(), &reports, &Thresholds::default());
        assert_eq!(hot.len(), 1, "{hot:?}");
        assert!(
            matches!(hot[0].why[..], [Why::DominatesBroker { share, partitions: 3 }] if share > 0.6)
        );
    }
}
