"""Consumer groups, classic rebalance protocol, with real group consumers
(separate processes, so they can be SIGKILLed) against the release binary:

1. three members over six partitions: each partition owned by exactly one,
   as the members and DescribeGroups agree;
2. a member is SIGKILLed: after its session times out the survivors own all
   six partitions and resume from the committed offsets, losing no record
   (eager assignor; the time from SIGKILL to full ownership is printed);
3. the same with cooperative-sticky (KIP-429);
4. a static member (KIP-345) closes without leaving, or is SIGKILLed, and
   restarts within its session timeout: same partitions, no rebalance;
5. the broker restarts (SIGTERM, SIGKILL): committed offsets survive, a
   consumer resumes at them, and a consumer left running carries on.

Checks of the broker's side go through confluent-kafka's admin client
(DescribeGroups, OffsetFetch), independent of the client under test.
"""
from __future__ import annotations

import itertools
import time

import pytest

from clients import all_clients
from harness import groups as g

PARTITIONS = 6
SESSION_MS = 6000
STATIC_SESSION_MS = 30000  # a restarted JVM comfortably rejoins within it
BROKER_SETTINGS = ("group.initial.rebalance.delay.ms=300",)
ALL = frozenset(range(PARTITIONS))
TIMING: list[str] = []  # summary lines, printed at the end of the module

CLIENTS = [c for c in all_clients() if c.group_argv("b", "t", "g", "range", None, SESSION_MS) is not None]


def client_params():
    return [pytest.param(c, id=c.name) for c in CLIENTS]


@pytest.fixture(scope="module", autouse=True)
def timing_summary():
    yield
    if TIMING:
        print("\n=== consumer group timings\n" + "\n".join(TIMING))


@pytest.fixture
def workers(tmp_path):
    """start(client, bootstrap, topic, group, strategy, instance=None, session_ms=SESSION_MS) -> GroupWorker;
    every worker still running at the end is SIGKILLed."""
    started: list[g.GroupWorker] = []
    counter = itertools.count()

    def start(client, bootstrap, topic, group, strategy, instance=None, session_ms=SESSION_MS):
        argv = client.group_argv(bootstrap, topic, group, strategy, instance, session_ms)
        w = g.GroupWorker(f"{client.name}-{next(counter)}", argv, tmp_path)
        started.append(w)
        return w

    yield start
    for w in started:
        w.stop_quietly()


def strategy_for(client, kind: str) -> str:
    if kind == "eager":
        return client.eager_strategy
    if client.no_cooperative:
        pytest.skip(client.no_cooperative)
    return "cooperative-sticky"


def wait_covered(bootstrap, group, members, timeout=90.0):
    """Until the members' own assignments split all partitions between them,
    every member owning some, and DescribeGroups (Stable) says the same."""
    def settled():
        owned = [w.owned() for w in members]
        if sum(len(o) for o in owned) != PARTITIONS or frozenset().union(*owned) != ALL or not all(owned):
            return None
        state, described = g.describe_group(bootstrap, group)
        if state != "STABLE" or sorted(map(sorted, (a for _, a in described.values()))) != sorted(map(sorted, owned)):
            return None
        return owned, described
    try:
        return g.wait_for(settled, timeout, "members splitting every partition", interval=0.2)
    except AssertionError:
        raise AssertionError("no stable split of the partitions; " + "; ".join(
            f"{w.name} owns {sorted(w.owned())}" for w in members) + "\n"
            + f"DescribeGroups: {g.describe_group(bootstrap, group)}\n"
            + "\n".join(w.describe() for w in members)) from None


def consumed(members, since=0.0) -> set[tuple[int, int]]:
    return {(p, o) for w in members for p, o, _ in w.records(since)}


