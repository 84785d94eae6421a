//! Broker configuration, named as Kafka names it (`--set name=value`).
//!
//! Only settings the broker acts on are accepted: an unknown name is an
//! error that says so, rather than a value silently ignored.

pub mod catalog;
pub mod cluster;
pub use cluster::BalancerConfig;
pub mod dynamic;
pub mod kafka_catalog;
pub mod kafka_keys;
pub mod log_config;
mod properties_file;

use log_config::LogConfig;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Clone, Debug)]
pub struct BrokerConfig {
    /// Roles, quorum, listeners, rack and replication defaults (KRaft names).
    pub cluster: cluster::ClusterConfig,
    pub data_dir: PathBuf,
    pub node_id: i32,
    /// `socket.request.max.bytes`: frames above this close the connection before any allocation.
    pub socket_request_max_bytes: usize,
    /// `connections.max.idle.ms`
    pub connections_max_idle: Duration,
    /// `num.partitions`: partitions of auto-created topics and CreateTopics with -1.
    pub num_partitions: i32,
    /// `auto.create.topics.enable`
    pub auto_create_topics: bool,
    /// `log.retention.check.interval.ms`
    pub retention_check_interval: Duration,
    /// `log.cleaner.enable`: whether compacted topics are cleaned.
    pub cleaner_enable: bool,
    /// `log.cleaner.backoff.ms`: the pause between cleaner passes.
    pub cleaner_backoff: Duration,
    /// `log.cleaner.dedupe.buffer.size`: memory for one pass's key map.
    pub cleaner_dedupe_buffer_size: usize,
    /// Defaults for every topic's log (`log.*` names, `message.max.bytes`).
    pub log: LogConfig,
    /// The group coordinator's settings.
    pub group: GroupConfig,
    pub txn: TxnConfig,
    /// Every setting given at start-up, by the name it was given
    /// (DescribeConfigs reports these as STATIC_BROKER_CONFIG).
    pub static_settings: std::collections::BTreeMap<String, String>,
    /// The names among `static_settings` that Odradek accepts but does not act on.
    pub inert: std::collections::BTreeSet<String>,
}

/// Group coordinator settings, by their Kafka names.
#[derive(Clone, Debug)]
pub struct GroupConfig {
    /// `group.initial.rebalance.delay.ms`
    pub initial_rebalance_delay_ms: i64,
    /// `group.min.session.timeout.ms`
    pub min_session_timeout_ms: i32,
    /// `group.max.session.timeout.ms`
    pub max_session_timeout_ms: i32,
    /// `offsets.topic.num.partitions` (Kafka: 50; one keeps a single node light)
    pub offsets_topic_num_partitions: i32,
    /// `offsets.retention.minutes`, in ms
    pub offsets_retention_ms: i64,
    /// `offsets.retention.check.interval.ms`
    pub offsets_retention_check_interval_ms: i64,
    /// `offset.metadata.max.bytes`
    pub offset_metadata_max_bytes: usize,
    /// `group.consumer.session.timeout.ms` (KIP-848 consumer groups)
    pub consumer_session_timeout_ms: i32,
    /// `group.consumer.heartbeat.interval.ms` (KIP-848 consumer groups)
    pub consumer_heartbeat_interval_ms: i32,
}

impl Default for GroupConfig {
    fn default() -> Self {
        GroupConfig {
            initial_rebalance_delay_ms: 3000,
            min_session_timeout_ms: 6000,
            max_session_timeout_ms: 1_800_000,
            offsets_topic_num_partitions: 1,
            offsets_retention_ms: 7 * 24 * 60 * 60 * 1000,
            offsets_retention_check_interval_ms: 600_000,
            offset_metadata_max_bytes: 4096,
            consumer_session_timeout_ms: 45_000,
            consumer_heartbeat_interval_ms: 5000,
        }
    }
}

