//! Configs: DescribeConfigs (key 32), AlterConfigs (key 33) and
//! IncrementalAlterConfigs (key 44), for topics and for this broker.
//!
//! Topic overrides are persisted with the topic and applied to its live
//! partitions at once. Broker resources: the log defaults (`log.*`,
//! `message.max.bytes`, `compression.type`, …) may change at runtime, for
//! this broker (its id) or cluster-wide (empty name), as Kafka's dynamic
//! broker configs; every other broker setting is read-only.

use super::Implemented;
use crate::broker::Broker;
use crate::config::catalog::{self, ConfigSource, ConfigType};
use crate::config::dynamic::Layers;
use crate::config::kafka_catalog::Update;
use crate::config::kafka_keys;
use crate::config::log_config::{broker_to_topic_name, list_items, LogConfig};
use crate::log::TopicError;
use crate::protocol::error_code::ErrorCode;
use crate::protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use crate::protocol::messages::{
    alter_configs_response, incremental_alter_configs_response, AlterConfigsRequest,
    AlterConfigsResponse, ApiKey, DescribeConfigsRequest, DescribeConfigsResponse,
    IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse, ResponseBody,
};
use std::collections::BTreeMap;

pub const DESCRIBE_CONFIGS: Implemented = Implemented {
    api_key: ApiKey::DescribeConfigs,
    min: 0,
    max: 4,
};
pub const ALTER_CONFIGS: Implemented = Implemented {
    api_key: ApiKey::AlterConfigs,
    min: 0,
    max: 2,
};
pub const INCREMENTAL_ALTER_CONFIGS: Implemented = Implemented {
    api_key: ApiKey::IncrementalAlterConfigs,
    min: 0,
    max: 1,
};

/// Kafka's `ConfigResource.Type` bytes.
const TOPIC: i8 = crate::cluster::records::CONFIG_TOPIC;
const BROKER: i8 = crate::cluster::records::CONFIG_BROKER;

/// IncrementalAlterConfigs operations (`AlterConfigOp.OpType`).
const SET: i8 = 0;
const DELETE: i8 = 1;
const APPEND: i8 = 2;
const SUBTRACT: i8 = 3;

/// A resource-level refusal: error code and message.
type Refusal = (ErrorCode, String);

fn refuse(code: ErrorCode, message: impl Into<String>) -> Refusal {
    (code, message.into())
}

fn topic_refusal(error: TopicError) -> Refusal {
    match error {
        TopicError::UnknownTopic => refuse(
            ErrorCode::UnknownTopicOrPartition,
            "This server does not host this topic.",
        ),
        TopicError::InvalidConfig(why) => refuse(ErrorCode::InvalidConfig, why),
        TopicError::Io(e) => {
            tracing::error!(error = %e, "persisting topic configs failed");
            refuse(ErrorCode::UnknownServerError, format!("storage error: {e}"))
        }
        other => refuse(ErrorCode::InvalidRequest, other.to_string()),
    }
}

/// Which broker layer a broker resource names: `Ok(true)` for the
/// cluster-wide default (""), `Ok(false)` for this broker.
fn broker_layer(broker: &Broker, name: &str) -> Result<bool, Refusal> {
    let node = broker.config.node_id;
    if name.is_empty() {
        return Ok(true);
    }
    if name.trim().parse::<i32>().ok() == Some(node) {
        return Ok(false);
    }
    Err(refuse(
        ErrorCode::InvalidRequest,
        format!("Unexpected broker id, expected {node} or empty string, but received {name}"),
    ))
}

// ---------------------------------------------------------------- describe

struct Entry {
    name: String,
    kind: ConfigType,
    doc: &'static str,
    read_only: bool,
    /// Most specific first; the first one supplies the value and source.
    synonyms: Vec<(String, Option<String>, ConfigSource)>,
    /// When no synonym applies (a setting with no default value).
    fallback: Option<String>,
}