def wait_consumed(members, ends: dict[int, int], timeout=90.0):
    want = {(p, o) for p, end in ends.items() for o in range(end)}
    try:
        g.wait_for(lambda: want <= consumed(members), timeout, "every record consumed", interval=0.2)
    except AssertionError:
        missing = sorted(want - consumed(members))
        raise AssertionError(f"{len(missing)} records never consumed, first {missing[:10]}\n"
                             + "\n".join(f"{w.name} owns {sorted(w.owned())}\n{w.describe()}" for w in members)) from None


def wait_committed(bootstrap, group, topic, ends, timeout=60.0):
    g.wait_for(lambda: g.committed(bootstrap, group, topic, PARTITIONS) == ends, timeout,
               f"committed offsets reaching {ends} (now {g.committed(bootstrap, group, topic, PARTITIONS)})", 0.2)


def keys_consumed(members) -> set[bytes]:
    return {k for w in members for _, _, k in w.records()}


# --- 1 ---------------------------------------------------------------------------
@pytest.mark.parametrize("client", client_params(), indirect=True)
def test_three_members_split_six_partitions(client, start_broker, workers):
    broker = start_broker(BROKER_SETTINGS)
    topic, group = "grp-split", "split"
    g.create_topic(broker.bootstrap, topic, PARTITIONS)
    members = [workers(client, broker.bootstrap, topic, group, client.eager_strategy) for _ in range(3)]
    owned, described = wait_covered(broker.bootstrap, group, members)
    assert len(described) == 3
    # Each member consumes exactly its own partitions.
    g.produce_keyed(broker.bootstrap, topic, PARTITIONS, 0, 60)
    wait_consumed(members, {p: 10 for p in range(PARTITIONS)})
    for w in members:
        assert {p for p, _, _ in w.records()} <= w.owned(), f"{w.name} read partitions it does not own"
    # Dynamic members leave on a clean close: the group ends Empty.
    for w in members:
        w.close()
    g.wait_for(lambda: g.describe_group(broker.bootstrap, group) == ("EMPTY", {}), 30, "an empty group after the members left")


# --- 2, 3 -------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["eager", "cooperative"])
@pytest.mark.parametrize("client", client_params(), indirect=True)
def test_sigkilled_member_partitions_move(client, kind, start_broker, workers):
    strategy = strategy_for(client, kind)
    broker = start_broker(BROKER_SETTINGS)
    topic, group = f"grp-kill-{kind}", f"kill-{kind}"
    g.create_topic(broker.bootstrap, topic, PARTITIONS)
    members = [workers(client, broker.bootstrap, topic, group, strategy) for _ in range(3)]
    wait_covered(broker.bootstrap, group, members)

    keys = g.produce_keyed(broker.bootstrap, topic, PARTITIONS, 0, 300)
    first = {p: 50 for p in range(PARTITIONS)}
    wait_consumed(members, first)
    wait_committed(broker.bootstrap, group, topic, first)

    victim, survivors = members[0], members[1:]
    orphaned = victim.owned()
    killed_at = victim.kill()
    keys += g.produce_keyed(broker.bootstrap, topic, PARTITIONS, 300, 300)
    # The victim's commits are all in: nothing else commits its partitions
    # until the survivors own them, after the session timeout.
    time.sleep(1)
    frozen = g.committed(broker.bootstrap, group, topic, PARTITIONS)
    assert all(frozen[p] == 50 for p in orphaned), frozen

    def taken_over():
        if frozenset().union(*(w.owned() for w in survivors)) != ALL:
            return None
        return True
    try:
        g.wait_for(taken_over, 90, "survivors owning every partition", interval=0.05)
    except AssertionError:
        raise AssertionError("survivors never owned every partition\n"
                             + "\n".join(w.describe() for w in survivors)) from None
    # When it happened, from the survivors' own assignment lines.
    latest, owned_at = {}, None
    events = sorted((at, i, parts) for i, w in enumerate(survivors) for at, _, parts in w.assignments())
    for at, i, parts in events:
        latest[i] = parts
        if at >= killed_at and frozenset().union(*latest.values()) == ALL and sum(map(len, latest.values())) == PARTITIONS:
            owned_at = at
            break
    assert owned_at is not None, events
    took = owned_at - killed_at
    TIMING.append(f"{client.name:13} {strategy:19} SIGKILL -> survivors own all {PARTITIONS} partitions: "
                  f"{took:.2f}s (session.timeout.ms={SESSION_MS}, heartbeat 1000ms)")
    print(f"\n{TIMING[-1]}")
    assert took >= SESSION_MS / 1000 * 0.8, "partitions moved before the session could time out"

    wait_covered(broker.bootstrap, group, survivors)
    wait_consumed(members, g.end_offsets(broker.bootstrap, topic, PARTITIONS))
    assert set(keys) <= keys_consumed(members)
    # The survivors took over the orphaned partitions at the committed offsets.
    for p in orphaned:
        taken = [o for w in survivors for q, o, _ in w.records(killed_at) if q == p]
        assert min(taken) == frozen[p], f"partition {p}: resumed at {min(taken)}, committed {frozen[p]}"
    if kind == "cooperative":
        # Cooperative: a survivor never gave up a partition it kept.
        for w in survivors:
            before = [parts for at, _, parts in w.assignments() if at < killed_at][-1]
            assert all(before <= parts for at, _, parts in w.assignments() if at >= killed_at), (
                f"{w.name} revoked partitions it kept: {w.assignments()}")
    for w in survivors:
        w.close()


