"""Odradek nodes on loopback: every node a broker and a voter of the
metadata quorum (Kafka's combined mode), or controllers and brokers apart
(Kafka's isolated mode)."""
from __future__ import annotations

import signal
import time
from pathlib import Path

from harness.broker import Broker, free_port


def start_cluster(base: Path, size: int = 3, settings=(), wrappers=None, hosts=None) -> list[Broker]:
    """`wrappers`: node index -> a command that node's argv is handed to;
    `hosts`: each node's address (all 127.0.0.1 unless given)."""
    hosts = hosts or ["127.0.0.1"] * size
    ports = [free_port() for _ in range(size)]
    quorum_ports = [free_port() for _ in range(size)]
    voters = ",".join(f"{i}@{hosts[i]}:{quorum_ports[i]}" for i in range(size))
    nodes = [
        Broker(base / f"node{i}", port=ports[i], log_path=base / f"node{i}.log", settings=[
            f"node.id={i}",
            f"controller.quorum.voters={voters}",
            f"listeners=PLAINTEXT://{hosts[i]}:{ports[i]},CONTROLLER://{hosts[i]}:{quorum_ports[i]}",
            "controller.listener.names=CONTROLLER",
            *settings,
        ], wrapper=(wrappers or {}).get(i, ()), host=hosts[i])
        for i in range(size)
    ]
    for node in nodes:
        node.launch()
    for node in nodes:
        node.wait_ready(30)
    return nodes


def start_split_cluster(base: Path, controllers: int = 1, brokers: int = 2, settings=()) -> list[Broker]:
    """Brokers 0..brokers-1 (process.roles=broker: they follow the metadata
    log without voting), then controllers (process.roles=controller: voters
    that serve no client); returned in that order."""
    ids = list(range(brokers + controllers))
    quorum_ports = {i: free_port() for i in ids[brokers:]}
    voters = ",".join(f"{i}@127.0.0.1:{p}" for i, p in quorum_ports.items())
    common = [f"controller.quorum.voters={voters}", "controller.listener.names=CONTROLLER", *settings]
    nodes = []
    for i in ids:
        if i < brokers:
            port = free_port()
            nodes.append(Broker(base / f"broker{i}", port=port, log_path=base / f"broker{i}.log", settings=[
                f"node.id={i}", "process.roles=broker",
                f"listeners=PLAINTEXT://127.0.0.1:{port}", *common]))
        else:
            nodes.append(Broker(base / f"controller{i}", log_path=base / f"controller{i}.log", serves_clients=False,
                                settings=[f"node.id={i}", "process.roles=controller",
                                          f"listeners=CONTROLLER://127.0.0.1:{quorum_ports[i]}", *common]))
    for node in nodes:
        node.launch()
    for node in nodes:
        node.wait_ready(30)
    return nodes


def stop_cluster(nodes: list[Broker]) -> dict[str, int | None]:
    """SIGTERM to every node at once (each controlled shutdown still has a
    quorum to ask; one by one, the last node would wait out its bound with
    no quorum left); their exit codes by address."""
    for node in nodes:
        if node.alive():
            node.proc.send_signal(signal.SIGTERM)
    return {node.bootstrap: node.stop() for node in nodes}


def stop_and_check(nodes: list[Broker]) -> None:
    """A cluster fixture's teardown: every node stopped (SIGTERM), its log's
    tail printed for the report, and every exit clean."""
    codes = stop_cluster(nodes)
    for node in nodes:
        print(f"--- {node.log_path}\n{node.log_tail(30)}")
    assert all(code == 0 for code in codes.values()), f"exit codes on SIGTERM: {codes}"


def partitions(bootstrap: str, topic: str) -> dict[int, tuple[int, list[int]]]:
    """Partition -> (leader, ISR) as Metadata tells."""
    from confluent_kafka.admin import AdminClient
    md = AdminClient({"bootstrap.servers": bootstrap}).list_topics(topic, timeout=10)
    return {p.id: (p.leader, sorted(p.isrs)) for p in md.topics[topic].partitions.values()}


def read_partitions(bootstrap: str, topic: str, partitions: range, group: str,
                    within: float = 60) -> list[tuple[int, int, str]]:
    """Every record of `topic`'s `partitions`, each read from its start to its
    end (asserted within `within` seconds per partition), as
    (partition, offset, value)."""
    from confluent_kafka import Consumer, TopicPartition, OFFSET_BEGINNING
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    records = []
    try:
        for partition in partitions:
            _, end = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
            consumer.assign([TopicPartition(topic, partition, OFFSET_BEGINNING)])
            deadline = time.monotonic() + within
            position = 0
            while position < end:
                assert time.monotonic() < deadline, f"partition {partition}: read to {position} of {end}"
                msg = consumer.poll(0.5)
                if msg is None or msg.error():
                    continue
                records.append((partition, msg.offset(), msg.value().decode()))
                position = msg.offset() + 1
    finally:
        consumer.close()
    return records
