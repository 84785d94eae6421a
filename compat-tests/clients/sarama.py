"""sarama 1.22.1 (Go), from Debian's golang-github-shopify-sarama-dev, built
offline in GOPATH mode. It sends Produce v3 and Fetch v4 whatever the codec."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from clients import ExternalClient

HERE = Path(__file__).resolve().parents[1]
BINARY = HERE / ".build" / "sarama-compat"


class SaramaClient(ExternalClient):
    name = "sarama"
    argv = [str(BINARY)]
    kafka_refuses = {"zstd": "sarama 1.22.1 sends zstd batches in Produce v3; Kafka accepts zstd from Produce v7 "
                             "(KIP-110) and answers UNSUPPORTED_COMPRESSION_TYPE"}

    def prepare(self):
        if not shutil.which("go") or not Path("/usr/share/gocode/src/github.com/Shopify/sarama").is_dir():
            pytest.fail("go / golang-github-shopify-sarama-dev missing (compat-tests/run.sh installs them)")
        env = {**os.environ, "GO111MODULE": "off", "GOPATH": "/usr/share/gocode", "GOPROXY": "off",
               "GOCACHE": os.environ.get("GOCACHE", str(HERE / ".build" / "go-cache"))}
        proc = subprocess.run(["go", "build", "-o", str(BINARY), "."], cwd=HERE / "sarama", env=env,
                              capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, f"go build failed:\n{proc.stderr}"
