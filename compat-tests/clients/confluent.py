"""confluent-kafka (Python binding of librdkafka 2.x)."""
from __future__ import annotations

import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from clients import Metadata, PythonGroupClient
from harness.data import Record


class ConfluentClient(PythonGroupClient):
    name = "confluent"

    def metadata(self, bootstrap):
        admin = AdminClient({"bootstrap.servers": bootstrap})
        md = admin.list_topics(timeout=10)
        return Metadata(md.cluster_id, md.controller_id, [(b.id, b.host, b.port) for b in md.brokers.values()])

    def create_topic(self, bootstrap, topic, partitions):
        admin = AdminClient({"bootstrap.servers": bootstrap})
        admin.create_topics([NewTopic(topic, partitions, 1)], operation_timeout=10)[topic].result(15)
        md = admin.list_topics(topic, timeout=10).topics[topic]
        assert md.error is None, md.error
        return {p.id: p.leader for p in md.partitions.values()}

    def produce(self, bootstrap, topic, codec, records):
        # Idempotent (librdkafka's default is off); consumers get a group.id
        # but never join or commit.
        producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "compression.type": codec,
                             "linger.ms": 20, "enable.idempotence": True})
        acks: list = [None] * len(records)

        def on_delivery(i):
            def cb(err, msg):
                acks[i] = err or (msg.partition(), msg.offset())
            return cb

        for i, r in enumerate(records):
            producer.produce(topic, key=r.key, value=r.value, partition=r.partition,
                             headers=list(r.headers), on_delivery=on_delivery(i))
        assert producer.flush(30) == 0
        return acks

    def consume(self, bootstrap, topic):
        # A group.id is required by the API, but nothing joins or commits:
        # partitions are assigned by hand.
        consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "compat-unused",
                             "enable.auto.commit": False, "enable.partition.eof": False})
        try:
            partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
            ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in partitions}
            consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
            out, deadline = [], time.monotonic() + 30
            pos = {p: 0 for p in partitions}
            while any(pos[p] < ends[p] for p in partitions) and time.monotonic() < deadline:
                for m in consumer.consume(100, timeout=0.5):
                    assert m.error() is None, m.error()
                    out.append(Record(m.partition(), m.key(), m.value(), tuple(m.headers() or ()), m.offset()))
                    pos[m.partition()] = m.offset() + 1
            return out
        finally:
            consumer.close()
