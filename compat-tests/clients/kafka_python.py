"""kafka-python 3.x (pure Python)."""
from __future__ import annotations

import time

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient

from clients import Metadata, PythonGroupClient
from harness.data import Record


class KafkaPythonClient(PythonGroupClient):
    name = "kafka-python"
    reports_generation = True

    def metadata(self, bootstrap):
        admin = KafkaAdminClient(bootstrap_servers=bootstrap)
        try:
            c = admin.describe_cluster()
            return Metadata(c["cluster_id"], c["controller_id"],
                            [(b["broker_id"], b["host"], b["port"]) for b in c["brokers"]])
        finally:
            admin.close()

    def create_topic(self, bootstrap, topic, partitions):
        admin = KafkaAdminClient(bootstrap_servers=bootstrap)
        try:
            admin.create_topics({topic: {"num_partitions": partitions, "replication_factor": 1}})
            (t,) = admin.describe_topics([topic])
            assert t["error_code"] == 0, t
            return {p["partition_index"]: p["leader_id"] for p in t["partitions"]}
        finally:
            admin.close()

    def produce(self, bootstrap, topic, codec, records):
        # kafka-python 3.x's default: an idempotent producer.
        producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=20,
                                 compression_type=None if codec == "none" else codec)
        try:
            futures = [producer.send(topic, key=r.key, value=r.value, partition=r.partition,
                                     headers=list(r.headers)) for r in records]
            producer.flush(30)
            return [(md.partition, md.offset) for md in (f.get(timeout=30) for f in futures)]
        finally:
            producer.close()

    def consume(self, bootstrap, topic):
        # group_id=None: no group membership, no offset commits.
        consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
        try:
            tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
            consumer.assign(tps)
            consumer.seek_to_beginning(*tps)
            ends = consumer.end_offsets(tps)
            out, deadline = [], time.monotonic() + 30
            while any(consumer.position(tp) < ends[tp] for tp in tps) and time.monotonic() < deadline:
                for tp, msgs in consumer.poll(timeout_ms=500).items():
                    out += [Record(m.partition, m.key, m.value, tuple(m.headers), m.offset) for m in msgs]
            return out
        finally:
            consumer.close()
