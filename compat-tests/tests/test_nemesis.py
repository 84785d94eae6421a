"""Real faults on three real processes, judged by a queue checker.

Two idempotent producers (confluent-kafka and kafka-python, acks=all) and a
live consumer in a group run against a three-node cluster while a nemesis
freezes brokers with SIGSTOP:

- the leader of partition 0 for longer than the broker session: it is
  fenced, its partitions move, and when it thaws it finds requests that
  waited in its sockets; it must answer none of them as the leader it no
  longer is, give up its leadership, cut what it appended alone and catch up;
- the leader of partition 1 for a second, shorter than the session: a stall,
  not a failover.

Then every partition is read from the start and the history checked
(harness/queue_checker.py): nothing acknowledged lost, nothing duplicated,
each record where its acknowledgement put it, each producer's records in
order, no offset gaps, no skipped polls, every acknowledged record polled by
the live consumer. The figures (pauses, time to rejoin) are printed."""
from __future__ import annotations

import threading
import time

import pytest

from harness.cluster import read_partitions, start_cluster, stop_and_check
from harness.queue_checker import History, check
from test_replication import FAILOVER_SETTINGS, SESSION_MS, create_replicated, partitions, wait_for

MATRIX_CLIENT = "confluent"
TOPIC = "queue"
PER_PRODUCER = 3000
LONG_PAUSE_S = 3 * SESSION_MS / 1000


@pytest.fixture
def cluster(tmp_path):
    nodes = start_cluster(tmp_path, settings=[*FAILOVER_SETTINGS, "offsets.topic.replication.factor=3"])
    yield nodes
    for node in nodes:
        if node.alive():
            node.resume()
    stop_and_check(nodes)


class Run:
    """The shared history, written by the client threads. Each update is
    one list append or dict store, atomic in CPython, so no lock is held
    while a client library calls back."""

    def __init__(self):
        self.history = History()
        self.ack_times: dict[int, list[float]] = {0: [], 1: []}
        self.ack_at: dict[str, float] = {}
        self.errors: list = []
        self.producing = True

    def sent(self, value: str):
        self.history.sent.add(value)

    def acked(self, value: str, partition: int, offset: int):
        self.history.acked[value] = (partition, offset)
        self.ack_times[partition].append(time.monotonic())
        self.ack_at[value] = time.monotonic()

    def failed(self, value: str, error):
        self.history.failed.add(value)
        self.errors.append((value, repr(error)))

    def acked_count(self) -> int:
        return len(self.history.acked)


def produce_confluent(bootstrap: str, run: Run):
    from confluent_kafka import Producer
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True,
                         "linger.ms": 2, "message.timeout.ms": 90000})

    def report(err, msg, value):
        if err:
            run.failed(value, err)
        else:
            run.acked(value, msg.partition(), msg.offset())

    for i in range(PER_PRODUCER):
        value = f"c-{i}"
        run.sent(value)
        producer.produce(TOPIC, value=value.encode(), partition=i % 2,
                         on_delivery=lambda err, msg, v=value: report(err, msg, v))
        producer.poll(0)
        time.sleep(0.002)
    producer.flush(120)


def produce_kafka_python(bootstrap: str, run: Run):
    from kafka import KafkaProducer
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True,
                             linger_ms=2, retries=2147483647, request_timeout_ms=10000,
                             delivery_timeout_ms=90000)
    for i in range(PER_PRODUCER):
        value = f"p-{i}"
        run.sent(value)
        future = producer.send(TOPIC, value=value.encode(), partition=i % 2)
        future.add_callback(lambda md, v=value: run.acked(v, md.partition, md.offset))
        future.add_errback(lambda e, v=value: run.failed(v, e))
        time.sleep(0.002)
    producer.flush(120)
    producer.close()


