"""Clock skew on three real processes (issue 12 E3): every node runs under
libfaketime (LD_PRELOAD, from Debian's faketime package), which shifts its
wall clock by what a file of its own says; the monotonic clock is left
alone, as a real clock step leaves it. While two idempotent producers
(acks=all), a live consumer and a transactional producer run, the nodes'
wall clocks jump: hours forward, hours back, each node differently, the
controller's too.

Timers (a follower's lag, a broker's session, a group member's session, a
transaction's timeout) run on a clock that never jumps (`log::steady_ms`),
so the jumps change nothing: no partition loses an ISR member, no leader
moves, no transaction is timed out. Then the leader of partition 0 is
killed with the clocks still apart, and the queue checker reads the
history: nothing acknowledged lost, duplicated or out of order.

Kafka measures follower lag on the wall clock (Partition.scala): there, a
leader's clock set forward by more than replica.lag.time.max.ms empties
its ISRs at once."""
from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from harness.cluster import start_cluster, stop_and_check
from test_nemesis import PER_PRODUCER, TOPIC, Run, finish_and_check, longest_gap, start_clients
from test_replication import FAILOVER_SETTINGS, SESSION_MS, create_replicated, partitions, wait_for

MATRIX_CLIENT = "confluent"
LIBFAKETIME = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1")
# Each step sets every node's offset from the real wall clock (libfaketime's
# relative syntax), held for STEP_S: forward and back by hours, apart.
# (Within a day: idempotent producers' state expires after
# producer.id.expiration.ms, a day, on the wall clock, as in Kafka.)
STEPS = [("+0", "+0", "+0"), ("+2h", "-3h", "+0"), ("-2h", "+5h", "+12h"), ("+6h", "-20h", "-6h"),
         ("+0", "+3h", "-2h")]
STEP_S = 2.0


def offset_file(base: Path, node: int) -> Path:
    return base / f"clock{node}"


def skewed(base: Path, node: int) -> list[str]:
    """A wrapper that runs a node under libfaketime, its offset re-read from
    its file every second."""
    offset_file(base, node).write_text("+0\n")
    return ["env", f"LD_PRELOAD={LIBFAKETIME}", f"FAKETIME_TIMESTAMP_FILE={offset_file(base, node)}",
            "FAKETIME_CACHE_DURATION=1", "DONT_FAKE_MONOTONIC=1"]


def set_clocks(base: Path, offsets: tuple[str, ...]) -> None:
    for node, offset in enumerate(offsets):
        path = offset_file(base, node)
        path.with_suffix(".new").write_text(offset + "\n")
        os.replace(path.with_suffix(".new"), path)


@pytest.fixture
def cluster(tmp_path):
    if not LIBFAKETIME.exists():
        pytest.fail(f"{LIBFAKETIME} is missing (compat-tests/run.sh installs Debian's faketime)")
    nodes = start_cluster(tmp_path, settings=[*FAILOVER_SETTINGS, "offsets.topic.replication.factor=3"],
                          wrappers={i: skewed(tmp_path, i) for i in range(3)})
    yield nodes
    stop_and_check(nodes)


def seconds(offset: str) -> int:
    """libfaketime's relative offset ("+2h", "-1d", "+0") in seconds."""
    units = {"h": 3600, "d": 86400}
    return int(offset[:-1]) * units[offset[-1]] if offset[-1] in units else int(offset)


def node_clocks(bootstrap: str, probe: str) -> dict[int, float]:
    """Each node's wall clock minus the real one, in seconds: the
    LogAppendTime it gives a record on its own partition of `probe`."""
    from confluent_kafka import Consumer, Producer, TopicPartition
    producer = Producer({"bootstrap.servers": bootstrap})
    for node in range(3):
        producer.produce(probe, value=b"tick", partition=node)
    assert producer.flush(30) == 0
    real = time.time()
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "clock-probe", "enable.auto.commit": False})
    clocks = {}
    for node in range(3):
        _, end = consumer.get_watermark_offsets(TopicPartition(probe, node), timeout=10)
        consumer.assign([TopicPartition(probe, node, end - 1)])
        msg = None
        while msg is None or msg.error():
            msg = consumer.poll(1.0)
        clocks[node] = msg.timestamp()[1] / 1000 - real
    consumer.close()
    return clocks


