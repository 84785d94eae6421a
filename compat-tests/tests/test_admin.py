"""Admin APIs through real admin clients: the Java AdminClient (kafka-clients
3.9.1, java/CompatClient.java) and confluent-kafka's AdminClient.

Topic configs at creation, DescribeConfigs with synonyms and documentation,
IncrementalAlterConfigs and the legacy AlterConfigs, changes taking effect on
a live topic (max.message.bytes, cleanup.policy=compact, retention.ms), broker
log defaults changed at runtime, DeleteRecords moving the earliest offset,
DescribeLogDirs, and DeleteTopics removing the data."""
from __future__ import annotations

import time

import pytest
from confluent_kafka import KafkaException, Producer, TopicPartition
from confluent_kafka.admin import (AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, ConfigSource,
                                   NewTopic, OffsetSpec, ResourceType)

from clients.java import JavaClient

# Odradek only (this module starts its own brokers); the client family in the
# compatibility matrix (compat-tests/.build/compat-matrix.json).
MATRIX_CLIENT = "java+confluent"

JAVA = JavaClient()


@pytest.fixture(scope="module")
def java():
    JAVA.prepare()
    return JAVA


def run(java, *args):
    """The Java client's output lines, split on blanks."""
    return java.run(*args)


def configs(java, bootstrap, kind, name, *keys):
    """name -> (value, source, read_only, type, documented, [synonym name=value@source])."""
    out = {}
    for line in run(java, "describe-configs", bootstrap, kind, name, *keys):
        assert line[0] == "config", line
        out[line[1]] = (line[2], line[3], line[4] == "true", line[5], line[6] == "true", line[7:])
    return out


def produce_one(java, bootstrap, topic, size, keyless=False):
    line = run(java, "produce-one", bootstrap, topic, str(size), *(["KEYLESS"] if keyless else []))[0]
    return line


def poll(what, check, timeout=60.0):
    deadline = time.monotonic() + timeout
    while True:
        value = what()
        if check(value):
            return value
        assert time.monotonic() < deadline, f"timed out; last value {value!r}"
        time.sleep(0.2)


def test_java_describe_and_alter_topic_configs_take_effect_live(java, start_broker):
    broker = start_broker(["log.retention.hours=100"])
    b = broker.bootstrap
    assert run(java, "create-with-configs", b, "cfg", "1", "max.message.bytes=2000", "retention.ms=3600000") == [["created", "cfg"]]

    got = configs(java, b, "topic", "cfg")
    assert len(got) >= 20
    value, source, read_only, kind, documented, synonyms = got["retention.ms"]
    assert (value, source, read_only, kind, documented) == ("3600000", "DYNAMIC_TOPIC_CONFIG", False, "LONG", True)
    assert synonyms == ["retention.ms=3600000@DYNAMIC_TOPIC_CONFIG", "log.retention.hours=100@STATIC_BROKER_CONFIG",
                        "log.retention.hours=168@DEFAULT_CONFIG"]
    assert got["segment.bytes"][:4] == ("1073741824", "DEFAULT_CONFIG", False, "INT")
    assert got["cleanup.policy"][:4] == ("delete", "DEFAULT_CONFIG", False, "LIST")
    assert got["max.message.bytes"][:2] == ("2000", "DYNAMIC_TOPIC_CONFIG")

    # max.message.bytes=2000 refuses a 5000-byte record; raising it lets it in, without a restart.
    assert produce_one(java, b, "cfg", 1000)[0] == "ack"
    assert produce_one(java, b, "cfg", 5000)[:2] == ["error", "RecordTooLargeException"]
    assert run(java, "alter-incremental", b, "topic", "cfg", "SET:max.message.bytes=100000") == [["ok"]]
    assert produce_one(java, b, "cfg", 5000) == ["ack", "0", "1"]

    # Validation: the exact exceptions, messages naming the setting; nothing changes.
    bad = run(java, "alter-incremental", b, "topic", "cfg", "SET:max.message.bytes=lots")[0]
    assert bad[:2] == ["error", "InvalidConfigurationException"] and "max.message.bytes" in " ".join(bad)
    bad = run(java, "alter-incremental", b, "topic", "cfg", "SET:retention.milliseconds=5")[0]
    assert bad[:2] == ["error", "InvalidConfigurationException"] and "retention.milliseconds" in " ".join(bad)
    bad = run(java, "alter-incremental", b, "topic", "cfg", "SET:segment.bytes=4294967296")[0]
    assert bad[:2] == ["error", "InvalidConfigurationException"]
    bad = run(java, "alter-incremental", b, "topic", "cfg", "APPEND:retention.ms=5")[0]
    assert bad[:2] == ["error", "InvalidConfigurationException"]
    assert run(java, "alter-incremental", b, "topic", "nope", "SET:retention.ms=5")[0][:2] == \
        ["error", "UnknownTopicOrPartitionException"]
    assert configs(java, b, "topic", "cfg", "max.message.bytes")["max.message.bytes"][0] == "100000"

    # A list setting: APPEND compact, then keyless records are refused (KIP-467 INVALID_RECORD).
    assert run(java, "alter-incremental", b, "topic", "cfg", "APPEND:cleanup.policy=compact") == [["ok"]]
    assert configs(java, b, "topic", "cfg", "cleanup.policy")["cleanup.policy"][:2] == ("delete,compact", "DYNAMIC_TOPIC_CONFIG")
    assert produce_one(java, b, "cfg", 10, keyless=True)[:2] == ["error", "InvalidRecordException"]
    assert produce_one(java, b, "cfg", 10)[0] == "ack"

    # The legacy AlterConfigs replaces every override.
    assert run(java, "alter-legacy", b, "topic", "cfg", "retention.ms=7200000") == [["ok"]]
    got = configs(java, b, "topic", "cfg", "retention.ms", "max.message.bytes", "cleanup.policy")
    assert got["retention.ms"][:2] == ("7200000", "DYNAMIC_TOPIC_CONFIG")
    assert got["max.message.bytes"][:2] == ("1048588", "DEFAULT_CONFIG")
    assert got["cleanup.policy"][:2] == ("delete", "DEFAULT_CONFIG")
    assert produce_one(java, b, "cfg", 10, keyless=True)[0] == "ack"

    # Persisted: the same answers after a restart.
    assert broker.stop() == 0
    broker.start()
    got = configs(java, b, "topic", "cfg", "retention.ms", "max.message.bytes")
    assert got["retention.ms"][:2] == ("7200000", "DYNAMIC_TOPIC_CONFIG")
    assert got["max.message.bytes"][:2] == ("1048588", "DEFAULT_CONFIG")