def consume_live(bootstrap: str, run: Run):
    from confluent_kafka import Consumer
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "queue-live",
                         "auto.offset.reset": "earliest", "auto.commit.interval.ms": 200})
    consumer.subscribe([TOPIC])
    idle_since = None
    try:
        while True:
            msg = consumer.poll(0.2)
            if msg is not None and not msg.error():
                run.history.polled.append((msg.partition(), msg.offset(), msg.value().decode()))
                idle_since = None
                continue
            if run.producing:
                continue
            idle_since = idle_since or time.monotonic()
            seen = {v for _, _, v in list(run.history.polled)}
            done = set(run.history.acked) <= seen
            if done or time.monotonic() - idle_since > 30:
                return
    finally:
        consumer.close()


def start_clients(bootstrap: str, run: Run) -> list[threading.Thread]:
    """The two producers and the live consumer (last), running."""
    threads = [threading.Thread(target=produce_confluent, args=(bootstrap, run)),
               threading.Thread(target=produce_kafka_python, args=(bootstrap, run)),
               threading.Thread(target=consume_live, args=(bootstrap, run))]
    for t in threads:
        t.start()
    return threads


def finish_and_check(run: Run, threads: list[threading.Thread], bootstrap: str, producers_within: float):
    """Waits for the producers to finish and the live consumer to catch up,
    reads every partition back through `bootstrap` and checks the history."""
    *producers, consumer = threads
    for t in producers:
        t.join(producers_within)
        assert not t.is_alive(), "a producer did not finish"
    run.producing = False
    consumer.join(60)
    assert not consumer.is_alive(), "the live consumer did not finish"
    return check(run.history, read_partitions(bootstrap, TOPIC, range(2), "queue-final"))


def longest_gap(times: list[float], around: float) -> float:
    before = max((t for t in times if t <= around), default=around)
    after = min((t for t in times if t > around), default=around)
    return after - before


def test_frozen_leaders_lose_nothing_and_a_thawed_zombie_answers_nothing(cluster):
    create_replicated(cluster[0].bootstrap, TOPIC, 2, {"min.insync.replicas": "2"})
    bootstrap = ",".join(node.bootstrap for node in cluster)
    run = Run()
    threads = start_clients(bootstrap, run)

    wait_for("a third acknowledged", lambda: run.acked_count() >= 2 * PER_PRODUCER // 3, 60)
    led = partitions(cluster[0].bootstrap, TOPIC)
    zombie = led[0][0]
    observer = cluster[(zombie + 1) % 3]
    cluster[zombie].pause()
    frozen = time.monotonic()
    moved = wait_for("partition 0 to get a new leader",
                     lambda: partitions(observer.bootstrap, TOPIC)[0][0] not in (zombie, -1),
                     SESSION_MS / 1000 + 20)
    time.sleep(max(0.0, LONG_PAUSE_S - (time.monotonic() - frozen)))
    cluster[zombie].resume()
    thawed = time.monotonic()
    rejoined = wait_for("the thawed node to rejoin both ISRs",
                        lambda: all(isr == [0, 1, 2] for _, isr in partitions(observer.bootstrap, TOPIC).values()),
                        60)

    wait_for("two thirds acknowledged", lambda: run.acked_count() >= 4 * PER_PRODUCER // 3, 60)
    staller = partitions(observer.bootstrap, TOPIC)[1][0]
    cluster[staller].pause()
    stalled = time.monotonic()
    time.sleep(1.0)
    cluster[staller].resume()

    report = finish_and_check(run, threads, observer.bootstrap, 180)
    print(f"SIGSTOP of a leader for {LONG_PAUSE_S:.0f} s (session {SESSION_MS} ms): new leader after "
          f"{moved:.2f} s; partition 0 acknowledged nothing for {longest_gap(run.ack_times[0], frozen):.2f} s; "
          f"thawed, back in both ISRs after {rejoined:.2f} s. A 1 s SIGSTOP of partition 1's leader: "
          f"longest ack gap {longest_gap(run.ack_times[1], stalled):.2f} s. Checker: {report.summary()}")
    lost = [(v, run.history.acked[v], round(run.ack_at[v] - frozen, 2)) for v in report.lost]
    assert report.violations() == {}, (report.violations(), f"lost (value, acked at, seconds after the freeze): {lost}")
    assert not run.errors, run.errors[:3]
    assert len(run.history.acked) == 2 * PER_PRODUCER