/// Where a broker-level name is set: dynamic per-broker, dynamic default, static, built-in.
fn broker_chain(
    broker: &Broker,
    layers: &Layers,
    name: &str,
    include_broker_layer: bool,
) -> Vec<(String, Option<String>, ConfigSource)> {
    let mut chain = Vec::new();
    if include_broker_layer {
        if let Some(v) = layers.this_broker.get(name) {
            chain.push((
                name.to_string(),
                Some(v.clone()),
                ConfigSource::DynamicBroker,
            ));
        }
    }
    if let Some(v) = layers.cluster_default.get(name) {
        chain.push((
            name.to_string(),
            Some(v.clone()),
            ConfigSource::DynamicDefaultBroker,
        ));
    }
    if let Some(v) = broker.config.static_settings.get(name) {
        chain.push((
            name.to_string(),
            Some(v.clone()),
            ConfigSource::StaticBroker,
        ));
    }
    chain
}

fn topic_entries(
    broker: &Broker,
    overrides: &BTreeMap<String, String>,
    effective: &LogConfig,
) -> Vec<Entry> {
    let layers = broker.dynamic_configs.layers();
    let mut entries: Vec<Entry> = catalog::TOPIC_CONFIGS
        .iter()
        .map(|def| {
            let mut synonyms = Vec::new();
            if let Some(v) = overrides.get(def.name) {
                synonyms.push((
                    def.name.to_string(),
                    Some(v.clone()),
                    ConfigSource::DynamicTopic,
                ));
            }
            for name in def.broker_names {
                synonyms.extend(broker_chain(broker, &layers, name, true));
            }
            let builtin = if def.name == "min.insync.replicas" {
                Some(("min.insync.replicas", Some("1".to_string())))
            } else {
                def.broker_names
                    .iter()
                    .find_map(|n| catalog::broker_log_default(n).map(|v| (*n, Some(v))))
            };
            if let Some((name, value)) = builtin {
                synonyms.push((name.to_string(), value, ConfigSource::Default));
            }
            Entry {
                name: def.name.to_string(),
                kind: def.kind,
                doc: def.doc,
                read_only: false,
                synonyms,
                fallback: effective.get(def.name),
            }
        })
        .collect();
    entries.extend(inert_topic_entries(broker, &layers, overrides));
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    entries
}

/// Kafka's topic settings Odradek keeps without acting on: the override, the
/// broker-level synonym's chain, then Kafka's default.
fn inert_topic_entries(
    broker: &Broker,
    layers: &Layers,
    overrides: &BTreeMap<String, String>,
) -> Vec<Entry> {
    crate::config::kafka_catalog::TOPIC
        .iter()
        .filter(|k| !k.internal && catalog::topic_config(k.name).is_none())
        .map(|key| {
            let mut synonyms = Vec::new();
            if let Some(v) = overrides.get(key.name) {
                synonyms.push((
                    key.name.to_string(),
                    Some(v.clone()),
                    ConfigSource::DynamicTopic,
                ));
            }
            match key.broker_synonym {
                Some(name) => {
                    synonyms.extend(broker_chain(broker, layers, name, true));
                    let default = kafka_keys::broker_key(name).map_or(key.default, |b| b.default);
                    synonyms.push((
                        name.to_string(),
                        kafka_keys::default_value(default),
                        ConfigSource::Default,
                    ));
                }
                None => synonyms.push((
                    key.name.to_string(),
                    kafka_keys::default_value(key.default),
                    ConfigSource::Default,
                )),
            }
            Entry {
                name: key.name.to_string(),
                kind: kafka_keys::config_type(key.kind),
                doc: kafka_keys::INERT_DOC,
                read_only: false,
                synonyms,
                fallback: None,
            }
        })
        .collect()
}

/// Kafka's dynamic broker settings Odradek stores without acting on them,
/// where they were set.
fn inert_broker_entries(broker: &Broker, layers: &Layers, cluster_default: bool) -> Vec<Entry> {
    let mut names: Vec<&String> = layers.cluster_default.keys().collect();
    if !cluster_default {
        names.extend(layers.this_broker.keys());
    }
    names.sort();
    names.dedup();
    names
        .into_iter()
        .filter(|n| !catalog::is_dynamic_broker_config(n))
        .filter_map(|name| {
            let key = kafka_keys::broker_key(name)?;
            let mut synonyms = broker_chain(broker, layers, name, !cluster_default);
            if cluster_default {
                synonyms.retain(|s| s.2 == ConfigSource::DynamicDefaultBroker);
            } else {
                synonyms.push((
                    name.clone(),
                    kafka_keys::default_value(key.default),
                    ConfigSource::Default,
                ));
            }
            Some(Entry {
                name: name.clone(),
                kind: kafka_keys::config_type(key.kind),
                doc: kafka_keys::INERT_DOC,
                read_only: false,
                synonyms,
                fallback: None,
            })
        })
        .collect()
}

