"""Reading the analytics pipeline's sufficient statistics (Parquet) into engine inputs.

The pipeline writes one row per (experiment_key, analysis_period, metric, variant, as_of) with the
columns of `SufficientStats` plus `metric_kind`; `as_of` rows are cumulative through that day. The
ratio-CUPED sums (`OPTIONAL_COLUMNS`) may be missing — from a file, or from some of the files — and
then read as 0 (no ratio CUPED).
What the Parquet does not hold — variant order and weights, metric roles, directions and
guardrail thresholds, the planned sample size — comes from experiment metadata: the control plane
(`meta_from_proto`) or a JSON file in the `splitline analyze` format without `stats`
(`meta_from_json`). Without metadata, every metric is secondary, higher is better, the arms are
weighted equally and "control" (else the first key alphabetically) is the control.

Only `load_rows` does I/O; the rest is pure.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from splitline.analytics.metrics.proto import experiment_metric_roles
from splitline.analytics.stats.decisions import Role
from splitline.analytics.stats.errors import InputError
from splitline.analytics.stats.model import ExperimentInput, MetricSpec, parse_direction, parse_metric_spec
from splitline.analytics.stats.statistics import REQUIRED_FIELDS, SUM_FIELDS, MetricKind, SufficientStats

COLUMNS: tuple[str, ...] = ("experiment_key", "analysis_period", "metric", "metric_kind", "variant", "as_of",
                            *SUM_FIELDS)
# Sums a Parquet file may lack (files written before they existed): read as 0. The ratio-CUPED sums
# (`sum_e, sum_e2, sum_xe, sum_ye, sum_dx, sum_de`) are newer than the pipeline's first schema; 0 means
# "no pre-period denominator", so a ratio metric is then analysed without CUPED, as before.
OPTIONAL_COLUMNS: frozenset[str] = frozenset(SUM_FIELDS) - frozenset(REQUIRED_FIELDS) - frozenset(
    ("sum_x", "sum_x2", "sum_xy", "sum_d", "sum_d2", "sum_yd"))


@dataclass(frozen=True)
class ExperimentMeta:
    key: str
    variants: tuple[str, ...] = ()  # control first; empty = infer from data
    weights: tuple[float, ...] = ()
    planned_sample_size: float = 0.0
    metrics: Mapping[str, MetricSpec] = field(default_factory=dict)
    analysis_period: int | None = None  # None = the latest in the data
    version: int = 0  # the control plane's optimistic-concurrency version
    status: str = ""


STATS_FOLDER = "sufficient_stats"  # the pipeline's layout: <results>/sufficient_stats/<experiment>.parquet
DEFAULT_RESULTS = os.environ.get("SPLITLINE_RESULTS", ".splitline/results")


def parquet_files(path: str | os.PathLike[str]) -> list[Path]:
    """A file, or every `*.parquet` under a folder — under `sufficient_stats/` when the folder is
    the pipeline's results directory (its `dropped_units/` files have another schema)."""
    p = Path(path)
    if p.is_file():
        return [p]
    if (p / STATS_FOLDER).is_dir():
        p = p / STATS_FOLDER
    return sorted(q for q in p.rglob("*.parquet") if q.is_file())


def newest_mtime(path: str | os.PathLike[str]) -> float | None:
    """When the pipeline last wrote output (the guardrail worker's lag measure)."""
    files = parquet_files(path)
    return max((f.stat().st_mtime for f in files), default=None)


def load_rows(path: str | os.PathLike[str], experiment_keys: Iterable[str] | None = None) -> dict[str, list[Any]]:
    """Columns of every Parquet file under `path`, optionally only some experiments."""
    import pyarrow as pa
    import pyarrow.dataset as ds

    files = parquet_files(path)
    if not files:
        return {c: [] for c in COLUMNS}
    # Files of several pipeline versions may sit side by side: the dataset's schema is the union of
    # theirs (a column absent from one file reads as null there, then as 0 below).
    schema = pa.unify_schemas([ds.dataset(str(f), format="parquet").schema for f in files])
    dataset = ds.dataset([str(f) for f in files], schema=schema, format="parquet")
    missing = [c for c in COLUMNS if c not in schema.names and c not in OPTIONAL_COLUMNS]
    if missing:
        raise InputError(f"{path}: Parquet lacks columns {missing}")
    filt = None
    if experiment_keys is not None:
        filt = ds.field("experiment_key").isin(pa.array(list(experiment_keys), type=pa.string()))
    present = [c for c in COLUMNS if c in schema.names]
    table = dataset.to_table(columns=present, filter=filt)
    out: dict[str, list[Any]] = table.to_pydict()
    for c in OPTIONAL_COLUMNS:
        out[c] = [0.0] * table.num_rows if c not in out else [0.0 if v is None else v for v in out[c]]
    out["as_of"] = [str(v) for v in out["as_of"]]
    return out


def meta_from_json(doc: Mapping[str, Any]) -> ExperimentMeta:
    """One experiment of the `analyze` format; `stats` is ignored."""
    key = doc.get("key")
    if not isinstance(key, str):
        raise InputError("meta: experiment needs a 'key'")
    variants = [v if isinstance(v, str) else v.get("key") for v in doc.get("variants", [])]
    weights = [1.0 if isinstance(v, str) else float(v.get("weight", 1.0)) for v in doc.get("variants", [])]
    specs = {}
    for m in doc.get("metrics", []):
        spec = parse_metric_spec(m, f"meta {key!r}")
        specs[spec.name] = spec
    period = doc.get("analysis_period")
    return ExperimentMeta(key=key, variants=tuple(str(v) for v in variants), weights=tuple(weights),
                          planned_sample_size=float(doc.get("planned_sample_size", 0.0)), metrics=specs,
                          analysis_period=None if period is None else int(period))


