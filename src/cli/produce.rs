//! `odradek produce`: a console producer. Each stdin line is one record;
//! lines are batched per partition and sent as one Produce request per
//! leader when `--batch-lines` lines are pending or `--linger-ms` passes.

use super::client::{expect_response, Cluster};
use super::errors::{describe_error, is_retriable, CliError};
use super::meta;
use super::output::{outln, Json};
use crate::protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use crate::protocol::messages::{ApiKey, ProduceRequest, RequestBody};
use crate::protocol::records::{BatchBuilder, Compression, NewRecord};
use bytes::Bytes;
use std::collections::BTreeMap;
use std::io::BufRead;
use std::time::Duration;

const PRODUCE_MIN: i16 = 3;
const PRODUCE_MAX: i16 = 11;
const SEND_ATTEMPTS: u32 = 5;
/// Longest line accepted: one record must fit a default-sized message.
const MAX_LINE: usize = 16 * 1024 * 1024;

#[derive(clap::Args, Debug)]
pub struct ProduceArgs {
    #[arg(long)]
    pub topic: String,
    /// Send every record to this partition (default: murmur2 of the key,
    /// like the Java client; unkeyed batches rotate over the partitions).
    #[arg(long)]
    pub partition: Option<i32>,
    /// Split each line at the first SEP into key and value.
    #[arg(long, value_name = "SEP")]
    pub key_separator: Option<String>,
    /// A header added to every record, e.g. --header source=cli (repeatable).
    #[arg(long = "header", value_name = "KEY=VALUE")]
    pub headers: Vec<String>,
    /// 0, 1, or all (-1).
    #[arg(long, default_value = "all")]
    pub acks: String,
    /// Send when this many lines are pending.
    #[arg(long, default_value_t = 500)]
    pub batch_lines: usize,
    /// Send pending lines at the latest this long after the first arrived.
    #[arg(long, default_value_t = 100)]
    pub linger_ms: u64,
    /// none, gzip, snappy, lz4 or zstd.
    #[arg(long, default_value = "none")]
    pub compression: String,
}

fn parse_acks(text: &str) -> Result<i16, CliError> {
    match text {
        "all" | "-1" => Ok(-1),
        "0" => Ok(0),
        "1" => Ok(1),
        _ => Err(CliError::new(format!(
            "--acks '{text}': expected 0, 1 or all"
        ))),
    }
}

fn parse_compression(text: &str) -> Result<Compression, CliError> {
    Ok(match text {
        "none" => Compression::None,
        "gzip" => Compression::Gzip,
        "snappy" => Compression::Snappy,
        "lz4" => Compression::Lz4,
        "zstd" => Compression::Zstd,
        _ => {
            return Err(CliError::new(format!(
                "--compression '{text}': expected none, gzip, snappy, lz4 or zstd"
            )))
        }
    })
}

