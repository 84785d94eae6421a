use super::*;
use crate::protocol::messages::alter_configs_request as legacy;
use crate::protocol::messages::describe_configs_request::DescribeConfigsResource;
use crate::protocol::messages::incremental_alter_configs_request as inc;

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
        .block_on(future)
}

fn describe(
    broker: &Broker,
    kind: i8,
    name: &str,
    keys: Option<Vec<&str>>,
) -> DescribeConfigsResult {
    let request = DescribeConfigsRequest {
        resources: vec![DescribeConfigsResource {
            resource_type: kind,
            resource_name: name.into(),
            configuration_keys: keys.map(|k| k.into_iter().map(String::from).collect()),
        }],
        include_synonyms: true,
        include_documentation: true,
    };
    let ResponseBody::DescribeConfigs(mut response) = describe_configs(broker, 4, request) else {
        panic!()
    };
    response.results.remove(0)
}

fn entry<'a>(result: &'a DescribeConfigsResult, name: &str) -> &'a DescribeConfigsResourceResult {
    result
        .configs
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("{name} missing"))
}

fn incremental(
    broker: &Broker,
    kind: i8,
    name: &str,
    ops: &[(&str, i8, Option<&str>)],
    validate_only: bool,
) -> (i16, Option<String>) {
    let request = IncrementalAlterConfigsRequest {
        resources: vec![inc::AlterConfigsResource {
            resource_type: kind,
            resource_name: name.into(),
            configs: ops
                .iter()
                .map(|(n, op, v)| inc::AlterableConfig {
                    name: n.to_string(),
                    config_operation: *op,
                    value: v.map(String::from),
                })
                .collect(),
        }],
        validate_only,
    };
    let ResponseBody::IncrementalAlterConfigs(mut response) =
        block_on(incremental_alter_configs(broker, 1, request))
    else {
        panic!()
    };
    let r = response.responses.remove(0);
    (r.error_code, r.error_message)
}

fn legacy_alter(
    broker: &Broker,
    kind: i8,
    name: &str,
    configs: &[(&str, Option<&str>)],
) -> (i16, Option<String>) {
    let request = AlterConfigsRequest {
        resources: vec![legacy::AlterConfigsResource {
            resource_type: kind,
            resource_name: name.into(),
            configs: configs
                .iter()
                .map(|(n, v)| legacy::AlterableConfig {
                    name: n.to_string(),
                    value: v.map(String::from),
                })
                .collect(),
        }],
        validate_only: false,
    };
    let ResponseBody::AlterConfigs(mut response) = block_on(alter_configs(broker, 2, request))
    else {
        panic!()
    };
    let r = response.responses.remove(0);
    (r.error_code, r.error_message)
}

fn topic_broker(configs: &[(&str, &str)]) -> Broker {
    let mut config = Broker::test_config();
    config.set("log.retention.hours=2").unwrap();
    let broker = Broker::open(config).unwrap();
    let configs = configs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    broker.log.create_topic("t", 2, configs).unwrap();
    broker
}