def meta_from_proto(exp: Any, metric_defs: Mapping[str, Any]) -> ExperimentMeta:
    """From `splitline.v1.Experiment` and `MetricDefinition`s by name (duck-typed protos)."""
    specs: dict[str, MetricSpec] = {}
    for name, metric_role in experiment_metric_roles(exp).items():
        role = Role[metric_role.name]
        d = metric_defs.get(name)
        kind, direction, threshold = MetricKind.MEAN, 1, 0.0
        if d is not None:
            kind_name = type(d).DESCRIPTOR.fields_by_name["kind"].enum_type.values_by_number[d.kind].name
            kind = MetricKind.MEAN if kind_name.endswith("UNSPECIFIED") else MetricKind.parse(kind_name)
            dir_name = type(d).DESCRIPTOR.fields_by_name["direction"].enum_type.values_by_number[d.direction].name
            direction = parse_direction(dir_name)
            threshold = float(d.guardrail_threshold)
        specs[name] = MetricSpec(name=name, kind=kind, role=role, direction=direction,
                                 guardrail_threshold=threshold)
    status = type(exp).DESCRIPTOR.fields_by_name["status"].enum_type.values_by_number[exp.status].name
    return ExperimentMeta(key=exp.key, variants=tuple(v.key for v in exp.variants),
                          weights=tuple(float(v.weight) for v in exp.variants),
                          planned_sample_size=float(exp.planned_sample_size), metrics=specs,
                          analysis_period=int(exp.analysis_period), version=int(exp.version), status=status)


def _order_variants(found: Iterable[str]) -> tuple[str, ...]:
    keys = sorted(set(found))
    if "control" in keys:
        keys.remove("control")
        keys.insert(0, "control")
    return tuple(keys)


def inputs_from_rows(rows: Mapping[str, Sequence[Any]], metas: Mapping[str, ExperimentMeta] | None = None, *,
                     latest_only: bool = True, only_known_metrics: bool = False) -> list[ExperimentInput]:
    """Group rows into one `ExperimentInput` per (experiment, period, as_of).

    `latest_only` keeps each experiment's latest `as_of` in its chosen period (the default view);
    otherwise every day is returned, oldest first (for charts of the cumulative effect). A metric
    missing for some variant on a day is left out of that day rather than invented.
    """
    metas = metas or {}
    table: dict[tuple[str, int, str, str, str], tuple[str, list[float]]] = {}
    n_rows = len(rows["experiment_key"])
    for i in range(n_rows):
        key = (str(rows["experiment_key"][i]), int(rows["analysis_period"][i]), str(rows["as_of"][i]),
               str(rows["metric"][i]), str(rows["variant"][i]))
        table[key] = (str(rows["metric_kind"][i]), [float(rows[f][i]) for f in SUM_FIELDS])
    per_exp: dict[str, set[int]] = defaultdict(set)
    for (exp, period, *_rest) in table:
        per_exp[exp].add(period)
    groups: dict[tuple[str, int, str], dict[tuple[str, str], tuple[str, list[float]]]] = defaultdict(dict)
    for (exp, period, as_of, metric, variant), val in table.items():
        meta = metas.get(exp)
        want = meta.analysis_period if meta is not None and meta.analysis_period is not None else max(per_exp[exp])
        if period != want:
            continue
        groups[exp, period, as_of][metric, variant] = val
    if latest_only:
        latest: dict[str, str] = {}
        for exp, _period, as_of in groups:
            latest[exp] = max(latest.get(exp, ""), as_of)
        groups = defaultdict(dict, {k: v for k, v in groups.items() if k[2] == latest[k[0]]})
    out: list[ExperimentInput] = []
    for (exp, period, as_of) in sorted(groups):
        cells = groups[exp, period, as_of]
        meta = metas.get(exp, ExperimentMeta(key=exp))
        variants = meta.variants or _order_variants(v for _, v in cells)
        weights = meta.weights or tuple(1.0 for _ in variants)
        metric_names = sorted({m for m, _ in cells})
        if only_known_metrics:
            metric_names = [m for m in metric_names if m in meta.metrics]
        specs: list[MetricSpec] = []
        data: list[list[list[float]]] = []
        for name in metric_names:
            if not all((name, v) in cells for v in variants):
                continue
            kind = MetricKind.parse(cells[name, variants[0]][0])
            spec = meta.metrics.get(name, MetricSpec(name=name))
            specs.append(replace(spec, kind=kind))
            data.append([cells[name, v][1] for v in variants])
        if not specs:
            continue
        arr = np.asarray(data, dtype=np.float64)  # (metrics, variants, fields)
        stats = SufficientStats.from_arrays(**{f: arr[..., j] for j, f in enumerate(SUM_FIELDS)})
        out.append(ExperimentInput(key=exp, variants=variants, weights=weights, metrics=tuple(specs),
                                   stats=stats, planned_sample_size=meta.planned_sample_size,
                                   analysis_period=period, as_of=as_of))
    return out
