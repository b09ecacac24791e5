"""Typed experiment inputs, and reading them from the documented JSON format.

The engine itself sees arrays; this module is where names live (experiment keys, variant keys,
metric roles and directions) and where external input is validated once, with `InputError`s that
say which field is wrong. The JSON format is documented in the README (and in `parse_input`). Of the
sufficient statistics only `n, sum_y, sum_y2` are required; every other sum (the CUPED covariate x,
the ratio denominator d, the ratio-CUPED pre-period denominator e and their cross sums) defaults to 0.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from splitline.analytics.stats.decisions import Role
from splitline.analytics.stats.errors import InputError
from splitline.analytics.stats.multiple import Correction
from splitline.analytics.stats.statistics import REQUIRED_FIELDS, SUM_FIELDS, MetricKind, SufficientStats

DEFAULT_WEIGHT = 1.0


@dataclass(frozen=True)
class MetricSpec:
    name: str
    kind: MetricKind = MetricKind.MEAN
    role: Role = Role.SECONDARY
    direction: int = 1  # +1 higher is better, −1 lower is better
    guardrail_threshold: float = 0.0  # tolerated relative degradation (0.05 = 5%)
    cuped: bool = True


@dataclass(frozen=True)
class ExperimentInput:
    """One experiment at one point in time: `stats` is shaped (metrics, variants)."""

    key: str
    variants: tuple[str, ...]
    weights: tuple[float, ...]
    metrics: tuple[MetricSpec, ...]
    stats: SufficientStats
    planned_sample_size: float = 0.0  # units per arm; 0 = no plan
    units: tuple[float, ...] | None = None  # units per variant for SRM (default: max n over metrics)
    analysis_period: int = 0
    as_of: str = ""

    def srm_counts(self) -> tuple[float, ...]:
        if self.units is not None:
            return self.units
        return tuple(float(v) for v in np.max(self.stats.n, axis=0))


@dataclass(frozen=True)
class AnalysisConfig:
    alpha: float = 0.05
    correction: Correction = Correction.BH
    srm_alpha: float = 0.001
    extra: Mapping[str, Any] = field(default_factory=dict)


def _num(obj: Mapping[str, Any], key: str, where: str, default: float | None = None) -> float:
    value = obj.get(key, default)
    if value is None:
        raise InputError(f"{where}: missing {key!r}")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InputError(f"{where}: {key!r} must be a number, got {value!r}")
    if not math.isfinite(float(value)):
        raise InputError(f"{where}: {key!r} must be finite")
    return float(value)


def parse_role(name: str) -> Role:
    try:
        return Role[name.strip().upper()]
    except KeyError:
        raise InputError(f"unknown role {name!r} (primary|secondary|guardrail)") from None


def parse_direction(value: Any) -> int:
    """`higher_is_better` / `lower_is_better` (proto names accepted), or +1 / −1."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return -1 if value < 0 else 1
    text = str(value).strip().lower().removeprefix("metric_direction_")
    if text in ("higher_is_better", "higher", "up", "unspecified", ""):
        return 1
    if text in ("lower_is_better", "lower", "down"):
        return -1
    raise InputError(f"unknown direction {value!r} (higher_is_better|lower_is_better)")


def parse_metric_spec(m: Mapping[str, Any], where: str) -> MetricSpec:
    name = m.get("name")
    if not isinstance(name, str) or not name:
        raise InputError(f"{where}: a metric needs a non-empty 'name'")
    try:
        kind = MetricKind.parse(str(m.get("kind", "mean")))
    except ValueError as exc:
        raise InputError(f"{where}: {exc}") from None
    return MetricSpec(name=name, kind=kind, role=parse_role(str(m.get("role", "secondary"))),
                      direction=parse_direction(m.get("direction", "higher_is_better")),
                      guardrail_threshold=_num(m, "guardrail_threshold", where, 0.0),
                      cuped=bool(m.get("cuped", True)))


