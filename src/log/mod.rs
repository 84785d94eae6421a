//! The partitioned log engine: topics of partitions of segments on local
//! disk, under one data directory:
//!
//! ```text
//! <data>/meta.properties              cluster id, node id
//! <data>/meta/topics/<topic>.properties   topic id, partition count, configs
//! <data>/<topic>-<partition>/         segments: <base>.log, .index, .timeindex
//! ```
//!
//! A topic exists once its properties file is written (after its partition
//! directories), and stops existing when that file is removed (before its
//! directories are renamed away and deleted), so a crash at any step leaves
//! either the whole topic or none of it.

pub mod cleaner;
pub mod dir_health;
pub mod epoch_cache;
pub mod flusher;
pub mod hw_checkpoint;
pub mod index;
pub mod partition;
pub mod producer_state;
pub mod properties;
pub mod replica_set;
pub mod scan;
pub mod segment;
pub mod topic;
pub mod txn_index;
pub mod txn_verification;
pub mod watchers;

#[cfg(test)]
mod tests;

use crate::config::log_config::LogConfig;
use crate::protocol::wire::Uuid;
use flusher::Flusher;
use partition::{Appended, Partition};
use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use topic::TopicMeta;

/// The settings of the internal topics (`__consumer_offsets`,
/// `__transaction_state`): compacted, never deleted by time or size.
pub fn internal_topic_configs() -> BTreeMap<String, String> {
    [
        ("cleanup.policy", "compact"),
        ("retention.ms", "-1"),
        ("retention.bytes", "-1"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// The wall clock in Unix milliseconds: for what is written down (record
/// and segment timestamps) and compared with what was written down.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// A clock that never jumps, in Unix milliseconds: the wall clock when
/// this process first asked, advanced by the monotonic clock since. For
/// timers (a follower's lag, a broker's session, a group member's session,
/// a transaction's timeout) and the timestamps they are measured from, which
/// a wall clock set forward would cut short and one set back would stretch.
/// It parts from the wall clock by as much as that clock was set since.
pub fn steady_ms() -> i64 {
    static START: std::sync::OnceLock<(i64, std::time::Instant)> = std::sync::OnceLock::new();
    let (wall, start) = *START.get_or_init(|| (now_ms(), std::time::Instant::now()));
    wall.saturating_add(i64::try_from(start.elapsed().as_millis()).unwrap_or(i64::MAX))
}

pub struct Topic {
    pub meta: TopicMeta,
    pub partitions: Vec<Arc<Partition>>,
}

/// Why a topic operation was refused, mapped to Kafka error codes by handlers.
#[derive(Debug)]
pub enum TopicError {
    InvalidName,
    AlreadyExists,
    UnknownTopic,
    InvalidPartitions(String),
    InvalidConfig(String),
    /// This node follows a metadata quorum now: the controller decides.
    FollowsMetadataImage,
    Io(io::Error),
}

impl std::fmt::Display for TopicError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TopicError::InvalidName => write!(f, "invalid topic name"),
            TopicError::AlreadyExists => write!(f, "topic already exists"),
            TopicError::UnknownTopic => write!(f, "unknown topic"),
            TopicError::InvalidPartitions(why) | TopicError::InvalidConfig(why) => {
                write!(f, "{why}")
            }
            TopicError::FollowsMetadataImage => {
                write!(
                    f,
                    "this node has joined its cluster: the controller decides"
                )
            }
            TopicError::Io(e) => write!(f, "storage error: {e}"),
        }
    }
}

impl From<io::Error> for TopicError {
    fn from(e: io::Error) -> Self {
        TopicError::Io(e)
    }
}

pub struct LogManager {
    data_dir: PathBuf,
    /// Static settings overlaid by dynamic broker configs; replaced by AlterConfigs.
    defaults: RwLock<LogConfig>,
    topics: RwLock<BTreeMap<String, Arc<Topic>>>,
    flusher: Flusher,
    /// Set once this node follows a metadata quorum: topics are then created
    /// and deleted only from the metadata image, never on the side.
    image_managed: std::sync::atomic::AtomicBool,
    /// Names of topics whose directories are being created: only their
    /// creator opens them (and removes them if the creation is refused).
    creating: std::sync::Mutex<std::collections::BTreeSet<String>>,
    /// What the high-watermark checkpoint last held, so an idle log is not
    /// rewritten (and fsynced) on every round.
    checkpointed: std::sync::Mutex<Vec<(String, i32, i64)>>,
    /// Offline after the first write or fsync error: no more appends.
    health: Arc<dir_health::DirHealth>,
}

