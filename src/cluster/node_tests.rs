//! In-process clusters: several nodes in one test, each with its own
//! quorum seat, data directory and loopback listener, talking over real
//! sockets. Registration, heartbeats, controller failover and fencing.

use super::controller::Registration;
use super::node::{ClusterNode, ControllerCall, ControllerReply};
use super::quorum::{Quorum, QuorumConfig};
use super::records::Endpoint;
use crate::protocol::wire::Uuid;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

const SESSION_MS: u64 = 1500;

fn temp_dir(name: &str) -> PathBuf {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("odradek-node-{}-{name}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// A quorum seat with test timings (elections in 150-300 ms).
fn fast_quorum(id: i32, voters: &BTreeMap<i32, String>, dir: &std::path::Path) -> QuorumConfig {
    QuorumConfig {
        node_id: id,
        voters: voters.clone(),
        dir: dir.to_path_buf(),
        heartbeat_ms: 50,
        election_timeout_ms: (150, 300),
        snapshot_every: 10_000,
    }
}

struct TestCluster {
    voters: BTreeMap<i32, String>,
    nodes: Vec<Option<Arc<ClusterNode>>>,
    stops: Vec<tokio::sync::watch::Sender<bool>>,
    dirs: Vec<PathBuf>,
}

impl TestCluster {
    async fn start(size: i32) -> TestCluster {
        let mut listeners = Vec::new();
        let mut voters = BTreeMap::new();
        for id in 0..size {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            voters.insert(id, l.local_addr().unwrap().to_string());
            listeners.push(l);
        }
        let mut cluster = TestCluster {
            voters: voters.clone(),
            nodes: Vec::new(),
            stops: Vec::new(),
            dirs: Vec::new(),
        };
        for (id, listener) in (0..size).zip(listeners) {
            let dir = temp_dir(&format!("n{id}"));
            let quorum = Quorum::start(fast_quorum(id, &voters, &dir), Some(listener))
                .await
                .unwrap();
            let registration = Registration {
                broker_id: id,
                incarnation_id: Uuid([id as u8 + 1; 16]),
                endpoints: vec![Endpoint {
                    name: "PLAINTEXT".into(),
                    host: "127.0.0.1".into(),
                    port: 9000 + id as u16,
                    security_protocol: 0,
                }],
                rack: None,
            };
            let node = ClusterNode::new(
                quorum,
                Some(registration),
                format!("cluster-of-{id}"),
                Duration::from_millis(200),
                SESSION_MS,
                crate::config::BalancerConfig::default(),
            );
            let (stop, stopped) = tokio::sync::watch::channel(false);
            cluster.nodes.push(Some(Arc::clone(&node)));
            cluster.stops.push(stop);
            cluster.dirs.push(dir);
            tokio::spawn(node.run(stopped));
        }
        cluster
    }

    fn node(&self, id: usize) -> &Arc<ClusterNode> {
        self.nodes[id].as_ref().expect("running")
    }

    /// Waits until `check` holds on every running node's image.
    async fn until(
        &self,
        what: &str,
        check: impl Fn(&super::image::MetadataImage) -> bool,
    ) -> Duration {
        let started = tokio::time::Instant::now();
        loop {
            if self.nodes.iter().flatten().all(|n| check(&n.image())) {
                return started.elapsed();
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "timed out waiting for {what}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    async fn stop(&mut self, id: usize) {
        let _ = self.stops[id].send(true);
        if let Some(node) = self.nodes[id].take() {
            node.shutdown().await;
        }
    }

    async fn stop_all(mut self) {
        for id in 0..self.nodes.len() {
            self.stop(id).await;
        }
        for dir in &self.dirs {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

fn unfenced(image: &super::image::MetadataImage) -> Vec<i32> {
    image
        .brokers
        .values()
        .filter(|b| !b.fenced)
        .map(|b| b.id)
        .collect()
}

#[test]
fn three_nodes_register_and_fence_a_lost_controller() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut cluster = TestCluster::start(3).await;
        cluster.until("three registered, unfenced brokers", |image| unfenced(image) == [0, 1, 2]).await;
        let ids: Vec<Option<String>> = cluster.nodes.iter().flatten().map(|n| n.image().cluster_id.clone()).collect();
        assert!(ids.windows(2).all(|w| w[0] == w[1]) && ids[0].is_some(), "one cluster id: {ids:?}");
        // Whoever is asked, the leader answers; a stale epoch is refused.
        let leader = cluster.node(0).controller_id().expect("a leader") as usize;
        let asker = cluster.node((leader + 1) % 3);
        let ControllerReply::Quorum(state) = asker.call(ControllerCall::DescribeQuorum).await else { panic!() };
        assert_eq!(state.leader, Some(leader as i32));
        assert_eq!(state.voters.len(), 3);
        let stale = ControllerCall::Heartbeat { broker_id: 0, broker_epoch: 0, applied_offset: 0, want_shut_down: false, load: None };
        assert!(matches!(asker.call(stale).await, ControllerReply::Refused(_)));

        cluster.stop(leader).await;
        let survivors: Vec<i32> = (0..3).filter(|id| *id != leader as i32).collect();
        let fenced_after = cluster.until("the lost broker fenced", |image| unfenced(image) == survivors).await;
        let new_leader = cluster.nodes.iter().flatten().next().and_then(|n| n.controller_id());
        assert!(new_leader.is_some_and(|l| l != leader as i32));
        println!("in-process: the lost controller's broker fenced {fenced_after:?} after it stopped (session {SESSION_MS} ms)");
        cluster.stop_all().await;
    });
}

fn creation(name: &str, partitions: i32) -> super::node::TopicCreation {
    super::node::TopicCreation {
        name: name.into(),
        topic_id: [name.len() as u8 + 1; 16],
        partitions,
        replication_factor: 1,
        assignments: None,
        configs: BTreeMap::new(),
    }
}

#[test]
fn topic_calls_and_producer_id_blocks_are_decided_once_from_any_node() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let cluster = TestCluster::start(3).await;
        cluster
            .until("three registered, unfenced brokers", |image| {
                unfenced(image) == [0, 1, 2]
            })
            .await;
        let leader = cluster.node(0).controller_id().expect("a leader") as usize;
        let asker = cluster.node((leader + 1) % 3);

        let create = ControllerCall::CreateTopics {
            topics: vec![creation("spread", 6)],
            validate_only: false,
        };
        let ControllerReply::Topics { outcomes, offset } = asker.call(create.clone()).await else {
            panic!()
        };
        assert_eq!(outcomes, vec![Ok(())]);
        cluster
            .until("the topic on every node", |image| {
                image.offset >= offset && image.topic("spread").is_some()
            })
            .await;
        let image = asker.image();
        let topic = image.topic("spread").unwrap();
        let mut leaders: Vec<i32> = topic.partitions.iter().map(|p| p.leader).collect();
        leaders.sort_unstable();
        assert_eq!(leaders, [0, 0, 1, 1, 2, 2], "leaders spread evenly");
        assert!(
            topic.partitions.iter().all(|p| p.isr == [p.leader]),
            "only the leader in sync"
        );

        // Asked again (a client's retry): refused, nothing created twice.
        let ControllerReply::Topics { outcomes, .. } = asker.call(create).await else {
            panic!()
        };
        assert!(matches!(
            outcomes[..],
            [Err(super::controller::ControllerError::TopicAlreadyExists(
                _
            ))]
        ));

        let grow = ControllerCall::CreatePartitions {
            topics: vec![("spread".into(), 9, None)],
            validate_only: false,
        };
        let ControllerReply::Topics { outcomes, offset } = asker.call(grow).await else {
            panic!()
        };
        assert_eq!(outcomes, vec![Ok(())]);
        cluster
            .until("nine partitions", |image| {
                image.offset >= offset
                    && image
                        .topic("spread")
                        .is_some_and(|t| t.partitions.len() == 9)
            })
            .await;

        let delete = ControllerCall::DeleteTopics {
            names: vec!["spread".into(), "spread".into(), "absent".into()],
        };
        let ControllerReply::Topics { outcomes, offset } = asker.call(delete).await else {
            panic!()
        };
        assert_eq!(outcomes[0], Ok(()));
        assert!(outcomes[1].is_err() && outcomes[2].is_err(), "{outcomes:?}");
        cluster
            .until("the topic gone", |image| {
                image.offset >= offset && image.topic("spread").is_none()
            })
            .await;

        // Producer ids: disjoint blocks, past what a node handed out alone.
        let (a_start, a_end) = cluster.node(0).allocate_producer_ids(0).await.unwrap();
        let (b_start, b_end) = cluster.node(1).allocate_producer_ids(50_000).await.unwrap();
        let (c_start, _) = cluster.node(2).allocate_producer_ids(0).await.unwrap();
        assert!(
            a_end <= b_start && b_start >= 50_000 && b_end <= c_start,
            "{a_start}..{a_end}, {b_start}..{b_end}, {c_start}"
        );
        cluster.stop_all().await;
    });
}

/// A node outside the voters, at a fresh port in `dir`: it asks to observe.
async fn observer(
    voters: &BTreeMap<i32, String>,
    id: i32,
    dir: &std::path::Path,
) -> Arc<ClusterNode> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let quorum = Quorum::start(fast_quorum(id, voters, dir), Some(listener))
        .await
        .unwrap();
    assert!(quorum.is_observer());
    let node = ClusterNode::new(
        quorum,
        None,
        "unused".into(),
        Duration::from_millis(200),
        SESSION_MS,
        crate::config::BalancerConfig::default(),
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while let Err(why) = node.observe(addr.clone()).await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not fed the log: {why}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    node
}

#[test]
fn an_observer_follows_the_log_without_voting_and_moves_when_restarted() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let cluster = TestCluster::start(1).await;
        cluster
            .until("the voter registered", |image| unfenced(image) == [0])
            .await;
        let dir = temp_dir("observer");
        let watcher = observer(&cluster.voters, 7, &dir).await;
        assert_eq!(
            watcher.image().cluster_id,
            cluster.node(0).image().cluster_id
        );
        // It decides through the leader, and is fed the outcome.
        let create = ControllerCall::CreateTopics {
            topics: vec![creation("seen", 2)],
            validate_only: false,
        };
        let ControllerReply::Topics { outcomes, offset } = watcher.call(create).await else {
            panic!()
        };
        assert_eq!(outcomes, vec![Ok(())]);
        assert!(watcher.wait_for_offset(offset).await);
        assert!(watcher.image().topic("seen").is_some());
        let ControllerReply::Quorum(state) = watcher.call(ControllerCall::DescribeQuorum).await
        else {
            panic!()
        };
        assert_eq!(
            state
                .voters
                .iter()
                .map(|v| v.replica_id)
                .collect::<Vec<_>>(),
            [0]
        );
        assert_eq!(
            state
                .observers
                .iter()
                .map(|v| v.replica_id)
                .collect::<Vec<_>>(),
            [7]
        );

        // Restarted on another port, with a topic made while it was away.
        watcher.shutdown().await;
        drop(watcher);
        let create = ControllerCall::CreateTopics {
            topics: vec![creation("while-away", 1)],
            validate_only: false,
        };
        assert!(matches!(
            cluster.node(0).call(create).await,
            ControllerReply::Topics { .. }
        ));
        let watcher = observer(&cluster.voters, 7, &dir).await;
        assert!(watcher.image().topic("while-away").is_some());
        let create = ControllerCall::CreateTopics {
            topics: vec![creation("after", 1)],
            validate_only: false,
        };
        let ControllerReply::Topics { offset, .. } = cluster.node(0).call(create).await else {
            panic!()
        };
        assert!(
            watcher.wait_for_offset(offset).await,
            "fed at its new address"
        );
        watcher.shutdown().await;
        let _ = std::fs::remove_dir_all(&dir);
        cluster.stop_all().await;
    });
}
