"""Controllers and brokers apart (Kafka's isolated mode): one node with
process.roles=controller (the quorum's only voter, serving no client) and
two with process.roles=broker (they follow the metadata log without voting).

- Clients see the two brokers only, and use them: topics spread over both,
  groups commit, records come back.
- Kafka 4.4's kafka-metadata-quorum shows the controller as the voter and
  leader, and the brokers as observers.
- A broker restarted (its quorum port changes) is fed the log again and
  sees what was decided while it was away."""
from __future__ import annotations

import re

import pytest
from confluent_kafka.admin import AdminClient

from harness.cluster import start_split_cluster, stop_and_check
from test_cluster import consume_confluent, create_topic, leaders, metadata_quorum, produce_confluent

MATRIX_CLIENT = "confluent"


@pytest.fixture
def split(tmp_path):
    nodes = start_split_cluster(tmp_path, controllers=1, brokers=2, settings=[
        "broker.session.timeout.ms=3000", "broker.heartbeat.interval.ms=500",
        "offsets.topic.num.partitions=4"])
    yield nodes
    stop_and_check(nodes)


def test_brokers_follow_a_controller_that_serves_no_client(split):
    brokers, controller = split[:2], split[2]
    assert "a controller serving no clients" in controller.ready_line
    for broker in brokers:
        md = AdminClient({"bootstrap.servers": broker.bootstrap}).list_topics(timeout=10)
        assert sorted(md.brokers) == [0, 1], "the controller is no broker"
        assert md.controller_id in (0, 1), "clients are pointed at a broker"
        assert md.cluster_id == controller.cluster_id

    create_topic(brokers[1].bootstrap, "isolated", 4)
    assert sorted(set(leaders(brokers[0].bootstrap, "isolated").values())) == [0, 1]
    values = [f"v{i}" for i in range(200)]
    produce_confluent(brokers[0].bootstrap, "isolated", values)
    seen = consume_confluent(brokers[1].bootstrap, "isolated", "g-isolated", len(values))
    assert sorted(seen) == sorted(values)

    rows = [line.split() for line in metadata_quorum(brokers[0].bootstrap, "replication").splitlines()[1:]
            if line.strip()]
    print(rows)
    roles = {int(r[0]): r[-1] for r in rows}
    assert roles == {2: "Leader", 0: "Observer", 1: "Observer"}
    status = metadata_quorum(brokers[1].bootstrap, "status")
    assert sorted(int(v) for v in re.findall(r'"id": (\d+)', status.split("CurrentVoters", 1)[1].split("\n")[0])) == [2]

    # Restarted on a new quorum port, broker 1 is fed the log again.
    assert brokers[1].stop() == 0
    create_topic(brokers[0].bootstrap, "while-away", 2)
    brokers[1].start(30)
    md = AdminClient({"bootstrap.servers": brokers[1].bootstrap}).list_topics(timeout=10)
    assert "while-away" in md.topics and "isolated" in md.topics
    create_topic(brokers[1].bootstrap, "after", 2)
    assert "after" in AdminClient({"bootstrap.servers": brokers[0].bootstrap}).list_topics(timeout=10).topics
