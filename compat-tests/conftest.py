"""Fixtures and the compatibility-matrix plugin.

- `start_broker`: a fresh Odradek per test (the Odradek-only tests).
- `broker`: one broker per test module, parametrised `kafka` | `odradek`
  (Apache Kafka 4.4, the reference, first); `observe` holds a scenario's
  observation on Odradek against Kafka's (harness/diff.py).
- `client`: the parametrised client, prepared once per session.
- The run writes .build/compat-matrix.json: client, client version,
  scenario, broker, result (pass, fail, divergence, skip) per test.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from harness.broker import Broker
from harness.diff import REFERENCE, Divergence, Observer, scenario_id
from harness.kafka import KafkaBroker

HERE = Path(__file__).resolve().parent
MATRIX = HERE / ".build" / "compat-matrix.json"

# The reference runs a module's scenarios first; Odradek's are compared with it.
BROKER_KINDS = (REFERENCE, "odradek")
# What the scenarios sharing a module broker assume, on both brokers:
# harness.data.PARTITIONS for auto-created topics (kcat), and no delay
# before a new group's first rebalance.
MODULE_BROKER_SETTINGS = ("num.partitions=3", "auto.create.topics.enable=true",
                          "group.initial.rebalance.delay.ms=0")


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


@pytest.fixture(scope="module", params=BROKER_KINDS)
def broker(request, tmp_path_factory):
    """One broker for every scenario of the module (they use distinct topic
    and group names): Apache Kafka 4.4, then Odradek. SIGTERM at the end must
    exit cleanly."""
    kind = request.param
    base = tmp_path_factory.mktemp(f"{kind}-{request.module.__name__.rsplit('.', 1)[-1]}")
    settings = MODULE_BROKER_SETTINGS + tuple(getattr(request.module, "BROKER_SETTINGS", ()))
    if kind == "kafka":
        b = KafkaBroker(base / "data", settings=settings, log_path=base / "broker.log")
    else:
        b = Broker(base / "data", settings=settings, log_path=base / "broker.log")
    started = time.monotonic()
    b.start()
    print(f"{kind} broker ready in {time.monotonic() - started:.1f}s on {b.bootstrap}")
    yield b
    code = b.stop()
    print(f"--- {kind} broker log {b.log_path}\n{b.log_tail(60)}")
    assert code == 0, f"{kind} broker exit code on SIGTERM: {code}"


@pytest.fixture
def observe(request, broker):
    """observe.check(observation) at the end of a scenario (see harness/diff.py)."""
    return Observer(request.node, broker.kind)


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


# --- known divergences: strict xfail on the Odradek side only ----------------

def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "divergence(reason, only=None): Odradek is known to answer this scenario differently from "
        "Apache Kafka (a defect to fix): strict xfail on its odradek items only; `only` limits it to "
        "scenario ids containing one of the given strings")
    config.addinivalue_line(
        "markers", "matrix_client(name): the client family of this test in the compatibility matrix "
        "(default: the `client` parameter, else the module's MATRIX_CLIENT)")


def _broker_of(item) -> str:
    params = getattr(getattr(item, "callspec", None), "params", {})
    return params.get("broker", "odradek")  # tests without the fixture run Odradek only


def pytest_collection_modifyitems(config, items):
    for item in items:
        if _broker_of(item) != "odradek":
            continue
        for mark in item.iter_markers("divergence"):
            only = mark.kwargs.get("only")
            if only and not any(s in scenario_id(item) for s in only):
                continue
            item.add_marker(pytest.mark.xfail(strict=True, reason=f"divergence: {mark.args[0]}"))


# --- the compatibility matrix ------------------------------------------------

_results: dict[str, dict] = {}


def _client_of(item) -> str:
    params = getattr(getattr(item, "callspec", None), "params", {})
    c = params.get("client")
    if c is not None:
        return getattr(c, "name", str(c))
    mark = item.get_closest_marker("matrix_client")
    if mark is not None:
        return mark.args[0]
    return getattr(item.module, "MATRIX_CLIENT", "raw")


def _result(rep, call) -> str:
    if hasattr(rep, "wasxfail"):
        return "divergence" if "divergence" in rep.wasxfail else "fail"
    if rep.skipped:
        return "skip"
    if rep.failed:
        if call.excinfo is not None and call.excinfo.errisinstance(Divergence):
            return "divergence"
        if call.excinfo is None and "XPASS" in str(rep.longrepr):
            return "pass"  # a strict xfail that passed: fixed, its mark must go
        return "fail"
    return "pass"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    entry = _results.setdefault(item.nodeid, {
        "client": _client_of(item), "scenario": scenario_id(item), "broker": _broker_of(item), "result": "pass"})
    result = _result(rep, call)
    # The call's outcome; a setup skip or failure; a teardown failure after a pass.
    if rep.when == "call" or (result != "pass" and entry["result"] == "pass"):
        entry["result"] = result


def pytest_sessionfinish(session, exitstatus):
    if not _results or hasattr(session.config, "workerinput"):
        return
    from clients.versions import client_version
    entries = [{**e, "client_version": client_version(e["client"])} for e in _results.values()]
    entries.sort(key=lambda e: (e["client"], e["scenario"], e["broker"]))
    MATRIX.parent.mkdir(parents=True, exist_ok=True)
    MATRIX.write_text(json.dumps({
        "generated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "reference": "Apache Kafka 4.4.0 (KRaft, single node)",
        "pytest_args": list(session.config.invocation_params.args),
        "entries": entries}, indent=1, ensure_ascii=False) + "\n")
