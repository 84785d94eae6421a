//! `odradek topics ...`: create, list, describe, delete, alter-config.

use super::client::{expect_response, Cluster};
use super::errors::{describe_error, CliError};
use super::meta::{self, EARLIEST, LATEST};
use super::output::{or_dash, out, outln, Json, Table};
use crate::protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use crate::protocol::messages::delete_topics_request::DeleteTopicState;
use crate::protocol::messages::describe_configs_request::DescribeConfigsResource;
use crate::protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use crate::protocol::messages::{
    ApiKey, CreateTopicsRequest, DeleteTopicsRequest, DescribeConfigsRequest,
    IncrementalAlterConfigsRequest, RequestBody,
};
use crate::protocol::wire::Uuid;
use clap::Subcommand;

/// Kafka's ConfigResource type for topics.
const RESOURCE_TOPIC: i8 = 2;
/// DescribeConfigs config source TOPIC_CONFIG: an override set on the topic.
const SOURCE_TOPIC_CONFIG: i8 = 1;
const OP_SET: i8 = 0;
const OP_DELETE: i8 = 1;
const TIMEOUT_MS: i32 = 30_000;

#[derive(Subcommand, Debug)]
pub enum TopicsAction {
    /// Create a topic (CreateTopics).
    Create {
        topic: String,
        /// Partition count (default: the broker's num.partitions).
        #[arg(long)]
        partitions: Option<i32>,
        /// Replication factor (default: the broker's default.replication.factor).
        #[arg(long)]
        replication_factor: Option<i16>,
        /// Topic config, e.g. --config retention.ms=60000 (repeatable).
        #[arg(long = "config", value_name = "NAME=VALUE")]
        configs: Vec<String>,
    },
    /// List topics (Metadata).
    List {
        /// Also list internal topics such as __consumer_offsets.
        #[arg(long)]
        include_internal: bool,
    },
    /// Partitions, leaders, earliest/latest offsets and config overrides
    /// (configs need DescribeConfigs on the broker). All topics if none named.
    Describe {
        topics: Vec<String>,
        /// Show every config with its source, not only the topic's overrides.
        #[arg(long)]
        all_configs: bool,
    },
    /// Delete topics (DeleteTopics).
    Delete {
        #[arg(required = true)]
        topics: Vec<String>,
    },
    /// Change topic configs (IncrementalAlterConfigs).
    AlterConfig {
        topic: String,
        /// Set a config, e.g. --set retention.ms=60000 (repeatable).
        #[arg(long = "set", value_name = "NAME=VALUE")]
        set: Vec<String>,
        /// Remove an override, reverting to the default (repeatable).
        #[arg(long = "delete", value_name = "NAME")]
        delete: Vec<String>,
    },
}

pub fn parse_pair(text: &str, what: &str) -> Result<(String, String), CliError> {
    match text.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(CliError::new(format!("{what} '{text}' is not NAME=VALUE"))),
    }
}

pub async fn run(cluster: &mut Cluster, action: TopicsAction, json: bool) -> Result<(), CliError> {
    match action {
        TopicsAction::Create {
            topic,
            partitions,
            replication_factor,
            configs,
        } => {
            create(
                cluster,
                topic,
                partitions,
                replication_factor,
                &configs,
                json,
            )
            .await
        }
        TopicsAction::List { include_internal } => list(cluster, include_internal, json).await,
        TopicsAction::Describe {
            topics,
            all_configs,
        } => describe(cluster, &topics, all_configs, json).await,
        TopicsAction::Delete { topics } => delete(cluster, &topics, json).await,
        TopicsAction::AlterConfig { topic, set, delete } => {
            alter_config(cluster, &topic, &set, &delete, json).await
        }
    }
}

