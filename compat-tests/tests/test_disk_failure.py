"""A failing disk on one node of three: its data directory sits on a small
tmpfs (mounted in a private mount namespace, gone with the process) that
fills up while an idempotent producer writes with acks=all.

The first write error takes the directory offline, as Kafka does with a
failed log directory: the node refuses appends (KAFKA_STORAGE_ERROR) and
leaves the cluster with a controlled shutdown and exit status 1, so its
leaderships move to in-sync replicas whose disks work. The producer goes
on there: every acknowledged record is read back, exactly once and in
order.

The same with a disk that takes writes but fails every fsync with EIO
from some point on (a FUSE passthrough, harness/faulty_fs.py): the
unsynced records were never acknowledged by that node, and everything
acknowledged is read back from the others."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from harness.cluster import start_cluster, stop_and_check, stop_cluster
from test_replication import partitions, wait_for

HERE = Path(__file__).resolve().parents[1]
MATRIX_CLIENT = "confluent"
DISK_MIB = 8
RECORDS = 12_000  # of 1 KiB: half again the small disk
# Failover within seconds, and leaderships that stay where they moved.
FAILOVER = ["broker.session.timeout.ms=3000", "broker.heartbeat.interval.ms=500",
            "replica.lag.time.max.ms=5000", "auto.leader.rebalance.enable=false"]
MOUNT = 'mkdir -p "$1" && mount -t tmpfs -o size={size}m tmpfs "$1" && shift && exec "$@"'


def private_tmpfs(data_dir, size_mib: int) -> list[str]:
    """A command that mounts a `size_mib` tmpfs on `data_dir` in a mount
    namespace of its own (a user namespace too when not root), then runs
    the rest of its argv there."""
    user = [] if os.geteuid() == 0 else ["-r"]
    return ["unshare", *user, "-m", "--propagation", "private",
            "sh", "-c", MOUNT.format(size=size_mib), "sh", str(data_dir)]


def can_mount_privately(tmp_path) -> bool:
    probe = private_tmpfs(tmp_path / "probe", 1) + ["true"]
    return subprocess.run(probe, capture_output=True).returncode == 0


def produce_numbered(producer, topic: str, report) -> None:
    """RECORDS values of 1 KiB, each starting with its 8-digit number,
    waiting for room in the producer's queue when it is full."""
    filler = b"x" * 1016
    for i in range(RECORDS):
        while True:
            try:
                producer.produce(topic, value=f"{i:08d}".encode() + filler, on_delivery=report)
                break
            except BufferError:
                producer.poll(0.1)
        producer.poll(0)


