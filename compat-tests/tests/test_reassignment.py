"""Partition reassignment on three real processes (issue 13 A), driven by
Kafka 4.4's own `kafka-reassign-partitions` (ReassignPartitionsCommand):
partitions move to a broker that held none of them while two idempotent
producers write (acks=all, min.insync.replicas=2) and a consumer reads
along; the queue checker finds nothing lost, duplicated or reordered, the
moved replicas are the target, and the broker moved away from keeps no
copy. A move towards a stopped broker waits in `--list` until `--cancel`
takes it back. Bad targets get Kafka's error codes and change nothing."""
from __future__ import annotations

import json
import struct
import subprocess
import time
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from harness import wire
from harness.cluster import start_cluster, stop_and_check
from harness.kafka import JAVA, LIBS
from test_nemesis import PER_PRODUCER, TOPIC, Run, finish_and_check, start_clients
from test_replication import FAILOVER_SETTINGS, wait_for

MATRIX_CLIENT = "confluent"
INVALID_REPLICA_ASSIGNMENT = 39
UNKNOWN_TOPIC_OR_PARTITION = 3
NO_REASSIGNMENT_IN_PROGRESS = 85


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    base = tmp_path_factory.mktemp("reassignment")
    nodes = start_cluster(base, settings=[*FAILOVER_SETTINGS, "offsets.topic.replication.factor=3"])
    yield nodes
    for node in nodes:
        if node.alive():
            node.resume()
    stop_and_check(nodes)


def reassign(bootstrap: str, tmp_path: Path, action: str, moves: dict[tuple[str, int], list[int]],
             *extra: str):
    """Runs kafka-reassign-partitions `--<action>` for `moves`; its stdout."""
    plan = tmp_path / f"plan-{action}.json"
    plan.write_text(json.dumps({"version": 1, "partitions": [
        {"topic": t, "partition": p, "replicas": r} for (t, p), r in moves.items()]}))
    argv = [JAVA, "-cp", f"{LIBS}/*", "org.apache.kafka.tools.reassign.ReassignPartitionsCommand",
            "--bootstrap-server", bootstrap, f"--{action}"]
    if action != "list":
        argv += ["--reassignment-json-file", str(plan)]
    argv += extra
    out = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, f"--{action}: {out.stdout[-2000:]}\n{out.stderr[-3000:]}"
    return out.stdout


def replicas(bootstrap: str, topic: str) -> dict[int, list[int]]:
    md = AdminClient({"bootstrap.servers": bootstrap}).list_topics(topic, timeout=10)
    return {p.id: list(p.replicas) for p in md.topics[topic].partitions.values()}


def local_bytes(node, topic: str, partition: int) -> int:
    return sum(f.stat().st_size for f in (node.data_dir / f"{topic}-{partition}").glob("*.log"))


