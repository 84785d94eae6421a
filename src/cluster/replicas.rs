//! This node's local logs follow the metadata image: a topic the image
//! gains is created here, with the image's id and configs; a topic it
//! removes is deleted here; partitions it adds are added here.
//!
//! Every node keeps a local log for every partition of every topic, and
//! serves the ones it leads; followers copy their leaders (`fetcher`). The
//! log of a partition this node is not a replica of stays empty: emptied
//! when a reassignment removes the node.
//!
//! Local data is deleted only for a topic the image held and then removed:
//! - at the join, a local topic the image does not hold was either
//!   registered with the quorum before (so it was deleted while this node
//!   was away: deleted here too), or it predates the quorum (a single-node
//!   directory of an earlier version, or created before this node's own
//!   quorum was up): it is imported, keeping its id, led by this node;
//! - after the join, only a removal seen in the image deletes.
//!
//! This broker's dynamic configs (its own and the cluster default) follow
//! the image too; those set before the quorum are imported at the join.

use super::image::{MetadataImage, PartitionImage};
use super::node::{ClusterNode, ControllerCall, ControllerReply, TopicCreation};
use super::records::CONFIG_BROKER;
use crate::broker::Broker;
use crate::config::dynamic::Layers;
use crate::log::partition::Partition;
use crate::log::{LogManager, Topic, TopicError};
use std::sync::Arc;
use tokio::sync::watch;

/// Why a join cannot reconcile this node's topics with the image.
#[derive(Debug)]
pub enum ReconcileError {
    /// A local topic with data, whose name the cluster gave another topic.
    NameTaken {
        name: String,
        local_id: crate::protocol::wire::Uuid,
        cluster_id: crate::protocol::wire::Uuid,
    },
    Storage(TopicError),
    /// The controller did not take the import.
    Import(String),
}

impl std::fmt::Display for ReconcileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReconcileError::NameTaken { name, local_id, cluster_id } => write!(
                f,
                "topic {name} holds data here under id {local_id}, but the cluster's {name} is id {cluster_id}: move this node's {name} directories aside, or point log.dirs elsewhere"
            ),
            ReconcileError::Storage(e) => write!(f, "reconciling local topics: {e}"),
            ReconcileError::Import(why) => write!(f, "importing local topics: {why}"),
        }
    }
}

impl From<TopicError> for ReconcileError {
    fn from(e: TopicError) -> Self {
        ReconcileError::Storage(e)
    }
}

fn is_empty(topic: &Topic) -> bool {
    topic.partitions.iter().all(|p| p.offsets().2 == 0)
}

/// At the join: settles every local topic against `image`, and returns
/// the local topics to import (those that predate the quorum).
fn settle_local_topics(
    log: &LogManager,
    image: &MetadataImage,
    node_id: i32,
) -> Result<Vec<TopicCreation>, ReconcileError> {
    let mut imports = Vec::new();
    for local in log.topics() {
        let meta = &local.meta;
        if image
            .topic_by_id(meta.id)
            .is_some_and(|t| t.name == meta.name)
        {
            continue;
        }
        if meta.registered {
            tracing::warn!(topic = %meta.name, "deleting a topic the cluster deleted while this node was away");
            log.delete_topic(&meta.name)?;
            continue;
        }
        if let Some(theirs) = image.topic(&meta.name) {
            if !is_empty(&local) {
                return Err(ReconcileError::NameTaken {
                    name: meta.name.clone(),
                    local_id: meta.id,
                    cluster_id: theirs.id,
                });
            }
            // Empty (an internal topic made before joining, typically):
            // the cluster's takes its place.
            log.delete_topic(&meta.name)?;
            continue;
        }
        imports.push(TopicCreation {
            name: meta.name.clone(),
            topic_id: meta.id.0,
            partitions: meta.partitions,
            replication_factor: 1,
            assignments: Some(vec![vec![node_id]; meta.partitions as usize]),
            configs: meta.configs.clone(),
        });
    }
    Ok(imports)
}

