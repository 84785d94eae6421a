"""Fixtures: a fresh broker per test, each client prepared once per session."""
from __future__ import annotations

import pytest

from harness.broker import Broker


@pytest.fixture
def start_broker(tmp_path):
    """start_broker(settings=(), data_dir=None, port=None) -> a ready Broker.

    Every broker still running at the end of the test gets SIGTERM and must
    exit 0; its log is printed (shown by pytest when the test fails)."""
    brokers: list[Broker] = []

    def start(settings=(), data_dir=None, port=None) -> Broker:
        b = Broker(data_dir or tmp_path / f"data{len(brokers)}", port=port, settings=settings,
                   log_path=tmp_path / f"broker{len(brokers)}.log")
        brokers.append(b)
        return b.start()

    yield start
    codes = {}
    for b in brokers:
        if b.proc is not None:
            codes[b.bootstrap] = b.stop()
        print(f"--- broker log {b.log_path}\n{b.log_tail(60)}")
    assert all(code == 0 for code in codes.values()), f"broker exit codes on SIGTERM: {codes}"


_prepared: dict[str, object] = {}


@pytest.fixture
def client(request):
    """The parametrized client, built/checked once per session."""
    c = request.param
    if c.name not in _prepared:
        try:
            c.prepare()
        except BaseException as e:  # remember the failure: don't rebuild for every test
            _prepared[c.name] = e
            raise
        _prepared[c.name] = True
    if isinstance(_prepared[c.name], BaseException):
        pytest.fail(f"{c.name} could not be prepared: {_prepared[c.name]}")
    return c
