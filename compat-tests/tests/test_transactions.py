"""Exactly-once with real clients: transactional producers (librdkafka via
confluent-kafka, and the Java client), read_committed consumers, a
consume-transform-produce loop killed mid-transaction, an idempotent
producer behind a proxy that loses responses, and a broker killed between
a transaction's produce and its commit."""
from __future__ import annotations

import socket
import struct
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

# Odradek only (this module starts its own brokers); the client family in the
# compatibility matrix (compat-tests/.build/compat-matrix.json).
MATRIX_CLIENT = "confluent+java"

HERE = Path(__file__).resolve().parents[1]
JARS = HERE / ".build" / "jars"
CLASSES = HERE / ".build" / "java-txn-classes"
PARTITIONS = 3
_javac_done: list[bool] = []


def create_topic(bootstrap, topic, partitions=PARTITIONS):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, partitions, 1)], operation_timeout=10)[topic].result(15)


def java(*args: str, timeout=120) -> list[list[str]]:
    if not _javac_done:
        proc = subprocess.run(["javac", "-d", str(CLASSES), "-cp", f"{JARS}/*", "TxnClient.java"],
                              cwd=HERE / "java", capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, f"javac failed:\n{proc.stderr}"
        _javac_done.append(True)
    proc = subprocess.run(["java", "-XX:TieredStopAtLevel=1", "-cp", f"{CLASSES}:{JARS}/*", "TxnClient", *args],
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"java {args[0]} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr[-6000:]}"
    return [line.split(" ") for line in proc.stdout.splitlines() if line.strip()]


def read_all(bootstrap, topic, isolation, timeout=30.0) -> list[tuple[int, int, bytes]]:
    """(partition, offset, value) of everything a consumer with `isolation`
    reads from the beginning up to each partition's end (for read_committed,
    the last stable offset), in delivery order."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "compat-unused", "enable.auto.commit": False,
                         "isolation.level": isolation, "enable.partition.eof": True})
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        out, at_end = [], set()
        deadline = time.monotonic() + timeout
        while len(at_end) < len(partitions):
            assert time.monotonic() < deadline, f"{isolation} read of {topic} did not reach the end: {at_end}"
            for m in consumer.consume(500, timeout=0.5):
                if m.error() is not None:
                    assert m.error().code() == KafkaError._PARTITION_EOF, m.error()
                    at_end.add(m.partition())
                    continue
                at_end.discard(m.partition())
                out.append((m.partition(), m.offset(), m.value()))
        return out
    finally:
        consumer.close()


def confluent_txns(bootstrap, topic, txn_id, txns, per_txn, abort_every) -> list[str]:
    producer = Producer({"bootstrap.servers": bootstrap, "transactional.id": txn_id, "linger.ms": 5})
    producer.init_transactions(30)
    outcome = []
    for i in range(txns):
        producer.begin_transaction()
        for j in range(per_txn):
            producer.produce(topic, key=f"k{j}".encode(), value=f"{i}-{j}".encode(), partition=(i * per_txn + j) % PARTITIONS)
        if i % abort_every == 1:
            producer.flush(30)
            producer.abort_transaction(30)
            outcome.append(f"aborted {i}")
        else:
            producer.commit_transaction(30)
            outcome.append(f"committed {i}")
    return outcome


def values_by_partition(records) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    for p, _, v in records:
        out.setdefault(p, []).append(v.decode())
    return out


@pytest.mark.parametrize("producer", ["confluent", "java"])
def test_read_committed_sees_exactly_the_committed_transactions(start_broker, producer):
    broker = start_broker()
    create_topic(broker.bootstrap, "txn")
    txns, per_txn, abort_every = 12, 10, 3
    if producer == "confluent":
        outcome = confluent_txns(broker.bootstrap, "txn", "compat-txn", txns, per_txn, abort_every)
    else:
        outcome = [" ".join(f) for f in java("produce-txns", broker.bootstrap, "txn", "compat-txn",
                                             str(txns), str(per_txn), str(abort_every))]
    committed = [i for i in range(txns) if i % abort_every != 1]
    assert outcome == [f"{'committed' if i in committed else 'aborted'} {i}" for i in range(txns)]
    expected = {f"{i}-{j}" for i in committed for j in range(per_txn)}
    everything = {f"{i}-{j}" for i in range(txns) for j in range(per_txn)}

    seen = read_all(broker.bootstrap, "txn", "read_committed")
    values = [v.decode() for _, _, v in seen]
    assert Counter(values) == Counter(expected), "read_committed must see each committed record once and nothing else"
    for p, vs in values_by_partition(seen).items():  # in production order within each partition
        keys = [tuple(map(int, v.split("-"))) for v in vs]
        assert keys == sorted(keys), f"partition {p} out of order"
    uncommitted = {v.decode() for _, _, v in read_all(broker.bootstrap, "txn", "read_uncommitted")}
    assert uncommitted == everything, "read_uncommitted sees aborted records too"

    # The Java consumer filters the same way (it reads the aborted-transaction list).
    java_seen = [f[3] for f in java("consume", broker.bootstrap, "txn", "read_committed")]
    assert Counter(java_seen) == Counter(expected)

    # Operators' views through the Java AdminClient.
    admin = java("admin", broker.bootstrap, "txn", "compat-txn")
    last = "CompleteCommit" if (txns - 1) % abort_every != 1 else "CompleteAbort"
    listed = {f[1]: f[2] for f in admin if f[0] == "listed"}
    assert listed["compat-txn"].replace("_", "").lower() == last.lower(), listed
    described = next(f for f in admin if f[0] == "described")
    assert described[2].replace("_", "").lower() == last.lower(), described
    producers = [f for f in admin if f[0] == "producer"]
    assert {int(f[1]) for f in producers} == set(range(PARTITIONS)), producers
    assert {f[2] for f in producers} == {described[3]}, "one producer id, the transactional id's"


def test_consume_transform_produce_is_exactly_once_across_a_sigkill(start_broker):
    broker = start_broker(settings=["group.initial.rebalance.delay.ms=0"])
    create_topic(broker.bootstrap, "in")
    create_topic(broker.bootstrap, "out")
    total = 3000
    producer = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 5})
    for i in range(total):
        producer.produce("in", value=f"v{i:05d}".encode(), partition=i % PARTITIONS)
    assert producer.flush(30) == 0

    argv = [sys.executable, str(HERE / "harness" / "ctp_loop.py"), broker.bootstrap, "in", "out", "ctp", "ctp-1", str(total)]
    first = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    commits = 0
    deadline = time.monotonic() + 90
    while True:
        line = first.stdout.readline()
        assert line, f"loop exited early: {first.wait()} {first.stderr.read()[-3000:]}"
        assert time.monotonic() < deadline, "the loop made no progress"
        commits += line.startswith("committed")
        if commits >= 8 and line.startswith("open"):
            break
    first.kill()  # SIGKILL inside a transaction whose records are already in the log
    first.wait()

    second = subprocess.run(argv, capture_output=True, text=True, timeout=240)
    assert second.returncode == 0, f"restarted loop failed:\n{second.stdout[-2000:]}\n{second.stderr[-4000:]}"
    assert "done" in second.stdout

    out = [v.decode() for _, _, v in read_all(broker.bootstrap, "out", "read_committed")]
    counts = Counter(out)
    dupes = {v: n for v, n in counts.items() if n > 1}
    missing = [f"out:v{i:05d}" for i in range(total) if f"out:v{i:05d}" not in counts]
    uncommitted = len(read_all(broker.bootstrap, "out", "read_uncommitted"))
    print(f"ctp: {commits} transactions before SIGKILL; out holds {len(out)} committed and {uncommitted} records in all")
    assert uncommitted > total, "the killed transaction's records should be in the log (and aborted)"
    assert not dupes, f"{len(dupes)} duplicated outputs, e.g. {list(dupes.items())[:5]}"
    assert not missing, f"{len(missing)} inputs never made it out, e.g. {missing[:5]}"


class ResponseDroppingProxy:
    """A TCP proxy in front of the broker that, for every `every`-th Produce
    response, closes the client's connection instead of forwarding it: the
    batch is in the log but the producer never hears so, and retries."""

    def __init__(self, every: int, max_drops: int):
        self.upstream_port, self.every, self.max_drops = 0, every, max_drops
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.produce_responses = 0
        self.dropped = 0
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            produce_ids: set[int] = set()
            threading.Thread(target=self._pump, args=(client, upstream, produce_ids, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, produce_ids, False), daemon=True).start()

    @staticmethod
    def _read_frame(sock) -> bytes | None:
        head = b""
        while len(head) < 4:
            chunk = sock.recv(4 - len(head))
            if not chunk:
                return None
            head += chunk
        size = struct.unpack(">i", head)[0]
        body = bytearray()
        while len(body) < size:
            chunk = sock.recv(min(65536, size - len(body)))
            if not chunk:
                return None
            body += chunk
        return head + bytes(body)

    def _pump(self, src, dst, produce_ids, requests):
        try:
            while (frame := self._read_frame(src)) is not None:
                if requests:
                    api_key, correlation = struct.unpack(">h", frame[4:6])[0], struct.unpack(">i", frame[8:12])[0]
                    if api_key == 0:
                        produce_ids.add(correlation)
                else:
                    correlation = struct.unpack(">i", frame[4:8])[0]
                    if correlation in produce_ids:
                        with self.lock:
                            self.produce_responses += 1
                            drop = self.dropped < self.max_drops and self.produce_responses % self.every == 0
                            self.dropped += drop
                        if drop:
                            break
                dst.sendall(frame)
        except OSError:
            pass
        for s in (src, dst):  # shutdown also wakes the other direction's blocked recv
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def close(self):
        self.listener.close()


def produce_through(proxy_port, topic, n, idempotent) -> int:
    producer = Producer({"bootstrap.servers": f"127.0.0.1:{proxy_port}", "acks": "all", "linger.ms": 2,
                         "enable.idempotence": idempotent, "message.timeout.ms": 60000,
                         "batch.num.messages": 20, "reconnect.backoff.ms": 10, "reconnect.backoff.max.ms": 100})
    errors = []
    for i in range(n):
        producer.produce(topic, value=f"m{i:05d}".encode(), partition=0,
                         on_delivery=lambda err, msg: err and errors.append(err))
        producer.poll(0)
    assert producer.flush(90) == 0
    assert not errors, errors[:5]
    return n


def test_an_idempotent_producer_leaves_no_duplicates_when_responses_are_lost(start_broker):
    n = 2000
    results = {}
    for topic, idempotent in (("plain", False), ("idem", True)):
        # The broker advertises the proxy, so every connection goes through it.
        proxy = ResponseDroppingProxy(every=7, max_drops=4)
        broker = start_broker(settings=[f"advertised.listeners=PLAINTEXT://127.0.0.1:{proxy.port}"])
        proxy.upstream_port = broker.port
        create_topic(broker.bootstrap, topic, 1)
        produce_through(proxy.port, topic, n, idempotent)
        proxy.close()
        values = [v.decode() for _, _, v in read_all(broker.bootstrap, topic, "read_uncommitted")]
        counts = Counter(values)
        results[topic] = (proxy.dropped, len(values), sum(c - 1 for c in counts.values()))
        assert set(counts) == {f"m{i:05d}" for i in range(n)}, f"{topic}: records lost"
    print(f"responses dropped, records in log, duplicates: {results}")
    assert results["plain"][0] >= 1 and results["idem"][0] >= 1, "the proxy dropped nothing: the test proves nothing"
    # Without idempotence the retries duplicate records: the proxy really bites.
    assert results["plain"][2] > 0, "expected duplicates without idempotence"
    assert results["idem"][2] == 0, "idempotent producer duplicated records"


def test_a_broker_killed_mid_transaction_completes_it_after_restart(start_broker):
    broker = start_broker()
    create_topic(broker.bootstrap, "t")
    producer = Producer({"bootstrap.servers": broker.bootstrap, "transactional.id": "survivor", "linger.ms": 5,
                         "reconnect.backoff.max.ms": 200})
    producer.init_transactions(30)
    producer.begin_transaction()
    for i in range(30):
        producer.produce("t", value=f"in-flight-{i}".encode(), partition=i % PARTITIONS)
    assert producer.flush(30) == 0  # acknowledged, not committed

    broker.kill()
    restarted = start_broker(data_dir=broker.data_dir, port=broker.port)
    assert read_all(restarted.bootstrap, "t", "read_committed") == [], "uncommitted records are not visible"
    producer.commit_transaction(60)  # librdkafka reconnects and retries EndTxn
    seen = sorted(v.decode() for _, _, v in read_all(restarted.bootstrap, "t", "read_committed"))
    assert seen == sorted(f"in-flight-{i}" for i in range(30))


def test_an_abandoned_transaction_is_aborted_after_its_timeout(start_broker):
    broker = start_broker(settings=["transaction.abort.timed.out.transaction.cleanup.interval.ms=500"])
    create_topic(broker.bootstrap, "t", 1)
    zombie = Producer({"bootstrap.servers": broker.bootstrap, "transactional.id": "abandoned",
                       "transaction.timeout.ms": 3000, "linger.ms": 1})
    zombie.init_transactions(30)
    zombie.begin_transaction()
    zombie.produce("t", value=b"never-committed", partition=0)
    assert zombie.flush(30) == 0
    broker.kill()  # ...and the producer is never heard from again
    restarted = start_broker(data_dir=broker.data_dir, port=broker.port,
                             settings=["transaction.abort.timed.out.transaction.cleanup.interval.ms=500"])
    plain = Producer({"bootstrap.servers": restarted.bootstrap, "linger.ms": 1})
    plain.produce("t", value=b"after", partition=0)
    assert plain.flush(30) == 0
    # The LSO is stuck behind the open transaction until the coordinator aborts it.
    seen = []
    deadline = time.monotonic() + 30
    while b"after" not in seen:
        assert time.monotonic() < deadline, "the last stable offset stayed stuck past the transaction timeout"
        seen = [v for _, _, v in read_all(restarted.bootstrap, "t", "read_committed")]
        time.sleep(0.5)
    assert seen == [b"after"]
