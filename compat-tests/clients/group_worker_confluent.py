"""A KIP-848 group consumer on librdkafka (confluent-kafka), run as a
subprocess by tests/test_kip848.py, speaking the same lines as the Java
client's `group-consume` mode:

    python group_worker_confluent.py BOOTSTRAP TOPIC GROUP
    -> "owned P,P,..."  after every assignment change ("owned -" when none)
    -> "record P O"      per record, after its offset is committed (sync)
Closing stdin makes it close the consumer (leaving the group) and exit 0.
"""
import sys
import threading

from confluent_kafka import Consumer, KafkaException

bootstrap, topic, group = sys.argv[1:4]
owned: set[int] = set()
stop = threading.Event()


def say(line: str) -> None:
    print(line, flush=True)


def show():
    say("owned " + (",".join(str(p) for p in sorted(owned)) or "-"))


def on_assign(consumer, partitions):
    owned.update(p.partition for p in partitions)
    show()


def on_revoke(consumer, partitions):
    owned.difference_update(p.partition for p in partitions)
    show()


def watch_stdin():
    sys.stdin.read()
    stop.set()


consumer = Consumer({
    "bootstrap.servers": bootstrap,
    "group.id": group,
    "group.protocol": "consumer",
    "enable.auto.commit": False,
    "auto.offset.reset": "earliest",
    "client.id": "kip848-confluent",
})
consumer.subscribe([topic], on_assign=on_assign, on_revoke=on_revoke, on_lost=on_revoke)
threading.Thread(target=watch_stdin, daemon=True).start()
while not stop.is_set():
    msg = consumer.poll(0.2)
    if msg is None:
        continue
    if msg.error():
        say(f"error {msg.error()}")
        continue
    try:
        consumer.commit(message=msg, asynchronous=False)
    except KafkaException as e:  # e.g. a revoked partition: it is read again by its next owner
        say(f"error commit {e}")
        continue
    say(f"record {msg.partition()} {msg.offset()}")
consumer.close()
say("closed")