/// Kafka's murmur2 (as `org.apache.kafka.common.utils.Utils.murmur2`), so
/// keys land on the partitions Java and librdkafka's murmur2 partitioners choose.
pub fn murmur2(data: &[u8]) -> i32 {
    const M: u32 = 0x5bd1_e995;
    let mut h: u32 = 0x9747_b28c ^ (data.len() as u32);
    let mut chunks = data.chunks_exact(4);
    for chunk in &mut chunks {
        let mut k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> 24;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M) ^ k;
    }
    let tail = chunks.remainder();
    if tail.len() == 3 {
        h ^= u32::from(tail[2]) << 16;
    }
    if tail.len() >= 2 {
        h ^= u32::from(tail[1]) << 8;
    }
    if !tail.is_empty() {
        h ^= u32::from(tail[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

struct Producer {
    topic: String,
    acks: i16,
    compression: Compression,
    headers: Vec<(Bytes, Option<Bytes>)>,
    partitions: i32,
    leaders: BTreeMap<(String, i32), i32>,
    pending: BTreeMap<i32, Vec<NewRecord>>,
    pending_lines: usize,
    next_unkeyed: i32,
    sent_records: u64,
    sent_requests: u64,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl Producer {
    async fn refresh(&mut self, cluster: &mut Cluster) -> Result<(), CliError> {
        let layouts = meta::layouts(cluster, Some(std::slice::from_ref(&self.topic))).await?;
        let layout = layouts
            .iter()
            .find(|l| l.name == self.topic)
            .ok_or_else(|| CliError::new(format!("topic '{}' not found", self.topic)))?;
        self.partitions = i32::try_from(layout.partitions.len()).unwrap_or(i32::MAX);
        if self.partitions == 0 {
            return Err(CliError::new(format!(
                "topic '{}' has no partitions",
                self.topic
            )));
        }
        self.leaders = meta::leaders(&layouts);
        Ok(())
    }

    fn add(&mut self, partition: Option<i32>, key: Option<Bytes>, value: Bytes) {
        let partition = match (partition, &key) {
            (Some(p), _) => p,
            (None, Some(k)) => (murmur2(k) & 0x7fff_ffff) % self.partitions,
            (None, None) => self.next_unkeyed,
        };
        let mut record = NewRecord::new(now_ms(), key, Some(value));
        record.headers = self.headers.clone();
        self.pending.entry(partition).or_default().push(record);
        self.pending_lines += 1;
    }

    /// Sends everything pending, one Produce request per leader, retrying
    /// partitions whose leader moved.
    async fn flush(&mut self, cluster: &mut Cluster) -> Result<(), CliError> {
        let mut attempt = 0;
        while !self.pending.is_empty() {
            attempt += 1;
            let mut by_leader: BTreeMap<i32, Vec<i32>> = BTreeMap::new();
            for &partition in self.pending.keys() {
                let leader = self
                    .leaders
                    .get(&(self.topic.clone(), partition))
                    .copied()
                    .ok_or_else(|| {
                        CliError::new(format!(
                            "topic '{}' has no partition {partition}",
                            self.topic
                        ))
                    })?;
                by_leader.entry(leader).or_default().push(partition);
            }
            let mut retry = Vec::new();
            for (leader, partitions) in by_leader {
                for (partition, error) in self.send_to(cluster, leader, &partitions).await? {
                    if is_retriable(error) && attempt < SEND_ATTEMPTS {
                        retry.push(partition);
                    } else {
                        return Err(CliError::new(format!(
                            "producing to {}-{partition}: {}",
                            self.topic,
                            describe_error(error, None)
                        )));
                    }
                }
            }
            if !retry.is_empty() {
                tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
                self.refresh(cluster).await?;
            }
        }
        self.pending_lines = 0;
        // Sticky partitioning for unkeyed lines: one partition per flush.
        self.next_unkeyed = (self.next_unkeyed + 1) % self.partitions.max(1);
        Ok(())
    }

    /// One Produce request; sent partitions leave `pending`, and the
    /// (partition, error) pairs that failed are returned (still pending).
    async fn send_to(
        &mut self,
        cluster: &mut Cluster,
        leader: i32,
        partitions: &[i32],
    ) -> Result<Vec<(i32, i16)>, CliError> {
        let mut data = Vec::new();
        let mut counts = BTreeMap::new();
        for &p in partitions {
            let records = self.pending.get(&p).map(Vec::as_slice).unwrap_or_default();
            let mut builder = BatchBuilder::new(0).compression(self.compression);
            for r in records {
                builder.push(r.clone());
            }
            let batch = builder
                .build()
                .map_err(|e| CliError::new(format!("building a batch for partition {p}: {e}")))?;
            counts.insert(p, records.len() as u64);
            data.push(PartitionProduceData {
                index: p,
                records: Some(batch),
            });
        }
        let request = ProduceRequest {
            transactional_id: None,
            acks: self.acks,
            timeout_ms: 30_000,
            topic_data: vec![TopicProduceData {
                name: self.topic.clone(),
                partition_data: data,
                ..TopicProduceData::default()
            }],
        };
        let conn = cluster.node(leader).await?;
        let version = conn.version(ApiKey::Produce, PRODUCE_MAX)?;
        if version < PRODUCE_MIN {
            return Err(CliError::new(format!(
                "{}: Produce v{version} predates record batches",
                conn.addr()
            )));
        }
        self.sent_requests += 1;
        if self.acks == 0 {
            conn.send_oneway(version, RequestBody::Produce(request))
                .await?;
            for p in partitions {
                self.pending.remove(p);
                self.sent_records += counts.get(p).copied().unwrap_or(0);
            }
            return Ok(Vec::new());
        }
        let response = expect_response!(
            conn.send(version, RequestBody::Produce(request)).await?,
            Produce
        );
        let mut failed = Vec::new();
        let mut answered = 0;
        for topic in response.responses.iter().filter(|t| t.name == self.topic) {
            for p in &topic.partition_responses {
                if !partitions.contains(&p.index) {
                    continue;
                }
                answered += 1;
                if p.error_code == 0 {
                    self.pending.remove(&p.index);
                    self.sent_records += counts.get(&p.index).copied().unwrap_or(0);
                } else {
                    failed.push((p.index, p.error_code));
                }
            }
        }
        if answered != partitions.len() {
            return Err(CliError::new(format!(
                "Produce: {answered} of {} partitions answered",
                partitions.len()
            )));
        }
        Ok(failed)
    }
}

/// Stdin lines (newline included) from a reader thread, since the runtime
/// is built without tokio's stdin support. Lines longer than `MAX_LINE`
/// arrive cut at the limit and are rejected by the caller.
fn stdin_lines() -> tokio::sync::mpsc::Receiver<std::io::Result<Vec<u8>>> {
    let (tx, rx) = tokio::sync::mpsc::channel(1024);
    std::thread::spawn(move || {
        let stdin = std::io::stdin();
        let mut input = stdin.lock();
        loop {
            let mut line = Vec::new();
            match std::io::Read::take(&mut input, (MAX_LINE + 2) as u64)
                .read_until(b'\n', &mut line)
            {
                Ok(0) => break,
                Ok(_) => {
                    if tx.blocking_send(Ok(line)).is_err() {
                        break;
                    }
                }
                Err(e) => {
                    let _ = tx.blocking_send(Err(e));
                    break;
                }
            }
        }
    });
    rx
}

pub async fn run(cluster: &mut Cluster, args: ProduceArgs, json: bool) -> Result<(), CliError> {
    let acks = parse_acks(&args.acks)?;
    let compression = parse_compression(&args.compression)?;
    let headers = args
        .headers
        .iter()
        .map(|h| {
            super::topics::parse_pair(h, "--header")
                .map(|(k, v)| (Bytes::from(k), Some(Bytes::from(v))))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut producer = Producer {
        topic: args.topic.clone(),
        acks,
        compression,
        headers,
        partitions: 0,
        leaders: BTreeMap::new(),
        pending: BTreeMap::new(),
        pending_lines: 0,
        next_unkeyed: 0,
        sent_records: 0,
        sent_requests: 0,
    };
    producer.refresh(cluster).await?;
    if let Some(p) = args.partition {
        if p < 0 || p >= producer.partitions {
            return Err(CliError::new(format!(
                "topic '{}' has no partition {p}",
                args.topic
            )));
        }
    }
    let batch_lines = args.batch_lines.max(1);
    let linger = Duration::from_millis(args.linger_ms);
    let mut lines = stdin_lines();
    let mut line_no = 0u64;
    let mut deadline: Option<tokio::time::Instant> = None;
    loop {
        let next = tokio::select! {
            next = lines.recv() => next,
            _ = tokio::time::sleep_until(deadline.unwrap_or_else(tokio::time::Instant::now)), if deadline.is_some() => {
                producer.flush(cluster).await?;
                deadline = None;
                continue;
            }
        };
        let line = match next {
            None => break,
            Some(Err(e)) => return Err(CliError::new(format!("reading stdin: {e}"))),
            Some(Ok(line)) => line,
        };
        line_no += 1;
        let mut text: &[u8] = &line;
        text = text.strip_suffix(b"\n").unwrap_or(text);
        text = text.strip_suffix(b"\r").unwrap_or(text);
        if text.len() > MAX_LINE {
            return Err(CliError::new(format!(
                "line {line_no} is longer than {MAX_LINE} bytes"
            )));
        }
        let (key, value) = match &args.key_separator {
            Some(sep) => {
                let sep = sep.as_bytes();
                let at = text
                    .windows(sep.len().max(1))
                    .position(|w| w == sep)
                    .ok_or_else(|| CliError::new(format!("line {line_no} has no key separator")))?;
                (
                    Some(Bytes::copy_from_slice(&text[..at])),
                    Bytes::copy_from_slice(&text[at + sep.len()..]),
                )
            }
            None => (None, Bytes::copy_from_slice(text)),
        };
        producer.add(args.partition, key, value);
        if producer.pending_lines >= batch_lines {
            producer.flush(cluster).await?;
            deadline = None;
        } else if deadline.is_none() {
            deadline = Some(tokio::time::Instant::now() + linger);
        }
    }
    producer.flush(cluster).await?;
    if json {
        outln!(
            "{}",
            Json::obj([
                ("topic", Json::from(args.topic.as_str())),
                ("records", Json::Int(producer.sent_records as i64)),
                ("requests", Json::Int(producer.sent_requests as i64)),
            ])
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Vectors from Kafka's own murmur2 test.
    #[test]
    fn murmur2_matches_kafka() {
        assert_eq!(murmur2(b"21"), -973_932_308);
        assert_eq!(murmur2(b"foobar"), -790_332_482);
        assert_eq!(murmur2(b"a-little-bit-long-string"), -985_981_536);
        assert_eq!(murmur2(b"a-little-bit-longer-string"), -1_486_304_829);
        assert_eq!(
            murmur2(b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8"),
            -58_897_971
        );
        assert_eq!(murmur2(b"abc"), 479_470_107);
    }

    #[test]
    fn acks_and_compression_parse() {
        assert_eq!(parse_acks("all").unwrap(), -1);
        assert_eq!(parse_acks("1").unwrap(), 1);
        assert!(parse_acks("2").is_err());
        assert_eq!(parse_compression("zstd").unwrap(), Compression::Zstd);
        assert!(parse_compression("brotli").is_err());
    }
}
