//! Per-topic log settings: the broker's defaults (`log.*` names) overridden
//! by topic configs (Kafka's topic-level names). The catalogue of names,
//! types and documentation that DescribeConfigs reports is in `catalog`.

use crate::protocol::records::Compression;
use std::collections::BTreeMap;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimestampType {
    CreateTime,
    LogAppendTime,
}

/// `compression.type`: `producer` keeps each batch as sent; a codec name
/// (or `uncompressed`) makes the broker recompress batches that differ.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompressionType {
    Producer,
    Codec(Compression),
}

impl CompressionType {
    fn parse(value: &str) -> Option<CompressionType> {
        Some(match value {
            "producer" => CompressionType::Producer,
            "uncompressed" | "none" => CompressionType::Codec(Compression::None),
            "gzip" => CompressionType::Codec(Compression::Gzip),
            "snappy" => CompressionType::Codec(Compression::Snappy),
            "lz4" => CompressionType::Codec(Compression::Lz4),
            "zstd" => CompressionType::Codec(Compression::Zstd),
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            CompressionType::Producer => "producer",
            CompressionType::Codec(Compression::None) => "uncompressed",
            CompressionType::Codec(Compression::Gzip) => "gzip",
            CompressionType::Codec(Compression::Snappy) => "snappy",
            CompressionType::Codec(Compression::Lz4) => "lz4",
            CompressionType::Codec(Compression::Zstd) => "zstd",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct LogConfig {
    /// `segment.bytes`
    pub segment_bytes: u64,
    /// `segment.ms`
    pub segment_ms: i64,
    /// `retention.ms` (-1: forever)
    pub retention_ms: i64,
    /// `retention.bytes` (-1: unlimited)
    pub retention_bytes: i64,
    /// `max.message.bytes`: largest batch accepted
    pub max_message_bytes: usize,
    /// `index.interval.bytes`
    pub index_interval_bytes: usize,
    /// `message.timestamp.type`
    pub timestamp_type: TimestampType,
    /// `flush.messages` / `flush.ms`: when either is set the topic runs in
    /// page-cache mode (acknowledged before fsync, flushed on that schedule).
    pub flush_messages: Option<u64>,
    pub flush_ms: Option<u64>,
    /// `cleanup.policy`
    pub cleanup_policy: String,
    /// `producer.id.expiration.ms` (broker-wide): idle idempotent producers are forgotten.
    pub producer_id_expiration_ms: i64,
    /// `compression.type`
    pub compression: CompressionType,
    /// `message.timestamp.difference.max.ms` (deprecated by KIP-937; still
    /// bounds both directions when set lower than the two below).
    pub timestamp_difference_max_ms: i64,
    /// `message.timestamp.before.max.ms`: how far in the past a CreateTime timestamp may be.
    pub timestamp_before_max_ms: i64,
    /// `message.timestamp.after.max.ms`: how far in the future.
    pub timestamp_after_max_ms: i64,
    /// `min.compaction.lag.ms`: records younger than this stay uncompacted.
    pub min_compaction_lag_ms: i64,
    /// `max.compaction.lag.ms`: a dirty segment older than this is cleaned
    /// whatever the dirty ratio.
    pub max_compaction_lag_ms: i64,
    /// `delete.retention.ms`: how long tombstones and transaction markers
    /// survive after the cleaner first saw them.
    pub delete_retention_ms: i64,
    /// `min.cleanable.dirty.ratio`
    pub min_cleanable_dirty_ratio: f64,
    /// `unclean.leader.election.enable`: not acted on (no unclean election).
    pub unclean_leader_election: bool,
    /// `min.insync.replicas`: in-sync replicas acks=all needs (capped at the
    /// replication factor), and below which the high watermark stays.
    pub min_insync_replicas: i32,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            segment_bytes: 1 << 30,
            segment_ms: 7 * 24 * 3600 * 1000,
            retention_ms: 7 * 24 * 3600 * 1000,
            retention_bytes: -1,
            max_message_bytes: 1_048_588,
            index_interval_bytes: 4096,
            timestamp_type: TimestampType::CreateTime,
            flush_messages: None,
            flush_ms: None,
            cleanup_policy: "delete".into(),
            producer_id_expiration_ms: 86_400_000,
            compression: CompressionType::Producer,
            timestamp_difference_max_ms: i64::MAX,
            timestamp_before_max_ms: i64::MAX,
            timestamp_after_max_ms: i64::MAX,
            min_compaction_lag_ms: 0,
            max_compaction_lag_ms: i64::MAX,
            delete_retention_ms: 86_400_000,
            min_cleanable_dirty_ratio: 0.5,
            unclean_leader_election: false,
            min_insync_replicas: 1,
        }
    }
}

/// The topic-level names a topic may override (CreateTopics, AlterConfigs).
pub const TOPIC_CONFIG_NAMES: &[&str] = &[
    "cleanup.policy",
    "compression.type",
    "delete.retention.ms",
    "flush.messages",
    "flush.ms",
    "index.interval.bytes",
    "max.compaction.lag.ms",
    "max.message.bytes",
    "message.timestamp.after.max.ms",
    "message.timestamp.before.max.ms",
    "message.timestamp.difference.max.ms",
    "message.timestamp.type",
    "min.cleanable.dirty.ratio",
    "min.compaction.lag.ms",
    "min.insync.replicas",
    "retention.bytes",
    "retention.ms",
    "segment.bytes",
    "segment.ms",
    "unclean.leader.election.enable",
];

/// Kafka's ConfigException wording, which clients and tools show as is.
pub fn invalid(name: &str, value: &str, why: &str) -> String {
    format!("Invalid value {value} for configuration {name}: {why}")
}

/// A Java `int` (Kafka's INT type): wider values are a type error, as in Kafka.
fn int(name: &str, value: &str) -> Result<i64, String> {
    value
        .trim()
        .parse::<i32>()
        .map(i64::from)
        .map_err(|_| invalid(name, value, "Not a number of type INT"))
}

/// A Java `long` (Kafka's LONG type).
fn long(name: &str, value: &str) -> Result<i64, String> {
    value
        .trim()
        .parse::<i64>()
        .map_err(|_| invalid(name, value, "Not a number of type LONG"))
}

fn at_least(name: &str, value: i64, min: i64) -> Result<i64, String> {
    if value < min {
        return Err(invalid(
            name,
            &value.to_string(),
            &format!("Value must be at least {min}"),
        ));
    }
    Ok(value)
}

fn boolean(name: &str, value: &str) -> Result<bool, String> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(invalid(
            name,
            value,
            "Expected value to be either true or false",
        )),
    }
}

