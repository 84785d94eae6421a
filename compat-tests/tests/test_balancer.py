"""The balancer from the command line (issue 13 B) on real processes, under
load from real clients judged by the queue checker: a fourth broker joins
three that hold everything, and `odradek cluster rebalance --execute
--wait` gives it its share; `odradek cluster drain 0` then moves every
replica off broker 0, which stops while the clients keep going. Nothing
acknowledged is lost, duplicated or reordered."""
from __future__ import annotations

import json
import subprocess
import threading
import time

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from harness.broker import BINARY, Broker, free_port
from harness.cluster import read_partitions, start_cluster, stop_and_check
from harness.queue_checker import check
from test_nemesis import TOPIC, Run, consume_live
from test_replication import FAILOVER_SETTINGS, wait_for

MATRIX_CLIENT = "odradek-cli"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    base = tmp_path_factory.mktemp("balancer")
    nodes = start_cluster(base, settings=[*FAILOVER_SETTINGS, "offsets.topic.replication.factor=3"])
    yield nodes, base
    for node in nodes:
        if node.alive():
            node.resume()
    stop_and_check([n for n in nodes if n.alive()])


def join_broker(nodes: list[Broker], base, node_id: int) -> Broker:
    """A broker-only node (process.roles=broker) joining the voters of `nodes`."""
    voters = next(s for s in nodes[0].settings if s.startswith("controller.quorum.voters="))
    port = free_port()
    broker = Broker(base / f"node{node_id}", port=port, log_path=base / f"node{node_id}.log", settings=[
        f"node.id={node_id}", "process.roles=broker", voters,
        f"listeners=PLAINTEXT://127.0.0.1:{port}", "controller.listener.names=CONTROLLER",
        *FAILOVER_SETTINGS])
    return broker.start(30)


def odradek_cluster(bootstrap: str, *args: str, timeout: float = 240) -> str:
    out = subprocess.run([str(BINARY), "cluster", *args, "--bootstrap-server", bootstrap],
                         capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, f"odradek cluster {' '.join(args)}: {out.stdout[-2000:]}\n{out.stderr[-2000:]}"
    return out.stdout


def describe(bootstrap: str) -> dict[int, dict]:
    return {b["broker"]: b for b in json.loads(odradek_cluster(bootstrap, "describe", "--json"))}


def produce_until(bootstrap: str, run: Run, stop: threading.Event, name: str):
    """An idempotent acks=all producer writing until `stop`."""
    from confluent_kafka import Producer
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True,
                         "linger.ms": 2, "message.timeout.ms": 90000})

    def report(err, msg, value):
        if err:
            run.failed(value, err)
        else:
            run.acked(value, msg.partition(), msg.offset())

    i = 0
    while not stop.is_set():
        value = f"{name}-{i}"
        run.sent(value)
        producer.produce(TOPIC, value=value.encode(), partition=i % 2,
                         on_delivery=lambda err, msg, v=value: report(err, msg, v))
        producer.poll(0)
        i += 1
        time.sleep(0.003)
    assert producer.flush(120) == 0


def test_a_new_broker_gets_its_share_and_a_drained_broker_stops_under_load(cluster):
    nodes, base = cluster
    bootstrap = ",".join(n.bootstrap for n in nodes)
    admin = AdminClient({"bootstrap.servers": bootstrap})
    created = admin.create_topics([
        NewTopic(TOPIC, num_partitions=2, replica_assignment=[[0, 1, 2], [1, 2, 0]],
                 config={"min.insync.replicas": "2"}),
        NewTopic("spread", num_partitions=8, replication_factor=2),
    ], operation_timeout=20)
    for future in created.values():
        future.result(timeout=30)
    newcomer = join_broker(nodes, base, 3)
    nodes.append(newcomer)  # stopped with the others
    wait_for("the fourth broker in the metadata", lambda: 3 in describe(nodes[0].bootstrap), 30)
    assert describe(nodes[0].bootstrap)[3]["replicas"] == 0

    run, stop = Run(), threading.Event()
    producers = [threading.Thread(target=produce_until, args=(bootstrap, run, stop, name)) for name in "ab"]
    consumer = threading.Thread(target=consume_live, args=(bootstrap, run))
    for t in [*producers, consumer]:
        t.start()
    try:
        wait_for("records acknowledged", lambda: run.acked_count() >= 500, 60)

        started = time.monotonic()
        odradek_cluster(nodes[1].bootstrap, "rebalance", "--execute", "--wait", "--json")
        balanced_in = time.monotonic() - started
        after = describe(nodes[0].bootstrap)
        counts = {b: after[b]["replicas"] for b in after}
        assert max(counts.values()) - min(counts.values()) <= 1, counts
        assert counts[3] >= sum(counts.values()) // 4, counts
        plan = json.loads(odradek_cluster(nodes[0].bootstrap, "rebalance", "--json"))
        assert plan["moves"] == [], f"a balanced cluster gets an empty plan: {plan}"

        started = time.monotonic()
        odradek_cluster(nodes[2].bootstrap, "drain", "0")
        drained_in = time.monotonic() - started
        drained = describe(nodes[2].bootstrap)
        assert drained[0]["replicas"] == 0 and drained[0]["leaders"] == 0, drained
        acked_before_stop = run.acked_count()
        assert nodes[0].stop() == 0
        wait_for("more records acknowledged with broker 0 stopped",
                 lambda: run.acked_count() >= acked_before_stop + 500, 60)
    finally:
        stop.set()
        for t in producers:
            t.join(150)
        run.producing = False
        consumer.join(90)
    survivors = ",".join(n.bootstrap for n in nodes[1:])
    report = check(run.history, read_partitions(survivors, TOPIC, range(2), "balancer-final"))
    print(f"balancer: rebalanced onto a fourth broker in {balanced_in:.1f} s and drained broker 0 in "
          f"{drained_in:.1f} s under load; replicas per broker {counts}; checker: {report.summary()}")
    assert report.violations() == {}, report.violations()
    assert not run.errors, run.errors[:3]
