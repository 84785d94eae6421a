"""The records every client produces and must read back, and the line format
the out-of-process clients (kafkajs, sarama, Java) speak on stdin/stdout.

Line format: space-separated fields; a bytes field is "~" for null, else "."
followed by standard base64 (so empty bytes is "."). A record line is
    <partition> <key> <value> [<header-name>:<header-value> ...]
with the header name (UTF-8) encoded like any bytes field.
"""
from __future__ import annotations

import base64
from dataclasses import dataclass

CODECS = ("none", "gzip", "snappy", "lz4", "zstd")
CODEC_IDS = {"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}
PARTITIONS = 3
PER_PARTITION = 8


@dataclass(frozen=True)
class Record:
    partition: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes | None], ...] = ()
    offset: int | None = None  # set on consumed records


def expected_records(codec: str, *, text_only: bool = False, uniform_headers: bool = False) -> list[Record]:
    """PARTITIONS * PER_PARTITION keyed records, in production order.

    Record i goes to partition i % PARTITIONS. Every value is compressible so
    each batch really is compressed. Record 4 has a null value (a tombstone).
    Headers repeat a key ("dup") and include an empty value. `text_only`
    keeps bytes printable for tools that speak text (kcat); `uniform_headers`
    gives all records of a partition the same headers (kcat's -H applies
    to a whole invocation)."""
    out = []
    for i in range(PARTITIONS * PER_PARTITION):
        p = i % PARTITIONS
        key = f"key-{i:03d}".encode()
        value = f"{codec} record {i} héllo ✓ ".encode() + b"lorem ipsum dolor sit amet " * (2 + i % 5)
        if not text_only:
            key += b"\x00\xfe"
            value += b"\x00\x01\xff\n\t"
        if i == 4:
            value = None
        if uniform_headers:
            headers = (("part", str(p).encode()), ("dup", b"first"), ("dup", b"second"), ("empty", b""))
        else:
            headers = (("seq", str(i).encode()), ("dup", b"first"), ("dup", b"second"))
            if i % 2 == 0:
                headers += (("empty", b""),)
        out.append(Record(p, key, value, headers))
    return out


def enc(b: bytes | None) -> str:
    return "~" if b is None else "." + base64.b64encode(b).decode()


def dec(s: str) -> bytes | None:
    if s == "~":
        return None
    assert s.startswith("."), f"bad field {s!r}"
    return base64.b64decode(s[1:], validate=True)


def record_line(r: Record) -> str:
    fields = [str(r.partition), enc(r.key), enc(r.value)]
    fields += [f"{enc(k.encode())}:{enc(v)}" for k, v in r.headers]
    return " ".join(fields)


def parse_record_fields(partition: str, offset: str, fields: list[str]) -> Record:
    key, value, *hs = fields
    headers = []
    for h in hs:
        k, v = h.split(":")
        headers.append((dec(k).decode(), dec(v)))
    return Record(int(partition), dec(key), dec(value), tuple(headers), int(offset))
