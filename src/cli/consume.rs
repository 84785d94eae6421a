//! `odradek consume`: a console consumer over Fetch, printing each record
//! with a format template or as a JSON line.

use super::client::{expect_response, Cluster};
use super::errors::{describe_error, is_retriable, CliError};
use super::group_api::{self, Offsets};
use super::meta::{self, EARLIEST, LATEST};
use super::output::Json;
use crate::protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use crate::protocol::messages::{ApiKey, FetchRequest, RequestBody};
use crate::protocol::records::{BatchIter, Record};
use std::collections::BTreeMap;
use std::io::Write;
use std::time::Duration;

/// Fetch v13 names topics by id only; v12 is the newest that takes names.
const FETCH_MAX: i16 = 12;
const FETCH_MIN: i16 = 4;
const FETCH_WAIT_MS: i32 = 500;
const PARTITION_MAX_BYTES: i32 = 1024 * 1024;
const FETCH_MAX_BYTES: i32 = 32 * 1024 * 1024;
const OFFSET_OUT_OF_RANGE: i16 = 1;

#[derive(clap::Args, Debug)]
pub struct ConsumeArgs {
    #[arg(long)]
    pub topic: String,
    /// Read only this partition (default: all of the topic's partitions).
    #[arg(long)]
    pub partition: Option<i32>,
    /// Start at this offset, or `earliest` / `latest` (overrides committed offsets).
    #[arg(long, value_name = "OFFSET")]
    pub offset: Option<String>,
    /// Where there is no committed offset (or no --group): start at the
    /// earliest offset instead of the end of the log.
    #[arg(long)]
    pub from_beginning: bool,
    /// Start from GROUP's committed offsets and commit the position after
    /// every fetch and at exit. The consumer does NOT join the group: it is a
    /// standalone consumer (like Java's assign() + commitSync()) committing
    /// with generation -1, which brokers accept only while the group has no
    /// active members.
    #[arg(long, value_name = "GROUP")]
    pub group: Option<String>,
    /// Stop after this many records.
    #[arg(long)]
    pub max_messages: Option<u64>,
    /// Stop when no record arrived for this long (default: run until interrupted).
    #[arg(long)]
    pub timeout_ms: Option<u64>,
    /// Output template; placeholders {topic} {partition} {offset} {timestamp}
    /// {key} {value} {headers} (as k=v,k=v); \t and \n are expanded.
    #[arg(long, default_value = "{value}")]
    pub format: String,
}

type Tp = (String, i32);

/// Renders one record with the template.
pub fn render(template: &str, topic: &str, partition: i32, record: &Record) -> String {
    let text = |b: &Option<bytes::Bytes>| {
        b.as_ref().map_or_else(
            || "null".to_string(),
            |b| String::from_utf8_lossy(b).into_owned(),
        )
    };
    let headers: Vec<String> = record
        .headers
        .iter()
        .map(|(k, v)| format!("{}={}", String::from_utf8_lossy(k), text(v)))
        .collect();
    let mut out = String::with_capacity(template.len() + 64);
    let mut rest = template;
    while let Some(start) = rest.find(['{', '\\']) {
        out.push_str(&rest[..start]);
        let tail = &rest[start..];
        let (piece, used): (String, usize) = if let Some(esc) = tail.strip_prefix('\\') {
            match esc.chars().next() {
                Some('t') => ("\t".into(), 2),
                Some('n') => ("\n".into(), 2),
                Some('\\') => ("\\".into(), 2),
                _ => ("\\".into(), 1),
            }
        } else {
            let field = tail.find('}').map(|end| (&tail[1..end], end + 1));
            match field {
                Some(("topic", n)) => (topic.to_string(), n),
                Some(("partition", n)) => (partition.to_string(), n),
                Some(("offset", n)) => (record.offset.to_string(), n),
                Some(("timestamp", n)) => (record.timestamp.to_string(), n),
                Some(("key", n)) => (text(&record.key), n),
                Some(("value", n)) => (text(&record.value), n),
                Some(("headers", n)) => (headers.join(","), n),
                _ => ("{".into(), 1),
            }
        };
        out.push_str(&piece);
        rest = &tail[used..];
    }
    out.push_str(rest);
    out
}

