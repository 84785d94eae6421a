"""Log compaction with confluent-kafka: 100k updates over 1k keys (some then
deleted) to a compacted topic; once the cleaner has run, a fresh consumer
sees exactly the latest value of each live key, at the offset the producer
was given for it, and the segments on disk have shrunk."""
from __future__ import annotations

import time
import uuid

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

# Odradek only (this module starts its own brokers); the client family in the
# compatibility matrix (compat-tests/.build/compat-matrix.json).
MATRIX_CLIENT = "confluent"

TOPIC = "compacted"
KEYS = 1000
UPDATES = 100_000
DELETED = 100  # keys k0..k99 end with a tombstone


def log_bytes(data_dir) -> int:
    part = data_dir / f"{TOPIC}-0"
    return sum(f.stat().st_size for f in part.glob("*.log"))


def read_all(bootstrap):
    """Every record of partition 0 from the beginning up to the high watermark."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"fresh-{uuid.uuid4()}",
                         "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    try:
        low, high = consumer.get_watermark_offsets(TopicPartition(TOPIC, 0), timeout=10)
        consumer.assign([TopicPartition(TOPIC, 0, low)])
        out = []
        position = low
        deadline = time.monotonic() + 60
        while position < high and time.monotonic() < deadline:
            for msg in consumer.consume(10_000, timeout=1):
                assert msg.error() is None, msg.error()
                out.append((msg.offset(), msg.key(), msg.value()))
                position = msg.offset() + 1
        assert position == high, f"read up to {position}, high watermark {high}"
        return out
    finally:
        consumer.close()


def test_compacted_topic_keeps_the_latest_value_per_key(start_broker):
    broker = start_broker(settings=["log.cleaner.backoff.ms=200"])
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    configs = {"cleanup.policy": "compact", "segment.bytes": "262144", "segment.ms": "1000",
               "min.cleanable.dirty.ratio": "0.01", "delete.retention.ms": "1000"}
    admin.create_topics([NewTopic(TOPIC, 1, 1, config=configs)])[TOPIC].result(15)

    latest: dict[bytes, tuple[int, bytes | None]] = {}  # key -> (offset, value) acked last
    errors = []

    def on_delivery(err, msg):
        if err is not None:
            errors.append(err)
            return
        key = msg.key()
        if key not in latest or latest[key][0] < msg.offset():
            latest[key] = (msg.offset(), msg.value())

    producer = Producer({"bootstrap.servers": broker.bootstrap, "acks": "all", "linger.ms": 5,
                         "enable.idempotence": True, "compression.type": "lz4",
                         "message.timeout.ms": 120_000})

    def send(key: bytes, value: bytes | None):
        while True:
            try:
                producer.produce(TOPIC, key=key, value=value, partition=0, on_delivery=on_delivery)
                return
            except BufferError:
                producer.poll(0.01)

    for i in range(UPDATES):
        key = f"k{i % KEYS}".encode()
        send(key, f"{key.decode()}={i:06d}-".encode() + b"x" * (i % 61))
        if i % 1000 == 0:
            producer.poll(0)
    for k in range(DELETED):
        send(f"k{k}".encode(), None)
    assert producer.flush(120) == 0
    assert not errors, errors[:5]
    written = log_bytes(broker.data_dir)

    # segment.ms rolls the active segment at the next append after a second,
    # so everything above becomes sealed and cleanable.
    time.sleep(1.5)
    send(b"sentinel", b"end")
    assert producer.flush(30) == 0
    expected = {k: v for k, v in latest.items() if v[1] is not None}
    assert len(expected) == KEYS - DELETED + 1

    # Tombstones take a second pass after delete.retention.ms; poll generously.
    deadline = time.monotonic() + 180
    while True:
        got = read_all(broker.bootstrap)
        if len(got) == len(expected) or time.monotonic() > deadline:
            break
        time.sleep(1)
    print(f"{UPDATES + DELETED + 1} records, {written} log bytes before cleaning, "
          f"{log_bytes(broker.data_dir)} after; {len(got)} records read")
    assert len(got) == len(expected), f"{len(got)} records read, {len(expected)} expected"
    seen = {}
    for offset, key, value in got:
        assert key not in seen, f"key {key} read twice"
        seen[key] = (offset, value)
    assert seen == expected
    assert log_bytes(broker.data_dir) < written / 10

    # A restart recovers the cleaned segments (offset gaps and all).
    broker.stop()
    restarted = start_broker(settings=["log.cleaner.backoff.ms=200"], data_dir=broker.data_dir)
    again = {key: (offset, value) for offset, key, value in read_all(restarted.bootstrap)}
    assert again == expected
