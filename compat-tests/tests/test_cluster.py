"""A three-node cluster on loopback: every node a broker and a voter of the
metadata quorum (Kafka's combined mode), with real clients.

- Clients see three brokers, one cluster id and a controller, from any node.
- kill -9 of the quorum's leader: another node takes the controller over,
  and the killed broker is fenced (it leaves Metadata) once its session
  runs out; restarted, it registers again and reappears.

The times are printed (and reported in the issue's closing note), bounded
only loosely: performance is measured, not asserted.

Topics go through the controller and are placed across the nodes;
clients follow each partition's leader, and groups and transactions find
their coordinator on whichever node leads the key's internal partition.
These scenarios use RF=1 topics: a killed node's partitions are
unavailable until it returns (replicated topics: test_replication.py)."""
from __future__ import annotations

import time

import pytest
from confluent_kafka.admin import AdminClient
from kafka import KafkaAdminClient

from harness.broker import free_port
from harness.cluster import start_cluster, stop_and_check

MATRIX_CLIENT = "confluent"
SESSION_MS = 3000


@pytest.fixture
def cluster(tmp_path):
    nodes = start_cluster(tmp_path, settings=[
        f"broker.session.timeout.ms={SESSION_MS}",
        "broker.heartbeat.interval.ms=500",
        # Spread over the nodes, so coordinators land on several of them.
        "offsets.topic.num.partitions=6",
        "transaction.state.log.num.partitions=6",
    ])
    yield nodes
    stop_and_check(nodes)


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


def leaders(bootstrap: str, topic: str) -> dict[int, int]:
    md = AdminClient({"bootstrap.servers": bootstrap}).list_topics(topic, timeout=10)
    return {p.id: p.leader for p in md.topics[topic].partitions.values()}


def create_topic(bootstrap: str, name: str, partitions: int, replication: int = 1):
    from confluent_kafka.admin import NewTopic
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(name, partitions, replication)], operation_timeout=20)[name].result(timeout=30)


def produce_confluent(bootstrap: str, topic: str, values: list[str], **conf):
    from confluent_kafka import Producer
    delivered, failed = [], []
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5, **conf})
    def report(err, msg):
        (failed if err else delivered).append(err or (msg.partition(), msg.value().decode()))
    for i, value in enumerate(values):
        producer.produce(topic, key=f"k{i}".encode(), value=value.encode(), on_delivery=report)
        producer.poll(0)
    assert producer.flush(30) == 0, "undelivered records"
    assert not failed, failed[:3]
    return delivered


def consume_confluent(bootstrap: str, topic: str, group: str, expected: int, timeout: float = 60, **conf):
    from confluent_kafka import Consumer
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                         "auto.offset.reset": "earliest", "enable.auto.commit": False, **conf})
    consumer.subscribe([topic])
    seen = []
    deadline = time.monotonic() + timeout
    try:
        while len(seen) < expected and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None or msg.error():
                continue
            seen.append(msg.value().decode())
        consumer.commit(asynchronous=False)
    finally:
        consumer.close()
    return seen


def test_topics_spread_over_the_nodes_and_clients_follow_their_leaders(cluster):
    create_topic(cluster[1].bootstrap, "spread", 6)
    placed = [leaders(node.bootstrap, "spread") for node in cluster]
    assert placed[0] == placed[1] == placed[2], f"every node answers from one image: {placed}"
    counts = sorted(list(placed[0].values()).count(b) for b in range(3))
    assert counts == [2, 2, 2], f"leaders spread evenly: {placed[0]}"
    values = [f"v{i}" for i in range(600)]
    delivered = produce_confluent(cluster[2].bootstrap, "spread", values)
    assert {p for p, _ in delivered} == set(range(6)), "records reached every leader"
    seen = consume_confluent(cluster[0].bootstrap, "spread", "spread-readers", len(values))
    assert sorted(seen) == sorted(values), "every record read back once, across leaders"
    # kafka-python, through another node, reads them too.
    from kafka import KafkaConsumer
    consumer = KafkaConsumer("spread", bootstrap_servers=cluster[1].bootstrap, group_id="spread-kp",
                             auto_offset_reset="earliest", consumer_timeout_ms=10000)
    try:
        read = [m.value.decode() for m in consumer]
    finally:
        consumer.close()
    assert sorted(read) == sorted(values)


