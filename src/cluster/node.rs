//! A node in the cluster: its seat in the metadata quorum, the controller
//! it runs while it leads the quorum, and its broker's registration and
//! heartbeats.
//!
//! Every metadata change is a controller call. Calls are decided by the
//! quorum's leader, one at a time, on an image that has caught up with the
//! log; a node that does not lead sends them to the one that does.

use super::controller::{Controller, ControllerError, Heartbeat, NewTopic, Registration};
use super::image::MetadataImage;
use super::quorum::{CallHandler, Quorum, QuorumError, QuorumState};
use super::records::{Endpoint, MetadataRecord};
use crate::protocol::wire::Uuid;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// How long a call to the controller may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);
/// How often the leader checks brokers' sessions.
const FENCE_TICK: Duration = Duration::from_millis(500);

/// What nodes ask the controller, on the wire between nodes.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum ControllerCall {
    Register {
        broker_id: i32,
        incarnation_id: [u8; 16],
        /// (listener, host, port, security protocol id)
        endpoints: Vec<(String, String, u16, i16)>,
        rack: Option<String>,
    },
    Heartbeat {
        broker_id: i32,
        broker_epoch: i64,
        applied_offset: i64,
        want_shut_down: bool,
        #[serde(default)]
        load: Option<super::load::LoadReport>,
    },
    /// The quorum's state as its leader knows it (DescribeQuorum).
    DescribeQuorum,
    CreateTopics {
        topics: Vec<TopicCreation>,
        validate_only: bool,
    },
    DeleteTopics {
        names: Vec<String>,
    },
    /// A resource's settings (a topic's overrides, a broker's or the
    /// cluster's dynamic configs), replaced as a whole.
    AlterConfigs {
        resource: super::image::ConfigResource,
        configs: std::collections::BTreeMap<String, String>,
    },
    AllocateProducerIds {
        broker_id: i32,
        broker_epoch: i64,
        at_least: i64,
    },
    CreatePartitions {
        topics: Vec<PartitionGrowth>,
        validate_only: bool,
    },
    /// The voters the asked node was configured with (answered by any node).
    ConfiguredVoters,
    /// A node that does not vote asks to follow the log, fed at `addr`.
    AddObserver {
        node_id: i32,
        addr: String,
    },
    /// A partition's leader asks for a new ISR.
    AlterPartition(super::controller::IsrChange),
    /// ElectLeaders (preferred) of these (topic, partition)s.
    ElectPreferred {
        partitions: Vec<(String, i32)>,
    },
    /// AlterPartitionReassignments: (topic, partition, target; None cancels).
    AlterReassignments {
        moves: Vec<(String, i32, Option<Vec<i32>>)>,
        allow_rf_change: bool,
    },
}

/// CreatePartitions of one topic: (topic, new total, explicit replicas of
/// the new partitions).
pub type PartitionGrowth = (String, i32, Option<Vec<Vec<i32>>>);

/// One topic to create, its defaults resolved by the asking broker.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicCreation {
    pub name: String,
    pub topic_id: [u8; 16],
    pub partitions: i32,
    pub replication_factor: i16,
    pub assignments: Option<Vec<Vec<i32>>>,
    pub configs: std::collections::BTreeMap<String, String>,
}

impl TopicCreation {
    fn to_new_topic(&self) -> NewTopic {
        NewTopic {
            name: self.name.clone(),
            topic_id: Uuid(self.topic_id),
            partitions: self.partitions,
            replication_factor: self.replication_factor,
            assignments: self.assignments.clone(),
            configs: self.configs.clone(),
        }
    }

