"""One adapter per third-party client, all with the same four operations:

    metadata(bootstrap)                      -> Metadata
    create_topic(bootstrap, topic, n)        -> {partition: leader} as the client then sees it
    produce(bootstrap, topic, codec, records)-> [(partition, offset)] acked, in record order
    consume(bootstrap, topic)                -> [Record] with offsets: assign every partition,
                                                seek to the beginning, read to the end offsets

Clients with a group consumer (tests/test_groups.py) also give `group_argv`:
a process that subscribes to one topic in a group and prints, one a line,
    assigned <generation|-1> <p,p,...|->   its whole assignment after each change
    generation <n>                         the generation, where the client says so elsewhere
    record <partition> <offset> <key>      each record consumed (key encoded as in harness.data)
    commit-failed <why> / error <why>      what it survived
    closed                                 after a clean close on EOF of stdin
committing synchronously after each batch of records it printed.
"""
from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass, field

from harness.data import CODECS, parse_record_fields, record_line


@dataclass
class Metadata:
    cluster_id: str | None
    controller_id: int
    brokers: list[tuple[int, str, int]] = field(default_factory=list)  # (node id, host, port)


class Client:
    name = "?"
    codecs = CODECS
    text_only = False          # see harness.data.expected_records
    uniform_headers = False
    broker_settings: tuple[str, ...] = ()  # extra `--set` for the broker
    reports_cluster_id = True
    # codec asked for -> codec the client really puts on the wire, where they differ
    wire_codecs: dict[str, str] = {}
    # codec -> why Apache Kafka 4.4 (the reference) refuses this client's batches
    kafka_refuses: dict[str, str] = {}

    # Group consumer: the eager assignor used by default, and why a feature
    # is missing (None: supported).
    eager_strategy = "range"
    no_cooperative: str | None = None
    no_static_membership: str | None = None
    reports_generation = False  # its group consumer prints the generation it is in

    def prepare(self) -> None:
        """Build or locate the client once per session (may pytest.skip/fail)."""

    def group_argv(self, bootstrap, topic, group, strategy, instance, session_ms) -> list[str] | None:
        """argv of a group consumer process (see above), or None without one."""
        return None

    def failover_argv(self, bootstrap, topic, count, group) -> list[str] | None:
        """argv of a process that produces `count` records (idempotent,
        acks=all) while a group consumer reads them back, for
        tests/test_client_failover.py (java/Failover.java has its lines);
        None without one."""
        return None


class PythonGroupClient(Client):
    """In-process for the round trips; a clients.group_worker process for groups."""

    def group_argv(self, bootstrap, topic, group, strategy, instance, session_ms):
        return [sys.executable, "-m", "clients.group_worker", self.name, bootstrap, topic, group, strategy,
                instance or "~", str(session_ms)]

    def failover_argv(self, bootstrap, topic, count, group):
        return [sys.executable, "-m", "clients.failover_worker", self.name, bootstrap, topic, str(count), group]


class ExternalClient(Client):
    """A program speaking the line protocol of harness.data:
        <prog> metadata  BOOTSTRAP                 -> "cluster <id|~>", "controller <id>", "broker <id> <host> <port>"
        <prog> create    BOOTSTRAP TOPIC N         -> "partition <id> <leader>"
        <prog> produce   BOOTSTRAP TOPIC CODEC     (record lines on stdin) -> "ack <partition> <offset>"
        <prog> consume   BOOTSTRAP TOPIC           -> "record <partition> <offset> <key> <value> [headers]"
    """
    argv: list[str] = []
    timeout = 90

    def run(self, *args: str, stdin: str = "") -> list[list[str]]:
        proc = subprocess.run(self.argv + list(args), input=stdin, capture_output=True, text=True, timeout=self.timeout)
        if proc.returncode != 0:
            raise AssertionError(f"{self.name} {args[0]} exited {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr[-6000:]}")
        return [line.split(" ") for line in proc.stdout.splitlines() if line.strip()]

    def metadata(self, bootstrap):
        md = Metadata(None, -99)
        for kind, *rest in self.run("metadata", bootstrap):
            if kind == "cluster":
                md.cluster_id = None if rest[0] == "~" else rest[0]
            elif kind == "controller":
                md.controller_id = int(rest[0])
            elif kind == "broker":
                md.brokers.append((int(rest[0]), rest[1], int(rest[2])))
        return md

    def create_topic(self, bootstrap, topic, partitions):
        return {int(p): int(leader) for kind, p, leader in self.run("create", bootstrap, topic, str(partitions))}

    def produce(self, bootstrap, topic, codec, records):
        lines = "".join(record_line(r) + "\n" for r in records)
        return [(int(p), int(o)) for kind, p, o in self.run("produce", bootstrap, topic, codec, stdin=lines)]

    def consume(self, bootstrap, topic):
        return [parse_record_fields(p, o, rest) for kind, p, o, *rest in self.run("consume", bootstrap, topic)]

    has_group_mode = False

    def group_argv(self, bootstrap, topic, group, strategy, instance, session_ms):
        if not self.has_group_mode:
            return None
        return self.argv + ["group", bootstrap, topic, group, strategy, instance or "~", str(session_ms)]

    has_failover_mode = False

    def failover_argv(self, bootstrap, topic, count, group):
        return self.argv + ["failover", bootstrap, topic, str(count), group] if self.has_failover_mode else None


def all_clients() -> list[Client]:
    from clients.aiokafka_client import AiokafkaClient
    from clients.confluent import ConfluentClient
    from clients.java import JavaClient
    from clients.kafka_python import KafkaPythonClient
    from clients.kafkajs import KafkajsClient
    from clients.kcat import KcatClient
    from clients.sarama import SaramaClient
    return [ConfluentClient(), KafkaPythonClient(), AiokafkaClient(), KcatClient(),
            KafkajsClient(), SaramaClient(), JavaClient()]
