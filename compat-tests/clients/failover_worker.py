"""The Python clients' side of tests/test_client_failover.py, as a process:

    python -m clients.failover_worker CLIENT BOOTSTRAP TOPIC COUNT GROUP

CLIENT is "confluent" or "kafka-python". An idempotent producer (acks=all)
writes COUNT records "v-<i>" to partition i % partitions at a steady pace,
while a group consumer reads the topic and commits after each batch. It
prints the lines java/Failover.java documents: ack, record, error,
commit-failed, produced, done.
"""
from __future__ import annotations

import sys
import threading
import time

DEADLINE_S = 150
PACE_S = 0.002
_out = threading.Lock()


def say(*fields) -> None:
    with _out:
        print(*fields, flush=True)


def confluent(bootstrap: str, topic: str, count: int, group: str) -> None:
    from confluent_kafka import Consumer, KafkaException, Producer

    def produce():
        producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True,
                             "linger.ms": 2, "message.timeout.ms": 120000})
        partitions = len(producer.list_topics(topic, timeout=30).topics[topic].partitions)

        def report(err, msg):
            if err is not None:
                say("error", str(err).replace(" ", "_"), msg.value().decode())
            else:
                say("ack", msg.partition(), msg.offset(), msg.value().decode())

        for i in range(count):
            producer.produce(topic, value=f"v-{i}".encode(), partition=i % partitions, on_delivery=report)
            producer.poll(0)
            time.sleep(PACE_S)
        left = producer.flush(DEADLINE_S)
        say("produced" if left == 0 else f"error {left} unanswered")

    def consume():
        consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest",
                             "enable.auto.commit": False})
        consumer.subscribe([topic])
        seen: set[str] = set()
        deadline = time.monotonic() + DEADLINE_S
        while len(seen) < count and time.monotonic() < deadline:
            msgs = consumer.consume(200, timeout=0.2)
            for m in msgs:
                if m.error() is not None:
                    say("error", str(m.error()).replace(" ", "_"))
                    continue
                seen.add(m.value().decode())
                say("record", m.partition(), m.offset(), m.value().decode())
            if msgs:
                try:
                    consumer.commit(asynchronous=False)
                except KafkaException as e:
                    say("commit-failed", str(e.args[0]).replace(" ", "_"))
        consumer.close()
        say("done" if len(seen) == count else f"error consumed only {len(seen)}")

    both(produce, consume)


def kafka_python(bootstrap: str, topic: str, count: int, group: str) -> None:
    from kafka import KafkaConsumer, KafkaProducer
    from kafka.errors import KafkaError

    def produce():
        producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=2,
                                 retries=2147483647, request_timeout_ms=10000, delivery_timeout_ms=120000)
        partitions = len(producer.partitions_for(topic))
        for i in range(count):
            value = f"v-{i}"
            future = producer.send(topic, value=value.encode(), partition=i % partitions)
            future.add_callback(lambda md, v=value: say("ack", md.partition, md.offset, v))
            future.add_errback(lambda e, v=value: say("error", type(e).__name__, v))
            time.sleep(PACE_S)
        producer.flush(DEADLINE_S)
        producer.close()
        say("produced")

    def consume():
        consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group, auto_offset_reset="earliest",
                                 enable_auto_commit=False)
        seen: set[str] = set()
        deadline = time.monotonic() + DEADLINE_S
        while len(seen) < count and time.monotonic() < deadline:
            batches = consumer.poll(timeout_ms=200)
            for records in batches.values():
                for r in records:
                    seen.add(r.value.decode())
                    say("record", r.partition, r.offset, r.value.decode())
            if batches:
                try:
                    consumer.commit()
                except KafkaError as e:
                    say("commit-failed", type(e).__name__)
        consumer.close()
        say("done" if len(seen) == count else f"error consumed only {len(seen)}")

    both(produce, consume)


def both(produce, consume) -> None:
    producer = threading.Thread(target=produce)
    producer.start()
    consume()
    producer.join()


def main(argv: list[str]) -> int:
    client, bootstrap, topic, count, group = argv
    run = {"confluent": confluent, "kafka-python": kafka_python}[client]
    run(bootstrap, topic, int(count), group)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