/// Kafka's list syntax: comma-separated, blanks around items ignored.
pub fn list_items(value: &str) -> Vec<&str> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect()
}

impl LogConfig {
    /// Applies one setting by its topic-level name. Errors name the setting.
    pub fn apply(&mut self, name: &str, value: &str) -> Result<(), String> {
        match name {
            "segment.bytes" => self.segment_bytes = at_least(name, int(name, value)?, 14)? as u64,
            "segment.ms" => self.segment_ms = at_least(name, long(name, value)?, 1)?,
            "retention.ms" => self.retention_ms = at_least(name, long(name, value)?, -1)?,
            "retention.bytes" => self.retention_bytes = at_least(name, long(name, value)?, -1)?,
            "max.message.bytes" => {
                self.max_message_bytes = at_least(name, int(name, value)?, 0)? as usize
            }
            "index.interval.bytes" => {
                self.index_interval_bytes = at_least(name, int(name, value)?, 0)? as usize
            }
            "message.timestamp.type" => {
                self.timestamp_type = match value.trim() {
                    "CreateTime" => TimestampType::CreateTime,
                    "LogAppendTime" => TimestampType::LogAppendTime,
                    _ => {
                        return Err(invalid(
                            name,
                            value,
                            "String must be one of: CreateTime, LogAppendTime",
                        ))
                    }
                }
            }
            "flush.messages" => {
                self.flush_messages = Some(at_least(name, long(name, value)?, 1)? as u64)
            }
            "flush.ms" => self.flush_ms = Some(at_least(name, long(name, value)?, 0)? as u64),
            "cleanup.policy" => {
                let policies = list_items(value);
                if policies.is_empty() || policies.iter().any(|p| *p != "delete" && *p != "compact")
                {
                    return Err(invalid(
                        name,
                        value,
                        "String must be one of: compact, delete",
                    ));
                }
                self.cleanup_policy = policies.join(",");
            }
            "compression.type" => {
                self.compression = CompressionType::parse(value.trim()).ok_or_else(|| {
                    invalid(
                        name,
                        value,
                        "String must be one of: uncompressed, zstd, lz4, snappy, gzip, producer",
                    )
                })?
            }
            "message.timestamp.difference.max.ms" => {
                self.timestamp_difference_max_ms = at_least(name, long(name, value)?, 0)?
            }
            "message.timestamp.before.max.ms" => {
                self.timestamp_before_max_ms = at_least(name, long(name, value)?, 0)?
            }
            "message.timestamp.after.max.ms" => {
                self.timestamp_after_max_ms = at_least(name, long(name, value)?, 0)?
            }
            "min.compaction.lag.ms" => {
                self.min_compaction_lag_ms = at_least(name, long(name, value)?, 0)?
            }
            "max.compaction.lag.ms" => {
                self.max_compaction_lag_ms = at_least(name, long(name, value)?, 1)?
            }
            "delete.retention.ms" => {
                self.delete_retention_ms = at_least(name, long(name, value)?, 0)?
            }
            "min.cleanable.dirty.ratio" => {
                let ratio = value
                    .trim()
                    .parse::<f64>()
                    .map_err(|_| invalid(name, value, "Not a number of type DOUBLE"))?;
                if ratio < 0.0 {
                    return Err(invalid(name, value, "Value must be at least 0"));
                }
                if ratio > 1.0 {
                    return Err(invalid(name, value, "Value must be no more than 1"));
                }
                self.min_cleanable_dirty_ratio = ratio;
            }
            "min.insync.replicas" => {
                let min = at_least(name, int(name, value)?, 1)?;
                self.min_insync_replicas = i32::try_from(min).unwrap_or(i32::MAX);
            }
            "unclean.leader.election.enable" => {
                self.unclean_leader_election = boolean(name, value)?
            }
            // A setting Kafka knows that Odradek does not act on: checked, kept, inert.
            other => match super::kafka_keys::topic_key(other) {
                Some(key) if !key.internal => super::kafka_keys::validate_topic(key, value)?,
                _ => return Err(format!("Unknown topic config name: {other}")),
            },
        }
        Ok(())
    }

