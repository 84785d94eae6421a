"""A three-node cluster on loopback: every node a broker and a voter of the
metadata quorum (Kafka's combined mode), with real clients.

- Clients see three brokers, one cluster id and a controller, from any node.
- kill -9 of the quorum's leader: another node takes the controller over,
  and the killed broker is fenced (it leaves Metadata) once its session
  runs out; restarted, it registers again and reappears.

The times are printed (and reported in the issue's closing note), bounded
only loosely: performance is measured, not asserted.

Topics are not placed across the nodes yet (next step of the cluster work):
these scenarios look at brokers and the controller only."""
from __future__ import annotations

import time

import pytest
from confluent_kafka.admin import AdminClient
from kafka import KafkaAdminClient

from harness.broker import Broker, free_port

MATRIX_CLIENT = "confluent"
SESSION_MS = 3000


@pytest.fixture
def cluster(tmp_path):
    ports = [free_port() for _ in range(3)]
    quorum_ports = [free_port() for _ in range(3)]
    voters = ",".join(f"{i}@127.0.0.1:{quorum_ports[i]}" for i in range(3))
    nodes = [
        Broker(tmp_path / f"node{i}", port=ports[i], log_path=tmp_path / f"node{i}.log", settings=[
            f"node.id={i}",
            f"controller.quorum.voters={voters}",
            f"listeners=PLAINTEXT://127.0.0.1:{ports[i]},CONTROLLER://127.0.0.1:{quorum_ports[i]}",
            "controller.listener.names=CONTROLLER",
            f"broker.session.timeout.ms={SESSION_MS}",
            "broker.heartbeat.interval.ms=500",
        ])
        for i in range(3)
    ]
    for node in nodes:
        node.launch()
    for node in nodes:
        node.wait_ready(30)
    yield nodes
    codes = {}
    for node in nodes:
        if node.proc is not None:
            codes[node.bootstrap] = node.stop()
        print(f"--- {node.log_path}\n{node.log_tail(30)}")
    assert all(code == 0 for code in codes.values()), f"exit codes on SIGTERM: {codes}"


def brokers_seen(bootstrap: str):
    md = AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=10)
    return sorted((b.id, b.port) for b in md.brokers.values()), md.controller_id, md.cluster_id


def test_clients_see_three_brokers_one_cluster_and_a_controller(cluster):
    expected = sorted((i, node.port) for i, node in enumerate(cluster))
    answers = [brokers_seen(node.bootstrap) for node in cluster]
    for brokers, controller, cluster_id in answers:
        assert brokers == expected
        assert controller in range(3)
        assert cluster_id == cluster[0].cluster_id
    assert len({node.cluster_id for node in cluster}) == 1, "one cluster id, minted once"
    admin = KafkaAdminClient(bootstrap_servers=cluster[1].bootstrap)
    try:
        described = admin.describe_cluster()
        assert sorted(b["broker_id"] for b in described["brokers"]) == [0, 1, 2]
        assert not any(b["is_fenced"] for b in described["brokers"])
        assert described["cluster_id"] == cluster[0].cluster_id
    finally:
        admin.close()


def test_the_controller_survives_kill_9_of_its_leader(cluster):
    _, controller, _ = brokers_seen(cluster[0].bootstrap)
    survivor = cluster[(controller + 1) % 3]
    cluster[controller].kill()
    killed = time.monotonic()
    new_controller = fenced = None
    while time.monotonic() - killed < SESSION_MS / 1000 + 20:
        brokers, now, _ = brokers_seen(survivor.bootstrap)
        if new_controller is None and now != controller:
            new_controller = time.monotonic() - killed
        if fenced is None and controller not in [b for b, _ in brokers]:
            fenced = time.monotonic() - killed
        if new_controller is not None and fenced is not None:
            break
        time.sleep(0.05)
    print(f"kill -9 of the controller: another node controls after {new_controller:.2f} s; "
          f"the killed broker leaves Metadata after {fenced:.2f} s (session {SESSION_MS} ms)")
    assert new_controller is not None and fenced is not None
    cluster[controller].start(30)
    rejoined = time.monotonic()
    while controller not in [b for b, _ in brokers_seen(survivor.bootstrap)[0]]:
        assert time.monotonic() - rejoined < 20, "the restarted broker did not come back"
        time.sleep(0.05)
    print(f"restarted, it is back in Metadata {time.monotonic() - rejoined:.2f} s after its ready line")


def metadata_quorum(bootstrap: str, what: str) -> str:
    """Kafka 4.4's own `kafka-metadata-quorum describe --status|--replication`."""
    from harness.kafka import JAVA, LIBS
    import subprocess
    out = subprocess.run(
        [JAVA, "-cp", f"{LIBS}/*", "org.apache.kafka.tools.MetadataQuorumCommand",
         "--bootstrap-server", bootstrap, "describe", f"--{what}"],
        capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


def test_kafka_metadata_quorum_describes_the_quorum(cluster):
    _, controller, _ = brokers_seen(cluster[0].bootstrap)
    asked = cluster[(controller + 1) % 3]  # a node that does not lead: it asks the leader
    status = dict(line.split(":", 1) for line in metadata_quorum(asked.bootstrap, "status").splitlines() if ":" in line)
    print(status)
    assert status["ClusterId"].strip() == cluster[0].cluster_id
    assert int(status["LeaderId"]) == controller
    assert int(status["HighWatermark"]) > 0
    assert sorted(int(v) for v in __import__("re").findall(r'"id": (\d+)', status["CurrentVoters"])) == [0, 1, 2]
    rows = [line.split() for line in metadata_quorum(asked.bootstrap, "replication").splitlines()[1:] if line.strip()]
    print(rows)
    assert sorted(int(r[0]) for r in rows) == [0, 1, 2]
    assert sorted(r[-1] for r in rows) == ["Follower", "Follower", "Leader"]


def test_a_stopped_broker_leaves_metadata_at_once(cluster):
    """SIGTERM: controlled shutdown fences the broker before it exits, so
    clients stop being sent to it without waiting out its session."""
    _, controller, _ = brokers_seen(cluster[0].bootstrap)
    stopping = (controller + 1) % 3
    survivor = cluster[(controller + 2) % 3]
    assert cluster[stopping].stop() == 0
    stopped = time.monotonic()
    while stopping in [b for b, _ in brokers_seen(survivor.bootstrap)[0]]:
        assert time.monotonic() - stopped < SESSION_MS / 1000 * 0.6, "still listed: fenced by silence, not by its shutdown"
        time.sleep(0.02)
    print(f"SIGTERM: the broker was out of Metadata {time.monotonic() - stopped:.3f} s after it exited")


def test_a_node_with_another_voter_list_refuses_to_start(cluster, tmp_path):
    import subprocess
    from harness.broker import BINARY
    voters = cluster[0].settings[1].split("=", 1)[1]
    port, quorum_port = free_port(), free_port()
    wrong = f"{voters},3@127.0.0.1:{quorum_port}"
    out = subprocess.run(
        [str(BINARY), "serve", "--data-dir", str(tmp_path / "stranger"), "--set", "node.id=3",
         "--set", f"controller.quorum.voters={wrong}", "--set", "controller.listener.names=CONTROLLER",
         "--set", f"listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{quorum_port}"],
        capture_output=True, text=True, timeout=60)
    assert out.returncode == 1
    assert f"controller.quorum.voters names {wrong}" in out.stderr and "give every node the same list" in out.stderr, out.stderr[-1500:]
    assert sorted(b for b, _ in brokers_seen(cluster[0].bootstrap)[0]) == [0, 1, 2], "the cluster is undisturbed"
