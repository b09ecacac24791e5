"""Property tests: ramping never moves an assigned unit; evaluation never raises."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from splitline.core import Reason, compile_snapshot
from splitline.snapshot_file import parse_snapshot
from splitline.v1 import config_pb2


def _snapshot(ranges: list[tuple[int, int]], rules: list[dict[str, Any]] | None = None) -> config_pb2.ConfigSnapshot:
    import json

    doc = {
        "revision": "1",
        "layers": [{"id": "l"}],
        "holdouts": [{"id": "h", "percentBp": 300}],
        "experiments": [{
            "key": "e", "layerId": "l", "unitType": "user_id", "status": "RUNNING",
            "ranges": [{"start": s, "end": e} for s, e in ranges],
            "variants": [{"key": "a", "weight": 3000}, {"key": "b", "weight": 7000}],
            "rules": rules or [],
        }],
    }
    return parse_snapshot(json.dumps(doc))


@st.composite
def ramps(draw: st.DrawFn) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """A set of disjoint ranges and a superset of it (a ramp adds ranges)."""
    cuts = sorted(set(draw(st.lists(st.integers(0, 10000), min_size=2, max_size=12))))
    pieces = list(pairwise(cuts))
    chosen = [p for p in pieces if draw(st.booleans())] or pieces[:1]
    extra = [p for p in pieces if p not in chosen and draw(st.booleans())]
    return chosen, sorted(chosen + extra)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ramps(), st.lists(st.text(min_size=1, max_size=12), min_size=1, max_size=60))
def test_ramping_never_moves_an_assigned_unit(
    ranges: tuple[list[tuple[int, int]], list[tuple[int, int]]], unit_ids: list[str]
) -> None:
    before = compile_snapshot(_snapshot(ranges[0]))
    after = compile_snapshot(_snapshot(ranges[1]))
    for uid in unit_ids:
        old = before.assign("e", {"user_id": uid}, {})
        new = after.assign("e", {"user_id": uid}, {})
        if old.reason is Reason.ASSIGNED:
            assert new == old


_RULES = [
    {"attribute": "a", "operator": op, "values": vals}
    for op, vals in [("IN", ["x"]), ("NOT_IN", ["x"]), ("EQ", ["1"]), ("NEQ", ["1"]), ("GT", ["1"]),
                     ("GTE", ["1"]), ("LT", ["1"]), ("LTE", ["1"]), ("SEMVER_GT", ["1.2"]),
                     ("SEMVER_GTE", ["1.2"]), ("SEMVER_LT", ["1.2"]), ("SEMVER_LTE", ["1.2"]), ("EXISTS", []),
                     ("NOT_EXISTS", []), ("REGEX", ["^a.b$"])]
]
_SNAP = compile_snapshot(_snapshot([(0, 10000)], _RULES[:8]))
_SNAP2 = compile_snapshot(_snapshot([(0, 10000)], _RULES[8:]))

_anything = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text() | st.binary(),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=3), children, max_size=3),
    max_leaves=6,
)


@settings(max_examples=300, deadline=None)
@given(
    units=st.one_of(st.dictionaries(st.sampled_from(["user_id", "device_id", "x"]), _anything, max_size=3),
                    _anything),
    attributes=st.one_of(st.dictionaries(st.sampled_from(["a", "b"]) | st.text(max_size=3), _anything, max_size=4),
                         _anything),
    key=st.sampled_from(["e", "missing", ""]),
)
def test_evaluation_never_raises(units: Any, attributes: Any, key: str) -> None:
    for snap in (_SNAP, _SNAP2):
        result = snap.assign(key, units, attributes)
        assert isinstance(result.reason, Reason)
        for item in snap.assign_all(units, attributes):
            assert item.variant is not None


@settings(max_examples=300, deadline=None)
@given(value=st.text(), uid=st.text())
def test_string_attributes_of_any_content(value: str, uid: str) -> None:
    for snap in (_SNAP, _SNAP2):
        result = snap.assign("e", {"user_id": uid}, {"a": value})
        assert isinstance(result.reason, Reason)