def test_groups_and_transactions_find_coordinators_on_several_nodes(cluster):
    from confluent_kafka import Consumer, Producer, TopicPartition
    create_topic(cluster[0].bootstrap, "txns", 6)
    # Transactions: committed ones are read, aborted ones are not.
    for n in range(4):
        producer = Producer({"bootstrap.servers": cluster[n % 3].bootstrap, "transactional.id": f"tx-{n}"})
        producer.init_transactions(30)
        for commit in (True, False):
            producer.begin_transaction()
            for i in range(30):
                producer.produce("txns", key=f"{n}-{i}".encode(), value=f"{n}-{i}-{commit}".encode())
            (producer.commit_transaction if commit else producer.abort_transaction)(30)
    seen = consume_confluent(cluster[1].bootstrap, "txns", "txn-readers", 120, timeout=30,
                             **{"isolation.level": "read_committed"})
    assert sorted(seen) == sorted(f"{n}-{i}-True" for n in range(4) for i in range(30))
    # Groups: each is coordinated by the leader of its __consumer_offsets partition.
    groups = [f"group-{n}" for n in range(8)]
    for n, group in enumerate(groups):
        consumer = Consumer({"bootstrap.servers": cluster[n % 3].bootstrap, "group.id": group,
                             "enable.auto.commit": False})
        consumer.commit(offsets=[TopicPartition("txns", 0, 5)], asynchronous=False)
        consumer.close()
    admin = AdminClient({"bootstrap.servers": cluster[2].bootstrap})
    described = {g: f.result(timeout=30) for g, f in admin.describe_consumer_groups(groups).items()}
    coordinators = {d.coordinator.id for d in described.values()}
    print(f"coordinators of {len(groups)} groups: {sorted(coordinators)}")
    assert len(coordinators) > 1, "coordinators on several nodes"
    for group in groups:
        offsets = admin.list_consumer_group_offsets([__import__("confluent_kafka").ConsumerGroupTopicPartitions(group)])
        committed = offsets[group].result(timeout=30).topic_partitions
        assert [(tp.topic, tp.partition, tp.offset) for tp in committed] == [("txns", 0, 5)]


def test_a_killed_leaders_partitions_wait_for_it_and_come_back(cluster):
    create_topic(cluster[0].bootstrap, "fail", 6)
    before = [f"before-{i}" for i in range(120)]
    produce_confluent(cluster[0].bootstrap, "fail", before)
    _, controller, _ = brokers_seen(cluster[0].bootstrap)
    victim = (controller + 1) % 3
    survivor = cluster[(controller + 2) % 3]
    led = [p for p, leader in leaders(survivor.bootstrap, "fail").items() if leader == victim]
    assert led, "the victim leads some partitions"
    cluster[victim].kill()
    killed = time.monotonic()
    while any(leaders(survivor.bootstrap, "fail")[p] != -1 for p in led):
        assert time.monotonic() - killed < SESSION_MS / 1000 + 20, "its partitions kept a dead leader"
        time.sleep(0.05)
    offline = time.monotonic() - killed
    # The other partitions take writes meanwhile.
    from confluent_kafka import Producer
    producer = Producer({"bootstrap.servers": survivor.bootstrap, "acks": "all"})
    others = [p for p in range(6) if p not in led]
    errors = []
    for p in others:
        producer.produce("fail", value=b"during", partition=p,
                         on_delivery=lambda err, msg: err and errors.append(err))
    assert producer.flush(20) == 0 and not errors, errors
    cluster[victim].start(30)
    restarted = time.monotonic()
    while any(leaders(survivor.bootstrap, "fail")[p] != victim for p in led):
        assert time.monotonic() - restarted < 20, "the restarted node did not lead its partitions again"
        time.sleep(0.05)
    back = time.monotonic() - restarted
    print(f"kill -9 of a leader: its {len(led)} partitions leaderless {offline:.2f} s after the kill "
          f"(session {SESSION_MS} ms); led again {back:.2f} s after its restart's ready line")
    after = [f"after-{i}" for i in range(120)]
    produce_confluent(cluster[2 if victim != 2 else 1].bootstrap, "fail", after)
    seen = consume_confluent(cluster[victim].bootstrap, "fail", "fail-readers", 120 + len(others) + 120)
    assert sorted(v for v in seen if v != "during") == sorted(before + after), "nothing acknowledged was lost"
    assert seen.count("during") == len(others)


def test_kill_9_of_the_controller_while_topics_are_created(cluster):
    """No topic is lost or created twice: every creation the controller
    acknowledged survives its death with the same id, and retries of the
    unacknowledged ones end in exactly one topic each (kafka-python's
    admin client, which sends CreateTopics to the controller Metadata names)."""
    from kafka.admin import NewTopic
    from kafka.errors import KafkaError, TopicAlreadyExistsError
    _, controller, _ = brokers_seen(cluster[0].bootstrap)
    survivors = [node for i, node in enumerate(cluster) if i != controller]
    def connect():
        return KafkaAdminClient(bootstrap_servers=[n.bootstrap for n in survivors], request_timeout_ms=10000)
    admin = connect()
    names = [f"burst-{i}" for i in range(30)]
    acknowledged, retried = [], {}
    try:
        for i, name in enumerate(names):
            if i == 10:
                cluster[controller].kill()
            deadline = time.monotonic() + 30
            while True:
                try:
                    admin.create_topics([NewTopic(name, 2, 1)], timeout_ms=10000)
                    break
                except TopicAlreadyExistsError:
                    # An earlier, unanswered attempt of ours was decided.
                    break
                except KafkaError as e:
                    retried.setdefault(name, []).append(type(e).__name__)
                    assert time.monotonic() < deadline, f"{name}: {e}"
                    time.sleep(0.2)
                    # kafka-python's admin keeps the controller it first
                    # found: a new client asks Metadata for the current one.
                    admin.close()
                    admin = connect()
            acknowledged.append(name)
    finally:
        admin.close()
    print(f"kill -9 of the controller after 10 creations: {len(names) - len(retried)} created at the first "
          f"attempt, {len(retried)} after retries {retried}")
    for node in survivors:
        md = AdminClient({"bootstrap.servers": node.bootstrap}).list_topics(timeout=10)
        burst = sorted(t for t in md.topics if t.startswith("burst-"))
        assert burst == sorted(names), f"{node.bootstrap}: {burst}"
    describer = AdminClient({"bootstrap.servers": survivors[0].bootstrap})
    described = describer.describe_topics(__import__("confluent_kafka").TopicCollection(names))
    ids = {name: str(f.result(timeout=30).topic_id) for name, f in described.items()}
    assert len(set(ids.values())) == len(names), "one id per topic"
    cluster[controller].start(30)
    restarted = AdminClient({"bootstrap.servers": cluster[controller].bootstrap})
    again = restarted.describe_topics(__import__("confluent_kafka").TopicCollection(names))
    assert {name: str(f.result(timeout=30).topic_id) for name, f in again.items()} == ids, \
        "the restarted node holds the same topics, with the same ids"


