//! The quorum on real sockets and real files: one voter, three voters
//! losing their leader, restarts from disk and snapshots.

use super::{Quorum, QuorumConfig, QuorumError};
use crate::cluster::records::MetadataRecord;
use crate::protocol::wire::Uuid;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

fn temp_dir(name: &str) -> PathBuf {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir =
        std::env::temp_dir().join(format!("odradek-quorum-{}-{name}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn topic(n: u8) -> MetadataRecord {
    MetadataRecord::Topic {
        name: format!("t{n}"),
        topic_id: Uuid([n; 16]),
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Proposes on whichever node leads, retrying while leadership settles.
async fn propose(nodes: &[&Quorum], records: Vec<MetadataRecord>) -> i64 {
    for _ in 0..200 {
        for node in nodes {
            match node.propose(records.clone()).await {
                Ok(offset) => return offset,
                Err(QuorumError::NotLeader { .. }) | Err(QuorumError::Unavailable(_)) => {}
                Err(e) => panic!("{e}"),
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("no node took the proposal");
}

async fn wait_applied(node: &Quorum, offset: i64) {
    let mut images = node.images();
    let wait = images.wait_for(|image| image.offset >= offset);
    tokio::time::timeout(Duration::from_secs(10), wait)
        .await
        .expect("applied in time")
        .expect("node running");
}

/// One voter per directory, on loopback listeners, with fast elections.
async fn start_voters(dirs: &[PathBuf]) -> (Vec<Quorum>, BTreeMap<i32, String>) {
    let mut listeners = Vec::new();
    let mut voters = BTreeMap::new();
    for id in 0..dirs.len() as i32 {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        voters.insert(id, l.local_addr().unwrap().to_string());
        listeners.push(l);
    }
    let mut nodes = Vec::new();
    for (id, listener) in listeners.into_iter().enumerate() {
        let config = QuorumConfig {
            node_id: id as i32,
            voters: voters.clone(),
            dir: dirs[id].clone(),
            heartbeat_ms: 50,
            election_timeout_ms: (150, 300),
            snapshot_every: 10_000,
        };
        nodes.push(Quorum::start(config, Some(listener)).await.unwrap());
    }
    (nodes, voters)
}

#[test]
fn a_standalone_node_leads_at_once_and_restarts_from_its_log() {
    let dir = temp_dir("single");
    runtime().block_on(async {
        let started = std::time::Instant::now();
        let node = Quorum::start(QuorumConfig::standalone(0, dir.clone()), None)
            .await
            .unwrap();
        assert_eq!(
            node.wait_for_leader(Duration::from_secs(5)).await.unwrap(),
            0
        );
        let identity = MetadataRecord::ClusterIdentity {
            cluster_id: "abc".into(),
        };
        let offset = node.propose(vec![identity, topic(1)]).await.unwrap();
        println!(
            "standalone: leader and first proposal applied in {:?}",
            started.elapsed()
        );
        assert_eq!(node.image().cluster_id.as_deref(), Some("abc"));
        assert!(node.image().topic("t1").is_some());
        // A proposal the image refuses changes nothing, all or nothing.
        let refused = node.propose(vec![topic(2), topic(1)]).await;
        assert!(
            matches!(refused, Err(QuorumError::Refused(_))),
            "{refused:?}"
        );
        assert!(node.image().topic("t2").is_none());
        node.shutdown().await;

        let node = Quorum::start(QuorumConfig::standalone(0, dir.clone()), None)
            .await
            .unwrap();
        node.wait_for_leader(Duration::from_secs(5)).await.unwrap();
        wait_applied(&node, offset).await;
        assert!(node.image().topic("t1").is_some(), "replayed from the log");
        node.propose(vec![topic(3)]).await.unwrap();
        node.shutdown().await;
    });
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_torn_tail_is_cut_and_snapshots_bound_the_log() {
    let dir = temp_dir("snap");
    runtime().block_on(async {
        let config = QuorumConfig {
            snapshot_every: 4,
            ..QuorumConfig::standalone(0, dir.clone())
        };
        let node = Quorum::start(config.clone(), None).await.unwrap();
        node.wait_for_leader(Duration::from_secs(5)).await.unwrap();
        let mut last = 0;
        for n in 0..20 {
            last = node.propose(vec![topic(n)]).await.unwrap();
        }
        node.shutdown().await;
        assert!(dir.join("snapshot").exists(), "a snapshot was taken");
        // A crash mid-append leaves half a frame.
        let mut log = std::fs::OpenOptions::new()
            .append(true)
            .open(dir.join("log"))
            .unwrap();
        std::io::Write::write_all(&mut log, &[0, 0, 1, 0, 9, 9]).unwrap();
        drop(log);
        let node = Quorum::start(config, None).await.unwrap();
        node.wait_for_leader(Duration::from_secs(5)).await.unwrap();
        wait_applied(&node, last).await;
        assert_eq!(node.image().topics().count(), 20, "snapshot plus tail");
        node.propose(vec![topic(100)]).await.unwrap();
        node.shutdown().await;
    });
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn three_voters_survive_the_loss_of_their_leader() {
    let dirs: Vec<PathBuf> = (0..3).map(|i| temp_dir(&format!("three-{i}"))).collect();
    runtime().block_on(async {
        let (mut nodes, voters) = start_voters(&dirs).await;
        let all: Vec<&Quorum> = nodes.iter().collect();
        let mut last = 0;
        for n in 0..5 {
            last = propose(&all, vec![topic(n)]).await;
        }
        for node in &nodes {
            assert_eq!(
                node.membership(),
                voters,
                "the quorum's voters, as configured"
            );
        }
        let leader = nodes[0].leader().expect("a leader");
        let old = nodes.remove(leader as usize);
        let stopped = std::time::Instant::now();
        old.shutdown().await;
        let survivors: Vec<&Quorum> = nodes.iter().collect();
        let offset = propose(&survivors, vec![topic(5)]).await;
        println!(
            "three voters: a proposal committed {:?} after the leader stopped",
            stopped.elapsed()
        );
        assert!(offset > last);
        let new_leader = survivors[0].leader().expect("a new leader");
        assert_ne!(new_leader, leader);
        for node in &survivors {
            wait_applied(node, offset).await;
            let names: Vec<String> = node.image().topics().map(|t| t.name.clone()).collect();
            assert_eq!(names.len(), 6, "nothing committed was lost: {names:?}");
        }
        for node in nodes {
            node.shutdown().await;
        }
    });
    for dir in dirs {
        let _ = std::fs::remove_dir_all(dir);
    }
}

#[test]
fn hostile_frames_close_only_their_connection() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dirs: Vec<PathBuf> = (0..2).map(|i| temp_dir(&format!("hostile-{i}"))).collect();
    runtime().block_on(async {
        let (nodes, voters) = start_voters(&dirs).await;
        let all: Vec<&Quorum> = nodes.iter().collect();
        propose(&all, vec![topic(1)]).await;
        let hostile: [&[u8]; 4] = [
            &[0xff, 0xff, 0xff, 0xff],             // a 4 GiB frame
            &[0, 0, 0, 5, b'{', b'x', b'"', 0, 1], // not JSON
            &[0, 0, 0, 100, 1, 2, 3],              // cut short
            &[0, 0, 0, 2, b'[', b']'],             // JSON, not a request
        ];
        for addr in voters.values() {
            for frame in hostile {
                let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
                stream.write_all(frame).await.unwrap();
                let _ = stream.shutdown().await;
                let mut rest = Vec::new();
                let read =
                    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut rest))
                        .await;
                assert!(read.is_ok(), "the node closes the connection");
                assert!(rest.is_empty(), "and answers nothing");
            }
        }
        // The quorum goes on.
        let offset = propose(&all, vec![topic(2)]).await;
        for node in &nodes {
            wait_applied(node, offset).await;
            assert!(node.image().topic("t2").is_some());
        }
        for node in nodes {
            node.shutdown().await;
        }
    });
    for dir in dirs {
        let _ = std::fs::remove_dir_all(dir);
    }
}
