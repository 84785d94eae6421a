"""Apache Kafka 4.4, the reference broker: a single-node KRaft server
(combined broker and controller) on free ports of 127.0.0.1, with the jars
compat-tests/kafka/fetch.sh puts in .build/kafka-libs. Same surface as
harness.broker.Broker where the tests need it: bootstrap, port, start(),
stop(), log_tail(), cluster_id."""
from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from base64 import urlsafe_b64encode
from pathlib import Path

from harness import wire
from harness.broker import free_port

HERE = Path(__file__).resolve().parents[1]
LIBS = Path(os.environ.get("KAFKA_LIBS", HERE / ".build" / "kafka-libs"))
JAVA = os.environ.get("KAFKA_JAVA", "java")
# Node id 0, as Odradek's default, so metadata answers compare directly.
NODE_ID = 0

# Kafka's own settings for a fast single-node test broker. num.partitions
# and auto-creation are those the scenarios assume (harness.data.PARTITIONS,
# kcat's auto-created topics); both brokers get them (tests/conftest.py).
FAST_TEST_SETTINGS = (
    "group.initial.rebalance.delay.ms=0",
    "offsets.topic.replication.factor=1",
    "offsets.topic.num.partitions=1",
    "transaction.state.log.replication.factor=1",
    "transaction.state.log.min.isr=1",
    "transaction.state.log.num.partitions=1",
    "share.coordinator.state.topic.replication.factor=1",
    "share.coordinator.state.topic.min.isr=1",
)


def random_cluster_id() -> str:
    """A Kafka cluster id: 16 random bytes, URL-safe base64 without padding."""
    return urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


class KafkaBroker:
    """One `kafka.Kafka server.properties` process with its data in `data_dir`."""

    kind = "kafka"

    def __init__(self, data_dir: Path, settings=(), log_path: Path | None = None, heap: str = "512m",
                 node_id: int = NODE_ID, voters: str | None = None, controller_port: int | None = None):
        self.data_dir = Path(data_dir)
        self.port = free_port()
        self.controller_port = controller_port or free_port()
        while self.controller_port == self.port:
            self.controller_port = free_port()
        self.node_id = node_id
        self.voters = voters  # a node of a cluster: controller.quorum.voters
        self.settings = list(settings)
        self.log_path = log_path or self.data_dir.with_name(self.data_dir.name + ".log")
        self.heap = heap
        self.cluster_id = random_cluster_id()
        self.proc: subprocess.Popen | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _java(self, main: str, *args: str) -> list[str]:
        return [JAVA, f"-Xmx{self.heap}", f"-Xms{self.heap}", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
                "-Djava.awt.headless=true", "-Dorg.slf4j.simpleLogger.showDateTime=true",
                "-cp", f"{LIBS}/*", main, *args]

    def _write_properties(self) -> Path:
        props = {
            "process.roles": "broker,controller",
            "node.id": str(self.node_id),
            "listeners": f"PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": str(self.data_dir / "logs"),
        }
        if self.voters:
            props["controller.quorum.voters"] = self.voters
        else:
            props["controller.quorum.bootstrap.servers"] = f"127.0.0.1:{self.controller_port}"
        for s in (*FAST_TEST_SETTINGS, *self.settings):
            name, value = s.split("=", 1)
            props[name] = value
        path = self.data_dir / "server.properties"
        path.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
        return path

    def start(self, timeout: float = 90.0) -> "KafkaBroker":
        return self.format().launch().wait_ready(timeout)

    def format(self) -> "KafkaBroker":
        """kafka-storage format: alone (--standalone), or as a node of the
        static quorum its voters name."""
        if not any(LIBS.glob("kafka_2.13-*.jar")):
            raise RuntimeError(f"no Kafka jars in {LIBS}: run compat-tests/kafka/fetch.sh (run.sh does)")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        props = self._write_properties()
        alone = [] if self.voters else ["--standalone"]
        fmt = self._java("kafka.tools.StorageTool", "format", *alone,
                         f"--cluster-id={self.cluster_id}", f"--config={props}")
        with open(self.log_path, "ab") as log:
            log.write(f"\n=== {' '.join(fmt)}\n".encode())
            log.flush()
            done = subprocess.run(fmt, stdout=log, stderr=subprocess.STDOUT, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"kafka-storage format exited {done.returncode}:\n{self.log_tail()}")
        return self

    def launch(self) -> "KafkaBroker":
        """Starts the formatted node (again, after a kill) without waiting."""
        argv = self._java("kafka.Kafka", str(self.data_dir / "server.properties"))
        with open(self.log_path, "ab") as log:
            log.write(f"\n=== {' '.join(argv)}\n".encode())
            log.flush()
            self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=self.data_dir)
        return self

    def wait_ready(self, timeout: float = 90.0) -> "KafkaBroker":
        deadline = time.monotonic() + timeout
        while not self._answers():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"kafka did not get ready:\n{self.log_tail(80)}")
            time.sleep(0.25)
        return self

    def _answers(self) -> bool:
        """Ready once Metadata lists this broker (the listener accepts
        connections a little before the broker is unfenced)."""
        try:
            brokers, _controller = wire.metadata_v1_brokers(self.port)
        except (OSError, EOFError, AssertionError, ValueError):
            return False
        return bool(brokers)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM (Kafka's controlled shutdown) and wait; a hang is killed and reported as None."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                return None
        code = self.proc.returncode
        self.proc = None
        # The JVM exits 143 on SIGTERM after its shutdown hooks ran.
        return 0 if code in (0, 143, -signal.SIGTERM) else code

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def start_kafka_cluster(base: Path, size: int = 3, settings=()) -> list[KafkaBroker]:
    """`size` combined Kafka nodes (broker and controller each) with one
    static quorum, started together (each is ready only with a quorum)."""
    controller_ports = [free_port() for _ in range(size)]
    voters = ",".join(f"{i}@127.0.0.1:{controller_ports[i]}" for i in range(size))
    cluster_id = random_cluster_id()
    nodes = []
    for i in range(size):
        node = KafkaBroker(base / f"kafka{i}", settings=settings, log_path=base / f"kafka{i}.log",
                           node_id=i, voters=voters, controller_port=controller_ports[i])
        node.cluster_id = cluster_id
        nodes.append(node.format())
    for node in nodes:
        node.launch()
    for node in nodes:
        node.wait_ready(180)
    return nodes
