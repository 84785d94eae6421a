"""franz-go 1.22.3 (Go, github.com/twmb/franz-go, with kadm for admin),
fetched from the Go module proxy and built here. Exercised against the
three-node cluster (tests/test_cluster_clients.py)."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from clients import ExternalClient

HERE = Path(__file__).resolve().parents[1]
BINARY = HERE / ".build" / "franz-compat"


class FranzClient(ExternalClient):
    name = "franz-go"
    has_failover_mode = True
    argv = [str(BINARY)]

    def prepare(self):
        if not shutil.which("go"):
            pytest.fail("go is missing (compat-tests/run.sh installs it)")
        env = {**os.environ, "GOFLAGS": "-mod=mod",
               "GOCACHE": os.environ.get("GOCACHE", str(HERE / ".build" / "go-cache"))}
        proc = subprocess.run(["go", "build", "-o", str(BINARY), "."], cwd=HERE / "franz", env=env,
                              capture_output=True, text=True, timeout=900)
        assert proc.returncode == 0, f"go build failed:\n{proc.stderr}"
