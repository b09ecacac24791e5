"""The exposure–outcome join, written once, transpiled by SQLGlot per engine.

Every rule of DESIGN.md section 6 lives in the SQL below, in this order:

1. Events are deduplicated on `event_id` (delivery is at-least-once). Rows of
   a compacted partition (`compacted`, see layout.py) are unique already;
   the others are grouped here. Copies are identical; MIN per column keeps
   the choice deterministic, so both engines agree even on malformed data.
   Grouping on the one key is cheaper than DISTINCT over every column; for
   outcomes, only the ids that occur more than once are grouped (see
   DUPLICATE_OUTCOMES).
2. Forced (override) exposures are excluded.
3. Per (experiment, period, unit) the first exposure — by time, then variant,
   so ties are deterministic — gives the variant and start time.
4. A unit whose exposures in one period show two variants is dropped from
   every as-of day at or after the second variant's first exposure, and
   counted in `dropped_units`.
5. Only outcomes at or after the unit's first exposure and before the period
   end count; units without any count with zero (left join from exposures:
   they add to n and nothing to the sums).
6. Outcomes in the `cuped_days` (whole 24-hour spans) before the first
   exposure give the CUPED covariate x (same per-unit transform as y; for
   ratio metrics x is the pre-period numerator and e the denominator).
7. Per as-of day d the statistics are what the pipeline would report with the
   analysis ending at the end of d: units first exposed by then and not yet
   seen in a second variant, outcomes through d.

Inputs are the tables `exposures`, `outcomes` (with `ts_us`, the timestamp in
epoch microseconds, because interval arithmetic on a column does not
transpile, and `compacted`, both added by the engine's input binding), and
the parameter tables of `tables.py`: `metrics`, `event_names`, `periods`
(with `lookback_us`, the longest CUPED window), `days`.

The stages are materialised in order by the engine (a temp table in DuckDB, a
cached view in Spark), so the heavy ones run once: `units` (one row per
experiment, period and unit, numbered by the integer `unit_key`),
`duplicate_outcomes` (the ids seen more than once in uncompacted partitions),
`unit_events` (per unit and day: the one join of outcomes with units,
aggregated as it streams), then `sufficient_stats` and `dropped_units`. The text is fixed except
for the metric-shaped parts, which `unit_events_sql` and
`sufficient_stats_sql` generate from the definitions (one column set per
event name and per metric, so the heavy steps group by one integer unit key
and a day, never by a string or a metric); every name and number in the
generated text comes from validated definitions, and names never appear in it
(they stay in the `event_names` table). SQLGlot then writes each stage in
the engine's dialect. The numbers are only identities: no result depends on
their values.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal

import sqlglot
from splitline.analytics.metrics.definitions import MetricDefinition, MetricKind
from splitline.analytics.pipeline import tables
from splitline.analytics.pipeline.tables import US_PER_DAY

Dialect = Literal["duckdb", "spark"]
SOURCE_DIALECT: Final = "duckdb"

EXTENT_EXPOSURES: Final = """
SELECT experiment_key, MIN(ts) AS first_ts, MAX(ts) AS last_ts
FROM exposures
WHERE NOT forced
GROUP BY experiment_key
"""

EXTENT_OUTCOMES: Final = "SELECT MAX(ts) AS last_ts FROM outcomes"

_UNIT: Final = "period_no, unit_type, unit_id"
_UNIT_MATCH: Final = "{a}.period_no = {b}.period_no AND {a}.unit_type = {b}.unit_type AND {a}.unit_id = {b}.unit_id"
# On Spark, unit_key = period_no * 2^32 + (1-based unit number within the period) (_UNIT_NUMBER): unique
# per (experiment, period, unit), an integer, so the later joins and groupings hash one BIGINT.
_KEY_STRIDE: Final = 4_294_967_296

# Unforced exposure events (deduplicated: rule 1) inside an analysis period, with the period's number.
# Written out wherever it is read instead of being a shared CTE, so that no engine materialises it:
# reading compacted files twice is cheaper than storing 5M rows once.
_PERIOD_EXPOSURES: Final = """(
  SELECT p.period_no, e.unit_type, e.unit_id, e.variant, e.ts, e.ts_us
  FROM (
    SELECT ts, ts_us, experiment_key, variant, unit_type, unit_id
    FROM exposures
    WHERE NOT forced AND compacted
    UNION ALL
    SELECT MIN(ts) AS ts, MIN(ts_us) AS ts_us, MIN(experiment_key) AS experiment_key, MIN(variant) AS variant,
           MIN(unit_type) AS unit_type, MIN(unit_id) AS unit_id
    FROM exposures
    WHERE NOT forced AND NOT compacted
    GROUP BY event_id
  ) AS e
  JOIN period_numbers AS p
    ON e.experiment_key = p.experiment_key AND e.ts >= p.period_start AND e.ts < p.period_end
)"""

# How `units` numbers its rows (unit_key). DuckDB computes the stage once into a table, so any unique
# numbering will do, and the one without a sort is cheapest. Spark may recompute a cached stage (a lost
# executor) after later stages have read it, so its numbering must come out the same every time: per
# period, in unit order.
_UNIT_NUMBER: Final[dict[str, str]] = {
    "duckdb": "ROW_NUMBER() OVER ()",
    "spark": f"""(g.period_no * {_KEY_STRIDE} + ROW_NUMBER() OVER (
         PARTITION BY g.period_no ORDER BY g.unit_type, g.unit_id))""",
}


def units_sql(dialect: Dialect) -> str:
    """One row per (experiment, period, unit): its variant, first exposure, CUPED window and conflict.

    Plain aggregation gives the first exposure's time; a unit with one variant (nearly all) takes it.
    Only units seen in two variants go through the window that finds the first exposure's variant (by
    time, then variant: rule 3) and when another variant first appeared (rule 4), so the sort runs on
    those few rows, not on every exposure. Grouping is on the period's number, not its two key columns;
    the period's own values join back on the result.
    """
    return f"""