/// A topic name reserved for its creator until dropped.
struct Creating<'a> {
    names: &'a std::sync::Mutex<std::collections::BTreeSet<String>>,
    name: String,
}

impl Drop for Creating<'_> {
    fn drop(&mut self) {
        self.names
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.name);
    }
}

fn partition_dir(data_dir: &Path, topic: &str, partition: i32) -> PathBuf {
    data_dir.join(format!("{topic}-{partition}"))
}

impl LogManager {
    /// Opens every topic and recovers every partition.
    pub fn open(data_dir: &Path, defaults: LogConfig) -> io::Result<LogManager> {
        std::fs::create_dir_all(data_dir)?;
        remove_deleted_directories(data_dir)?;
        let metas = TopicMeta::load_all(data_dir)?;
        discard_orphan_directories(data_dir, &metas)?;
        let now = now_ms();
        let mut topics = BTreeMap::new();
        for meta in metas {
            let config = defaults.with_overrides(&meta.configs).map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("topic {}: {e}", meta.name),
                )
            })?;
            let mut partitions = Vec::with_capacity(meta.partitions as usize);
            for p in 0..meta.partitions {
                let (partition, recovery) = Partition::open(
                    partition_dir(data_dir, &meta.name, p),
                    &meta.name,
                    p,
                    config.clone(),
                    now,
                )?;
                if recovery.truncated_bytes > 0 || recovery.indexes_rebuilt > 0 {
                    tracing::warn!(topic = %meta.name, partition = p, truncated = recovery.truncated_bytes, rebuilt = recovery.indexes_rebuilt, "recovered");
                }
                // Finishes a DeleteRecords a crash interrupted; writes the epoch checkpoint.
                partition.remove_segments_below_log_start()?;
                partitions.push(Arc::new(partition));
            }
            topics.insert(meta.name.clone(), Arc::new(Topic { meta, partitions }));
        }
        Ok(LogManager {
            data_dir: data_dir.to_path_buf(),
            defaults: RwLock::new(defaults),
            topics: RwLock::new(topics),
            flusher: Flusher::start()?,
            image_managed: std::sync::atomic::AtomicBool::new(false),
            creating: std::sync::Mutex::new(std::collections::BTreeSet::new()),
            checkpointed: std::sync::Mutex::new(Vec::new()),
            health: Arc::new(dir_health::DirHealth::default()),
        })
    }

    pub fn defaults(&self) -> LogConfig {
        self.defaults
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The data directory's file system: (total, usable) bytes, as
    /// DescribeLogDirs reports them (KIP-827). `None` if it cannot be read.
    // The field types are u64 here and narrower on some platforms.
    #[allow(clippy::useless_conversion)]
    pub fn disk_space(&self) -> Option<(u64, u64)> {
        let stats = nix::sys::statvfs::statvfs(&self.data_dir).ok()?;
        let block = u64::from(stats.fragment_size());
        let total = u64::from(stats.blocks()).saturating_mul(block);
        let usable = u64::from(stats.blocks_available()).saturating_mul(block);
        Some((total, usable))
    }

    /// New broker-level defaults (dynamic broker configs): every topic's
    /// partitions take them, under their own overrides, at once.
    pub fn set_defaults(&self, defaults: LogConfig) -> Result<(), TopicError> {
        let topics = self.topics.write().unwrap_or_else(|p| p.into_inner());
        let mut configs = Vec::with_capacity(topics.len());
        for topic in topics.values() {
            let config = defaults.with_overrides(&topic.meta.configs).map_err(|e| {
                TopicError::InvalidConfig(format!("topic {}: {e}", topic.meta.name))
            })?;
            configs.push((Arc::clone(topic), config));
        }
        for (topic, config) in configs {
            for partition in &topic.partitions {
                partition.set_config(config.clone());
            }
        }
        *self.defaults.write().unwrap_or_else(|p| p.into_inner()) = defaults;
        Ok(())
    }

    /// Replaces a topic's config overrides: validated, persisted, then
    /// applied to its live partitions.
    pub fn alter_topic_configs(
        &self,
        name: &str,
        configs: BTreeMap<String, String>,
        validate_only: bool,
    ) -> Result<(), TopicError> {
        let mut topics = self.topics.write().unwrap_or_else(|p| p.into_inner());
        let topic = topics.get(name).cloned().ok_or(TopicError::UnknownTopic)?;
        let config = self
            .defaults()
            .with_overrides(&configs)
            .map_err(TopicError::InvalidConfig)?;
        if validate_only || configs == topic.meta.configs {
            return Ok(());
        }
        let meta = TopicMeta {
            configs,
            ..topic.meta.clone()
        };
        meta.save(&self.data_dir)?;
        for partition in &topic.partitions {
            partition.set_config(config.clone());
        }
        topics.insert(
            name.to_string(),
            Arc::new(Topic {
                meta,
                partitions: topic.partitions.clone(),
            }),
        );
        tracing::info!(topic = name, "altered topic configs");
        Ok(())
    }

    /// Records that the metadata quorum holds `name` (see [`TopicMeta::registered`]).
    pub fn mark_registered(&self, name: &str) -> Result<(), TopicError> {
        let mut topics = self.topics.write().unwrap_or_else(|p| p.into_inner());
        let topic = topics.get(name).cloned().ok_or(TopicError::UnknownTopic)?;
        if topic.meta.registered {
            return Ok(());
        }
        let meta = TopicMeta {
            registered: true,
            ..topic.meta.clone()
        };
        meta.save(&self.data_dir)?;
        topics.insert(
            name.to_string(),
            Arc::new(Topic {
                meta,
                partitions: topic.partitions.clone(),
            }),
        );
        Ok(())
    }

    pub fn topic(&self, name: &str) -> Option<Arc<Topic>> {
        self.topics
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .cloned()
    }

    pub fn topic_by_id(&self, id: Uuid) -> Option<Arc<Topic>> {
        self.topics
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .find(|t| t.meta.id == id)
            .cloned()
    }

    pub fn topics(&self) -> Vec<Arc<Topic>> {
        self.topics
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect()
    }

    pub fn partition(&self, topic: &str, partition: i32) -> Option<Arc<Partition>> {
        let topic = self.topic(topic)?;
        usize::try_from(partition)
            .ok()
            .and_then(|p| topic.partitions.get(p))
            .cloned()
    }

    /// Checks what CreateTopics would do, without doing it.
    pub fn validate_new_topic(
        &self,
        name: &str,
        partitions: i32,
        configs: &BTreeMap<String, String>,
    ) -> Result<LogConfig, TopicError> {
        if !topic::valid_topic_name(name) {
            return Err(TopicError::InvalidName);
        }
        if self.topic(name).is_some() {
            return Err(TopicError::AlreadyExists);
        }
        if partitions < 1 {
            return Err(TopicError::InvalidPartitions(format!(
                "number of partitions must be at least 1, got {partitions}"
            )));
        }
        if partitions > 100_000 {
            return Err(TopicError::InvalidPartitions(format!(
                "{partitions} partitions is more than this broker allows (100000)"
            )));
        }
        self.defaults()
            .with_overrides(configs)
            .map_err(TopicError::InvalidConfig)
    }

    /// From now on topics come from the metadata image only (see
    /// [`ensure_internal_topic`](Self::ensure_internal_topic)).
    pub fn follow_metadata_image(&self) {
        // Under the topics lock: a creation decided alone commits before
        // (and the caller's next look at the topics sees it) or is refused.
        let _topics = self.topics.write().unwrap_or_else(|p| p.into_inner());
        self.image_managed
            .store(true, std::sync::atomic::Ordering::Release);
    }

    pub fn follows_metadata_image(&self) -> bool {
        self.image_managed
            .load(std::sync::atomic::Ordering::Acquire)
    }

    /// Creates a topic this node alone decides on (a node that has not
    /// joined its quorum yet; the quorum imports it at the join).
    pub fn create_topic(
        &self,
        name: &str,
        partitions: i32,
        configs: BTreeMap<String, String>,
    ) -> Result<Arc<Topic>, TopicError> {
        let id = topic::random_uuid()?;
        self.create_topic_with_id(name, id, partitions, configs, false)
    }

    /// Creates a topic with the id the metadata image gave it.
    pub fn create_topic_with_id(
        &self,
        name: &str,
        id: Uuid,
        partitions: i32,
        configs: BTreeMap<String, String>,
        registered: bool,
    ) -> Result<Arc<Topic>, TopicError> {
        let mut topics = self.topics.write().unwrap_or_else(|p| p.into_inner());
        if topics.contains_key(name) {
            return Err(TopicError::AlreadyExists);
        }
        // A concurrent creation of the same name would open, and on refusal
        // remove, the very directories this one writes to.
        if !self
            .creating
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name.to_string())
        {
            return Err(TopicError::AlreadyExists);
        }
        let _reserved = Creating {
            names: &self.creating,
            name: name.to_string(),
        };
        drop(topics);
        let config = self.validate_new_topic(name, partitions, &configs)?;
        let meta = TopicMeta {
            name: name.to_string(),
            id,
            partitions,
            configs,
            registered,
        };
        let now = now_ms();
        let mut opened = Vec::with_capacity(partitions as usize);
        for p in 0..partitions {
            let (partition, _) = Partition::open(
                partition_dir(&self.data_dir, name, p),
                name,
                p,
                config.clone(),
                now,
            )?;
            opened.push(Arc::new(partition));
        }
        topics = self.topics.write().unwrap_or_else(|p| p.into_inner());
        let refused = if topics.contains_key(name) {
            Some(TopicError::AlreadyExists)
        } else if !registered && self.follows_metadata_image() {
            // Checked under the lock the join's reconciliation takes: a
            // topic decided alone is either seen by it or refused.
            Some(TopicError::FollowsMetadataImage)
        } else {
            None
        };
        if let Some(refused) = refused {
            drop(topics);
            for partition in &opened {
                let _ = std::fs::remove_dir_all(partition.dir());
            }
            return Err(refused);
        }
        meta.save(&self.data_dir)?; // the commit point
        let topic = Arc::new(Topic {
            meta,
            partitions: opened,
        });
        topics.insert(name.to_string(), Arc::clone(&topic));
        tracing::info!(topic = name, partitions, "created topic");
        Ok(topic)
    }

    pub fn delete_topic(&self, name: &str) -> Result<Uuid, TopicError> {
        let mut topics = self.topics.write().unwrap_or_else(|p| p.into_inner());
        let topic = topics.get(name).cloned().ok_or(TopicError::UnknownTopic)?;
        TopicMeta::remove(&self.data_dir, name)?; // the commit point
        topics.remove(name);
        drop(topics);
        for partition in &topic.partitions {
            let doomed = self.data_dir.join(format!(
                "{}-{}.{}-delete",
                name, partition.index, topic.meta.id
            ));
            std::fs::rename(partition.dir(), &doomed)?;
        }
        properties::sync_dir(&self.data_dir)?;
        // The renames made the deletion final (a restart finishes it); the
        // files themselves go in the background, off the request path.
        let data_dir = self.data_dir.clone();
        let spawned = std::thread::Builder::new().name("odradek-delete".into()).spawn(move || {
            if let Err(e) = remove_deleted_directories(&data_dir) {
                tracing::error!(error = %e, "removing deleted partitions failed (retried at the next start)");
            }
        });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "could not start the deletion thread (retried at the next start)");
        }
        tracing::info!(topic = name, "deleted topic");
        Ok(topic.meta.id)
    }

    pub fn create_partitions(
        &self,
        name: &str,
        count: i32,
        validate_only: bool,
    ) -> Result<(), TopicError> {
        let mut topics = self.topics.write().unwrap_or_else(|p| p.into_inner());
        let topic = topics.get(name).cloned().ok_or(TopicError::UnknownTopic)?;
        let current = topic.meta.partitions;
        if count <= current {
            return Err(TopicError::InvalidPartitions(format!(
                "topic has {current} partitions; the new count {count} must be larger"
            )));
        }
        if count > 100_000 {
            return Err(TopicError::InvalidPartitions(format!(
                "{count} partitions is more than this broker allows (100000)"
            )));
        }
        if validate_only {
            return Ok(());
        }
        let config = self
            .defaults()
            .with_overrides(&topic.meta.configs)
            .map_err(TopicError::InvalidConfig)?;
        let mut partitions = topic.partitions.clone();
        let now = now_ms();
        for p in current..count {
            let (partition, _) = Partition::open(
                partition_dir(&self.data_dir, name, p),
                name,
                p,
                config.clone(),
                now,
            )?;
            partitions.push(Arc::new(partition));
        }
        let meta = TopicMeta {
            partitions: count,
            ..topic.meta.clone()
        };
        meta.save(&self.data_dir)?;
        topics.insert(name.to_string(), Arc::new(Topic { meta, partitions }));
        Ok(())
    }

    /// Creates an internal topic (`__consumer_offsets`, `__transaction_state`)
    /// if it does not exist yet: compacted, never deleted by time or size.
    /// A node that follows a metadata image gets it from the image
    /// instead: until then the topic is not available.
    pub fn ensure_internal_topic(&self, name: &str, partitions: i32) -> io::Result<()> {
        if self.topic(name).is_some() {
            return Ok(());
        }
        if self.follows_metadata_image() {
            return Err(io::Error::other(format!(
                "{name} is not created yet (the controller creates it)"
            )));
        }
        match self.create_topic(name, partitions.max(1), internal_topic_configs()) {
            Ok(_) | Err(TopicError::AlreadyExists) => Ok(()),
            Err(e) => Err(io::Error::other(format!("creating {name}: {e}"))),
        }
    }

    /// Appends a validated batch. In durable mode the returned pending
    /// append resolves once the batch is fsynced (group commit: appends
    /// queued before the next fsync round share it, so callers should start
    /// every append of a request before waiting on any).
    pub fn append(
        &self,
        partition: &Arc<Partition>,
        batch: &[u8],
    ) -> Result<PendingAppend, partition::AppendError> {
        let appended = self.guarded(partition, || partition.append(batch, now_ms()))?;
        Ok(self.make_durable(partition, appended))
    }

    /// [`LogManager::append`] of a client's batch, with its KIP-890 guard
    /// (see [`Partition::append_verified`]).
    pub fn append_verified(
        &self,
        partition: &Arc<Partition>,
        batch: &[u8],
        guard: Option<txn_verification::TxnGuard>,
    ) -> Result<PendingAppend, partition::AppendError> {
        let appended = self.guarded(partition, || {
            partition.append_verified(batch, now_ms(), guard)
        })?;
        Ok(self.make_durable(partition, appended))
    }

    /// Writes a transaction marker to `partition`; durable like [`LogManager::append`].
    pub fn append_marker(
        &self,
        partition: &Arc<Partition>,
        producer_id: i64,
        epoch: i16,
        marker: crate::protocol::records::control::EndTxnMarker,
    ) -> Result<PendingAppend, partition::AppendError> {
        let appended = self.guarded(partition, || {
            partition.append_marker(producer_id, epoch, marker, now_ms())
        })?;
        Ok(self.make_durable(partition, appended))
    }

    /// Appends batches copied from the partition's leader (see
    /// [`Partition::append_replicated`]); durable like [`LogManager::append`].
    pub fn append_replicated(
        &self,
        partition: &Arc<Partition>,
        records: bytes::Bytes,
    ) -> Result<Option<PendingAppend>, partition::AppendError> {
        let appended =
            self.guarded(partition, || partition.append_replicated(records, now_ms()))?;
        Ok(appended.map(|a| self.make_durable(partition, a)))
    }

    /// Runs a write unless the directory is offline; takes it offline if
    /// the write meets an I/O error.
    fn guarded<T>(
        &self,
        partition: &Partition,
        write: impl FnOnce() -> Result<T, partition::AppendError>,
    ) -> Result<T, partition::AppendError> {
        if self.health.is_offline() {
            return Err(partition::AppendError::StorageFailed);
        }
        let written = write();
        if let Err(partition::AppendError::Io(e)) = &written {
            let (topic, index) = (&partition.topic, partition.index);
            self.health
                .fail(|| format!("writing to {topic}-{index} failed: {e}"));
        }
        written
    }

    /// The data directory's health: offline after a write or fsync error.
    pub fn health(&self) -> &dir_health::DirHealth {
        &self.health
    }

    fn make_durable(&self, partition: &Arc<Partition>, appended: Appended) -> PendingAppend {
        let Some(file) = appended.sync.clone() else {
            return PendingAppend {
                appended,
                durable: None,
                committed: None,
            };
        };
        let (done_tx, done_rx) = tokio::sync::oneshot::channel();
        let target = Arc::clone(partition);
        let health = Arc::clone(&self.health);
        let next_offset = appended.last_offset + 1;
        self.flusher.sync(
            file,
            Box::new(move |result| {
                match &result {
                    Ok(()) => target.mark_durable(next_offset),
                    Err(e) => {
                        target.mark_sync_failed();
                        let (topic, index) = (&target.topic, target.index);
                        health.fail(|| format!("fsync of {topic}-{index} failed: {e}"));
                    }
                }
                let _ = done_tx.send(result);
            }),
        );
        // Page-cache mode: the flush is a background matter.
        let durable = partition.config().durable().then_some(done_rx);
        PendingAppend {
            appended,
            durable,
            committed: None,
        }
    }

    pub fn enforce_retention(&self) {
        let now = now_ms();
        for topic in self.topics() {
            for partition in &topic.partitions {
                if let Err(e) = partition.remove_segments_below_log_start() {
                    tracing::error!(topic = %topic.meta.name, partition = partition.index, error = %e, "removing deleted records failed");
                }
                match partition.enforce_retention(now) {
                    Ok(0) => {}
                    Ok(n) => {
                        tracing::info!(topic = %topic.meta.name, partition = partition.index, segments = n, "retention deleted segments")
                    }
                    Err(e) => {
                        tracing::error!(topic = %topic.meta.name, partition = partition.index, error = %e, "retention failed")
                    }
                }
            }
        }
    }

    /// Fsyncs every partition, stops the flusher and checkpoints the
    /// high watermarks.
    pub fn close(&self) -> io::Result<()> {
        self.flusher.close();
        if let Some(failure) = self.health.failure() {
            // Nothing more is written to a failed directory: the next start
            // recovers it from what the log files hold.
            return Err(io::Error::other(format!(
                "the data directory went offline: {failure}"
            )));
        }
        for topic in self.topics() {
            for partition in &topic.partitions {
                partition.close()?;
            }
        }
        self.checkpoint_high_watermarks()
    }

    /// Writes every partition's high watermark to the checkpoint, unless
    /// none moved since the last write.
    pub fn checkpoint_high_watermarks(&self) -> io::Result<()> {
        let mut entries = Vec::new();
        for topic in self.topics() {
            for partition in &topic.partitions {
                let (_, high_watermark, _) = partition.offsets();
                entries.push((topic.meta.name.clone(), partition.index, high_watermark));
            }
        }
        let mut last = self.checkpointed.lock().unwrap_or_else(|p| p.into_inner());
        if *last == entries && self.data_dir.join(hw_checkpoint::FILE).exists() {
            return Ok(());
        }
        hw_checkpoint::write(&self.data_dir, &entries)?;
        *last = entries;
        Ok(())
    }

    /// A node of a cluster, restarted: every partition's high watermark
    /// goes back to its checkpoint (the log start where there is none, or
    /// the checkpoint is unreadable) until the metadata says who leads.
    /// A node alone keeps the whole of its recovered logs visible instead:
    /// it is every partition's only replica.
    pub fn restore_high_watermarks(&self) {
        let checkpoint = match hw_checkpoint::read(&self.data_dir) {
            Ok(checkpoint) => checkpoint.unwrap_or_default(),
            Err(e) => {
                tracing::warn!(error = %e, "high-watermark checkpoint unreadable: every high watermark restarts at its log start");
                Default::default()
            }
        };
        for topic in self.topics() {
            for partition in &topic.partitions {
                let key = (topic.meta.name.clone(), partition.index);
                partition.restore_high_watermark(checkpoint.get(&key).copied());
            }
        }
    }
}

