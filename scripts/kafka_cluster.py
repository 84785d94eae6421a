"""Three combined Apache Kafka 4.4 nodes on loopback (compat-tests' jars and
harness), for the benches that compare against Kafka in the same run.
Prints "bootstrap HOST:PORT,..." once every node is ready, then holds the
cluster until its stdin closes, and stops it (controlled shutdown).

    compat-tests/.venv/bin/python scripts/kafka_cluster.py WORK_DIR
"""
from __future__ import annotations

import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "compat-tests"))

from harness.kafka import start_kafka_cluster  # noqa: E402


def main(work: str) -> int:
    # SIGTERM (a bench's cleanup) stops the nodes too, through the finally below.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    nodes = start_kafka_cluster(Path(work))
    try:
        print("bootstrap", ",".join(n.bootstrap for n in nodes), flush=True)
        sys.stdin.read()
    finally:
        for node in nodes:
            node.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
