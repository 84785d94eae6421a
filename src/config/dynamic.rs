//! Broker settings changed at runtime through AlterConfigs (KIP-226's
//! dynamic broker configs), persisted in `<data>/meta/broker-configs.properties`.
//!
//! Two layers, as in Kafka: the cluster-wide default (resource name "") and
//! this broker's own (resource name = node id), which wins. Both beat the
//! static settings given at start-up, which beat the built-in defaults.

use super::log_config::{broker_to_topic_name, LogConfig};
use crate::log::properties::{self, Properties};
use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Layers {
    /// Resource name "": every broker of the cluster.
    pub cluster_default: BTreeMap<String, String>,
    /// Resource name = this node's id.
    pub this_broker: BTreeMap<String, String>,
}

impl Layers {
    /// The log defaults: `base` (static settings) overlaid by both layers.
    /// Errors name the setting.
    pub fn apply(&self, base: &LogConfig) -> Result<LogConfig, String> {
        let mut config = base.clone();
        for (name, value) in self.cluster_default.iter().chain(&self.this_broker) {
            let Some(topic_name) = broker_to_topic_name(name) else {
                // Kafka's dynamic settings that Odradek stores without acting on them.
                let key = super::kafka_keys::broker_key(name)
                    .filter(|k| k.update != super::kafka_catalog::Update::ReadOnly)
                    .ok_or_else(|| format!("'{name}' cannot be changed dynamically"))?;
                super::kafka_keys::validate_broker(key, value)?;
                continue;
            };
            config
                .apply(topic_name, value)
                .map_err(|e| format!("{name}: {e}"))?;
        }
        Ok(config)
    }

    pub fn layer_mut(&mut self, cluster_default: bool) -> &mut BTreeMap<String, String> {
        if cluster_default {
            &mut self.cluster_default
        } else {
            &mut self.this_broker
        }
    }
}

pub struct DynamicBrokerConfigs {
    path: PathBuf,
    layers: Mutex<Layers>,
}

const DEFAULT_PREFIX: &str = "default.";
const BROKER_PREFIX: &str = "broker.";

impl DynamicBrokerConfigs {
    pub fn load(data_dir: &Path) -> io::Result<DynamicBrokerConfigs> {
        let path = data_dir.join("meta").join("broker-configs.properties");
        let mut layers = Layers::default();
        for (key, value) in properties::read(&path)?.unwrap_or_default() {
            if let Some(name) = key.strip_prefix(DEFAULT_PREFIX) {
                layers.cluster_default.insert(name.to_string(), value);
            } else if let Some(name) = key.strip_prefix(BROKER_PREFIX) {
                layers.this_broker.insert(name.to_string(), value);
            } else {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{}: unexpected key '{key}'", path.display()),
                ));
            }
        }
        Ok(DynamicBrokerConfigs {
            path,
            layers: Mutex::new(layers),
        })
    }

    pub fn layers(&self) -> Layers {
        self.layers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Changes the layers: `change` edits a copy (or refuses), the result is
    /// written to disk, then `commit` sees it while concurrent updates wait,
    /// so what the broker applies follows the order of the writes.
    pub fn update<E>(
        &self,
        change: impl FnOnce(&mut Layers) -> Result<(), E>,
        commit: impl FnOnce(&Layers) -> Result<(), E>,
    ) -> io::Result<Result<(), E>> {
        let mut layers = self.layers.lock().unwrap_or_else(|p| p.into_inner());
        let mut next = layers.clone();
        if let Err(e) = change(&mut next) {
            return Ok(Err(e));
        }
        if next == *layers {
            return Ok(Ok(()));
        }
        let mut props = Properties::new();
        for (k, v) in &next.cluster_default {
            props.insert(format!("{DEFAULT_PREFIX}{k}"), v.clone());
        }
        for (k, v) in &next.this_broker {
            props.insert(format!("{BROKER_PREFIX}{k}"), v.clone());
        }
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        properties::write(&self.path, &props)?;
        *layers = next;
        Ok(commit(&layers))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_broker_layer_wins_and_both_persist() {
        let dir = std::env::temp_dir().join(format!("odradek-dynamic-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let configs = DynamicBrokerConfigs::load(&dir).unwrap();
        configs
            .update(
                |l| {
                    l.cluster_default
                        .insert("log.retention.ms".into(), "1000".into());
                    l.this_broker
                        .insert("log.retention.ms".into(), "2000".into());
                    l.cluster_default
                        .insert("message.max.bytes".into(), "5000".into());
                    Ok::<(), ()>(())
                },
                |_| Ok(()),
            )
            .unwrap()
            .unwrap();
        let reloaded = DynamicBrokerConfigs::load(&dir).unwrap();
        assert_eq!(reloaded.layers(), configs.layers());
        let config = reloaded.layers().apply(&LogConfig::default()).unwrap();
        assert_eq!(
            (config.retention_ms, config.max_message_bytes),
            (2000, 5000)
        );
        let mut bad = Layers::default();
        bad.this_broker
            .insert("log.retention.ms".into(), "soon".into());
        assert!(bad
            .apply(&LogConfig::default())
            .unwrap_err()
            .contains("log.retention.ms"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