#[test]
fn topic_configs_report_value_source_and_synonyms() {
    let broker = topic_broker(&[("max.message.bytes", "5000")]);
    let result = describe(&broker, TOPIC, "t", None);
    assert_eq!(result.error_code, 0);
    // Kafka 4.4's 37 documented topic settings, and Odradek's own
    // message.timestamp.difference.max.ms, which Kafka 4 removed.
    assert_eq!(result.configs.len(), 38);
    let names: Vec<&str> = result.configs.iter().map(|c| c.name.as_str()).collect();
    assert!(names.windows(2).all(|w| w[0] < w[1]), "sorted by name");
    let max = entry(&result, "max.message.bytes");
    assert_eq!(
        (max.value.as_deref(), max.config_source),
        (Some("5000"), ConfigSource::DynamicTopic as i8)
    );
    assert_eq!(max.synonyms[0].name, "max.message.bytes");
    assert_eq!(
        max.synonyms
            .last()
            .map(|s| (s.name.as_str(), s.value.as_deref())),
        Some(("message.max.bytes", Some("1048588")))
    );
    assert_eq!(max.config_type, ConfigType::Int as i8);
    assert!(max.documentation.as_deref().is_some_and(|d| !d.is_empty()));
    // Set statically in hours: the value is in ms, the source static.
    let retention = entry(&result, "retention.ms");
    assert_eq!(
        (retention.value.as_deref(), retention.config_source),
        (Some("7200000"), ConfigSource::StaticBroker as i8)
    );
    let names: Vec<_> = retention
        .synonyms
        .iter()
        .map(|s| (s.name.as_str(), s.source))
        .collect();
    assert_eq!(
        names,
        [("log.retention.hours", 4), ("log.retention.hours", 5)]
    );
    let segment = entry(&result, "segment.bytes");
    assert!(!segment.is_default && segment.config_source == ConfigSource::Default as i8);
    // Only the keys asked for; unknown topics get error 3.
    assert_eq!(
        describe(&broker, TOPIC, "t", Some(vec!["cleanup.policy"]))
            .configs
            .len(),
        1
    );
    assert_eq!(
        describe(&broker, TOPIC, "nope", None).error_code,
        ErrorCode::UnknownTopicOrPartition.code()
    );
    assert_eq!(
        describe(&broker, 99, "x", None).error_code,
        ErrorCode::InvalidRequest.code()
    );
}

#[test]
fn incremental_alter_validates_and_applies_live() {
    let broker = topic_broker(&[]);
    let partition = broker.log.partition("t", 1).unwrap();
    assert_eq!(
        incremental(
            &broker,
            TOPIC,
            "t",
            &[("retention.ms", SET, Some("1234"))],
            false
        ),
        (0, None)
    );
    assert_eq!(partition.config().retention_ms, 1234);
    // validate_only changes nothing.
    assert_eq!(
        incremental(
            &broker,
            TOPIC,
            "t",
            &[("retention.ms", SET, Some("99"))],
            true
        )
        .0,
        0
    );
    assert_eq!(partition.config().retention_ms, 1234);
    // Errors name the field, and leave everything as it was.
    let (code, message) = incremental(
        &broker,
        TOPIC,
        "t",
        &[("retention.ms", SET, Some("soon"))],
        false,
    );
    assert_eq!(code, ErrorCode::InvalidConfig.code());
    assert!(message.unwrap().contains("retention.ms"));
    let (code, message) = incremental(
        &broker,
        TOPIC,
        "t",
        &[("retention.msec", SET, Some("1"))],
        false,
    );
    assert_eq!(code, ErrorCode::InvalidConfig.code());
    assert!(message.unwrap().contains("retention.msec"));
    assert_eq!(
        incremental(
            &broker,
            TOPIC,
            "t",
            &[("segment.bytes", SET, Some("4294967296"))],
            false
        )
        .0,
        ErrorCode::InvalidConfig.code()
    );
    assert_eq!(
        incremental(&broker, TOPIC, "t", &[("retention.ms", SET, None)], false).0,
        ErrorCode::InvalidRequest.code()
    );
    assert_eq!(
        incremental(
            &broker,
            TOPIC,
            "missing",
            &[("retention.ms", SET, Some("1"))],
            false
        )
        .0,
        ErrorCode::UnknownTopicOrPartition.code()
    );
    let dup = [
        ("retention.ms", SET, Some("1")),
        ("retention.ms", DELETE, None),
    ];
    assert_eq!(
        incremental(&broker, TOPIC, "t", &dup, false).0,
        ErrorCode::InvalidRequest.code()
    );
    assert_eq!(
        incremental(
            &broker,
            TOPIC,
            "t",
            &[("retention.ms", APPEND, Some("1"))],
            false
        )
        .0,
        ErrorCode::InvalidConfig.code()
    );
    assert_eq!(
        incremental(
            &broker,
            TOPIC,
            "t",
            &[("retention.ms", 9, Some("1"))],
            false
        )
        .0,
        ErrorCode::InvalidRequest.code()
    );
    assert_eq!(partition.config().retention_ms, 1234);
    // Lists: append to the current value, subtract from it.
    assert_eq!(
        incremental(
            &broker,
            TOPIC,
            "t",
            &[("cleanup.policy", APPEND, Some("compact"))],
            false
        )
        .0,
        0
    );
    assert_eq!(partition.config().cleanup_policy, "delete,compact");
    assert_eq!(
        incremental(
            &broker,
            TOPIC,
            "t",
            &[("cleanup.policy", SUBTRACT, Some("delete"))],
            false
        )
        .0,
        0
    );
    assert_eq!(partition.config().cleanup_policy, "compact");
    // DELETE returns to the broker default.
    assert_eq!(
        incremental(
            &broker,
            TOPIC,
            "t",
            &[("retention.ms", DELETE, None)],
            false
        )
        .0,
        0
    );
    assert_eq!(partition.config().retention_ms, 7_200_000);
    // Persisted: a restart sees the override.
    let config = broker.config.clone();
    broker.close().unwrap();
    drop(broker);
    let reopened = Broker::open(config).unwrap();
    assert_eq!(
        reopened
            .log
            .partition("t", 0)
            .unwrap()
            .config()
            .cleanup_policy,
        "compact"
    );
}