fn broker_entries(broker: &Broker, cluster_default: bool) -> Vec<Entry> {
    let layers = broker.dynamic_configs.layers();
    let mut entries = Vec::new();
    for def in catalog::TOPIC_CONFIGS {
        for name in def
            .broker_names
            .iter()
            .filter(|n| catalog::is_dynamic_broker_config(n))
        {
            let mut synonyms = broker_chain(broker, &layers, name, !cluster_default);
            if cluster_default {
                // The default resource lists only what was set on it.
                synonyms.retain(|s| s.2 == ConfigSource::DynamicDefaultBroker);
                if synonyms.is_empty() {
                    continue;
                }
            } else if let Some(value) = catalog::broker_log_default(name) {
                synonyms.push((name.to_string(), Some(value), ConfigSource::Default));
            }
            entries.push(Entry {
                name: name.to_string(),
                kind: def.kind,
                doc: def.doc,
                read_only: false,
                synonyms,
                fallback: None,
            });
        }
    }
    if !cluster_default {
        let mut fixed = catalog::static_broker_entries(&broker.config);
        fixed.push(catalog::BrokerEntry {
            name: "min.insync.replicas".into(),
            value: Some("1".into()),
            kind: ConfigType::Int,
            doc: "In-sync replicas acks=all needs: this single-node broker keeps exactly one.",
            read_only: true,
        });
        for e in fixed {
            let source = if broker.config.static_settings.contains_key(&e.name) {
                ConfigSource::StaticBroker
            } else {
                ConfigSource::Default
            };
            let synonyms = vec![(e.name.clone(), e.value, source)];
            entries.push(Entry {
                name: e.name,
                kind: e.kind,
                doc: e.doc,
                read_only: e.read_only,
                synonyms,
                fallback: None,
            });
        }
    }
    entries.extend(inert_broker_entries(broker, &layers, cluster_default));
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    entries
}

fn encode_entry(
    entry: Entry,
    version: i16,
    include_synonyms: bool,
    include_documentation: bool,
) -> DescribeConfigsResourceResult {
    let (value, source) = match entry.synonyms.first() {
        Some((_, value, source)) => (value.clone(), *source),
        None => (entry.fallback.clone(), ConfigSource::Default),
    };
    // A topic's value is always the effective one (e.g. `log.retention.hours`
    // converted to ms); a broker's is the winning synonym's.
    let value = entry.fallback.clone().or(value);
    DescribeConfigsResourceResult {
        name: entry.name,
        value,
        read_only: entry.read_only,
        // v0 only (not ignorable): later versions say it with the source.
        is_default: version == 0 && source == ConfigSource::Default,
        config_source: source as i8,
        is_sensitive: false,
        synonyms: if include_synonyms {
            entry
                .synonyms
                .into_iter()
                .map(|(name, value, source)| DescribeConfigsSynonym {
                    name,
                    value,
                    source: source as i8,
                })
                .collect()
        } else {
            Vec::new()
        },
        config_type: entry.kind as i8,
        documentation: include_documentation.then(|| entry.doc.to_string()),
    }
}

pub fn describe_configs(
    broker: &Broker,
    version: i16,
    request: DescribeConfigsRequest,
) -> ResponseBody {
    let include_synonyms = version >= 1 && request.include_synonyms;
    let include_documentation = version >= 3 && request.include_documentation;
    let results = request
        .resources
        .into_iter()
        .map(|resource| {
            let entries = match resource.resource_type {
                TOPIC => match broker.log.topic(&resource.resource_name) {
                    Some(topic) => {
                        let effective = broker
                            .log
                            .defaults()
                            .with_overrides(&topic.meta.configs)
                            .unwrap_or_else(|_| {
                                topic
                                    .partitions
                                    .first()
                                    .map(|p| p.config())
                                    .unwrap_or_default()
                            });
                        Ok(topic_entries(broker, &topic.meta.configs, &effective))
                    }
                    None => Err(refuse(
                        ErrorCode::UnknownTopicOrPartition,
                        format!("Topic '{}' does not exist.", resource.resource_name),
                    )),
                },
                BROKER => broker_layer(broker, &resource.resource_name)
                    .map(|default| broker_entries(broker, default)),
                other => Err(refuse(
                    ErrorCode::InvalidRequest,
                    format!("unsupported resource type {other}"),
                )),
            };
            let mut result = DescribeConfigsResult {
                error_code: ErrorCode::None.code(),
                error_message: None,
                resource_type: resource.resource_type,
                resource_name: resource.resource_name,
                configs: Vec::new(),
            };
            match entries {
                Ok(entries) => {
                    let wanted = resource.configuration_keys.filter(|keys| !keys.is_empty());
                    result.configs = entries
                        .into_iter()
                        .filter(|e| wanted.as_ref().is_none_or(|keys| keys.contains(&e.name)))
                        .map(|e| encode_entry(e, version, include_synonyms, include_documentation))
                        .collect();
                }
                Err((code, message)) => {
                    result.error_code = code.code();
                    result.error_message = Some(message);
                }
            }
            result
        })
        .collect();
    ResponseBody::DescribeConfigs(DescribeConfigsResponse {
        results,
        ..DescribeConfigsResponse::default()
    })
}