/// The transaction coordinator's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnConfig {
    /// `transaction.state.log.num.partitions` (Kafka: 50; one keeps a single node light)
    pub state_log_num_partitions: i32,
    /// `transaction.max.timeout.ms`: the largest `transaction.timeout.ms` a producer may ask for.
    pub max_timeout_ms: i32,
    /// `transaction.abort.timed.out.transaction.cleanup.interval.ms`
    pub abort_check_interval_ms: i64,
}

impl Default for TxnConfig {
    fn default() -> Self {
        TxnConfig {
            state_log_num_partitions: 1,
            max_timeout_ms: 900_000,
            abort_check_interval_ms: 10_000,
        }
    }
}

impl Default for BrokerConfig {
    fn default() -> Self {
        BrokerConfig {
            cluster: cluster::ClusterConfig::default(),
            data_dir: PathBuf::from("odradek-data"),
            node_id: 0,
            socket_request_max_bytes: 100 * 1024 * 1024,
            connections_max_idle: Duration::from_millis(600_000),
            num_partitions: 1,
            auto_create_topics: true,
            retention_check_interval: Duration::from_millis(300_000),
            cleaner_enable: true,
            cleaner_backoff: Duration::from_millis(15_000),
            cleaner_dedupe_buffer_size: 128 * 1024 * 1024,
            log: LogConfig::default(),
            group: GroupConfig::default(),
            txn: TxnConfig::default(),
            static_settings: Default::default(),
            inert: Default::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigError {
    UnknownName(String),
    InvalidValue {
        name: String,
        value: String,
        reason: String,
    },
    Malformed(String),
    /// Settings that are each valid but do not fit together.
    Inconsistent {
        name: String,
        reason: String,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::UnknownName(name) => write!(f, "unknown broker config '{name}'"),
            ConfigError::InvalidValue {
                name,
                value,
                reason,
            } => write!(f, "invalid value '{value}' for {name}: {reason}"),
            ConfigError::Malformed(text) => write!(f, "expected name=value, got '{text}'"),
            ConfigError::Inconsistent { name, reason } => write!(f, "{name}: {reason}"),
        }
    }
}

impl std::error::Error for ConfigError {}

fn parse_number<T: std::str::FromStr>(name: &str, value: &str) -> Result<T, ConfigError>
where
    T::Err: fmt::Display,
{
    value
        .trim()
        .parse::<T>()
        .map_err(|e| ConfigError::InvalidValue {
            name: name.to_string(),
            value: value.to_string(),
            reason: e.to_string(),
        })
}

fn flatten(
    prefix: &str,
    value: &toml::Value,
    out: &mut Vec<(String, String)>,
) -> Result<(), ConfigError> {
    let scalar = match value {
        toml::Value::Table(table) => {
            for (key, inner) in table {
                let name = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                flatten(&name, inner, out)?;
            }
            return Ok(());
        }
        toml::Value::String(s) => s.clone(),
        toml::Value::Integer(i) => i.to_string(),
        toml::Value::Float(f) => f.to_string(),
        toml::Value::Boolean(b) => b.to_string(),
        other => {
            return Err(invalid(
                prefix,
                other.type_str(),
                "expected a string, number or boolean",
            ))
        }
    };
    out.push((prefix.to_string(), scalar));
    Ok(())
}

fn invalid(name: &str, value: &str, reason: &str) -> ConfigError {
    ConfigError::InvalidValue {
        name: name.to_string(),
        value: value.to_string(),
        reason: reason.to_string(),
    }
}

fn hours_to_ms(name: &str, value: &str) -> Result<String, ConfigError> {
    let hours: i64 = parse_number(name, value)?;
    Ok(if hours < 0 {
        "-1".into()
    } else {
        (hours * 3_600_000).to_string()
    })
}

fn minutes_to_ms(name: &str, value: &str) -> Result<String, ConfigError> {
    let minutes: i64 = parse_number(name, value)?;
    Ok(if minutes < 0 {
        "-1".into()
    } else {
        (minutes * 60_000).to_string()
    })
}

impl BrokerConfig {
    fn set_log(
        &mut self,
        broker_name: &str,
        topic_name: &str,
        value: &str,
    ) -> Result<(), ConfigError> {
        self.log
            .apply(topic_name, value)
            .map_err(|reason| invalid(broker_name, value, &reason))
    }

    /// A Kafka broker setting Odradek has no use for: checked as Kafka
    /// checks it, then kept (DescribeConfigs shows it). Unknown names, and
    /// settings for machinery Odradek does not have, are refused.
    fn set_inert(&mut self, name: &str, value: &str) -> Result<(), ConfigError> {
        // Ignoring a security setting would leave a node open that its
        // operator believes closed: refused until security is served.
        const SECURITY: &[&str] = &[
            "ssl.",
            "sasl.",
            "listener.name.",
            "authorizer.",
            "super.users",
            "principal.builder.class",
            "delegation.token.",
            "security.providers",
        ];
        if SECURITY.iter().any(|p| name.starts_with(p)) {
            return Err(invalid(
                name,
                value,
                "security settings are not served yet, so they are refused rather than ignored",
            ));
        }
        if name == "security.inter.broker.protocol"
            && !value.trim().eq_ignore_ascii_case("PLAINTEXT")
        {
            return Err(invalid(name, value, "only PLAINTEXT is served yet"));
        }
        let key = kafka_keys::broker_key(name)
            .filter(|key| key.kind != kafka_catalog::Kind::Password)
            .ok_or_else(|| ConfigError::UnknownName(name.to_string()))?;
        kafka_keys::validate_broker(key, value.trim())
            .map_err(|reason| invalid(name, value, &reason))?;
        self.inert.insert(name.to_string());
        Ok(())
    }

    /// Applies one `name=value` setting.
    pub fn set(&mut self, assignment: &str) -> Result<(), ConfigError> {
        let (name, value) = assignment
            .split_once('=')
            .ok_or_else(|| ConfigError::Malformed(assignment.to_string()))?;
        let name = name.trim();
        match name {
            "socket.request.max.bytes" => {
                self.socket_request_max_bytes = parse_number(name, value)?
            }
            "connections.max.idle.ms" => {
                self.connections_max_idle = Duration::from_millis(parse_number(name, value)?)
            }
            "node.id" | "broker.id" => self.node_id = parse_number(name, value)?,
            "log.dirs" | "log.dir" => self.data_dir = PathBuf::from(value.trim()),
            "num.partitions" => {
                self.num_partitions = parse_number(name, value)?;
                if self.num_partitions < 1 {
                    return Err(invalid(name, value, "must be at least 1"));
                }
            }
            "auto.create.topics.enable" => self.auto_create_topics = parse_number(name, value)?,
            "log.retention.check.interval.ms" => {
                self.retention_check_interval = Duration::from_millis(parse_number(name, value)?)
            }
            "log.cleaner.enable" => self.cleaner_enable = parse_number(name, value)?,
            "log.cleaner.backoff.ms" => {
                self.cleaner_backoff = Duration::from_millis(parse_number(name, value)?)
            }
            "log.cleaner.dedupe.buffer.size" => {
                self.cleaner_dedupe_buffer_size = parse_number(name, value)?;
                if self.cleaner_dedupe_buffer_size < 1024 * 1024 {
                    return Err(invalid(name, value, "must be at least 1048576"));
                }
            }
            "log.retention.hours" => {
                self.set_log(name, "retention.ms", &hours_to_ms(name, value)?)?
            }
            "log.retention.minutes" => {
                self.set_log(name, "retention.ms", &minutes_to_ms(name, value)?)?
            }
            "group.initial.rebalance.delay.ms" => {
                self.group.initial_rebalance_delay_ms = parse_number(name, value)?
            }
            "group.min.session.timeout.ms" => {
                self.group.min_session_timeout_ms = parse_number(name, value)?
            }
            "group.max.session.timeout.ms" => {
                self.group.max_session_timeout_ms = parse_number(name, value)?
            }
            "offsets.topic.num.partitions" => {
                self.group.offsets_topic_num_partitions = parse_number(name, value)?;
                if self.group.offsets_topic_num_partitions < 1 {
                    return Err(invalid(name, value, "must be at least 1"));
                }
            }
            "offsets.retention.minutes" => {
                self.group.offsets_retention_ms =
                    parse_number::<i64>(name, value)?.saturating_mul(60_000)
            }
            "offsets.retention.check.interval.ms" => {
                self.group.offsets_retention_check_interval_ms = parse_number(name, value)?
            }
            "offset.metadata.max.bytes" => {
                self.group.offset_metadata_max_bytes = parse_number(name, value)?
            }
            "transaction.state.log.num.partitions" => {
                self.txn.state_log_num_partitions = parse_number(name, value)?;
                if self.txn.state_log_num_partitions < 1 {
                    return Err(invalid(name, value, "must be at least 1"));
                }
            }
            "transaction.max.timeout.ms" => {
                self.txn.max_timeout_ms = parse_number(name, value)?;
                if self.txn.max_timeout_ms < 1 {
                    return Err(invalid(name, value, "must be at least 1"));
                }
            }
            "transaction.abort.timed.out.transaction.cleanup.interval.ms" => {
                self.txn.abort_check_interval_ms = parse_number(name, value)?;
                if self.txn.abort_check_interval_ms < 1 {
                    return Err(invalid(name, value, "must be at least 1"));
                }
            }
            "group.consumer.session.timeout.ms" | "group.consumer.heartbeat.interval.ms" => {
                let ms: i32 = parse_number(name, value)?;
                if ms < 1 {
                    return Err(invalid(name, value, "must be positive"));
                }
                if name == "group.consumer.session.timeout.ms" {
                    self.group.consumer_session_timeout_ms = ms;
                } else {
                    self.group.consumer_heartbeat_interval_ms = ms;
                }
            }
            "producer.id.expiration.ms" => {
                self.log.producer_id_expiration_ms = parse_number(name, value)?
            }
            "log.roll.hours" => self.set_log(name, "segment.ms", &hours_to_ms(name, value)?)?,
            _ if self.cluster.set(name, value)? => {}
            _ => match log_config::broker_to_topic_name(name) {
                Some(topic_name) => self.set_log(name, topic_name, value)?,
                None => self.set_inert(name, value)?,
            },
        }
        self.static_settings
            .insert(name.to_string(), value.trim().to_string());
        Ok(())
    }

    /// Applies a TOML file of Kafka settings. Dotted names may be written
    /// flat (`"log.retention.ms" = 1000`) or as TOML's nested tables
    /// (`log.retention.ms = 1000`, `[log] retention.ms = 1000`): both flatten
    /// back to the Kafka name.
    pub fn apply_toml(&mut self, text: &str) -> Result<(), ConfigError> {
        let table: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| ConfigError::Malformed(e.message().to_string()))?;
        let mut settings = Vec::new();
        flatten("", &toml::Value::Table(table), &mut settings)?;
        for (name, value) in settings {
            self.set(&format!("{name}={value}"))?;
        }
        Ok(())
    }

    /// The host and port clients of `listener` are told to connect to: its
    /// advertised address, else the address it listens on. A wildcard
    /// address (empty, 0.0.0.0, ::) is no address to connect to: as Kafka
    /// does, the machine's host name is advertised instead.
    pub fn advertised_endpoint(&self, listener: &cluster::Listener) -> (String, u16) {
        if let Some(advertised) = self.cluster.advertised.get(&listener.name) {
            return advertised.clone();
        }
        let wildcard = listener.host.is_empty()
            || listener
                .host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_unspecified());
        let host = if wildcard {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .ok()
                .map(|h| h.trim().to_string())
                .filter(|h| !h.is_empty())
                .unwrap_or_else(|| "localhost".to_string())
        } else {
            listener.host.clone()
        };
        (host, listener.port)
    }

