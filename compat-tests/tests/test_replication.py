"""Replication on three real processes: followers copy their leaders with
Kafka's Fetch, acks=all waits for every in-sync replica's disk, and a
killed leader's partitions move to an in-sync follower with nothing
acknowledged lost.

- A topic with three replicas: every replica is in sync, records produced
  with acks=all survive kill -9 of their leader, and the killed node comes
  back into the ISR once it has caught up; then its data survives the loss
  of another node.
- min.insync.replicas: with too few replicas in sync, acks=all is refused
  with NOT_ENOUGH_REPLICAS while acks=1 still succeeds.

Times (failover, rejoining the ISR) are printed for the closing note,
bounded only loosely."""
from __future__ import annotations

import time

import pytest
from confluent_kafka.admin import AdminClient

from harness.cluster import partitions, start_cluster, stop_and_check
from test_cluster import consume_confluent, produce_confluent

MATRIX_CLIENT = "confluent"
SESSION_MS = 3000


# Short sessions and lag, for failover within seconds.
FAILOVER_SETTINGS = [
    f"broker.session.timeout.ms={SESSION_MS}",
    "broker.heartbeat.interval.ms=500",
    "replica.lag.time.max.ms=5000",
    # Preferred leaders come back within a second of rejoining the ISR.
    "leader.imbalance.check.interval.seconds=1",
]


@pytest.fixture
def cluster(tmp_path):
    nodes = start_cluster(tmp_path, settings=FAILOVER_SETTINGS)
    yield nodes
    stop_and_check(nodes)


def wait_for(what: str, condition, timeout: float) -> float:
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < timeout, f"{what}: not within {timeout} s"
        time.sleep(0.05)
    return time.monotonic() - started


def create_replicated(bootstrap: str, name: str, partitions: int, configs=None):
    from confluent_kafka.admin import NewTopic
    admin = AdminClient({"bootstrap.servers": bootstrap})
    topic = NewTopic(name, partitions, 3, config=configs or {})
    admin.create_topics([topic], operation_timeout=20)[name].result(timeout=30)


def test_a_killed_leaders_followers_take_over_with_every_acknowledged_record(cluster):
    create_replicated(cluster[0].bootstrap, "rep", 3)
    assert all(isr == [0, 1, 2] for _, isr in partitions(cluster[0].bootstrap, "rep").values())
    before = [f"before-{i}" for i in range(300)]
    produce_confluent(cluster[0].bootstrap, "rep", before, **{"enable.idempotence": True})
    led = partitions(cluster[0].bootstrap, "rep")
    victim = led[0][0]
    survivor = cluster[(victim + 1) % 3]
    cluster[victim].kill()
    killed = time.monotonic()
    moved = wait_for(
        "its partitions to get new leaders",
        lambda: all(leader not in (victim, -1) for leader, _ in partitions(survivor.bootstrap, "rep").values()),
        SESSION_MS / 1000 + 20)
    during = [f"during-{i}" for i in range(300)]
    produce_confluent(survivor.bootstrap, "rep", during, **{"enable.idempotence": True})
    cluster[victim].start(30)
    rejoined = wait_for(
        "the restarted node to rejoin every ISR",
        lambda: all(isr == [0, 1, 2] for _, isr in partitions(survivor.bootstrap, "rep").values()),
        30)
    preferred = wait_for(
        "the restarted node to lead its preferred partitions again",
        lambda: partitions(survivor.bootstrap, "rep") == led, 10)
    print(f"kill -9 of a leader (RF=3): new leaders {moved:.2f} s after the kill (session {SESSION_MS} ms); "
          f"back in every ISR {rejoined:.2f} s after its restart's ready line "
          f"({time.monotonic() - killed:.2f} s after the kill); leading its preferred partitions "
          f"again {preferred:.2f} s later (auto.leader.rebalance, checked every second)")
    # The restarted node now holds everything: lose another node and read.
    other = next(i for i in range(3) if i != victim and cluster[i].bootstrap != survivor.bootstrap)
    cluster[other].kill()
    wait_for(
        "leaders after the second kill",
        lambda: all(leader not in (other, -1) for leader, _ in partitions(survivor.bootstrap, "rep").values()),
        SESSION_MS / 1000 + 20)
    seen = consume_confluent(survivor.bootstrap, "rep", "rep-readers", len(before) + len(during))
    assert sorted(seen) == sorted(before + during), "every acknowledged record, exactly once"
    cluster[other].start(30)