/// How long a coordinator's write may wait for the in-sync replicas
/// (Kafka's `offsets.commit.timeout.ms`).
pub const COMMIT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Why an append was not acknowledged.
#[derive(Debug)]
pub enum WaitError {
    Fsync(io::Error),
    /// The log closed before the append was durable.
    Closed,
    /// Not every in-sync replica held it in time; `below_min_isr` when the
    /// ISR had meanwhile shrunk below `min.insync.replicas`.
    NotReplicated {
        offset: i64,
        below_min_isr: bool,
    },
    /// This broker stopped leading (in the epoch it appended in) before the
    /// append was committed: it may or may not survive on the new leader.
    Deposed,
}

impl From<partition::Deposed> for WaitError {
    fn from(_: partition::Deposed) -> Self {
        WaitError::Deposed
    }
}

impl std::fmt::Display for WaitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WaitError::Fsync(e) => write!(f, "fsync failed: {e}"),
            WaitError::Closed => write!(f, "the log closed before the append was durable"),
            WaitError::NotReplicated { offset, .. } => {
                write!(f, "offset {offset} is not on the in-sync replicas in time")
            }
            WaitError::Deposed => write!(
                f,
                "this broker stopped leading before the write was committed"
            ),
        }
    }
}

/// An append that may still be waiting for its fsync, and (acks=all, and
/// the coordinators' writes) for the in-sync replicas.
pub struct PendingAppend {
    pub appended: Appended,
    durable: Option<tokio::sync::oneshot::Receiver<io::Result<()>>>,
    committed: Option<(Arc<Partition>, tokio::time::Instant)>,
}

