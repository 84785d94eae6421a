"""A consume-transform-produce loop with confluent-kafka (librdkafka):
reads `in`, writes "out:<value>" to `out`, and commits its input offsets
inside the same transaction (send_offsets_to_transaction). The tests
SIGKILL it mid-transaction and start it again; exactly-once means every
input record appears exactly once in what read_committed readers see.

    python ctp_loop.py BOOTSTRAP IN OUT GROUP TXN_ID EXPECTED

Prints "committed <n>" per transaction; exits 0 after committing offsets up
to the end of `in` once `EXPECTED` records have gone through in this or an
earlier run (it checks the group's committed offsets against the end).
"""
from __future__ import annotations

import sys
import time

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition


def main() -> int:
    bootstrap, in_topic, out_topic, group, txn_id, expected = sys.argv[1:7]
    consumer = Consumer({
        "bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False,
        "isolation.level": "read_committed", "auto.offset.reset": "earliest",
        "session.timeout.ms": 6000, "heartbeat.interval.ms": 1000,
    })
    producer = Producer({"bootstrap.servers": bootstrap, "transactional.id": txn_id, "linger.ms": 5,
                         "transaction.timeout.ms": 20000})
    producer.init_transactions(60)
    consumer.subscribe([in_topic])
    partitions = consumer.list_topics(in_topic, timeout=10).topics[in_topic].partitions
    ends = {p: consumer.get_watermark_offsets(TopicPartition(in_topic, p), timeout=10)[1] for p in partitions}
    assert sum(ends.values()) == int(expected), f"input holds {sum(ends.values())} records, expected {expected}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        msgs = [m for m in consumer.consume(50, timeout=0.5) if m.error() is None]
        if not msgs:
            committed = consumer.committed([TopicPartition(in_topic, p) for p in partitions], timeout=10)
            if all(tp.offset == ends[tp.partition] for tp in committed):
                print("done", flush=True)
                return 0
            continue
        producer.begin_transaction()
        for m in msgs:
            producer.produce(out_topic, key=m.key(), value=b"out:" + m.value(), partition=m.partition())
        producer.flush(30)
        print(f"open {len(msgs)}", flush=True)  # records in the log, transaction not committed:
        time.sleep(0.05)  # the test's SIGKILL lands here
        try:
            producer.send_offsets_to_transaction(consumer.position(consumer.assignment()),
                                                 consumer.consumer_group_metadata(), 30)
            producer.commit_transaction(30)
        except KafkaException as e:
            if not e.args[0].txn_requires_abort():
                raise
            # A rebalance took partitions away mid-transaction: abort and
            # rewind to what the group has committed.
            producer.abort_transaction(30)
            for tp in consumer.committed(consumer.assignment(), timeout=10):
                consumer.seek(TopicPartition(tp.topic, tp.partition, max(tp.offset, 0)))
            continue
        print(f"committed {len(msgs)}", flush=True)
    print("timed out", flush=True)
    return 1


if __name__ == "__main__":
    sys.exit(main())