def test_java_broker_configs_dynamic_and_read_only(java, start_broker):
    broker = start_broker(["num.partitions=2"])
    b = broker.bootstrap
    assert run(java, "create-with-configs", b, "plain", "1") == [["created", "plain"]]
    got = configs(java, b, "broker", "0", "num.partitions", "log.retention.ms", "message.max.bytes")
    assert got["num.partitions"][:3] == ("2", "STATIC_BROKER_CONFIG", True)
    assert got["message.max.bytes"][:3] == ("1048588", "DEFAULT_CONFIG", False)

    refused = run(java, "alter-incremental", b, "broker", "0", "SET:num.partitions=3")[0]
    assert refused[:2] == ["error", "InvalidRequestException"]
    assert "Cannot update these configs dynamically" in " ".join(refused)

    # A dynamic log default reaches every topic without an override, at once.
    assert run(java, "alter-incremental", b, "broker", "0", "SET:message.max.bytes=3000") == [["ok"]]
    got = configs(java, b, "broker", "0", "message.max.bytes")["message.max.bytes"]
    assert got[:2] == ("3000", "DYNAMIC_BROKER_CONFIG")
    assert got[5] == ["message.max.bytes=3000@DYNAMIC_BROKER_CONFIG", "message.max.bytes=1048588@DEFAULT_CONFIG"]
    topic = configs(java, b, "topic", "plain", "max.message.bytes")["max.message.bytes"]
    assert topic[:2] == ("3000", "DYNAMIC_BROKER_CONFIG")
    assert produce_one(java, b, "plain", 5000)[:2] == ["error", "RecordTooLargeException"]
    assert run(java, "alter-incremental", b, "broker", "0", "DELETE:message.max.bytes") == [["ok"]]
    assert produce_one(java, b, "plain", 5000)[0] == "ack"


