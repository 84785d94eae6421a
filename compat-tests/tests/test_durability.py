"""Scenario 6: records acknowledged with acks=all survive SIGKILL."""
from __future__ import annotations

import threading
import time

from confluent_kafka import Producer

from clients.confluent import ConfluentClient

# Odradek only (this module starts its own brokers); the client family in the
# compatibility matrix (compat-tests/.build/compat-matrix.json).
MATRIX_CLIENT = "confluent"

PARTITIONS = 3


def test_acked_records_survive_sigkill(start_broker):
    client = ConfluentClient()
    broker = start_broker()
    client.create_topic(broker.bootstrap, "durable", PARTITIONS)

    acked: dict[tuple[int, int], bytes] = {}  # (partition, offset) -> value
    failed = []
    lock = threading.Lock()

    def on_delivery(err, msg):
        with lock:
            if err is None:
                key = (msg.partition(), msg.offset())
                assert key not in acked, f"offset {key} acknowledged twice"
                acked[key] = msg.value()
            else:
                failed.append(err)

    producer = Producer({"bootstrap.servers": broker.bootstrap, "acks": "all", "linger.ms": 2,
                         "compression.type": "zstd", "enable.idempotence": False,
                         "message.timeout.ms": 60000, "reconnect.backoff.max.ms": 200})
    stop = threading.Event()

    def produce_forever():
        i = 0
        while not stop.is_set():
            value = f"value-{i:07d}-".encode() + bytes([i % 251]) * (i % 97)
            try:
                producer.produce("durable", key=f"k{i}".encode(), value=value, partition=i % PARTITIONS,
                                 on_delivery=on_delivery)
                i += 1
            except BufferError:
                pass
            producer.poll(0 if i % 50 else 0.001)

    thread = threading.Thread(target=produce_forever, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while len(acked) < 5000 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(acked) >= 5000, f"only {len(acked)} acks before the kill"

    broker.kill()  # mid-stream: the producer keeps sending
    acked_at_kill = len(acked)
    time.sleep(0.5)
    restarted = start_broker(data_dir=broker.data_dir, port=broker.port)
    while len(acked) < acked_at_kill + 2000 and time.monotonic() < deadline + 30:
        time.sleep(0.01)  # acks keep coming from the restarted broker
    stop.set()
    thread.join()
    assert producer.flush(60) == 0
    assert len(acked) >= acked_at_kill + 2000, "the restarted broker did not take new records"

    got = {(r.partition, r.offset): r.value for r in client.consume(restarted.bootstrap, "durable")}
    print(f"acked {acked_at_kill} before SIGKILL, {len(acked)} in all; {len(got)} records read back; "
          f"{len(failed)} delivery errors")
    missing = sorted(k for k in acked if k not in got)
    assert not missing, f"{len(missing)} acknowledged records lost, first {missing[:10]}"
    changed = sorted(k for k, v in acked.items() if got[k] != v)
    assert not changed, f"{len(changed)} acknowledged records changed, first {changed[:10]}"
    for p in range(PARTITIONS):  # and every partition is a gapless 0..n-1
        offsets = sorted(o for q, o in got if q == p)
        assert offsets == list(range(len(offsets))), f"partition {p} has gaps"
