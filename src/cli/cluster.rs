//! `odradek cluster ...`: the brokers and what they hold (describe), the
//! balancer's plan and its execution (rebalance), and emptying a broker
//! before it is stopped (drain).
//!
//! The planner is the one the controller runs (`cluster::balancer`), fed
//! from the wire: Metadata, DescribeLogDirs and ListPartitionReassignments.
//! Moves go through AlterPartitionReassignments, so they show in
//! ListPartitionReassignments and Kafka's own tools can follow or cancel
//! them.

use super::client::{expect_response, Cluster};
use super::errors::{describe_error, CliError};
use super::output::{outln, Json, Table};
use crate::cluster::balancer::{self, BrokerView, Goals, Move, PartitionView, Reason, View};
use crate::protocol::messages::alter_partition_reassignments_request::{
    ReassignablePartition, ReassignableTopic,
};
use crate::protocol::messages::elect_leaders_request::TopicPartitions;
use crate::protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use crate::protocol::messages::{
    AlterPartitionReassignmentsRequest, ApiKey, DescribeLogDirsRequest, ElectLeadersRequest,
    IncrementalAlterConfigsRequest, ListPartitionReassignmentsRequest, RequestBody,
};
use clap::Subcommand;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

const TIMEOUT_MS: i32 = 30_000;
const RESOURCE_TOPIC: i8 = 2;
const RESOURCE_BROKER: i8 = 4;
const OP_SET: i8 = 0;
const OP_DELETE: i8 = 1;
const PREFERRED_ELECTION: i8 = 0;
const ELECTION_NOT_NEEDED: i16 = 84;
const LEADER_RATE: &str = "leader.replication.throttled.rate";
const LEADER_REPLICAS: &str = "leader.replication.throttled.replicas";
/// How often progress is asked for while waiting on moves.
const POLL: Duration = Duration::from_millis(500);

#[derive(Subcommand, Debug)]
pub enum ClusterAction {
    /// Brokers, racks, replicas, leaders and bytes on disk.
    Describe,
    /// The balancer's plan: moves that spread replicas, leaders and bytes
    /// evenly (a dry run unless --execute).
    Rebalance {
        #[command(flatten)]
        limits: Limits,
        #[command(flatten)]
        run: Execution,
        /// Start the planned moves.
        #[arg(long)]
        execute: bool,
        /// With --execute: plan and move again until the plan is empty.
        #[arg(long, requires = "execute")]
        wait: bool,
        /// List the reassignments under way.
        #[arg(long, conflicts_with_all = ["execute", "cancel"])]
        status: bool,
        /// Cancel every reassignment under way.
        #[arg(long, conflicts_with = "execute")]
        cancel: bool,
    },
    /// Move every replica off BROKER, waiting until it holds none; then it
    /// can be stopped.
    Drain {
        broker: i32,
        #[command(flatten)]
        limits: Limits,
        #[command(flatten)]
        run: Execution,
    },
}

#[derive(clap::Args, Debug, Clone)]
pub struct Limits {
    /// Moves per plan.
    #[arg(long, default_value_t = 64)]
    pub max_moves: usize,
    /// Moves a broker takes part in at once, those under way included.
    #[arg(long, default_value_t = 2)]
    pub max_moves_per_broker: usize,
    /// The highest share of a broker's disk its replicas may fill, in percent.
    #[arg(long, default_value_t = 85)]
    pub max_disk_percent: u8,
}

#[derive(clap::Args, Debug, Clone)]
pub struct Execution {
    /// Replication throttle for the moves, in bytes per second per broker
    /// (set on the brokers and the moved topics, removed once they end).
    #[arg(long, value_name = "BYTES")]
    pub throttle: Option<u64>,
    /// Give up waiting for moves after this many seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 600)]
    pub timeout: u64,
}

impl Limits {
    fn goals(&self, drain: BTreeSet<i32>) -> Goals {
        Goals {
            drain,
            gone: BTreeSet::new(),
            max_disk_fraction: f64::from(self.max_disk_percent.min(100)) / 100.0,
            max_moves: self.max_moves.max(1),
            max_moves_per_broker: self.max_moves_per_broker.max(1),
        }
    }
}