// ---------------------------------------------------------------- alter

/// One requested change, as both alter APIs reduce to.
struct Change {
    name: String,
    op: i8,
    value: Option<String>,
}

fn check_duplicates(changes: &[Change]) -> Result<(), Refusal> {
    let mut seen = std::collections::BTreeSet::new();
    for c in changes {
        if !seen.insert(c.name.as_str()) {
            return Err(refuse(
                ErrorCode::InvalidRequest,
                format!("Error due to duplicate config keys: {}", c.name),
            ));
        }
    }
    Ok(())
}

/// Applies SET/DELETE/APPEND/SUBTRACT to `current` overrides. `kind` gives a
/// known name's type (None: unknown); `present` its value now, for
/// APPEND/SUBTRACT on a setting without an override.
fn apply_changes(
    resource: &str,
    current: &mut BTreeMap<String, String>,
    changes: Vec<Change>,
    kind: impl Fn(&str) -> Option<ConfigType>,
    present: impl Fn(&str) -> Option<String>,
) -> Result<(), Refusal> {
    for change in changes {
        let Some(kind) = kind(&change.name) else {
            return Err(refuse(
                ErrorCode::InvalidConfig,
                format!("Unknown {resource} config name: {}", change.name),
            ));
        };
        let value = || {
            change.value.clone().ok_or_else(|| {
                refuse(
                    ErrorCode::InvalidRequest,
                    format!("Null value not supported for : {}", change.name),
                )
            })
        };
        match change.op {
            SET => {
                current.insert(change.name.clone(), value()?);
            }
            DELETE => {
                current.remove(&change.name);
            }
            APPEND | SUBTRACT => {
                if kind != ConfigType::List {
                    let verb = if change.op == APPEND {
                        "append"
                    } else {
                        "subtract"
                    };
                    return Err(refuse(
                        ErrorCode::InvalidConfig,
                        format!(
                            "Config value {verb} is not allowed for config key: {}",
                            change.name
                        ),
                    ));
                }
                let given = value()?;
                let given = list_items(&given);
                let now = current
                    .get(&change.name)
                    .cloned()
                    .or_else(|| present(&change.name))
                    .unwrap_or_default();
                let mut items: Vec<&str> = list_items(&now);
                if change.op == APPEND {
                    for item in given {
                        if !items.contains(&item) {
                            items.push(item);
                        }
                    }
                } else {
                    items.retain(|item| !given.contains(item));
                }
                current.insert(change.name.clone(), items.join(","));
            }
            other => {
                return Err(refuse(
                    ErrorCode::InvalidRequest,
                    format!("Unknown config operation {other} for {}", change.name),
                ))
            }
        }
    }
    Ok(())
}