impl PendingAppend {
    /// Resolves once the append is durable here, and also committed (past
    /// the high watermark) if [`PendingAppend::until_committed`] asked so.
    pub async fn wait(self) -> Result<Appended, WaitError> {
        if let Some(durable) = self.durable {
            match durable.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(WaitError::Fsync(e)),
                Err(_) => return Err(WaitError::Closed),
            }
        }
        if let Some((partition, deadline)) = self.committed {
            let wanted = self.appended.last_offset + 1;
            let epoch = self.appended.leader_epoch;
            // Mostly true at once (one replica): no timer needed then.
            if partition.committed(wanted, epoch)? {
                return Ok(self.appended);
            }
            let waited = partition.wait_until_committed(wanted, epoch);
            let Ok(committed) = tokio::time::timeout_at(deadline, waited).await else {
                let below_min_isr = partition
                    .in_sync_replicas()
                    .is_some_and(|(isr, min)| isr < min);
                return Err(WaitError::NotReplicated {
                    offset: wanted,
                    below_min_isr,
                });
            };
            committed?;
        }
        Ok(self.appended)
    }

    /// Waits also, for at most `within` from now, for the in-sync replicas
    /// of `partition` (acks=all): what is answered then survives the loss
    /// of its leader.
    pub fn until_committed(
        mut self,
        partition: &Arc<Partition>,
        within: std::time::Duration,
    ) -> PendingAppend {
        let deadline = tokio::time::Instant::now() + within;
        self.committed = Some((Arc::clone(partition), deadline));
        self
    }
}

