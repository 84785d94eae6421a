"""Real network faults between three real processes, judged by the queue
checker (the nemesis of test_nemesis.py, with links instead of signals).

Each node runs in its own network namespace, joined to the others and to
the clients by a bridge (harness/netns.py). Two idempotent producers
(confluent-kafka and kafka-python, acks=all) and a live consumer run while:

- the leader of partition 0 loses its link for three broker sessions: it is
  fenced and its partitions move; when the link comes back, requests its
  clients' sockets kept retrying reach it, and it must answer none of them
  as the leader it no longer is;
- the leader of partition 1 can still hear its peers and its clients but
  its packets to the peers vanish (a one-way cut) for two sessions: the
  quorum no longer hears it, its followers no longer get its answers; it
  must acknowledge nothing its peers did not copy.

Then every partition is read from the start and the history checked: nothing
acknowledged lost, nothing duplicated, each record where its acknowledgement
put it, each producer's records in order, no offset gaps, no skipped polls.
The figures (time to a new leader, to rejoin the ISR) are printed."""
from __future__ import annotations

import time

import pytest

from harness.cluster import start_cluster, stop_and_check
from harness.netns import Namespaces, why_unavailable
from test_nemesis import PER_PRODUCER, TOPIC, Run, finish_and_check, longest_gap, start_clients
from test_replication import FAILOVER_SETTINGS, SESSION_MS, create_replicated, partitions, wait_for

MATRIX_CLIENT = "confluent"
CUT_S = 3 * SESSION_MS / 1000
ONE_WAY_S = 2 * SESSION_MS / 1000


@pytest.fixture
def netns_cluster(tmp_path):
    why = why_unavailable()
    if why:
        pytest.skip(why)
    with Namespaces(3) as ns:
        nodes = start_cluster(tmp_path, settings=[*FAILOVER_SETTINGS, "offsets.topic.replication.factor=3"],
                              wrappers={i: ns.wrapper(i) for i in range(3)}, hosts=ns.addresses)
        try:
            yield ns, nodes
        finally:
            for i in range(3):
                ns.mend(i)
                for j in range(3):
                    ns.mend_one_way(i, j)
            stop_and_check(nodes)


def full_isrs(bootstrap: str) -> bool:
    return all(isr == [0, 1, 2] for _, isr in partitions(bootstrap, TOPIC).values())


def test_cut_and_one_way_links_lose_nothing_and_deposed_leaders_answer_nothing(netns_cluster):
    ns, cluster = netns_cluster
    create_replicated(cluster[0].bootstrap, TOPIC, 2, {"min.insync.replicas": "2"})
    bootstrap = ",".join(node.bootstrap for node in cluster)
    run = Run()
    threads = start_clients(bootstrap, run)

    wait_for("a third acknowledged", lambda: run.acked_count() >= 2 * PER_PRODUCER // 3, 60)
    isolated = partitions(cluster[0].bootstrap, TOPIC)[0][0]
    observer = cluster[(isolated + 1) % 3]
    ns.cut(isolated)
    cut_at = time.monotonic()
    moved = wait_for("partition 0 to get a new leader",
                     lambda: partitions(observer.bootstrap, TOPIC)[0][0] not in (isolated, -1),
                     SESSION_MS / 1000 + 20)
    time.sleep(max(0.0, CUT_S - (time.monotonic() - cut_at)))
    ns.mend(isolated)
    rejoined = wait_for("the reconnected node to rejoin both ISRs", lambda: full_isrs(observer.bootstrap), 60)

    wait_for("two thirds acknowledged", lambda: run.acked_count() >= 4 * PER_PRODUCER // 3, 120)
    muted = partitions(observer.bootstrap, TOPIC)[1][0]
    observer = cluster[(muted + 1) % 3]
    peers = [i for i in range(3) if i != muted]
    for peer in peers:
        ns.cut_one_way(muted, peer)
    muted_at = time.monotonic()
    muted_moved = wait_for("partition 1 to get a new leader",
                           lambda: partitions(observer.bootstrap, TOPIC)[1][0] not in (muted, -1),
                           SESSION_MS / 1000 + 20)
    time.sleep(max(0.0, ONE_WAY_S - (time.monotonic() - muted_at)))
    for peer in peers:
        ns.mend_one_way(muted, peer)
    muted_rejoined = wait_for("the unmuted node to rejoin both ISRs", lambda: full_isrs(observer.bootstrap), 60)

    report = finish_and_check(run, threads, observer.bootstrap, 240)
    print(f"Link of partition 0's leader cut for {CUT_S:.0f} s (session {SESSION_MS} ms): new leader after "
          f"{moved:.2f} s, partition 0 acknowledged nothing for {longest_gap(run.ack_times[0], cut_at):.2f} s, "
          f"back in both ISRs {rejoined:.2f} s after the link came back. Partition 1's leader muted one way "
          f"for {ONE_WAY_S:.0f} s: new leader after {muted_moved:.2f} s, longest ack gap "
          f"{longest_gap(run.ack_times[1], muted_at):.2f} s, back in both ISRs {muted_rejoined:.2f} s after. "
          f"Checker: {report.summary()}")
    assert report.violations() == {}, report.violations()
    assert not run.errors, run.errors[:3]
    assert len(run.history.acked) == 2 * PER_PRODUCER
