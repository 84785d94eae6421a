//! The node's place in a cluster, by Kafka's KRaft names: the roles it
//! plays, the metadata quorum's voters, its listeners and racks, and the
//! replication defaults the controller places partitions with.
//!
//! With none of these set, a node is a broker and the only voter of its own
//! quorum: the single-node default, on the same code path as a cluster.

use super::{invalid, parse_number, ConfigError};
use std::collections::BTreeMap;

/// `process.roles`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Roles {
    pub broker: bool,
    pub controller: bool,
}

/// One `controller.quorum.voters` entry: `id@host:port`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Voter {
    pub id: i32,
    pub host: String,
    pub port: u16,
}

/// One `listeners` / `advertised.listeners` entry: `NAME://host:port`.
/// An empty host binds every interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listener {
    pub name: String,
    pub host: String,
    pub port: u16,
}

/// `listener.security.protocol.map` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SecurityProtocol {
    Plaintext,
    Ssl,
    SaslPlaintext,
    SaslSsl,
}

impl SecurityProtocol {
    fn parse(text: &str) -> Option<SecurityProtocol> {
        Some(match text.trim().to_ascii_uppercase().as_str() {
            "PLAINTEXT" => SecurityProtocol::Plaintext,
            "SSL" => SecurityProtocol::Ssl,
            "SASL_PLAINTEXT" => SecurityProtocol::SaslPlaintext,
            "SASL_SSL" => SecurityProtocol::SaslSsl,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            SecurityProtocol::Plaintext => "PLAINTEXT",
            SecurityProtocol::Ssl => "SSL",
            SecurityProtocol::SaslPlaintext => "SASL_PLAINTEXT",
            SecurityProtocol::SaslSsl => "SASL_SSL",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterConfig {
    pub roles: Roles,
    /// `controller.quorum.voters`; empty: this node alone (see module doc).
    pub voters: Vec<Voter>,
    /// `controller.quorum.bootstrap.servers`: where a node finds the quorum.
    pub bootstrap_servers: Vec<(String, u16)>,
    pub listeners: Vec<Listener>,
    /// `advertised.listeners`, by listener name.
    pub advertised: BTreeMap<String, (String, u16)>,
    /// `listener.security.protocol.map`; `None`: Kafka's default map.
    pub security_protocols: Option<BTreeMap<String, SecurityProtocol>>,
    pub controller_listener_names: Vec<String>,
    pub inter_broker_listener_name: Option<String>,
    /// `broker.rack`
    pub rack: Option<String>,
    pub default_replication_factor: i16,
    pub offsets_topic_replication_factor: i16,
    pub txn_state_log_replication_factor: i16,
    pub txn_state_log_min_isr: i32,
    pub broker_heartbeat_interval_ms: u64,
    pub broker_session_timeout_ms: u64,
    /// `replica.lag.time.max.ms`: an in-sync follower not caught up for
    /// this long leaves the ISR.
    pub replica_lag_time_max_ms: u64,
    /// `replica.high.watermark.checkpoint.interval.ms`: how often the high
    /// watermarks are checkpointed for a restart.
    pub hw_checkpoint_interval_ms: u64,
    /// `auto.leader.rebalance.enable`: preferred replicas lead again once
    /// back in sync, checked every `leader.imbalance.check.interval.seconds`.
    pub auto_leader_rebalance: bool,
    pub leader_imbalance_check_interval_s: u64,
    pub balancer: BalancerConfig,
}

/// The balancer in the controller: Odradek's own settings, named
/// `odradek.balancer.*` so no one takes them for Kafka's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BalancerConfig {
    /// `odradek.balancer.enable`: plan and start moves on its own.
    pub enable: bool,
    /// `odradek.balancer.interval.ms`: how often it plans.
    pub interval_ms: u64,
    /// `odradek.balancer.replace.after.ms`: a broker fenced this long has
    /// its replicas copied anew elsewhere.
    pub replace_after_ms: u64,
    /// `odradek.balancer.max.moves.per.broker`: moves a broker takes part
    /// in at once.
    pub max_moves_per_broker: usize,
    /// `odradek.balancer.max.disk.percent`: the share of a broker's disk
    /// its replicas may fill.
    pub max_disk_percent: u8,
}

impl Default for BalancerConfig {
    fn default() -> Self {
        BalancerConfig {
            enable: false,
            interval_ms: 30_000,
            replace_after_ms: 30 * 60_000,
            max_moves_per_broker: 2,
            max_disk_percent: 85,
        }
    }
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            roles: Roles {
                broker: true,
                controller: true,
            },
            voters: Vec::new(),
            bootstrap_servers: Vec::new(),
            listeners: vec![Listener {
                name: "PLAINTEXT".into(),
                host: "127.0.0.1".into(),
                port: 9092,
            }],
            advertised: BTreeMap::new(),
            security_protocols: None,
            controller_listener_names: Vec::new(),
            inter_broker_listener_name: None,
            rack: None,
            default_replication_factor: 1,
            offsets_topic_replication_factor: 1,
            txn_state_log_replication_factor: 1,
            txn_state_log_min_isr: 1,
            broker_heartbeat_interval_ms: 2000,
            broker_session_timeout_ms: 9000,
            replica_lag_time_max_ms: 30_000,
            hw_checkpoint_interval_ms: 5_000,
            auto_leader_rebalance: true,
            leader_imbalance_check_interval_s: 300,
            balancer: BalancerConfig::default(),
        }
    }
}

fn split_list(value: &str) -> impl Iterator<Item = &str> {
    value.split(',').map(str::trim).filter(|s| !s.is_empty())
}

/// `host:port` or `[v6]:port`; the host may be empty (`:9092`).
fn host_port(text: &str) -> Option<(String, u16)> {
    let (host, port) = text.trim().rsplit_once(':')?;
    Some((
        host.trim_matches(['[', ']']).to_string(),
        port.parse().ok()?,
    ))
}

fn parse_listeners(name: &str, value: &str) -> Result<Vec<Listener>, ConfigError> {
    let mut out: Vec<Listener> = Vec::new();
    for entry in split_list(value) {
        let (listener, address) = entry
            .split_once("://")
            .ok_or_else(|| invalid(name, value, "expected NAME://HOST:PORT entries"))?;
        let (host, port) = host_port(address)
            .ok_or_else(|| invalid(name, value, &format!("'{entry}' has no valid port")))?;
        let listener = listener.trim().to_ascii_uppercase();
        if listener.is_empty() || out.iter().any(|l| l.name == listener) {
            return Err(invalid(name, value, "each listener needs a distinct name"));
        }
        out.push(Listener {
            name: listener,
            host,
            port,
        });
    }
    Ok(out)
}

fn parse_voters(name: &str, value: &str) -> Result<Vec<Voter>, ConfigError> {
    let mut voters: Vec<Voter> = Vec::new();
    for entry in split_list(value) {
        let (id, address) = entry
            .split_once('@')
            .ok_or_else(|| invalid(name, value, "expected ID@HOST:PORT entries"))?;
        let id: i32 = parse_number(name, id)?;
        let (host, port) = host_port(address)
            .filter(|(h, _)| !h.is_empty())
            .ok_or_else(|| invalid(name, value, &format!("'{entry}' is not ID@HOST:PORT")))?;
        if id < 0 {
            return Err(invalid(name, value, "voter ids are not negative"));
        }
        if voters.iter().any(|v| v.id == id) {
            return Err(invalid(name, value, &format!("node {id} is listed twice")));
        }
        voters.push(Voter { id, host, port });
    }
    Ok(voters)
}

fn at_least_one<T: TryFrom<i64> + Default>(name: &str, value: &str) -> Result<T, ConfigError> {
    let n: i64 = parse_number(name, value)?;
    if n < 1 {
        return Err(invalid(name, value, "must be at least 1"));
    }
    T::try_from(n).map_err(|_| invalid(name, value, "out of range"))
}

fn boolean(name: &str, value: &str) -> Result<bool, ConfigError> {
    match value.trim() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(invalid(name, value, "must be true or false")),
    }
}

