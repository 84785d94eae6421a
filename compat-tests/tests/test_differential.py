"""Differential scenarios where Odradek is most likely to differ from Apache
Kafka: error paths, empty and compacted topics, read_committed across an
aborted transaction, timestamp lookups, DeleteRecords, config validation.

Each runs on Apache Kafka 4.4 first and then on Odradek (module-scoped
`broker`), records what the client saw (error codes and names, offsets,
records, messages) and `observe.check`s it: Odradek must answer as Kafka
did, unless divergences.toml allows a key with a reason. Clients:
confluent-kafka (librdkafka) and raw frames (harness/wire.py)."""
from __future__ import annotations

import time
import uuid

import pytest
from confluent_kafka import (OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Producer,
                             TopicCollection, TopicPartition)
from confluent_kafka.admin import (AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, NewTopic,
                                   OffsetSpec, ResourceType)

from clients.java import JavaClient
from harness import wire

MATRIX_CLIENT = "confluent"

UNKNOWN_TOPIC_OR_PARTITION = 3


def admin(broker) -> AdminClient:
    return AdminClient({"bootstrap.servers": broker.bootstrap})


def create(broker, topic, partitions=1, **config) -> None:
    a = admin(broker)
    a.create_topics([NewTopic(topic, partitions, 1, config={k.replace("_", "."): str(v) for k, v in config.items()})],
                    operation_timeout=10)[topic].result(15)
    # Until the topic's leader is known to a fresh client (Kafka creates asynchronously).
    deadline = time.monotonic() + 15
    while True:
        t = a.list_topics(topic, timeout=10).topics[topic]
        if t.error is None and len(t.partitions) == partitions and all(p.leader >= 0 for p in t.partitions.values()):
            return
        assert time.monotonic() < deadline, t.error
        time.sleep(0.1)


def producer(broker, **conf) -> Producer:
    return Producer({"bootstrap.servers": broker.bootstrap, "acks": "all", "linger.ms": 5, **conf})


def produce(p: Producer, topic, records, partition=0) -> list:
    """records: [(key, value)] or [(key, value, timestamp)]; -> [(partition, offset) | error name]
    per record, then "fatal: NAME" if the producer failed fatally while flushing."""
    out = [None] * len(records)

    def cb(i):
        def done(err, msg):
            out[i] = err if err else (msg.partition(), msg.offset())
        return done

    for i, r in enumerate(records):
        kw = {"timestamp": r[2]} if len(r) > 2 else {}
        try:
            p.produce(topic, key=r[0], value=r[1], partition=partition, on_delivery=cb(i), **kw)
        except KafkaException as e:  # refused at once (known partition count, fatal state): same as a report
            out[i] = e.args[0]
    try:
        assert p.flush(30) == 0
    except KafkaException as e:
        out.append(f"fatal: {e.args[0].name()}")
    return [o.name() if isinstance(o, KafkaError) else o for o in out]


def consume_all(broker, topic, partitions=(0,), isolation="read_uncommitted", idle=2.0):
    """[(partition, offset, key, value, (timestamp type, timestamp))] read from the beginning until idle."""
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": f"unused-{uuid.uuid4()}",
                  "enable.auto.commit": False, "isolation.level": isolation, "enable.partition.eof": False})
    try:
        c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        out, last = [], time.monotonic()
        while time.monotonic() - last < idle:
            for m in c.consume(100, timeout=0.3):
                assert m.error() is None, m.error()
                out.append((m.partition(), m.offset(), m.key(), m.value(), m.timestamp()))
                last = time.monotonic()
        return out
    finally:
        c.close()


def kafka_error(f) -> dict:
    """What a failed admin future says: error name, code, message."""
    try:
        f.result(15)
    except KafkaException as e:
        err = e.args[0]
        return {"name": err.name(), "code": err.code(), "message": err.str()}
    return {"name": "NO_ERROR"}


def now_ms() -> int:
    return int(time.time() * 1000)