#[test]
fn legacy_alter_replaces_every_override() {
    let broker = topic_broker(&[("retention.ms", "1000"), ("segment.ms", "5000")]);
    assert_eq!(
        legacy_alter(&broker, TOPIC, "t", &[("max.message.bytes", Some("2000"))]),
        (0, None)
    );
    let meta = broker.log.topic("t").unwrap().meta.clone();
    assert_eq!(
        meta.configs,
        [("max.message.bytes".to_string(), "2000".to_string())].into()
    );
    let config = broker.log.partition("t", 0).unwrap().config();
    assert_eq!(
        (config.max_message_bytes, config.retention_ms),
        (2000, 7_200_000)
    );
    assert_eq!(
        legacy_alter(&broker, TOPIC, "t", &[("max.message.bytes", None)]).0,
        ErrorCode::InvalidRequest.code()
    );
}

#[test]
fn broker_log_defaults_change_at_runtime_and_others_are_read_only() {
    let broker = topic_broker(&[("retention.ms", "1000")]);
    broker
        .log
        .create_topic("plain", 1, BTreeMap::new())
        .unwrap();
    let plain = broker.log.partition("plain", 0).unwrap();
    assert_eq!(
        incremental(
            &broker,
            BROKER,
            "",
            &[("log.retention.ms", SET, Some("60000"))],
            false
        ),
        (0, None)
    );
    assert_eq!(plain.config().retention_ms, 60_000);
    // The topic override still wins.
    assert_eq!(
        broker.log.partition("t", 0).unwrap().config().retention_ms,
        1000
    );
    assert_eq!(
        incremental(
            &broker,
            BROKER,
            "0",
            &[("log.retention.ms", SET, Some("70000"))],
            false
        )
        .0,
        0
    );
    assert_eq!(plain.config().retention_ms, 70_000);
    let result = describe(
        &broker,
        BROKER,
        "0",
        Some(vec!["log.retention.ms", "num.partitions"]),
    );
    let retention = entry(&result, "log.retention.ms");
    assert_eq!(
        (
            retention.value.as_deref(),
            retention.config_source,
            retention.read_only
        ),
        (Some("70000"), 2, false)
    );
    assert_eq!(
        retention
            .synonyms
            .iter()
            .map(|s| s.source)
            .collect::<Vec<_>>(),
        [2, 3]
    );
    assert!(entry(&result, "num.partitions").read_only);
    let topic = describe(&broker, TOPIC, "plain", Some(vec!["retention.ms"]));
    assert_eq!(
        entry(&topic, "retention.ms").config_source,
        ConfigSource::DynamicBroker as i8
    );
    // The default resource lists only what was set on it.
    let defaults = describe(&broker, BROKER, "", None);
    assert_eq!(
        defaults
            .configs
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>(),
        ["log.retention.ms"]
    );
    let (code, message) = incremental(
        &broker,
        BROKER,
        "0",
        &[("num.partitions", SET, Some("3"))],
        false,
    );
    assert_eq!(code, ErrorCode::InvalidRequest.code());
    assert!(message
        .unwrap()
        .contains("Cannot update these configs dynamically: Set(num.partitions)"));
    assert_eq!(
        incremental(
            &broker,
            BROKER,
            "0",
            &[("log.retention.ms", SET, Some("x"))],
            false
        )
        .0,
        ErrorCode::InvalidConfig.code()
    );
    assert_eq!(
        incremental(
            &broker,
            BROKER,
            "0",
            &[("no.such.thing", SET, Some("1"))],
            false
        )
        .0,
        ErrorCode::InvalidConfig.code()
    );
    assert_eq!(
        incremental(
            &broker,
            BROKER,
            "7",
            &[("log.retention.ms", SET, Some("1"))],
            false
        )
        .0,
        ErrorCode::InvalidRequest.code()
    );
    assert_eq!(
        describe(&broker, BROKER, "7", None).error_code,
        ErrorCode::InvalidRequest.code()
    );
    // Persisted across a restart.
    let config = broker.config.clone();
    broker.close().unwrap();
    drop(broker);
    let reopened = Broker::open(config).unwrap();
    assert_eq!(
        reopened
            .log
            .partition("plain", 0)
            .unwrap()
            .config()
            .retention_ms,
        70_000
    );
    // Deleting both layers returns to the static value.
    assert_eq!(
        incremental(
            &reopened,
            BROKER,
            "0",
            &[("log.retention.ms", DELETE, None)],
            false
        )
        .0,
        0
    );
    assert_eq!(
        incremental(
            &reopened,
            BROKER,
            "",
            &[("log.retention.ms", DELETE, None)],
            false
        )
        .0,
        0
    );
    assert_eq!(
        reopened
            .log
            .partition("plain", 0)
            .unwrap()
            .config()
            .retention_ms,
        7_200_000
    );
}

