"""Snapshot validation: every problem, each with the field it belongs to.

A snapshot that fails validation is never served: the control plane refuses to
commit it and a sidecar keeps its last good one. Field paths name objects by
key, e.g. ``experiments[checkout_v2].variants[1].weight``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import pairwise
from typing import Final

from splitline.core.hashing import BUCKET_COUNT
from splitline.core.operators import Operator
from splitline.core.rules import RuleError, compile_rule
from splitline.v1 import config_pb2

KEY_PATTERN: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}\Z")
_STATUSES: Final = frozenset(config_pb2.ExperimentStatus.values()) - {config_pb2.EXPERIMENT_STATUS_UNSPECIFIED}


@dataclass(frozen=True, slots=True)
class FieldError:
    """One validation problem: the field path and what is wrong with it."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class SnapshotError(ValueError):
    """A snapshot that cannot be served; `errors` lists every problem found."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(str(e) for e in errors))
        self.errors = errors


def _check_ranges(
    ranges: Iterable[config_pb2.BucketRange], field: str, errors: list[FieldError]
) -> list[tuple[int, int]]:
    """Validate half-open ranges; return the valid ones sorted."""
    good: list[tuple[int, int]] = []
    for i, r in enumerate(ranges):
        if not (0 <= r.start < r.end <= BUCKET_COUNT):
            errors.append(FieldError(
                f"{field}[{i}]", f"[{r.start}, {r.end}) is not within [0, {BUCKET_COUNT}) with start < end"))
            continue
        good.append((r.start, r.end))
    good.sort()
    for (s1, e1), (s2, e2) in pairwise(good):
        if s2 < e1:
            errors.append(FieldError(field, f"ranges [{s1}, {e1}) and [{s2}, {e2}) overlap"))
    return good


def _check_key(value: str, field: str, errors: list[FieldError]) -> None:
    if not KEY_PATTERN.match(value):
        errors.append(FieldError(field, f"{value!r} must match {KEY_PATTERN.pattern[:-2]}"))


def validate_rules(rules: Iterable[config_pb2.Rule], field: str, errors: list[FieldError]) -> None:
    """Append an error for every rule that does not compile."""
    for i, rule in enumerate(rules):
        where = f"{field}[{i}]"
        if rule.operator not in Operator._value2member_map_:
            errors.append(FieldError(f"{where}.operator", f"unknown operator {rule.operator}"))
            continue
        try:
            compile_rule(rule.attribute, Operator(rule.operator), list(rule.values), where)
        except RuleError as exc:
            errors.append(FieldError(exc.field, exc.message))


def validate_experiment(exp: config_pb2.Experiment, field: str, errors: list[FieldError]) -> None:
    """Checks that need only the experiment itself (not its layer or siblings)."""
    _check_key(exp.key, f"{field}.key", errors)
    if not exp.unit_type:
        errors.append(FieldError(f"{field}.unit_type", "must not be empty"))
    if exp.status not in _STATUSES:
        errors.append(FieldError(f"{field}.status", f"unknown or unspecified status {exp.status}"))
    if len(exp.variants) < 2:
        errors.append(FieldError(f"{field}.variants", f"needs at least two variants, has {len(exp.variants)}"))
    keys: set[str] = set()
    total = 0
    owned: list[tuple[int, int, str]] = []
    for i, variant in enumerate(exp.variants):
        vfield = f"{field}.variants[{i}]"
        if not variant.key:
            errors.append(FieldError(f"{vfield}.key", "must not be empty"))
        elif variant.key in keys:
            errors.append(FieldError(f"{vfield}.key", f"duplicate variant key {variant.key!r}"))
        keys.add(variant.key)
        total += variant.weight
        ranges = _check_ranges(variant.ranges, f"{vfield}.ranges", errors)
        size = sum(e - s for s, e in ranges)
        if size != variant.weight:
            errors.append(FieldError(f"{vfield}.ranges", f"cover {size} buckets but weight is {variant.weight}"))
        owned.extend((s, e, variant.key) for s, e in ranges)
    if exp.variants and total != BUCKET_COUNT:
        errors.append(FieldError(f"{field}.variants", f"weights sum to {total}, want {BUCKET_COUNT}"))
    owned.sort()
    for (s1, e1, k1), (s2, e2, k2) in pairwise(owned):
        if s2 < e1 and k1 != k2:
            errors.append(FieldError(
                f"{field}.variants", f"variants {k1!r} [{s1}, {e1}) and {k2!r} [{s2}, {e2}) overlap"))
    _check_ranges(exp.ranges, f"{field}.ranges", errors)
    validate_rules(exp.rules, f"{field}.rules", errors)
    for unit_id, variant_key in sorted(exp.overrides.items()):
        if variant_key not in keys:
            errors.append(FieldError(f"{field}.overrides[{unit_id}]", f"unknown variant {variant_key!r}"))
    if exp.status == config_pb2.EXPERIMENT_STATUS_SHIPPED and not exp.shipped_variant:
        errors.append(FieldError(f"{field}.shipped_variant", "a SHIPPED experiment needs a shipped variant"))
    if exp.shipped_variant and exp.shipped_variant not in keys:
        errors.append(FieldError(f"{field}.shipped_variant", f"unknown variant {exp.shipped_variant!r}"))


def validate_snapshot(snapshot: config_pb2.ConfigSnapshot) -> list[FieldError]:
    """Every problem that would make `snapshot` unsafe to serve; empty when valid."""
    errors: list[FieldError] = []
    layer_ids: set[str] = set()
    for i, layer in enumerate(snapshot.layers):
        field = f"layers[{layer.id or i}]"
        _check_key(layer.id, f"{field}.id", errors)
        if layer.id in layer_ids:
            errors.append(FieldError(f"{field}.id", f"duplicate layer id {layer.id!r}"))
        layer_ids.add(layer.id)

    seen: set[str] = set()
    by_layer: dict[str, list[tuple[int, int, str]]] = {}
    for i, exp in enumerate(snapshot.experiments):
        field = f"experiments[{exp.key or i}]"
        if exp.key in seen:
            errors.append(FieldError(f"{field}.key", f"duplicate experiment key {exp.key!r}"))
        seen.add(exp.key)
        validate_experiment(exp, field, errors)
        if exp.layer_id not in layer_ids:
            errors.append(FieldError(f"{field}.layer_id", f"unknown layer {exp.layer_id!r}"))
        by_layer.setdefault(exp.layer_id, []).extend((r.start, r.end, exp.key) for r in exp.ranges)

    for layer_id, owned in sorted(by_layer.items()):
        owned.sort()
        for (s1, e1, k1), (s2, e2, k2) in pairwise(owned):
            if s2 < e1 and k1 != k2:
                errors.append(FieldError(
                    f"layers[{layer_id}]",
                    f"experiments {k1!r} [{s1}, {e1}) and {k2!r} [{s2}, {e2}) overlap",
                ))

    holdout_ids: set[str] = set()
    for i, holdout in enumerate(snapshot.holdouts):
        field = f"holdouts[{holdout.id or i}]"
        _check_key(holdout.id, f"{field}.id", errors)
        if holdout.id in holdout_ids:
            errors.append(FieldError(f"{field}.id", f"duplicate holdout id {holdout.id!r}"))
        holdout_ids.add(holdout.id)
        if holdout.percent_bp > BUCKET_COUNT:
            errors.append(FieldError(f"{field}.percent_bp", f"{holdout.percent_bp} exceeds {BUCKET_COUNT}"))
        for j, layer_id in enumerate(holdout.layer_ids):
            if layer_id not in layer_ids:
                errors.append(FieldError(f"{field}.layer_ids[{j}]", f"unknown layer {layer_id!r}"))
    return errors
