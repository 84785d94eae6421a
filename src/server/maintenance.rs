//! Background upkeep of the log: retention checks every
//! `log.retention.check.interval.ms`, and `flush.ms` for topics in
//! page-cache mode, the group coordinator's timeouts, and the transaction
//! coordinator's (timed-out transactions, completions left by a restart),
//! the high-watermark checkpoint every
//! `replica.high.watermark.checkpoint.interval.ms`, the partitions'
//! traffic averages and the load report for the controller;
//! and, on a task of its own, the log cleaner every `log.cleaner.backoff.ms`.
//! Runs until the broker stops.

use crate::broker::Broker;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// How often page-cache-mode partitions are checked against their `flush.ms`.
const FLUSH_TICK: Duration = Duration::from_millis(50);

/// How often the group coordinator's timeouts (sessions, rebalances) are checked.
const GROUP_TICK: Duration = Duration::from_millis(100);

pub async fn run(broker: Arc<Broker>, mut stop: watch::Receiver<bool>) {
    broker.txns.recover(&broker).await;
    if broker.config.cleaner_enable {
        tokio::spawn(clean_logs(Arc::clone(&broker), stop.clone()));
    }
    let mut retention = tokio::time::interval(broker.config.retention_check_interval);
    let mut flush = tokio::time::interval(FLUSH_TICK);
    let mut groups = tokio::time::interval(GROUP_TICK);
    let mut checkpoint = tokio::time::interval(Duration::from_millis(
        broker.config.cluster.hw_checkpoint_interval_ms,
    ));
    let mut traffic =
        tokio::time::interval(Duration::from_secs(crate::metrics::traffic::TICK_SECONDS));
    let mut last_flush: HashMap<(String, i32), Instant> = HashMap::new();
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            _ = traffic.tick() => measure_traffic(&broker),
            _ = retention.tick() => {
                let broker = Arc::clone(&broker);
                let _ = tokio::task::spawn_blocking(move || broker.log.enforce_retention()).await;
            }
            _ = flush.tick() => flush_due(&broker, &mut last_flush).await,
            _ = checkpoint.tick() => {
                let writer = Arc::clone(&broker);
                let written = tokio::task::spawn_blocking(move || writer.log.checkpoint_high_watermarks()).await;
                if let Ok(Err(e)) = written {
                    broker.log.health().fail(|| format!("checkpointing high watermarks failed: {e}"));
                }
            }
            _ = groups.tick() => {
                let now = crate::log::steady_ms();
                broker.groups.tick(&broker.log, now);
                broker.txns.abort_timed_out(&broker, now).await;
            }
        }
    }
}

/// Moves every partition's traffic into its averages, and hands the
/// controller this broker's load report with the next heartbeat.
fn measure_traffic(broker: &Broker) {
    for topic in broker.log.topics() {
        for p in &topic.partitions {
            p.traffic.tick();
        }
    }
    if let Some(node) = broker.cluster_node() {
        let report =
            crate::cluster::load::report(&broker.log, &broker.image(), broker.config.node_id);
        node.report_load(report);
    }
}

/// Fsyncs the active segment of each page-cache-mode partition whose
/// `flush.ms` has passed since its last flush.
async fn flush_due(broker: &Arc<Broker>, last_flush: &mut HashMap<(String, i32), Instant>) {
    let now = Instant::now();
    let mut due = Vec::new();
    for topic in broker.log.topics() {
        for partition in &topic.partitions {
            let Some(flush_ms) = partition.config().flush_ms else {
                continue;
            };
            let key = (topic.meta.name.clone(), partition.index);
            let last = *last_flush.entry(key.clone()).or_insert(now);
            if now.duration_since(last) >= Duration::from_millis(flush_ms) {
                last_flush.insert(key, now);
                if let Some(file) = partition.active_file() {
                    due.push(file);
                }
            }
        }
    }
    if due.is_empty() {
        return;
    }
    let result =
        tokio::task::spawn_blocking(move || due.iter().try_for_each(|file| file.sync_data())).await;
    if let Ok(Err(e)) = result {
        tracing::error!(error = %e, "periodic flush failed");
    }
}

/// The log cleaner: a pass over every compacted partition, then a pause of
/// `log.cleaner.backoff.ms`. Its own task, so a long pass never delays the
/// coordinators' timeouts.
async fn clean_logs(broker: Arc<Broker>, mut stop: watch::Receiver<bool>) {
    let options =
        crate::log::cleaner::CleanerOptions::with_buffer(broker.config.cleaner_dedupe_buffer_size);
    loop {
        let target = Arc::clone(&broker);
        let options = options.clone();
        let pass = tokio::task::spawn_blocking(move || {
            crate::log::cleaner::clean_all(&target.log, &options);
        });
        tokio::select! {
            _ = stop.changed() => return,
            _ = pass => {}
        }
        tokio::select! {
            _ = stop.changed() => return,
            _ = tokio::time::sleep(broker.config.cleaner_backoff) => {}
        }
    }
}