# --- error paths -------------------------------------------------------------

def test_unknown_topic_and_partition_raw(broker, observe):
    """Produce and Fetch to a topic that does not exist (neither request
    auto-creates) and to a partition beyond an existing topic's count."""
    create(broker, "diff-known", 1)
    batch = wire.record_batch(0, wire.simple_records([b"v"]), 1, timestamp_ms=now_ms())
    unknown_produce = wire.produce_v8_result(broker.port, "diff-no-such-topic", 0, batch)
    beyond_produce = wire.produce_v8_result(broker.port, "diff-known", 7, batch)
    unknown_fetch = wire.fetch_partition(broker.port, "diff-no-such-topic", 0)
    beyond_fetch = wire.fetch_partition(broker.port, "diff-known", 7)
    assert unknown_produce["error"] == beyond_produce["error"] == UNKNOWN_TOPIC_OR_PARTITION
    observe.check({
        "produce_unknown_topic": {k: unknown_produce[k] for k in ("error", "base_offset", "record_errors")},
        "produce_beyond_partitions": {k: beyond_produce[k] for k in ("error", "base_offset", "record_errors")},
        "fetch_unknown_topic": {k: unknown_fetch[k] for k in ("partition_error", "high_watermark", "batches")},
        "fetch_beyond_partitions": {k: beyond_fetch[k] for k in ("partition_error", "high_watermark", "batches")},
    })


def test_leader_epoch_from_the_future_raw(broker, observe):
    """A Fetch naming a leader epoch newer than the leader's (the client saw
    metadata this broker has not): UNKNOWN_LEADER_EPOCH (75), no records;
    with the current epoch, the records."""
    create(broker, "diff-epoch", 1)
    batch = wire.record_batch(0, wire.simple_records([b"v"]), 1, timestamp_ms=now_ms())
    assert wire.produce_v8_result(broker.port, "diff-epoch", 0, batch)["error"] == 0
    future = wire.fetch_partition(broker.port, "diff-epoch", 0, leader_epoch=7)
    current = wire.fetch_partition(broker.port, "diff-epoch", 0, leader_epoch=0)
    assert future["partition_error"] == 75, future
    observe.check({
        "future": {k: future[k] for k in ("partition_error", "high_watermark", "batches")},
        "current": {k: current[k] for k in ("partition_error", "high_watermark", "batches")},
    })


def test_produce_to_unknown_partition_confluent(broker, observe):
    """librdkafka producing to partition 5 of a 1-partition topic."""
    create(broker, "diff-one-partition", 1)
    got = produce(producer(broker, **{"message.timeout.ms": 5000}), "diff-one-partition", [(b"k", b"v")], partition=5)
    observe.check({"delivery": got})


def test_record_too_large(broker, observe):
    """max.message.bytes=2000 on the topic: a 5000-byte value is refused
    (librdkafka and a raw Produce), a 1000-byte one is not."""
    create(broker, "diff-small-max", 1, max_message_bytes=2000)
    p = producer(broker, **{"enable.idempotence": False, "retries": 0})
    got = produce(p, "diff-small-max", [(b"k", b"x" * 1000)])
    got += produce(p, "diff-small-max", [(b"k", b"x" * 5000)])
    raw = wire.produce_v8_result(broker.port, "diff-small-max", 0,
                                 wire.record_batch(0, wire.simple_records([b"y" * 5000]), 1, timestamp_ms=now_ms()))
    observe.check({"confluent": got,
                   "raw": {k: raw[k] for k in ("error", "base_offset", "record_errors", "error_message")}})


