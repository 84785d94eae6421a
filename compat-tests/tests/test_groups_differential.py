"""Consumer groups (classic protocol) on Apache Kafka 4.4 and on Odradek:
the same group consumers (separate processes, clients/group_worker.py, the
`group` mode of java/CompatClient.java and node/client.js) join one after
the other, and what they observe must agree: the generations they report,
how the partitions are split, DescribeGroups' state, the committed offsets,
and the group, empty after clean closes, deleted."""
from __future__ import annotations

import itertools
import time

import pytest
from confluent_kafka import KafkaException

from clients import all_clients
from harness import groups as g

PARTITIONS = 4
PER_PARTITION = 5
SESSION_MS = 10000

CLIENTS = [c for c in all_clients() if c.group_argv("b", "t", "g", "range", None, SESSION_MS) is not None]


@pytest.fixture
def workers(tmp_path):
    started: list[g.GroupWorker] = []
    counter = itertools.count()

    def start(client, bootstrap, topic, group):
        argv = client.group_argv(bootstrap, topic, group, client.eager_strategy, None, SESSION_MS)
        w = g.GroupWorker(f"{client.name}-{next(counter)}", argv, tmp_path)
        started.append(w)
        return w

    yield start
    for w in started:
        w.stop_quietly()


def distinct(xs):
    out = []
    for x in xs:
        if not out or out[-1] != x:
            out.append(x)
    return out


@pytest.mark.parametrize("client", [pytest.param(c, id=c.name) for c in CLIENTS], indirect=True)
def test_group_join_split_commit_leave(client, broker, observe, workers):
    b = broker.bootstrap
    topic, group = f"grp-diff-{client.name}", f"grp-diff-{client.name}-group"
    g.create_topic(b, topic, PARTITIONS)
    g.produce_keyed(b, topic, PARTITIONS, 0, PARTITIONS * PER_PARTITION)
    everything = frozenset(range(PARTITIONS))

    # One member: every partition, every record, offsets committed.
    first = workers(client, b, topic, group)
    first.wait_until(lambda w: w.owned() == everything, 60, "the first member owning every partition")
    first.wait_until(lambda w: len({(p, o) for p, o, _ in w.records()}) == PARTITIONS * PER_PARTITION, 60,
                     "every record consumed")
    ends = {p: PER_PARTITION for p in range(PARTITIONS)}
    g.wait_for(lambda: g.committed(b, group, topic, PARTITIONS) == ends, 30, "offsets committed", 0.2)
    alone = g.describe_group(b, group)

    # A second member joins: the partitions are split between the two.
    second = workers(client, b, topic, group)

    def split():
        owned = [first.owned(), second.owned()]
        if frozenset().union(*owned) != everything or not all(owned) or sum(map(len, owned)) != PARTITIONS:
            return None
        state, members = g.describe_group(b, group)
        return state == "STABLE" and sorted(sorted(a) for _, a in members.values()) == sorted(map(sorted, owned))
    g.wait_for(split, 60, "two members splitting the partitions", 0.2)
    together = g.describe_group(b, group)

    second.close()
    first.wait_until(lambda w: w.owned() == everything, 60, "the first member owning everything again")
    first.close()
    # The group is empty once its last member has left: it can be deleted
    # (with its committed offsets) within a moment, and is gone afterwards.
    a = g.admin(b)
    deadline = time.monotonic() + 3
    while True:
        try:
            a.delete_consumer_groups([group], request_timeout=10)[group].result(15)
            deleted = "ok"
        except KafkaException as e:
            deleted = e.args[0].name()
        if deleted == "ok" or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    after_close = g.describe_group(b, group)

    observe.check({
        "alone": {"state": alone[0], "assignments": sorted(sorted(a) for _, a in alone[1].values())},
        "together": {"state": together[0], "assignments": sorted(sorted(a) for _, a in together[1].values())},
        # Which two partitions each member gets depends on the member ids (random): only the counts compare.
        "first_owned_counts": distinct(len(a) for _, _, a in first.assignments()),
        "generations": {"first": distinct(first.generations()), "second": distinct(second.generations())}
        if client.reports_generation else None,
        "committed": g.committed(b, group, topic, PARTITIONS),
        "records_consumed": sorted({(p, o) for w in (first, second) for p, o, _ in w.records()}),
        "after_close": after_close,
        "delete_group": deleted,
    })
