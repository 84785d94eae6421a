"""Client failover on three real processes (issue 12 E4): confluent-kafka,
kafka-python, the Java client and franz-go each produce (idempotent,
acks=all, min.insync.replicas=2) while a group consumer of the same client
reads along, and the leader of one partition is killed with SIGKILL midway.
The queue checker reads the history: nothing acknowledged is lost or
duplicated, each partition is in order and without gaps, the live consumer
skips nothing and sees every acknowledged record. The longest silence of
the killed leader's partition is printed.

Then a transactional consume-transform-produce loop (confluent-kafka) runs
while the node that coordinates its transactions, and leads some of its
partitions, is killed: read_committed readers of its output see each input
exactly once.

Last, raw requests check KIP-890's verification of transactional writes by
a transaction coordinator on another broker."""
from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from confluent_kafka import Producer

from clients.confluent import ConfluentClient
from clients.franz import FranzClient
from clients.java import JavaClient
from clients.kafka_python import KafkaPythonClient
from harness import wire
from harness.cluster import partitions, read_partitions, start_cluster, stop_and_check
from harness.queue_checker import History, check
from test_replication import FAILOVER_SETTINGS, SESSION_MS, create_replicated, wait_for

HERE = Path(__file__).resolve().parents[1]
MATRIX_CLIENT = "confluent"  # the transactional loop's client; the others are parametrized
CLIENTS = [ConfluentClient(), KafkaPythonClient(), JavaClient(), FranzClient()]
COUNT = 3000
PARTITIONS = 2
INVALID_TXN_STATE = 48
TRANSACTION_COORDINATOR_FENCED = 52


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    nodes = start_cluster(tmp_path_factory.mktemp("client-failover"), settings=[
        *FAILOVER_SETTINGS,
        "offsets.topic.replication.factor=3",
        "offsets.topic.num.partitions=3",
        "transaction.state.log.replication.factor=3",
        "transaction.state.log.num.partitions=1",
        "group.initial.rebalance.delay.ms=0",
    ])
    yield nodes
    stop_and_check(nodes)


class Lines:
    """A process's stdout lines as they come, each with the time it was read."""

    def __init__(self, proc: subprocess.Popen):
        self.proc, self.lines, self.lock = proc, [], threading.Lock()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            with self.lock:
                self.lines.append((time.monotonic(), line.split()))

    def count(self, kind: str) -> int:
        with self.lock:
            return sum(1 for _, f in self.lines if f and f[0] == kind)

    def of(self, kind: str) -> list[tuple[float, list[str]]]:
        with self.lock:
            return [(t, f) for t, f in self.lines if f and f[0] == kind]


def create_everywhere(cluster, topic: str, configs=None) -> None:
    """A replicated topic, once every node's metadata has it led."""
    create_replicated(cluster[0].bootstrap, topic, PARTITIONS, configs)
    wait_for(f"every node to know {topic}'s leaders",
             lambda: all(len(partitions(n.bootstrap, topic)) == PARTITIONS
                         and all(leader >= 0 for leader, _ in partitions(n.bootstrap, topic).values())
                         for n in cluster), 30)


def rejoined(cluster, node: int, topic: str):
    cluster[node].start(30)
    survivor = cluster[(node + 1) % 3]
    wait_for(f"node {node} back in every ISR of {topic}",
             lambda: all(len(isr) == 3 for _, isr in partitions(survivor.bootstrap, topic).values()), 60)