def test_bad_crc_raw(broker, observe):
    """A batch whose CRC-32C does not match: refused, nothing appended."""
    create(broker, "diff-crc", 1)
    batch = bytearray(wire.record_batch(0, wire.simple_records([b"a", b"b"]), 2, timestamp_ms=now_ms()))
    batch[17] ^= 0xFF  # inside the CRC field (offset 17..20)
    bad = wire.produce_v8_result(broker.port, "diff-crc", 0, bytes(batch))
    good = wire.produce_v8_result(broker.port, "diff-crc", 0,
                                  wire.record_batch(0, wire.simple_records([b"c"]), 1, timestamp_ms=now_ms()))
    after = wire.fetch_partition(broker.port, "diff-crc", 0)
    observe.check({"bad": {k: bad[k] for k in ("error", "base_offset", "record_errors")},
                   "good": {k: good[k] for k in ("error", "base_offset")},
                   "log": {k: after[k] for k in ("high_watermark", "batches")}})


@pytest.mark.parametrize("then", ["same_partition", "new_partition"])
def test_fenced_transactional_producer(then, broker, observe):
    """Producer A begins a transaction and produces to partition 0; B with
    the same transactional.id initialises (fencing A); A produces again, to
    partition 0 of its transaction or to partition 1 outside it, and
    commits: A must learn that it is fenced (a fatal error). B's transaction
    commits; read_committed sees only B's record."""
    topic = f"diff-fenced-{then.replace('_', '-')}"
    create(broker, topic, 2)
    conf = {"transactional.id": f"diff-fenced-txn-{then}", "transaction.timeout.ms": 60000}
    a = producer(broker, **conf)
    a.init_transactions(15)
    a.begin_transaction()
    first = produce(a, topic, [(b"a", b"a1")], partition=0)
    b = producer(broker, **conf)
    b.init_transactions(15)
    # A again, to the partition already in its transaction and to a new one.
    later = produce(a, topic, [(b"a", b"a2")], partition=0 if then == "same_partition" else 1)
    try:
        a.commit_transaction(15)
        commit = {"name": "NO_ERROR"}
    except KafkaException as e:
        err = e.args[0]
        commit = {"name": err.name(), "fatal": err.fatal(), "abortable": err.txn_requires_abort(),
                  "retriable": err.retriable()}
    b.begin_transaction()
    produce(b, topic, [(b"b", b"b1")], partition=0)
    b.commit_transaction(15)
    committed = consume_all(broker, topic, (0, 1), isolation="read_committed")
    observe.check({"a_first": first, "a_after_fencing": later, "a_commit": commit,
                   "read_committed": [(p, k, v) for p, _o, k, v, _t in committed]})


def test_commit_with_wrong_generation_raw(broker, observe):
    """A member of a live group (librdkafka's consumer) is in generation g:
    an OffsetCommit with generation g+100, or from an unknown member id, is
    refused; the consumer's own commit is accepted."""
    topic, group = "diff-generation", "diff-generation-group"
    create(broker, topic, 1)
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group, "enable.auto.commit": False,
                  "session.timeout.ms": 10000, "heartbeat.interval.ms": 1000})
    try:
        c.subscribe([topic])
        deadline = time.monotonic() + 30
        while not c.assignment():
            c.poll(0.2)
            assert time.monotonic() < deadline, "no assignment"
        member = c.memberid()
        own = c.commit(offsets=[TopicPartition(topic, 0, 0)], asynchronous=False)
        wrong_generation = wire.offset_commit_v2(broker.port, group, 100, member, topic, 0, 0)
        unknown_member = wire.offset_commit_v2(broker.port, group, 1, "no-such-member", topic, 0, 0)
        committed = c.committed([TopicPartition(topic, 0)], timeout=10)
    finally:
        c.close()
    observe.check({"own_commit": [(tp.partition, tp.offset, tp.error) for tp in own],
                   "wrong_generation_error": wrong_generation, "unknown_member_error": unknown_member,
                   "committed": [(tp.partition, tp.offset) for tp in committed]})


# --- empty and compacted topics ---------------------------------------------

