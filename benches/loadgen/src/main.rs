//! `odradek-loadgen`: produce and consume throughput and produce latency on
//! librdkafka, a plain TCP→file floor for the same bytes, and broker startup
//! time and idle memory. Prints one `RESULT` line per measurement for
//! scripts/bench to tabulate, and a progress line every second on stderr.

mod wire;

use clap::{Parser, Subcommand};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command as Process, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Produce `records` records of `size` bytes over `partitions` partitions.
    Produce(LoadArgs),
    /// Consume the records a produce run wrote, from the beginning.
    Consume(LoadArgs),
    /// The same number of bytes through a plain TCP connection into a file (fsynced at the end).
    Floor(LoadArgs),
    /// Start a broker binary, time launch → first Metadata answer, then read its idle RSS.
    Startup {
        #[arg(long)]
        binary: String,
        #[arg(long, default_value = "127.0.0.1:19192")]
        listen: String,
        #[arg(long)]
        data_dir: String,
    },
}

#[derive(clap::Args, Clone)]
struct LoadArgs {
    #[arg(long, default_value = "127.0.0.1:9092")]
    bootstrap: String,
    #[arg(long, default_value = "loadgen")]
    topic: String,
    #[arg(long, default_value_t = 1)]
    partitions: i32,
    /// Replicas of each partition (a cluster's brokers must be up).
    #[arg(long, default_value_t = 1)]
    replication_factor: i16,
    #[arg(long, default_value_t = 200_000)]
    records: u64,
    #[arg(long, default_value_t = 1024)]
    size: usize,
    #[arg(long, default_value = "all")]
    acks: String,
    /// Records per second (0: as fast as possible). Latency means something only below saturation.
    #[arg(long, default_value_t = 0)]
    rate: u64,
    /// Idempotent producer (enable.idempotence=true).
    #[arg(long)]
    idempotence: bool,
    /// Transactional producer committing every N records (0: none).
    #[arg(long, default_value_t = 0)]
    txn_records: u64,
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Produce(args) => produce(&args),
        Command::Consume(args) => consume(&args),
        Command::Floor(args) => floor(&args),
        Command::Startup {
            binary,
            listen,
            data_dir,
        } => startup(&binary, &listen, &data_dir),
    };
    if let Err(e) = result {
        eprintln!("odradek-loadgen: {e}");
        std::process::exit(1);
    }
}

/// Prints progress every second until `done` reaches `total`.
fn progress(label: &'static str, done: Arc<AtomicU64>, total: u64) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let start = Instant::now();
        loop {
            std::thread::sleep(Duration::from_secs(1));
            let n = done.load(Ordering::Relaxed);
            eprintln!(
                "  {label}: {n}/{total} records, {:.0}s",
                start.elapsed().as_secs_f64()
            );
            if n >= total {
                return;
            }
        }
    })
}

struct Latencies {
    micros: Mutex<Vec<u64>>,
    acked: Arc<AtomicU64>,
    failed: AtomicU64,
}

impl ClientContext for Latencies {}

impl ProducerContext for Latencies {
    type DeliveryOpaque = Box<Instant>;
    fn delivery(&self, result: &DeliveryResult<'_>, sent: Self::DeliveryOpaque) {
        let micros = sent.elapsed().as_micros() as u64;
        match result {
            Ok(_) => {
                if let Ok(mut all) = self.micros.lock() {
                    all.push(micros);
                }
                self.acked.fetch_add(1, Ordering::Relaxed);
            }
            Err(_) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                self.acked.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)] as f64 / 1000.0
}

