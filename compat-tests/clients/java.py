"""Apache kafka-clients 3.9.1 (Java), taken from the PyPI wheel
shigawire-apache-flink-libraries (pyflink/lib/*.jar, unpacked by run.sh into
.build/jars), compiled here with javac."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from clients import ExternalClient

HERE = Path(__file__).resolve().parents[1]
JARS = HERE / ".build" / "jars"
CLASSES = HERE / ".build" / "java-classes"


class JavaClient(ExternalClient):
    name = "java"
    has_group_mode = True
    reports_generation = True
    has_failover_mode = True
    argv = ["java", "-XX:TieredStopAtLevel=1", "-cp", f"{CLASSES}:{JARS}/*", "CompatClient"]

    def prepare(self):
        if not shutil.which("javac") or not (JARS / "kafka-clients.jar").exists():
            pytest.fail("javac or the kafka-clients jars are missing (compat-tests/run.sh installs them)")
        proc = subprocess.run(["javac", "-d", str(CLASSES), "-cp", f"{JARS}/*", "CompatClient.java", "Failover.java"],
                              cwd=HERE / "java", capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, f"javac failed:\n{proc.stderr}"
