"""A Jepsen-style checker for a queue history: what producers were told,
what a live consumer polled, and what a final read of every partition finds.

Values are "<producer>-<sequence>"; each producer sends its sequence in
order to one partition per value. The checker reports, each as a list of
examples (empty when the property holds):

- lost: acknowledged, but not in the final read;
- duplicated: in the final read more than once;
- unexpected: in the final read, but never sent;
- misplaced: found at another partition or offset than its acknowledgement said;
- reordered: a producer's values out of sequence order within a partition;
- non_contiguous: the final read of a partition has offset gaps (idempotent
  data without transactions or compaction has none);
- poll_skips: the live consumer jumped over offsets that the final read holds;
- unseen: acknowledged but never polled by the live consumer.

Values whose send failed may be absent or present (indeterminate): they are
counted, not flagged. Non-monotonic polls (the live consumer going back,
as it may after a rebalance or a coordinator move) are counted as
re-deliveries, not flagged: that is at-least-once, not loss.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field


@dataclass
class History:
    # value -> (partition, offset) from its acknowledgement
    acked: dict[str, tuple[int, int]] = field(default_factory=dict)
    failed: set[str] = field(default_factory=set)
    sent: set[str] = field(default_factory=set)
    # the live consumer's polls, in order: (partition, offset, value)
    polled: list[tuple[int, int, str]] = field(default_factory=list)


@dataclass
class Report:
    lost: list = field(default_factory=list)
    duplicated: list = field(default_factory=list)
    unexpected: list = field(default_factory=list)
    misplaced: list = field(default_factory=list)
    reordered: list = field(default_factory=list)
    non_contiguous: list = field(default_factory=list)
    poll_skips: list = field(default_factory=list)
    unseen: list = field(default_factory=list)
    indeterminate_present: int = 0
    indeterminate_absent: int = 0
    redelivered: int = 0
    read: int = 0

    def violations(self) -> dict[str, list]:
        names = ("lost", "duplicated", "unexpected", "misplaced", "reordered", "non_contiguous",
                 "poll_skips", "unseen")
        return {n: getattr(self, n)[:5] for n in names if getattr(self, n)}

    def summary(self) -> str:
        return (f"{self.read} read, {len(self.lost)} lost, {len(self.duplicated)} duplicated, "
                f"{len(self.reordered)} reordered, {len(self.poll_skips)} poll skips, "
                f"{self.redelivered} re-delivered by the live consumer, indeterminate sends "
                f"{self.indeterminate_present} present / {self.indeterminate_absent} absent")


def _sequence(value: str) -> tuple[str, int]:
    producer, _, seq = value.rpartition("-")
    return producer, int(seq)


def check(history: History, final: list[tuple[int, int, str]]) -> Report:
    """`final`: every record of the topic as (partition, offset, value)."""
    report = Report(read=len(final))
    counts = Counter(v for _, _, v in final)
    report.duplicated = sorted(v for v, n in counts.items() if n > 1)
    report.unexpected = sorted(v for v in counts if v not in history.sent)
    found = {v: (p, o) for p, o, v in final}
    report.lost = sorted(v for v in history.acked if v not in found)
    report.misplaced = sorted((v, history.acked[v], found[v]) for v in history.acked
                              if v in found and found[v] != history.acked[v])
    indeterminate = history.failed - history.acked.keys()
    report.indeterminate_present = sum(1 for v in indeterminate if v in found)
    report.indeterminate_absent = len(indeterminate) - report.indeterminate_present

    by_partition: dict[int, list[tuple[int, str]]] = defaultdict(list)
    for p, o, v in final:
        by_partition[p].append((o, v))
    for p, records in by_partition.items():
        records.sort()
        offsets = [o for o, _ in records]
        gaps = [(p, a, b) for a, b in zip(offsets, offsets[1:]) if b != a + 1]
        report.non_contiguous += gaps
        last: dict[str, int] = {}
        for o, v in records:
            producer, seq = _sequence(v)
            if producer in last and seq <= last[producer]:
                report.reordered.append((p, o, v, f"after {producer}-{last[producer]}"))
            last[producer] = seq

    held = {p: {o for o, _ in records} for p, records in by_partition.items()}
    position: dict[int, int] = {}
    delivered: set[tuple[int, int]] = set()
    for p, o, _ in history.polled:
        if (p, o) in delivered:
            report.redelivered += 1
        delivered.add((p, o))
        if p in position:
            if o > position[p] + 1 and any(x in held.get(p, ()) for x in range(position[p] + 1, o)):
                report.poll_skips.append((p, position[p], o))
        position[p] = o
    if history.polled:
        polled = {v for _, _, v in history.polled}
        report.unseen = sorted(v for v in history.acked if v not in polled)
    return report
