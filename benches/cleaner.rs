//! Log cleaner benchmark (run by `scripts/bench-cleaner`): the cleaner's
//! throughput (MB of log read per second of a forced pass) and how much a
//! concurrent pass slows appends to the same partition (append throughput
//! during the pass over append throughput alone, on identical copies of
//! the log).
//!
//! Environment: `BENCH_CLEANER_MB` (log size, default 256), `BENCH_KEYS`
//! (distinct keys, default 10000), `BENCH_DIR` (scratch directory).

use bytes::Bytes;
use odradek::config::log_config::LogConfig;
use odradek::log::cleaner::{clean_partition, CleanerOptions};
use odradek::log::partition::Partition;
use odradek::protocol::records::{BatchBuilder, Compression, NewRecord};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const RECORDS_PER_BATCH: usize = 50;
const VALUE_BYTES: usize = 200;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn config() -> LogConfig {
    // Page-cache mode (flush.ms set): appends are not fsynced one by one.
    LogConfig {
        cleanup_policy: "compact".into(),
        segment_bytes: 16 << 20,
        flush_ms: Some(60_000),
        ..LogConfig::default()
    }
}

fn open(dir: &Path) -> Partition {
    Partition::open(
        dir.to_path_buf(),
        "bench",
        0,
        config(),
        odradek::log::now_ms(),
    )
    .expect("open partition")
    .0
}

fn batch(seq: &mut u64, keys: u64) -> Bytes {
    let mut builder = BatchBuilder::new(0).compression(Compression::None);
    let now = odradek::log::now_ms();
    for _ in 0..RECORDS_PER_BATCH {
        let key = format!("key-{:08}", *seq % keys);
        let mut value = format!("{key}={seq}").into_bytes();
        value.resize(VALUE_BYTES, b'.');
        builder.push(NewRecord::new(
            now,
            Some(Bytes::from(key)),
            Some(Bytes::from(value)),
        ));
        *seq += 1;
    }
    builder.build().expect("batch")
}

fn append(p: &Partition, bytes: &[u8]) {
    let appended = p.append(bytes, odradek::log::now_ms()).expect("append");
    p.mark_durable(appended.last_offset + 1);
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("entry");
        std::fs::copy(entry.path(), to.join(entry.file_name())).expect("copy");
    }
}

/// Appends for `duration` (or while `running` stays set, if given); bytes per second.
fn produce(p: &Partition, keys: u64, duration: Duration, running: Option<&AtomicBool>) -> f64 {
    let mut seq = 1 << 40;
    let started = Instant::now();
    let mut bytes = 0u64;
    loop {
        let b = batch(&mut seq, keys);
        append(p, &b);
        bytes += b.len() as u64;
        let done = match running {
            Some(flag) => !flag.load(Ordering::Acquire),
            None => started.elapsed() >= duration,
        };
        if done {
            break;
        }
    }
    bytes as f64 / started.elapsed().as_secs_f64()
}

fn main() {
    let mb = env_or("BENCH_CLEANER_MB", 256);
    let keys = env_or("BENCH_KEYS", 10_000);
    let root = std::env::var("BENCH_DIR").map_or_else(
        |_| std::env::temp_dir().join(format!("odradek-bench-cleaner-{}", std::process::id())),
        PathBuf::from,
    );
    let _ = std::fs::remove_dir_all(&root);
    let (filled, alone, concurrent) = (root.join("filled"), root.join("a"), root.join("b"));

    eprintln!("filling {mb} MB over {keys} keys");
    {
        let p = open(&filled);
        let mut seq = 0;
        let target = mb << 20;
        while p.offsets().2 * (VALUE_BYTES as i64 + 30) < target as i64 {
            append(&p, &batch(&mut seq, keys));
        }
        p.close().expect("close");
    }
    copy_dir(&filled, &alone);
    let options = CleanerOptions {
        force: true,
        ..CleanerOptions::with_buffer(128 << 20)
    };

    // 1. A pass alone: the cleaner's throughput.
    let p = open(&alone);
    let stats = clean_partition(&p, odradek::log::now_ms(), &options)
        .expect("clean")
        .expect("a pass");
    let seconds = stats.micros as f64 / 1e6;
    let mbs = stats.bytes_read as f64 / (1 << 20) as f64 / seconds;
    drop(p);
    let _ = std::fs::remove_dir_all(&alone);

    // 2. Rounds of: appends to the partition while a pass runs over it,
    // then appends alone for as long to an identical copy of the log.
    let mut rounds = Vec::new();
    for _ in 0..env_or("BENCH_ROUNDS", 3) {
        copy_dir(&filled, &concurrent);
        let p = Arc::new(open(&concurrent));
        let running = Arc::new(AtomicBool::new(true));
        let cleaner = {
            let (p, running, options) = (Arc::clone(&p), Arc::clone(&running), options.clone());
            std::thread::spawn(move || {
                let stats = clean_partition(&p, odradek::log::now_ms(), &options);
                running.store(false, Ordering::Release);
                stats
            })
        };
        let during = produce(&p, keys, Duration::ZERO, Some(&running));
        let pass = cleaner
            .join()
            .expect("cleaner thread")
            .expect("clean")
            .expect("a pass");
        drop(p);
        let _ = std::fs::remove_dir_all(&concurrent);
        copy_dir(&filled, &alone);
        let p = open(&alone);
        let alone_rate = produce(&p, keys, Duration::from_micros(pass.micros), None);
        drop(p);
        let _ = std::fs::remove_dir_all(&alone);
        println!(
            "appends alone: {:.1} MB/s; during a pass ({:.2} s): {:.1} MB/s; ratio {:.2}",
            alone_rate / (1 << 20) as f64,
            pass.micros as f64 / 1e6,
            during / (1 << 20) as f64,
            during / alone_rate
        );
        rounds.push(during / alone_rate);
    }
    rounds.sort_by(f64::total_cmp);
    let _ = std::fs::remove_dir_all(&root);

    println!(
        "cleaner: {:.1} MB read in {:.2} s = {:.1} MB/s, {:.1} MB written, records {} -> {}",
        stats.bytes_read as f64 / (1 << 20) as f64,
        seconds,
        mbs,
        stats.bytes_written as f64 / (1 << 20) as f64,
        stats.records_read,
        stats.records_kept
    );
    println!(
        "median append throughput during a pass / alone: {:.2} ({} rounds)",
        rounds.get(rounds.len() / 2).copied().unwrap_or(f64::NAN),
        rounds.len()
    );
}