    /// The listener clients reach this broker on by default (the
    /// inter-broker one), which `--listen` and `--advertised-listener` set.
    pub fn client_listener_mut(&mut self) -> Option<&mut cluster::Listener> {
        let name = self.cluster.inter_broker_listener()?.name.clone();
        self.cluster.listeners.iter_mut().find(|l| l.name == name)
    }

    /// Checks settings against each other once all are applied.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.cluster.validate(self.node_id)
    }

    /// Kafka settings given at start-up that Odradek accepts but does not
    /// act on (thread counts, socket buffers, ...), so that a Kafka
    /// `server.properties` starts a node: they are listed once, at start-up.
    pub fn inert_settings(&self) -> Vec<&str> {
        self.static_settings
            .keys()
            .map(String::as_str)
            .filter(|name| self.inert.contains(*name))
            .collect()
    }

    /// Applies a configuration file: TOML, or a Java properties file such
    /// as Kafka's `server.properties`, told apart by the extension or, with
    /// neither, by which of the two parses.
    pub fn apply_file(&mut self, path: &std::path::Path, text: &str) -> Result<(), ConfigError> {
        match path.extension().and_then(|e| e.to_str()) {
            Some("toml") => self.apply_toml(text),
            Some("properties") => self.apply_properties(text),
            _ => match properties_file::parse(text) {
                Ok(settings) if text.parse::<toml::Table>().is_err() => self.apply_all(settings),
                _ => self.apply_toml(text),
            },
        }
    }

    /// Applies a Java properties file (`name=value`, `name: value`, `#` and
    /// `!` comments, backslash continuations and escapes).
    pub fn apply_properties(&mut self, text: &str) -> Result<(), ConfigError> {
        self.apply_all(properties_file::parse(text).map_err(ConfigError::Malformed)?)
    }

    fn apply_all(&mut self, settings: Vec<(String, String)>) -> Result<(), ConfigError> {
        for (name, value) in settings {
            self.set(&format!("{name}={value}"))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kafka_names_are_accepted_and_unknown_names_refused() {
        let mut config = BrokerConfig::default();
        config.set("socket.request.max.bytes=1024").unwrap();
        assert_eq!(config.socket_request_max_bytes, 1024);
        assert_eq!(
            config.set("no.such.setting=1"),
            Err(ConfigError::UnknownName("no.such.setting".into()))
        );
        assert!(matches!(
            config.set("node.id=abc"),
            Err(ConfigError::InvalidValue { .. })
        ));
        assert!(matches!(
            config.set("node.id"),
            Err(ConfigError::Malformed(_))
        ));
    }

    #[test]
    fn group_settings_use_kafka_names() {
        let mut config = BrokerConfig::default();
        assert_eq!(config.group.initial_rebalance_delay_ms, 3000);
        assert_eq!(config.group.offsets_topic_num_partitions, 1);
        config.set("group.initial.rebalance.delay.ms=0").unwrap();
        config.set("offsets.retention.minutes=2").unwrap();
        config.set("group.min.session.timeout.ms=100").unwrap();
        assert_eq!(config.group.initial_rebalance_delay_ms, 0);
        assert_eq!(config.group.offsets_retention_ms, 120_000);
        assert_eq!(config.group.min_session_timeout_ms, 100);
        assert!(config.set("offsets.topic.num.partitions=0").is_err());
    }

    #[test]
    fn advertised_listeners_and_transaction_settings() {
        let mut config = BrokerConfig::default();
        config
            .set("advertised.listeners=PLAINTEXT://broker.example:19092")
            .unwrap();
        let client = config.cluster.listeners[0].clone();
        assert_eq!(
            config.advertised_endpoint(&client),
            ("broker.example".to_string(), 19092)
        );
        config.set("advertised.listeners=10.0.0.1:9093").unwrap();
        assert_eq!(
            config.advertised_endpoint(&client),
            ("10.0.0.1".to_string(), 9093)
        );
        config
            .set("advertised.listeners=PLAINTEXT://a:1,SSL://b:2")
            .unwrap();
        assert!(config
            .validate()
            .unwrap_err()
            .to_string()
            .contains("SSL is not among the listeners"));
        assert!(config
            .set("advertised.listeners=PLAINTEXT://nohost")
            .is_err());
        config.set("transaction.max.timeout.ms=5000").unwrap();
        assert_eq!(config.txn.max_timeout_ms, 5000);
        assert!(config
            .set("transaction.state.log.num.partitions=0")
            .is_err());
    }

    #[test]
    fn kafkas_inert_settings_are_kept_and_security_refused() {
        let mut config = BrokerConfig::default();
        config.set("num.network.threads=3").unwrap();
        config.set("socket.send.buffer.bytes=102400").unwrap();
        assert_eq!(
            config.inert_settings(),
            ["num.network.threads", "socket.send.buffer.bytes"]
        );
        assert!(matches!(
            config.set("num.network.threads=0"),
            Err(ConfigError::InvalidValue { .. })
        ));
        assert!(config.set("ssl.keystore.location=/k").is_err());
        assert!(config.set("sasl.enabled.mechanisms=PLAIN").is_err());
        assert!(config.set("security.inter.broker.protocol=SSL").is_err());
        config
            .set("security.inter.broker.protocol=PLAINTEXT")
            .unwrap();
    }

    #[test]
    fn kafkas_own_server_properties_starts_a_node() {
        // The KRaft combined-mode example Kafka 4 ships, comments dropped.
        let text = "process.roles=broker,controller\nnode.id=1\ncontroller.quorum.bootstrap.servers=localhost:9093\nlisteners=PLAINTEXT://:9092,CONTROLLER://:9093\ninter.broker.listener.name=PLAINTEXT\nadvertised.listeners=PLAINTEXT://localhost:9092,CONTROLLER://localhost:9093\ncontroller.listener.names=CONTROLLER\nlistener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL\nnum.network.threads=3\nnum.io.threads=8\nsocket.send.buffer.bytes=102400\nsocket.receive.buffer.bytes=102400\nsocket.request.max.bytes=104857600\nlog.dirs=/tmp/kraft-combined-logs\nnum.partitions=1\nnum.recovery.threads.per.data.dir=1\noffsets.topic.replication.factor=1\nshare.coordinator.state.topic.replication.factor=1\nshare.coordinator.state.topic.min.isr=1\ntransaction.state.log.replication.factor=1\ntransaction.state.log.min.isr=1\nlog.retention.hours=168\nlog.segment.bytes=1073741824\nlog.retention.check.interval.ms=300000\n";
        let mut config = BrokerConfig::default();
        config
            .apply_file(std::path::Path::new("server.properties"), text)
            .unwrap();
        config.validate().unwrap();
        assert_eq!(config.node_id, 1);
        let mut undetected = BrokerConfig::default();
        undetected
            .apply_file(std::path::Path::new("kafka.conf"), text)
            .unwrap();
        assert_eq!(undetected.cluster, config.cluster);
        let mut toml = BrokerConfig::default();
        toml.apply_file(std::path::Path::new("odradek.conf"), "num.partitions = 4\n")
            .unwrap();
        assert_eq!(toml.num_partitions, 4);
    }

    #[test]
    fn toml_files_use_kafka_names_flat_or_nested() {
        let mut config = BrokerConfig::default();
        config
            .apply_toml("num.partitions = 3\nauto.create.topics.enable = false\n\"log.retention.ms\" = 1000\n[log.segment]\nbytes = 4096\n")
            .unwrap();
        assert_eq!(config.num_partitions, 3);
        assert_eq!(config.log.retention_ms, 1000);
        assert_eq!(config.log.segment_bytes, 4096);
        assert!(!config.auto_create_topics);
        let mut config = BrokerConfig::default();
        assert_eq!(
            config.apply_toml("no.such = 1"),
            Err(ConfigError::UnknownName("no.such".into()))
        );
        assert!(matches!(
            config.apply_toml("num.partitions = "),
            Err(ConfigError::Malformed(_))
        ));
    }
}