    /// The current value of a topic-level setting, as Kafka prints it; `None`
    /// for unknown names, and for `flush.*` while unset (every append is
    /// fsynced before it is acknowledged: there is no interval to report).
    pub fn get(&self, name: &str) -> Option<String> {
        Some(match name {
            "segment.bytes" => self.segment_bytes.to_string(),
            "segment.ms" => self.segment_ms.to_string(),
            "retention.ms" => self.retention_ms.to_string(),
            "retention.bytes" => self.retention_bytes.to_string(),
            "max.message.bytes" => self.max_message_bytes.to_string(),
            "index.interval.bytes" => self.index_interval_bytes.to_string(),
            "message.timestamp.type" => match self.timestamp_type {
                TimestampType::CreateTime => "CreateTime".into(),
                TimestampType::LogAppendTime => "LogAppendTime".into(),
            },
            "flush.messages" => self.flush_messages?.to_string(),
            "flush.ms" => self.flush_ms?.to_string(),
            "cleanup.policy" => self.cleanup_policy.clone(),
            "compression.type" => self.compression.name().into(),
            "message.timestamp.difference.max.ms" => self.timestamp_difference_max_ms.to_string(),
            "message.timestamp.before.max.ms" => self.timestamp_before_max_ms.to_string(),
            "message.timestamp.after.max.ms" => self.timestamp_after_max_ms.to_string(),
            "min.compaction.lag.ms" => self.min_compaction_lag_ms.to_string(),
            "max.compaction.lag.ms" => self.max_compaction_lag_ms.to_string(),
            "delete.retention.ms" => self.delete_retention_ms.to_string(),
            "min.cleanable.dirty.ratio" => self.min_cleanable_dirty_ratio.to_string(),
            "min.insync.replicas" => self.min_insync_replicas.to_string(),
            "unclean.leader.election.enable" => self.unclean_leader_election.to_string(),
            _ => return None,
        })
    }