pub async fn run(cluster: &mut Cluster, action: ClusterAction, json: bool) -> Result<(), CliError> {
    match action {
        ClusterAction::Describe => describe(cluster, json).await,
        ClusterAction::Rebalance { status: true, .. } => status(cluster, json).await,
        ClusterAction::Rebalance { cancel: true, .. } => cancel(cluster, json).await,
        ClusterAction::Rebalance {
            limits,
            run,
            execute,
            wait,
            ..
        } => rebalance(cluster, &limits, &run, execute, wait, json).await,
        ClusterAction::Drain {
            broker,
            limits,
            run,
        } => drain(cluster, broker, &limits, &run, json).await,
    }
}

/// A broker as the snapshot knows it (no address: not listed, down).
#[derive(Debug, Clone, Default)]
struct BrokerInfo {
    address: Option<String>,
    rack: Option<String>,
    capacity_bytes: Option<u64>,
}

/// A reassignment under way.
#[derive(Debug, Clone)]
struct Ongoing {
    replicas: Vec<i32>,
    adding: Vec<i32>,
    removing: Vec<i32>,
}

/// What the cluster holds, read over the wire.
struct Snapshot {
    brokers: BTreeMap<i32, BrokerInfo>,
    view: View,
    leaders: BTreeMap<(String, i32), i32>,
    ongoing: BTreeMap<(String, i32), Ongoing>,
}

async fn snapshot(cluster: &mut Cluster) -> Result<Snapshot, CliError> {
    let metadata = cluster.metadata(None).await?;
    let mut brokers: BTreeMap<i32, BrokerInfo> = metadata
        .brokers
        .iter()
        .map(|b| {
            let info = BrokerInfo {
                address: Some(format!("{}:{}", b.host, b.port)),
                rack: b.rack.clone(),
                capacity_bytes: None,
            };
            (b.node_id, info)
        })
        .collect();
    let ongoing = list_reassignments(cluster).await?;
    let sizes = log_dir_sizes(cluster, &mut brokers).await?;
    let mut view = View::default();
    let mut leaders = BTreeMap::new();
    for topic in &metadata.topics {
        let name = topic.name.clone().unwrap_or_default();
        for p in &topic.partitions {
            let key = (name.clone(), p.partition_index);
            leaders.insert(key.clone(), p.leader_id);
            let moving = ongoing
                .get(&key)
                .map(|o| o.adding.iter().chain(&o.removing).copied().collect())
                .unwrap_or_default();
            view.partitions.push(PartitionView {
                topic: name.clone(),
                partition: p.partition_index,
                replicas: p.replica_nodes.clone(),
                size_bytes: sizes.get(&key).copied().unwrap_or(0),
                bytes_in: 0.0,
                bytes_out: 0.0,
                moving,
            });
        }
    }
    view.partitions
        .sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
    view.brokers = brokers
        .iter()
        .map(|(id, b)| {
            let broker = BrokerView {
                id: *id,
                rack: b.rack.clone(),
                usable: true,
                capacity_bytes: b.capacity_bytes,
            };
            (*id, broker)
        })
        .collect();
    // Brokers that hold replicas but are not listed are down: no home.
    view.add_unlisted_brokers();
    for id in view.brokers.keys() {
        brokers.entry(*id).or_default();
    }
    Ok(Snapshot {
        brokers,
        view,
        leaders,
        ongoing,
    })
}

async fn list_reassignments(
    cluster: &mut Cluster,
) -> Result<BTreeMap<(String, i32), Ongoing>, CliError> {
    let conn = &mut cluster.bootstrap;
    let version = conn.version(ApiKey::ListPartitionReassignments, 0)?;
    let request = ListPartitionReassignmentsRequest {
        timeout_ms: TIMEOUT_MS,
        topics: None,
    };
    let response = expect_response!(
        conn.send(version, RequestBody::ListPartitionReassignments(request))
            .await?,
        ListPartitionReassignments
    );
    if response.error_code != 0 {
        return Err(CliError::kafka(
            "listing reassignments",
            response.error_code,
            response.error_message.as_deref(),
        ));
    }
    let mut ongoing = BTreeMap::new();
    for topic in response.topics {
        for p in topic.partitions {
            let value = Ongoing {
                replicas: p.replicas,
                adding: p.adding_replicas,
                removing: p.removing_replicas,
            };
            ongoing.insert((topic.name.clone(), p.partition_index), value);
        }
    }
    Ok(ongoing)
}