/// Creates, grows and registers local topics so that every topic of
/// `image` is here, with its partitions.
fn create_missing(log: &LogManager, image: &MetadataImage) -> Result<(), TopicError> {
    for topic in image.topics() {
        let count = i32::try_from(topic.partitions.len()).unwrap_or(i32::MAX);
        match log.topic(&topic.name) {
            Some(local) if local.meta.id == topic.id => {
                if local.meta.partitions < count {
                    log.create_partitions(&topic.name, count, false)?;
                }
                let configs = image
                    .topic_configs(&topic.name)
                    .cloned()
                    .unwrap_or_default();
                if local.meta.configs != configs {
                    log.alter_topic_configs(&topic.name, configs, false)?;
                }
                if !local.meta.registered {
                    log.mark_registered(&topic.name)?;
                }
            }
            // Another topic under this name: its removal comes first, in
            // the same change (see `follow_change`).
            Some(_) => {}
            None => {
                let configs = image
                    .topic_configs(&topic.name)
                    .cloned()
                    .unwrap_or_default();
                log.create_topic_with_id(&topic.name, topic.id, count, configs, true)?;
            }
        }
    }
    Ok(())
}

/// Applies one change of the image to the local logs: removals first (a
/// name deleted and created again in one change is two topics), then
/// additions.
fn follow_change(
    log: &LogManager,
    before: &MetadataImage,
    after: &MetadataImage,
) -> Result<(), TopicError> {
    for gone in before
        .topics()
        .filter(|t| after.topic_by_id(t.id).is_none())
    {
        if log.topic(&gone.name).is_some_and(|l| l.meta.id == gone.id) {
            log.delete_topic(&gone.name)?;
        }
    }
    create_missing(log, after)
}

/// Reconciles this node's topics with the quorum's image at the join: the
/// strays go, the pre-quorum topics are imported, the image's topics are
/// created. From then on topics come from the image only.
pub async fn reconcile_at_join(
    broker: &Broker,
    node: &ClusterNode,
) -> Result<Arc<MetadataImage>, ReconcileError> {
    let log = &broker.log;
    log.follow_metadata_image();
    let image = node.image();
    let imports = settle_local_topics(log, &image, broker.config.node_id)?;
    if !imports.is_empty() {
        let names: Vec<String> = imports.iter().map(|t| t.name.clone()).collect();
        let call = ControllerCall::CreateTopics {
            topics: imports,
            validate_only: false,
        };
        decided(node, call).await?;
        tracing::info!(topics = ?names, "imported this node's topics into the cluster");
    }
    import_broker_configs(broker, node).await?;
    let image = node.image();
    create_missing(log, &image)?;
    follow_broker_configs(broker, &image);
    follow_roles(log, &image, broker.config.node_id);
    crate::handlers::coordinators::follow_leadership(broker, &image);
    Ok(image)
}

/// Proposes `call`; returns once this node's image holds the outcome.
async fn decided(node: &ClusterNode, call: ControllerCall) -> Result<(), ReconcileError> {
    match node.call(call).await {
        ControllerReply::Topics { outcomes, offset } => {
            if let Some(e) = outcomes.iter().find_map(|o| o.as_ref().err()) {
                return Err(ReconcileError::Import(e.to_string()));
            }
            node.wait_for_offset(offset).await;
            Ok(())
        }
        other => Err(ReconcileError::Import(format!("{other:?}"))),
    }
}

/// Dynamic broker configs set before the quorum (this broker's, and the
/// cluster default) enter the cluster where it has none of its own.
async fn import_broker_configs(broker: &Broker, node: &ClusterNode) -> Result<(), ReconcileError> {
    let local = broker.dynamic_configs.layers();
    let image = node.image();
    let node_id = broker.config.node_id;
    for (id, layer) in [
        (None, local.cluster_default),
        (Some(node_id), local.this_broker),
    ] {
        if layer.is_empty() || image.broker_configs(id).is_some() {
            continue;
        }
        let name = id.map(|i| i.to_string()).unwrap_or_default();
        let call = ControllerCall::AlterConfigs {
            resource: (CONFIG_BROKER, name),
            configs: layer,
        };
        decided(node, call).await?;
        tracing::info!(broker = ?id, "imported dynamic broker configs into the cluster");
    }
    Ok(())
}

/// Each local partition takes its role from the image. Those this broker
/// leads take the image's leader epoch (their next batches are stamped
/// with it, and it starts at the log end in the epoch history) and its
/// replicas and ISR, which the high watermark follows; the others copy
/// their leader (see `fetcher`), or nobody's if this broker is no replica.
fn follow_roles(log: &LogManager, image: &MetadataImage, node_id: i32) {
    let now = crate::log::steady_ms();
    for topic in image.topics() {
        for (index, p) in topic.partitions.iter().enumerate() {
            let Some(partition) = i32::try_from(index)
                .ok()
                .and_then(|i| log.partition(&topic.name, i))
            else {
                continue;
            };
            take_role(&partition, p, node_id, now);
        }
    }
}