def test_empty_topic(broker, observe):
    """Watermarks, ListOffsets earliest/latest/max-timestamp/by-time, and a
    consumer that gets nothing."""
    topic = "diff-empty"
    create(broker, topic, 1)
    a = admin(broker)
    tp = TopicPartition(topic, 0)
    specs = {"earliest": OffsetSpec.earliest(), "latest": OffsetSpec.latest(),
             "max_timestamp": OffsetSpec.max_timestamp(), "for_time": OffsetSpec.for_timestamp(now_ms())}
    offsets = {}
    for name, spec in specs.items():
        r = a.list_offsets({tp: spec})[tp].result(15)
        offsets[name] = (r.offset, r.timestamp)
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "diff-empty-unused"})
    try:
        watermarks = c.get_watermark_offsets(tp, timeout=10)
        by_time = c.offsets_for_times([TopicPartition(topic, 0, now_ms())], timeout=10)[0].offset
    finally:
        c.close()
    observe.check({"list_offsets": offsets, "watermarks": watermarks, "offsets_for_times": by_time,
                   "consumed": consume_all(broker, topic, idle=1.5)})


def test_compacted_topic(broker, observe):
    """cleanup.policy=compact: keyed records and a tombstone are accepted and
    read back as written (the cleaner has not run); a keyless record is refused."""
    topic = "diff-compacted"
    create(broker, topic, 1, cleanup_policy="compact")
    p = producer(broker, **{"enable.idempotence": False, "retries": 0})
    keyed = produce(p, topic, [(b"k1", b"v1"), (b"k2", b"v2"), (b"k1", b"v3"), (b"k2", None)])
    keyless = produce(p, topic, [(None, b"no key")])
    raw = wire.produce_v8_result(broker.port, topic, 0,
                                 wire.record_batch(0, wire.simple_records([b"raw keyless"]), 1, timestamp_ms=now_ms()))
    got = consume_all(broker, topic)
    observe.check({"keyed": keyed, "keyless": keyless,
                   "raw_keyless": {k: raw[k] for k in ("error", "base_offset", "record_errors")},
                   "read_back": [(o, k, v) for _p, o, k, v, _t in got]})


# --- transactions ------------------------------------------------------------

def test_read_committed_across_aborted_transaction(broker, observe):
    """Committed, aborted and committed transactions interleaved with
    non-transactional records on one partition: read_committed sees only the
    committed and non-transactional records, read_uncommitted sees all, at
    the same offsets; the raw Fetch lists the aborted transaction."""
    topic = "diff-aborted"
    create(broker, topic, 1)
    t = producer(broker, **{"transactional.id": "diff-aborted-txn"})
    plain = producer(broker)
    t.init_transactions(15)
    t.begin_transaction()
    produce(t, topic, [(b"c1", b"committed 1"), (b"c2", b"committed 2")])
    t.commit_transaction(15)
    t.begin_transaction()
    produce(t, topic, [(b"a1", b"aborted 1"), (b"a2", b"aborted 2")])
    produce(plain, topic, [(b"p1", b"plain during abort")])
    t.abort_transaction(15)
    t.begin_transaction()
    produce(t, topic, [(b"c3", b"committed 3")])
    t.commit_transaction(15)
    committed = consume_all(broker, topic, isolation="read_committed")
    uncommitted = consume_all(broker, topic, isolation="read_uncommitted")
    raw = wire.fetch_partition(broker.port, topic, 0, isolation=1)
    observe.check({
        "read_committed": [(o, k, v) for _p, o, k, v, _t in committed],
        "read_uncommitted": [(o, k, v) for _p, o, k, v, _t in uncommitted],
        "raw_read_committed": {"high_watermark": raw["high_watermark"], "last_stable_offset": raw["last_stable_offset"],
                               "aborted_count": len(raw["aborted"] or [])},
    })