fn record_json(topic: &str, partition: i32, record: &Record) -> Json {
    let text = |b: &Option<bytes::Bytes>| {
        Json::from(b.as_ref().map(|b| String::from_utf8_lossy(b).into_owned()))
    };
    let headers: Vec<Json> = record
        .headers
        .iter()
        .map(|(k, v)| {
            Json::obj([
                ("key", Json::from(String::from_utf8_lossy(k).into_owned())),
                ("value", text(v)),
            ])
        })
        .collect();
    Json::obj([
        ("topic", Json::from(topic)),
        ("partition", Json::from(partition)),
        ("offset", Json::from(record.offset)),
        ("timestamp", Json::from(record.timestamp)),
        ("key", text(&record.key)),
        ("value", text(&record.value)),
        ("headers", Json::Arr(headers)),
    ])
}

struct Consumer {
    topic: String,
    leaders: BTreeMap<Tp, i32>,
    positions: BTreeMap<Tp, i64>,
    reset_to: i64,
}

impl Consumer {
    async fn refresh(&mut self, cluster: &mut Cluster) -> Result<(), CliError> {
        let layouts = meta::layouts(cluster, Some(std::slice::from_ref(&self.topic))).await?;
        self.leaders = meta::leaders(&layouts);
        Ok(())
    }

    /// Moves partitions to `reset_to` (earliest or latest).
    async fn reset(
        &mut self,
        cluster: &mut Cluster,
        partitions: &[Tp],
        to: i64,
    ) -> Result<(), CliError> {
        let offsets = meta::list_offsets(cluster, &self.leaders, partitions, to).await?;
        for tp in partitions {
            match offsets.get(tp) {
                Some(Ok(o)) => {
                    self.positions.insert(tp.clone(), *o);
                }
                Some(Err(e)) => {
                    return Err(CliError::new(format!("offset of {}-{}: {e}", tp.0, tp.1)))
                }
                None => {
                    return Err(CliError::new(format!(
                        "offset of {}-{}: no answer",
                        tp.0, tp.1
                    )))
                }
            }
        }
        Ok(())
    }
}

