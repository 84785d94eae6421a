"""Every client family against one three-node cluster (every node a broker
and a voter): each sees the three brokers, creates a topic whose partitions
are led by different nodes, and produces and reads back records across
those leaders. RF=1, so that each node leads its own partition."""
from __future__ import annotations

import pytest

from clients import all_clients
from clients.franz import FranzClient
from harness.cluster import start_cluster, stop_and_check
from harness.data import PARTITIONS, expected_records
from test_clients import assert_records, expected_acks

# franz-go joins the seven families here (not yet in the differential matrix).
CLIENTS = all_clients() + [FranzClient()]
NODES = 3


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    # What each client needs of a broker (kcat creates topics by auto-creation).
    needs = sorted({setting for c in CLIENTS for setting in c.broker_settings})
    nodes = start_cluster(tmp_path_factory.mktemp("cluster-clients"), NODES, needs)
    yield nodes
    stop_and_check(nodes)


@pytest.mark.parametrize("client", [pytest.param(c, id=c.name) for c in CLIENTS], indirect=True)
def test_every_client_produces_and_consumes_across_leaders(client, cluster):
    bootstrap = cluster[1].bootstrap
    md = client.metadata(bootstrap)
    assert sorted((node, port) for node, _, port in md.brokers) == sorted((i, n.port) for i, n in enumerate(cluster))
    assert md.controller_id in range(NODES)
    topic = f"cluster-{client.name}"
    leaders = client.create_topic(bootstrap, topic, PARTITIONS)
    assert sorted(leaders.values()) == list(range(NODES)), f"one partition per node: {leaders}"
    records = expected_records("none", text_only=client.text_only, uniform_headers=client.uniform_headers)
    acks = client.produce(cluster[2].bootstrap, topic, "none", records)
    assert acks == expected_acks(records)
    assert_records(client.consume(cluster[0].bootstrap, topic), records)