async fn create(
    cluster: &mut Cluster,
    name: String,
    partitions: Option<i32>,
    replication_factor: Option<i16>,
    configs: &[String],
    json: bool,
) -> Result<(), CliError> {
    let configs = configs
        .iter()
        .map(|c| {
            parse_pair(c, "--config").map(|(name, value)| CreatableTopicConfig {
                name,
                value: Some(value),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let conn = &mut cluster.bootstrap;
    let version = conn.version(ApiKey::CreateTopics, 7)?;
    // -1 ("broker default") is only understood from v4 on.
    if version < 4 && (partitions.is_none() || replication_factor.is_none()) {
        return Err(CliError::new(format!(
            "this broker speaks CreateTopics v{version}, which needs explicit --partitions and --replication-factor"
        )));
    }
    let request = CreateTopicsRequest {
        topics: vec![CreatableTopic {
            name: name.clone(),
            num_partitions: partitions.unwrap_or(-1),
            replication_factor: replication_factor.unwrap_or(-1),
            assignments: Vec::new(),
            configs,
        }],
        timeout_ms: TIMEOUT_MS,
        validate_only: false,
    };
    let response = expect_response!(
        conn.send(version, RequestBody::CreateTopics(request))
            .await?,
        CreateTopics
    );
    let result = response
        .topics
        .into_iter()
        .find(|t| t.name == name)
        .ok_or_else(|| CliError::new(format!("CreateTopics: no result for topic '{name}'")))?;
    if result.error_code != 0 {
        return Err(CliError::kafka(
            &format!("creating topic '{name}'"),
            result.error_code,
            result.error_message.as_deref(),
        ));
    }
    // v5+ reports what the broker chose; before that, echo what was asked.
    let partitions = if version >= 5 {
        Some(result.num_partitions)
    } else {
        partitions
    };
    let replication = if version >= 5 {
        Some(result.replication_factor)
    } else {
        replication_factor
    };
    if json {
        outln!(
            "{}",
            Json::obj([
                ("topic", Json::from(name)),
                ("partitions", Json::from(partitions)),
                ("replication_factor", Json::from(replication)),
            ])
        );
    } else {
        outln!("Created topic {name}.");
    }
    Ok(())
}

async fn list(cluster: &mut Cluster, include_internal: bool, json: bool) -> Result<(), CliError> {
    let layouts = meta::layouts(cluster, None).await?;
    let shown: Vec<_> = layouts
        .into_iter()
        .filter(|t| include_internal || !t.internal)
        .collect();
    if json {
        let items: Vec<Json> = shown
            .iter()
            .map(|t| {
                Json::obj([
                    ("topic", Json::from(t.name.as_str())),
                    ("partitions", Json::from(t.partitions.len())),
                    ("internal", Json::from(t.internal)),
                ])
            })
            .collect();
        outln!("{}", Json::Arr(items));
    } else {
        for topic in &shown {
            outln!("{}", topic.name);
        }
    }
    Ok(())
}

/// A config as DescribeConfigs reports it.
struct ConfigEntry {
    name: String,
    value: Option<String>,
    source: &'static str,
    is_override: bool,
    sensitive: bool,
}

fn source_name(source: i8) -> &'static str {
    match source {
        1 => "TOPIC_CONFIG",
        2 => "DYNAMIC_BROKER_CONFIG",
        3 => "DYNAMIC_DEFAULT_BROKER_CONFIG",
        4 => "STATIC_BROKER_CONFIG",
        5 => "DEFAULT_CONFIG",
        6 => "DYNAMIC_BROKER_LOGGER_CONFIG",
        _ => "UNKNOWN",
    }
}

/// The topic's configs, or `None` when the broker has no DescribeConfigs.
async fn topic_configs(
    cluster: &mut Cluster,
    topic: &str,
) -> Result<Option<Vec<ConfigEntry>>, CliError> {
    let conn = &mut cluster.bootstrap;
    let Some(version) = conn.try_version(ApiKey::DescribeConfigs, 4) else {
        return Ok(None);
    };
    let request = DescribeConfigsRequest {
        resources: vec![DescribeConfigsResource {
            resource_type: RESOURCE_TOPIC,
            resource_name: topic.to_string(),
            configuration_keys: None,
        }],
        include_synonyms: false,
        include_documentation: false,
    };
    let response = expect_response!(
        conn.send(version, RequestBody::DescribeConfigs(request))
            .await?,
        DescribeConfigs
    );
    let result = response
        .results
        .into_iter()
        .find(|r| r.resource_name == topic)
        .ok_or_else(|| CliError::new(format!("DescribeConfigs: no result for topic '{topic}'")))?;
    if result.error_code != 0 {
        return Err(CliError::kafka(
            &format!("describing configs of '{topic}'"),
            result.error_code,
            result.error_message.as_deref(),
        ));
    }
    let mut entries: Vec<ConfigEntry> = result
        .configs
        .into_iter()
        .map(|c| {
            // v0 has only is_default; v1+ says where the value comes from.
            let (source, is_override) = if version >= 1 {
                (
                    source_name(c.config_source),
                    c.config_source == SOURCE_TOPIC_CONFIG,
                )
            } else {
                (
                    if c.is_default {
                        "DEFAULT_CONFIG"
                    } else {
                        "TOPIC_CONFIG"
                    },
                    !c.is_default,
                )
            };
            ConfigEntry {
                name: c.name,
                value: c.value,
                source,
                is_override,
                sensitive: c.is_sensitive,
            }
        })
        .collect();
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Some(entries))
}

async fn describe(
    cluster: &mut Cluster,
    topics: &[String],
    all_configs: bool,
    json: bool,
) -> Result<(), CliError> {
    let layouts = meta::layouts(
        cluster,
        if topics.is_empty() {
            None
        } else {
            Some(topics)
        },
    )
    .await?;
    let layouts: Vec<_> = layouts
        .into_iter()
        .filter(|t| !topics.is_empty() || !t.internal)
        .collect();
    let leaders = meta::leaders(&layouts);
    let partitions: Vec<(String, i32)> = leaders.keys().cloned().collect();
    let earliest = meta::list_offsets(cluster, &leaders, &partitions, EARLIEST).await?;
    let latest = meta::list_offsets(cluster, &leaders, &partitions, LATEST).await?;
    let mut json_topics = Vec::new();
    for (i, topic) in layouts.iter().enumerate() {
        let configs = topic_configs(cluster, &topic.name).await?;
        let shown: Option<Vec<&ConfigEntry>> = configs
            .as_ref()
            .map(|c| c.iter().filter(|e| all_configs || e.is_override).collect());
        let offset = |map: &std::collections::BTreeMap<(String, i32), Result<i64, String>>,
                      p: i32| {
            map.get(&(topic.name.clone(), p))
                .and_then(|r| r.as_ref().ok().copied())
        };
        if json {
            let partitions: Vec<Json> = topic
                .partitions
                .iter()
                .map(|p| {
                    Json::obj([
                        ("partition", Json::from(p.partition)),
                        ("leader", Json::from(p.leader)),
                        ("leader_epoch", Json::from(p.leader_epoch)),
                        ("replicas", Json::from(p.replicas.clone())),
                        ("isr", Json::from(p.isr.clone())),
                        (
                            "earliest_offset",
                            Json::from(offset(&earliest, p.partition)),
                        ),
                        ("latest_offset", Json::from(offset(&latest, p.partition))),
                    ])
                })
                .collect();
            let configs = shown.as_ref().map(|entries| {
                Json::Arr(
                    entries
                        .iter()
                        .map(|e| {
                            Json::obj([
                                ("name", Json::from(e.name.as_str())),
                                ("value", Json::from(e.value.clone())),
                                ("source", Json::from(e.source)),
                                ("sensitive", Json::from(e.sensitive)),
                            ])
                        })
                        .collect(),
                )
            });
            json_topics.push(Json::obj([
                ("topic", Json::from(topic.name.as_str())),
                ("topic_id", Json::from(topic.topic_id.as_str())),
                ("internal", Json::from(topic.internal)),
                ("partitions", Json::Arr(partitions)),
                ("configs", configs.unwrap_or(Json::Null)),
            ]));
            continue;
        }
        if i > 0 {
            outln!();
        }
        let replication = topic.partitions.first().map_or(0, |p| p.replicas.len());
        outln!(
            "Topic: {}\tTopicId: {}\tPartitionCount: {}\tReplicationFactor: {}",
            topic.name,
            topic.topic_id,
            topic.partitions.len(),
            replication
        );
        match &shown {
            None => outln!("Configs: (the broker does not support DescribeConfigs)"),
            Some(entries) if all_configs => {
                let mut table = Table::new(&["CONFIG", "VALUE", "SOURCE"]);
                for e in entries {
                    let value = if e.sensitive {
                        "(sensitive)".to_string()
                    } else {
                        e.value.clone().unwrap_or_default()
                    };
                    table.row(vec![e.name.clone(), value, e.source.to_string()]);
                }
                out!("{}", table.render());
            }
            Some(entries) => {
                let pairs: Vec<String> = entries
                    .iter()
                    .map(|e| format!("{}={}", e.name, e.value.as_deref().unwrap_or("")))
                    .collect();
                outln!("Configs: {}", pairs.join(","));
            }
        }
        let mut table = Table::new(&[
            "PARTITION",
            "LEADER",
            "REPLICAS",
            "ISR",
            "EARLIEST",
            "LATEST",
        ]);
        for p in &topic.partitions {
            table.row(vec![
                p.partition.to_string(),
                p.leader.to_string(),
                join(&p.replicas),
                join(&p.isr),
                or_dash(offset(&earliest, p.partition)),
                or_dash(offset(&latest, p.partition)),
            ]);
        }
        out!("{}", table.render());
    }
    if json {
        outln!("{}", Json::Arr(json_topics));
    }
    Ok(())
}

fn join(ids: &[i32]) -> String {
    ids.iter().map(i32::to_string).collect::<Vec<_>>().join(",")
}

async fn delete(cluster: &mut Cluster, topics: &[String], json: bool) -> Result<(), CliError> {
    let conn = &mut cluster.bootstrap;
    let version = conn.version(ApiKey::DeleteTopics, 6)?;
    // v6 names topics in `topics` (name or id); earlier versions in `topic_names`.
    let request = if version >= 6 {
        DeleteTopicsRequest {
            topics: topics
                .iter()
                .map(|t| DeleteTopicState {
                    name: Some(t.clone()),
                    topic_id: Uuid::ZERO,
                })
                .collect(),
            topic_names: Vec::new(),
            timeout_ms: TIMEOUT_MS,
        }
    } else {
        DeleteTopicsRequest {
            topics: Vec::new(),
            topic_names: topics.to_vec(),
            timeout_ms: TIMEOUT_MS,
        }
    };
    let response = expect_response!(
        conn.send(version, RequestBody::DeleteTopics(request))
            .await?,
        DeleteTopics
    );
    let mut failures = Vec::new();
    let mut results = Vec::new();
    for topic in topics {
        let result = response
            .responses
            .iter()
            .find(|r| r.name.as_deref() == Some(topic.as_str()));
        let error = match result {
            None => Some("no result".to_string()),
            Some(r) if r.error_code != 0 => {
                Some(describe_error(r.error_code, r.error_message.as_deref()))
            }
            Some(_) => None,
        };
        if let Some(e) = &error {
            failures.push(format!("deleting topic '{topic}': {e}"));
        } else if !json {
            outln!("Deleted topic {topic}.");
        }
        results.push(Json::obj([
            ("topic", Json::from(topic.as_str())),
            ("error", Json::from(error)),
        ]));
    }
    if json {
        outln!("{}", Json::Arr(results));
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(CliError::new(failures.join("\n")))
    }
}

async fn alter_config(
    cluster: &mut Cluster,
    topic: &str,
    set: &[String],
    delete: &[String],
    json: bool,
) -> Result<(), CliError> {
    if set.is_empty() && delete.is_empty() {
        return Err(CliError::new(
            "alter-config needs at least one --set or --delete",
        ));
    }
    let mut configs = Vec::new();
    for pair in set {
        let (name, value) = parse_pair(pair, "--set")?;
        configs.push(AlterableConfig {
            name,
            config_operation: OP_SET,
            value: Some(value),
        });
    }
    for name in delete {
        configs.push(AlterableConfig {
            name: name.clone(),
            config_operation: OP_DELETE,
            value: None,
        });
    }
    let conn = &mut cluster.bootstrap;
    let version = conn.version(ApiKey::IncrementalAlterConfigs, 1)?;
    let request = IncrementalAlterConfigsRequest {
        resources: vec![AlterConfigsResource {
            resource_type: RESOURCE_TOPIC,
            resource_name: topic.to_string(),
            configs,
        }],
        validate_only: false,
    };
    let response = expect_response!(
        conn.send(version, RequestBody::IncrementalAlterConfigs(request))
            .await?,
        IncrementalAlterConfigs
    );
    let result = response
        .responses
        .into_iter()
        .find(|r| r.resource_name == topic)
        .ok_or_else(|| {
            CliError::new(format!(
                "IncrementalAlterConfigs: no result for topic '{topic}'"
            ))
        })?;
    if result.error_code != 0 {
        return Err(CliError::kafka(
            &format!("altering configs of '{topic}'"),
            result.error_code,
            result.error_message.as_deref(),
        ));
    }
    if json {
        outln!(
            "{}",
            Json::obj([("topic", Json::from(topic)), ("altered", Json::from(true))])
        );
    } else {
        outln!("Altered configs of topic {topic}.");
    }
    Ok(())
}
