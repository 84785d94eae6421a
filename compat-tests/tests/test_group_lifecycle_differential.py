"""Consumer-group lifecycles that once took Odradek far longer than Kafka,
on both brokers with Kafka's default initial rebalance delay (3 s):

- consumers that close while their group forms (inside the initial delay):
  the group is Empty at once and DeleteGroups deletes it (Odradek waited the
  delay out, extended by each join, and answered NON_EMPTY_GROUP);
- eight cooperative-sticky consumers changing their subscriptions in rounds:
  each round converges (every subscribed partition owned once, by a member
  subscribed to it) well within a minute. The time per round is printed,
  not asserted: performance is measured, not asserted in tests.

confluent-kafka (librdkafka), in process."""
from __future__ import annotations

import time
import uuid

from confluent_kafka import Consumer, KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

MATRIX_CLIENT = "confluent"
# Kafka's default: a new group's first rebalance waits for more members.
BROKER_SETTINGS = ("group.initial.rebalance.delay.ms=3000",)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def create(broker, topics: dict[str, int]) -> None:
    a = AdminClient({"bootstrap.servers": broker.bootstrap})
    for f in a.create_topics([NewTopic(t, n, 1) for t, n in topics.items()], operation_timeout=10).values():
        f.result(15)
    deadline = time.monotonic() + 15
    for t, n in topics.items():
        while True:
            md = a.list_topics(t, timeout=10).topics[t]
            if md.error is None and len(md.partitions) == n and all(p.leader >= 0 for p in md.partitions.values()):
                break
            assert time.monotonic() < deadline, md.error
            time.sleep(0.1)


def consumer(broker, group: str, **conf) -> Consumer:
    return Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group, "auto.offset.reset": "earliest",
                     "session.timeout.ms": 10000, "heartbeat.interval.ms": 1000, **conf})


def test_consumers_closing_while_the_group_forms_leave_it_deletable(broker, observe):
    topic, group = unique("closing"), unique("closing-g")
    create(broker, {topic: 3})
    members = [consumer(broker, group) for _ in range(3)]
    for c in members:
        c.subscribe([topic])
    # Join, then close inside the 3 s initial delay, once the broker lists all
    # three members: every JoinGroup carries its member id and is parked, so
    # every close sends a LeaveGroup. (Closing after a fixed time raced with a
    # slow first join: a member whose id the client had not yet received never
    # left, and Kafka rightly kept the group.)
    a = AdminClient({"bootstrap.servers": broker.bootstrap})
    deadline = time.monotonic() + 20
    joined = 0
    while joined < len(members):
        assert time.monotonic() < deadline, f"{joined} of {len(members)} members joined"
        for c in members:
            c.poll(0.05)
        try:
            described = a.describe_consumer_groups([group], request_timeout=5)[group].result(10)
        except KafkaException as e:  # Kafka answers COORDINATOR_LOAD_IN_PROGRESS while it starts
            error = e.args[0] if e.args else None
            settling = (KafkaError._TIMED_OUT, KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
                        KafkaError.COORDINATOR_NOT_AVAILABLE, KafkaError.NOT_COORDINATOR)
            if error is None or not (error.retriable() or error.code() in settling):
                raise
            continue
        joined = len(described.members)
    for c in members:
        c.close()  # LeaveGroup
    closed = time.monotonic()
    outcome = a.delete_consumer_groups([group], request_timeout=10)[group]
    try:
        outcome.result(15)
        deleted = "deleted"
    except Exception as e:  # KafkaException carrying the broker's error
        deleted = e.args[0].name() if e.args and hasattr(e.args[0], "name") else repr(e)
    print(f"{broker.kind}: DeleteGroups {time.monotonic() - closed:.2f} s after the last close: {deleted}")
    listed = {g.group_id for g in a.list_consumer_groups(request_timeout=10).result(15).valid}
    observe.check({"delete": deleted, "listed_after": group in listed})


def plan(topics: list[str], members: int, round_no: int) -> list[list[str]]:
    """Round r's subscription of each member: alternate halves, then mixes."""
    a, b = topics
    if round_no % 2 == 0:
        return [[a] if i % 2 == 0 else [b] for i in range(members)]
    return [[a, b] if i < members // 2 else [topics[(i + round_no) % 2]] for i in range(members)]


def ownership(members: list[Consumer], subscriptions: list[list[str]], partitions: int) -> str:
    """'converged', or what is still wrong."""
    owned: dict[tuple[str, int], int] = {}
    for i, c in enumerate(members):
        for tp in c.assignment():
            if tp.topic not in subscriptions[i]:
                return f"member {i} owns {tp.topic}-{tp.partition} it does not subscribe to"
            if (tp.topic, tp.partition) in owned:
                return f"{tp.topic}-{tp.partition} owned twice"
            owned[(tp.topic, tp.partition)] = i
    wanted = {t for s in subscriptions for t in s}
    if len(owned) != partitions * len(wanted):
        return f"{len(owned)} of {partitions * len(wanted)} partitions owned"
    return "converged"


def test_cooperative_members_changing_subscriptions_converge(broker, observe):
    partitions, members_n, rounds = 16, 8, 4
    topics = [unique("coop-a"), unique("coop-b")]
    group = unique("coop-g")
    create(broker, {t: partitions for t in topics})
    members = [consumer(broker, group, **{"partition.assignment.strategy": "cooperative-sticky"})
               for _ in range(members_n)]
    states, seconds = [], []
    try:
        for r in range(rounds):
            subscriptions = plan(topics, members_n, r)
            for c, s in zip(members, subscriptions):
                c.subscribe(s)
            started = time.monotonic()
            state = "not yet polled"
            while time.monotonic() - started < 60:
                for c in members:
                    c.poll(0.05)
                state = ownership(members, subscriptions, partitions)
                if state == "converged":
                    # ... and stays so for two seconds.
                    steady = time.monotonic()
                    while time.monotonic() - steady < 2 and state == "converged":
                        for c in members:
                            c.poll(0.05)
                        state = ownership(members, subscriptions, partitions)
                    if state == "converged":
                        break
            seconds.append(round(time.monotonic() - started - 2, 1))
            states.append(state)
    finally:
        for c in members:
            c.close()
    print(f"{broker.kind}: seconds to converge per round {seconds}")
    assert states == ["converged"] * rounds, states
    observe.check({"rounds": states})
