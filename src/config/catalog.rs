//! What DescribeConfigs reports about each setting: its type, a line of
//! documentation, the broker-level synonyms that supply a topic's default,
//! and which broker settings may change at runtime.

use super::log_config::LogConfig;
use super::BrokerConfig;

/// Kafka's `ConfigType` byte in DescribeConfigs v3+.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i8)]
pub enum ConfigType {
    Boolean = 1,
    String = 2,
    Int = 3,
    Short = 4,
    Long = 5,
    Double = 6,
    List = 7,
    Class = 8,
    Password = 9,
}

/// Kafka's `ConfigSource` byte in DescribeConfigs v1+.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i8)]
pub enum ConfigSource {
    DynamicTopic = 1,
    DynamicBroker = 2,
    DynamicDefaultBroker = 3,
    StaticBroker = 4,
    Default = 5,
}

pub struct TopicConfigDef {
    pub name: &'static str,
    pub kind: ConfigType,
    pub doc: &'static str,
    /// Broker-level names that set this topic setting's default, in Kafka's
    /// synonym order (most specific first).
    pub broker_names: &'static [&'static str],
}

const fn def(
    name: &'static str,
    kind: ConfigType,
    broker_names: &'static [&'static str],
    doc: &'static str,
) -> TopicConfigDef {
    TopicConfigDef {
        name,
        kind,
        doc,
        broker_names,
    }
}

use ConfigType as T;

/// Every topic-level setting, in Kafka's alphabetical order.
pub const TOPIC_CONFIGS: &[TopicConfigDef] = &[
    def("cleanup.policy", T::List, &["log.cleanup.policy"],
        "delete: drop old segments by retention.ms/retention.bytes; compact: records need keys (this broker has no log cleaner yet, so nothing is compacted away)."),
    def("compression.type", T::String, &["compression.type"],
        "Codec of batches on disk: producer keeps each batch as sent; uncompressed, gzip, snappy, lz4 or zstd recompress batches that differ."),
    def("delete.retention.ms", T::Long, &["log.cleaner.delete.retention.ms"],
        "How long tombstones are kept on compacted topics (stored; no log cleaner runs yet)."),
    def("flush.messages", T::Long, &["log.flush.interval.messages"],
        "When set, appends are acknowledged before fsync and the log is fsynced every this many messages. Unset: every append is fsynced first."),
    def("flush.ms", T::Long, &["log.flush.interval.ms"],
        "When set, appends are acknowledged before fsync and the log is fsynced at this interval. Unset: every append is fsynced first."),
    def("index.interval.bytes", T::Int, &["log.index.interval.bytes"],
        "Bytes of log between offset index entries."),
    def("max.compaction.lag.ms", T::Long, &["log.cleaner.max.compaction.lag.ms"],
        "Longest a record may stay uncompacted (stored; no log cleaner runs yet)."),
    def("max.message.bytes", T::Int, &["message.max.bytes"],
        "Largest record batch the topic accepts; larger ones get MESSAGE_TOO_LARGE."),
    def("message.timestamp.after.max.ms", T::Long, &["log.message.timestamp.after.max.ms"],
        "How far after the broker's clock a CreateTime timestamp may be before the batch is refused with INVALID_TIMESTAMP."),
    def("message.timestamp.before.max.ms", T::Long, &["log.message.timestamp.before.max.ms"],
        "How far before the broker's clock a CreateTime timestamp may be before the batch is refused with INVALID_TIMESTAMP."),
    def("message.timestamp.difference.max.ms", T::Long, &["log.message.timestamp.difference.max.ms"],
        "Deprecated: bounds CreateTime timestamps in both directions, when smaller than the before/after settings."),
    def("message.timestamp.type", T::String, &["log.message.timestamp.type"],
        "CreateTime keeps the producer's timestamps; LogAppendTime stamps batches with the broker's clock."),
    def("min.cleanable.dirty.ratio", T::Double, &["log.cleaner.min.cleanable.ratio"],
        "Dirty share of a log before compaction (stored; no log cleaner runs yet)."),
    def("min.compaction.lag.ms", T::Long, &["log.cleaner.min.compaction.lag.ms"],
        "Shortest time a record stays uncompacted (stored; no log cleaner runs yet)."),
    def("min.insync.replicas", T::Int, &["min.insync.replicas"],
        "In-sync replicas acks=all needs (capped at the replication factor); below it the high watermark stays."),
    def("retention.bytes", T::Long, &["log.retention.bytes"],
        "Largest size of a partition before its oldest segments are deleted; -1: no limit."),
    def("retention.ms", T::Long, &["log.retention.ms", "log.retention.minutes", "log.retention.hours"],
        "Age after which whole segments are deleted; -1: keep forever."),
    def("segment.bytes", T::Int, &["log.segment.bytes"],
        "Size at which a new segment is started."),
    def("segment.ms", T::Long, &["log.roll.ms", "log.roll.hours"],
        "Age at which a new segment is started even if not full."),
    def("unclean.leader.election.enable", T::Boolean, &["unclean.leader.election.enable"],
        "Out-of-sync replicas may lead (no effect: one replica)."),
];