def parse_experiment(e: Mapping[str, Any], index: int) -> ExperimentInput:
    key = e.get("key")
    if not isinstance(key, str) or not key:
        raise InputError(f"experiments[{index}]: missing 'key'")
    where = f"experiment {key!r}"
    raw_variants = e.get("variants")
    if not isinstance(raw_variants, list) or len(raw_variants) < 2:
        raise InputError(f"{where}: 'variants' must list at least two variants, control first")
    variants: list[str] = []
    weights: list[float] = []
    units: list[float] = []
    for raw in raw_variants:
        v = {"key": raw} if isinstance(raw, str) else raw
        if not isinstance(v, dict) or not isinstance(v.get("key"), str):
            raise InputError(f"{where}: each variant needs a 'key'")
        variants.append(v["key"])
        weights.append(_num(v, "weight", f"{where} variant {v['key']!r}", DEFAULT_WEIGHT))
        if "units" in v:
            units.append(_num(v, "units", f"{where} variant {v['key']!r}"))
    if len(set(variants)) != len(variants):
        raise InputError(f"{where}: duplicate variant keys")
    if units and len(units) != len(variants):
        raise InputError(f"{where}: give 'units' for every variant or for none")
    raw_metrics = e.get("metrics")
    if not isinstance(raw_metrics, list) or not raw_metrics:
        raise InputError(f"{where}: 'metrics' must be a non-empty list")
    specs: list[MetricSpec] = []
    cols: dict[str, list[list[float]]] = {f: [] for f in SUM_FIELDS}
    for m in raw_metrics:
        if not isinstance(m, dict):
            raise InputError(f"{where}: each metric must be an object")
        spec = parse_metric_spec(m, where)
        specs.append(spec)
        stats = m.get("stats")
        if not isinstance(stats, dict):
            raise InputError(f"{where} metric {spec.name!r}: 'stats' must map variant key -> sums")
        missing = [v for v in variants if v not in stats]
        if missing:
            raise InputError(f"{where} metric {spec.name!r}: no stats for variants {missing}")
        for f in SUM_FIELDS:
            row = []
            for v in variants:
                mw = f"{where} metric {spec.name!r} variant {v!r}"
                if not isinstance(stats[v], dict):
                    raise InputError(f"{mw}: stats must be an object")
                row.append(_num(stats[v], f, mw, None if f in REQUIRED_FIELDS else 0.0))  # others: 0
            cols[f].append(row)
    if len({s.name for s in specs}) != len(specs):
        raise InputError(f"{where}: duplicate metric names")
    return ExperimentInput(
        key=key, variants=tuple(variants), weights=tuple(weights), metrics=tuple(specs),
        stats=SufficientStats.from_arrays(**{f: np.asarray(c) for f, c in cols.items()}),
        planned_sample_size=_num(e, "planned_sample_size", where, 0.0),
        units=tuple(units) if units else None,
        analysis_period=int(_num(e, "analysis_period", where, 0.0)),
        as_of=str(e.get("as_of", "")),
    )


def parse_input(doc: Any) -> tuple[list[ExperimentInput], AnalysisConfig]:
    """Validate a decoded `splitline analyze` JSON document (schema in the README)."""
    if not isinstance(doc, dict):
        raise InputError("the input must be a JSON object with an 'experiments' list")
    exps = doc.get("experiments")
    if not isinstance(exps, list) or not exps:
        raise InputError("'experiments' must be a non-empty list")
    alpha = _num(doc, "alpha", "input", 0.05)
    if not 0 < alpha < 1:
        raise InputError("'alpha' must be in (0, 1)")
    try:
        correction = Correction(str(doc.get("correction", "bh")).lower())
    except ValueError:
        raise InputError("'correction' must be one of bh, holm, none") from None
    srm_alpha = _num(doc, "srm_alpha", "input", 0.001)
    parsed = [parse_experiment(e if isinstance(e, dict) else {}, i) for i, e in enumerate(exps)]
    return parsed, AnalysisConfig(alpha=alpha, correction=correction, srm_alpha=srm_alpha)


def metric_specs_from(docs: Sequence[Mapping[str, Any]]) -> dict[str, MetricSpec]:
    return {s.name: s for s in (parse_metric_spec(d, "meta") for d in docs)}