#[test]
fn described_configs_encode_at_every_version() {
    use crate::protocol::wire::Encode;
    let broker = topic_broker(&[("retention.ms", "1000")]);
    for version in 0..=4 {
        for (kind, name) in [
            (TOPIC, "t"),
            (BROKER, "0"),
            (BROKER, ""),
            (TOPIC, "missing"),
        ] {
            let request = DescribeConfigsRequest {
                resources: vec![DescribeConfigsResource {
                    resource_type: kind,
                    resource_name: name.into(),
                    configuration_keys: None,
                }],
                include_synonyms: version >= 1,
                include_documentation: version >= 3,
            };
            let ResponseBody::DescribeConfigs(response) =
                describe_configs(&broker, version, request)
            else {
                panic!()
            };
            let mut buf = bytes::BytesMut::new();
            response
                .encode(&mut buf, version)
                .unwrap_or_else(|e| panic!("v{version} {kind}/{name}: {e}"));
            if version == 0 && kind == TOPIC && name == "t" {
                let default = response.results[0]
                    .configs
                    .iter()
                    .find(|c| c.name == "segment.bytes")
                    .unwrap();
                assert!(default.is_default, "v0 says defaults with is_default");
            }
        }
    }
}

/// Settings Kafka knows that Odradek does not act on are validated as Kafka
/// validates them, stored, and described (they used to be INVALID_CONFIG).
#[test]
fn kafka_settings_odradek_does_not_use_are_checked_stored_and_described() {
    let broker = topic_broker(&[("preallocate", "true")]);
    let relogin = "sasl.kerberos.min.time.before.relogin";

    // A per-broker dynamic setting, on this broker: accepted and described.
    assert_eq!(
        incremental(
            &broker,
            BROKER,
            "0",
            &[(relogin, SET, Some("30000"))],
            false
        ),
        (0, None)
    );
    let result = describe(&broker, BROKER, "0", Some(vec![relogin]));
    let e = entry(&result, relogin);
    assert_eq!(e.value.as_deref(), Some("30000"));
    assert_eq!(e.config_source, ConfigSource::DynamicBroker as i8);
    assert_eq!(e.config_type, ConfigType::Long as i8);
    assert_eq!(e.documentation.as_deref(), Some(kafka_keys::INERT_DOC));
    // The legacy AlterConfigs too (it replaces the layer).
    assert_eq!(
        legacy_alter(&broker, BROKER, "0", &[(relogin, Some("40000"))]),
        (0, None)
    );
    let result = describe(&broker, BROKER, "0", Some(vec![relogin]));
    assert_eq!(entry(&result, relogin).value.as_deref(), Some("40000"));

    // Kafka's validation and messages; nothing changes.
    let (code, message) = incremental(&broker, BROKER, "0", &[(relogin, SET, Some("soon"))], false);
    assert_eq!(code, ErrorCode::InvalidConfig.code());
    assert_eq!(
        message.as_deref(),
        Some("Invalid value soon for configuration sasl.kerberos.min.time.before.relogin: Not a number of type LONG")
    );
    // Per-broker settings cannot be set cluster-wide; read-only ones not at all.
    let (code, message) = incremental(&broker, BROKER, "", &[(relogin, SET, Some("1"))], false);
    assert_eq!(code, ErrorCode::InvalidRequest.code());
    assert!(message.unwrap().contains("broker id must be specified"));
    let (code, _) = incremental(
        &broker,
        BROKER,
        "0",
        &[("num.network.threads", SET, Some("4"))],
        false,
    );
    assert_eq!(
        code, 0,
        "num.network.threads is cluster-wide dynamic in Kafka"
    );
    let (code, message) = incremental(
        &broker,
        BROKER,
        "0",
        &[("process.roles", SET, Some("broker"))],
        false,
    );
    assert_eq!(code, ErrorCode::InvalidRequest.code());
    assert!(message
        .unwrap()
        .starts_with("Cannot update these configs dynamically"));

    // Passwords it has no use for are refused, not stored.
    let (code, message) = incremental(
        &broker,
        BROKER,
        "0",
        &[("ssl.key.password", SET, Some("s3cret"))],
        false,
    );
    assert_eq!(code, ErrorCode::InvalidConfig.code());
    assert!(message.unwrap().contains("does not store secrets"));

    // A topic setting: created with the topic, altered, described with Kafka's default.
    let result = describe(&broker, TOPIC, "t", None);
    let e = entry(&result, "preallocate");
    assert_eq!(
        (e.value.as_deref(), e.config_source),
        (Some("true"), ConfigSource::DynamicTopic as i8)
    );
    let e = entry(&result, "file.delete.delay.ms");
    assert_eq!(
        (e.value.as_deref(), e.config_source),
        (Some("60000"), ConfigSource::Default as i8)
    );
    assert_eq!(
        incremental(
            &broker,
            TOPIC,
            "t",
            &[("compression.gzip.level", SET, Some("5"))],
            false
        ),
        (0, None)
    );
    let (code, message) = incremental(
        &broker,
        TOPIC,
        "t",
        &[("compression.gzip.level", SET, Some("12"))],
        false,
    );
    assert_eq!(code, ErrorCode::InvalidConfig.code());
    assert!(message.unwrap().contains("compression.gzip.level"));
    assert!(result
        .configs
        .iter()
        .all(|c| !c.name.starts_with("internal.")));
}