def read_numbers(bootstrap: str, topic: str, expected: int, timeout: float) -> list[str]:
    """The record numbers of partition 0 from its start, until `expected`
    were read or `timeout` passed."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "reader",
                         "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    consumer.assign([TopicPartition(topic, 0, 0)])
    seen = []
    deadline = time.monotonic() + timeout
    try:
        while len(seen) < expected and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is not None and not msg.error():
                seen.append(msg.value()[:8].decode())
    finally:
        consumer.close()
    return seen


def create_led_by_node2(bootstrap: str, name: str) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    topic = NewTopic(name, num_partitions=1, replica_assignment=[[2, 0, 1]], config={"min.insync.replicas": "2"})
    admin.create_topics([topic], operation_timeout=20)[name].result(timeout=30)
    assert partitions(bootstrap, name)[0] == (2, [0, 1, 2])


def idempotent_producer(bootstrap: str) -> Producer:
    return Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True,
                     "linger.ms": 5, "message.timeout.ms": 120_000})


def assert_node2_left_and_nothing_was_lost(nodes, topic: str, acked: list[str]) -> str:
    """Node 2 (whose disk failed) left with exit status 1, its leadership
    moved, and every record was acknowledged and is read back once, in
    order. Returns the reason node 2 logged."""
    wait_for("the node whose disk failed to leave", lambda: not nodes[2].alive(), 30)
    assert nodes[2].stop() == 1, "a node whose disk failed exits with status 1"
    log = nodes[2].log_path.read_text(errors="replace")
    assert "the data directory is offline" in log, nodes[2].log_tail()
    bootstrap = nodes[0].bootstrap
    leader, isr = partitions(bootstrap, topic)[0]
    assert leader in (0, 1) and 2 not in isr, (leader, isr)
    seen = read_numbers(bootstrap, topic, RECORDS, 60)
    assert sorted(acked) == [f"{i:08d}" for i in range(RECORDS)]
    assert seen == [f"{i:08d}" for i in range(RECORDS)], "every acknowledged record, once, in order"
    return next(line for line in log.splitlines() if "the data directory is offline" in line)


@pytest.fixture
def cluster(tmp_path):
    if not can_mount_privately(tmp_path):
        pytest.skip("no private mount namespace here (unshare -m) for a small failing disk")
    nodes = start_cluster(tmp_path, settings=FAILOVER, wrappers={2: private_tmpfs(tmp_path / "node2", DISK_MIB)})
    yield nodes
    stop_and_check(nodes)


def test_a_full_disk_takes_its_node_out_and_its_leaderships_move(cluster):
    bootstrap = cluster[0].bootstrap
    create_led_by_node2(bootstrap, "full")
    acked, failed = [], []
    producer = idempotent_producer(bootstrap)

    def report(err, msg):
        (failed if err else acked).append(err or msg.value()[:8].decode())

    produce_numbered(producer, "full", report)
    assert producer.flush(120) == 0, "undelivered records"
    assert not failed, failed[:3]
    assert_node2_left_and_nothing_was_lost(cluster, "full", acked)


def test_a_node_alone_with_a_full_disk_refuses_writes_and_still_serves_reads(tmp_path):
    """Alone, no other node could take its partitions: the node stays up,
    answers appends KAFKA_STORAGE_ERROR, serves what it acknowledged, and
    reports the failure with exit status 1 when stopped."""
    from confluent_kafka import KafkaError
    from harness.broker import Broker

    if not can_mount_privately(tmp_path):
        pytest.skip("no private mount namespace here (unshare -m) for a small failing disk")
    node = Broker(tmp_path / "alone", wrapper=private_tmpfs(tmp_path / "alone", DISK_MIB)).start()
    try:
        acked, failed = [], []
        producer = Producer({"bootstrap.servers": node.bootstrap, "acks": "all", "retries": 0,
                             "linger.ms": 5, "message.timeout.ms": 20_000})

        def report(err, msg):
            (failed if err else acked).append(err.code() if err else msg.value()[:8].decode())

        produce_numbered(producer, "alone", report)
        producer.flush(60)
        assert failed and set(failed) == {KafkaError.KAFKA_STORAGE_ERROR}, set(failed)
        assert acked, "the disk took some records before it filled"
        print(f"acknowledged {len(acked)}, refused {len(failed)} (KAFKA_STORAGE_ERROR)")
        assert node.alive(), "a node alone stays up"

        seen = read_numbers(node.bootstrap, "alone", len(acked), 30)
        assert seen == acked, "every acknowledged record is served, in order"
    finally:
        code = node.stop()
    assert code == 1, f"the failure is reported on exit: {code}"


@pytest.fixture
def failing_fsync_disk(tmp_path):
    """node2's data directory on a FUSE passthrough whose fsyncs fail once
    the returned trigger file is written."""
    if not Path("/dev/fuse").exists():
        pytest.skip("no /dev/fuse here for a failing FUSE disk")
    backing, mountpoint, trigger = tmp_path / "node2-disk", tmp_path / "node2", tmp_path / "disk-fails"
    backing.mkdir()
    mountpoint.mkdir()
    fs = subprocess.Popen([sys.executable, "-m", "harness.faulty_fs", str(backing), str(mountpoint), str(trigger)],
                          cwd=HERE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if fs.stdout.readline().strip() != "mounted":
        fs.kill()
        pytest.skip(f"no FUSE mount here: {fs.stderr.read()[-500:]}")
    yield trigger
    subprocess.run(["umount", "-l", str(mountpoint)], check=False)
    fs.wait(10)


def test_a_disk_whose_fsyncs_fail_takes_its_node_out_and_nothing_acknowledged_is_lost(tmp_path, failing_fsync_disk):
    nodes = start_cluster(tmp_path, settings=FAILOVER)
    try:
        bootstrap = nodes[0].bootstrap
        create_led_by_node2(bootstrap, "eio")
        acked, failed = [], []
        producer = idempotent_producer(bootstrap)

        def report(err, msg):
            (failed if err else acked).append(err or msg.value()[:8].decode())
            if len(acked) == RECORDS // 4 and not failing_fsync_disk.exists():
                failing_fsync_disk.write_text("fsync")  # node 2, the leader, can sync no more

        produce_numbered(producer, "eio", report)
        assert producer.flush(120) == 0, "undelivered records"
        assert not failed, failed[:3]
        assert failing_fsync_disk.exists(), "the disk failed while records were acknowledged"
        reason = assert_node2_left_and_nothing_was_lost(nodes, "eio", acked)
        print(f"fsync EIO on the leader after {RECORDS // 4} acks: {reason.split('offline', 1)[1][:120]!r}; "
              f"{RECORDS} acknowledged, all read back once, in order")
    finally:
        stop_cluster(nodes)
