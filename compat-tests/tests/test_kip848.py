"""KIP-848 consumer groups (group.protocol=consumer) with real clients:
librdkafka (confluent-kafka) and Apache kafka-clients 3.9.1.

Per client: three members consume a 6-partition topic, every partition
owned by exactly one of them; one member is SIGKILLed and its partitions
move to the others after the session timeout (measured); one leaves
cleanly and the last member gets everything; the broker restarts and a new
member resumes from the committed offsets, reading each record once.
"""
from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from clients.java import CLASSES, JARS, JavaClient

# Odradek only (this module starts its own brokers); the client family in the
# compatibility matrix (compat-tests/.build/compat-matrix.json).
MATRIX_CLIENT = "confluent+java"

HERE = Path(__file__).resolve().parents[1]
PARTITIONS = 6
SESSION_MS = 6000
SETTINGS = (f"group.consumer.session.timeout.ms={SESSION_MS}", "group.consumer.heartbeat.interval.ms=500")
# Generous: the machine is shared by several builds.
WAIT = 90.0


class Worker:
    """One group member in its own process; its lines are collected as they come."""

    def __init__(self, argv: list[str], name: str):
        self.name = name
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.owned: set[int] = set()
        self.records: list[tuple[int, int]] = []
        self.lines: list[str] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._pump, daemon=True).start()
        self.err: list[str] = []
        threading.Thread(target=lambda: self.err.extend(self.proc.stderr), daemon=True).start()

    def _pump(self):
        for line in self.proc.stdout:
            line = line.strip()
            with self.lock:
                self.lines.append(line)
                kind, _, rest = line.partition(" ")
                if kind == "owned":
                    self.owned = set() if rest == "-" else {int(p) for p in rest.split(",")}
                elif kind == "record":
                    p, o = rest.split()
                    self.records.append((int(p), int(o)))

    def snapshot(self):
        with self.lock:
            return set(self.owned), list(self.records)

    def kill(self):
        self.proc.kill()
        self.proc.wait()

    def close(self, timeout=60):
        """Closes stdin: the member leaves the group and exits."""
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError(f"{self.name} did not close; last lines {self.lines[-10:]}")
        assert self.proc.returncode == 0, f"{self.name} exited {self.proc.returncode}: {''.join(self.err[-30:])}"

    def describe(self):
        return f"{self.name}: owned {sorted(self.owned)}, last lines {self.lines[-5:]}, stderr {''.join(self.err[-5:])[-2000:]}"


def confluent_worker(bootstrap, topic, group, name):
    return Worker([sys.executable, str(HERE / "clients" / "group_worker_confluent.py"), bootstrap, topic, group], name)


def java_worker(bootstrap, topic, group, name):
    return Worker(JavaClient.argv + ["group-consume", bootstrap, topic, group], name)


WORKERS = {"confluent": confluent_worker, "java": java_worker}


def wait_for(what, check, workers, timeout=WAIT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}:\n" + "\n".join(w.describe() for w in workers))


def owned_once(workers) -> bool:
    """Every partition owned by exactly one live member, each member owning some."""
    sets = [w.snapshot()[0] for w in workers]
    flat = [p for s in sets for p in s]
    return sorted(flat) == list(range(PARTITIONS)) and all(sets)


def produce(bootstrap, topic, per_partition, tag):
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": False})
    for p in range(PARTITIONS):
        for i in range(per_partition):
            producer.produce(topic, value=f"{tag}-{p}-{i}".encode(), partition=p)
    assert producer.flush(30) == 0


def consumed(workers) -> set[tuple[int, int]]:
    return {r for w in workers for r in w.snapshot()[1]}


@pytest.fixture(scope="module", autouse=True)
def compiled_java():
    if not (JARS / "kafka-clients.jar").exists():
        pytest.fail("kafka-clients jars missing (compat-tests/run.sh installs them)")
    JavaClient().prepare()
    assert (CLASSES / "CompatClient.class").exists()


@pytest.mark.parametrize("client", sorted(WORKERS))
def test_consumer_protocol_group(client, start_broker):
    broker = start_broker(settings=SETTINGS)
    bootstrap = broker.bootstrap
    topic, group = f"kip848-{client}", f"group-{client}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, PARTITIONS, 1)], operation_timeout=10)[topic].result(15)
    produce(bootstrap, topic, 10, "a")
    first = {(p, o) for p in range(PARTITIONS) for o in range(10)}

    make = WORKERS[client]
    workers = [make(bootstrap, topic, group, f"{client}-{i}") for i in range(3)]
    try:
        wait_for("three members to own every partition once", lambda: owned_once(workers), workers)
        wait_for("the first 60 records", lambda: consumed(workers) >= first, workers)

        # The group as the admin API sees it: a consumer-type group, Stable, three members.
        listed = admin.list_consumer_groups().result(15)
        mine = [g for g in listed.valid if g.group_id == group]
        assert mine and str(mine[0].type).endswith("CONSUMER"), listed.valid
        desc = admin.describe_consumer_groups([group])[group].result(15)
        assert len(desc.members) == 3, desc
        assigned = sorted(tp.partition for m in desc.members for tp in m.assignment.topic_partitions)
        assert assigned == list(range(PARTITIONS)), desc

        # SIGKILL one member: after the session timeout the others take its partitions.
        victim = workers.pop(0)
        lost = victim.snapshot()[0]
        victim.kill()
        killed_at = time.monotonic()
        wait_for("the survivors to own every partition", lambda: owned_once(workers), workers)
        moved_after = time.monotonic() - killed_at
        print(f"{client}: partitions {sorted(lost)} of the killed member moved after {moved_after:.1f}s "
              f"(session timeout {SESSION_MS / 1000:.0f}s)")
        assert moved_after >= SESSION_MS / 1000 - 1.5, "moved before the session could expire"

        produce(bootstrap, topic, 5, "b")
        second = {(p, o) for p in range(PARTITIONS) for o in range(10, 15)}
        wait_for("the next 30 records by the survivors", lambda: consumed(workers) >= second, workers)

        # A clean leave: the last member gets everything without waiting for a session.
        leaver = workers.pop(0)
        left_at = time.monotonic()
        leaver.close()
        wait_for("the last member to own all partitions", lambda: workers[0].snapshot()[0] == set(range(PARTITIONS)), workers)
        print(f"{client}: after a clean leave the last member owned all partitions in {time.monotonic() - left_at:.1f}s")
        for w in workers:
            w.close()
        workers = []

        # The group and its offsets survive a broker restart; a new member resumes.
        assert broker.stop() == 0
        broker = start_broker(settings=SETTINGS, data_dir=broker.data_dir, port=broker.port)
        produce(bootstrap, topic, 3, "c")
        third = {(p, o) for p in range(PARTITIONS) for o in range(15, 18)}
        workers = [make(bootstrap, topic, group, f"{client}-resumed")]
        wait_for("the resumed member to read the new records", lambda: consumed(workers) >= third, workers)
        time.sleep(2)  # anything older would show up by now
        again = consumed(workers) - third
        assert not again, f"records read again after the restart: {sorted(again)}"
        workers[0].close()
        workers = []
    finally:
        for w in workers:
            w.kill()
