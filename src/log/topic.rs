//! Topic metadata (id, partition count, config overrides), persisted as one
//! properties file per topic under `<data>/meta/topics/`.

use super::properties::{self, Properties};
use crate::protocol::wire::Uuid;
use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

#[derive(Clone, Debug, PartialEq)]
pub struct TopicMeta {
    pub name: String,
    pub id: Uuid,
    pub partitions: i32,
    /// Topic-level config overrides, by Kafka name.
    pub configs: BTreeMap<String, String>,
    /// Whether the metadata quorum holds this topic (it was created from,
    /// or imported into, the metadata image). A registered topic missing
    /// from the image was deleted while this node was away; an unregistered
    /// one predates the quorum and is imported into it.
    pub registered: bool,
}

pub fn topics_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("meta").join("topics")
}

fn topic_file(data_dir: &Path, name: &str) -> PathBuf {
    topics_dir(data_dir).join(format!("{name}.properties"))
}

pub fn parse_uuid(text: &str) -> Option<Uuid> {
    if text.len() != 32 {
        return None;
    }
    let mut id = [0u8; 16];
    for (i, byte) in id.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(Uuid(id))
}

/// A random (v4) UUID from the OS.
pub fn random_uuid() -> io::Result<Uuid> {
    use std::io::Read;
    let mut id = [0u8; 16];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut id)?;
    id[6] = (id[6] & 0x0f) | 0x40;
    id[8] = (id[8] & 0x3f) | 0x80;
    Ok(Uuid(id))
}

impl TopicMeta {
    pub fn save(&self, data_dir: &Path) -> io::Result<()> {
        std::fs::create_dir_all(topics_dir(data_dir))?;
        let mut props = Properties::new();
        props.insert("topic.id".into(), self.id.to_string());
        props.insert("partitions".into(), self.partitions.to_string());
        for (k, v) in &self.configs {
            props.insert(format!("config.{k}"), v.clone());
        }
        if self.registered {
            props.insert("metadata.registered".into(), "true".into());
        }
        properties::write(&topic_file(data_dir, &self.name), &props)
    }

    pub fn remove(data_dir: &Path, name: &str) -> io::Result<()> {
        std::fs::remove_file(topic_file(data_dir, name))?;
        properties::sync_dir(&topics_dir(data_dir))
    }

    /// Loads every topic; a damaged file is reported, not guessed at.
    pub fn load_all(data_dir: &Path) -> io::Result<Vec<TopicMeta>> {
        let dir = topics_dir(data_dir);
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut topics = Vec::new();
        for entry in entries {
            let path = entry?.path();
            let Some(name) = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".properties"))
            else {
                continue;
            };
            let invalid = |what: &str| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{}: {what}", path.display()),
                )
            };
            let props = properties::read(&path)?.ok_or_else(|| invalid("vanished"))?;
            let id = props
                .get("topic.id")
                .and_then(|t| parse_uuid(t))
                .ok_or_else(|| invalid("bad topic.id"))?;
            let partitions = props
                .get("partitions")
                .and_then(|p| p.parse::<i32>().ok())
                .filter(|p| *p > 0)
                .ok_or_else(|| invalid("bad partitions"))?;
            let configs = props
                .iter()
                .filter_map(|(k, v)| {
                    k.strip_prefix("config.")
                        .map(|k| (k.to_string(), v.clone()))
                })
                .collect();
            let registered = props
                .get("metadata.registered")
                .is_some_and(|v| v == "true");
            topics.push(TopicMeta {
                name: name.to_string(),
                id,
                partitions,
                configs,
                registered,
            });
        }
        topics.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(topics)
    }
}

/// Kafka's topic name rule: 1 to 249 characters of `[a-zA-Z0-9._-]`, not `.` or `..`.
pub fn valid_topic_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 249
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_names_follow_kafka_rules() {
        assert!(valid_topic_name("orders.v1_x-2"));
        assert!(!valid_topic_name(""));
        assert!(!valid_topic_name(".."));
        assert!(!valid_topic_name("a/b"));
        assert!(!valid_topic_name(&"x".repeat(250)));
    }

    #[test]
    fn topic_metadata_round_trips() {
        let dir = std::env::temp_dir().join(format!("odradek-topic-{}", std::process::id()));
        let meta = TopicMeta {
            name: "t".into(),
            id: random_uuid().unwrap(),
            partitions: 3,
            configs: [("retention.ms".to_string(), "1000".to_string())].into(),
            registered: true,
        };
        meta.save(&dir).unwrap();
        assert_eq!(TopicMeta::load_all(&dir).unwrap(), vec![meta]);
        TopicMeta::remove(&dir, "t").unwrap();
        assert!(TopicMeta::load_all(&dir).unwrap().is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