def test_fetch_max_bytes_kip74(broker, observe):
    """KIP-74: a Fetch's max_bytes may be exceeded only by the first record
    batch of the first non-empty partition. Three partitions each hold one
    300 KB batch; max_bytes 400 KB, partition limit 20 MB."""
    topic = "diff-kip74"
    create(broker, topic, 3)
    import random
    rng = random.Random(74)
    p = producer(broker, **{"enable.idempotence": False, "linger.ms": 0})
    for part in range(3):
        produce(p, topic, [(b"k", rng.randbytes(300_000))], partition=part)
    got = wire.fetch_many(broker.port, topic, [0, 1, 2], max_bytes=400_000, partition_max_bytes=20_000_000)
    total = sum(v["bytes"] for v in got.values())
    first_batch = next((v["bytes"] for v in got.values() if v["bytes"]), 0)
    observe.check({"complete_batches": {p: v["complete_batches"] for p, v in got.items()},
                   "errors": {p: v["error"] for p, v in got.items()},
                   "within_limit": total <= max(400_000, first_batch)})


# --- timestamps and DeleteRecords --------------------------------------------

def test_timestamp_lookups(broker, observe):
    """CreateTime timestamps set by the producer: offsets_for_times before
    the first, equal to one, between two, after the last; the timestamps
    read back; ListOffsets max_timestamp."""
    topic = "diff-timestamps"
    create(broker, topic, 1)
    base = now_ms() - 60_000
    stamps = [base, base + 1000, base + 2000, base + 2000, base + 5000]
    acks = produce(producer(broker), topic, [(f"k{i}".encode(), b"v", ts) for i, ts in enumerate(stamps)])
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "diff-timestamps-unused"})
    try:
        lookups = {}
        for name, ts in {"before": base - 10_000, "first": base, "between": base + 1500, "equal_dup": base + 2000,
                         "last": base + 5000, "after": base + 10_000}.items():
            lookups[name] = c.offsets_for_times([TopicPartition(topic, 0, ts)], timeout=10)[0].offset
    finally:
        c.close()
    tp = TopicPartition(topic, 0)
    a = admin(broker)
    mx = a.list_offsets({tp: OffsetSpec.max_timestamp()})[tp].result(15)
    got = consume_all(broker, topic)
    observe.check({"acks": acks, "lookups": lookups,
                   "max_timestamp": (mx.offset, mx.timestamp - base),
                   "read_back": [(o, k, ts_type, ts - base) for _p, o, k, _v, (ts_type, ts) in got]})


def test_delete_records(broker, observe):
    """DeleteRecords before offset 4 of 10: the low watermark is 4, ListOffsets
    earliest says 4, a fetch from 0 is OFFSET_OUT_OF_RANGE, a consumer from
    the beginning starts at 4; deleting beyond the high watermark is refused."""
    topic = "diff-delete-records"
    create(broker, topic, 1)
    # One batch on both brokers (the flush sends it): which batch a fetch
    # from offset 4 starts with must not hang on the producer's timing.
    produce(producer(broker, **{"linger.ms": 1000}), topic, [(f"k{i}".encode(), b"v") for i in range(10)])
    a = admin(broker)
    tp = TopicPartition(topic, 0)
    deleted = a.delete_records([TopicPartition(topic, 0, 4)])[tp].result(15)
    earliest = a.list_offsets({tp: OffsetSpec.earliest()})[tp].result(15).offset
    below = wire.fetch_partition(broker.port, topic, 0, offset=0)
    at = wire.fetch_partition(broker.port, topic, 0, offset=4)
    beyond = kafka_error(a.delete_records([TopicPartition(topic, 0, 50)])[tp])
    got = consume_all(broker, topic)
    observe.check({
        "low_watermark": deleted.low_watermark, "earliest": earliest,
        "fetch_below": {k: below[k] for k in ("partition_error", "high_watermark", "log_start_offset", "batches")},
        "fetch_at": {"partition_error": at["partition_error"], "log_start_offset": at["log_start_offset"],
                     "first_batch_base": at["batches"][0][0] if at["batches"] else None},
        "delete_beyond_high_watermark": beyond,
        "consumed_offsets": [o for _p, o, *_ in got],
    })


# --- config validation ------------------------------------------------------