@pytest.mark.parametrize("client", [pytest.param(c, id=c.name) for c in CLIENTS], indirect=True)
def test_a_client_produces_and_consumes_through_a_leader_kill(client, cluster):
    bootstrap = ",".join(node.bootstrap for node in cluster)
    topic = f"failover-{client.name}"
    create_everywhere(cluster, topic, {"min.insync.replicas": "2"})
    victim = partitions(cluster[0].bootstrap, topic)[0][0]
    argv = client.failover_argv(bootstrap, topic, COUNT, f"{topic}-readers")
    proc = subprocess.Popen(argv, cwd=HERE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out = Lines(proc)
    try:
        wait_for("a third of the records acknowledged", lambda: out.count("ack") >= COUNT // 3, 90)
        cluster[victim].kill()
        killed = time.monotonic()
        proc.wait(200)
    finally:
        if proc.poll() is None:
            proc.kill()
    out.reader.join(10)
    stderr = proc.stderr.read()
    problems = [" ".join(f) for _, f in out.of("error")]
    assert proc.returncode == 0 and not problems, f"exit {proc.returncode}: {problems[:5]}\n{stderr[-3000:]}"
    assert out.count("produced") == 1 and out.count("done") == 1, stderr[-3000:]

    history = History()
    history.sent = {f"v-{i}" for i in range(COUNT)}
    acks = out.of("ack")
    assert Counter(f[3] for _, f in acks).most_common(1)[0][1] == 1, "one acknowledgement per record"
    history.acked = {f[3]: (int(f[1]), int(f[2])) for _, f in acks}
    history.polled = [(int(f[1]), int(f[2]), f[3]) for _, f in out.of("record")]
    survivor = cluster[(victim + 1) % 3]
    final = read_partitions(survivor.bootstrap, topic, range(PARTITIONS), f"{topic}-check")
    report = check(history, final)
    assert not report.violations(), report.summary()
    assert len(history.acked) == COUNT

    ack_times = sorted(t for t, f in acks if f[1] == "0")
    before = max((t for t in ack_times if t <= killed), default=killed)
    after = min(t for t in ack_times if t > killed)
    commit_failures = out.count("commit-failed")
    print(f"{client.name} through kill -9 of a leader (session {SESSION_MS} ms): {COUNT} acked, "
          f"0 lost/duplicated/reordered; partition 0 silent {after - before:.2f} s; consumer re-read "
          f"{report.redelivered} records, {commit_failures} commits failed")
    rejoined(cluster, victim, topic)


def test_a_transactional_loop_stays_exact_through_a_coordinator_and_leader_kill(cluster):
    bootstrap = ",".join(node.bootstrap for node in cluster)
    create_everywhere(cluster, "ctp-in")
    create_everywhere(cluster, "ctp-out")
    total = 3000
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, "acks": "all"})
    for i in range(total):
        producer.produce("ctp-in", value=f"v{i:05d}".encode(), partition=i % PARTITIONS)
    assert producer.flush(30) == 0
    # The loop's transactional id is coordinated by the only partition of
    # __transaction_state (its leader is the victim, once the loop began);
    # its group by another broker, so that its offset commits go to a
    # group coordinator that must take them without the transaction's state.
    group = group_coordinated_apart(cluster)
    argv = [sys.executable, str(HERE / "harness" / "ctp_loop.py"), bootstrap, "ctp-in", "ctp-out", group,
            "ctp-failover", str(total)]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out = Lines(proc)
    try:
        try:
            wait_for("five transactions", lambda: out.count("committed") >= 5, 90)
        except AssertionError:
            proc.kill()
            raise AssertionError(f"the loop made no progress: {out.lines[-5:]}\n{proc.stderr.read()[-3000:]}")
        victim = partitions(cluster[0].bootstrap, "__transaction_state")[0][0]
        led = sorted(t for t in ("ctp-in", "ctp-out")
                     for p, (leader, _) in partitions(cluster[0].bootstrap, t).items() if leader == victim)
        cluster[victim].kill()
        before = out.count("committed")
        proc.wait(240)
    finally:
        if proc.poll() is None:
            proc.kill()
    out.reader.join(10)
    assert proc.returncode == 0, f"the loop failed:\n{proc.stderr.read()[-4000:]}"
    assert out.count("done") == 1

    survivor = cluster[(victim + 1) % 3]
    committed = [v for _, _, v in read_committed(survivor.bootstrap, "ctp-out")]
    counts = Counter(committed)
    dupes = {v: n for v, n in counts.items() if n > 1}
    missing = [i for i in range(total) if f"out:v{i:05d}" not in counts]
    assert not dupes, f"{len(dupes)} duplicated outputs, e.g. {list(dupes.items())[:5]}"
    assert not missing, f"{len(missing)} inputs never made it out, e.g. {missing[:5]}"
    assert len(committed) == total
    print(f"ctp loop through kill -9 of its transaction coordinator (which led partitions of {led}): "
          f"{before} transactions before, {out.count('committed') - before} after; {total} outputs, exactly once")
    rejoined(cluster, victim, "ctp-out")


def java_hash(text: str) -> int:
    """Java's String.hashCode (ASCII text), as a signed 32-bit int."""
    h = 0
    for c in text:
        h = (31 * h + ord(c)) & 0xFFFFFFFF
    return h - (1 << 32) if h >= 1 << 31 else h


def group_coordinated_apart(cluster) -> str:
    """A group id whose coordinator (the leader of its __consumer_offsets
    partition, found as Kafka does) is not the transaction coordinator."""
    from confluent_kafka import Consumer
    bootstrap = ",".join(node.bootstrap for node in cluster)
    probe = Producer({"bootstrap.servers": bootstrap, "transactional.id": "ctp-probe"})
    probe.init_transactions(30)  # __transaction_state exists from here on
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "ctp-probe"})
    consumer.subscribe(["ctp-in"])
    consumer.consume(1, timeout=3)  # and __consumer_offsets
    consumer.close()
    txn_leader = partitions(bootstrap, "__transaction_state")[0][0]
    offsets = partitions(bootstrap, "__consumer_offsets")
    for k in range(100):
        group = f"ctp-group-{k}"
        hash_ = java_hash(group)
        if offsets[(0 if hash_ == -(1 << 31) else abs(hash_)) % len(offsets)][0] not in (txn_leader, -1):
            return group
    raise AssertionError(f"no group coordinated apart from {txn_leader}: {offsets}")


