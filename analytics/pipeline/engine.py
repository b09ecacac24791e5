"""What the pipeline needs from a SQL engine, and the run that drives one.

An engine (DuckDB in `duckdb_engine.py`, Spark in `spark_engine.py`) binds
the Parquet inputs, registers small Arrow tables, materialises named stages
and returns query results as Arrow. `run_pipeline` is the same for both, so
the only difference between engines is the dialect SQLGlot writes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import pyarrow as pa
from splitline.analytics.metrics.definitions import MetricDefinition, check_unique
from splitline.analytics.pipeline import sql, tables
from splitline.analytics.pipeline.schema import DROPPED_SCHEMA, STATS_SCHEMA

Progress = Callable[[str, int, int], None]
"""progress(stage name, stages done, stages in all)."""


class Engine(Protocol):
    dialect: sql.Dialect

    def register(self, name: str, table: pa.Table) -> None: ...

    def materialize(self, name: str, query: str) -> None: ...

    def query(self, query: str) -> pa.Table: ...


@dataclass(frozen=True)
class PipelineResult:
    stats: pa.Table  # STATS_SCHEMA
    dropped: pa.Table  # DROPPED_SCHEMA


def _naive(ts: object) -> dt.datetime | None:
    if ts is None:
        return None
    assert isinstance(ts, dt.datetime)
    return ts.replace(tzinfo=None) if ts.tzinfo is None else ts.astimezone(dt.UTC).replace(tzinfo=None)


def _sorted(table: pa.Table, schema: pa.Schema, keys: Sequence[str]) -> pa.Table:
    table = table.select(schema.names).cast(schema)
    return table.sort_by([(k, "ascending") for k in keys])


def run_pipeline(
    engine: Engine,
    metrics: Sequence[MetricDefinition],
    *,
    end: dt.datetime | None = None,
    experiments: Sequence[str] | None = None,
    periods: Sequence[tables.Period] | None = None,
    progress: Progress | None = None,
) -> PipelineResult:
    """Sufficient statistics for `experiments` (default: all in the data) on `engine`.

    `end` (naive UTC, exclusive) defaults to just after the last event in the
    data; `periods` default to one period per experiment ending at `end`.
    The engine must already have `exposures` and `outcomes` bound (with the
    `ts_us` and `compacted` columns its `bind_parquet` adds).
    """
    check_unique(list(metrics))
    stages = sql.stages(engine.dialect, metrics)
    steps = len(stages) + 1
    report = progress or (lambda _name, _done, _total: None)
    report("extent", 0, steps)
    extents = {
        str(r["experiment_key"]): (_naive(r["first_ts"]), _naive(r["last_ts"]))
        for r in engine.query(sql.transpile(sql.EXTENT_EXPOSURES, engine.dialect)).to_pylist()
    }
    last_outcome = _naive(engine.query(sql.transpile(sql.EXTENT_OUTCOMES, engine.dialect)).to_pylist()[0]["last_ts"])
    last_seen = [t for _first, t in extents.values() if t is not None]
    if last_outcome is not None:
        last_seen.append(last_outcome)
    last_ts = max(last_seen) if last_seen else tables.EPOCH
    if end is None:
        end = last_ts + tables.ONE_US
    wanted = set(extents) if experiments is None else set(experiments)
    chosen = [p for p in (periods if periods is not None else tables.default_periods(extents, end))
              if p.experiment_key in wanted]
    firsts = {k: f for k, (f, _l) in extents.items() if f is not None}
    engine.register("metrics", tables.metrics_table(metrics))
    engine.register("event_names", tables.event_names_table(metrics))
    engine.register("periods", tables.periods_table(chosen, metrics))
    engine.register("days", tables.days_table(tables.day_grid(chosen, firsts, min(last_ts, end - tables.ONE_US))))
    report("extent", 1, steps)
    results: dict[str, pa.Table] = {}
    for done, stage in enumerate(stages, start=2):
        if stage.name in ("sufficient_stats", "dropped_units"):
            results[stage.name] = engine.query(stage.sql)
        else:
            engine.materialize(stage.name, stage.sql)
        report(stage.name, done, steps)
    return PipelineResult(
        stats=_sorted(results["sufficient_stats"], STATS_SCHEMA, ("experiment_key", "analysis_period", "metric",
                                                                 "as_of", "variant")),
        dropped=_sorted(results["dropped_units"], DROPPED_SCHEMA, ("experiment_key", "analysis_period", "as_of")),
    )
