"""The differential layer: what a client observed in one scenario, per broker,
as a plain JSON-able dict, held against what it observed on Apache Kafka.

Apache Kafka (the reference) runs each scenario module first (tests/conftest.py
orders the `broker` fixture's params so); its observation is kept, and the
Odradek run of the same scenario compares with it key by key. A difference
fails the Odradek test with a Divergence, unless compat-tests/divergences.toml
allows that scenario and key, with a reason.
"""
from __future__ import annotations

import base64
import fnmatch
import json
import tomllib
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
ALLOW_LIST = HERE / "divergences.toml"
OBSERVATIONS = HERE / ".build" / "observations"
REFERENCE = "kafka"
ABSENT = "<absent>"

# scenario -> the reference broker's observation (flattened), this session.
_reference: dict[str, dict[str, object]] = {}


class Divergence(AssertionError):
    """Odradek's observation differs from Apache Kafka's outside the allow-list."""


@dataclass(frozen=True)
class Allowed:
    scenario: str  # the scenario id (file::test[params], no broker), exactly or as an fnmatch pattern
    key: str       # the flattened observation key, exactly or as an fnmatch pattern
    reason: str


def load_allow_list(path: Path = ALLOW_LIST) -> list[Allowed]:
    if not path.exists():
        return []
    entries = []
    for e in tomllib.loads(path.read_text()).get("allowed", []):
        reason = (e.get("reason") or "").strip()
        if not reason or "not implemented" in reason.lower():
            raise ValueError(f"{path}: entry {e} needs a reason, and 'not implemented' is none")
        entries.append(Allowed(e["scenario"], e["key"], reason))
    return entries


def jsonable(value):
    """Tuples to lists, bytes to text (UTF-8 as is, anything else as 'b64:...')."""
    if isinstance(value, bytes):
        try:
            return value.decode()
        except UnicodeDecodeError:
            return "b64:" + base64.b64encode(value).decode()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted(jsonable(v) for v in value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)


def flatten(value, prefix: str = "") -> dict[str, object]:
    """{"a": {"b": [1, 2]}} -> {"a.b[0]": 1, "a.b[1]": 2}; empty containers stay as leaves."""
    out: dict[str, object] = {}
    if isinstance(value, dict) and value:
        for k, v in value.items():
            out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    elif isinstance(value, list) and value:
        for i, v in enumerate(value):
            out.update(flatten(v, f"{prefix}[{i}]"))
    else:
        out[prefix] = value
    return out


def scenario_id(item) -> str:
    """file::test[params] without the broker: the same for both brokers' items."""
    params = getattr(getattr(item, "callspec", None), "params", {})
    rest = [getattr(v, "name", v) for k, v in params.items() if k != "broker"]
    name = f"{item.path.name}::{item.originalname}"
    return name + (f"[{'-'.join(str(v) for v in rest)}]" if rest else "")


def compare(scenario: str, reference: dict, observed: dict, allow: list[Allowed]):
    """([(key, kafka value, odradek value)] not allowed, [(key, reason)] allowed)."""
    bad, allowed = [], []
    for key in sorted(set(reference) | set(observed)):
        want, got = reference.get(key, ABSENT), observed.get(key, ABSENT)
        if want == got:
            continue
        hit = next((a for a in allow if (a.scenario == scenario or fnmatch.fnmatchcase(scenario, a.scenario))
                    and (a.key == key or fnmatch.fnmatchcase(key, a.key))), None)
        if hit:
            allowed.append((key, hit.reason))
        else:
            bad.append((key, want, got))
    return bad, allowed


class Observer:
    """`check(observation)` at the end of a scenario: on Kafka it records the
    reference; on Odradek it compares (raising Divergence)."""

    def __init__(self, item, broker_kind: str):
        self.item = item
        self.broker = broker_kind
        self.scenario = scenario_id(item)

    def check(self, observation: dict) -> dict:
        obs = jsonable(observation)
        out = OBSERVATIONS / self.broker / (self.scenario.replace("/", "_").replace("::", "__") + ".json")
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(obs, indent=1, ensure_ascii=False, sort_keys=True) + "\n")
        flat = flatten(obs)
        if self.broker == REFERENCE:
            _reference[self.scenario] = flat
            return obs
        reference = _reference.get(self.scenario)
        if reference is None:  # Kafka's run was deselected or failed: nothing to hold it against
            self.item.user_properties.append(("differential", "no reference"))
            print(f"differential: no Kafka observation for {self.scenario}; not compared")
            return obs
        bad, allowed = compare(self.scenario, reference, flat, load_allow_list())
        for key, reason in allowed:
            print(f"differential: allowed difference {key}: {reason}")
        self.item.user_properties.append(("differential", "compared"))
        if bad:
            lines = "\n".join(f"  {key}:\n    kafka:   {want!r}\n    odradek: {got!r}" for key, want, got in bad[:25])
            if len(bad) > 25:
                lines += f"\n  ... and {len(bad) - 25} more (.build/observations/ has both observations)"
            raise Divergence(f"{self.scenario}: Odradek differs from Apache Kafka in {len(bad)} "
                             f"observation(s) (allow-list: {ALLOW_LIST.name}):\n{lines}")
        return obs