/// One local partition takes the role `p` gives `node_id` (see
/// [`follow_roles`]); the simulation drives its partitions through this too.
pub fn take_role(partition: &Partition, p: &PartitionImage, node_id: i32, now_ms: i64) {
    if !p.replicas.contains(&node_id) {
        partition.follow();
        discard(partition, now_ms);
        return;
    }
    if p.leader != node_id {
        partition.follow();
        return;
    }
    let min_isr = usize::try_from(partition.config().min_insync_replicas).unwrap_or(1);
    if partition.leader_epoch() < p.leader_epoch {
        let led = partition.lead_at_epoch(
            p.leader_epoch,
            node_id,
            &p.replicas,
            &p.isr,
            min_isr,
            now_ms,
        );
        if let Err(e) = led {
            tracing::error!(topic = %partition.topic, partition = partition.index, error = %e, "recording a new leader epoch");
        }
        return;
    }
    partition.lead(node_id, &p.replicas, &p.isr, min_isr, now_ms);
}

/// A partition this node is no longer a replica of (a reassignment moved
/// it away, perhaps while the node was down) keeps no data here: its copy
/// is emptied, as Kafka deletes a removed replica's log. Were the node
/// added back, it would copy the leader from the start.
fn discard(partition: &Partition, now_ms: i64) {
    let (start, _, end) = partition.offsets();
    if start == 0 && end == 0 {
        return;
    }
    tracing::info!(topic = %partition.topic, partition = partition.index, start, end, "no longer a replica: deleting the local copy");
    if let Err(e) = partition.restart_at(0, now_ms) {
        tracing::error!(topic = %partition.topic, partition = partition.index, error = %e, "deleting a removed replica's data");
    }
}

/// This broker's dynamic configs become the image's: the cluster default
/// and its own. A setting it cannot apply is logged and kept out of its
/// log defaults (the other brokers may well apply it).
fn follow_broker_configs(broker: &Broker, image: &MetadataImage) {
    let wanted = Layers {
        cluster_default: image.broker_configs(None).cloned().unwrap_or_default(),
        this_broker: image
            .broker_configs(Some(broker.config.node_id))
            .cloned()
            .unwrap_or_default(),
    };
    let outcome = broker.dynamic_configs.update(
        |layers| {
            *layers = wanted;
            Ok(())
        },
        |layers| {
            let defaults = layers.apply(&broker.config.log)?;
            broker.log.set_defaults(defaults).map_err(|e| e.to_string())
        },
    );
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::error!(error = %e, "applying the cluster's dynamic broker configs"),
        Err(e) => tracing::error!(error = %e, "persisting the cluster's dynamic broker configs"),
    }
}

