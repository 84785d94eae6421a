"""kafkajs 2.2.4 (Node), installed from compat-tests/node/package-lock.json."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from clients import ExternalClient

NODE = Path(__file__).resolve().parents[1] / "node"


class KafkajsClient(ExternalClient):
    name = "kafkajs"
    has_group_mode = True
    reports_generation = True
    eager_strategy = "roundrobin"  # kafkajs has no range assignor
    no_cooperative = "kafkajs 2.2.4 has only the eager protocol (no cooperative rebalancing, KIP-429)"
    no_static_membership = "kafkajs 2.2.4 never sends a group.instance.id (no static membership, KIP-345)"
    argv = ["node", str(NODE / "client.js")]

    def prepare(self):
        if not shutil.which("node") or not (NODE / "node_modules" / "kafkajs").is_dir():
            pytest.fail("node or compat-tests/node/node_modules is missing (compat-tests/run.sh runs npm ci)")
