"""The `odradek` admin/console CLI interoperating with a real client
(confluent-kafka / librdkafka) through the release broker: what one writes
the other reads exactly, and `groups` sees a live librdkafka group member."""
from __future__ import annotations

import json
import subprocess
import time

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

from harness.broker import BINARY

# Odradek only (this module starts its own brokers); the client family in the
# compatibility matrix (compat-tests/.build/compat-matrix.json).
MATRIX_CLIENT = "odradek-cli"


def cli(bootstrap, *args, stdin="", check=True):
    proc = subprocess.run([str(BINARY), *args, "--bootstrap-server", bootstrap], input=stdin.encode(),
                          capture_output=True, timeout=120)
    if check:
        assert proc.returncode == 0, f"odradek {args}: {proc.stderr.decode()}"
    return proc


def read_all(bootstrap, topic, expected):
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "cli-compat-unused",
                         "enable.auto.commit": False})
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        out, deadline = [], time.monotonic() + 60
        while len(out) < expected and time.monotonic() < deadline:
            for m in consumer.consume(100, timeout=0.5):
                assert m.error() is None, m.error()
                out.append((m.partition(), m.offset(), m.key(), m.value(), tuple(m.headers() or ())))
        return out
    finally:
        consumer.close()


@pytest.mark.parametrize("codec", ["none", "gzip", "snappy", "lz4", "zstd"])
def test_confluent_reads_what_cli_produced(start_broker, codec):
    broker = start_broker()
    cli(broker.bootstrap, "topics", "create", "lines", "--partitions", "3")
    lines = [f"key-{i % 7}\tvalue {i} \u00e9" for i in range(60)]
    cli(broker.bootstrap, "produce", "--topic", "lines", "--key-separator", "\t", "--header", "origin=cli",
        "--header", "n=1", "--compression", codec, "--batch-lines", "16", stdin="\n".join(lines) + "\n")
    got = read_all(broker.bootstrap, "lines", len(lines))
    assert sorted((k.decode(), v.decode()) for _, _, k, v, _ in got) == \
        sorted(tuple(line.split("\t", 1)) for line in lines)
    assert all(h == (("origin", b"cli"), ("n", b"1")) for *_, h in got)
    # One partition per key, and per-partition offsets dense from 0.
    by_key = {}
    for p, _, k, _, _ in got:
        assert by_key.setdefault(k, p) == p
    for p in {p for p, *_ in got}:
        offsets = sorted(o for q, o, *_ in got if q == p)
        assert offsets == list(range(len(offsets)))


def test_cli_reads_what_confluent_produced(start_broker):
    broker = start_broker()
    cli(broker.bootstrap, "topics", "create", "from-rdkafka", "--partitions", "2")
    producer = Producer({"bootstrap.servers": broker.bootstrap, "acks": "all", "linger.ms": 5,
                         "enable.idempotence": False})
    for i in range(20):
        producer.produce("from-rdkafka", key=f"k{i}".encode(), value=f"v{i}".encode(), partition=i % 2,
                         headers=[("h", f"{i}".encode())])
    assert producer.flush(30) == 0
    out = cli(broker.bootstrap, "consume", "--topic", "from-rdkafka", "--from-beginning", "--max-messages", "20",
              "--timeout-ms", "30000", "--json").stdout.decode()
    records = [json.loads(line) for line in out.splitlines()]
    assert sorted((r["key"], r["value"], r["partition"], r["headers"][0]["value"]) for r in records) == \
        sorted((f"k{i}", f"v{i}", i % 2, f"{i}") for i in range(20))


def test_groups_see_a_live_librdkafka_member(start_broker):
    broker = start_broker()
    cli(broker.bootstrap, "topics", "create", "work", "--partitions", "2")
    cli(broker.bootstrap, "produce", "--topic", "work", "--partition", "0", stdin="".join(f"a{i}\n" for i in range(6)))
    cli(broker.bootstrap, "produce", "--topic", "work", "--partition", "1", stdin="".join(f"b{i}\n" for i in range(4)))
    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "crew", "client.id": "rdk-crew",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    try:
        consumer.subscribe(["work"])
        seen, deadline = 0, time.monotonic() + 60
        while seen < 5 and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is not None and msg.error() is None:
                seen += 1
        assert seen == 5
        # Commit 3 on partition 0 and 1 on partition 1.
        consumer.commit(offsets=[TopicPartition("work", 0, 3), TopicPartition("work", 1, 1)], asynchronous=False)
        described = json.loads(cli(broker.bootstrap, "groups", "describe", "crew", "--json").stdout)[0]
        assert described["state"] == "Stable"
        assert described["protocol_type"] == "consumer"
        [member] = described["members"]
        assert member["client_id"] == "rdk-crew"
        assert sorted((a["topic"], a["partition"]) for a in member["assignment"]) == [("work", 0), ("work", 1)]
        offsets = {o["partition"]: (o["committed_offset"], o["log_end_offset"], o["lag"], o["member_id"])
                   for o in described["offsets"]}
        assert offsets == {0: (3, 6, 3, member["member_id"]), 1: (1, 4, 3, member["member_id"])}
        # A group with a live member is not reset, as with Kafka's tool.
        refused = cli(broker.bootstrap, "groups", "reset-offsets", "crew", "--all-topics", "--to-earliest",
                      "--execute", check=False)
        assert refused.returncode == 1
        assert b"current state is Stable" in refused.stderr
    finally:
        consumer.close()
    reset = json.loads(cli(broker.bootstrap, "groups", "reset-offsets", "crew", "--all-topics", "--to-latest",
                           "--execute", "--json").stdout)
    assert reset["executed"] is True
    assert sorted((o["partition"], o["new_offset"]) for o in reset["offsets"]) == [(0, 6), (1, 4)]
    after = json.loads(cli(broker.bootstrap, "groups", "describe", "crew", "--json").stdout)[0]
    assert after["members"] == []
    assert sorted((o["partition"], o["committed_offset"], o["lag"]) for o in after["offsets"]) == [(0, 6, 0), (1, 4, 0)]