pub async fn run(cluster: &mut Cluster, args: ConsumeArgs, json: bool) -> Result<(), CliError> {
    let mut consumer = Consumer {
        topic: args.topic.clone(),
        leaders: BTreeMap::new(),
        positions: BTreeMap::new(),
        reset_to: if args.from_beginning {
            EARLIEST
        } else {
            LATEST
        },
    };
    consumer.refresh(cluster).await?;
    let all: Vec<Tp> = consumer.leaders.keys().cloned().collect();
    let partitions: Vec<Tp> = match args.partition {
        Some(p) if all.contains(&(args.topic.clone(), p)) => vec![(args.topic.clone(), p)],
        Some(p) => {
            return Err(CliError::new(format!(
                "topic '{}' has no partition {p}",
                args.topic
            )))
        }
        None => all,
    };
    let coordinator = match &args.group {
        Some(group) => Some(group_api::coordinator(cluster, group).await?),
        None => None,
    };
    // Starting positions: --offset, else the group's commits, else reset policy.
    match args.offset.as_deref() {
        Some("earliest") => consumer.reset(cluster, &partitions, EARLIEST).await?,
        Some("latest") => consumer.reset(cluster, &partitions, LATEST).await?,
        Some(text) => {
            let offset: i64 = text.parse().map_err(|_| {
                CliError::new(format!(
                    "--offset '{text}': expected a number, earliest or latest"
                ))
            })?;
            for tp in &partitions {
                consumer.positions.insert(tp.clone(), offset);
            }
        }
        None => {
            if let (Some(group), Some(coordinator)) = (&args.group, coordinator) {
                let committed =
                    group_api::committed(cluster, coordinator, group, Some(&partitions)).await?;
                consumer.positions.extend(committed);
            }
            let missing: Vec<Tp> = partitions
                .iter()
                .filter(|tp| !consumer.positions.contains_key(*tp))
                .cloned()
                .collect();
            if !missing.is_empty() {
                let to = consumer.reset_to;
                consumer.reset(cluster, &missing, to).await?;
            }
        }
    }
    let mut committed_positions: Offsets = Offsets::new();
    let mut seen: u64 = 0;
    let mut last_record = tokio::time::Instant::now();
    let stdout = std::io::stdout();
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    let result: Result<(), CliError> = async {
        'outer: loop {
            if args.max_messages.is_some_and(|max| seen >= max) {
                break;
            }
            if args.timeout_ms.is_some_and(|t| last_record.elapsed() >= Duration::from_millis(t)) {
                break;
            }
            let mut by_leader: BTreeMap<i32, Vec<Tp>> = BTreeMap::new();
            for tp in consumer.positions.keys() {
                let leader = consumer.leaders.get(tp).copied().unwrap_or(-1);
                by_leader.entry(leader).or_default().push(tp.clone());
            }
            let mut need_refresh = by_leader.contains_key(&-1);
            for (leader, tps) in by_leader.into_iter().filter(|(l, _)| *l >= 0) {
                let fetched = tokio::select! {
                    fetched = fetch(cluster, leader, &consumer.topic, &tps, &consumer.positions) => fetched?,
                    _ = &mut ctrl_c => break 'outer,
                };
                let mut out = stdout.lock();
                for (partition, error, records) in fetched {
                    let tp = (consumer.topic.clone(), partition);
                    if error == OFFSET_OUT_OF_RANGE {
                        let to = consumer.reset_to;
                        consumer.reset(cluster, std::slice::from_ref(&tp), to).await?;
                        continue;
                    }
                    if is_retriable(error) {
                        need_refresh = true;
                        continue;
                    }
                    if error != 0 {
                        return Err(CliError::new(format!(
                            "fetching {}-{partition}: {}",
                            consumer.topic,
                            describe_error(error, None)
                        )));
                    }
                    let Some(position) = consumer.positions.get(&tp).copied() else { continue };
                    let mut next = position;
                    for batch in BatchIter::new(records) {
                        let batch = batch.map_err(|e| {
                            CliError::new(format!("{}-{partition}: bad record batch: {e}", consumer.topic))
                        })?;
                        batch
                            .verify_crc()
                            .map_err(|e| CliError::new(format!("{}-{partition}: {e}", consumer.topic)))?;
                        if batch.next_offset() <= next {
                            continue;
                        }
                        if !batch.is_control() {
                            for record in batch.records() {
                                let record = record.map_err(|e| {
                                    CliError::new(format!("{}-{partition}: bad record: {e}", consumer.topic))
                                })?;
                                if record.offset < next {
                                    continue;
                                }
                                if args.max_messages.is_some_and(|max| seen >= max) {
                                    break;
                                }
                                let line = if json {
                                    record_json(&consumer.topic, partition, &record).to_string()
                                } else {
                                    render(&args.format, &consumer.topic, partition, &record)
                                };
                                if let Err(e) = writeln!(out, "{line}") {
                                    // Records not yet read by the other end are
                                    // not committed: exit before any commit.
                                    super::output::exit_on_write_error(&e);
                                }
                                seen += 1;
                                last_record = tokio::time::Instant::now();
                                next = record.offset + 1;
                            }
                        }
                        if args.max_messages.is_some_and(|max| seen >= max) {
                            break;
                        }
                        // Past control batches and compacted-away offsets.
                        next = next.max(batch.next_offset());
                    }
                    consumer.positions.insert(tp, next);
                }
                if let Err(e) = out.flush() {
                    super::output::exit_on_write_error(&e);
                }
            }
            if let (Some(group), Some(coordinator)) = (&args.group, coordinator) {
                commit_progress(cluster, coordinator, group, &consumer.positions, &mut committed_positions).await?;
            }
            if need_refresh {
                tokio::time::sleep(Duration::from_millis(200)).await;
                consumer.refresh(cluster).await?;
            }
        }
        Ok(())
    }
    .await;
    if let (Ok(()), Some(group), Some(coordinator)) = (&result, &args.group, coordinator) {
        commit_progress(
            cluster,
            coordinator,
            group,
            &consumer.positions,
            &mut committed_positions,
        )
        .await?;
    }
    eprintln!("Processed a total of {seen} messages");
    result
}