def read_committed(bootstrap: str, topic: str) -> list[tuple[int, int, str]]:
    """Every committed record of `topic` (read_committed, to the last stable offset)."""
    from confluent_kafka import Consumer, KafkaError, TopicPartition, OFFSET_BEGINNING
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"{topic}-check", "enable.auto.commit": False,
                         "isolation.level": "read_committed", "enable.partition.eof": True})
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(PARTITIONS)])
    records, at_end = [], set()
    deadline = time.monotonic() + 60
    try:
        while len(at_end) < PARTITIONS:
            assert time.monotonic() < deadline, f"read_committed of {topic}: only {at_end} read to the end"
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            if msg.error():
                if msg.error().code() == KafkaError._PARTITION_EOF:
                    at_end.add(msg.partition())
                continue
            records.append((msg.partition(), msg.offset(), msg.value().decode()))
    finally:
        consumer.close()
    return records


def found_coordinator(cluster, key: str, key_type: int) -> int:
    """The node coordinating `key` (key_type 0: a group, 1: a transactional id)."""
    found = {}

    def answered() -> bool:
        error, node = wire.find_coordinator_v1(cluster[0].port, key, key_type)
        found["node"] = node
        return error == 0

    wait_for(f"a coordinator for {key}", answered, 30)
    return found["node"]


def test_transactional_writes_are_verified_by_a_coordinator_on_another_broker(cluster):
    """KIP-890: a partition leader accepts a transactional write only once
    the transaction's coordinator, another broker here, says the partition
    (or the group's offsets) is in the ongoing transaction. Then a write
    arriving after the transaction ended is refused instead of opening a
    transaction no coordinator knows, which would pin the partition's last
    stable offset. And the leader refuses markers from a coordinator older
    than the last one it heard from. Raw requests, so that the writes can
    be out of turn."""
    topic, txn_id = "verified", "verified-txn"
    create_replicated(cluster[0].bootstrap, topic, 3)
    wait_for(f"every node to know {topic}'s leaders",
             lambda: all(sorted(partitions(n.bootstrap, topic)) == [0, 1, 2]
                         and all(leader >= 0 for leader, _ in partitions(n.bootstrap, topic).values())
                         for n in cluster), 30)
    coordinator = cluster[found_coordinator(cluster, txn_id, 1)]
    producer = {}

    def initialised() -> bool:
        error, producer["id"], producer["epoch"] = wire.init_producer_id_v1(coordinator.port, txn_id)
        return error == 0

    wait_for("InitProducerId", initialised, 30)
    pid, epoch = producer["id"], producer["epoch"]
    apart = [(p, leader) for p, (leader, _) in sorted(partitions(cluster[0].bootstrap, topic).items())
             if cluster[leader] is not coordinator]
    assert apart, f"every partition of {topic} is led by the transaction coordinator"
    partition, leader = apart[0]
    leader_port = cluster[leader].port

    def produce(sequence: int) -> tuple[int, str | None]:
        batch = wire.transactional_batch(pid, epoch, sequence, [f"v{sequence}".encode()])
        return wire.produce_v8_transactional(leader_port, txn_id, topic, partition, batch)

    error, message = produce(0)
    assert error == INVALID_TXN_STATE, f"a write to a partition not in the transaction: {error} {message}"
    assert wire.add_partitions_to_txn_v1(coordinator.port, txn_id, pid, epoch, topic, [partition]) == {partition: 0}
    assert produce(0) == (0, None)
    assert produce(1) == (0, None)

    group = next(g for g in (f"verified-group-{k}" for k in range(100))
                 if cluster[found_coordinator(cluster, g, 0)] is not coordinator)
    group_port = cluster[found_coordinator(cluster, group, 0)].port
    commit = lambda: wire.txn_offset_commit_v1(group_port, txn_id, group, pid, epoch, topic, partition, 2)
    assert commit() == INVALID_TXN_STATE, "offsets of a group whose offsets the transaction did not add"
    assert wire.add_offsets_to_txn_v1(coordinator.port, txn_id, pid, epoch, group) == 0
    assert commit() == 0

    assert wire.end_txn_v1(coordinator.port, txn_id, pid, epoch, True) == 0
    error, message = produce(2)
    assert error == INVALID_TXN_STATE, f"a write of the ended transaction: {error} {message}"
    # A marker from a coordinator older than the one that ended the
    # transaction (a deposed one) is refused: TRANSACTION_COORDINATOR_FENCED.
    fenced = wire.write_txn_markers_v0(leader_port, pid, epoch, False, topic, partition, coordinator_epoch=-1)
    assert fenced == TRANSACTION_COORDINATOR_FENCED, f"a zombie coordinator's abort marker: {fenced}"
    # Nothing hangs: batches 0 and 1 and the commit marker, all stable.
    wait_for(f"{topic}-{partition}'s last stable offset at its high watermark, 3",
             lambda: (lambda f: (f["high_watermark"], f["last_stable_offset"]) == (3, 3))(
                 wire.fetch_partition(leader_port, topic, partition, isolation=1)), 10)