# --- 4 ---------------------------------------------------------------------------
@pytest.mark.parametrize("how", ["close", "sigkill"])
@pytest.mark.parametrize("client", client_params(), indirect=True)
def test_static_member_restarts_without_rebalance(client, how, start_broker, workers):
    if client.no_static_membership:
        pytest.skip(client.no_static_membership)
    broker = start_broker(BROKER_SETTINGS)
    topic, group = f"grp-static-{how}", f"static-{how}"
    g.create_topic(broker.bootstrap, topic, PARTITIONS)

    def member(i):
        return workers(client, broker.bootstrap, topic, group, client.eager_strategy, f"inst-{i}", STATIC_SESSION_MS)
    members = [member(i) for i in range(3)]
    _, described = wait_covered(broker.bootstrap, group, members)
    assert sorted(i for i, _ in described.values()) == ["inst-0", "inst-1", "inst-2"]
    g.produce_keyed(broker.bootstrap, topic, PARTITIONS, 0, 120)
    wait_consumed(members, {p: 20 for p in range(PARTITIONS)})
    wait_committed(broker.bootstrap, group, topic, {p: 20 for p in range(PARTITIONS)})

    generations = {w.generations()[-1] for w in members if w.generations()}
    assert len(generations) == (1 if client.reports_generation else 0), f"the members' generations: {generations}"
    # Every member restarts in turn, so the group's leader is among them.
    produced, everyone = 20, list(members)
    for i in range(3):
        victim, survivors = members[i], members[:i] + members[i + 1:]
        mine = victim.owned()
        old_member_id = next(m for m, (inst, _) in described.items() if inst == f"inst-{i}")
        if how == "close":
            victim.close()  # a static member does not leave on close
        else:
            victim.kill()
        stopped_at = time.monotonic()
        state, after = g.describe_group(broker.bootstrap, group)
        assert state == "STABLE" and sorted(inst for inst, _ in after.values()) == ["inst-0", "inst-1", "inst-2"], (
            f"the static member left the group on {how}: {state} {after}")

        again = members[i] = member(i)
        everyone.append(again)
        again.wait_until(lambda w: w.owned() == mine, 60, f"the restarted static member getting {sorted(mine)} back")
        rejoined_in = time.monotonic() - stopped_at
        TIMING.append(f"{client.name:13} static member inst-{i} restart after {how}: "
                      f"same partitions back in {rejoined_in:.2f}s")
        print(f"\n{TIMING[-1]}")
        assert rejoined_in < STATIC_SESSION_MS / 1000, "not within the session timeout: the test proves nothing"
        time.sleep(2)  # room for a rebalance to show, if one were coming
        # No rebalance: the others never saw their assignment change, the
        # restarted member saw only its old partitions and the same generation.
        for w in survivors:
            assert [parts for at, _, parts in w.assignments() if at >= stopped_at] == [], (
                f"{w.name} went through a rebalance: {w.assignments()}")
        # (an eager client may report an empty revocation before its first join)
        assert {parts for _, _, parts in again.assignments() if parts} == {mine}, again.assignments()
        assert set(again.generations()) <= generations, f"generation {again.generations()}, was {generations}"
        state, after = g.describe_group(broker.bootstrap, group)
        assert state == "STABLE"
        assert {inst: a for inst, a in after.values()} == {inst: a for inst, a in described.values()}
        assert old_member_id not in after, "the restarted member kept its old member id"
        described = after

        # It reads on from the group's commits.
        g.produce_keyed(broker.bootstrap, topic, PARTITIONS, produced * PARTITIONS, 10 * PARTITIONS)
        produced += 10
        wait_consumed(everyone, {p: produced for p in range(PARTITIONS)})
        for p in mine:
            resumed = min(o for q, o, _ in again.records() if q == p)
            assert resumed == produced - 10, f"partition {p} resumed at {resumed}, not at its commit"
        wait_committed(broker.bootstrap, group, topic, {p: produced for p in range(PARTITIONS)})
    for w in members:
        w.close()


