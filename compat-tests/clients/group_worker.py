"""A subscribing group consumer as its own process, so a test can SIGKILL it:

    python -m clients.group_worker CLIENT BOOTSTRAP TOPIC GROUP STRATEGY INSTANCE SESSION_MS

CLIENT is "confluent" or "kafka-python"; STRATEGY "range", "roundrobin" or
"cooperative-sticky"; INSTANCE a group.instance.id or "~" for a dynamic
member. It speaks the group lines of clients/__init__.py on stdout, commits
synchronously after each batch it prints (at-least-once), and closes cleanly
(a static member without leaving) when stdin reaches EOF.
"""
from __future__ import annotations

import sys
import threading

from harness.data import enc


def out(*fields) -> None:
    print(*fields, flush=True)


def assigned_line(generation: int, owned: set[int]) -> None:
    out("assigned", generation, ",".join(map(str, sorted(owned))) or "-")


def run_confluent(bootstrap, topic, group, strategy, instance, session_ms, stop):
    from confluent_kafka import Consumer, KafkaException

    conf = {"bootstrap.servers": bootstrap, "group.id": group, "client.id": "compat-confluent",
            "session.timeout.ms": session_ms, "heartbeat.interval.ms": 1000,
            "partition.assignment.strategy": strategy, "auto.offset.reset": "earliest",
            "enable.auto.commit": False, "enable.partition.eof": False}
    if instance:
        conf["group.instance.id"] = instance
    consumer = Consumer(conf)
    owned: set[int] = set()

    # librdkafka does not expose the generation: -1.
    def on_assign(c, partitions):
        owned.update(p.partition for p in partitions)
        assigned_line(-1, owned)

    def on_revoke(c, partitions):
        owned.difference_update(p.partition for p in partitions)
        assigned_line(-1, owned)

    consumer.subscribe([topic], on_assign=on_assign, on_revoke=on_revoke, on_lost=on_revoke)
    while not stop.is_set():
        msgs = consumer.consume(200, timeout=0.2)
        for m in msgs:
            if m.error() is not None:
                out("error", str(m.error()).replace(" ", "_"))
                continue
            out("record", m.partition(), m.offset(), enc(m.key()))
        if msgs:
            try:
                consumer.commit(asynchronous=False)
            except KafkaException as e:  # e.g. a rebalance took the partitions
                out("commit-failed", str(e.args[0]).replace(" ", "_"))
    consumer.close()


def run_kafka_python(bootstrap, topic, group, strategy, instance, session_ms, stop):
    from kafka import KafkaConsumer
    from kafka.consumer.subscription_state import ConsumerRebalanceListener
    from kafka.coordinator.assignors.cooperative_sticky import CooperativeStickyAssignor
    from kafka.coordinator.assignors.range import RangePartitionAssignor
    from kafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor
    from kafka.errors import KafkaError

    assignor = {"range": RangePartitionAssignor, "roundrobin": RoundRobinPartitionAssignor,
                "cooperative-sticky": CooperativeStickyAssignor}[strategy]
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, client_id="compat-kafka-python",
                             group_instance_id=instance, session_timeout_ms=session_ms,
                             heartbeat_interval_ms=1000, partition_assignment_strategy=[assignor],
                             auto_offset_reset="earliest", enable_auto_commit=False)
    owned: set[int] = set()

    def generation() -> int:
        return consumer.group_metadata().generation_id

    class Listener(ConsumerRebalanceListener):
        def on_partitions_revoked(self, revoked):
            owned.difference_update(tp.partition for tp in revoked)
            assigned_line(generation(), owned)

        def on_partitions_assigned(self, assigned):
            owned.update(tp.partition for tp in assigned)
            assigned_line(generation(), owned)

    consumer.subscribe([topic], listener=Listener())
    while not stop.is_set():
        batches = consumer.poll(timeout_ms=200)
        for tp, msgs in batches.items():
            for m in msgs:
                out("record", m.partition, m.offset, enc(m.key))
        if batches:
            try:
                consumer.commit()
            except KafkaError as e:
                out("commit-failed", type(e).__name__)
    consumer.close()


def main(argv):
    client, bootstrap, topic, group, strategy, instance, session_ms = argv
    instance = None if instance == "~" else instance
    stop = threading.Event()

    def watch_stdin():  # EOF on stdin: close cleanly
        sys.stdin.read()
        stop.set()

    threading.Thread(target=watch_stdin, daemon=True).start()
    run = {"confluent": run_confluent, "kafka-python": run_kafka_python}[client]
    run(bootstrap, topic, group, strategy, instance, int(session_ms), stop)
    out("closed")


if __name__ == "__main__":
    main(sys.argv[1:])