def test_java_delete_records_log_dirs_and_delete_topic(java, start_broker):
    broker = start_broker()
    b = broker.bootstrap
    assert run(java, "create-with-configs", b, "dr", "2", "segment.bytes=1000") == [["created", "dr"]]
    producer = Producer({"bootstrap.servers": b, "acks": "all", "linger.ms": 0, "enable.idempotence": False})
    for i in range(30):
        producer.produce("dr", key=b"k", value=b"v" * 100, partition=0)
        producer.flush(30)  # one batch each: several segments
    assert producer.flush(30) == 0

    assert run(java, "earliest", b, "dr", "0") == [["earliest", "0"]]
    assert run(java, "delete-records", b, "dr", "0", "17") == [["low", "17"]]
    assert run(java, "earliest", b, "dr", "0") == [["earliest", "17"]]
    beyond = run(java, "delete-records", b, "dr", "0", "31")[0]
    assert beyond[:2] == ["error", "OffsetOutOfRangeException"]
    partition_dir = broker.data_dir / "dr-0"
    assert min(int(p.stem) for p in partition_dir.glob("*.log")) > 0, "whole segments below 17 were removed"

    dirs = run(java, "log-dirs", b)
    sizes = {(d[2], int(d[3])): int(d[4]) for d in dirs}
    assert {d[1] for d in dirs} == {str(broker.data_dir.resolve())}
    assert sizes[("dr", 1)] == 0 and sizes[("dr", 0)] == sum(p.stat().st_size for p in partition_dir.glob("*.log"))

    # The earliest offset survives a restart.
    assert broker.stop() == 0
    broker.start()
    assert run(java, "earliest", b, "dr", "0") == [["earliest", "17"]]

    assert run(java, "delete-topic", b, "dr") == [["deleted", "dr"]]
    poll(lambda: sorted(p.name for p in broker.data_dir.iterdir() if p.name.startswith("dr-")), lambda left: left == [])


def confluent_admin(bootstrap):
    return AdminClient({"bootstrap.servers": bootstrap})


def describe(admin, name):
    resource = ConfigResource(ResourceType.TOPIC, name)
    return admin.describe_configs([resource])[resource].result(30)


def test_confluent_configs_and_retention_live(start_broker):
    broker = start_broker(["log.retention.check.interval.ms=200"])
    admin = confluent_admin(broker.bootstrap)
    admin.create_topics([NewTopic("cc", 1, 1, config={"segment.bytes": "1000", "compression.type": "zstd"})])["cc"].result(30)

    got = describe(admin, "cc")
    assert got["segment.bytes"].value == "1000" and got["segment.bytes"].source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value
    assert got["retention.ms"].value == "604800000" and got["retention.ms"].source == ConfigSource.DEFAULT_CONFIG.value
    assert got["compression.type"].value == "zstd"

    # incremental: SET and DELETE; validate_only changes nothing.
    resource = ConfigResource(ResourceType.TOPIC, "cc", incremental_configs=[
        ConfigEntry("retention.ms", "86400000", incremental_operation=AlterConfigOpType.SET)])
    admin.incremental_alter_configs([resource], validate_only=True)[resource].result(30)
    assert describe(admin, "cc")["retention.ms"].value == "604800000"
    admin.incremental_alter_configs([resource])[resource].result(30)
    assert describe(admin, "cc")["retention.ms"].value == "86400000"
    bad = ConfigResource(ResourceType.TOPIC, "cc", incremental_configs=[
        ConfigEntry("retention.ms", "tomorrow", incremental_operation=AlterConfigOpType.SET)])
    with pytest.raises(KafkaException) as refused:
        admin.incremental_alter_configs([bad])[bad].result(30)
    assert refused.value.args[0].name() == "INVALID_CONFIG" and "retention.ms" in refused.value.args[0].str()

    # The topic codec: whatever the producer sends is stored as zstd.
    producer = Producer({"bootstrap.servers": broker.bootstrap, "acks": "all", "linger.ms": 0,
                         "compression.type": "gzip", "enable.idempotence": False})
    for _ in range(20):
        producer.produce("cc", key=b"k", value=b"x" * 200, partition=0)
        producer.flush(30)
    from harness import wire
    from harness.data import CODEC_IDS
    batches = wire.fetch_batches(broker.port, "cc", 0)  # one fetch: the first segment's batches
    assert len(batches) >= 2 and [b[0] for b in batches] == list(range(len(batches)))
    assert {codec for _, _, codec in batches} == {CODEC_IDS["zstd"]}, batches

    # Legacy alter: retention.ms=1 and the sealed segments go within a retention check.
    legacy = ConfigResource(ResourceType.TOPIC, "cc", set_config={"retention.ms": "1", "segment.bytes": "1000"})
    admin.alter_configs([legacy])[legacy].result(30)
    tp = TopicPartition("cc", 0)
    earliest = lambda: admin.list_offsets({tp: OffsetSpec.earliest()})[tp].result(30).offset  # noqa: E731
    assert poll(earliest, lambda o: o > 0) > 0

    # DeleteRecords: everything (-1 = the high watermark).
    deleted = admin.delete_records([TopicPartition("cc", 0, -1)])
    low = list(deleted.values())[0].result(30).low_watermark
    assert low == 20
    assert earliest() == 20

    with pytest.raises(KafkaException) as missing:
        describe(admin, "no-such-topic")
    assert missing.value.args[0].name() == "UNKNOWN_TOPIC_OR_PART"