def test_acks_all_needs_min_insync_replicas(cluster):
    from kafka import KafkaProducer
    from kafka.errors import NotEnoughReplicasError
    create_replicated(cluster[0].bootstrap, "strict", 1, {"min.insync.replicas": "3"})
    leader = partitions(cluster[0].bootstrap, "strict")[0][0]
    follower = (leader + 1) % 3
    bootstrap = cluster[leader].bootstrap
    strict = KafkaProducer(bootstrap_servers=bootstrap, acks="all", retries=0)
    strict.send("strict", b"all three").get(timeout=30)
    cluster[follower].kill()
    wait_for("the killed follower to leave the ISR",
             lambda: follower not in partitions(bootstrap, "strict")[0][1], SESSION_MS / 1000 + 20)
    with pytest.raises(NotEnoughReplicasError):
        strict.send("strict", b"two of three").get(timeout=30)
    strict.close()
    lenient = KafkaProducer(bootstrap_servers=bootstrap, acks=1, retries=0)
    lenient.send("strict", b"the leader alone").get(timeout=30)
    lenient.close()
    cluster[follower].start(30)
    wait_for("the follower to rejoin the ISR",
             lambda: partitions(bootstrap, "strict")[0][1] == [0, 1, 2], 30)
    again = KafkaProducer(bootstrap_servers=bootstrap, acks="all", retries=0)
    again.send("strict", b"all three again").get(timeout=30)
    again.close()


def test_idempotent_producers_keep_going_through_a_leader_kill(cluster):
    """confluent-kafka and kafka-python produce without pause (acks=all,
    idempotent) while the leader is killed: every record is delivered once,
    in order within its partition. The longest gap between acknowledgements
    is printed: the unavailability the kill caused."""
    import threading
    from confluent_kafka import Producer
    from kafka import KafkaProducer
    bootstrap = ",".join(node.bootstrap for node in cluster)
    create_replicated(cluster[0].bootstrap, "stream", 2)
    victim = partitions(cluster[0].bootstrap, "stream")[0][0]
    survivor = cluster[(victim + 1) % 3]
    per_client = 2000
    acked: list[tuple[float, str]] = []
    failures: list = []
    lock = threading.Lock()

    def ack(value: str):
        with lock:
            acked.append((time.monotonic(), value))

    def confluent():
        producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True,
                             "linger.ms": 2, "message.timeout.ms": 60000})
        for i in range(per_client):
            value = f"c-{i}"
            producer.produce("stream", value=value.encode(), partition=i % 2,
                             on_delivery=lambda err, msg, v=value: failures.append(err) if err else ack(v))
            producer.poll(0)
            time.sleep(0.002)
        assert producer.flush(60) == 0

    def kafka_python():
        producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True,
                                 linger_ms=2, retries=2147483647, request_timeout_ms=10000,
                                 delivery_timeout_ms=60000)
        futures = []
        for i in range(per_client):
            value = f"p-{i}"
            future = producer.send("stream", value=value.encode(), partition=i % 2)
            future.add_callback(lambda _md, v=value: ack(v))
            future.add_errback(failures.append)
            futures.append(future)
            time.sleep(0.002)
        producer.flush(60)
        producer.close()

    threads = [threading.Thread(target=confluent), threading.Thread(target=kafka_python)]
    for t in threads:
        t.start()
    while len(acked) < per_client // 2:
        time.sleep(0.01)
    cluster[victim].kill()
    killed = time.monotonic()
    for t in threads:
        t.join(120)
    assert not failures, failures[:3]
    values = [v for _, v in acked]
    assert sorted(values) == sorted([f"c-{i}" for i in range(per_client)] + [f"p-{i}" for i in range(per_client)])
    # Partition 0 was led by the victim: its acknowledgements pause.
    times = sorted(t for t, v in acked if int(v.split("-")[1]) % 2 == 0)
    before = max(t for t in times if t <= killed)
    after = min(t for t in times if t > killed)
    print(f"producing through kill -9 of a leader (RF=3, session {SESSION_MS} ms): its partition's last ack "
          f"before the kill to the first after: {after - before:.2f} s")
    seen = consume_confluent(survivor.bootstrap, "stream", "stream-readers", 2 * per_client)
    assert sorted(seen) == sorted(values), "each record exactly once"
    for client in ("c", "p"):
        for partition in (0, 1):
            mine = [int(v.split("-")[1]) for v in seen if v.startswith(client + "-")
                    and int(v.split("-")[1]) % 2 == partition]
            assert mine == sorted(mine), f"{client} partition {partition} in order"
    cluster[victim].start(30)


@pytest.fixture
def replicated_internals(tmp_path):
    """Three nodes whose group and transaction logs have three replicas
    (Kafka's defaults), in one partition each: one coordinator to kill."""
    nodes = start_cluster(tmp_path, settings=[
        f"broker.session.timeout.ms={SESSION_MS}",
        "broker.heartbeat.interval.ms=500",
        "offsets.topic.replication.factor=3",
        "offsets.topic.num.partitions=1",
        "transaction.state.log.replication.factor=3",
        "transaction.state.log.num.partitions=1",
    ])
    yield nodes
    stop_and_check(nodes)