def test_kafka_reassign_partitions_moves_partitions_under_load(cluster, tmp_path):
    bootstrap = ",".join(node.bootstrap for node in cluster)
    admin = AdminClient({"bootstrap.servers": bootstrap})
    topic = NewTopic(TOPIC, num_partitions=2, replica_assignment=[[0, 1], [1, 0]], config={"min.insync.replicas": "2"})
    admin.create_topics([topic], operation_timeout=20)[TOPIC].result(timeout=30)
    wait_for("every node to know the topic",
             lambda: all(replicas(n.bootstrap, TOPIC) == {0: [0, 1], 1: [1, 0]} for n in cluster), 30)
    run = Run()
    threads = start_clients(bootstrap, run)
    wait_for("a third acknowledged", lambda: run.acked_count() >= 2 * PER_PRODUCER // 3, 60)

    target = {(TOPIC, 0): [2, 1], (TOPIC, 1): [2, 0]}
    started = time.monotonic()
    executed = reassign(cluster[1].bootstrap, tmp_path, "execute", target)
    assert "Successfully started partition reassignment" in executed, executed
    verified = ""

    def completed() -> bool:
        nonlocal verified
        verified = reassign(cluster[1].bootstrap, tmp_path, "verify", target)
        return verified.count("is completed") == 2

    moved = wait_for("the moves to complete", completed, 60)
    report = finish_and_check(run, threads, cluster[1].bootstrap, 180)
    print(f"kafka-reassign-partitions moved 2 partitions under load in {moved:.1f} s "
          f"({time.monotonic() - started:.1f} s with the tool's own start-up); checker: {report.summary()}")
    assert report.violations() == {}, report.violations()
    assert not run.errors, run.errors[:3]
    assert len(run.history.acked) == 2 * PER_PRODUCER
    assert report.redelivered == 0, "the live consumer was sent back (a new leader answered OFFSET_OUT_OF_RANGE?)"
    assert all(replicas(n.bootstrap, TOPIC) == {0: [2, 1], 1: [2, 0]} for n in cluster)
    assert reassign(cluster[0].bootstrap, tmp_path, "list", {}).count("replicas:") == 0
    # The broker moved away from keeps no copy; the new one has everything.
    wait_for("node 1's copy of partition 1 deleted", lambda: local_bytes(cluster[1], TOPIC, 1) == 0, 10)
    assert local_bytes(cluster[0], TOPIC, 0) == 0
    assert local_bytes(cluster[2], TOPIC, 0) > 0 and local_bytes(cluster[2], TOPIC, 1) > 0


def topic_config(bootstrap: str, topic: str, key: str) -> str | None:
    from confluent_kafka.admin import ConfigResource
    admin = AdminClient({"bootstrap.servers": bootstrap})
    resource = ConfigResource("topic", topic)
    entries = admin.describe_configs([resource])[resource].result(timeout=30)
    entry = entries.get(key)
    return entry.value if entry is not None and not entry.is_default else None


def test_a_throttled_move_copies_at_about_the_rate_and_the_throttle_is_cleared(cluster, tmp_path):
    """`--throttle` sets the topic's throttled replicas and the brokers'
    rates; the leader holds a joining replica to about that rate, and the
    change that completes the move clears the topic's throttled replicas
    (before `--verify`, which Kafka needs to clear them)."""
    from confluent_kafka import Producer
    bootstrap = ",".join(node.bootstrap for node in cluster)
    admin = AdminClient({"bootstrap.servers": bootstrap})
    created = admin.create_topics([NewTopic("heavy", num_partitions=1, replica_assignment=[[0, 1]])],
                                  operation_timeout=20)
    created["heavy"].result(timeout=30)
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 20})
    size, count = 10_000, 2_000  # 20 MB
    for _ in range(count):
        producer.produce("heavy", value=b"x" * size, partition=0)
        producer.poll(0)
    assert producer.flush(60) == 0
    rate = 4_000_000
    target = {("heavy", 0): [2, 1]}
    started = time.monotonic()
    reassign(cluster[0].bootstrap, tmp_path, "execute", target, "--throttle", str(rate))
    assert topic_config(cluster[0].bootstrap, "heavy", "leader.replication.throttled.replicas")
    took = wait_for("the throttled move to complete",
                    lambda: replicas(cluster[0].bootstrap, "heavy") == {0: [2, 1]}, 60)
    floor = size * count / rate
    print(f"a {size * count / 1e6:.0f} MB move throttled at {rate / 1e6:.0f} MB/s took {took:.1f} s "
          f"({size * count / took / 1e6:.1f} MB/s; {time.monotonic() - started:.1f} s with the tool's start-up)")
    assert took > floor / 2, f"the throttle did not hold the move back: {took:.1f} s for {floor:.1f} s at the rate"
    wait_for("the topic's throttled replicas to be cleared", lambda: topic_config(
        cluster[0].bootstrap, "heavy", "leader.replication.throttled.replicas") is None, 10)
    assert topic_config(cluster[0].bootstrap, "heavy", "follower.replication.throttled.replicas") is None
    assert "is completed" in reassign(cluster[0].bootstrap, tmp_path, "verify", target)


def test_a_follower_throttle_alone_holds_a_move_back(cluster, tmp_path):
    """Only the joining follower is throttled (its broker's
    `follower.replication.throttled.rate`, the topic's
    `follower.replication.throttled.replicas` naming it): it leaves the
    partition out of its fetches while it fetched more than the rate, so
    the move takes about as long as the rate says."""
    from confluent_kafka import Producer
    from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource
    bootstrap = ",".join(node.bootstrap for node in cluster)
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic("heavy-f", num_partitions=1, replica_assignment=[[0, 1]])],
                        operation_timeout=20)["heavy-f"].result(timeout=30)
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 20})
    size, count = 10_000, 2_000  # 20 MB
    for _ in range(count):
        producer.produce("heavy-f", value=b"x" * size, partition=0)
        producer.poll(0)
    assert producer.flush(60) == 0
    rate = 4_000_000

    def set_configs(value_rate, value_replicas):
        op = AlterConfigOpType.SET if value_rate else AlterConfigOpType.DELETE
        resources = [
            ConfigResource("broker", "2", incremental_configs=[ConfigEntry(
                "follower.replication.throttled.rate", value_rate, incremental_operation=op)]),
            ConfigResource("topic", "heavy-f", incremental_configs=[ConfigEntry(
                "follower.replication.throttled.replicas", value_replicas, incremental_operation=op)]),
        ]
        for future in admin.incremental_alter_configs(resources).values():
            future.result(timeout=30)

    set_configs(str(rate), "0:2")
    try:
        target = {("heavy-f", 0): [2, 1]}
        reassign(cluster[0].bootstrap, tmp_path, "execute", target)
        took = wait_for("the follower-throttled move to complete",
                        lambda: replicas(cluster[0].bootstrap, "heavy-f") == {0: [2, 1]}, 60)
    finally:
        set_configs(None, None)
    floor = size * count / rate
    print(f"a {size * count / 1e6:.0f} MB move with only its follower throttled at {rate / 1e6:.0f} MB/s "
          f"took {took:.1f} s ({size * count / took / 1e6:.1f} MB/s)")
    assert took > floor / 2, f"the follower throttle did not hold the move back: {took:.1f} s for {floor:.1f} s"