pub fn topic_config(name: &str) -> Option<&'static TopicConfigDef> {
    TOPIC_CONFIGS.iter().find(|d| d.name == name)
}

/// Kafka's built-in default of a broker-level log setting, as Kafka reports
/// it: some time settings default through their `hours` form.
pub fn broker_log_default(broker_name: &str) -> Option<String> {
    match broker_name {
        "log.retention.hours" | "log.roll.hours" => Some("168".into()),
        "log.retention.ms" | "log.retention.minutes" | "log.roll.ms" => None,
        _ => LogConfig::default().get(super::log_config::broker_to_topic_name(broker_name)?),
    }
}

/// Broker settings Kafka lets AlterConfigs change at runtime (cluster-wide
/// or per broker) that this broker honours: the log defaults.
pub fn is_dynamic_broker_config(name: &str) -> bool {
    super::log_config::broker_to_topic_name(name).is_some()
}

/// A broker setting as DescribeConfigs reports it.
pub struct BrokerEntry {
    pub name: String,
    pub value: Option<String>,
    pub kind: ConfigType,
    pub doc: &'static str,
    pub read_only: bool,
}

fn fixed(name: &str, value: impl ToString, kind: ConfigType, doc: &'static str) -> BrokerEntry {
    BrokerEntry {
        name: name.to_string(),
        value: Some(value.to_string()),
        kind,
        doc,
        read_only: true,
    }
}