def test_a_group_keeps_its_offsets_when_its_coordinator_is_killed(replicated_internals):
    from confluent_kafka import ConsumerGroupTopicPartitions
    cluster = replicated_internals
    bootstrap = ",".join(node.bootstrap for node in cluster)
    create_replicated(cluster[0].bootstrap, "orders", 2)
    first = [f"first-{i}" for i in range(100)]
    produce_confluent(bootstrap, "orders", first)
    assert sorted(consume_confluent(bootstrap, "orders", "billing", len(first))) == sorted(first)
    admin = AdminClient({"bootstrap.servers": bootstrap})
    coordinator = admin.describe_consumer_groups(["billing"])["billing"].result(timeout=30).coordinator.id
    assert partitions(cluster[0].bootstrap, "__consumer_offsets")[0][1] == [0, 1, 2]
    cluster[coordinator].kill()
    survivor = cluster[(coordinator + 1) % 3]
    moved = wait_for(
        "another coordinator",
        lambda: partitions(survivor.bootstrap, "__consumer_offsets")[0][0] not in (coordinator, -1),
        SESSION_MS / 1000 + 20)
    alive = ",".join(n.bootstrap for i, n in enumerate(cluster) if i != coordinator)
    admin = AdminClient({"bootstrap.servers": alive})
    request = [ConsumerGroupTopicPartitions("billing")]
    committed = admin.list_consumer_group_offsets(request)["billing"].result(timeout=30)
    offsets = {tp.partition: tp.offset for tp in committed.topic_partitions}
    assert sum(offsets.values()) == len(first), offsets
    # The group goes on from its offsets: only the new records.
    second = [f"second-{i}" for i in range(50)]
    produce_confluent(alive, "orders", second)
    assert sorted(consume_confluent(alive, "orders", "billing", len(second), timeout=30)) == sorted(second)
    print(f"kill -9 of a group coordinator (RF=3): a new leader of its partition after {moved:.2f} s; "
          f"the committed offsets and the group carried over")
    cluster[coordinator].start(30)


def test_transactions_go_on_when_their_coordinator_is_killed(replicated_internals):
    from confluent_kafka import Producer
    cluster = replicated_internals
    bootstrap = ",".join(node.bootstrap for node in cluster)
    create_replicated(cluster[0].bootstrap, "ledger", 1)
    producer = Producer({"bootstrap.servers": bootstrap, "transactional.id": "ledger-writer",
                         "transaction.timeout.ms": 60000})
    producer.init_transactions(30)
    producer.begin_transaction()
    for i in range(10):
        producer.produce("ledger", value=f"a-{i}".encode())
    producer.commit_transaction(30)
    committed = {"isolation.level": "read_committed"}
    # Read once now: the group's log (three replicas) exists before the kill.
    first = consume_confluent(bootstrap, "ledger", "ledger-readers", 10, timeout=30, **committed)
    assert sorted(first) == sorted(f"a-{i}" for i in range(10))
    coordinator = partitions(cluster[0].bootstrap, "__transaction_state")[0][0]
    cluster[coordinator].kill()
    survivor = cluster[(coordinator + 1) % 3]
    wait_for("another transaction coordinator",
             lambda: partitions(survivor.bootstrap, "__transaction_state")[0][0] not in (coordinator, -1),
             SESSION_MS / 1000 + 20)
    # The same producer goes on with the id's next transaction.
    producer.begin_transaction()
    for i in range(10):
        producer.produce("ledger", value=f"b-{i}".encode())
    producer.commit_transaction(60)
    alive = ",".join(n.bootstrap for i, n in enumerate(cluster) if i != coordinator)
    seen = consume_confluent(alive, "ledger", "ledger-readers", 10, timeout=30, **committed)
    assert sorted(seen) == sorted(f"b-{i}" for i in range(10))
    cluster[coordinator].start(30)


def test_elect_leaders_gives_leadership_back_to_the_preferred_replica(tmp_path):
    """kafka-leader-election's request (ElectLeaders, preferred) through
    confluent-kafka's admin client, with automatic rebalancing off."""
    from confluent_kafka import ElectionType, TopicPartition
    nodes = start_cluster(tmp_path, settings=[
        f"broker.session.timeout.ms={SESSION_MS}", "broker.heartbeat.interval.ms=500",
        "auto.leader.rebalance.enable=false"])
    try:
        create_replicated(nodes[0].bootstrap, "elect", 1)
        preferred = partitions(nodes[0].bootstrap, "elect")[0][0]
        nodes[preferred].kill()
        survivor = nodes[(preferred + 1) % 3]
        wait_for("a new leader", lambda: partitions(survivor.bootstrap, "elect")[0][0] not in (preferred, -1),
                 SESSION_MS / 1000 + 20)
        nodes[preferred].start(30)
        wait_for("the preferred replica back in sync",
                 lambda: partitions(survivor.bootstrap, "elect")[0][1] == [0, 1, 2], 30)
        time.sleep(1.5)
        assert partitions(survivor.bootstrap, "elect")[0][0] != preferred, "no automatic rebalance when disabled"
        admin = AdminClient({"bootstrap.servers": survivor.bootstrap})
        admin.elect_leaders(ElectionType.PREFERRED, [TopicPartition("elect", 0)]).result(timeout=30)
        assert partitions(survivor.bootstrap, "elect")[0][0] == preferred
        again = admin.elect_leaders(ElectionType.PREFERRED, [TopicPartition("elect", 0)]).result(timeout=30)
        error = again[TopicPartition("elect", 0)]
        assert error is not None and error.code() == 84, error  # ELECTION_NOT_NEEDED
    finally:
        stop_and_check(nodes)
