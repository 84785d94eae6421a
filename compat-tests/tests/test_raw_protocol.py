"""Scenarios 7-8 over a raw socket: hostile frames close only their own
connection; ApiVersions newer than the broker's gets the v0 fallback answer.
Plus raw repros of broker bugs found by the client tests."""
from __future__ import annotations

import gzip
import random
import socket
import struct

import pytest
import zstandard

from clients.kafka_python import KafkaPythonClient
from harness import wire
from harness.data import expected_records

# Odradek only (this module starts its own brokers); the client family in the
# compatibility matrix (compat-tests/.build/compat-matrix.json).
MATRIX_CLIENT = "raw"

HOSTILE = {
    # Found by fuzzing: API key 48 v0, a client id, then 4 stray bytes.
    "fuzz-14-bytes": struct.pack(">i", 14) + bytes.fromhex("0030 0000 0000 2f00 0000 2a00 0000"),
    "one-byte-frame": struct.pack(">i", 1) + b"\x00",
    "size-0x7fffffff-then-close": struct.pack(">i", 0x7FFFFFFF),
    "size-0x7fffffff-kept-open": struct.pack(">i", 0x7FFFFFFF),
    "garbage-http": b"GET / HTTP/1.1\r\nHost: odradek\r\n\r\n",
    "garbage-random": random.Random(7).randbytes(512),
}


def api_versions_v0(sock: socket.socket, correlation_id: int) -> dict[int, tuple[int, int]]:
    sock.sendall(wire.request(18, 0, correlation_id, b""))
    got_id, error, keys = wire.api_versions_v0_response(wire.recv_frame(sock))
    assert (got_id, error) == (correlation_id, 0)
    return keys


def assert_client_works(broker):
    client = KafkaPythonClient()
    client.create_topic(broker.bootstrap, "after-hostile", 3)
    records = expected_records("gzip")[:6]
    assert [a for a in client.produce(broker.bootstrap, "after-hostile", "gzip", records)] == \
        [(0, 0), (1, 0), (2, 0), (0, 1), (1, 1), (2, 1)]
    got = sorted(client.consume(broker.bootstrap, "after-hostile"), key=lambda r: (r.offset, r.partition))
    assert [(r.key, r.value, r.headers) for r in got] == [(r.key, r.value, r.headers) for r in records]


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_frame_closes_only_its_connection(name, start_broker):
    broker = start_broker()
    bystander = wire.connect(broker.port)  # a healthy connection open throughout
    keys = api_versions_v0(bystander, 1)
    assert keys[18] == (0, 5) and {0, 1, 3} <= set(keys)

    hostile = wire.connect(broker.port)
    hostile.sendall(HOSTILE[name])
    if name.endswith("then-close"):
        hostile.shutdown(socket.SHUT_WR)
    assert wire.closed_by_peer(hostile, timeout=10), "the broker kept the hostile connection open"
    hostile.close()

    assert broker.alive()
    assert api_versions_v0(bystander, 2) == keys  # the other connection is still served
    bystander.close()
    assert broker.rss_peak_kib() < 256 * 1024, "a size prefix made the broker allocate"
    assert_client_works(broker)


@pytest.mark.parametrize("version", [6, 127])
def test_api_versions_newer_than_supported_gets_v0_error_35(version, start_broker):
    """What kafka-python and the Java client rely on to step down: an
    ApiVersions v0 body with UNSUPPORTED_VERSION and the supported range."""
    broker = start_broker()
    compact = lambda s: bytes([len(s) + 1]) + s.encode()  # noqa: E731
    body = compact("compat-raw") + compact("1.0") + b"\x00"  # v3+ body: software name, version, tags
    with wire.connect(broker.port) as s:
        s.sendall(wire.request(18, version, 99, body, flexible=True))
        correlation_id, error, keys = wire.api_versions_v0_response(wire.recv_frame(s))
        assert (correlation_id, error) == (99, 35)
        assert keys[18] == (0, 5)
        # The connection stays usable: the client retries at a version it now knows.
        assert api_versions_v0(s, 100)[18] == (0, 5)


def test_listen_port_zero_advertises_bound_port(start_broker):
    """Found here (Metadata said port 0); fixed in the broker since."""
    broker = start_broker(port=0)  # the ready line tells which port was bound
    assert broker.port != 0
    assert wire.metadata_v1_brokers(broker.port) == ([(0, "127.0.0.1", broker.port)], 0)


def _record(value: bytes) -> bytes:
    zz = lambda n: bytes([((n << 1) ^ (n >> 31)) & 0xFF])  # noqa: E731  (small zigzag varints)
    body = b"\x00" + zz(0) + zz(0) + zz(-1) + zz(len(value)) + value + zz(0)
    return zz(len(body)) + body


def test_produce_rejects_undecodable_batches(start_broker):
    """Kafka decodes every record of a produced batch and answers
    CORRUPT_MESSAGE (2) / INVALID_RECORD (87) when it cannot; a stored bad
    batch would make every consumer of the partition fail. (Found when a
    kafkajs codec bug sent zeroed zstd frames and the broker acked them;
    fixed in the broker since.)"""
    broker = start_broker(("num.partitions=1",))
    KafkaPythonClient().create_topic(broker.bootstrap, "t", 1)
    good = _record(b"x")
    assert wire.produce_v8(broker.port, "t", 0, wire.record_batch(0, good, 1)) == (0, 0)
    assert wire.produce_v8(broker.port, "t", 0, wire.record_batch(1, gzip.compress(good), 1)) == (0, 1)
    bad = {
        "zstd garbage": wire.record_batch(4, b"\x00" * 40, 1),
        "gzip garbage": wire.record_batch(1, b"\x00" * 40, 1),
        "uncompressed garbage": wire.record_batch(0, b"\xff" * 40, 1),
        "3 records, count 1": wire.record_batch(4, zstandard.ZstdCompressor().compress(good * 3), 1),
    }
    answers = {name: wire.produce_v8(broker.port, "t", 0, batch) for name, batch in bad.items()}
    assert {name: (error in (2, 87), offset) for name, (error, offset) in answers.items()} == \
        {name: (True, -1) for name in bad}, f"(error, base offset): {answers}"
    assert [count for _, count, _ in wire.fetch_batches(broker.port, "t", 0)] == [1, 1]