/// Each partition's size (its largest copy) and each broker's disk, from
/// DescribeLogDirs asked of every listed broker.
async fn log_dir_sizes(
    cluster: &mut Cluster,
    brokers: &mut BTreeMap<i32, BrokerInfo>,
) -> Result<BTreeMap<(String, i32), u64>, CliError> {
    let mut sizes: BTreeMap<(String, i32), u64> = BTreeMap::new();
    for (id, info) in brokers.iter_mut() {
        let conn = cluster.node(*id).await?;
        let Some(version) = conn.try_version(ApiKey::DescribeLogDirs, 4) else {
            continue;
        };
        let request = DescribeLogDirsRequest { topics: None };
        let response = expect_response!(
            conn.send(version, RequestBody::DescribeLogDirs(request))
                .await?,
            DescribeLogDirs
        );
        let mut capacity = 0u64;
        for dir in response.results.iter().filter(|d| d.error_code == 0) {
            capacity += u64::try_from(dir.total_bytes).unwrap_or(0);
            for topic in &dir.topics {
                for p in &topic.partitions {
                    let size = u64::try_from(p.partition_size).unwrap_or(0);
                    let entry = sizes
                        .entry((topic.name.clone(), p.partition_index))
                        .or_default();
                    *entry = (*entry).max(size);
                }
            }
        }
        info.capacity_bytes = (capacity > 0).then_some(capacity);
    }
    Ok(sizes)
}

async fn describe(cluster: &mut Cluster, json: bool) -> Result<(), CliError> {
    let snap = snapshot(cluster).await?;
    let mut rows = Vec::new();
    for (id, info) in &snap.brokers {
        let held: Vec<&PartitionView> = snap
            .view
            .partitions
            .iter()
            .filter(|p| p.replicas.contains(id))
            .collect();
        let leading = snap.leaders.values().filter(|l| **l == *id).count();
        let preferred = held
            .iter()
            .filter(|p| p.replicas.first() == Some(id))
            .count();
        let bytes: u64 = held.iter().map(|p| p.size_bytes).sum();
        let moving = snap
            .view
            .partitions
            .iter()
            .filter(|p| p.moving.contains(id))
            .count();
        rows.push((*id, info, held.len(), leading, preferred, bytes, moving));
    }
    if json {
        let items: Vec<Json> = rows
            .iter()
            .map(|(id, info, replicas, leading, preferred, bytes, moving)| {
                Json::obj([
                    ("broker", Json::from(*id)),
                    ("address", Json::from(info.address.clone())),
                    ("rack", Json::from(info.rack.clone())),
                    ("replicas", Json::from(*replicas)),
                    ("leaders", Json::from(*leading)),
                    ("preferred_leaders", Json::from(*preferred)),
                    (
                        "bytes",
                        Json::from(i64::try_from(*bytes).unwrap_or(i64::MAX)),
                    ),
                    (
                        "disk_bytes",
                        Json::from(info.capacity_bytes.and_then(|c| i64::try_from(c).ok())),
                    ),
                    ("moving", Json::from(*moving)),
                ])
            })
            .collect();
        outln!("{}", Json::Arr(items));
        return Ok(());
    }
    let mut table = Table::new(&[
        "BROKER",
        "ADDRESS",
        "RACK",
        "REPLICAS",
        "LEADERS",
        "PREFERRED",
        "BYTES",
        "DISK",
        "MOVING",
    ]);
    for (id, info, replicas, leading, preferred, bytes, moving) in &rows {
        table.row(vec![
            id.to_string(),
            info.address.clone().unwrap_or_else(|| "(down)".to_string()),
            info.rack.clone().unwrap_or_else(|| "-".to_string()),
            replicas.to_string(),
            leading.to_string(),
            preferred.to_string(),
            human_bytes(*bytes),
            info.capacity_bytes.map_or("-".to_string(), human_bytes),
            moving.to_string(),
        ]);
    }
    outln!("{}", table.render().trim_end());
    outln!(
        "{} partitions, {} being moved.",
        snap.view.partitions.len(),
        snap.ongoing.len()
    );
    Ok(())
}

fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

fn reason_name(reason: Reason) -> &'static str {
    match reason {
        Reason::Drain => "drain",
        Reason::ReReplicate => "re-replicate",
        Reason::RackSpread => "rack spread",
        Reason::Disk => "disk",
        Reason::Balance => "balance",
        Reason::Leader => "leader",
    }
}