/// Commits the positions that moved since the last commit.
async fn commit_progress(
    cluster: &mut Cluster,
    coordinator: i32,
    group: &str,
    positions: &BTreeMap<Tp, i64>,
    committed: &mut Offsets,
) -> Result<(), CliError> {
    let changed: Offsets = positions
        .iter()
        .filter(|(tp, o)| committed.get(*tp) != Some(*o))
        .map(|(tp, o)| (tp.clone(), *o))
        .collect();
    group_api::commit(cluster, coordinator, group, &changed).await?;
    committed.extend(changed);
    Ok(())
}

/// One Fetch to `leader`; per partition its error code and records.
async fn fetch(
    cluster: &mut Cluster,
    leader: i32,
    topic: &str,
    partitions: &[Tp],
    positions: &BTreeMap<Tp, i64>,
) -> Result<Vec<(i32, i16, bytes::Bytes)>, CliError> {
    let conn = cluster.node(leader).await?;
    let version = conn.version(ApiKey::Fetch, FETCH_MAX)?;
    if version < FETCH_MIN {
        return Err(CliError::new(format!(
            "{}: Fetch v{version} predates record batches",
            conn.addr()
        )));
    }
    let request = FetchRequest {
        max_wait_ms: FETCH_WAIT_MS,
        min_bytes: 1,
        max_bytes: FETCH_MAX_BYTES,
        isolation_level: 0,
        topics: vec![FetchTopic {
            topic: topic.to_string(),
            partitions: partitions
                .iter()
                .map(|tp| FetchPartition {
                    partition: tp.1,
                    fetch_offset: positions.get(tp).copied().unwrap_or(0),
                    partition_max_bytes: PARTITION_MAX_BYTES,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }],
        ..Default::default()
    };
    let response = expect_response!(
        conn.send(version, RequestBody::Fetch(request)).await?,
        Fetch
    );
    if response.error_code != 0 {
        return Err(CliError::kafka("Fetch", response.error_code, None));
    }
    let mut out = Vec::new();
    for t in response.responses.into_iter().filter(|t| t.topic == topic) {
        for p in t.partitions {
            out.push((
                p.partition_index,
                p.error_code,
                p.records.unwrap_or_default(),
            ));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn template_fills_placeholders_and_escapes() {
        let record = Record {
            attributes: 0,
            timestamp_delta: 0,
            offset_delta: 0,
            offset: 42,
            timestamp: 1000,
            key: Some(Bytes::from_static(b"k")),
            value: None,
            headers: vec![(Bytes::from_static(b"h"), Some(Bytes::from_static(b"v")))],
        };
        assert_eq!(
            render(
                "{topic}/{partition}@{offset} {timestamp}\\t{key}={value} [{headers}] {nope}",
                "t",
                3,
                &record
            ),
            "t/3@42 1000\tk=null [h=v] {nope}"
        );
        assert_eq!(
            record_json("t", 3, &record).to_string(),
            r#"{"topic":"t","partition":3,"offset":42,"timestamp":1000,"key":"k","value":null,"headers":[{"key":"h","value":"v"}]}"#
        );
    }
}