    /// (partitions, replication factor) as created.
    pub fn shape(&self) -> (i32, i16) {
        match &self.assignments {
            Some(given) => (
                i32::try_from(given.len()).unwrap_or(i32::MAX),
                given
                    .first()
                    .map_or(0, |r| i16::try_from(r.len()).unwrap_or(i16::MAX)),
            ),
            None => (self.partitions, self.replication_factor),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ControllerReply {
    Registered {
        epoch: i64,
    },
    Heartbeat {
        caught_up: bool,
        fenced: bool,
        shut_down: bool,
    },
    NotLeader {
        leader: Option<i32>,
    },
    Quorum(QuorumState),
    /// Another live broker registered with this id.
    DuplicateBroker(i32),
    Voters(std::collections::BTreeMap<i32, String>),
    /// A block of producer ids: [start, end).
    ProducerIds {
        start: i64,
        end: i64,
    },
    /// One outcome per topic of a topic call, and the metadata offset the
    /// changes landed at (every change of the call is in one proposal).
    Topics {
        outcomes: Vec<Result<(), ControllerError>>,
        offset: i64,
    },
    /// An observer is fed the log from now on; it holds everything once
    /// its image reaches `offset`.
    Observing {
        offset: i64,
    },
    /// The controller refused (stale epoch, duplicate id, ...).
    Refused(String),
    Unavailable(String),
}

/// The controller's clock for broker sessions: steady, so that a wall
/// clock set forward fences no one (Kafka's heartbeat manager too).
fn now_ms() -> u64 {
    u64::try_from(crate::log::steady_ms()).unwrap_or(0)
}

pub struct ClusterNode {
    node_id: i32,
    quorum: Quorum,
    /// The controller's session table; reset whenever this node becomes leader.
    controller: tokio::sync::Mutex<(bool, Controller)>,
    session_timeout_ms: u64,
    heartbeat_interval: Duration,
    /// None on a node with the controller role only.
    registration: Option<Registration>,
    /// This broker's epoch, once registered (-1 before).
    epoch: AtomicI64,
    /// The cluster id this node proposes if it founds the cluster.
    founding_cluster_id: String,
    /// This broker's newest load report, sent with the next heartbeat.
    load_report: std::sync::Mutex<Option<super::load::LoadReport>>,
    /// The balancer's settings; it runs while this node is the controller.
    balancer: crate::config::BalancerConfig,
    /// The hot partitions last reported, so each is said once.
    hot: std::sync::Mutex<std::collections::BTreeSet<(String, i32)>>,
}

impl ClusterNode {
    pub fn new(
        quorum: Quorum,
        registration: Option<Registration>,
        founding_cluster_id: String,
        heartbeat_interval: Duration,
        session_timeout_ms: u64,
        balancer: crate::config::BalancerConfig,
    ) -> Arc<ClusterNode> {
        let node = Arc::new(ClusterNode {
            node_id: quorum.node_id(),
            quorum,
            controller: tokio::sync::Mutex::new((false, Controller::new(session_timeout_ms))),
            session_timeout_ms,
            heartbeat_interval,
            registration,
            epoch: AtomicI64::new(-1),
            founding_cluster_id,
            load_report: std::sync::Mutex::new(None),
            balancer,
            hot: Default::default(),
        });
        node.quorum
            .serve_calls(Arc::new(Calls(Arc::downgrade(&node))));
        node
    }

    pub fn image(&self) -> Arc<MetadataImage> {
        self.quorum.image()
    }

    /// Hands this broker's newest load report to the next heartbeat.
    pub fn report_load(&self, report: super::load::LoadReport) {
        *self.load_report.lock().unwrap_or_else(|p| p.into_inner()) = Some(report);
    }

    pub fn images(&self) -> watch::Receiver<Arc<MetadataImage>> {
        self.quorum.images()
    }

    /// The quorum's leader, which runs the controller.
    pub fn controller_id(&self) -> Option<i32> {
        self.quorum.leader()
    }

    /// The quorum's voters and their quorum addresses.
    pub fn voters(&self) -> &std::collections::BTreeMap<i32, String> {
        self.quorum.voters()
    }

    /// Waits (bounded) until this node's image has applied `offset`.
    pub async fn wait_for_offset(&self, offset: i64) -> bool {
        let mut images = self.images();
        let reached = async {
            images
                .wait_for(|image| image.offset >= offset)
                .await
                .is_ok()
        };
        matches!(tokio::time::timeout(CALL_TIMEOUT, reached).await, Ok(true))
    }

    /// A block of producer ids from the controller, starting at `at_least`
    /// or later: [start, end).
    pub async fn allocate_producer_ids(&self, at_least: i64) -> Result<(i64, i64), String> {
        let call = ControllerCall::AllocateProducerIds {
            broker_id: self.node_id,
            broker_epoch: self.broker_epoch(),
            at_least,
        };
        match self.call(call).await {
            ControllerReply::ProducerIds { start, end } => Ok((start, end)),
            other => Err(format!("{other:?}")),
        }
    }

    pub fn broker_epoch(&self) -> i64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// Asks the controller, wherever it is.
    pub async fn call(&self, call: ControllerCall) -> ControllerReply {
        let Some(leader) = self.quorum.leader() else {
            if self.quorum.is_observer() {
                return self.call_through_voters(call).await;
            }
            return ControllerReply::NotLeader { leader: None };
        };
        if leader == self.node_id {
            return match call {
                ControllerCall::DescribeQuorum => ControllerReply::Quorum(self.quorum.state()),
                call => self.decide(call).await,
            };
        }
        let body = match serde_json::to_vec(&call) {
            Ok(body) => body,
            Err(e) => return ControllerReply::Unavailable(e.to_string()),
        };
        match self.quorum.call(leader, body, CALL_TIMEOUT).await {
            Ok(answer) => serde_json::from_slice(&answer).unwrap_or_else(|e| {
                ControllerReply::Unavailable(format!("controller's answer: {e}"))
            }),
            Err(e) => ControllerReply::Unavailable(e.to_string()),
        }
    }

    /// An observer not (yet) fed the log does not know the leader: it asks
    /// each voter, and follows a voter's pointer to the leader.
    async fn call_through_voters(&self, call: ControllerCall) -> ControllerReply {
        let body = match serde_json::to_vec(&call) {
            Ok(body) => body,
            Err(e) => return ControllerReply::Unavailable(e.to_string()),
        };
        let body = &body;
        let ask = |id: i32| async move {
            match self.quorum.call(id, body.clone(), CALL_TIMEOUT).await {
                Ok(answer) => serde_json::from_slice(&answer).unwrap_or_else(|e| {
                    ControllerReply::Unavailable(format!("controller's answer: {e}"))
                }),
                Err(e) => ControllerReply::Unavailable(e.to_string()),
            }
        };
        let mut last = ControllerReply::NotLeader { leader: None };
        for id in self.quorum.voters().keys().copied() {
            last = match ask(id).await {
                ControllerReply::NotLeader {
                    leader: Some(leader),
                } => ask(leader).await,
                reply => reply,
            };
            if !matches!(
                last,
                ControllerReply::NotLeader { .. } | ControllerReply::Unavailable(_)
            ) {
                break;
            }
        }
        last
    }

    /// Asks the leader to feed this observer the log at `addr`; returns
    /// once this node's image holds what was committed before.
    pub async fn observe(&self, addr: String) -> Result<(), String> {
        let call = ControllerCall::AddObserver {
            node_id: self.node_id,
            addr,
        };
        match self.call(call).await {
            ControllerReply::Observing { offset } => {
                if self.wait_for_offset(offset).await {
                    Ok(())
                } else {
                    Err(format!(
                        "the metadata log is slow to arrive (offset {offset})"
                    ))
                }
            }
            other => Err(format!("{other:?}")),
        }
    }

    /// Proposes `records` as the controller, on a caught-up image.
    async fn propose(&self, records: Vec<MetadataRecord>) -> Result<i64, ControllerReply> {
        self.quorum.propose(records).await.map_err(quorum_reply)
    }

    /// Decides a call as the leader. One decision at a time, each on an
    /// image that has applied everything committed before it.
    async fn decide(&self, call: ControllerCall) -> ControllerReply {
        let mut guard = self.controller.lock().await;
        if let Err(e) = self.become_controller(&mut guard).await {
            return e;
        }
        let image = self.quorum.image();
        let controller = &mut guard.1;
        match call {
            ControllerCall::DescribeQuorum => ControllerReply::Quorum(self.quorum.state()),
            ControllerCall::ConfiguredVoters => {
                ControllerReply::Voters(self.quorum.voters().clone())
            }
            ControllerCall::Register {
                broker_id,
                incarnation_id,
                endpoints,
                rack,
            } => {
                let request = Registration {
                    broker_id,
                    incarnation_id: Uuid(incarnation_id),
                    endpoints: endpoints
                        .into_iter()
                        .map(|(name, host, port, security_protocol)| Endpoint {
                            name,
                            host,
                            port,
                            security_protocol,
                        })
                        .collect(),
                    rack,
                };
                match controller.register_broker(&image, request, now_ms()) {
                    Ok(records) => match self.propose(records).await {
                        Ok(epoch) => ControllerReply::Registered { epoch },
                        Err(reply) => reply,
                    },
                    Err(ControllerError::DuplicateBrokerRegistration(id)) => {
                        ControllerReply::DuplicateBroker(id)
                    }
                    Err(e) => ControllerReply::Refused(e.to_string()),
                }
            }
            ControllerCall::Heartbeat {
                broker_id,
                broker_epoch,
                applied_offset,
                want_shut_down,
                load,
            } => {
                let beat = Heartbeat {
                    broker_id,
                    broker_epoch,
                    applied_offset,
                    want_shut_down,
                    load,
                };
                match controller.heartbeat(&image, beat, now_ms()) {
                    Ok((records, reply)) => {
                        // Unfenced (or moved off) only once that is committed.
                        if !records.is_empty() {
                            if let Err(e) = self.propose(records).await {
                                return e;
                            }
                        }
                        ControllerReply::Heartbeat {
                            caught_up: reply.is_caught_up,
                            fenced: reply.is_fenced,
                            shut_down: reply.should_shut_down,
                        }
                    }
                    Err(e @ ControllerError::StaleBrokerEpoch { .. })
                    | Err(e @ ControllerError::BrokerIdNotRegistered(_)) => {
                        ControllerReply::Refused(e.to_string())
                    }
                    Err(e) => ControllerReply::Refused(e.to_string()),
                }
            }
            ControllerCall::CreateTopics {
                topics,
                validate_only,
            } => {
                let new: Vec<NewTopic> = topics.iter().map(TopicCreation::to_new_topic).collect();
                let decided = controller.create_topics(&image, &new);
                self.propose_outcomes(&image, decided, validate_only).await
            }
            ControllerCall::DeleteTopics { names } => {
                let mut deleted: Vec<&str> = Vec::new();
                let decided = names
                    .iter()
                    .map(|name| {
                        if deleted.contains(&name.as_str()) {
                            return Err(ControllerError::UnknownTopic(name.clone()));
                        }
                        let records = controller.delete_topic(&image, name)?;
                        deleted.push(name);
                        Ok(records)
                    })
                    .collect();
                self.propose_outcomes(&image, decided, false).await
            }
            ControllerCall::AddObserver { node_id, addr } => {
                match self.quorum.add_observer(node_id, addr).await {
                    Ok(()) => ControllerReply::Observing {
                        offset: self.quorum.image().offset,
                    },
                    Err(e) => quorum_reply(e),
                }
            }
            ControllerCall::AlterConfigs { resource, configs } => {
                let decided = vec![controller.alter_configs(&image, &resource, &configs)];
                self.propose_outcomes(&image, decided, false).await
            }
            ControllerCall::AllocateProducerIds {
                broker_id,
                broker_epoch,
                at_least,
            } => {
                match controller.allocate_producer_ids(&image, broker_id, broker_epoch, at_least) {
                    Ok((records, start)) => match self.propose(records).await {
                        Ok(_) => ControllerReply::ProducerIds {
                            start,
                            end: start + super::controller::PRODUCER_ID_BLOCK,
                        },
                        Err(reply) => reply,
                    },
                    Err(e) => ControllerReply::Refused(e.to_string()),
                }
            }
            ControllerCall::ElectPreferred { partitions } => {
                let decided = partitions
                    .iter()
                    .map(|(topic, partition)| controller.elect_preferred(&image, topic, *partition))
                    .collect();
                self.propose_outcomes(&image, decided, false).await
            }
            ControllerCall::AlterReassignments {
                moves,
                allow_rf_change,
            } => {
                let decided = moves
                    .iter()
                    .map(|(topic, partition, target)| {
                        controller.alter_reassignment(
                            &image,
                            topic,
                            *partition,
                            target.as_deref(),
                            allow_rf_change,
                        )
                    })
                    .collect();
                self.propose_outcomes(&image, decided, false).await
            }
            ControllerCall::AlterPartition(change) => {
                let decided = vec![controller.alter_partition(&image, &change)];
                self.propose_outcomes(&image, decided, false).await
            }
            ControllerCall::CreatePartitions {
                topics,
                validate_only,
            } => {
                let decided = topics
                    .iter()
                    .map(|(name, total, assignments)| {
                        controller.create_partitions(&image, name, *total, assignments.as_deref())
                    })
                    .collect();
                self.propose_outcomes(&image, decided, validate_only).await
            }
        }
    }

    /// Proposes the records of every accepted part of a call, in one
    /// proposal; answers each part's outcome.
    async fn propose_outcomes(
        &self,
        image: &MetadataImage,
        decided: Vec<Result<Vec<MetadataRecord>, ControllerError>>,
        validate_only: bool,
    ) -> ControllerReply {
        let mut records = Vec::new();
        let outcomes = decided
            .into_iter()
            .map(|outcome| outcome.map(|r| records.extend(r)))
            .collect();
        if validate_only || records.is_empty() {
            return ControllerReply::Topics {
                outcomes,
                offset: image.offset,
            };
        }
        match self.propose(records).await {
            Ok(offset) => ControllerReply::Topics { outcomes, offset },
            Err(reply) => reply,
        }
    }

    /// On the first decision of a term: a fresh session table (every broker
    /// gets a full session), the log caught up, the cluster founded if new.
    async fn become_controller(
        &self,
        guard: &mut (bool, Controller),
    ) -> Result<(), ControllerReply> {
        self.quorum
            .catch_up(CALL_TIMEOUT)
            .await
            .map_err(quorum_reply)?;
        if !guard.0 {
            *guard = (true, Controller::new(self.session_timeout_ms));
        }
        if self.quorum.image().cluster_id.is_none() {
            let identity = MetadataRecord::ClusterIdentity {
                cluster_id: self.founding_cluster_id.clone(),
            };
            self.propose(vec![identity]).await?;
            tracing::info!(cluster = %self.founding_cluster_id, "founded the cluster");
        }
        Ok(())
    }

    fn registration_call(registration: &Registration) -> ControllerCall {
        ControllerCall::Register {
            broker_id: registration.broker_id,
            incarnation_id: registration.incarnation_id.0,
            endpoints: registration
                .endpoints
                .iter()
                .map(|e| (e.name.clone(), e.host.clone(), e.port, e.security_protocol))
                .collect(),
            rack: registration.rack.clone(),
        }
    }

    /// One round of this broker's side: register if it is not, else
    /// heartbeat. Returns whether it is registered and unfenced.
    pub async fn beat(&self) -> bool {
        self.beat_and_tell().await.is_ok()
    }

    /// A round of [`beat`](Self::beat); `Err` says why this broker is not
    /// active (for the log).
    async fn beat_and_tell(&self) -> Result<(), String> {
        let Some(registration) = &self.registration else {
            // A controller alone has no broker to register: it is active
            // once the cluster is founded (by the leader's first decision).
            if self.quorum.leader() == Some(self.node_id) {
                self.decide(ControllerCall::ConfiguredVoters).await;
            }
            return match (self.quorum.leader(), &self.image().cluster_id) {
                (Some(_), Some(_)) => Ok(()),
                (None, _) => Err("the metadata quorum has no leader".into()),
                (Some(_), None) => Err("the cluster is not founded yet".into()),
            };
        };
        let epoch = self.broker_epoch();
        let call = if epoch < 0 {
            Self::registration_call(registration)
        } else {
            ControllerCall::Heartbeat {
                broker_id: self.node_id,
                broker_epoch: epoch,
                applied_offset: self.image().offset,
                want_shut_down: false,
                load: self
                    .load_report
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .take(),
            }
        };
        match self.call(call).await {
            ControllerReply::Registered { epoch } => {
                self.epoch.store(epoch, Ordering::Release);
                tracing::info!(epoch, "registered with the controller");
                Err("registered, not yet unfenced".into())
            }
            ControllerReply::Heartbeat { fenced: false, .. } => Ok(()),
            ControllerReply::Heartbeat {
                fenced: true,
                caught_up,
                ..
            } => Err(format!(
                "fenced (caught up with the metadata log: {caught_up})"
            )),
            ControllerReply::Refused(why) => {
                tracing::warn!(%why, "the controller refused this broker; registering again");
                self.epoch.store(-1, Ordering::Release);
                Err(why)
            }
            ControllerReply::NotLeader { leader: None } => {
                Err("the metadata quorum has no leader".into())
            }
            ControllerReply::NotLeader { leader: Some(id) } => {
                Err(format!("node {id} leads the quorum now; retrying there"))
            }
            ControllerReply::Unavailable(why) => Err(why),
            ControllerReply::DuplicateBroker(id) => Err(format!(
                "another live broker is registered as node {id}: give each node its own node.id"
            )),
            ControllerReply::Quorum(_)
            | ControllerReply::Voters(_)
            | ControllerReply::Topics { .. }
            | ControllerReply::Observing { .. }
            | ControllerReply::ProducerIds { .. } => Err("an answer of the wrong kind".into()),
        }
    }

    /// Registers, then heartbeats; fences silent brokers while leading.
    /// Runs until `stop`. Says why every few seconds while it cannot reach
    /// the controller.
    pub async fn run(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let mut beats = tokio::time::interval(self.heartbeat_interval);
        let mut fencing = tokio::time::interval(FENCE_TICK);
        let mut balancing =
            tokio::time::interval(Duration::from_millis(self.balancer.interval_ms.max(1)));
        let mut last_warning = tokio::time::Instant::now();
        loop {
            tokio::select! {
                _ = stop.changed() => return,
                _ = balancing.tick() => {
                    self.report_hot_partitions().await;
                    if self.balancer.enable {
                        self.balance().await;
                    }
                }
                _ = beats.tick() => {
                    if let Err(why) = self.beat_and_tell().await {
                        // Retried at every beat; said every few seconds.
                        if last_warning.elapsed() > Duration::from_secs(5) {
                            last_warning = tokio::time::Instant::now();
                            tracing::warn!(leader = ?self.controller_id(), "this broker is not active in the cluster: {why}; retrying");
                        }
                    }
                }
                _ = fencing.tick() => self.fence_silent_brokers().await,
            }
        }
    }

    /// Controlled shutdown: asks the controller to move this broker's
    /// leaderships and fence it, until it says the broker may stop (bounded:
    /// without a controller it stops anyway, and is fenced by its silence).
    pub async fn controlled_shutdown(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        let epoch = self.broker_epoch();
        if epoch < 0 {
            return true;
        }
        while tokio::time::Instant::now() < deadline {
            let call = ControllerCall::Heartbeat {
                broker_id: self.node_id,
                broker_epoch: epoch,
                applied_offset: self.image().offset,
                want_shut_down: true,
                load: None,
            };
            let asked = tokio::time::timeout_at(deadline, self.call(call)).await;
            if let Ok(ControllerReply::Heartbeat {
                shut_down: true, ..
            }) = asked
            {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tracing::warn!("controlled shutdown unfinished after {timeout:?}: stopping anyway");
        false
    }

    /// Waits (bounded) until this broker is registered and unfenced.
    /// `Ok(false)`: not yet, after `timeout`; `Err`: it never will be (the
    /// configuration must change).
    pub async fn wait_until_active(&self, timeout: Duration) -> Result<bool, String> {
        let deadline = tokio::time::Instant::now() + timeout;
        while tokio::time::Instant::now() < deadline {
            let registering = self.broker_epoch() < 0;
            match self.beat_and_tell().await {
                Ok(()) => return Ok(true),
                Err(why) if registering && why.starts_with("another live broker") => {
                    return Err(why)
                }
                Err(_) => {}
            }
            if self.broker_epoch() < 0 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        Ok(false)
    }

    /// The first other voter that was configured with another voter list
    /// than this node: its id and its list.
    pub async fn disagreeing_voter(
        &self,
    ) -> Option<(i32, std::collections::BTreeMap<i32, String>)> {
        let mine = self.quorum.voters().clone();
        for id in mine.keys().copied().filter(|id| *id != self.node_id) {
            let Ok(body) = serde_json::to_vec(&ControllerCall::ConfiguredVoters) else {
                continue;
            };
            let Ok(answer) = self.quorum.call(id, body, Duration::from_secs(2)).await else {
                continue;
            };
            if let Ok(ControllerReply::Voters(theirs)) = serde_json::from_slice(&answer) {
                if theirs != mine {
                    return Some((id, theirs));
                }
            }
        }
        None
    }

    /// The voters the quorum has (its committed membership), by id.
    pub fn quorum_voters(&self) -> std::collections::BTreeMap<i32, String> {
        self.quorum.membership()
    }

    async fn fence_silent_brokers(&self) {
        let mut guard = self.controller.lock().await;
        if self.quorum.leader() != Some(self.node_id) {
            guard.0 = false;
            return;
        }
        if self.become_controller(&mut guard).await.is_err() {
            return;
        }
        let image = self.quorum.image();
        let records = guard.1.tick(&image, now_ms());
        if !records.is_empty() {
            if let Err(e) = self.propose(records).await {
                tracing::warn!(error = ?e, "fencing silent brokers");
            }
        }
    }

    /// On the active controller: says which partitions turned hot, why, and
    /// what would help (see [`super::hot`]), once each.
    async fn report_hot_partitions(&self) {
        if self.quorum.leader() != Some(self.node_id) {
            return;
        }
        let hot = {
            let guard = self.controller.lock().await;
            if !guard.0 {
                return;
            }
            let thresholds = super::hot::Thresholds::default();
            super::hot::hot_partitions(&self.quorum.image(), guard.1.loads(), &thresholds)
        };
        let mut said = self.hot.lock().unwrap_or_else(|p| p.into_inner());
        for h in hot
            .iter()
            .filter(|h| !said.contains(&(h.topic.clone(), h.partition)))
        {
            tracing::warn!(
                topic = %h.topic,
                partition = h.partition,
                leader = h.leader,
                bytes_in_per_s = h.bytes_in as u64,
                bytes_out_per_s = h.bytes_out as u64,
                why = ?h.why,
                advice = ?h.advice,
                "hot partition"
            );
        }
        *said = hot.into_iter().map(|h| (h.topic, h.partition)).collect();
    }

    /// The balancer's round, on the active controller: plans from the
    /// image and the brokers' load reports, and starts the moves as
    /// reassignments.
    async fn balance(&self) {
        if self.quorum.leader() != Some(self.node_id) {
            return;
        }
        let moves = {
            let guard = self.controller.lock().await;
            if !guard.0 {
                return;
            }
            let image = self.quorum.image();
            super::autobalance::moves(&image, &guard.1, &self.balancer, now_ms())
        };
        let moves = match moves {
            Ok(moves) if moves.is_empty() => return,
            Ok(moves) => moves,
            Err(why) => {
                tracing::warn!("the balancer moves nothing: {why}");
                return;
            }
        };
        let count = moves.len();
        let call = ControllerCall::AlterReassignments {
            moves,
            allow_rf_change: false,
        };
        match self.decide(call).await {
            ControllerReply::Topics { outcomes, .. } => {
                let refused: Vec<_> = outcomes.iter().filter_map(|o| o.as_ref().err()).collect();
                tracing::info!(
                    moves = count,
                    refused = refused.len(),
                    "the balancer started moves"
                );
                if let Some(first) = refused.first() {
                    tracing::warn!(why = ?first, "the controller refused a balancer move");
                }
            }
            other => tracing::warn!(reply = ?other, "the balancer's moves were not decided"),
        }
    }

    pub async fn shutdown(&self) {
        self.quorum.shutdown().await;
    }
}

fn quorum_reply(e: QuorumError) -> ControllerReply {
    match e {
        QuorumError::NotLeader { leader } => ControllerReply::NotLeader { leader },
        QuorumError::Refused(why) => ControllerReply::Refused(why),
        other => ControllerReply::Unavailable(other.to_string()),
    }
}

/// The node's answer to calls from other nodes. Weak: the quorum's server
/// must not keep the node alive.
struct Calls(std::sync::Weak<ClusterNode>);

impl CallHandler for Calls {
    fn handle(&self, body: Vec<u8>) -> futures_util::future::BoxFuture<'static, Vec<u8>> {
        let node = self.0.upgrade();
        Box::pin(async move {
            let reply = match (node, serde_json::from_slice::<ControllerCall>(&body)) {
                (None, _) => ControllerReply::Unavailable("stopping".into()),
                (Some(_), Err(e)) => ControllerReply::Refused(format!("malformed call: {e}")),
                (Some(node), Ok(ControllerCall::DescribeQuorum)) => {
                    ControllerReply::Quorum(node.quorum.state())
                }
                (Some(node), Ok(ControllerCall::ConfiguredVoters)) => {
                    ControllerReply::Voters(node.quorum.voters().clone())
                }
                (Some(node), Ok(call)) => match node.quorum.leader() {
                    Some(leader) if leader == node.node_id => node.decide(call).await,
                    leader => ControllerReply::NotLeader { leader },
                },
            };
            serde_json::to_vec(&reply).unwrap_or_default()
        })
    }
}