/// Finishes deletions a crash interrupted: directories renamed to `*-delete`.
fn remove_deleted_directories(data_dir: &Path) -> io::Result<()> {
    for entry in std::fs::read_dir(data_dir)? {
        let entry = entry?;
        if entry
            .file_name()
            .to_str()
            .is_some_and(|n| n.ends_with("-delete"))
            && entry.path().is_dir()
        {
            match std::fs::remove_dir_all(entry.path()) {
                // Another remover (a deletion thread) got there first.
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                other => other?,
            }
        }
    }
    Ok(())
}

/// `<topic>-<partition>` as a partition directory name.
fn parse_partition_dir(name: &str) -> Option<(&str, i32)> {
    let (topic, partition) = name.rsplit_once('-')?;
    let partition = partition
        .parse::<i32>()
        .ok()
        .filter(|p| *p >= 0 && !partition.starts_with('+'))?;
    topic::valid_topic_name(topic).then_some((topic, partition))
}

/// Partition directories no topic owns: left by a crash while a topic was
/// being created (directories first, then its properties file) or deleted
/// (properties file removed first). The topic does not exist either way, so
/// they are renamed away and removed.
fn discard_orphan_directories(data_dir: &Path, metas: &[TopicMeta]) -> io::Result<()> {
    let mut discarded = false;
    for entry in std::fs::read_dir(data_dir)? {
        let entry = entry?;
        let Some(name) = entry.file_name().to_str().map(str::to_string) else {
            continue;
        };
        let Some((topic, partition)) = parse_partition_dir(&name) else {
            continue;
        };
        if !entry.path().is_dir()
            || metas
                .iter()
                .any(|m| m.name == topic && partition < m.partitions)
        {
            continue;
        }
        tracing::warn!(directory = %name, "discarding a partition directory no topic owns (interrupted create or delete)");
        std::fs::rename(
            entry.path(),
            data_dir.join(format!("{name}.{}-delete", topic::random_uuid()?)),
        )?;
        discarded = true;
    }
    if discarded {
        properties::sync_dir(data_dir)?;
        remove_deleted_directories(data_dir)?;
    }
    Ok(())
}