BAD_TOPIC_CONFIGS = {
    "not_a_number": ("max.message.bytes", "lots"),
    "below_minimum": ("segment.bytes", "1"),
    "not_in_list": ("cleanup.policy", "sometimes"),
    "unknown_name": ("no.such.config", "1"),
    "bad_boolean": ("unclean.leader.election.enable", "perhaps"),
}


@pytest.mark.parametrize("case", BAD_TOPIC_CONFIGS)
def test_alter_config_validation(case, broker, observe):
    """IncrementalAlterConfigs with an invalid topic setting: the error code
    and message; the topic's config is unchanged."""
    topic = f"diff-config-{case.replace('_', '-')}"
    create(broker, topic, 1)
    name, value = BAD_TOPIC_CONFIGS[case]
    a = admin(broker)
    res = ConfigResource(ResourceType.TOPIC, topic,
                         incremental_configs=[ConfigEntry(name, value, incremental_operation=AlterConfigOpType.SET)])
    err = kafka_error(a.incremental_alter_configs([res])[res])
    after = a.describe_configs([ConfigResource(ResourceType.TOPIC, topic)])
    desc = list(after.values())[0].result(15)
    observe.check({"error": err, "value_after": desc[name].value if name in desc else None})


# --- admin answers ------------------------------------------------------------

def test_authorized_operations(broker, observe):
    """Without an authorizer, DescribeTopics and DescribeCluster with
    include_authorized_operations list every operation as allowed."""
    topic = "diff-authorized"
    create(broker, topic, 1)
    a = admin(broker)
    t = a.describe_topics(TopicCollection([topic]), include_authorized_operations=True)[topic].result(15)
    c = a.describe_cluster(include_authorized_operations=True).result(15)
    names = lambda ops: sorted(op.name for op in ops) if ops is not None else None
    observe.check({"topic": names(t.authorized_operations), "cluster": names(c.authorized_operations)})


def test_alter_broker_config_kafka_knows(broker, observe):
    """A broker setting of Kafka's catalog that a single node does not use
    (sasl.kerberos.min.time.before.relogin) set through
    IncrementalAlterConfigs on the broker, then described."""
    a = admin(broker)
    name = "sasl.kerberos.min.time.before.relogin"
    res = ConfigResource(ResourceType.BROKER, "0",
                         incremental_configs=[ConfigEntry(name, "61000", incremental_operation=AlterConfigOpType.SET)])
    err = kafka_error(a.incremental_alter_configs([res])[res])
    deadline = time.monotonic() + 10  # Kafka applies a dynamic broker config asynchronously
    while True:
        desc = a.describe_configs([ConfigResource(ResourceType.BROKER, "0")])
        entry = list(desc.values())[0].result(15).get(name)
        if err["name"] != "NO_ERROR" or (entry is not None and entry.value == "61000") or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    observe.check({"alter": err, "described": None if entry is None else
                   {"value": entry.value, "source": entry.source, "read_only": entry.is_read_only}})


def test_java_client_errors(broker, observe):
    """What the Java client (kafka-clients, java/CompatClient.java) reports
    for a record above the topic's max.message.bytes, a DeleteRecords beyond
    the high watermark, and an invalid config value: exception classes and
    messages."""
    java = JavaClient()
    java.prepare()
    b, topic = broker.bootstrap, "diff-java-errors"
    created = java.run("create-with-configs", b, topic, "1", "max.message.bytes=2000")
    deadline = time.monotonic() + 15  # Kafka: the partition's leader a moment after CreateTopics
    while True:
        small = java.run("produce-one", b, topic, "1000")
        if small[0][0] == "ack" or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    large = java.run("produce-one", b, topic, "5000")
    beyond = java.run("delete-records", b, topic, "0", "50")
    invalid = java.run("alter-incremental", b, "topic", topic, "SET:retention.ms=soon")
    text = lambda lines: [" ".join(line) for line in lines]
    observe.check({"created": text(created), "small": text(small), "large": text(large),
                   "delete_beyond": text(beyond), "invalid_config": text(invalid)})
