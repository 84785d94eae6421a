//! Settings Kafka knows that Odradek does not act on: looked up in Kafka
//! 4.4's own catalog (`kafka_catalog`, generated from its ConfigDefs) and
//! checked as Kafka checks them, so admin tools and migration scripts that
//! set them are answered as Kafka answers. They are stored and described;
//! the README lists them as having no effect.

use super::catalog::ConfigType;
use super::kafka_catalog::{
    Check, DefaultValue, KafkaConfigKey, KafkaTopicKey, Kind, Update, BROKER, TOPIC,
};

/// What DescribeConfigs says of a setting that is accepted but inert.
pub const INERT_DOC: &str =
    "A Kafka setting Odradek accepts, validates and stores; it has no effect here.";

/// Kafka's broker setting `name` (the catalog is sorted by name).
pub fn broker_key(name: &str) -> Option<&'static KafkaConfigKey> {
    BROKER
        .binary_search_by(|k| k.name.cmp(name))
        .ok()
        .map(|i| &BROKER[i])
}

/// Kafka's topic setting `name`.
pub fn topic_key(name: &str) -> Option<&'static KafkaTopicKey> {
    TOPIC
        .binary_search_by(|k| k.name.cmp(name))
        .ok()
        .map(|i| &TOPIC[i])
}

/// Whether AlterConfigs may change a broker setting at runtime, and where.
pub fn broker_update(name: &str) -> Option<Update> {
    broker_key(name).map(|k| k.update)
}

/// The type DescribeConfigs reports for a catalog kind.
pub fn config_type(kind: Kind) -> ConfigType {
    match kind {
        Kind::Boolean => ConfigType::Boolean,
        Kind::String => ConfigType::String,
        Kind::Int => ConfigType::Int,
        Kind::Short => ConfigType::Short,
        Kind::Long => ConfigType::Long,
        Kind::Double => ConfigType::Double,
        Kind::List => ConfigType::List,
        Kind::Class => ConfigType::Class,
        Kind::Password => ConfigType::Password,
    }
}

/// A catalog default as DescribeConfigs renders it (None for null or none).
pub fn default_value(default: DefaultValue) -> Option<String> {
    match default {
        DefaultValue::Value(v) => Some(v.to_string()),
        DefaultValue::Null | DefaultValue::Required => None,
    }
}

/// Checks `value` for the setting `name` of `kind` against `check`, with
/// messages shaped like Kafka's ConfigException ones.
pub fn validate(name: &str, kind: Kind, check: &Check, value: &str) -> Result<(), String> {
    let invalid = |why: String| format!("Invalid value {value} for configuration {name}: {why}");
    let trimmed = value.trim();
    let number: Option<f64> = match kind {
        Kind::Boolean => {
            if !trimmed.eq_ignore_ascii_case("true") && !trimmed.eq_ignore_ascii_case("false") {
                return Err(invalid("Expected value to be either true or false".into()));
            }
            None
        }
        Kind::Short => Some(integer::<i16>(trimmed).ok_or_else(|| invalid(not_a("SHORT")))?),
        Kind::Int => Some(integer::<i32>(trimmed).ok_or_else(|| invalid(not_a("INT")))?),
        Kind::Long => Some(integer::<i64>(trimmed).ok_or_else(|| invalid(not_a("LONG")))?),
        Kind::Double => Some(
            trimmed
                .parse::<f64>()
                .ok()
                .filter(|d| d.is_finite())
                .ok_or_else(|| invalid(not_a("DOUBLE")))?,
        ),
        Kind::String | Kind::List | Kind::Class | Kind::Password => None,
    };
    check_value(check, value, number).map_err(invalid)
}

fn not_a(kind: &str) -> String {
    format!("Not a number of type {kind}")
}

fn integer<T: std::str::FromStr + Into<i64>>(text: &str) -> Option<f64> {
    text.parse::<T>().ok().map(|v| v.into() as f64)
}

fn check_value(check: &Check, value: &str, number: Option<f64>) -> Result<(), String> {
    match check {
        Check::None | Check::Other(_) => Ok(()),
        Check::Range { min, max } => {
            let Some(n) = number else {
                return Ok(());
            };
            let bound = |b: &Option<&str>| b.and_then(|t| t.parse::<f64>().ok());
            // ConfigDef.Range's checks and words.
            if bound(min).is_some_and(|lo| n < lo) {
                return Err(format!(
                    "Value must be at least {}",
                    min.unwrap_or_default()
                ));
            }
            if bound(max).is_some_and(|hi| n > hi) {
                return Err(format!(
                    "Value must be no more than {}",
                    max.unwrap_or_default()
                ));
            }
            Ok(())
        }
        Check::OneOf(allowed) => {
            if allowed.contains(&value.trim()) {
                Ok(())
            } else {
                Err(format!("String must be one of: {}", allowed.join(", ")))
            }
        }
        Check::OneOfIgnoreCase(allowed) => {
            if allowed.iter().any(|a| a.eq_ignore_ascii_case(value.trim())) {
                Ok(())
            } else {
                Err(format!(
                    "String must be one of (case insensitive): {}",
                    allowed.join(", ")
                ))
            }
        }
        Check::List {
            allowed, empty_ok, ..
        } => {
            let items: Vec<&str> = value
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .collect();
            if items.is_empty() && !empty_ok {
                return Err("Configuration must not be empty".into());
            }
            for (i, item) in items.iter().enumerate() {
                if items[..i].contains(item) {
                    return Err(format!("Configuration contains duplicate values: {item}"));
                }
                if !allowed.is_empty() && !allowed.contains(item) {
                    return Err(format!(
                        "Invalid value {item}, must be one of: {}",
                        allowed.join(", ")
                    ));
                }
            }
            Ok(())
        }
        Check::MaxItems(max) => {
            if value.split(',').filter(|s| !s.trim().is_empty()).count() > *max as usize {
                Err(format!("exceeds maximum list size of [{max}]"))
            } else {
                Ok(())
            }
        }
        Check::NonEmpty | Check::NonEmptyNoControlChars | Check::NonNull => {
            if value.trim().is_empty() && !matches!(check, Check::NonNull) {
                Err("String must be non-empty".into())
            } else if matches!(check, Check::NonEmptyNoControlChars)
                && value.chars().any(char::is_control)
            {
                Err("String may not contain control sequences".into())
            } else {
                Ok(())
            }
        }
        Check::All(checks) => checks
            .iter()
            .try_for_each(|c| check_value(c, value, number)),
    }
}

