"""The body of scripts/kill-leaders (see there)."""
from __future__ import annotations

import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "compat-tests"))

from confluent_kafka import Producer  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

from harness.cluster import partitions, read_partitions, start_cluster, stop_cluster  # noqa: E402
from harness.kafka import start_kafka_cluster  # noqa: E402
from harness.queue_checker import History, check  # noqa: E402

KILLS = int(os.environ.get("KILLS", "100"))
SESSION_MS = os.environ.get("SESSION_MS")
# odradek, or kafka: Apache Kafka 4.4 (compat-tests' jars), three combined nodes.
TARGET = os.environ.get("TARGET", "odradek")
TOPIC = "kills"
PARTITIONS = 3


def wait_for(what: str, condition, timeout: float) -> float:
    started = time.monotonic()
    while True:
        try:
            if condition():
                return time.monotonic() - started
        except Exception:  # a node answering nothing yet: ask again
            pass
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"{what}: not within {timeout} s")
        time.sleep(0.05)


class Producing:
    """An idempotent acks=all producer, paced, until stopped."""

    def __init__(self, bootstrap: str):
        self.history = History()
        self.ack_times: list[float] = []  # partition 0's acknowledgements
        self.stop = False
        self.thread = threading.Thread(target=self.run, args=(bootstrap,))

    def run(self, bootstrap: str):
        producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True,
                             "linger.ms": 2, "message.timeout.ms": 300000, "log_level": 0})
        i = 0
        while not self.stop:
            value = f"k-{i}"
            self.history.sent.add(value)
            producer.produce(TOPIC, value=value.encode(), partition=i % PARTITIONS,
                             on_delivery=lambda err, msg, v=value: self.report(err, msg, v))
            producer.poll(0)
            i += 1
            time.sleep(0.001)
        producer.flush(300)

    def report(self, err, msg, value):
        if err:
            self.history.failed.add(value)
            return
        self.history.acked[value] = (msg.partition(), msg.offset())
        if msg.partition() == 0:
            self.ack_times.append(time.monotonic())


def unavailability(ack_times: list[float], killed_at: float, settled_at: float) -> float:
    """The longest silence between consecutive acknowledgements from a
    second before the kill until the cluster settled: an acknowledgement
    the victim sent just before it died, delivered just after, does not
    hide the outage."""
    window = [t for t in ack_times if killed_at - 1.0 <= t <= settled_at]
    return max((b - a for a, b in zip(window, window[1:])), default=float("nan"))


def main() -> int:
    settings = [f"broker.session.timeout.ms={SESSION_MS}"] if SESSION_MS else []
    with tempfile.TemporaryDirectory() as base:
        start = start_kafka_cluster if TARGET == "kafka" else start_cluster
        nodes = start(Path(base), settings=settings)
        try:
            bootstrap = ",".join(n.bootstrap for n in nodes)
            admin = AdminClient({"bootstrap.servers": bootstrap})
            topic = NewTopic(TOPIC, PARTITIONS, 3, config={"min.insync.replicas": "2"})
            admin.create_topics([topic], operation_timeout=20)[TOPIC].result(timeout=30)
            load = Producing(bootstrap)
            load.thread.start()
            wait_for("first acknowledgements", lambda: len(load.ack_times) > 100, 60)
            gaps = []
            for kill in range(KILLS):
                victim = partitions(bootstrap, TOPIC)[0][0]
                observer = nodes[(victim + 1) % 3].bootstrap
                killed_at = time.monotonic()
                nodes[victim].kill()
                elected = wait_for("a new leader",
                                   lambda: partitions(observer, TOPIC)[0][0] not in (victim, -1), 120)
                restarted = time.monotonic()
                nodes[victim].launch().wait_ready(180)
                ready = time.monotonic() - restarted
                rejoined = wait_for("full ISRs",
                                    lambda: all(isr == [0, 1, 2] for _, isr in partitions(observer, TOPIC).values()), 180)
                wait_for("an acknowledgement after the kill", lambda: load.ack_times[-1] > killed_at + 1, 120)
                gaps.append(unavailability(list(load.ack_times), killed_at, time.monotonic()))
                print(f"kill {kill + 1}/{KILLS}: node {victim}; new leader seen after {elected:.1f} s; "
                      f"restarted in {ready:.1f} s, back in every ISR {rejoined:.1f} s later; "
                      f"partition 0 unavailable {gaps[-1]:.2f} s", flush=True)
            load.stop = True
            load.thread.join(600)
            print(f"stopped producing; reading back {len(load.history.acked)} records", flush=True)
            final = read_partitions(bootstrap, TOPIC, range(PARTITIONS), "kills-final", within=600)
            report = check(load.history, final)
        finally:
            stop_cluster(nodes)
    gaps.sort()
    p99 = gaps[min(len(gaps) - 1, int(len(gaps) * 0.99))]
    print(f"{TARGET}: {KILLS} leader kills (session {SESSION_MS or 'default'} ms): partition 0 unavailable "
          f"median {statistics.median(gaps):.2f} s, p99 {p99:.2f} s, max {gaps[-1]:.2f} s; "
          f"{len(load.history.acked)} acknowledged; checker: {report.summary()}")
    violations = report.violations()
    if violations:
        print(f"violations: { {k: v[:5] for k, v in violations.items()} }")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