async fn alter_topic(
    broker: &Broker,
    name: &str,
    changes: Vec<Change>,
    replace: bool,
    validate_only: bool,
) -> Result<(), Refusal> {
    check_duplicates(&changes)?;
    let topic = broker
        .log
        .topic(name)
        .ok_or_else(|| topic_refusal(TopicError::UnknownTopic))?;
    let mut overrides = if replace {
        BTreeMap::new()
    } else {
        topic.meta.configs.clone()
    };
    let effective = broker
        .log
        .defaults()
        .with_overrides(&topic.meta.configs)
        .unwrap_or_default();
    apply_changes("topic", &mut overrides, changes, topic_kind, |n| {
        effective.get(n)
    })?;
    let Some(node) = broker.metadata_writer().await else {
        return broker
            .log
            .alter_topic_configs(name, overrides, validate_only)
            .map_err(topic_refusal);
    };
    // Checked here, decided by the controller, applied from the image.
    broker
        .log
        .alter_topic_configs(name, overrides.clone(), true)
        .map_err(topic_refusal)?;
    if validate_only {
        return Ok(());
    }
    decide_configs(broker, node, (TOPIC, name.to_string()), overrides).await
}

/// The controller's decision on one resource's settings.
async fn decide_configs(
    broker: &Broker,
    node: &crate::cluster::node::ClusterNode,
    resource: crate::cluster::image::ConfigResource,
    configs: BTreeMap<String, String>,
) -> Result<(), Refusal> {
    let call = crate::cluster::node::ControllerCall::AlterConfigs { resource, configs };
    match super::topics::controller::decide(broker, node, call).await {
        Ok(outcomes) => match outcomes.into_iter().next() {
            Some(Ok(())) => Ok(()),
            Some(Err(e)) => Err(refuse(e.code(), e.to_string())),
            None => Err(refuse(ErrorCode::UnknownServerError, "no outcome")),
        },
        Err(no) => Err(refuse(no.code, no.message)),
    }
}

async fn alter_broker(
    broker: &Broker,
    name: &str,
    changes: Vec<Change>,
    replace: bool,
    validate_only: bool,
) -> Result<(), Refusal> {
    check_duplicates(&changes)?;
    let cluster_default = broker_layer(broker, name)?;
    // Kafka refuses the whole resource when any setting is not dynamic, or
    // is dynamic only per broker and names the cluster-wide default.
    let names = || changes.iter().map(|c| c.name.as_str());
    let fixed: Vec<&str> = names()
        .filter(|n| !catalog::is_dynamic_broker_config(n))
        .filter(|n| {
            is_known_broker_config(broker, n)
                || kafka_keys::broker_update(n) == Some(Update::ReadOnly)
        })
        .collect();
    if !fixed.is_empty() {
        return Err(refuse(
            ErrorCode::InvalidRequest,
            format!(
                "Cannot update these configs dynamically: Set({})",
                fixed.join(", ")
            ),
        ));
    }
    // Secrets Odradek has no use for are not written to its data directory.
    if let Some(secret) = names().find(|n| {
        kafka_keys::broker_key(n)
            .is_some_and(|k| k.kind == crate::config::kafka_catalog::Kind::Password)
    }) {
        return Err(refuse(
            ErrorCode::InvalidConfig,
            format!("{secret} is a password, and Odradek does not store secrets it does not use"),
        ));
    }
    let per_broker: Vec<&str> = names()
        .filter(|n| kafka_keys::broker_update(n) == Some(Update::PerBroker))
        .collect();
    if cluster_default && !per_broker.is_empty() {
        return Err(refuse(
            ErrorCode::InvalidRequest,
            format!(
                "Cannot update these configs at default cluster level, broker id must be specified: Set({})",
                per_broker.join(", ")
            ),
        ));
    }
    let kind = |n: &str| match broker_to_topic_name(n) {
        Some(topic_name) => catalog::topic_config(topic_name).map(|d| d.kind),
        None => kafka_keys::broker_key(n).map(|k| kafka_keys::config_type(k.kind)),
    };
    let defaults = broker.log.defaults();
    let present = |n: &str| broker_to_topic_name(n).and_then(|t| defaults.get(t));
    let change = |layers: &mut Layers| -> Result<(), Refusal> {
        let layer = layers.layer_mut(cluster_default);
        if replace {
            layer.clear();
        }
        apply_changes("broker", layer, changes, kind, present)?;
        layers
            .apply(&broker.config.log)
            .map(|_| ())
            .map_err(|e| refuse(ErrorCode::InvalidConfig, e))
    };
    if validate_only {
        let mut layers = broker.dynamic_configs.layers();
        return change(&mut layers);
    }
    if let Some(node) = broker.metadata_writer().await {
        // Checked here, decided by the controller, applied from the image
        // (see `cluster::replicas`), on every broker it names.
        let mut layers = broker.dynamic_configs.layers();
        change(&mut layers)?;
        let (resource_name, layer) = if cluster_default {
            (String::new(), layers.cluster_default)
        } else {
            (broker.config.node_id.to_string(), layers.this_broker)
        };
        return decide_configs(broker, node, (BROKER, resource_name), layer).await;
    }
    let commit = |layers: &Layers| -> Result<(), Refusal> {
        let defaults = layers
            .apply(&broker.config.log)
            .map_err(|e| refuse(ErrorCode::InvalidConfig, e))?;
        broker.log.set_defaults(defaults).map_err(topic_refusal)
    };
    match broker.dynamic_configs.update(change, commit) {
        Ok(outcome) => outcome,
        Err(e) => {
            tracing::error!(error = %e, "persisting dynamic broker configs failed");
            Err(refuse(
                ErrorCode::UnknownServerError,
                format!("storage error: {e}"),
            ))
        }
    }
}

