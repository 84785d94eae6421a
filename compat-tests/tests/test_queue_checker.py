"""The queue checker finds what it claims to find: each violation, planted
in an otherwise clean history, is reported, and a clean history is clean."""
from __future__ import annotations

from harness.queue_checker import History, check


def clean() -> tuple[History, list[tuple[int, int, str]]]:
    history = History()
    final = []
    for seq in range(5):
        for producer, partition in (("a", 0), ("b", 1)):
            value = f"{producer}-{seq}"
            history.sent.add(value)
            history.acked[value] = (partition, seq)
            final.append((partition, seq, value))
    history.polled = list(final)
    return history, final


def test_a_clean_history_has_no_violation():
    history, final = clean()
    report = check(history, final)
    assert report.violations() == {}
    assert report.read == 10


def test_each_planted_violation_is_found():
    history, final = clean()
    assert check(history, [r for r in final if r[2] != "a-3"]).lost == ["a-3"]
    assert check(history, final + [(0, 5, "a-1")]).duplicated == ["a-1"]
    history.sent.add("a-9")
    assert check(history, final + [(0, 5, "x-1")]).unexpected == ["x-1"]
    moved = [(p, o + 1 if v == "b-4" else o, v) for p, o, v in final]
    assert check(history, moved).misplaced == [("b-4", (1, 4), (1, 5))]
    swapped = [(0, 1 if v == "a-2" else 2 if v == "a-1" else o, v) if p == 0 else (p, o, v)
               for p, o, v in final]
    report = check(History(sent=history.sent, acked={}), swapped)
    assert report.reordered == [(0, 2, "a-1", "after a-2")]
    gap = [(p, o + 10 if (p, o) == (1, 4) else o, v) for p, o, v in final]
    assert check(History(sent=history.sent), gap).non_contiguous == [(1, 3, 14)]
    skipping = History(sent=history.sent, acked=history.acked,
                       polled=[r for r in final if r[2] not in ("a-2", "a-3")])
    report = check(skipping, final)
    assert report.poll_skips == [(0, 1, 4)]
    assert report.unseen == ["a-2", "a-3"]


def test_going_back_is_redelivery_and_failed_sends_are_indeterminate():
    history, final = clean()
    history.polled = history.polled + [r for r in final if r[0] == 0]
    history.failed = {"a-4"}
    del history.acked["a-4"]
    report = check(history, final)
    assert report.violations() == {}
    assert report.redelivered == 5
    assert report.indeterminate_present == 1
