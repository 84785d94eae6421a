"""kcat (Debian package; librdkafka 2.0.2). No admin API: topics are
auto-created through a metadata request, with the broker's num.partitions=3.
kcat's -H applies to a whole invocation, so each partition is produced by
one invocation with that partition's headers; values are text (it reads
lines), and -Z turns the empty value into null."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from itertools import groupby

import pytest

from clients import Client, Metadata
from harness.data import PARTITIONS, Record

DELIVERED = re.compile(r"Message delivered to partition (\d+) \(offset (\d+)\)")


def kcat(*args, stdin=None):
    proc = subprocess.run(["kcat", *args], input=stdin, capture_output=True, timeout=60)
    assert proc.returncode == 0, f"kcat {args} exited {proc.returncode}: {proc.stderr.decode(errors='replace')[-4000:]}"
    return proc


class KcatClient(Client):
    name = "kcat"
    text_only = True
    uniform_headers = True
    broker_settings = (f"num.partitions={PARTITIONS}",)
    # kcat -L prints no cluster id.
    reports_cluster_id = False
    # librdkafka 2.0.2 decides codec support from ApiVersions and wants
    # Produce v2 listed for gzip, snappy and lz4 (librdkafka issue 4956).
    # Apache Kafka 4.4 lists Produce from v0 for that reason (KAFKA-18659),
    # so kcat compresses; Odradek lists it from v3, and kcat then sends those
    # batches uncompressed, logging "Broker does not support compression
    # type": a known divergence (tests/test_clients.py).

    def prepare(self):
        if not shutil.which("kcat"):
            pytest.fail("kcat is not installed (compat-tests/run.sh installs it)")

    def metadata(self, bootstrap):
        md = json.loads(kcat("-b", bootstrap, "-L", "-J").stdout)
        brokers = [(b["id"], *b["name"].rsplit(":", 1)) for b in md["brokers"]]
        return Metadata(None, md["controllerid"], [(i, h, int(p)) for i, h, p in brokers])

    def create_topic(self, bootstrap, topic, partitions):
        assert partitions == PARTITIONS, "kcat topics get the broker's num.partitions"
        # Apache Kafka answers the first request for a topic it auto-creates
        # with LEADER_NOT_AVAILABLE (creation under way): ask again, as
        # producers do.
        deadline = time.monotonic() + 15
        while True:
            md = json.loads(kcat("-b", bootstrap, "-L", "-J", "-t", topic).stdout)
            (t,) = md["topics"]
            if "error" not in t and t["partitions"] or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert "error" not in t, t
        return {p["partition"]: p["leader"] for p in t["partitions"]}

    def produce(self, bootstrap, topic, codec, records):
        acks = {}
        for p, group in groupby(sorted(records, key=lambda r: r.partition), key=lambda r: r.partition):
            group = list(group)
            headers = [a for k, v in group[0].headers for a in ("-H", f"{k}={v.decode()}")]
            assert all(r.headers == group[0].headers for r in group)
            lines = "".join(f"{r.key.decode()}\t{(r.value or b'').decode()}\n" for r in group)
            proc = kcat("-b", bootstrap, "-P", "-t", topic, "-p", str(p), "-K", "\t", "-Z",
                        "-z", codec, "-X", "acks=all", "-v", "-v", *headers, stdin=lines.encode())
            delivered = [(int(a), int(b)) for a, b in DELIVERED.findall(proc.stderr.decode())]
            assert len(delivered) == len(group), proc.stderr.decode()
            acks.update(zip((id(r) for r in group), delivered))
        return [acks[id(r)] for r in records]

    def consume(self, bootstrap, topic):
        # Every partition from the beginning; -e: exit once each reached its end.
        out = kcat("-b", bootstrap, "-C", "-t", topic, "-o", "beginning", "-e", "-J", "-q").stdout
        records = []
        for line in out.decode().splitlines():
            m = json.loads(line)
            h = m.get("headers") or []
            headers = tuple((h[i], None if h[i + 1] is None else h[i + 1].encode()) for i in range(0, len(h), 2))
            enc = lambda s: None if s is None else s.encode()
            records.append(Record(m["partition"], enc(m["key"]), enc(m["payload"]), headers, m["offset"]))
        return records