impl ClusterConfig {
    /// Applies one setting if it is a cluster setting; `Ok(false)` if it is not.
    pub fn set(&mut self, name: &str, value: &str) -> Result<bool, ConfigError> {
        match name {
            "process.roles" => {
                let mut roles = Roles {
                    broker: false,
                    controller: false,
                };
                for role in split_list(value) {
                    match role {
                        "broker" => roles.broker = true,
                        "controller" => roles.controller = true,
                        _ => return Err(invalid(name, value, "roles are broker and controller")),
                    }
                }
                if !roles.broker && !roles.controller {
                    return Err(invalid(name, value, "name broker, controller or both"));
                }
                self.roles = roles;
            }
            "controller.quorum.voters" => self.voters = parse_voters(name, value)?,
            "controller.quorum.bootstrap.servers" => {
                self.bootstrap_servers = split_list(value)
                    .map(|s| host_port(s).filter(|(h, _)| !h.is_empty()))
                    .collect::<Option<_>>()
                    .ok_or_else(|| invalid(name, value, "expected HOST:PORT entries"))?;
            }
            "listeners" => {
                self.listeners = parse_listeners(name, value)?;
                if self.listeners.is_empty() {
                    return Err(invalid(name, value, "name at least one listener"));
                }
            }
            "advertised.listeners" => {
                // Kafka's old form without a name advertises the PLAINTEXT listener.
                let named = if value.contains("://") {
                    value.to_string()
                } else {
                    format!("PLAINTEXT://{}", value.trim())
                };
                let mut advertised = BTreeMap::new();
                for l in parse_listeners(name, &named)? {
                    if l.host.is_empty() {
                        return Err(invalid(name, value, "an advertised listener needs a host"));
                    }
                    advertised.insert(l.name, (l.host, l.port));
                }
                self.advertised = advertised;
            }
            "listener.security.protocol.map" => {
                let mut map = BTreeMap::new();
                for entry in split_list(value) {
                    let protocol = entry
                        .split_once(':')
                        .and_then(|(l, p)| {
                            Some((l.trim().to_ascii_uppercase(), SecurityProtocol::parse(p)?))
                        })
                        .ok_or_else(|| invalid(name, value, "expected NAME:PROTOCOL entries"))?;
                    map.insert(protocol.0, protocol.1);
                }
                self.security_protocols = Some(map);
            }
            "controller.listener.names" => {
                self.controller_listener_names =
                    split_list(value).map(str::to_ascii_uppercase).collect();
            }
            "inter.broker.listener.name" => {
                self.inter_broker_listener_name = Some(value.trim().to_ascii_uppercase())
            }
            "broker.rack" => self.rack = Some(value.trim().to_string()).filter(|r| !r.is_empty()),
            "default.replication.factor" => {
                self.default_replication_factor = at_least_one(name, value)?
            }
            "offsets.topic.replication.factor" => {
                self.offsets_topic_replication_factor = at_least_one(name, value)?
            }
            "transaction.state.log.replication.factor" => {
                self.txn_state_log_replication_factor = at_least_one(name, value)?
            }
            "transaction.state.log.min.isr" => {
                self.txn_state_log_min_isr = at_least_one(name, value)?
            }
            "broker.heartbeat.interval.ms" => {
                self.broker_heartbeat_interval_ms = at_least_one(name, value)?
            }
            "broker.session.timeout.ms" => {
                self.broker_session_timeout_ms = at_least_one(name, value)?
            }
            "replica.lag.time.max.ms" => self.replica_lag_time_max_ms = at_least_one(name, value)?,
            "replica.high.watermark.checkpoint.interval.ms" => {
                self.hw_checkpoint_interval_ms = at_least_one(name, value)?
            }
            "auto.leader.rebalance.enable" => self.auto_leader_rebalance = boolean(name, value)?,
            "odradek.balancer.enable" => self.balancer.enable = boolean(name, value)?,
            "odradek.balancer.interval.ms" => {
                self.balancer.interval_ms = at_least_one(name, value)?
            }
            "odradek.balancer.replace.after.ms" => {
                self.balancer.replace_after_ms = at_least_one(name, value)?
            }
            "odradek.balancer.max.moves.per.broker" => {
                self.balancer.max_moves_per_broker = at_least_one(name, value)?
            }
            "odradek.balancer.max.disk.percent" => {
                let percent: u8 = at_least_one(name, value)?;
                if percent > 100 {
                    return Err(invalid(name, value, "must be at most 100"));
                }
                self.balancer.max_disk_percent = percent;
            }
            "leader.imbalance.check.interval.seconds" => {
                self.leader_imbalance_check_interval_s = at_least_one(name, value)?
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// The protocol a listener speaks: the map's entry, or Kafka's default
    /// (a listener named after a protocol speaks it; controller listeners
    /// speak PLAINTEXT when no map is given).
    pub fn security_protocol(&self, listener: &str) -> Option<SecurityProtocol> {
        match &self.security_protocols {
            Some(map) => map.get(listener).copied(),
            None => SecurityProtocol::parse(listener).or_else(|| {
                self.controller_listener_names
                    .iter()
                    .any(|c| c == listener)
                    .then_some(SecurityProtocol::Plaintext)
            }),
        }
    }

    pub fn is_controller_listener(&self, name: &str) -> bool {
        self.controller_listener_names.iter().any(|c| c == name)
    }

    /// Listeners that serve clients and other brokers (every listener that
    /// is not a controller listener).
    pub fn client_listeners(&self) -> impl Iterator<Item = &Listener> {
        self.listeners
            .iter()
            .filter(|l| !self.is_controller_listener(&l.name))
    }

    /// The listener other brokers reach this one on.
    pub fn inter_broker_listener(&self) -> Option<&Listener> {
        match &self.inter_broker_listener_name {
            Some(name) => self.listeners.iter().find(|l| &l.name == name),
            None => self.client_listeners().next(),
        }
    }

    /// Each voter's id and `host:port`, as the quorum addresses them.
    pub fn voter_addresses(&self) -> BTreeMap<i32, String> {
        self.voters
            .iter()
            .map(|v| (v.id, format!("{}:{}", v.host, v.port)))
            .collect()
    }

    /// This node, alone: no voters and no bootstrap servers configured.
    pub fn is_standalone(&self) -> bool {
        self.voters.is_empty() && self.bootstrap_servers.is_empty()
    }

    /// Checks the settings against each other once all are applied. Each
    /// error says what to change.
    pub fn validate(&self, node_id: i32) -> Result<(), ConfigError> {
        let bad = |name: &str, reason: String| {
            Err(ConfigError::Inconsistent {
                name: name.into(),
                reason,
            })
        };
        if node_id < 0 {
            return bad(
                "node.id",
                format!("{node_id} is negative; give each node an id of 0 or more"),
            );
        }
        for l in &self.listeners {
            match self.security_protocol(&l.name) {
                None => {
                    return bad(
                        "listener.security.protocol.map",
                        format!(
                            "listener {} has no security protocol; add {}:PLAINTEXT",
                            l.name, l.name
                        ),
                    )
                }
                Some(SecurityProtocol::Plaintext) => {}
                Some(p) => {
                    return bad(
                        "listener.security.protocol.map",
                        format!(
                        "listener {} uses {}, which this version does not serve yet; use PLAINTEXT",
                        l.name,
                        p.name()
                    ),
                    )
                }
            }
        }
        if let Some(port) = self.listeners.iter().enumerate().find_map(|(i, l)| {
            (l.port != 0 && self.listeners[..i].iter().any(|o| o.port == l.port)).then_some(l.port)
        }) {
            return bad("listeners", format!("port {port} is used by two listeners"));
        }
        for name in self.advertised.keys() {
            if !self.listeners.iter().any(|l| &l.name == name) {
                return bad(
                    "advertised.listeners",
                    format!("{name} is not among the listeners"),
                );
            }
        }
        for name in &self.controller_listener_names {
            if self.roles.controller && !self.listeners.iter().any(|l| &l.name == name) {
                return bad(
                    "controller.listener.names",
                    format!("{name} is not among the listeners"),
                );
            }
        }
        if let Some(name) = &self.inter_broker_listener_name {
            if self.is_controller_listener(name) || !self.listeners.iter().any(|l| &l.name == name)
            {
                return bad(
                    "inter.broker.listener.name",
                    format!("{name} is not a broker listener among the listeners"),
                );
            }
        }
        if self.roles.broker && self.client_listeners().next().is_none() {
            return bad(
                "listeners",
                "a broker needs a listener that is not a controller listener".into(),
            );
        }
        if !self.roles.broker {
            if let Some(l) = self.client_listeners().next() {
                return bad(
                    "listeners",
                    format!("a node with the controller role only serves no clients: drop {}, or add the broker role", l.name),
                );
            }
        }
        if !self.roles.controller && !self.is_standalone() && self.voters.is_empty() {
            return bad(
                "controller.quorum.voters",
                "a broker that does not vote finds the quorum through controller.quorum.voters (ID@HOST:PORT of every voter); controller.quorum.bootstrap.servers alone is not served yet".into(),
            );
        }
        self.validate_quorum(node_id)?;
        if self.broker_heartbeat_interval_ms >= self.broker_session_timeout_ms {
            return bad(
                "broker.heartbeat.interval.ms",
                format!(
                    "{} is not below broker.session.timeout.ms ({})",
                    self.broker_heartbeat_interval_ms, self.broker_session_timeout_ms
                ),
            );
        }
        Ok(())
    }

    fn validate_quorum(&self, node_id: i32) -> Result<(), ConfigError> {
        let bad = |name: &str, reason: String| {
            Err(ConfigError::Inconsistent {
                name: name.into(),
                reason,
            })
        };
        if self.is_standalone() {
            return if self.roles.controller && self.roles.broker {
                Ok(())
            } else {
                bad(
                    "controller.quorum.voters",
                    "a node with one role needs the quorum: set controller.quorum.voters".into(),
                )
            };
        }
        let voting = self.voters.iter().any(|v| v.id == node_id);
        if self.voters.is_empty() {
            // KIP-853's dynamic quorum, formed by `kafka-storage format
            // --standalone`: served when this node is the one bootstrap server.
            let standalone = self.roles.controller
                && self.bootstrap_servers.len() == 1
                && self.controller_listener_names.first().is_some_and(|c| {
                    self.listeners
                        .iter()
                        .any(|l| &l.name == c && l.port == self.bootstrap_servers[0].1)
                });
            if self.roles.controller && !standalone {
                return bad(
                    "controller.quorum.voters",
                    "a quorum of several controllers is formed from controller.quorum.voters; list every voter as ID@HOST:PORT".into(),
                );
            }
        } else if self.roles.controller && !voting {
            return bad(
                "controller.quorum.voters",
                format!("node {node_id} has the controller role but is not among the voters; add {node_id}@HOST:PORT or drop the role"),
            );
        } else if !self.roles.controller && voting {
            return bad(
                "controller.quorum.voters",
                format!("node {node_id} is a voter but process.roles lacks controller"),
            );
        }
        if self.roles.controller && self.controller_listener_names.is_empty() {
            return bad(
                "controller.listener.names",
                "a controller in a quorum needs a controller listener, e.g. CONTROLLER with listeners=...,CONTROLLER://:9093".into(),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn configured(settings: &[&str]) -> Result<ClusterConfig, ConfigError> {
        let mut c = ClusterConfig::default();
        for s in settings {
            let (n, v) = s.split_once('=').expect("name=value");
            assert!(c.set(n, v)?, "{n} is a cluster setting");
        }
        Ok(c)
    }

    #[test]
    fn the_default_is_one_node_playing_both_roles() {
        let c = ClusterConfig::default();
        assert!(c.is_standalone());
        assert_eq!(c.validate(0), Ok(()));
        assert_eq!(c.inter_broker_listener().map(|l| l.port), Some(9092));
    }

    #[test]
    fn a_three_voter_combined_node_parses_kafkas_names() {
        let c = configured(&[
            "process.roles=broker,controller",
            "controller.quorum.voters=1@a:9093, 2@b:9093,3@[::1]:9093",
            "listeners=PLAINTEXT://:9092,CONTROLLER://:9093",
            "advertised.listeners=PLAINTEXT://a:9092",
            "controller.listener.names=CONTROLLER",
            "inter.broker.listener.name=PLAINTEXT",
            "broker.rack=r1",
        ])
        .unwrap();
        assert_eq!(c.validate(1), Ok(()));
        assert_eq!(
            c.voters[2],
            Voter {
                id: 3,
                host: "::1".into(),
                port: 9093
            }
        );
        assert_eq!(c.client_listeners().count(), 1);
        assert_eq!(
            c.security_protocol("CONTROLLER"),
            Some(SecurityProtocol::Plaintext)
        );
        assert_eq!(c.advertised["PLAINTEXT"], ("a".to_string(), 9092));
        assert_eq!(c.rack.as_deref(), Some("r1"));
    }

    #[test]
    fn inconsistent_quorums_say_what_to_fix() {
        let base = [
            "controller.quorum.voters=1@a:9093,2@b:9093,3@c:9093",
            "listeners=PLAINTEXT://:9092,CONTROLLER://:9093",
            "controller.listener.names=CONTROLLER",
        ];
        let c = configured(&base).unwrap();
        let err = c.validate(4).unwrap_err().to_string();
        assert!(err.contains("not among the voters"), "{err}");
        let controller_only = [
            "controller.quorum.voters=1@a:9093",
            "process.roles=controller",
            "controller.listener.names=CONTROLLER",
        ];
        let mut serving = controller_only.to_vec();
        serving.push("listeners=PLAINTEXT://:9092,CONTROLLER://:9093");
        let err = configured(&serving)
            .unwrap()
            .validate(1)
            .unwrap_err()
            .to_string();
        assert!(err.contains("serves no clients"), "{err}");
        let mut quiet = controller_only.to_vec();
        quiet.push("listeners=CONTROLLER://:9093");
        assert!(configured(&quiet).unwrap().validate(1).is_ok());
        let bootstrap_only = configured(&[
            "process.roles=broker",
            "controller.quorum.bootstrap.servers=a:9093",
        ])
        .unwrap();
        let err = bootstrap_only.validate(4).unwrap_err().to_string();
        assert!(err.contains("controller.quorum.voters"), "{err}");
        let mut broker_only = base.to_vec();
        broker_only.push("process.roles=broker");
        assert!(configured(&broker_only).unwrap().validate(4).is_ok());
        assert!(configured(&broker_only)
            .unwrap()
            .validate(2)
            .unwrap_err()
            .to_string()
            .contains("lacks controller"));
        assert!(matches!(
            configured(&["controller.quorum.voters=1@a:1,1@b:2"]),
            Err(ConfigError::InvalidValue { .. })
        ));
        let no_listener = configured(&["controller.quorum.voters=1@a:9093"]).unwrap();
        assert!(no_listener
            .validate(1)
            .unwrap_err()
            .to_string()
            .contains("controller.listener.names"));
        assert!(configured(&["process.roles=broker"])
            .unwrap()
            .validate(0)
            .is_err());
    }

    #[test]
    fn kafkas_default_server_properties_form_a_standalone_quorum() {
        let c = configured(&[
            "process.roles=broker,controller",
            "controller.quorum.bootstrap.servers=localhost:9093",
            "listeners=PLAINTEXT://:9092,CONTROLLER://:9093",
            "advertised.listeners=PLAINTEXT://localhost:9092,CONTROLLER://localhost:9093",
            "controller.listener.names=CONTROLLER",
            "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL",
        ])
        .unwrap();
        assert_eq!(c.validate(1), Ok(()));
        let two = configured(&["controller.quorum.bootstrap.servers=a:9093,b:9093"]).unwrap();
        assert!(two.validate(1).is_err());
    }

    #[test]
    fn listeners_refuse_what_is_not_served() {
        let c = configured(&["listeners=SSL://:9093"]).unwrap();
        assert!(c.validate(0).unwrap_err().to_string().contains("SSL"));
        let c = configured(&["listeners=EXTERNAL://:9093"]).unwrap();
        assert!(c
            .validate(0)
            .unwrap_err()
            .to_string()
            .contains("EXTERNAL:PLAINTEXT"));
        assert!(configured(&["listeners=A://:1,A://:2"]).is_err());
        let c = configured(&[
            "listeners=A://:1,B://:1",
            "listener.security.protocol.map=A:PLAINTEXT,B:PLAINTEXT",
        ])
        .unwrap();
        assert!(c
            .validate(0)
            .unwrap_err()
            .to_string()
            .contains("two listeners"));
        let c = configured(&["broker.heartbeat.interval.ms=9000"]).unwrap();
        assert!(c.validate(0).is_err());
    }
}