fn print_moves(moves: &[Move], deferred: usize, json: bool) {
    if json {
        let items: Vec<Json> = moves
            .iter()
            .map(|m| {
                Json::obj([
                    ("topic", Json::from(m.topic.as_str())),
                    ("partition", Json::from(m.partition)),
                    ("from", Json::from(m.from.clone())),
                    ("to", Json::from(m.to.clone())),
                    ("reason", Json::from(reason_name(m.reason))),
                ])
            })
            .collect();
        outln!(
            "{}",
            Json::obj([
                ("moves", Json::Arr(items)),
                ("deferred", Json::from(deferred))
            ])
        );
        return;
    }
    if moves.is_empty() {
        outln!("Nothing to move.");
        return;
    }
    let mut table = Table::new(&["TOPIC", "PARTITION", "FROM", "TO", "REASON"]);
    for m in moves {
        table.row(vec![
            m.topic.clone(),
            m.partition.to_string(),
            format!("{:?}", m.from),
            format!("{:?}", m.to),
            reason_name(m.reason).to_string(),
        ]);
    }
    outln!("{}", table.render().trim_end());
    if deferred > 0 {
        outln!("{deferred} more move(s) wait for these to finish.");
    }
}

async fn rebalance(
    cluster: &mut Cluster,
    limits: &Limits,
    run: &Execution,
    execute: bool,
    wait: bool,
    json: bool,
) -> Result<(), CliError> {
    let deadline = Instant::now() + Duration::from_secs(run.timeout);
    loop {
        let snap = snapshot(cluster).await?;
        let plan = balancer::plan(&snap.view, &limits.goals(BTreeSet::new()))
            .map_err(|e| CliError::new(e.to_string()))?;
        print_moves(&plan.moves, plan.deferred, json);
        if !execute || (plan.moves.is_empty() && snap.ongoing.is_empty()) {
            return Ok(());
        }
        let moved = start(cluster, &snap, &plan.moves, run.throttle).await?;
        if !wait {
            return Ok(());
        }
        wait_for(cluster, &moved, deadline).await?;
        if plan.moves.is_empty() {
            // Only moves started by others were under way: plan again.
            continue;
        }
        clear_throttle(cluster, &snap, run.throttle).await?;
    }
}

async fn drain(
    cluster: &mut Cluster,
    broker: i32,
    limits: &Limits,
    run: &Execution,
    json: bool,
) -> Result<(), CliError> {
    let deadline = Instant::now() + Duration::from_secs(run.timeout);
    loop {
        let snap = snapshot(cluster).await?;
        if !snap.brokers.contains_key(&broker) {
            return Err(CliError::new(format!(
                "broker {broker} is not in the cluster"
            )));
        }
        let held = snap
            .view
            .partitions
            .iter()
            .filter(|p| p.replicas.contains(&broker))
            .count();
        if held == 0 {
            if !json {
                outln!("Broker {broker} holds no replicas; it can be stopped.");
            }
            return Ok(());
        }
        let plan = balancer::plan(&snap.view, &limits.goals([broker].into()))
            .map_err(|e| CliError::new(e.to_string()))?;
        let moves: Vec<Move> = plan
            .moves
            .into_iter()
            .filter(|m| m.reason == Reason::Drain)
            .collect();
        print_moves(&moves, plan.deferred, json);
        if moves.is_empty() && snap.ongoing.is_empty() {
            return Err(CliError::new(format!(
                "broker {broker} still holds {held} replica(s), and no move can take them now (disk limits?)"
            )));
        }
        let moved = start(cluster, &snap, &moves, run.throttle).await?;
        wait_for(cluster, &moved, deadline).await?;
        clear_throttle(cluster, &snap, run.throttle).await?;
    }
}

/// Starts `moves` (throttled if asked); the partitions to wait for: these
/// and the ones already being moved.
async fn start(
    cluster: &mut Cluster,
    snap: &Snapshot,
    moves: &[Move],
    throttle: Option<u64>,
) -> Result<BTreeSet<(String, i32)>, CliError> {
    if let Some(rate) = throttle {
        set_throttle(cluster, snap, moves, rate).await?;
    }
    let targets: Vec<(String, i32, Option<Vec<i32>>)> = moves
        .iter()
        .map(|m| (m.topic.clone(), m.partition, Some(m.to.clone())))
        .collect();
    alter_reassignments(cluster, &targets).await?;
    let new_leaders: Vec<(String, i32)> = moves
        .iter()
        .filter(|m| m.reason == Reason::Leader)
        .map(|m| (m.topic.clone(), m.partition))
        .collect();
    if !new_leaders.is_empty() {
        elect_preferred(cluster, &new_leaders).await?;
    }
    let mut waiting: BTreeSet<(String, i32)> = snap.ongoing.keys().cloned().collect();
    waiting.extend(moves.iter().map(|m| (m.topic.clone(), m.partition)));
    Ok(waiting)
}