fn produce(args: &LoadArgs) -> Result<(), String> {
    wire::create_topic(
        &args.bootstrap,
        &args.topic,
        args.partitions,
        args.replication_factor,
    )
    .map_err(|e| format!("creating topic: {e}"))?;
    let acked = Arc::new(AtomicU64::new(0));
    let context = Latencies {
        micros: Mutex::new(Vec::with_capacity(args.records as usize)),
        acked: Arc::clone(&acked),
        failed: AtomicU64::new(0),
    };
    let mut config = ClientConfig::new();
    config.set(
        "enable.idempotence",
        if args.idempotence || args.txn_records > 0 {
            "true"
        } else {
            "false"
        },
    );
    if args.txn_records > 0 {
        config.set("transactional.id", format!("{}-txn", args.topic));
    }
    let producer: BaseProducer<Latencies> = config
        .set("bootstrap.servers", &args.bootstrap)
        .set("acks", &args.acks)
        .set(
            "linger.ms",
            std::env::var("LOADGEN_LINGER_MS").as_deref().unwrap_or("5"),
        )
        .set(
            "socket.nagle.disable",
            std::env::var("LOADGEN_NAGLE_DISABLE")
                .as_deref()
                .unwrap_or("false"),
        )
        .set("batch.size", "1000000")
        .set("queue.buffering.max.messages", "200000")
        .create_with_context(context)
        .map_err(|e| e.to_string())?;
    let payload = vec![0x61u8; args.size];
    let txn_timeout = Duration::from_secs(60);
    if args.txn_records > 0 {
        producer
            .init_transactions(txn_timeout)
            .map_err(|e| format!("init_transactions: {e}"))?;
    }
    let reporter = progress("produce", Arc::clone(&acked), args.records);
    let start = Instant::now();
    for i in 0..args.records {
        if args.txn_records > 0 && i % args.txn_records == 0 {
            if i > 0 {
                // Serve delivery reports in short polls first: rust-rdkafka's
                // flush inside commit polls in 100 ms steps, which would
                // measure the client, not the broker.
                while acked.load(Ordering::Relaxed) < i {
                    producer.poll(Duration::from_millis(1));
                }
                producer
                    .commit_transaction(txn_timeout)
                    .map_err(|e| format!("commit: {e}"))?;
            }
            producer
                .begin_transaction()
                .map_err(|e| format!("begin: {e}"))?;
        }
        if args.rate > 0 {
            let due = start + Duration::from_secs_f64(i as f64 / args.rate as f64);
            while Instant::now() < due {
                producer.poll(Duration::from_micros(200));
            }
        }
        let key = i.to_be_bytes();
        let partition = (i % args.partitions as u64) as i32;
        let mut record = BaseRecord::with_opaque_to(&args.topic, Box::new(Instant::now()))
            .partition(partition)
            .key(&key[..])
            .payload(&payload[..]);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    producer.poll(Duration::from_millis(1));
                    record = back;
                }
                Err((e, _)) => return Err(format!("send: {e}")),
            }
        }
        producer.poll(Duration::ZERO);
    }
    if args.txn_records > 0 {
        while acked.load(Ordering::Relaxed) < args.records {
            producer.poll(Duration::from_millis(1));
        }
        producer
            .commit_transaction(txn_timeout)
            .map_err(|e| format!("commit: {e}"))?;
    }
    producer
        .flush(Duration::from_secs(120))
        .map_err(|e| format!("flush: {e}"))?;
    let elapsed = start.elapsed().as_secs_f64();
    let _ = reporter.join();
    let context = producer.context();
    let failed = context.failed.load(Ordering::Relaxed);
    if failed > 0 {
        return Err(format!("{failed} records failed"));
    }
    let mut micros = context.micros.lock().map_err(|_| "lock")?.clone();
    micros.sort_unstable();
    let mb = (args.records as f64 * args.size as f64) / 1e6;
    println!(
        "RESULT produce partitions={} rf={} rate={} records={} size={} acks={} idempotence={} txn_records={} seconds={elapsed:.2} MBps={:.1} recordsps={:.0} p50_ms={:.2} p99_ms={:.2} p999_ms={:.2}",
        args.partitions,
        args.replication_factor,
        args.rate,
        args.records,
        args.size,
        args.acks,
        args.idempotence || args.txn_records > 0,
        args.txn_records,
        mb / elapsed,
        args.records as f64 / elapsed,
        percentile(&micros, 0.50),
        percentile(&micros, 0.99),
        percentile(&micros, 0.999),
    );
    Ok(())
}

