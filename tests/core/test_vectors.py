"""The Python core against the shared vectors file (read in place, never copied)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from splitline.core import CompiledSnapshot, bucket, compile_snapshot, encode_value, hash32
from splitline.core.validate import validate_snapshot
from splitline.snapshot_file import parse_snapshot

VECTORS_PATH = Path(__file__).resolve().parents[2] / "proto" / "testdata" / "assignment_vectors.json"
VECTORS: dict[str, Any] = json.loads(VECTORS_PATH.read_text(encoding="utf-8"))


@cache
def compiled(name: str) -> CompiledSnapshot:
    return compile_snapshot(parse_snapshot(json.dumps(VECTORS["snapshots"][name])))


def test_file_shape() -> None:
    assert VECTORS["spec_version"] == "1.0.0"
    assert len(VECTORS["cases"]) >= 500
    reasons = {c["expected"]["reason"] for c in VECTORS["cases"]}
    assert reasons == {"ASSIGNED", "NOT_IN_TRAFFIC", "NOT_ELIGIBLE", "HOLDOUT", "OVERRIDE", "NOT_RUNNING",
                       "SHIPPED", "NO_UNIT", "UNKNOWN_EXPERIMENT"}
    names = [c["name"] for c in VECTORS["cases"]]
    assert len(names) == len(set(names)), "case names must be unique"


@pytest.mark.parametrize("case", VECTORS["cases"], ids=lambda c: c["name"])
def test_case(case: dict[str, Any]) -> None:
    inp = case["input"]
    result = compiled(case["snapshot"]).assign(inp["experiment"], inp["units"], inp["attributes"])
    assert (result.variant, result.reason.value) == (case["expected"]["variant"], case["expected"]["reason"])


@pytest.mark.parametrize("case", VECTORS["assign_all_cases"], ids=lambda c: c["name"])
def test_assign_all_case(case: dict[str, Any]) -> None:
    inp = case["input"]
    snap = compiled(case["snapshot"])
    results = snap.assign_all(inp["units"], inp["attributes"])
    got = sorted(({"experiment": r.experiment_key, "variant": r.variant, "reason": r.reason.value}
                  for r in results), key=lambda r: str(r["experiment"]))
    assert got == case["expected"]
    # assign_all agrees with assign on every experiment: those listed have a
    # variant, every other one has none.
    listed = {r["experiment"] for r in got}
    for key in snap.experiments:
        single = snap.assign(key, inp["units"], inp["attributes"])
        assert (single.variant is not None) == (key in listed), key


@pytest.mark.parametrize("case", VECTORS["hash_cases"], ids=lambda c: c["name"])
def test_hash_case(case: dict[str, Any]) -> None:
    assert hash32(case["input"]) == case["hash"]


@pytest.mark.parametrize("case", VECTORS["bucket_cases"], ids=lambda c: c["name"])
def test_bucket_case(case: dict[str, Any]) -> None:
    assert bucket(case["unit_id"], case["salt"]) == case["bucket"]


@pytest.mark.parametrize("case", VECTORS["attribute_cases"], ids=lambda c: c["name"])
def test_attribute_case(case: dict[str, Any]) -> None:
    assert encode_value(case["value"]) == case["encoded"]


@pytest.mark.parametrize("case", VECTORS["invalid_snapshots"], ids=lambda c: c["name"])
def test_invalid_snapshot(case: dict[str, Any]) -> None:
    errors = validate_snapshot(parse_snapshot(json.dumps(case["snapshot"])))
    assert any(e.field.startswith(case["field"]) for e in errors), errors


def test_ramp_pairs_never_move_an_assigned_unit() -> None:
    by_name = {c["name"]: c for c in VECTORS["cases"]}
    moved_in = 0
    for pair in VECTORS["ramp_pairs"]:
        before = by_name[pair["before"]]["expected"]
        after = by_name[pair["after"]]["expected"]
        if before["variant"] is not None:
            assert after == before, pair["name"]
        elif after["variant"] is not None:
            moved_in += 1
    assert moved_in > 0, "the ramp should bring some new units in"
