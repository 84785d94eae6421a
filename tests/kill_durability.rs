//! acks=all durability under `kill -9`.
//!
//! The test re-runs its own binary as a child process (selected by an
//! environment variable) that opens a `LogManager`, creates a topic and
//! appends batches from several tasks, printing `ACK <partition>
//! <base_offset> <payload-id>` once each `PendingAppend::wait()` resolves.
//! The parent SIGKILLs the child after a number of acknowledgements (or a
//! delay), reopens the log in-process and checks that every acknowledged
//! batch is readable at its offset with its exact payload. Each round
//! appends to the log the previous rounds left behind, so recovery runs
//! again and again on a log killed mid-write.

use bytes::Bytes;
use odradek::config::log_config::LogConfig;
use odradek::log::LogManager;
use odradek::protocol::records::{split_batches, BatchBuilder, NewRecord};
use std::collections::{BTreeMap, HashSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

const CHILD_DIR: &str = "ODRADEK_KILL_DURABILITY_DIR";
const CHILD_ROUND: &str = "ODRADEK_KILL_DURABILITY_ROUND";
const TEST_NAME: &str = "acknowledged_appends_survive_kill_minus_nine";
const TOPIC: &str = "acks";
const PARTITIONS: i32 = 3;
const TASKS: usize = 4;

/// FNV-1a, to derive a payload from its id.
fn hash(id: &str) -> u64 {
    id.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The records of payload `id`: 1 to 4 records with distinct, id-derived values.
fn payload(id: &str) -> Vec<(Bytes, Bytes)> {
    let h = hash(id);
    let count = 1 + (h % 4) as usize;
    let filler = (h >> 8) as usize % 400;
    (0..count)
        .map(|j| {
            let key = Bytes::from(format!("{id}/{j}"));
            let value: Vec<u8> = format!("{id}#{j}:")
                .bytes()
                .chain((0..filler).map(|k| b'a' + ((h as usize + k + j) % 26) as u8))
                .collect();
            (key, Bytes::from(value))
        })
        .collect()
}

fn partition_of(id: &str) -> i32 {
    (hash(id) >> 40) as i32 % PARTITIONS
}

fn build(id: &str, now: i64) -> Bytes {
    let mut builder = BatchBuilder::new(0);
    for (key, value) in payload(id) {
        builder.push(NewRecord::new(now, Some(key), Some(value)));
    }
    builder.build().unwrap()
}

fn log_config() -> LogConfig {
    LogConfig::default()
}

/// The child: appends forever until killed.
fn run_child(dir: PathBuf, round: String) -> ! {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let manager = Arc::new(LogManager::open(&dir, log_config()).unwrap());
        if manager.topic(TOPIC).is_none() {
            // Small segments, so kills also land around segment rolls.
            let configs: BTreeMap<String, String> =
                [("segment.bytes", "16384"), ("index.interval.bytes", "512")]
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect();
            manager.create_topic(TOPIC, PARTITIONS, configs).unwrap();
        }
        let tasks: Vec<_> = (0..TASKS)
            .map(|task| {
                let manager = Arc::clone(&manager);
                let round = round.clone();
                tokio::spawn(async move {
                    for seq in 0u64.. {
                        let id = format!("{round}.{task}.{seq}");
                        let index = partition_of(&id);
                        let partition = manager.partition(TOPIC, index).unwrap();
                        let batch = build(&id, odradek::log::now_ms());
                        let appended = manager
                            .append(&partition, &batch)
                            .unwrap()
                            .wait()
                            .await
                            .unwrap();
                        // One println! is one locked, line-buffered write.
                        println!("ACK {index} {} {id}", appended.base_offset);
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
    });
    unreachable!("the append loops never end")
}

/// One acknowledged append.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Ack {
    partition: i32,
    base_offset: i64,
    id: String,
}

fn parse_ack(line: &str) -> Option<Ack> {
    // libtest may print "test <name> ... " on the same line as the first output.
    let rest = &line[line.find("ACK ")? + 4..];
    let mut fields = rest.split_whitespace();
    let partition = fields.next()?.parse().ok()?;
    let base_offset = fields.next()?.parse().ok()?;
    let id = fields.next()?.to_string();
    Some(Ack {
        partition,
        base_offset,
        id,
    })
}

/// Everything the test writes (log, children's stderr), removed on drop.
struct TempRoot(PathBuf);

impl Drop for TempRoot {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Kills the child if the parent fails half-way.
struct Killer(Child);

impl Drop for Killer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

enum KillWhen {
    AfterAcks(usize),
    AfterDelay(Duration),
}

/// Runs one child until it is killed; returns every ack it printed.
fn round(dir: &Path, round: usize, when: &KillWhen, deadline: Instant) -> Vec<Ack> {
    let stderr = std::fs::File::create(dir.with_file_name(format!("stderr-{round}"))).unwrap();
    let mut child = Killer(
        Command::new(std::env::current_exe().unwrap())
            .args([TEST_NAME, "--exact", "--nocapture", "--test-threads=1"])
            .env(CHILD_DIR, dir)
            .env(CHILD_ROUND, round.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap(),
    );
    let stdout = child.0.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(ack) = parse_ack(&line) {
                if tx.send(ack).is_err() {
                    break;
                }
            }
        }
    });
    let started = Instant::now();
    let mut acks = Vec::new();
    loop {
        let now = Instant::now();
        let stop = match when {
            KillWhen::AfterAcks(n) => acks.len() >= *n,
            KillWhen::AfterDelay(delay) => now >= started + *delay,
        };
        if stop || now >= deadline {
            break;
        }
        let wait = match when {
            KillWhen::AfterDelay(delay) => (started + *delay).min(deadline) - now,
            KillWhen::AfterAcks(_) => deadline - now,
        };
        match rx.recv_timeout(wait) {
            Ok(ack) => acks.push(ack),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let status = child.0.wait().unwrap();
                let log = std::fs::read_to_string(dir.with_file_name(format!("stderr-{round}")))
                    .unwrap_or_default();
                panic!("round {round}: the child exited by itself ({status}):\n{log}");
            }
        }
    }
    // SIGKILL: no destructors, no flush, no close.
    child.0.kill().unwrap();
    child.0.wait().unwrap();
    // Lines already in the pipe were printed after their wait() resolved:
    // they are acknowledgements too.
    reader.join().unwrap();
    acks.extend(rx.try_iter());
    acks
}

/// Reopens the log and checks every acknowledged batch.
fn verify(dir: &Path, acked: &[Ack]) {
    let manager = LogManager::open(dir, log_config()).unwrap();
    let Some(topic) = manager.topic(TOPIC) else {
        assert!(
            acked.is_empty(),
            "the topic vanished after {} acks",
            acked.len()
        );
        return;
    };
    assert_eq!(topic.partitions.len(), PARTITIONS as usize);
    let mut seen = HashSet::new();
    for ack in acked {
        assert!(
            seen.insert((ack.partition, ack.base_offset)),
            "two acks for one offset: {ack:?}"
        );
        let partition = manager.partition(TOPIC, ack.partition).unwrap();
        assert_eq!(partition_of(&ack.id), ack.partition);
        let read = partition.read(ack.base_offset, 1).unwrap_or_else(|e| {
            panic!(
                "acknowledged {ack:?} is not readable: {e:?} (offsets {:?})",
                partition.offsets()
            )
        });
        let batches = split_batches(read.records).unwrap();
        let batch = batches
            .first()
            .unwrap_or_else(|| panic!("acknowledged {ack:?}: empty read"));
        assert_eq!(batch.base_offset(), ack.base_offset, "{ack:?}");
        batch.verify_crc().unwrap();
        let got: Vec<(Bytes, Bytes)> = batch
            .records()
            .map(|r| r.unwrap())
            .map(|r| (r.key.unwrap(), r.value.unwrap()))
            .collect();
        assert_eq!(got, payload(&ack.id), "{ack:?}: the exact payload");
    }
    // Every partition is one contiguous run of whole batches up to its end.
    for partition in &topic.partitions {
        let (start, hw, leo) = partition.offsets();
        assert_eq!((start, hw), (0, leo));
        let mut next = 0;
        while next < hw {
            let batches = split_batches(partition.read(next, 1 << 20).unwrap().records).unwrap();
            assert!(!batches.is_empty());
            for batch in batches {
                assert_eq!(batch.base_offset(), next);
                batch.verify_crc().unwrap();
                next = batch.next_offset();
            }
        }
    }
    manager.close().unwrap();
}

#[test]
fn acknowledged_appends_survive_kill_minus_nine() {
    if let Some(dir) = std::env::var_os(CHILD_DIR) {
        run_child(PathBuf::from(dir), std::env::var(CHILD_ROUND).unwrap());
    }
    let root = TempRoot(
        std::env::temp_dir().join(format!("odradek-kill-durability-{}", std::process::id())),
    );
    let _ = std::fs::remove_dir_all(&root.0);
    std::fs::create_dir_all(&root.0).unwrap();
    let dir = root.0.join("data");
    let started = Instant::now();
    let budget = started + Duration::from_secs(25);
    let plan = [
        KillWhen::AfterAcks(1),
        KillWhen::AfterAcks(40),
        KillWhen::AfterDelay(Duration::from_millis(30)),
        KillWhen::AfterAcks(150),
        KillWhen::AfterDelay(Duration::from_millis(400)),
        KillWhen::AfterAcks(7),
        KillWhen::AfterAcks(300),
    ];
    let mut acked: Vec<Ack> = Vec::new();
    let mut per_round = Vec::new();
    for (i, when) in plan.iter().enumerate() {
        let deadline = (Instant::now() + Duration::from_secs(6)).min(budget);
        let acks = round(&dir, i, when, deadline);
        per_round.push(acks.len());
        acked.extend(acks);
        verify(&dir, &acked);
        if Instant::now() >= budget {
            break;
        }
    }
    eprintln!(
        "acks per round: {per_round:?}; {} in all, {:?}",
        acked.len(),
        started.elapsed()
    );
    assert!(
        acked.len() >= 100,
        "too few acknowledgements to mean anything: {per_round:?}"
    );
}