def test_topic_configs_change_on_every_node(cluster):
    """A topic's configs go through the controller: altered through one
    node, every node's DescribeConfigs (and its log) has the new value."""
    from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource, ResourceType
    create_topic(cluster[0].bootstrap, "tuned", 3)
    admin = AdminClient({"bootstrap.servers": cluster[1].bootstrap})
    resource = ConfigResource(ResourceType.TOPIC, "tuned", incremental_configs=[
        ConfigEntry("retention.ms", "3600000", incremental_operation=AlterConfigOpType.SET)])
    for future in admin.incremental_alter_configs([resource]).values():
        future.result(timeout=30)
    for node in cluster:
        describer = AdminClient({"bootstrap.servers": node.bootstrap})
        described = describer.describe_configs([ConfigResource(ResourceType.TOPIC, "tuned")])
        entries = next(iter(described.values())).result(timeout=30)
        assert entries["retention.ms"].value == "3600000", f"{node.bootstrap}: {entries['retention.ms']}"


def test_dynamic_broker_configs_go_through_the_controller(cluster):
    """The cluster default set through one node, and one broker's own
    setting (sent to that broker), are in the metadata log: every node
    describes them, new topics take them, and they outlive a restart."""
    from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource, ResourceType

    def alter(node, name, value):
        # librdkafka and kafka-python refuse an empty resource name: the
        # cluster default goes through Kafka 4.4's own kafka-configs.
        if name == "":
            from harness.kafka import JAVA, LIBS
            import subprocess
            out = subprocess.run(
                [JAVA, "-cp", f"{LIBS}/*", "org.apache.kafka.tools.ConfigCommand",
                 "--bootstrap-server", node.bootstrap, "--alter", "--entity-type", "brokers",
                 "--entity-default", "--add-config", f"log.retention.ms={value}"],
                capture_output=True, text=True, timeout=120)
            assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
            return
        admin = AdminClient({"bootstrap.servers": node.bootstrap})
        resource = ConfigResource(ResourceType.BROKER, name, incremental_configs=[
            ConfigEntry("log.retention.ms", value, incremental_operation=AlterConfigOpType.SET)])
        for future in admin.incremental_alter_configs([resource]).values():
            future.result(timeout=30)

    def described(node_id):
        admin = AdminClient({"bootstrap.servers": cluster[node_id].bootstrap})
        resource = ConfigResource(ResourceType.BROKER, str(node_id))
        entry = next(iter(admin.describe_configs([resource]).values())).result(timeout=30)["log.retention.ms"]
        return entry.value, entry.source

    alter(cluster[1], "", "7200000")
    default_source = 3  # DYNAMIC_DEFAULT_BROKER_CONFIG
    assert [described(i) for i in range(3)] == [("7200000", default_source)] * 3
    alter(cluster[2], "2", "1800000")
    assert described(2) == ("1800000", 2)  # DYNAMIC_BROKER_CONFIG
    assert described(0) == ("7200000", default_source)

    cluster[0].proc.send_signal(__import__("signal").SIGTERM)
    assert cluster[0].stop() == 0
    cluster[0].start(30)
    assert described(0) == ("7200000", default_source), "the cluster default outlives a restart"
    create_topic(cluster[0].bootstrap, "defaults", 3)
    for node in cluster:
        # librdkafka sends a topic's DescribeConfigs to any broker, and each
        # answers with its own defaults: 1800000 on broker 2, 7200000 elsewhere.
        admin = AdminClient({"bootstrap.servers": node.bootstrap})
        entries = next(iter(admin.describe_configs(
            [ConfigResource(ResourceType.TOPIC, "defaults")]).values())).result(timeout=30)
        assert entries["retention.ms"].value in ("1800000", "7200000"), f"{node.bootstrap}: {entries['retention.ms']}"