WITH period_numbers AS (
  SELECT experiment_key, analysis_period, period_start, period_end, period_end_us, lookback_us,
         CAST(ROW_NUMBER() OVER (ORDER BY experiment_key, analysis_period) AS BIGINT) AS period_no
  FROM periods
),
grouped AS (
  SELECT {_UNIT}, MIN(variant) AS min_variant, MAX(variant) AS max_variant, MIN(ts) AS first_ts,
         MIN(ts_us) AS first_us
  FROM {_PERIOD_EXPOSURES} AS pe
  GROUP BY {_UNIT}
),
mixed_exposures AS (
  SELECT pe.period_no, pe.unit_type, pe.unit_id, pe.variant, pe.ts,
         FIRST_VALUE(pe.variant) OVER (
           PARTITION BY pe.period_no, pe.unit_type, pe.unit_id ORDER BY pe.ts, pe.variant
         ) AS first_variant
  FROM {_PERIOD_EXPOSURES} AS pe
  JOIN grouped AS g ON {_UNIT_MATCH.format(a="g", b="pe")}
  WHERE g.min_variant <> g.max_variant
),
mixed AS (
  SELECT {_UNIT}, first_variant AS variant, MIN(CASE WHEN variant <> first_variant THEN ts END) AS conflict_ts
  FROM mixed_exposures
  GROUP BY {_UNIT}, first_variant
)
SELECT k.experiment_key, k.analysis_period, g.unit_type, g.unit_id, k.period_end_us,
       COALESCE(m.variant, g.min_variant) AS variant, g.first_ts, CAST(g.first_ts AS DATE) AS first_day, g.first_us,
       g.first_us - k.lookback_us AS lookback_start_us, m.conflict_ts,
       CAST({_UNIT_NUMBER[dialect]} AS BIGINT) AS unit_key
