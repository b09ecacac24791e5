"""The small parameter tables the join SQL reads, built from plain values.

Putting metric definitions, analysis periods and the day grid in tables (not
in generated SQL text) keeps the join one fixed text that SQLGlot transpiles
once per engine. Pure: no I/O, no clock.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

import pyarrow as pa
from splitline.analytics.metrics.definitions import MetricDefinition, MetricKind
from splitline.analytics.pipeline.schema import TS_TYPE

US_PER_DAY: Final = 86_400_000_000
ONE_US: Final = dt.timedelta(microseconds=1)
EPOCH: Final = dt.datetime(1970, 1, 1)

METRICS_SCHEMA: Final = pa.schema([("metric", pa.string()), ("metric_kind", pa.string())])
METRIC_EVENTS_SCHEMA: Final = pa.schema([
    ("metric", pa.string()), ("event_name", pa.string()), ("side", pa.string()), ("counts", pa.bool_()),
    ("cuped_days", pa.int32()),
])
PERIODS_SCHEMA: Final = pa.schema([
    ("experiment_key", pa.string()), ("analysis_period", pa.int32()),
    ("period_start", TS_TYPE), ("period_end", TS_TYPE), ("lookback_us", pa.int64()),
])
DAYS_SCHEMA: Final = pa.schema([
    ("experiment_key", pa.string()), ("analysis_period", pa.int32()),
    ("as_of", pa.date32()), ("as_of_end", TS_TYPE),
])


@dataclass(frozen=True)
class Period:
    """[start, end) of one analysis period; a re-allocation starts a new one (DESIGN.md section 2)."""

    experiment_key: str
    analysis_period: int
    start: dt.datetime
    end: dt.datetime


@dataclass(frozen=True)
class Extent:
    """When an experiment's (unforced) exposures start, from the data."""

    experiment_key: str
    first_ts: dt.datetime


def metrics_table(metrics: Sequence[MetricDefinition]) -> pa.Table:
    return pa.Table.from_pylist([{"metric": m.name, "metric_kind": m.kind.value} for m in metrics],
                                schema=METRICS_SCHEMA)


def metric_events_table(metrics: Sequence[MetricDefinition]) -> pa.Table:
    """One row per (metric, event name, side); a name listed twice on one side counts once."""
    rows: list[dict[str, object]] = []
    for m in metrics:
        sides = [("num", m.events, m.counts_numerator)]
        if m.kind is MetricKind.RATIO:
            sides.append(("den", m.denominator_events, m.counts_denominator))
        for side, names, counts in sides:
            for name in dict.fromkeys(names):
                rows.append({"metric": m.name, "event_name": name, "side": side, "counts": counts,
                             "cuped_days": m.cuped_days})
    return pa.Table.from_pylist(rows, schema=METRIC_EVENTS_SCHEMA)


def default_periods(experiments: Iterable[str], end: dt.datetime) -> list[Period]:
    """One period (0) per experiment, from the beginning of the data to `end`."""
    return [Period(key, 0, EPOCH, end) for key in sorted(set(experiments))]


def periods_table(periods: Sequence[Period], metrics: Sequence[MetricDefinition]) -> pa.Table:
    """The periods, each with the longest CUPED window of `metrics` (how far back outcomes are read)."""
    lookback_us = max((m.cuped_days for m in metrics), default=0) * US_PER_DAY
    return pa.Table.from_pylist(
        [{"experiment_key": p.experiment_key, "analysis_period": p.analysis_period,
          "period_start": p.start, "period_end": p.end, "lookback_us": lookback_us} for p in periods],
        schema=PERIODS_SCHEMA,
    )


def day_grid(periods: Sequence[Period], extents: Mapping[str, dt.datetime], last_ts: dt.datetime) -> list[Period]:
    """Each as-of day of each period as (day, end of that day clipped to the period end).

    Days run from the first exposure in the period to the last day that has
    data or the period end, whichever comes first; returned as Periods whose
    `start` is the day at midnight and `end` the exclusive cut-off.
    """
    out: list[Period] = []
    for p in periods:
        first = extents.get(p.experiment_key)
        if first is None:
            continue
        start = max(p.start, first)
        stop = min(p.end - ONE_US, last_ts)
        if stop < start:
            continue
        day = start.date()
        while day <= stop.date():
            midnight = dt.datetime.combine(day, dt.time())
            out.append(Period(p.experiment_key, p.analysis_period, midnight,
                              min(midnight + dt.timedelta(days=1), p.end)))
            day += dt.timedelta(days=1)
    return out


def days_table(days: Sequence[Period]) -> pa.Table:
    return pa.Table.from_pylist(
        [{"experiment_key": d.experiment_key, "analysis_period": d.analysis_period,
          "as_of": d.start.date(), "as_of_end": d.end} for d in days],
        schema=DAYS_SCHEMA,
    )