fn consume(args: &LoadArgs) -> Result<(), String> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &args.bootstrap)
        .set("group.id", "odradek-loadgen")
        .set("enable.auto.commit", "false")
        .set("fetch.max.bytes", "52428800")
        .create()
        .map_err(|e| e.to_string())?;
    let mut assignment = TopicPartitionList::new();
    for p in 0..args.partitions {
        assignment
            .add_partition_offset(&args.topic, p, Offset::Beginning)
            .map_err(|e| e.to_string())?;
    }
    consumer.assign(&assignment).map_err(|e| e.to_string())?;
    let seen = Arc::new(AtomicU64::new(0));
    let reporter = progress("consume", Arc::clone(&seen), args.records);
    let start = Instant::now();
    let mut bytes = 0u64;
    let deadline = start + Duration::from_secs(300);
    while seen.load(Ordering::Relaxed) < args.records {
        if Instant::now() > deadline {
            return Err(format!(
                "consumed only {} records in 300 s",
                seen.load(Ordering::Relaxed)
            ));
        }
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(message)) => {
                bytes += message.payload_len() as u64;
                seen.fetch_add(1, Ordering::Relaxed);
            }
            Some(Err(e)) => return Err(format!("consume: {e}")),
            None => {}
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    let _ = reporter.join();
    println!(
        "RESULT consume partitions={} records={} size={} seconds={elapsed:.2} MBps={:.1} recordsps={:.0}",
        args.partitions,
        args.records,
        args.size,
        bytes as f64 / 1e6 / elapsed,
        args.records as f64 / elapsed
    );
    Ok(())
}

/// The floor: the same bytes over loopback TCP into a file, fsynced at the end.
fn floor(args: &LoadArgs) -> Result<(), String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let path = std::env::temp_dir().join(format!("odradek-floor-{}", std::process::id()));
    let sink_path = path.clone();
    let sink = std::thread::spawn(move || -> std::io::Result<u64> {
        let (mut socket, _) = listener.accept()?;
        let mut file = std::fs::File::create(&sink_path)?;
        let mut buf = vec![0u8; 1 << 20];
        let mut total = 0u64;
        loop {
            let n = socket.read(&mut buf)?;
            if n == 0 {
                break;
            }
            file.write_all(&buf[..n])?;
            total += n as u64;
        }
        file.sync_all()?;
        socket.write_all(b"k")?;
        Ok(total)
    });
    let total = args.records * args.size as u64;
    let chunk = vec![0x61u8; 1 << 20];
    let start = Instant::now();
    let mut stream = TcpStream::connect(addr).map_err(|e| e.to_string())?;
    let mut sent = 0u64;
    while sent < total {
        let n = chunk.len().min((total - sent) as usize);
        stream.write_all(&chunk[..n]).map_err(|e| e.to_string())?;
        sent += n as u64;
    }
    stream
        .shutdown(std::net::Shutdown::Write)
        .map_err(|e| e.to_string())?;
    let mut ack = [0u8; 1];
    stream.read_exact(&mut ack).map_err(|e| e.to_string())?;
    let elapsed = start.elapsed().as_secs_f64();
    let written = sink
        .join()
        .map_err(|_| "sink panicked")?
        .map_err(|e| e.to_string())?;
    let _ = std::fs::remove_file(&path);
    println!(
        "RESULT floor bytes={written} seconds={elapsed:.2} MBps={:.1}",
        written as f64 / 1e6 / elapsed
    );
    Ok(())
}

fn startup(binary: &str, listen: &str, data_dir: &str) -> Result<(), String> {
    let start = Instant::now();
    let mut child = Process::new(binary)
        .args(["serve", "--listen", listen, "--data-dir", data_dir])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("starting {binary}: {e}"))?;
    let outcome = (|| {
        let deadline = start + Duration::from_secs(30);
        while wire::metadata(listen).is_err() {
            if Instant::now() > deadline {
                return Err("no Metadata answer within 30 s".to_string());
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        let ready_ms = start.elapsed().as_secs_f64() * 1000.0;
        std::thread::sleep(Duration::from_secs(2));
        let status = std::fs::read_to_string(format!("/proc/{}/status", child.id()))
            .map_err(|e| e.to_string())?;
        let rss_kb: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .ok_or("no VmRSS")?;
        println!(
            "RESULT startup ready_ms={ready_ms:.1} idle_rss_mib={:.1}",
            rss_kb as f64 / 1024.0
        );
        Ok(())
    })();
    let _ = child.kill();
    let _ = child.wait();
    outcome
}