FROM grouped AS g
JOIN period_numbers AS k ON k.period_no = g.period_no
LEFT JOIN mixed AS m ON {_UNIT_MATCH.format(a="m", b="g")}
"""


# The outcome dedup, for rows from partitions not yet compacted (`compacted` is false; a compacted
# partition holds one row per event_id already), in two passes. `duplicate_outcomes` (a stage) counts
# the ids and keeps only those seen more than once: a hash table of ids without any other column,
# whose result is small on real data. Rows with other ids then stream from the scan into the join as
# they are, and only the repeated ids (and NULL, which GROUP BY treats as one id) are merged with MIN
# per column: the same rows as one GROUP BY event_id over everything, without materialising every
# outcome row in a hash table first. The repeated ids are reached by an inner join from
# `duplicate_outcomes` (with none, DuckDB ends that branch without scanning the outcomes again) and
# the NULL ids by `event_id IS NULL` (a filter the Parquet statistics answer for most row groups),
# instead of a second full scan with `IN (...) OR IS NULL`.
DUPLICATE_OUTCOMES: Final = """
SELECT event_id
FROM outcomes
WHERE NOT compacted AND name IN (SELECT event_name FROM event_names)
GROUP BY event_id
HAVING COUNT(*) > 1
"""
OUTCOME_EVENTS: Final = """
  SELECT o.ts, o.ts_us, o.unit_type, o.unit_id, o.name, o.value
  FROM outcomes AS o
  WHERE o.compacted
  UNION ALL
  SELECT o.ts, o.ts_us, o.unit_type, o.unit_id, o.name, o.value
  FROM outcomes AS o
  LEFT JOIN duplicate_outcomes AS dup ON dup.event_id = o.event_id
  WHERE NOT o.compacted AND o.name IN (SELECT event_name FROM event_names) AND o.event_id IS NOT NULL
    AND dup.event_id IS NULL
  UNION ALL
  SELECT MIN(o.ts) AS ts, MIN(o.ts_us) AS ts_us, MIN(o.unit_type) AS unit_type,
         MIN(o.unit_id) AS unit_id, MIN(o.name) AS name, MIN(o.value) AS value
  FROM outcomes AS o
  JOIN duplicate_outcomes AS dup ON dup.event_id = o.event_id
  WHERE NOT o.compacted AND o.name IN (SELECT event_name FROM event_names)
  GROUP BY o.event_id
  UNION ALL
  SELECT MIN(ts) AS ts, MIN(ts_us) AS ts_us, MIN(unit_type) AS unit_type, MIN(unit_id) AS unit_id,
         MIN(name) AS name, MIN(value) AS value
  FROM outcomes
  WHERE NOT compacted AND name IN (SELECT event_name FROM event_names) AND event_id IS NULL
  GROUP BY event_id
"""

def cuped_windows(metrics: Sequence[MetricDefinition]) -> list[int]:
    """The distinct CUPED pre-period lengths (days) of `metrics`: one set of pre-period columns each."""
    return sorted({m.cuped_days for m in metrics})


def unit_events_sql(event_count: int, windows: Sequence[int]) -> str:
    """Per unit and day, the sums and counts of each metric event name (`event_no` n, from 1):
    `post_value_<n>`, `post_events_<n>` for outcomes on that day at or after the first exposure, and
    `pre<w>_value_<n>`, `pre<w>_events_<n>` for those in the `w` whole days (24-hour spans) before it,
    one pair per CUPED window `w`. The pre-period sums sit on the row of the first exposure's day,
    which every as-of day of the unit includes, so a unit exposed for one day has one row.

    This is the one join of every outcome with every unit (experiment and period) of its unit id,
    aggregated as it streams. The name filter and number come from a join with the small
    `event_names` table before it (DuckDB turns that into a filter inside the Parquet scan); the
    split by name and span is done by FILTER clauses inside the aggregation, so nothing per name is
    computed on the joined rows. Names and spans are columns rather than grouping keys, so every later
    step reads one row per unit and day. Outcome files clustered by unit (compacted files are) make
    this join and aggregation several times faster: the same unit's rows probe the same hash-table
    entries.
    """
    spans = [("post", "o.ts_us >= u.first_us")] + [
        (f"pre{w}", f"o.ts_us < u.first_us AND o.ts_us >= u.first_us - {w * US_PER_DAY}") for w in windows]
    sums = "".join(
        f",\n       COALESCE(SUM(o.value) FILTER (WHERE o.event_no = {i} AND {condition}), 0.0) AS {span}_value_{i}"
        f",\n       COUNT(*) FILTER (WHERE o.event_no = {i} AND {condition}) AS {span}_events_{i}"
        for span, condition in spans for i in range(1, event_count + 1))
    day = "CASE WHEN o.ts_us >= u.first_us THEN o.day ELSE u.first_day END"
    return f"""
