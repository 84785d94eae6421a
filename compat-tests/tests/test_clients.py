"""Scenarios 1-5 for every client: metadata, topic creation, and a keyed,
headered round trip under each compression codec the client supports."""
from __future__ import annotations

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


def assert_records(got, expected):
    """Exactly the expected records, each partition in production order from offset 0."""
    by_partition = defaultdict(list)
    for r in got:
        by_partition[r.partition].append((r.offset, r.key, r.value, r.headers))
    want = defaultdict(list)
    for r, (p, offset) in zip(expected, expected_acks(expected)):
        want[p].append((offset, r.key, r.value, r.headers))
    assert sorted(by_partition) == sorted(want), "partitions read back"
    for p in want:
        assert by_partition[p] == want[p], f"partition {p}"


@pytest.mark.parametrize("client", client_params(), indirect=True)
def test_metadata(client, start_broker):
    broker = start_broker(client.broker_settings)
    md = client.metadata(broker.bootstrap)
    assert md.brokers == [(0, "127.0.0.1", broker.port)]
    assert md.controller_id == 0
    if client.reports_cluster_id:
        assert md.cluster_id is not None
        assert md.cluster_id == broker.cluster_id


@pytest.mark.parametrize("client", client_params(), indirect=True)
def test_create_topic(client, start_broker):
    broker = start_broker(client.broker_settings)
    leaders = client.create_topic(broker.bootstrap, "compat-created", PARTITIONS)
    assert leaders == {p: 0 for p in range(PARTITIONS)}
    # The broker's own answer, independent of the client's bookkeeping.
    assert [wire.fetch_batches(broker.port, "compat-created", p) for p in range(PARTITIONS)] == [[]] * PARTITIONS


@pytest.mark.parametrize("client,codec", [pytest.param(c, codec, id=f"{c.name}-{codec}")
                                          for c in CLIENTS for codec in c.codecs], indirect=["client"])
def test_roundtrip(client, codec, start_broker):
    broker = start_broker(client.broker_settings)
    topic = f"compat-{codec}"
    assert client.create_topic(broker.bootstrap, topic, PARTITIONS) == {p: 0 for p in range(PARTITIONS)}
    records = expected_records(codec, text_only=client.text_only, uniform_headers=client.uniform_headers)

    acks = client.produce(broker.bootstrap, topic, codec, records)
    assert acks == expected_acks(records)

    # What the producer really put on the wire: batches with the codec's id.
    on_wire = client.wire_codecs.get(codec, codec)
    for p in range(PARTITIONS):
        batches = wire.fetch_batches(broker.port, topic, p)
        assert sum(count for _, count, _ in batches) == PER_PARTITION
        assert {c for _, _, c in batches} == {CODEC_IDS[on_wire]}, (
            f"partition {p} batches (base offset, records, codec id) {batches}: expected codec {on_wire!r} "
            f"on the wire (see wire_codecs in clients/)")

    # Assign every partition, seek to the beginning, read up to the end
    # offsets (ListOffsets: v1 sarama, v2 kcat, v3 aiokafka/kafkajs, newer elsewhere).
    assert_records(client.consume(broker.bootstrap, topic), records)