/// Kafka's `compression.gzip.level` rule, which its catalog gives only as
/// prose: 1 to 9, or -1 for the codec's default.
fn gzip_level(name: &str, value: &str) -> Result<(), String> {
    match value.trim().parse::<i32>() {
        Ok(-1 | 1..=9) => Ok(()),
        _ => Err(format!(
            "Invalid value {value} for configuration {name}: Value must be in the range [1, 9] or -1"
        )),
    }
}

/// Kafka's rule for `*.replication.throttled.replicas`, which its catalog
/// gives only as prose: `*`, or `partition:broker` pairs of integers.
fn throttled_replicas(name: &str, value: &str) -> Result<(), String> {
    let items: Vec<&str> = value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    let pair = |item: &str| {
        item.split_once(':').is_some_and(|(p, b)| {
            p.trim().parse::<i32>().is_ok() && b.trim().parse::<i32>().is_ok()
        })
    };
    if value.trim() == "*" || items.iter().all(|i| pair(i)) {
        return Ok(());
    }
    Err(format!(
        "Invalid value {value} for configuration {name}: must be the literal '*' or a list of replicas \
         in the following format: [partitionId]:[brokerId],[partitionId]:[brokerId],..."
    ))
}

/// Validates a topic setting Odradek does not act on.
pub fn validate_topic(key: &KafkaTopicKey, value: &str) -> Result<(), String> {
    match key.name {
        "compression.gzip.level" => gzip_level(key.name, value),
        "leader.replication.throttled.replicas" | "follower.replication.throttled.replicas" => {
            throttled_replicas(key.name, value)
        }
        _ => validate(key.name, key.kind, &key.check, value),
    }
}

/// Validates a broker setting Odradek does not act on.
pub fn validate_broker(key: &KafkaConfigKey, value: &str) -> Result<(), String> {
    if key.name == "compression.gzip.level" {
        return gzip_level(key.name, value);
    }
    validate(key.name, key.kind, &key.check, value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalogs_are_sorted_for_lookup() {
        assert!(BROKER.windows(2).all(|w| w[0].name < w[1].name));
        assert!(TOPIC.windows(2).all(|w| w[0].name < w[1].name));
        assert!(broker_key("sasl.kerberos.min.time.before.relogin").is_some());
        assert!(topic_key("preallocate").is_some());
        assert!(broker_key("no.such.setting").is_none());
    }

    #[test]
    fn values_are_checked_as_kafka_checks_them() {
        let relogin = broker_key("sasl.kerberos.min.time.before.relogin").unwrap();
        assert!(validate_broker(relogin, "60000").is_ok());
        assert_eq!(
            validate_broker(relogin, "soon").unwrap_err(),
            "Invalid value soon for configuration sasl.kerberos.min.time.before.relogin: Not a number of type LONG"
        );
        let preallocate = topic_key("preallocate").unwrap();
        assert!(validate_topic(preallocate, "true").is_ok());
        assert!(validate_topic(preallocate, "yes").is_err());
        let gzip = topic_key("compression.gzip.level").unwrap();
        assert!(validate_topic(gzip, "9").is_ok());
        assert!(validate_topic(gzip, "-1").is_ok());
        assert!(validate_topic(gzip, "0").is_err());
        let ratio = topic_key("min.cleanable.dirty.ratio").unwrap();
        assert!(validate_topic(ratio, "0.5").is_ok());
        assert!(validate_topic(ratio, "1.5").is_err());
        let throttled = topic_key("leader.replication.throttled.replicas").unwrap();
        assert!(validate_topic(throttled, "*").is_ok());
        assert!(validate_topic(throttled, "0:1, 1:2").is_ok());
        assert!(validate_topic(throttled, "").is_ok());
        assert!(validate_topic(throttled, "0-1").is_err());
        let policy = topic_key("cleanup.policy").unwrap();
        assert!(validate_topic(policy, "compact,delete").is_ok());
        assert!(validate_topic(policy, "compact,compact").is_err());
        assert!(validate_topic(policy, "forever").is_err());
    }
}