/// A topic setting's type: Odradek's own, or Kafka's for those it keeps inert.
fn topic_kind(name: &str) -> Option<ConfigType> {
    catalog::topic_config(name).map(|d| d.kind).or_else(|| {
        kafka_keys::topic_key(name)
            .filter(|k| !k.internal)
            .map(|k| kafka_keys::config_type(k.kind))
    })
}

/// A broker setting this broker knows, dynamic or not.
fn is_known_broker_config(broker: &Broker, name: &str) -> bool {
    name == "min.insync.replicas"
        || name == "log.retention.minutes"
        || catalog::static_broker_entries(&broker.config)
            .iter()
            .any(|e| e.name == name)
}

async fn alter(
    broker: &Broker,
    resource_type: i8,
    name: &str,
    changes: Vec<Change>,
    replace: bool,
    validate_only: bool,
) -> (i16, Option<String>) {
    let outcome = match resource_type {
        TOPIC => alter_topic(broker, name, changes, replace, validate_only).await,
        BROKER => alter_broker(broker, name, changes, replace, validate_only).await,
        other => Err(refuse(
            ErrorCode::InvalidRequest,
            format!("unsupported resource type {other}"),
        )),
    };
    match outcome {
        Ok(()) => (ErrorCode::None.code(), None),
        Err((code, message)) => (code.code(), Some(message)),
    }
}

/// AlterConfigs: the given settings replace all of the resource's overrides.
pub async fn alter_configs(
    broker: &Broker,
    _version: i16,
    request: AlterConfigsRequest,
) -> ResponseBody {
    let mut responses = Vec::with_capacity(request.resources.len());
    for resource in request.resources {
        let changes = resource
            .configs
            .into_iter()
            .map(|c| Change {
                name: c.name,
                op: SET,
                value: c.value,
            })
            .collect();
        let (error_code, error_message) = alter(
            broker,
            resource.resource_type,
            &resource.resource_name,
            changes,
            true,
            request.validate_only,
        )
        .await;
        responses.push(alter_configs_response::AlterConfigsResourceResponse {
            error_code,
            error_message,
            resource_type: resource.resource_type,
            resource_name: resource.resource_name,
        });
    }
    ResponseBody::AlterConfigs(AlterConfigsResponse {
        responses,
        ..AlterConfigsResponse::default()
    })
}

/// IncrementalAlterConfigs: each setting is set, deleted, appended to or subtracted from.
pub async fn incremental_alter_configs(
    broker: &Broker,
    _version: i16,
    request: IncrementalAlterConfigsRequest,
) -> ResponseBody {
    let mut responses = Vec::with_capacity(request.resources.len());
    for resource in request.resources {
        let changes = resource
            .configs
            .into_iter()
            .map(|c| Change {
                name: c.name,
                op: c.config_operation,
                value: c.value,
            })
            .collect();
        let (error_code, error_message) = alter(
            broker,
            resource.resource_type,
            &resource.resource_name,
            changes,
            false,
            request.validate_only,
        )
        .await;
        responses.push(
            incremental_alter_configs_response::AlterConfigsResourceResponse {
                error_code,
                error_message,
                resource_type: resource.resource_type,
                resource_name: resource.resource_name,
            },
        );
    }
    ResponseBody::IncrementalAlterConfigs(IncrementalAlterConfigsResponse {
        responses,
        ..IncrementalAlterConfigsResponse::default()
    })
}

#[cfg(test)]
mod tests;