async fn alter_reassignments(
    cluster: &mut Cluster,
    targets: &[(String, i32, Option<Vec<i32>>)],
) -> Result<(), CliError> {
    if targets.is_empty() {
        return Ok(());
    }
    let mut topics: BTreeMap<String, Vec<ReassignablePartition>> = BTreeMap::new();
    for (topic, partition, replicas) in targets {
        topics
            .entry(topic.clone())
            .or_default()
            .push(ReassignablePartition {
                partition_index: *partition,
                replicas: replicas.clone(),
            });
    }
    let request = AlterPartitionReassignmentsRequest {
        timeout_ms: TIMEOUT_MS,
        allow_replication_factor_change: false,
        topics: topics
            .into_iter()
            .map(|(name, partitions)| ReassignableTopic { name, partitions })
            .collect(),
    };
    let conn = &mut cluster.bootstrap;
    let version = conn.version(ApiKey::AlterPartitionReassignments, 1)?;
    let request = AlterPartitionReassignmentsRequest {
        allow_replication_factor_change: version < 1,
        ..request
    };
    let response = expect_response!(
        conn.send(version, RequestBody::AlterPartitionReassignments(request))
            .await?,
        AlterPartitionReassignments
    );
    if response.error_code != 0 {
        return Err(CliError::kafka(
            "reassigning partitions",
            response.error_code,
            response.error_message.as_deref(),
        ));
    }
    let failed: Vec<String> = response
        .responses
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .filter(|p| p.error_code != 0)
                .map(move |p| failure(&t.name, p.partition_index, p.error_code, &p.error_message))
        })
        .collect();
    none_failed("reassigning partitions", failed)
}

fn failure(topic: &str, partition: i32, code: i16, message: &Option<String>) -> String {
    format!(
        "{topic}-{partition}: {}",
        describe_error(code, message.as_deref())
    )
}

fn none_failed(what: &str, failed: Vec<String>) -> Result<(), CliError> {
    if failed.is_empty() {
        Ok(())
    } else {
        Err(CliError::new(format!("{what}: {}", failed.join("; "))))
    }
}

async fn elect_preferred(
    cluster: &mut Cluster,
    partitions: &[(String, i32)],
) -> Result<(), CliError> {
    let mut topics: BTreeMap<String, Vec<i32>> = BTreeMap::new();
    for (topic, partition) in partitions {
        topics.entry(topic.clone()).or_default().push(*partition);
    }
    let conn = &mut cluster.bootstrap;
    let version = conn.version(ApiKey::ElectLeaders, 2)?;
    let request = ElectLeadersRequest {
        election_type: PREFERRED_ELECTION,
        topic_partitions: Some(
            topics
                .into_iter()
                .map(|(topic, partitions)| TopicPartitions { topic, partitions })
                .collect(),
        ),
        timeout_ms: TIMEOUT_MS,
    };
    let response = expect_response!(
        conn.send(version, RequestBody::ElectLeaders(request))
            .await?,
        ElectLeaders
    );
    let failed: Vec<String> = response
        .replica_election_results
        .iter()
        .flat_map(|t| {
            t.partition_result
                .iter()
                .filter(|p| p.error_code != 0 && p.error_code != ELECTION_NOT_NEEDED)
                .map(move |p| failure(&t.topic, p.partition_id, p.error_code, &p.error_message))
        })
        .collect();
    none_failed("electing preferred leaders", failed)
}

/// Polls until none of `partitions` is being moved.
async fn wait_for(
    cluster: &mut Cluster,
    partitions: &BTreeSet<(String, i32)>,
    deadline: Instant,
) -> Result<(), CliError> {
    loop {
        let ongoing = list_reassignments(cluster).await?;
        let left = partitions
            .iter()
            .filter(|p| ongoing.contains_key(*p))
            .count();
        if left == 0 {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(CliError::new(format!(
                "{left} move(s) still under way; `odradek cluster rebalance --status` follows them"
            )));
        }
        tokio::time::sleep(POLL).await;
    }
}

