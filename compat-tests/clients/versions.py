"""The version of each client family, read from the client itself (for the
compatibility matrix, compat-tests/.build/compat-matrix.json)."""
from __future__ import annotations

import json
import re
import subprocess
import zipfile
from functools import cache
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]


def _confluent():
    import confluent_kafka
    v, lib = confluent_kafka.version(), confluent_kafka.libversion()
    v = v[0] if isinstance(v, tuple) else v
    return f"confluent-kafka {v} (librdkafka {lib[0] if isinstance(lib, tuple) else lib})"


def _kafka_python():
    import kafka
    return f"kafka-python {kafka.__version__}"


def _aiokafka():
    import aiokafka
    return f"aiokafka {aiokafka.__version__}"


def _kcat():
    out = subprocess.run(["kcat", "-V"], capture_output=True, text=True, timeout=10).stdout
    m = re.search(r"Version (\S+).*?librdkafka (\S+)", out)
    return f"kcat {m.group(1)} (librdkafka {m.group(2)})" if m else "kcat ?"


def _kafkajs():
    pkg = HERE / "node" / "node_modules" / "kafkajs" / "package.json"
    return f"kafkajs {json.loads(pkg.read_text())['version']}"


def _sarama():
    out = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "golang-github-shopify-sarama-dev"],
                         capture_output=True, text=True, timeout=10).stdout
    return f"sarama {out.split('-')[0] or '?'}"


def _java():
    with zipfile.ZipFile(HERE / ".build" / "jars" / "kafka-clients.jar") as z:
        props = z.read("kafka/kafka-version.properties").decode()
    return "kafka-clients " + re.search(r"version=(\S+)", props).group(1)


def _java44():
    jar = next((HERE / ".build" / "kafka-libs").glob("kafka-clients-*.jar"))
    return "kafka-clients " + jar.stem.removeprefix("kafka-clients-")


def _franz():
    mod = (HERE / "franz" / "go.mod").read_text()
    return "franz-go " + re.search(r"github.com/twmb/franz-go (v\S+)", mod).group(1)


_READERS = {"franz-go": _franz, "java-4.4": _java44, "confluent": _confluent, "kafka-python": _kafka_python, "aiokafka": _aiokafka, "kcat": _kcat,
            "kafkajs": _kafkajs, "sarama": _sarama, "java": _java,
            "raw": lambda: "raw frames (harness/wire.py)", "odradek-cli": lambda: "odradek CLI (this repository)"}


@cache
def client_version(name: str) -> str:
    """"confluent" -> "confluent-kafka 2.16.1 (librdkafka 2.16.0)"; "+"-joined names give each."""
    parts = []
    for n in name.split("+"):
        try:
            parts.append(_READERS[n]() if n in _READERS else "-")
        except Exception as e:  # a missing client is reported, not fatal to the matrix
            parts.append(f"{n} ? ({type(e).__name__})")
    return ", ".join(parts)
