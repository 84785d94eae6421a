"""Scenarios 1-5 for every client: metadata, topic creation, and a keyed,
headered round trip under each compression codec the client supports.

Differential: each scenario runs on Apache Kafka 4.4 and on Odradek (one
broker per module, `broker` fixture), and what the client observed on
Odradek must equal what it observed on Kafka (`observe`)."""
from __future__ import annotations

import time
from collections import defaultdict

import pytest

from clients import all_clients
from harness import wire
from harness.data import CODEC_IDS, PARTITIONS, PER_PARTITION, expected_records

CLIENTS = all_clients()


def client_params():
    return [pytest.param(c, id=c.name) for c in CLIENTS]


def expected_acks(records):
    """(partition, offset) per record, in production order, on fresh partitions."""
    seen = defaultdict(int)
    acks = []
    for r in records:
        acks.append((r.partition, seen[r.partition]))
        seen[r.partition] += 1
    return acks


def by_partition(records):
    """{partition: [(offset, key, value, headers)]} in the order read."""
    out = defaultdict(list)
    for r in records:
        out[r.partition].append((r.offset, r.key, r.value, r.headers))
    return dict(sorted(out.items()))


def assert_records(got, expected):
    """Exactly the expected records, each partition in production order from offset 0."""
    want = defaultdict(list)
    for r, (p, offset) in zip(expected, expected_acks(expected)):
        want[p].append((offset, r.key, r.value, r.headers))
    got = by_partition(got)
    assert sorted(got) == sorted(want), "partitions read back"
    for p in want:
        assert got[p] == want[p], f"partition {p}"


def partition_batches(broker, topic, partition):
    """wire.fetch_batches once the partition has a leader: Apache Kafka
    answers NOT_LEADER_OR_FOLLOWER for a moment after CreateTopics returns."""
    deadline = time.monotonic() + 15
    while True:
        try:
            return wire.fetch_batches(broker.port, topic, partition)
        except AssertionError as e:
            if "fetch error 6" not in str(e) or time.monotonic() > deadline:
                raise
            time.sleep(0.1)


# Each test first holds what the client observed against Kafka's answer
# (observe.check), then checks it against the absolute expectations.

@pytest.mark.parametrize("client", client_params(), indirect=True)
def test_metadata(client, broker, observe):
    md = client.metadata(broker.bootstrap)
    # Both brokers run as node 0 on 127.0.0.1; ports and cluster ids differ by nature.
    brokers = [(node, host, "<port>" if port == broker.port else port) for node, host, port in md.brokers]
    cluster_id_matches = md.cluster_id == broker.cluster_id if client.reports_cluster_id else None
    observe.check({"brokers": brokers, "controller_id": md.controller_id, "cluster_id_matches": cluster_id_matches})
    assert brokers == [(0, "127.0.0.1", "<port>")]
    assert md.controller_id == 0
    if client.reports_cluster_id:
        assert md.cluster_id is not None
        assert cluster_id_matches


@pytest.mark.parametrize("client", client_params(), indirect=True)
def test_create_topic(client, broker, observe):
    topic = f"compat-created-{client.name}"
    leaders = client.create_topic(broker.bootstrap, topic, PARTITIONS)
    # The broker's own answer, independent of the client's bookkeeping.
    batches = [partition_batches(broker, topic, p) for p in range(PARTITIONS)]
    observe.check({"leaders": leaders, "batches": batches})
    assert leaders == {p: 0 for p in range(PARTITIONS)}
    assert batches == [[]] * PARTITIONS


@pytest.mark.divergence(
    "librdkafka 2.0.2 (kcat) compresses gzip, snappy and lz4 only if ApiVersions lists Produce v0-v2; Kafka 4.4 "
    "still lists them (KAFKA-18659: advertised from v0, refused below v3 when used), so kcat's batches reach Kafka "
    "compressed; Odradek lists Produce from v3 and gets them uncompressed (codec id 0)",
    only=["[kcat-gzip]", "[kcat-snappy]", "[kcat-lz4]"])
@pytest.mark.parametrize("client,codec", [pytest.param(c, codec, id=f"{c.name}-{codec}")
                                          for c in CLIENTS for codec in c.codecs], indirect=["client"])
def test_roundtrip(client, codec, broker, observe):
    topic = f"compat-{client.name}-{codec}"
    leaders = client.create_topic(broker.bootstrap, topic, PARTITIONS)
    records = expected_records(codec, text_only=client.text_only, uniform_headers=client.uniform_headers)

    try:
        acks = client.produce(broker.bootstrap, topic, codec, records)
    except AssertionError:
        refused = client.kafka_refuses.get(codec)
        if broker.kind == "kafka" and refused:
            observe.check({"produce": "refused"})
            pytest.xfail(f"Apache Kafka refuses this: {refused}")
        raise

    # What the producer really put on the wire: the codec ids of its batches.
    batches = {p: partition_batches(broker, topic, p) for p in range(PARTITIONS)}
    codecs_on_wire = {p: sorted({c for _, _, c in b}) for p, b in batches.items()}

    # Assign every partition, seek to the beginning, read up to the end
    # offsets (ListOffsets: v1 sarama, v2 kcat, v3 aiokafka/kafkajs, newer elsewhere).
    got = client.consume(broker.bootstrap, topic)
    observe.check({"leaders": leaders, "acks": acks, "codecs_on_wire": codecs_on_wire, "records": by_partition(got)})

    assert leaders == {p: 0 for p in range(PARTITIONS)}
    assert acks == expected_acks(records)
    on_wire = client.wire_codecs.get(codec, codec)
    for p, b in batches.items():
        assert sum(count for _, count, _ in b) == PER_PARTITION
        assert codecs_on_wire[p] == [CODEC_IDS[on_wire]], (
            f"partition {p} batches (base offset, records, codec id) {b}: expected codec {on_wire!r} "
            f"on the wire (see wire_codecs in clients/)")
    assert_records(got, records)
