"""aiokafka (asyncio, pure Python; codecs through cramjam)."""
from __future__ import annotations

import asyncio
import time

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from clients import Client, Metadata
from harness.data import Record


class AiokafkaClient(Client):
    name = "aiokafka"

    def metadata(self, bootstrap):
        async def go():
            admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
            await admin.start()
            try:
                c = await admin.describe_cluster()
            finally:
                await admin.close()
            return Metadata(c["cluster_id"], c["controller_id"],
                            [(b["node_id"], b["host"], b["port"]) for b in c["brokers"]])
        return asyncio.run(go())

    def create_topic(self, bootstrap, topic, partitions):
        async def go():
            admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
            await admin.start()
            try:
                resp = await admin.create_topics([NewTopic(topic, partitions, 1)])
                assert [t[1] for t in resp.topic_errors] == [0], resp
                (t,) = await admin.describe_topics([topic])
            finally:
                await admin.close()
            assert t["error_code"] == 0, t
            return {p["partition"]: p["leader"] for p in t["partitions"]}
        return asyncio.run(go())

    def produce(self, bootstrap, topic, codec, records):
        async def go():
            # Idempotent, as the other clients here (aiokafka's default is off).
            producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=20,
                                        compression_type=None if codec == "none" else codec,
                                        enable_idempotence=True)
            await producer.start()
            try:
                futures = [await producer.send(topic, key=r.key, value=r.value, partition=r.partition,
                                               headers=list(r.headers)) for r in records]
                return [(md.partition, md.offset) for md in await asyncio.gather(*futures)]
            finally:
                await producer.stop()
        return asyncio.run(go())

    def consume(self, bootstrap, topic):
        async def go():
            # No group_id: manual assignment, nothing committed.
            consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                                        request_timeout_ms=10000)
            await consumer.start()
            try:
                # Learn the topic's partitions (aiokafka has no public call for this
                # without a subscription).
                await consumer._client.force_metadata_update()
                tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
                consumer.assign(tps)
                await consumer.seek_to_beginning(*tps)
                ends = await consumer.end_offsets(tps)
                out, deadline = [], time.monotonic() + 30
                while [tp for tp in tps if await consumer.position(tp) < ends[tp]] and time.monotonic() < deadline:
                    for tp, msgs in (await consumer.getmany(timeout_ms=500)).items():
                        out += [Record(m.partition, m.key, m.value, tuple(m.headers), m.offset) for m in msgs]
                return out
            finally:
                await consumer.stop()
        return asyncio.run(go())
