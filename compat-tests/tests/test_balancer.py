"""The balancer (issue 13 B) on real processes, under load from real
clients judged by the queue checker. From the command line: a fourth
broker joins three that hold everything, and `odradek cluster rebalance
--execute --wait` gives it its share; `odradek cluster drain 0` then moves
every replica off broker 0, which stops while the clients keep going. In
the controller (`odradek.balancer.enable`): a fourth broker gets its share
with no command at all. Nothing acknowledged is lost, duplicated or
reordered."""
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


AUTOMATIC = ["odradek.balancer.enable=true", "odradek.balancer.interval.ms=1000"]


def three_nodes(tmp_path, settings):
    nodes = start_cluster(tmp_path, settings=[*FAILOVER_SETTINGS, "offsets.topic.replication.factor=3",
                                              *settings])
    yield nodes, tmp_path, settings
    for node in nodes:
        if node.alive():
            node.resume()
    stop_and_check([n for n in nodes if n.alive()])


@pytest.fixture(params=[[], AUTOMATIC], ids=["cli", "automatic"])
def cluster(request, tmp_path):
    yield from three_nodes(tmp_path, request.param)


@pytest.fixture
def plain_cluster(tmp_path):
    yield from three_nodes(tmp_path, [])


def join_broker(nodes: list[Broker], base, node_id: int, settings=()) -> Broker:
    """A broker-only node (process.roles=broker) joining the voters of `nodes`."""
    voters = next(s for s in nodes[0].settings if s.startswith("controller.quorum.voters="))
    port = free_port()
    broker = Broker(base / f"node{node_id}", port=port, log_path=base / f"node{node_id}.log", settings=[
        f"node.id={node_id}", "process.roles=broker", voters,
        f"listeners=PLAINTEXT://127.0.0.1:{port}", "controller.listener.names=CONTROLLER",
        *FAILOVER_SETTINGS, *settings])
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


class Load:
    """Two idempotent acks=all producers writing until stopped, and a live
    consumer in a group reading along."""

    def __init__(self, bootstrap: str):
        self.run, self.stop = Run(), threading.Event()
        self.producers = [threading.Thread(target=produce_until, args=(bootstrap, self.run, self.stop, name))
                          for name in "ab"]
        self.consumer = threading.Thread(target=consume_live, args=(bootstrap, self.run))
        for t in [*self.producers, self.consumer]:
            t.start()

    def acked(self) -> int:
        return self.run.acked_count()

    def finish(self):
        self.stop.set()
        for t in self.producers:
            t.join(150)
        self.run.producing = False
        self.consumer.join(90)

    def check(self, bootstrap: str):
        report = check(self.run.history, read_partitions(bootstrap, TOPIC, range(2), "balancer-final"))
        assert report.violations() == {}, report.violations()
        assert not self.run.errors, self.run.errors[:3]
        return report


def create_topics(bootstrap: str):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    created = admin.create_topics([
        NewTopic(TOPIC, num_partitions=2, replica_assignment=[[0, 1, 2], [1, 2, 0]],
                 config={"min.insync.replicas": "2"}),
        NewTopic("spread", num_partitions=8, replication_factor=2),
    ], operation_timeout=20)
    for future in created.values():
        future.result(timeout=30)


def replica_counts(bootstrap: str) -> dict[int, int]:
    return {b: d["replicas"] for b, d in describe(bootstrap).items()}


def evened_out(counts: dict[int, int]) -> bool:
    return max(counts.values()) - min(counts.values()) <= 1


def test_a_fourth_broker_gets_its_share_under_load(cluster):
    nodes, base, settings = cluster
    bootstrap = ",".join(n.bootstrap for n in nodes)
    create_topics(bootstrap)
    load = Load(bootstrap)
    try:
        wait_for("records acknowledged", lambda: load.acked() >= 300, 60)
        nodes.append(join_broker(nodes, base, 3, settings))  # stopped with the others
        wait_for("the fourth broker in the metadata", lambda: 3 in describe(nodes[0].bootstrap), 30)
        started = time.monotonic()
        if settings:
            quiet_since = [None]  # since when nothing has been moved, and the counts were even

            def settled() -> bool:
                moving = json.loads(odradek_cluster(nodes[0].bootstrap, "rebalance", "--status", "--json"))
                if moving or not evened_out(replica_counts(nodes[0].bootstrap)):
                    quiet_since[0] = None
                    return False
                quiet_since[0] = quiet_since[0] or time.monotonic()
                return time.monotonic() - quiet_since[0] >= 3  # three balancer rounds

            wait_for("the controller's balancer to even out the replicas and stop", settled, 90)
        else:
            odradek_cluster(nodes[1].bootstrap, "rebalance", "--execute", "--wait", "--json")
        balanced_in = time.monotonic() - started
        counts = replica_counts(nodes[0].bootstrap)
        assert evened_out(counts), counts
        assert counts[3] >= sum(counts.values()) // 4, counts
        wait_for("more records acknowledged", lambda: load.acked() >= 1500, 60)
    finally:
        load.finish()
    report = load.check(bootstrap)
    if not settings:
        # Stable when nothing changes: once the sizes stop growing, one more
        # round, and then the plan is empty.
        odradek_cluster(nodes[1].bootstrap, "rebalance", "--execute", "--wait", "--json")
        plan = json.loads(odradek_cluster(nodes[0].bootstrap, "rebalance", "--json"))
        assert plan["moves"] == [], f"a balanced cluster gets an empty plan: {plan}"
    how = "by the controller" if settings else "from the CLI"
    print(f"balancer ({how}): a fourth broker got its share in {balanced_in:.1f} s under load; "
          f"replicas per broker {counts}; checker: {report.summary()}")


def test_a_drained_broker_holds_nothing_and_stops_under_load(plain_cluster):
    nodes, base, _ = plain_cluster
    bootstrap = ",".join(n.bootstrap for n in nodes)
    create_topics(bootstrap)
    # Three brokers, partitions of three replicas: nowhere to go.
    refused = subprocess.run([str(BINARY), "cluster", "drain", "0", "--bootstrap-server", bootstrap],
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode == 1 and "cannot meet the drain goal" in refused.stderr, refused
    assert "only 0 usable broker(s)" in refused.stderr, refused.stderr
    assert json.loads(odradek_cluster(bootstrap, "rebalance", "--status", "--json")) == [], "nothing moved"
    load = Load(bootstrap)
    try:
        wait_for("records acknowledged", lambda: load.acked() >= 300, 60)
        nodes.append(join_broker(nodes, base, 3))  # stopped with the others
        wait_for("the fourth broker in the metadata", lambda: 3 in describe(nodes[0].bootstrap), 30)
        started = time.monotonic()
        odradek_cluster(nodes[2].bootstrap, "drain", "0")
        drained_in = time.monotonic() - started
        drained = describe(nodes[2].bootstrap)
        assert drained[0]["replicas"] == 0 and drained[0]["leaders"] == 0, drained
        acked_before_stop = load.acked()
        assert nodes[0].stop() == 0
        wait_for("more records acknowledged with broker 0 stopped",
                 lambda: load.acked() >= acked_before_stop + 500, 60)
    finally:
        load.finish()
    report = load.check(",".join(n.bootstrap for n in nodes[1:]))
    print(f"balancer: drained broker 0 in {drained_in:.1f} s under load, then stopped it; "
          f"checker: {report.summary()}")
