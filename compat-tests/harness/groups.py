"""Group consumers as separate processes (so they can be SIGKILLed), and the
confluent-kafka admin / producer calls the group tests check them with.

A worker speaks the group lines of clients/__init__.py; every line is kept
with the monotonic time it arrived.
"""
from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from harness.data import dec

HERE = Path(__file__).resolve().parents[1]


@dataclass
class Line:
    at: float
    fields: list[str]


class GroupWorker:
    def __init__(self, name: str, argv: list[str], log_dir: Path):
        self.name = name
        self.lines: list[Line] = []
        self.cond = threading.Condition()
        self.stderr_path = log_dir / f"worker-{name}.stderr"
        self.proc = subprocess.Popen(argv, cwd=HERE, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=open(self.stderr_path, "wb"), text=True, start_new_session=True)
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self):
        for raw in self.proc.stdout:
            line = Line(time.monotonic(), raw.split())
            with self.cond:
                self.lines.append(line)
                self.cond.notify_all()

    def wait_until(self, predicate, timeout: float, what: str):
        """Waits until predicate(self) is true; fails with the worker's output."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while not predicate(self):
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not predicate(self)):
                    raise AssertionError(f"{self.name}: {what} (exit {self.proc.poll()})\n{self.describe()}")
                self.cond.wait(min(left, 0.2))

    def describe(self) -> str:
        tail = [" ".join(l.fields) for l in self.lines if l.fields[0] != "record"][-30:]
        try:
            err = self.stderr_path.read_text(errors="replace")[-4000:]
        except OSError:
            err = ""
        return "stdout (no record lines):\n" + "\n".join(tail) + "\nstderr:\n" + err

    # --- what the worker reported ------------------------------------------------
    def assignments(self) -> list[tuple[float, int, frozenset[int]]]:
        """Every `assigned` line: (arrival, generation, partitions)."""
        out = []
        for l in list(self.lines):
            if l.fields[0] == "assigned":
                parts = frozenset() if l.fields[2] == "-" else frozenset(int(p) for p in l.fields[2].split(","))
                out.append((l.at, int(l.fields[1]), parts))
        return out

    def owned(self) -> frozenset[int]:
        a = self.assignments()
        return a[-1][2] if a else frozenset()

    def generations(self) -> list[int]:
        """Generations the client reported (from `assigned` and `generation` lines), -1 left out."""
        gens = []
        for l in list(self.lines):
            if l.fields[0] == "assigned" and int(l.fields[1]) >= 0:
                gens.append(int(l.fields[1]))
            elif l.fields[0] == "generation":
                gens.append(int(l.fields[1]))
        return gens

    def records(self, since: float = 0.0) -> list[tuple[int, int, bytes]]:
        """(partition, offset, key) of every record line arrived after `since`."""
        return [(int(l.fields[1]), int(l.fields[2]), dec(l.fields[3]))
                for l in list(self.lines) if l.fields[0] == "record" and l.at >= since]

    # --- ending it -----------------------------------------------------------------
    def kill(self) -> float:
        """SIGKILL; returns the monotonic time it was sent."""
        at = time.monotonic()
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)
        return at

    def close(self, timeout: float = 60):
        """EOF on stdin: the consumer closes cleanly and the process exits 0."""
        if self.proc.poll() is None:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"{self.name} did not close in {timeout}s\n{self.describe()}")
        assert self.proc.returncode == 0, f"{self.name} exited {self.proc.returncode}\n{self.describe()}"

    def stop_quietly(self):
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(10)


def wait_for(predicate, timeout: float, what: str, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s: {what}")
        time.sleep(interval)


# --- checks through confluent-kafka (librdkafka): DescribeGroups, OffsetFetch ---------
def admin(bootstrap: str) -> AdminClient:
    return AdminClient({"bootstrap.servers": bootstrap})


def create_topic(bootstrap: str, topic: str, partitions: int):
    a = admin(bootstrap)  # kept alive until the future is done
    a.create_topics([NewTopic(topic, partitions, 1)], operation_timeout=10)[topic].result(15)


def produce_keyed(bootstrap: str, topic: str, partitions: int, start: int, count: int) -> list[bytes]:
    """Records k<i> for i in [start, start+count), record i to partition i % partitions."""
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5, "enable.idempotence": False})
    errors = []
    keys = []
    for i in range(start, start + count):
        key = f"k{i:06d}".encode()
        keys.append(key)
        producer.produce(topic, key=key, value=b"v" * 20, partition=i % partitions,
                         on_delivery=lambda err, msg: err and errors.append(err))
    assert producer.flush(30) == 0 and not errors, errors
    return keys


def describe_group(bootstrap: str, group: str):
    """(state, {member_id: (group_instance_id, frozenset(partitions))}) as DescribeGroups reports it."""
    a = admin(bootstrap)
    d = a.describe_consumer_groups([group], request_timeout=10)[group].result(15)
    members = {m.member_id: (m.group_instance_id, frozenset(tp.partition for tp in m.assignment.topic_partitions))
               for m in d.members}
    return d.state.name, members


def committed(bootstrap: str, group: str, topic: str, partitions: int) -> dict[int, int]:
    """OffsetFetch: partition -> committed offset (-1001, librdkafka's "invalid", when none)."""
    req = [ConsumerGroupTopicPartitions(group, [TopicPartition(topic, p) for p in range(partitions)])]
    a = admin(bootstrap)
    res = a.list_consumer_group_offsets(req, request_timeout=10)[group].result(15)
    return {tp.partition: tp.offset for tp in res.topic_partitions}


def end_offsets(bootstrap: str, topic: str, partitions: int) -> dict[int, int]:
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "compat-watermarks"})
    try:
        return {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in range(partitions)}
    finally:
        c.close()