    /// Defaults overridden by a topic's configs.
    pub fn with_overrides(
        &self,
        overrides: &BTreeMap<String, String>,
    ) -> Result<LogConfig, String> {
        let mut config = self.clone();
        for (name, value) in overrides {
            config.apply(name, value)?;
        }
        Ok(config)
    }

    /// Whether appends wait for fsync before they are acknowledged.
    pub fn durable(&self) -> bool {
        self.flush_messages.is_none() && self.flush_ms.is_none()
    }

    /// Whether the cleaner compacts this log (`cleanup.policy` has `compact`).
    pub fn compacted(&self) -> bool {
        list_items(&self.cleanup_policy).contains(&"compact")
    }

    /// Retention by time and size applies only with the `delete` policy.
    pub fn deletes(&self) -> bool {
        list_items(&self.cleanup_policy).contains(&"delete")
    }

    /// How far before and after the broker's clock a CreateTime timestamp may be.
    pub fn timestamp_bounds(&self) -> (i64, i64) {
        (
            self.timestamp_before_max_ms
                .min(self.timestamp_difference_max_ms),
            self.timestamp_after_max_ms
                .min(self.timestamp_difference_max_ms),
        )
    }
}

/// Maps a broker-level name to the topic-level name it defaults (the
/// `log.*.hours`/`minutes` forms are converted by `BrokerConfig::set`).
pub fn broker_to_topic_name(name: &str) -> Option<&'static str> {
    Some(match name {
        "log.segment.bytes" => "segment.bytes",
        "log.roll.ms" => "segment.ms",
        "log.retention.ms" => "retention.ms",
        "log.retention.bytes" => "retention.bytes",
        "message.max.bytes" => "max.message.bytes",
        "log.index.interval.bytes" => "index.interval.bytes",
        "log.message.timestamp.type" => "message.timestamp.type",
        "log.flush.interval.messages" => "flush.messages",
        "log.flush.interval.ms" => "flush.ms",
        "log.cleanup.policy" => "cleanup.policy",
        "compression.type" => "compression.type",
        "log.message.timestamp.difference.max.ms" => "message.timestamp.difference.max.ms",
        "log.message.timestamp.before.max.ms" => "message.timestamp.before.max.ms",
        "log.message.timestamp.after.max.ms" => "message.timestamp.after.max.ms",
        "log.cleaner.min.compaction.lag.ms" => "min.compaction.lag.ms",
        "log.cleaner.max.compaction.lag.ms" => "max.compaction.lag.ms",
        "log.cleaner.delete.retention.ms" => "delete.retention.ms",
        "log.cleaner.min.cleanable.ratio" => "min.cleanable.dirty.ratio",
        "unclean.leader.election.enable" => "unclean.leader.election.enable",
        "min.insync.replicas" => "min.insync.replicas",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(name: &str, value: &str) -> Result<LogConfig, String> {
        LogConfig::default().with_overrides(&[(name.to_string(), value.to_string())].into())
    }

    #[test]
    fn overrides_are_validated_by_name_and_value() {
        assert_eq!(one("retention.ms", "1000").unwrap().retention_ms, 1000);
        assert!(one("retention.msx", "1")
            .unwrap_err()
            .contains("retention.msx"));
        assert!(one("segment.bytes", "abc")
            .unwrap_err()
            .contains("segment.bytes"));
        assert!(LogConfig::default().durable());
    }

    #[test]
    fn types_and_ranges_are_kafkas() {
        // INT settings refuse what does not fit 32 bits; LONG ones take it.
        assert!(one("max.message.bytes", "3000000000")
            .unwrap_err()
            .contains("INT"));
        assert_eq!(
            one("retention.ms", "3000000000").unwrap().retention_ms,
            3_000_000_000
        );
        assert_eq!(
            one("retention.ms", "-2").unwrap_err(),
            "Invalid value -2 for configuration retention.ms: Value must be at least -1"
        );
        assert!(one("segment.ms", "0").unwrap_err().contains("segment.ms"));
        assert!(one("min.cleanable.dirty.ratio", "1.5")
            .unwrap_err()
            .contains("min.cleanable.dirty.ratio"));
        assert_eq!(
            one("min.cleanable.dirty.ratio", "0.25")
                .unwrap()
                .min_cleanable_dirty_ratio,
            0.25
        );
        assert_eq!(
            one("unclean.leader.election.enable", "yes").unwrap_err(),
            "Invalid value yes for configuration unclean.leader.election.enable: \
             Expected value to be either true or false"
        );
        assert_eq!(
            one("min.insync.replicas", "2").unwrap().min_insync_replicas,
            2
        );
        assert!(one("min.insync.replicas", "0")
            .unwrap_err()
            .contains("min.insync.replicas"));
        assert!(one("min.insync.replicas", "1").is_ok());
        assert!(one("message.timestamp.type", "Now").is_err());
        assert!(one("compression.type", "brotli")
            .unwrap_err()
            .contains("compression.type"));
        assert_eq!(
            one("compression.type", "zstd").unwrap().compression,
            CompressionType::Codec(Compression::Zstd)
        );
    }

    #[test]
    fn cleanup_policy_is_a_list() {
        let both = one("cleanup.policy", " compact , delete").unwrap();
        assert_eq!(both.cleanup_policy, "compact,delete");
        assert!(both.compacted() && both.deletes());
        let compact = one("cleanup.policy", "compact").unwrap();
        assert!(compact.compacted() && !compact.deletes());
        assert!(one("cleanup.policy", "").is_err());
        assert!(one("cleanup.policy", "delete,shred").is_err());
    }

    #[test]
    fn every_name_round_trips_through_get() {
        let config = LogConfig::default();
        for name in TOPIC_CONFIG_NAMES {
            match config.get(name) {
                Some(value) => assert_eq!(
                    config
                        .with_overrides(&[(name.to_string(), value)].into())
                        .unwrap(),
                    config,
                    "{name}"
                ),
                None => assert!(name.starts_with("flush."), "{name} has no value"),
            }
        }
        assert_eq!(config.get("no.such"), None);
    }

    #[test]
    fn the_deprecated_difference_bounds_both_directions() {
        assert_eq!(
            LogConfig::default().timestamp_bounds(),
            (i64::MAX, i64::MAX)
        );
        let config = one("message.timestamp.difference.max.ms", "1000").unwrap();
        assert_eq!(config.timestamp_bounds(), (1000, 1000));
        let config = config
            .with_overrides(&[("message.timestamp.after.max.ms".into(), "10".into())].into())
            .unwrap();
        assert_eq!(config.timestamp_bounds(), (1000, 10));
    }

    #[test]
    fn compaction_settings_are_validated() {
        let mut config = LogConfig::default();
        assert!(!config.compacted() && config.deletes());
        config.apply("cleanup.policy", "compact,delete").unwrap();
        assert!(config.compacted() && config.deletes());
        config.apply("min.cleanable.dirty.ratio", "0.01").unwrap();
        assert_eq!(config.min_cleanable_dirty_ratio, 0.01);
        assert!(config.apply("min.cleanable.dirty.ratio", "1.5").is_err());
        assert!(config.apply("max.compaction.lag.ms", "0").is_err());
        assert!(config.apply("delete.retention.ms", "-1").is_err());
        config.apply("min.compaction.lag.ms", "1000").unwrap();
        assert_eq!(config.min_compaction_lag_ms, 1000);
        assert_eq!(
            broker_to_topic_name("log.cleaner.delete.retention.ms"),
            Some("delete.retention.ms")
        );
    }
}