/// The broker's read-only settings, with their values as started.
pub fn static_broker_entries(config: &BrokerConfig) -> Vec<BrokerEntry> {
    let g = &config.group;
    let ms = |d: std::time::Duration| d.as_millis().to_string();
    let hours = |ms: i64| {
        if ms < 0 {
            "-1".to_string()
        } else {
            (ms / 3_600_000).to_string()
        }
    };
    vec![
        fixed(
            "auto.create.topics.enable",
            config.auto_create_topics,
            T::Boolean,
            "Create unknown topics on Metadata and Produce requests.",
        ),
        fixed(
            "broker.id",
            config.node_id,
            T::Int,
            "This broker's id (same as node.id).",
        ),
        fixed(
            "connections.max.idle.ms",
            ms(config.connections_max_idle),
            T::Long,
            "Idle connections are closed after this long.",
        ),
        fixed(
            "default.replication.factor",
            config.cluster.default_replication_factor,
            T::Int,
            "Replicas of auto-created topics and of CreateTopics with -1.",
        ),
        fixed(
            "group.initial.rebalance.delay.ms",
            g.initial_rebalance_delay_ms,
            T::Int,
            "Wait for more members before the first rebalance of an empty group.",
        ),
        fixed(
            "group.max.session.timeout.ms",
            g.max_session_timeout_ms,
            T::Int,
            "Largest session timeout a group member may ask for.",
        ),
        fixed(
            "group.min.session.timeout.ms",
            g.min_session_timeout_ms,
            T::Int,
            "Smallest session timeout a group member may ask for.",
        ),
        fixed(
            "log.dirs",
            config.data_dir.display(),
            T::String,
            "The data directory.",
        ),
        fixed(
            "log.retention.check.interval.ms",
            ms(config.retention_check_interval),
            T::Long,
            "How often retention is enforced.",
        ),
        fixed(
            "log.retention.hours",
            hours(config.log.retention_ms),
            T::Int,
            "Default retention.ms, in hours (read-only; alter log.retention.ms).",
        ),
        fixed(
            "log.roll.hours",
            hours(config.log.segment_ms),
            T::Int,
            "Default segment.ms, in hours (read-only; alter log.roll.ms).",
        ),
        fixed("node.id", config.node_id, T::Int, "This broker's id."),
        fixed(
            "num.partitions",
            config.num_partitions,
            T::Int,
            "Partitions of auto-created topics.",
        ),
        fixed(
            "offset.metadata.max.bytes",
            g.offset_metadata_max_bytes,
            T::Int,
            "Largest metadata string of a committed offset.",
        ),
        fixed(
            "offsets.retention.check.interval.ms",
            g.offsets_retention_check_interval_ms,
            T::Long,
            "How often expired committed offsets are removed.",
        ),
        fixed(
            "offsets.retention.minutes",
            g.offsets_retention_ms / 60_000,
            T::Int,
            "How long committed offsets of empty groups are kept.",
        ),
        fixed(
            "offsets.topic.num.partitions",
            g.offsets_topic_num_partitions,
            T::Int,
            "Partitions of __consumer_offsets.",
        ),
        fixed(
            "offsets.topic.replication.factor",
            config.cluster.offsets_topic_replication_factor,
            T::Short,
            "Replicas of __consumer_offsets.",
        ),
        fixed(
            "producer.id.expiration.ms",
            config.log.producer_id_expiration_ms,
            T::Int,
            "Idle idempotent producers are forgotten after this long.",
        ),
        fixed(
            "socket.request.max.bytes",
            config.socket_request_max_bytes,
            T::Int,
            "Largest request frame accepted.",
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::log_config::{broker_to_topic_name, TOPIC_CONFIG_NAMES};

    #[test]
    fn the_catalogue_covers_every_topic_setting_and_only_those() {
        let names: Vec<&str> = TOPIC_CONFIGS.iter().map(|d| d.name).collect();
        assert_eq!(names, TOPIC_CONFIG_NAMES);
        for def in TOPIC_CONFIGS {
            // Every synonym maps back (hours/minutes forms through BrokerConfig::set).
            for synonym in def.broker_names {
                let mapped = broker_to_topic_name(synonym);
                assert!(
                    mapped == Some(def.name)
                        || synonym.ends_with(".hours")
                        || synonym.ends_with(".minutes"),
                    "{synonym}"
                );
            }
        }
    }

    #[test]
    fn broker_defaults_are_reported_as_kafka_does() {
        assert_eq!(
            broker_log_default("log.retention.hours").as_deref(),
            Some("168")
        );
        assert_eq!(broker_log_default("log.retention.ms"), None);
        assert_eq!(
            broker_log_default("message.max.bytes").as_deref(),
            Some("1048588")
        );
        assert_eq!(
            broker_log_default("log.segment.bytes").as_deref(),
            Some("1073741824")
        );
        assert!(is_dynamic_broker_config("log.retention.ms"));
        assert!(!is_dynamic_broker_config("log.retention.hours"));
        assert!(!is_dynamic_broker_config("num.partitions"));
    }
}
