"""The small parameter tables the join SQL reads, built from plain values.

Analysis periods, the day grid, metric names and kinds and event names live
in tables, not in the SQL text; the SQL only carries the per-metric column
shapes (sql.py), made of numbers. Pure: no I/O, no clock.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

import pyarrow as pa
from splitline.analytics.metrics.definitions import MetricDefinition
from splitline.analytics.pipeline.schema import TS_TYPE

US_PER_DAY: Final = 86_400_000_000
ONE_US: Final = dt.timedelta(microseconds=1)
EPOCH: Final = dt.datetime(1970, 1, 1)

# `metric_no` numbers the metrics in the order given (from 1) and `event_no` the event names they
# read, so the heavy joins and groupings carry a small integer instead of a string; the generated
# SQL (sql.py) uses the same numbers.
METRICS_SCHEMA: Final = pa.schema([("metric", pa.string()), ("metric_kind", pa.string()), ("metric_no", pa.int32())])
EVENT_NAMES_SCHEMA: Final = pa.schema([("event_name", pa.string()), ("event_no", pa.int32())])
PERIODS_SCHEMA: Final = pa.schema([
    ("experiment_key", pa.string()), ("analysis_period", pa.int32()),
    ("period_start", TS_TYPE), ("period_end", TS_TYPE), ("period_end_us", pa.int64()), ("lookback_us", pa.int64()),
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
    return pa.Table.from_pylist([{"metric": m.name, "metric_kind": m.kind.value, "metric_no": number}
                                 for number, m in enumerate(metrics, start=1)], schema=METRICS_SCHEMA)


def event_numbers(metrics: Sequence[MetricDefinition]) -> dict[str, int]:
    """Each event name the metrics read (numerator or denominator), numbered from 1 in first-use order."""
    numbers: dict[str, int] = {}
    for m in metrics:
        for name in (*m.events, *m.denominator_events):
            numbers.setdefault(name, len(numbers) + 1)
    return numbers


def event_names_table(metrics: Sequence[MetricDefinition]) -> pa.Table:
    """The event names the metrics read, with their numbers (`event_numbers`)."""
    return pa.Table.from_pylist([{"event_name": name, "event_no": number}
                                 for name, number in event_numbers(metrics).items()], schema=EVENT_NAMES_SCHEMA)


def _epoch_us(ts: dt.datetime) -> int:
    return (ts - EPOCH) // ONE_US


def default_periods(experiments: Iterable[str], end: dt.datetime) -> list[Period]:
    """One period (0) per experiment, from the beginning of the data to `end`."""
    return [Period(key, 0, EPOCH, end) for key in sorted(set(experiments))]


def periods_table(periods: Sequence[Period], metrics: Sequence[MetricDefinition]) -> pa.Table:
    """The periods, each with the longest CUPED window of `metrics` (how far back outcomes are read)."""
    lookback_us = max((m.cuped_days for m in metrics), default=0) * US_PER_DAY
    return pa.Table.from_pylist(
        [{"experiment_key": p.experiment_key, "analysis_period": p.analysis_period,
          "period_start": p.start, "period_end": p.end, "period_end_us": _epoch_us(p.end),
          "lookback_us": lookback_us} for p in periods],
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
