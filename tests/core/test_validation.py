"""Field-level validation messages and the compile guard."""

from __future__ import annotations

import re

import pytest
from splitline.core import SnapshotError, compile_snapshot, validate_snapshot
from splitline.snapshot_file import SnapshotFileError, parse_snapshot

BASE = """
revision: 3
layers: [{id: l}, {id: m}]
experiments:
  - key: e
    layerId: l
    unitType: user_id
    status: RUNNING
    ranges: [{start: 0, end: 6000}]
    variants: [{key: a, weight: 5000}, {key: b, weight: 5000}]
"""


def test_valid_snapshot_compiles() -> None:
    snap = compile_snapshot(parse_snapshot(BASE))
    assert snap.revision == 3
    assert snap.assign("e", {"user_id": "1"}, {}).reason.value in ("ASSIGNED", "NOT_IN_TRAFFIC")


def test_every_problem_is_reported_with_its_field() -> None:
    text = BASE + """
  - key: f
    layerId: l
    unitType: user_id
    status: RUNNING
    ranges: [{start: 5000, end: 7000}]
    variants: [{key: a, weight: 9000}, {key: a, weight: 500}]
    rules: [{attribute: v, operator: REGEX, values: ["(?=x)"]}]
"""
    errors = validate_snapshot(parse_snapshot(text))
    fields = {e.field for e in errors}
    assert "layers[l]" in fields  # e and f overlap in layer l
    assert "experiments[f].variants" in fields  # weights sum to 9500
    assert "experiments[f].variants[1].key" in fields  # duplicate key
    assert "experiments[f].rules[0].values[0]" in fields  # lookahead
    message = {e.field: e.message for e in errors}["experiments[f].variants"]
    assert "9500" in message and "10000" in message
    with pytest.raises(SnapshotError) as info:
        compile_snapshot(parse_snapshot(text))
    assert len(info.value.errors) == len(errors)


def test_short_and_long_enum_names_are_accepted() -> None:
    long_names = BASE.replace("status: RUNNING", "status: EXPERIMENT_STATUS_RUNNING")
    assert validate_snapshot(parse_snapshot(long_names)) == []


def test_unparseable_file_names_the_problem() -> None:
    with pytest.raises(SnapshotFileError, match="experiments"):
        parse_snapshot("revision: 1\nexperiments: [{key: e, nope: 1}]\n", "bad.yaml")
    with pytest.raises(SnapshotFileError, match=re.escape("bad.yaml")):
        parse_snapshot("{not json", "bad.yaml")