/// As `kafka-reassign-partitions --throttle`: the rate on every listed
/// broker, and every replica of the moved topics throttled (only replicas
/// out of sync are slowed; the controller clears the topics' lists when
/// their moves end).
async fn set_throttle(
    cluster: &mut Cluster,
    snap: &Snapshot,
    moves: &[Move],
    rate: u64,
) -> Result<(), CliError> {
    let topics: BTreeSet<&str> = moves
        .iter()
        .filter(|m| m.reason != Reason::Leader)
        .map(|m| m.topic.as_str())
        .collect();
    if topics.is_empty() {
        return Ok(());
    }
    let mut resources: Vec<AlterConfigsResource> = topics
        .into_iter()
        .map(|t| config(RESOURCE_TOPIC, t, LEADER_REPLICAS, Some("*")))
        .collect();
    let rate = rate.to_string();
    resources.extend(
        listed(snap).map(|b| config(RESOURCE_BROKER, &b.to_string(), LEADER_RATE, Some(&rate))),
    );
    alter_configs(cluster, resources).await
}

/// Removes the brokers' rates `set_throttle` set.
async fn clear_throttle(
    cluster: &mut Cluster,
    snap: &Snapshot,
    throttle: Option<u64>,
) -> Result<(), CliError> {
    if throttle.is_none() {
        return Ok(());
    }
    let resources = listed(snap)
        .map(|b| config(RESOURCE_BROKER, &b.to_string(), LEADER_RATE, None))
        .collect();
    alter_configs(cluster, resources).await
}

fn listed(snap: &Snapshot) -> impl Iterator<Item = i32> + '_ {
    snap.brokers
        .iter()
        .filter(|(_, b)| b.address.is_some())
        .map(|(id, _)| *id)
}

fn config(resource_type: i8, name: &str, key: &str, value: Option<&str>) -> AlterConfigsResource {
    AlterConfigsResource {
        resource_type,
        resource_name: name.to_string(),
        configs: vec![AlterableConfig {
            name: key.to_string(),
            config_operation: if value.is_some() { OP_SET } else { OP_DELETE },
            value: value.map(str::to_string),
        }],
    }
}

async fn alter_configs(
    cluster: &mut Cluster,
    resources: Vec<AlterConfigsResource>,
) -> Result<(), CliError> {
    let conn = &mut cluster.bootstrap;
    let version = conn.version(ApiKey::IncrementalAlterConfigs, 1)?;
    let request = IncrementalAlterConfigsRequest {
        resources,
        validate_only: false,
    };
    let response = expect_response!(
        conn.send(version, RequestBody::IncrementalAlterConfigs(request))
            .await?,
        IncrementalAlterConfigs
    );
    match response.responses.iter().find(|r| r.error_code != 0) {
        None => Ok(()),
        Some(r) => Err(CliError::kafka(
            &format!("setting the replication throttle on '{}'", r.resource_name),
            r.error_code,
            r.error_message.as_deref(),
        )),
    }
}

async fn status(cluster: &mut Cluster, json: bool) -> Result<(), CliError> {
    let ongoing = list_reassignments(cluster).await?;
    if json {
        let items: Vec<Json> = ongoing
            .iter()
            .map(|((topic, partition), o)| {
                Json::obj([
                    ("topic", Json::from(topic.as_str())),
                    ("partition", Json::from(*partition)),
                    ("replicas", Json::from(o.replicas.clone())),
                    ("adding", Json::from(o.adding.clone())),
                    ("removing", Json::from(o.removing.clone())),
                ])
            })
            .collect();
        outln!("{}", Json::Arr(items));
        return Ok(());
    }
    if ongoing.is_empty() {
        outln!("No reassignment under way.");
        return Ok(());
    }
    let mut table = Table::new(&["TOPIC", "PARTITION", "REPLICAS", "ADDING", "REMOVING"]);
    for ((topic, partition), o) in &ongoing {
        table.row(vec![
            topic.clone(),
            partition.to_string(),
            format!("{:?}", o.replicas),
            format!("{:?}", o.adding),
            format!("{:?}", o.removing),
        ]);
    }
    outln!("{}", table.render().trim_end());
    Ok(())
}

async fn cancel(cluster: &mut Cluster, json: bool) -> Result<(), CliError> {
    let ongoing = list_reassignments(cluster).await?;
    let targets: Vec<(String, i32, Option<Vec<i32>>)> = ongoing
        .keys()
        .map(|(topic, partition)| (topic.clone(), *partition, None))
        .collect();
    alter_reassignments(cluster, &targets).await?;
    if json {
        outln!("{}", Json::obj([("cancelled", Json::from(targets.len()))]));
    } else {
        outln!("Cancelled {} reassignment(s).", targets.len());
    }
    Ok(())
}
