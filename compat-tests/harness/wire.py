"""Just enough of the Kafka wire protocol, over a raw socket, to send hostile
frames, probe ApiVersions and look at the record batches a producer wrote."""
from __future__ import annotations

import socket
import struct


def connect(port: int, timeout: float = 10.0) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def recv_exact(s: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise EOFError(f"connection closed after {len(buf)} of {n} bytes")
        buf += chunk
    return buf


def recv_frame(s: socket.socket) -> bytes:
    (size,) = struct.unpack(">i", recv_exact(s, 4))
    return recv_exact(s, size)


def closed_by_peer(s: socket.socket, timeout: float = 10.0) -> bool:
    """True once the peer closes (EOF or reset) within `timeout`; bytes it
    sends before closing are read and dropped."""
    s.settimeout(timeout)
    try:
        while s.recv(65536):
            pass
        return True
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def string(s: str | None) -> bytes:
    if s is None:
        return struct.pack(">h", -1)
    b = s.encode()
    return struct.pack(">h", len(b)) + b


def request(api_key: int, version: int, correlation_id: int, body: bytes,
            client_id: str | None = "compat-raw", flexible: bool = False) -> bytes:
    """A size-prefixed request; `flexible` adds header v2's empty tagged fields."""
    header = struct.pack(">hhi", api_key, version, correlation_id) + string(client_id)
    if flexible:
        header += b"\x00"
    payload = header + body
    return struct.pack(">i", len(payload)) + payload


class Reader:
    def __init__(self, data: bytes):
        self.data, self.pos = data, 0

    def take(self, fmt: str):
        values = struct.unpack_from(">" + fmt, self.data, self.pos)
        self.pos += struct.calcsize(">" + fmt)
        return values if len(values) > 1 else values[0]

    def string(self) -> str | None:
        n = self.take("h")
        if n < 0:
            return None
        s = self.data[self.pos:self.pos + n].decode()
        self.pos += n
        return s

    def bytes_(self) -> bytes | None:
        n = self.take("i")
        if n < 0:
            return None
        b = self.data[self.pos:self.pos + n]
        self.pos += n
        return b

    def at_end(self) -> bool:
        return self.pos == len(self.data)


def api_versions_v0_response(frame: bytes):
    """(correlation_id, error_code, {api_key: (min, max)}), checking that the
    frame is exactly a v0 body."""
    r = Reader(frame)
    correlation_id, error_code, n = r.take("ihi")
    keys = {}
    for _ in range(n):
        k, lo, hi = r.take("hhh")
        keys[k] = (lo, hi)
    assert r.at_end(), f"{len(frame) - r.pos} trailing bytes after an ApiVersions v0 body"
    return correlation_id, error_code, keys


def fetch_batches(port: int, topic: str, partition: int, max_bytes: int = 16 << 20):
    """Fetch v10 from offset 0 and describe each record batch returned:
    [(base_offset, record_count, codec_id)]."""
    body = struct.pack(">iiiibii", -1, 500, 1, max_bytes, 0, 0, -1)  # replica, wait, min, max, isolation, session
    body += struct.pack(">i", 1) + string(topic)
    body += struct.pack(">i", 1) + struct.pack(">iiqqi", partition, -1, 0, -1, max_bytes)
    body += struct.pack(">i", 0)  # forgotten topics
    with connect(port) as s:
        s.sendall(request(1, 10, 7, body))
        frame = recv_frame(s)
    r = Reader(frame)
    correlation_id, _throttle, error, _session, ntopics = r.take("iihii")
    assert (correlation_id, error, ntopics) == (7, 0, 1)
    assert r.string() == topic
    assert r.take("i") == 1
    p, perr, _hw, _lso, _lso2 = r.take("ihqqq")
    assert (p, perr) == (partition, 0), f"fetch error {perr}"
    naborted = r.take("i")
    for _ in range(max(naborted, 0)):
        r.take("qq")
    records = r.bytes_() or b""
    batches, pos = [], 0
    while pos + 61 <= len(records):
        base_offset, length = struct.unpack_from(">qi", records, pos)
        if pos + 12 + length > len(records):
            break  # a partial trailing batch is allowed by the protocol
        magic = records[pos + 16]
        attributes = struct.unpack_from(">h", records, pos + 21)[0]
        count = struct.unpack_from(">i", records, pos + 57)[0]
        assert magic == 2, f"magic {magic}"
        batches.append((base_offset, count, attributes & 0x7))
        pos += 12 + length
    return batches


def metadata_v1_brokers(port: int):
    """[(node_id, host, port)] and controller id from a Metadata v1 request for no topics."""
    with connect(port) as s:
        s.sendall(request(3, 1, 11, struct.pack(">i", 0)))
        r = Reader(recv_frame(s))
    assert r.take("i") == 11
    brokers = []
    for _ in range(r.take("i")):
        node = r.take("i")
        host = r.string()
        brokers.append((node, host, r.take("i")))
        r.string()  # rack
    return brokers, r.take("i")


_CRC32C = []
for _n in range(256):
    _c = _n
    for _ in range(8):
        _c = (_c >> 1) ^ 0x82F63B78 if _c & 1 else _c >> 1
    _CRC32C.append(_c)


def crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for b in data:
        crc = _CRC32C[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def record_batch(codec_id: int, records_section: bytes, count: int, timestamp_ms: int = 0) -> bytes:
    """A v2 record batch around an arbitrary records section, with a correct CRC."""
    after_crc = struct.pack(">hiqqqhii", codec_id, count - 1, timestamp_ms, timestamp_ms, -1, -1, -1, count)
    after_crc += records_section
    head = struct.pack(">ib", -1, 2)  # partition leader epoch, magic
    body = head + struct.pack(">I", crc32c(after_crc)) + after_crc
    return struct.pack(">qi", 0, len(body)) + body


def produce_v8(port: int, topic: str, partition: int, batch: bytes):
    """(error_code, base_offset) of a Produce v8 request with acks=-1."""
    body = string(None) + struct.pack(">hi", -1, 10000)
    body += struct.pack(">i", 1) + string(topic) + struct.pack(">i", 1)
    body += struct.pack(">ii", partition, len(batch)) + batch
    with connect(port) as s:
        s.sendall(request(0, 8, 13, body))
        r = Reader(recv_frame(s))
    assert r.take("i") == 13
    assert r.take("i") == 1 and r.string() == topic and r.take("i") == 1
    index, error, base_offset = r.take("ihq")
    assert index == partition
    return error, base_offset


def fetch_partition(port: int, topic: str, partition: int, offset: int = 0, isolation: int = 0,
                    max_bytes: int = 1 << 20, leader_epoch: int = -1) -> dict:
    """One partition's answer to a Fetch v10 from `offset` (isolation 1:
    read_committed; `leader_epoch`: the client's current leader epoch, -1 for
    none): error code, watermarks, aborted transactions, and the batches
    [(base_offset, record_count, codec_id)]."""
    body = struct.pack(">iiiibii", -1, 100, 1, max_bytes, isolation, 0, -1)
    body += struct.pack(">i", 1) + string(topic)
    body += struct.pack(">i", 1) + struct.pack(">iiqqi", partition, leader_epoch, offset, -1, max_bytes)
    body += struct.pack(">i", 0)
    with connect(port) as s:
        s.sendall(request(1, 10, 8, body))
        r = Reader(recv_frame(s))
    correlation_id, _throttle, error, _session, ntopics = r.take("iihii")
    assert (correlation_id, ntopics) == (8, 1), (correlation_id, error, ntopics)
    assert r.string() == topic and r.take("i") == 1
    p, perr, hw, lso, log_start = r.take("ihqqq")
    naborted = r.take("i")
    aborted = [r.take("qq") for _ in range(max(naborted, 0))]
    records = r.bytes_() or b""
    batches, pos = [], 0
    while pos + 61 <= len(records):
        base_offset, length = struct.unpack_from(">qi", records, pos)
        if pos + 12 + length > len(records):
            break
        attributes = struct.unpack_from(">h", records, pos + 21)[0]
        count = struct.unpack_from(">i", records, pos + 57)[0]
        batches.append((base_offset, count, attributes & 0x7))
        pos += 12 + length
    return {"error": error, "partition_error": perr, "high_watermark": hw, "last_stable_offset": lso,
            "log_start_offset": log_start, "aborted": aborted if naborted >= 0 else None, "batches": batches}


def produce_v8_result(port: int, topic: str, partition: int, batch: bytes) -> dict:
    """The whole partition answer of a Produce v8 (acks=-1): error code,
    base offset, log start offset, record errors and error message."""
    body = string(None) + struct.pack(">hi", -1, 10000)
    body += struct.pack(">i", 1) + string(topic) + struct.pack(">i", 1)
    body += struct.pack(">ii", partition, len(batch)) + batch
    with connect(port) as s:
        s.sendall(request(0, 8, 14, body))
        r = Reader(recv_frame(s))
    assert r.take("i") == 14
    assert r.take("i") == 1 and r.string() == topic and r.take("i") == 1
    index, error, base_offset, _append_time, log_start = r.take("ihqqq")
    record_errors = [(r.take("i"), r.string()) for _ in range(max(r.take("i"), 0))]
    message = r.string()
    return {"partition": index, "error": error, "base_offset": base_offset, "log_start_offset": log_start,
            "record_errors": record_errors, "error_message": message}


def simple_records(values: list[bytes]) -> bytes:
    """The records section of an uncompressed v2 batch: keyless records, one per value."""
    out = b""
    for i, v in enumerate(values):
        body = b"\x00" + varint(0) + varint(i) + varint(-1) + varint(len(v)) + v + varint(0)
        out += varint(len(body)) + body
    return out


def varint(n: int) -> bytes:
    z = (n << 1) ^ (n >> 63)
    out = b""
    while True:
        b = z & 0x7F
        z >>= 7
        if z:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def offset_commit_v2(port: int, group: str, generation: int, member: str, topic: str, partition: int,
                     offset: int) -> int:
    """The partition error code of an OffsetCommit v2 (one partition)."""
    body = string(group) + struct.pack(">i", generation) + string(member) + struct.pack(">q", -1)
    body += struct.pack(">i", 1) + string(topic) + struct.pack(">i", 1)
    body += struct.pack(">iq", partition, offset) + string("")
    with connect(port) as s:
        s.sendall(request(8, 2, 15, body))
        r = Reader(recv_frame(s))
    assert r.take("i") == 15
    assert r.take("i") == 1 and r.string() == topic and r.take("i") == 1
    p, error = r.take("ih")
    assert p == partition
    return error


def fetch_many(port: int, topic: str, partitions: list[int], max_bytes: int, partition_max_bytes: int) -> dict:
    """A Fetch v10 from offset 0 of several partitions of one topic: per
    partition (error code, bytes of record data returned, complete batches)."""
    body = struct.pack(">iiiibii", -1, 100, 1, max_bytes, 0, 0, -1)
    body += struct.pack(">i", 1) + string(topic) + struct.pack(">i", len(partitions))
    for p in partitions:
        body += struct.pack(">iiqqi", p, -1, 0, -1, partition_max_bytes)
    body += struct.pack(">i", 0)
    with connect(port) as s:
        s.sendall(request(1, 10, 9, body))
        r = Reader(recv_frame(s))
    correlation_id, _throttle, error, _session, ntopics = r.take("iihii")
    assert (correlation_id, error, ntopics) == (9, 0, 1)
    assert r.string() == topic
    out = {}
    for _ in range(r.take("i")):
        p, perr, _hw, _lso, _start = r.take("ihqqq")
        for _ in range(max(r.take("i"), 0)):
            r.take("qq")
        records = r.bytes_() or b""
        complete, pos = 0, 0
        while pos + 12 <= len(records):
            _base, length = struct.unpack_from(">qi", records, pos)
            if pos + 12 + length > len(records):
                break
            complete += 1
            pos += 12 + length
        out[p] = {"error": perr, "bytes": len(records), "complete_batches": complete}
    return out


def call(port: int, api_key: int, version: int, body: bytes, correlation_id: int = 21) -> Reader:
    """One non-flexible request; the Reader stands after the response's correlation id."""
    with connect(port) as s:
        s.sendall(request(api_key, version, correlation_id, body))
        r = Reader(recv_frame(s))
    assert r.take("i") == correlation_id
    return r


def find_coordinator_v1(port: int, key: str, key_type: int) -> tuple[int, int]:
    """(error_code, node_id) of FindCoordinator v1; key_type 0: group, 1: transaction."""
    r = call(port, 10, 1, string(key) + struct.pack(">b", key_type))
    _throttle, error = r.take("ih")
    r.string()  # error message
    node = r.take("i")
    return error, node


def init_producer_id_v1(port: int, transactional_id: str, timeout_ms: int = 60000) -> tuple[int, int, int]:
    """(error_code, producer_id, epoch) of InitProducerId v1."""
    r = call(port, 22, 1, string(transactional_id) + struct.pack(">i", timeout_ms))
    _throttle, error, producer_id, epoch = r.take("ihqh")
    return error, producer_id, epoch


def add_partitions_to_txn_v1(port: int, transactional_id: str, producer_id: int, epoch: int,
                             topic: str, partitions: list[int]) -> dict[int, int]:
    """{partition: error_code} of AddPartitionsToTxn v1 for one topic."""
    body = string(transactional_id) + struct.pack(">qh", producer_id, epoch)
    body += struct.pack(">i", 1) + string(topic) + struct.pack(">i", len(partitions))
    body += b"".join(struct.pack(">i", p) for p in partitions)
    r = call(port, 24, 1, body)
    r.take("i")  # throttle
    errors = {}
    for _ in range(r.take("i")):
        r.string()
        for _ in range(r.take("i")):
            p, error = r.take("ih")
            errors[p] = error
    return errors


def add_offsets_to_txn_v1(port: int, transactional_id: str, producer_id: int, epoch: int, group: str) -> int:
    r = call(port, 25, 1, string(transactional_id) + struct.pack(">qh", producer_id, epoch) + string(group))
    _throttle, error = r.take("ih")
    return error


def end_txn_v1(port: int, transactional_id: str, producer_id: int, epoch: int, commit: bool) -> int:
    r = call(port, 26, 1, string(transactional_id) + struct.pack(">qhb", producer_id, epoch, int(commit)))
    _throttle, error = r.take("ih")
    return error


def txn_offset_commit_v1(port: int, transactional_id: str, group: str, producer_id: int, epoch: int,
                         topic: str, partition: int, offset: int) -> int:
    """The partition's error code of a TxnOffsetCommit v1 of one offset."""
    body = string(transactional_id) + string(group) + struct.pack(">qh", producer_id, epoch)
    body += struct.pack(">i", 1) + string(topic) + struct.pack(">i", 1)
    body += struct.pack(">iq", partition, offset) + string(None)
    r = call(port, 28, 1, body)
    r.take("i")  # throttle
    assert r.take("i") == 1 and r.string() == topic and r.take("i") == 1
    p, error = r.take("ih")
    assert p == partition
    return error


def transactional_batch(producer_id: int, epoch: int, base_sequence: int, values: list[bytes]) -> bytes:
    """An uncompressed v2 batch of a transactional producer (attributes bit 4)."""
    count = len(values)
    after_crc = struct.pack(">hiqqqhii", 0x10, count - 1, 0, 0, producer_id, epoch, base_sequence, count)
    after_crc += simple_records(values)
    body = struct.pack(">ib", -1, 2) + struct.pack(">I", crc32c(after_crc)) + after_crc
    return struct.pack(">qi", 0, len(body)) + body


def produce_v8_transactional(port: int, transactional_id: str, topic: str, partition: int,
                             batch: bytes) -> tuple[int, str | None]:
    """(error_code, error_message) of a Produce v8 (acks=-1) naming a transactional id."""
    body = string(transactional_id) + struct.pack(">hi", -1, 10000)
    body += struct.pack(">i", 1) + string(topic) + struct.pack(">i", 1)
    body += struct.pack(">ii", partition, len(batch)) + batch
    r = call(port, 0, 8, body)
    assert r.take("i") == 1 and r.string() == topic and r.take("i") == 1
    index, error, _base, _append_time, _log_start = r.take("ihqqq")
    assert index == partition
    for _ in range(max(r.take("i"), 0)):
        r.take("i")
        r.string()
    return error, r.string()


def write_txn_markers_v0(port: int, producer_id: int, epoch: int, commit: bool, topic: str, partition: int,
                         coordinator_epoch: int) -> int:
    """The partition's error code of a WriteTxnMarkers v0 of one marker (a
    transaction coordinator's request to a partition leader)."""
    body = struct.pack(">i", 1) + struct.pack(">qhb", producer_id, epoch, int(commit))
    body += struct.pack(">i", 1) + string(topic) + struct.pack(">ii", 1, partition)
    body += struct.pack(">i", coordinator_epoch)
    r = call(port, 27, 0, body)
    assert r.take("i") == 1 and r.take("q") == producer_id
    assert r.take("i") == 1 and r.string() == topic and r.take("i") == 1
    p, error = r.take("ih")
    assert p == partition
    return error


def uvarint(n: int) -> bytes:
    """An unsigned varint (compact lengths of flexible versions)."""
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def read_uvarint(r: Reader) -> int:
    shift = value = 0
    while True:
        b = r.data[r.pos]
        r.pos += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value
        shift += 7


def read_compact_string(r: Reader) -> str | None:
    n = read_uvarint(r) - 1
    if n < 0:
        return None
    s = r.data[r.pos:r.pos + n].decode()
    r.pos += n
    return s


def skip_tags(r: Reader) -> None:
    for _ in range(read_uvarint(r)):
        read_uvarint(r)
        r.pos += read_uvarint(r)