# --- 5 ---------------------------------------------------------------------------
@pytest.mark.parametrize("how", ["sigterm", "sigkill"])
@pytest.mark.parametrize("client", client_params(), indirect=True)
def test_offsets_survive_broker_restart(client, how, start_broker, workers):
    broker = start_broker(BROKER_SETTINGS)
    topic = f"grp-restart-{how}"
    g.create_topic(broker.bootstrap, topic, PARTITIONS)
    g.produce_keyed(broker.bootstrap, topic, PARTITIONS, 0, 120)
    first = {p: 20 for p in range(PARTITIONS)}
    # "parked" commits everything and closes; "live" stays up across the restart.
    parked = workers(client, broker.bootstrap, topic, "parked", client.eager_strategy)
    live = workers(client, broker.bootstrap, topic, "live", client.eager_strategy)
    wait_consumed([parked], first)
    wait_consumed([live], first)
    wait_committed(broker.bootstrap, "parked", topic, first)
    wait_committed(broker.bootstrap, "live", topic, first)
    parked.close()

    if how == "sigterm":
        assert broker.stop() == 0
    else:
        broker.kill()
    restarted_at = time.monotonic()
    broker = start_broker(BROKER_SETTINGS, data_dir=broker.data_dir, port=broker.port)
    assert g.committed(broker.bootstrap, "parked", topic, PARTITIONS) == first
    assert g.committed(broker.bootstrap, "live", topic, PARTITIONS) == first

    g.produce_keyed(broker.bootstrap, topic, PARTITIONS, 120, 120)
    ends = {p: 40 for p in range(PARTITIONS)}
    resumed = workers(client, broker.bootstrap, topic, "parked", client.eager_strategy)
    g.wait_for(lambda: {(p, o) for p, o, _ in resumed.records()} >= {(p, o) for p in ends for o in range(20, 40)},
               90, "the resumed consumer reading every new record")
    starts = {p: min(o for q, o, _ in resumed.records() if q == p) for p in range(PARTITIONS)}
    assert starts == first, f"resumed at {starts}, committed {first}"
    try:
        wait_consumed([live], ends)
    except AssertionError as e:
        raise AssertionError(f"the consumer left running across the {how} restart stalled\n{e}") from None
    caught_up = max(l.at for l in live.lines if l.fields[0] == "record")
    TIMING.append(f"{client.name:13} broker {how}: the running consumer had read every new record "
                  f"{caught_up - restarted_at:.2f}s after the restart")
    wait_committed(broker.bootstrap, "live", topic, ends)
    for w in (resumed, live):
        w.close()