WITH outcome_rows AS ({OUTCOME_EVENTS}),
outcome_events AS (
  SELECT o.ts_us, o.unit_type, o.unit_id, CAST(o.ts AS DATE) AS day, n.event_no, COALESCE(o.value, 0.0) AS value
  FROM outcome_rows AS o
  JOIN event_names AS n ON n.event_name = o.name
)
SELECT u.unit_key, {day} AS day{sums}
FROM units AS u
JOIN outcome_events AS o ON o.unit_type = u.unit_type AND o.unit_id = u.unit_id
WHERE o.ts_us < u.period_end_us AND o.ts_us >= u.lookback_start_us
GROUP BY u.unit_key, {day}
"""


_ZERO: Final = "0.0"
_SUMS: Final = ("sum_y", "sum_y2", "sum_x", "sum_x2", "sum_xy", "sum_d", "sum_d2", "sum_yd",
                "sum_e", "sum_e2", "sum_xe", "sum_ye", "sum_dx", "sum_de")


def _side(numbers: dict[str, int], names: tuple[str, ...], span: str, counts: bool) -> str:
    """A unit_events span's total for some names: their values, or with `counts` their event counts."""
    column = "events" if counts else "value"
    return " + ".join(f"e.{span}_{column}_{numbers[name]}" for name in dict.fromkeys(names))


def sufficient_stats_sql(metrics: Sequence[MetricDefinition]) -> str:
    """Per cell (experiment, period, variant), as-of day and metric: n and the sums of STATS_SCHEMA.

    A unit counts in every as-of day from its first exposure until it is seen in a second variant
    (`unit_days`). Its values through that day and its covariate come from its `unit_events` rows up
    to that day (`unit_values`: per metric y and x, d and e for ratios, and for proportions the event
    counts that decide 0 or 1), summed per cell and day as columns, one set per metric, then turned
    into one row per metric. Units without any outcome add only to n, so n is counted from
    `unit_days` alone and the sums run over the units that have rows.
    """
    numbers = tables.event_numbers(metrics)
    values: list[str] = []  # unit_values columns
    per_unit: list[str] = []  # per_unit columns
    sums: list[str] = []  # cell_sums columns
    rows: list[str] = []  # one SELECT per metric
    for m_no, m in enumerate(metrics, start=1):
        pre = f"pre{m.cuped_days}"
        if m.kind is MetricKind.PROPORTION:
            values += [f"SUM({_side(numbers, m.events, 'post', True)}) AS k_{m_no}",
                       f"SUM({_side(numbers, m.events, pre, True)}) AS xk_{m_no}"]
            per_unit += [f"CASE WHEN k_{m_no} > 0 THEN 1.0 ELSE 0.0 END AS y_{m_no}",
                         f"CASE WHEN xk_{m_no} > 0 THEN 1.0 ELSE 0.0 END AS x_{m_no}"]
        else:
            values += [f"CAST(SUM({_side(numbers, m.events, 'post', m.counts_numerator)}) AS DOUBLE) AS y_{m_no}",
                       f"CAST(SUM({_side(numbers, m.events, pre, m.counts_numerator)}) AS DOUBLE) AS x_{m_no}"]
            per_unit += [f"y_{m_no}", f"x_{m_no}"]
        products = {"sum_y": f"y_{m_no}", "sum_y2": f"y_{m_no} * y_{m_no}", "sum_x": f"x_{m_no}",
                    "sum_x2": f"x_{m_no} * x_{m_no}", "sum_xy": f"x_{m_no} * y_{m_no}"}
        if m.kind is MetricKind.RATIO:
            den, den_counts = m.denominator_events, m.counts_denominator
            values += [f"CAST(SUM({_side(numbers, den, 'post', den_counts)}) AS DOUBLE) AS d_{m_no}",
                       f"CAST(SUM({_side(numbers, den, pre, den_counts)}) AS DOUBLE) AS e_{m_no}"]
            per_unit += [f"d_{m_no}", f"e_{m_no}"]
            y, x, d, e = (f"{v}_{m_no}" for v in "yxde")
            products |= {"sum_d": d, "sum_d2": f"{d} * {d}", "sum_yd": f"{y} * {d}", "sum_e": e,
                         "sum_e2": f"{e} * {e}", "sum_xe": f"{x} * {e}", "sum_ye": f"{y} * {e}",
                         "sum_dx": f"{d} * {x}", "sum_de": f"{d} * {e}"}
        sums += [f"SUM({expr}) AS {name}_{m_no}" for name, expr in products.items()]
        rows.append(f"SELECT cell, as_of, {m_no} AS metric_no, "
                    + ", ".join(f"{name}_{m_no} AS {name}" if name in products else f"{_ZERO} AS {name}"
                                for name in _SUMS)
                    + " FROM cell_sums")
    if not rows:  # no metrics: no rows, but a valid query
        values = per_unit = sums = ["0 AS unused"]
        rows = ["SELECT cell, as_of, 0 AS metric_no, " + ", ".join(f"{_ZERO} AS {name}" for name in _SUMS)
                + " FROM cell_sums WHERE 1 = 0"]
    sep = ",\n         "
    return f"""
WITH cells AS (
  SELECT experiment_key, analysis_period, variant,
         CAST(ROW_NUMBER() OVER (ORDER BY experiment_key, analysis_period, variant) AS INT) AS cell
  FROM (SELECT DISTINCT experiment_key, analysis_period, variant FROM units) AS v
),
unit_days AS (
  SELECT u.unit_key, c.cell, dd.as_of
  FROM units AS u
  JOIN cells AS c
    ON c.experiment_key = u.experiment_key AND c.analysis_period = u.analysis_period AND c.variant = u.variant
  JOIN days AS dd ON dd.experiment_key = u.experiment_key AND dd.analysis_period = u.analysis_period
  WHERE u.first_ts < dd.as_of_end AND (u.conflict_ts IS NULL OR u.conflict_ts >= dd.as_of_end)
),
unit_values AS (
  SELECT ud.cell, ud.as_of,
         {sep.join(values)}
  FROM unit_days AS ud
  JOIN unit_events AS e ON e.unit_key = ud.unit_key AND e.day <= ud.as_of
  GROUP BY ud.cell, ud.as_of, ud.unit_key
),
per_unit AS (
  SELECT cell, as_of,
         {sep.join(per_unit)}
  FROM unit_values
),
cell_sums AS (
  SELECT cell, as_of,
         {sep.join(sums)}
  FROM per_unit
  GROUP BY cell, as_of
),
metric_sums AS (
  {(chr(10) + "  UNION ALL" + chr(10) + "  ").join(rows)}
),
counts AS (
  SELECT cell, as_of, COUNT(*) AS n
  FROM unit_days
  GROUP BY cell, as_of
)
SELECT c.experiment_key, CAST(c.analysis_period AS INT) AS analysis_period, m.metric, m.metric_kind, c.variant,
       k.as_of, CAST(k.n AS BIGINT) AS n,
       {", ".join(f"CAST(COALESCE(s.{name}, 0.0) AS DOUBLE) AS {name}" for name in _SUMS)}
FROM counts AS k
JOIN cells AS c ON c.cell = k.cell
CROSS JOIN metrics AS m
LEFT JOIN metric_sums AS s ON s.cell = k.cell AND s.as_of = k.as_of AND s.metric_no = m.metric_no
"""