/// Follows the image from `from` on, until `stop`; publishes the offset
/// of each image the local logs have caught up with.
pub async fn follow(
    broker: Arc<crate::broker::Broker>,
    mut images: watch::Receiver<Arc<MetadataImage>>,
    from: Arc<MetadataImage>,
    mut stop: watch::Receiver<bool>,
) {
    let log = &broker.log;
    let mut before = from;
    // The first round follows whatever changed between `from` and now
    // (the receiver counts the image it starts with as seen).
    let mut first = true;
    loop {
        if !first {
            tokio::select! {
                _ = stop.changed() => return,
                changed = images.changed() => if changed.is_err() { return },
            }
        }
        first = false;
        let after = Arc::clone(&images.borrow_and_update());
        follow_broker_configs(&broker, &after);
        if let Err(e) = follow_change(log, &before, &after) {
            // Retried with the next change (each compares with the last
            // image fully followed).
            tracing::error!(error = %e, "following the metadata image");
            continue;
        }
        follow_roles(log, &after, broker.config.node_id);
        crate::handlers::coordinators::follow_leadership(&broker, &after);
        broker.followed_image(after.offset);
        before = after;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::records::MetadataRecord;
    use crate::protocol::wire::Uuid;

    fn temp_log(tag: &str) -> LogManager {
        let dir =
            std::env::temp_dir().join(format!("odradek-replicas-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        LogManager::open(&dir, crate::config::log_config::LogConfig::default()).unwrap()
    }

    fn with_topic(image: &MetadataImage, name: &str, id: u8, partitions: i32) -> MetadataImage {
        let mut next = image.clone();
        let topic_id = Uuid([id; 16]);
        let mut offset = next.offset + 1;
        next.apply(
            offset,
            &MetadataRecord::Topic {
                name: name.into(),
                topic_id,
            },
        )
        .unwrap();
        for p in 0..partitions {
            offset += 1;
            let record = MetadataRecord::Partition {
                partition_id: p,
                topic_id,
                replicas: vec![1],
                isr: vec![1],
                leader: 1,
                leader_epoch: 0,
                partition_epoch: 0,
                adding: Vec::new(),
                removing: Vec::new(),
            };
            next.apply(offset, &record).unwrap();
        }
        next.offset = offset;
        next
    }

    fn base() -> MetadataImage {
        MetadataImage::alone(1, "c", Vec::new(), None)
    }

    #[test]
    fn local_logs_follow_creations_growth_and_removals() {
        let log = temp_log("follow");
        let empty = base();
        let one = with_topic(&empty, "a", 7, 2);
        follow_change(&log, &empty, &one).unwrap();
        let a = log.topic("a").unwrap();
        assert_eq!(
            (a.meta.id, a.meta.partitions, a.meta.registered),
            (Uuid([7; 16]), 2, true)
        );

        // Deleted and created again under the same name in one change.
        let mut recreated = one.clone();
        recreated
            .apply(
                recreated.offset + 1,
                &MetadataRecord::RemoveTopic {
                    topic_id: Uuid([7; 16]),
                },
            )
            .unwrap();
        let recreated = with_topic(&recreated, "a", 8, 3);
        follow_change(&log, &one, &recreated).unwrap();
        let a = log.topic("a").unwrap();
        assert_eq!((a.meta.id, a.meta.partitions), (Uuid([8; 16]), 3));

        let mut removed = recreated.clone();
        removed
            .apply(
                removed.offset + 1,
                &MetadataRecord::RemoveTopic {
                    topic_id: Uuid([8; 16]),
                },
            )
            .unwrap();
        follow_change(&log, &recreated, &removed).unwrap();
        assert!(log.topic("a").is_none());
    }

    #[test]
    fn local_topics_take_the_images_configs() {
        let log = temp_log("configs");
        let empty = base();
        let one = with_topic(&empty, "c", 5, 1);
        follow_change(&log, &empty, &one).unwrap();
        let mut tuned = one.clone();
        let record = MetadataRecord::Config {
            resource_type: crate::cluster::records::CONFIG_TOPIC,
            resource_name: "c".into(),
            name: "retention.ms".into(),
            value: Some("1000".into()),
        };
        tuned.apply(tuned.offset + 1, &record).unwrap();
        follow_change(&log, &one, &tuned).unwrap();
        let local = log.topic("c").unwrap();
        assert_eq!(
            local.meta.configs.get("retention.ms").map(String::as_str),
            Some("1000")
        );
        assert_eq!(local.partitions[0].config().retention_ms, 1000);
    }

    #[test]
    fn at_the_join_strays_go_and_older_topics_are_imported() {
        let log = temp_log("join");
        log.create_topic("legacy", 2, Default::default()).unwrap();
        let stray = log
            .create_topic_with_id("stray", Uuid([3; 16]), 1, Default::default(), true)
            .unwrap();
        assert!(stray.meta.registered);
        let kept = with_topic(&base(), "kept", 4, 1);
        log.create_topic_with_id("kept", Uuid([4; 16]), 1, Default::default(), true)
            .unwrap();
        let imports = settle_local_topics(&log, &kept, 1).unwrap();
        assert_eq!(imports.len(), 1);
        assert_eq!(imports[0].name, "legacy");
        assert_eq!(imports[0].assignments, Some(vec![vec![1], vec![1]]));
        assert!(log.topic("stray").is_none(), "deleted while away");
        assert!(log.topic("kept").is_some());
    }

    #[test]
    fn a_local_topic_with_data_under_a_taken_name_refuses_the_join() {
        let log = temp_log("taken");
        log.create_topic("t", 1, Default::default()).unwrap();
        let image = with_topic(&base(), "t", 9, 1);
        // Empty: the cluster's topic replaces it.
        assert!(settle_local_topics(&log, &image, 1).unwrap().is_empty());
        assert!(log.topic("t").is_none());

        let topic = log.create_topic("t", 1, Default::default()).unwrap();
        let mut batch = crate::protocol::records::BatchBuilder::new(0);
        batch.push(crate::protocol::records::NewRecord::new(
            0,
            None,
            Some(bytes::Bytes::from("v")),
        ));
        topic.partitions[0]
            .append(&batch.build().unwrap(), 0)
            .unwrap();
        match settle_local_topics(&log, &image, 1) {
            Err(ReconcileError::NameTaken { name, .. }) => assert_eq!(name, "t"),
            other => panic!("{other:?}"),
        }
    }
}
