"""KIP-848 subscriptions with Apache Kafka's own 4.4 consumer
(compat-tests/java44, compiled against the reference broker's jars), on
both brokers: a member subscribed by a broker-side regex (SubscriptionPattern)
unsubscribes and subscribes to one topic by name, and then owns only that
topic's partitions.

A static member (group.instance.id) doing the same is left out: it leaves
with -2 and comes back under its client-generated id with no regex in its
heartbeats (null: unchanged), and whether the old regex survives depends on
timing on both brokers (Kafka 4.4: the regex topics too in three harness
runs, only the named topic in a manual run; Odradek likewise both ways)."""
from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from harness.kafka import LIBS

MATRIX_CLIENT = "java-4.4"
HERE = Path(__file__).resolve().parents[1]
SOURCE = HERE / "java44" / "Resubscribe.java"
CLASSES = HERE / ".build" / "java44"


@pytest.fixture(scope="module")
def resubscribe():
    """The compiled program's argv prefix (built once per module)."""
    classpath = f"{LIBS}/*"
    CLASSES.mkdir(parents=True, exist_ok=True)
    subprocess.run(["javac", "-cp", classpath, "-d", str(CLASSES), str(SOURCE)], check=True,
                   capture_output=True, timeout=120)
    return ["java", "-cp", f"{CLASSES}:{classpath}", "Resubscribe"]


def test_regex_then_one_topic_by_name(resubscribe, broker, observe):
    tag = uuid.uuid4().hex[:8]
    topics = {f"rx{tag}-a": 4, f"rx{tag}-b": 4, f"lit{tag}": 2}
    a = AdminClient({"bootstrap.servers": broker.bootstrap})
    for f in a.create_topics([NewTopic(t, n, 1) for t, n in topics.items()], operation_timeout=10).values():
        f.result(15)
    run = subprocess.run(resubscribe + [broker.bootstrap, f"g-{tag}", f"rx{tag}-.*", f"lit{tag}", "~"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-4000:]
    lines = dict(line.split(" ", 1) for line in run.stdout.splitlines() if " " in line)
    owned = sorted(lines.get("literal", "").replace(tag, "TAG").split(","))
    assert owned == ["litTAG-0", "litTAG-1"], lines
    observe.check({"regex": lines.get("regex"), "literal": owned})