DROPPED_UNITS: Final = """
SELECT dd.experiment_key, CAST(dd.analysis_period AS INT) AS analysis_period, dd.as_of,
       CAST(COUNT(u.unit_id) AS BIGINT) AS dropped_units
FROM days AS dd
LEFT JOIN units AS u
  ON u.experiment_key = dd.experiment_key AND u.analysis_period = dd.analysis_period
 AND u.first_ts < dd.as_of_end AND u.conflict_ts < dd.as_of_end
GROUP BY dd.experiment_key, dd.analysis_period, dd.as_of
"""


@dataclass(frozen=True)
class Stage:
    """A named query; the engine makes its result available under `name` for later stages."""

    name: str
    sql: str


def transpile(sql: str, dialect: Dialect) -> str:
    """One query in the engine's dialect (a syntax error raises sqlglot.ParseError)."""
    return str(sqlglot.transpile(sql, read=SOURCE_DIALECT, write=dialect, pretty=True)[0])


def stages(dialect: Dialect, metrics: Sequence[MetricDefinition]) -> list[Stage]:
    """The stages for `metrics` in the engine's dialect."""
    source = [
        Stage("units", units_sql(dialect)),
        Stage("duplicate_outcomes", DUPLICATE_OUTCOMES),
        Stage("unit_events", unit_events_sql(len(tables.event_numbers(metrics)), cuped_windows(metrics))),
        Stage("sufficient_stats", sufficient_stats_sql(metrics)),
        Stage("dropped_units", DROPPED_UNITS),
    ]
    return [Stage(s.name, transpile(s.sql, dialect)) for s in source]
