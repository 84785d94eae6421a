//! Per-topic log settings: the broker's defaults (`log.*` names) overridden
//! by topic configs (Kafka's topic-level names).

use std::collections::BTreeMap;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimestampType {
    CreateTime,
    LogAppendTime,
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
            min_compaction_lag_ms: 0,
            max_compaction_lag_ms: i64::MAX,
            delete_retention_ms: 86_400_000,
            min_cleanable_dirty_ratio: 0.5,
        }
    }
}

/// The topic-level names a topic may override (CreateTopics, AlterConfigs).
pub const TOPIC_CONFIG_NAMES: &[&str] = &[
    "segment.bytes",
    "segment.ms",
    "retention.ms",
    "retention.bytes",
    "max.message.bytes",
    "index.interval.bytes",
    "message.timestamp.type",
    "flush.messages",
    "flush.ms",
    "cleanup.policy",
    "min.compaction.lag.ms",
    "max.compaction.lag.ms",
    "delete.retention.ms",
    "min.cleanable.dirty.ratio",
];

fn number<T: std::str::FromStr>(name: &str, value: &str) -> Result<T, String> {
    value
        .trim()
        .parse::<T>()
        .map_err(|_| format!("{name}: '{value}' is not a valid number"))
}

fn at_least(name: &str, value: i64, min: i64) -> Result<i64, String> {
    if value < min {
        return Err(format!("{name}: {value} is below the minimum {min}"));
    }
    Ok(value)
}

impl LogConfig {
    /// Applies one setting by its topic-level name.
    pub fn apply(&mut self, name: &str, value: &str) -> Result<(), String> {
        match name {
            "segment.bytes" => {
                self.segment_bytes = at_least(name, number(name, value)?, 14)? as u64
            }
            "segment.ms" => self.segment_ms = at_least(name, number(name, value)?, 1)?,
            "retention.ms" => self.retention_ms = at_least(name, number(name, value)?, -1)?,
            "retention.bytes" => self.retention_bytes = at_least(name, number(name, value)?, -1)?,
            "max.message.bytes" => {
                self.max_message_bytes = at_least(name, number(name, value)?, 0)? as usize
            }
            "index.interval.bytes" => {
                self.index_interval_bytes = at_least(name, number(name, value)?, 0)? as usize
            }
            "message.timestamp.type" => {
                self.timestamp_type = match value.trim() {
                    "CreateTime" => TimestampType::CreateTime,
                    "LogAppendTime" => TimestampType::LogAppendTime,
                    other => {
                        return Err(format!(
                            "{name}: '{other}' is not CreateTime or LogAppendTime"
                        ))
                    }
                }
            }
            "flush.messages" => {
                self.flush_messages = Some(at_least(name, number(name, value)?, 1)? as u64)
            }
            "flush.ms" => self.flush_ms = Some(at_least(name, number(name, value)?, 0)? as u64),
            "cleanup.policy" => {
                let policies: Vec<&str> = value.split(',').map(str::trim).collect();
                if policies.is_empty() || policies.iter().any(|p| *p != "delete" && *p != "compact")
                {
                    return Err(format!("{name}: '{value}' is not delete, compact or both"));
                }
                self.cleanup_policy = value.trim().to_string();
            }
            "min.compaction.lag.ms" => {
                self.min_compaction_lag_ms = at_least(name, number(name, value)?, 0)?
            }
            "max.compaction.lag.ms" => {
                self.max_compaction_lag_ms = at_least(name, number(name, value)?, 1)?
            }
            "delete.retention.ms" => {
                self.delete_retention_ms = at_least(name, number(name, value)?, 0)?
            }
            "min.cleanable.dirty.ratio" => {
                let ratio: f64 = number(name, value)?;
                if !(0.0..=1.0).contains(&ratio) {
                    return Err(format!("{name}: {value} is not between 0 and 1"));
                }
                self.min_cleanable_dirty_ratio = ratio;
            }
            other => return Err(format!("unknown topic config '{other}'")),
        }
        Ok(())
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

    /// Whether the cleaner compacts this log (`cleanup.policy` has `compact`).
    pub fn compacted(&self) -> bool {
        self.cleanup_policy
            .split(',')
            .any(|p| p.trim() == "compact")
    }

    /// Whether retention deletes old segments (`cleanup.policy` has `delete`).
    pub fn deletes(&self) -> bool {
        self.cleanup_policy.split(',').any(|p| p.trim() == "delete")
    }

    /// Whether appends wait for fsync before they are acknowledged.
    pub fn durable(&self) -> bool {
        self.flush_messages.is_none() && self.flush_ms.is_none()
    }
}

/// Maps a broker-level `log.*` name to the topic-level name it defaults.
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
        "log.cleaner.min.compaction.lag.ms" => "min.compaction.lag.ms",
        "log.cleaner.max.compaction.lag.ms" => "max.compaction.lag.ms",
        "log.cleaner.delete.retention.ms" => "delete.retention.ms",
        "log.cleaner.min.cleanable.ratio" => "min.cleanable.dirty.ratio",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_are_validated_by_name_and_value() {
        let base = LogConfig::default();
        let ok: BTreeMap<String, String> =
            [("retention.ms".to_string(), "1000".to_string())].into();
        assert_eq!(base.with_overrides(&ok).unwrap().retention_ms, 1000);
        let unknown: BTreeMap<String, String> =
            [("retention.msx".to_string(), "1".to_string())].into();
        assert!(base
            .with_overrides(&unknown)
            .unwrap_err()
            .contains("retention.msx"));
        let bad: BTreeMap<String, String> =
            [("segment.bytes".to_string(), "abc".to_string())].into();
        assert!(base
            .with_overrides(&bad)
            .unwrap_err()
            .contains("segment.bytes"));
        assert!(base.durable());
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