def transactions(bootstrap: str, topic: str, stop: threading.Event, outcome: dict) -> None:
    """Short transactions, one after another, until stopped: a coordinator
    whose clock jumps forward must not time them out."""
    from confluent_kafka import Producer
    producer = Producer({"bootstrap.servers": bootstrap, "transactional.id": "skewed", "linger.ms": 1})
    try:
        producer.init_transactions(60)
        commits = 0
        while not stop.is_set():
            producer.begin_transaction()
            producer.produce(topic, value=f"t-{commits}".encode())
            producer.commit_transaction(60)
            commits += 1
            time.sleep(0.02)
        outcome["commits"] = commits
    except Exception as e:  # noqa: BLE001 - any failure is the finding
        outcome["error"] = repr(e)


def create_probe(bootstrap: str, name: str) -> None:
    """One partition on each node, stamped by the broker (LogAppendTime)."""
    from confluent_kafka.admin import AdminClient, NewTopic
    topic = NewTopic(name, num_partitions=3, replica_assignment=[[0], [1], [2]], config={"message.timestamp.type": "LogAppendTime"})
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([topic], operation_timeout=20)[name].result(timeout=30)


def test_wall_clock_jumps_move_no_leader_and_shrink_no_isr(cluster, tmp_path):
    create_replicated(cluster[0].bootstrap, TOPIC, 2, {"min.insync.replicas": "2"})
    bootstrap = ",".join(node.bootstrap for node in cluster)
    observer = cluster[0].bootstrap
    run = Run()
    threads = start_clients(bootstrap, run)
    wait_for("first acknowledgements", lambda: run.acked_count() >= 200, 60)
    before = partitions(observer, TOPIC)
    assert all(isr == [0, 1, 2] for _, isr in before.values()), before

    # The jumps: leaders and ISRs are sampled throughout, and each node's
    # clock is read back once per step (libfaketime did take hold).
    create_probe(observer, "clock-probe")
    create_replicated(observer, "skewed-txns", 1)
    stop, outcome = threading.Event(), {}
    txns = threading.Thread(target=transactions, args=(bootstrap, "skewed-txns", stop, outcome))
    txns.start()
    samples = []
    for offsets in STEPS[1:]:
        set_clocks(tmp_path, offsets)
        until = time.monotonic() + STEP_S
        while time.monotonic() < until:
            samples.append(partitions(observer, TOPIC))
            time.sleep(0.1)
        clocks = node_clocks(observer, "clock-probe")
        for node, offset in enumerate(offsets):
            assert abs(clocks[node] - seconds(offset)) < 5, f"node {node} is {clocks[node]:.0f} s off, not {offset}"
    stop.set()
    txns.join(120)
    changed = [s for s in samples if s != before]
    assert not changed, f"leaders or ISRs moved while the clocks jumped: {before} -> {changed[:3]}"
    assert "error" not in outcome and outcome.get("commits", 0) > 0, outcome

    # A failover with the clocks apart.
    set_clocks(tmp_path, STEPS[2])
    victim = before[0][0]
    survivor = cluster[(victim + 1) % 3]
    cluster[victim].kill()
    killed = time.monotonic()
    moved = wait_for("partition 0 to get a new leader",
                     lambda: partitions(survivor.bootstrap, TOPIC)[0][0] not in (victim, -1),
                     SESSION_MS / 1000 + 20)
    cluster[victim].start(30)
    rejoined = wait_for("the killed node to rejoin both ISRs",
                        lambda: all(isr == [0, 1, 2] for _, isr in partitions(survivor.bootstrap, TOPIC).values()),
                        60)

    report = finish_and_check(run, threads, survivor.bootstrap, 180)
    print(f"wall clocks jumping by up to 20 h ({len(STEPS) - 1} steps of {STEP_S:.0f} s): "
          f"{len(samples)} samples, no leader or ISR moved, {outcome['commits']} transactions committed; kill -9 of a leader with the clocks apart: new leader "
          f"after {moved:.2f} s, partition 0 silent {longest_gap(run.ack_times[0], killed):.2f} s, back in both "
          f"ISRs {rejoined:.2f} s after. Checker: {report.summary()}")
    assert report.violations() == {}, report.violations()
    assert not run.errors, run.errors[:3]
    assert len(run.history.acked) == 2 * PER_PRODUCER