def test_a_move_that_cannot_finish_is_listed_and_cancelled(cluster, tmp_path):
    bootstrap = ",".join(node.bootstrap for node in cluster)
    admin = AdminClient({"bootstrap.servers": bootstrap})
    # The move goes to a stopped broker, not the controller (which the
    # tool's admin client talks to).
    controller = admin.list_topics(timeout=10).controller_id
    spare = (controller + 1) % 3
    kept = sorted(set(range(3)) - {spare})
    admin.create_topics([NewTopic("stuck", num_partitions=1, replica_assignment=[kept])],
                        operation_timeout=20)["stuck"].result(timeout=30)
    wait_for("every node to know the topic", lambda: all(replicas(n.bootstrap, "stuck") == {0: kept}
                                                          for n in cluster), 30)
    cluster[spare].pause()  # it cannot catch up
    try:
        target = {("stuck", 0): [kept[0], spare]}
        asked = cluster[controller].bootstrap
        reassign(asked, tmp_path, "execute", target)
        listed = reassign(asked, tmp_path, "list", {})
        expected = f"stuck-0: replicas: {kept[0]},{spare},{kept[1]}. adding: {spare}. removing: {kept[1]}."
        assert expected in listed, listed
        # Kept throttles: clearing them asks every broker, the stopped one too
        # (the tool would time out against Kafka as well, KAFKA-13392).
        reassign(asked, tmp_path, "cancel", target, "--preserve-throttles")
        wait_for("the move to be taken back", lambda: replicas(asked, "stuck") == {0: kept}, 10)
        assert "stuck-0" not in reassign(asked, tmp_path, "list", {})
    finally:
        cluster[spare].resume()


def alter_reassignments_v0(port: int, topic: str, partition: int, target: list[int] | None) -> tuple[int, int]:
    """(top-level error, the partition's error) of a raw AlterPartitionReassignments v0."""
    name = wire.uvarint(len(topic) + 1) + topic.encode()
    replicas_field = b"\x00" if target is None else wire.uvarint(len(target) + 1) + b"".join(
        struct.pack(">i", r) for r in target)
    body = struct.pack(">i", 30000) + wire.uvarint(2) + name + wire.uvarint(2)
    body += struct.pack(">i", partition) + replicas_field + b"\x00"  # the partition's tags
    body += b"\x00" + b"\x00"  # the topic's tags, the request's tags
    with wire.connect(port) as s:
        s.sendall(wire.request(45, 0, 31, body, flexible=True))
        r = wire.Reader(wire.recv_frame(s))
    assert r.take("i") == 31
    wire.skip_tags(r)  # response header
    _throttle, error = r.take("ih")
    wire.read_compact_string(r)
    assert wire.read_uvarint(r) == 2 and wire.read_compact_string(r) == topic
    assert wire.read_uvarint(r) == 2
    index, partition_error = r.take("ih")
    assert index == partition
    return error, partition_error


@pytest.mark.parametrize("target, code", [
    ([], INVALID_REPLICA_ASSIGNMENT),
    ([0, 0], INVALID_REPLICA_ASSIGNMENT),
    ([0, 9], INVALID_REPLICA_ASSIGNMENT),
    (None, NO_REASSIGNMENT_IN_PROGRESS),
], ids=["empty", "duplicate", "unknown-broker", "cancel-nothing"])
def test_bad_reassignments_get_kafkas_codes(cluster, target, code):
    name = "unmoved"
    admin = AdminClient({"bootstrap.servers": cluster[0].bootstrap})
    if name not in admin.list_topics(timeout=10).topics:
        created = admin.create_topics([NewTopic(name, num_partitions=1, replica_assignment=[[1, 2]])],
                                      operation_timeout=20)
        created[name].result(timeout=30)
        wait_for("the topic", lambda: replicas(cluster[0].bootstrap, name) == {0: [1, 2]}, 30)
    assert alter_reassignments_v0(cluster[0].port, name, 0, target) == (0, code)
    assert alter_reassignments_v0(cluster[0].port, "no-such-topic", 0, [0, 1]) == (0, UNKNOWN_TOPIC_OR_PARTITION)
    assert replicas(cluster[0].bootstrap, name) == {0: [1, 2]}, "nothing changed"
