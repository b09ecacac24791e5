"""The exposure–outcome join, written once, transpiled by SQLGlot per engine.

Every rule of DESIGN.md section 6 lives in the SQL below, in this order:

1. Events are deduplicated on `event_id` (delivery is at-least-once). Copies
   are identical; MIN per column keeps the choice deterministic, so both
   engines agree even on malformed data. Grouping on the one key is cheaper
   than DISTINCT over every column; for outcomes, only the ids that occur
   more than once are grouped (see DUPLICATE_OUTCOMES).
2. Forced (override) exposures are excluded.
3. Per (experiment, period, unit) the first exposure — by time, then variant,
   then event id, so ties are deterministic — gives the variant and start time.
4. A unit whose exposures in one period show two variants is dropped from
   every as-of day at or after the second variant's first exposure, and
   counted in `dropped_units`.
5. Only outcomes at or after the unit's first exposure and before the period
   end count; units without any count with zero (left join from exposures).
6. Outcomes in the `cuped_days` (whole 24-hour spans) before the first
   exposure give the CUPED covariate x (same per-unit transform as y; 0 for
   ratio metrics).
7. Per as-of day d the statistics are what the pipeline would report with the
   analysis ending at the end of d: units first exposed by then and not yet
   seen in a second variant, outcomes through d.

Inputs are the tables `exposures`, `outcomes` (with `ts_us`, the timestamp in
epoch microseconds, added by the engine's input binding, because interval
arithmetic on a column does not transpile), and the parameter tables of
`tables.py`: `metrics`, `metric_events`, `periods` (with `lookback_us`, the
longest CUPED window), `days`.

The stages are materialised in order by the engine (a temp table in DuckDB, a
cached view in Spark), so the heavy ones run once: `units` (one row per
experiment, period and unit), `duplicate_outcomes` (the outcome event ids seen
more than once; skipped with `dedupe_outcomes=False`) and `unit_outcome_days`
(per unit, metric and day); the per-event join and its first aggregation stream inside the latter
instead of being stored. `units` numbers each (experiment, period, unit) with
an integer `unit_key`; every later join and grouping is on that one BIGINT
instead of the four key columns (two of them strings), which is what keeps
the 81M-row join output of the benchmark cheap to aggregate. The key is only
an identity: no result depends on its value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

import sqlglot
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

_UNIT_KEY: Final = "experiment_key, analysis_period, unit_type, unit_id"
# unit_key = (1-based period number) * 2^32 + (1-based unit number within the period): unique per
# (experiment, period, unit), an integer, so the later joins and groupings hash one BIGINT.
_KEY_STRIDE: Final = 4_294_967_296

UNITS: Final = f"""
WITH exposure_events AS (
  SELECT event_id, MIN(ts) AS ts, MIN(ts_us) AS ts_us, MIN(experiment_key) AS experiment_key,
         MIN(variant) AS variant, MIN(unit_type) AS unit_type, MIN(unit_id) AS unit_id
  FROM exposures
  WHERE NOT forced
  GROUP BY event_id
),
period_keys AS (
  SELECT experiment_key, analysis_period, period_start, period_end, lookback_us,
         CAST(ROW_NUMBER() OVER (ORDER BY experiment_key, analysis_period) AS BIGINT) * {_KEY_STRIDE} AS key_base
  FROM periods
),
period_exposures AS (
  SELECT p.experiment_key, p.analysis_period, p.period_end, p.lookback_us, p.key_base, e.unit_type, e.unit_id,
         e.variant, e.ts, e.ts_us, e.event_id
  FROM exposure_events AS e
  JOIN period_keys AS p
    ON e.experiment_key = p.experiment_key AND e.ts >= p.period_start AND e.ts < p.period_end
),
ordered AS (
  SELECT {_UNIT_KEY}, period_end, lookback_us, key_base, variant, ts, ts_us,
         FIRST_VALUE(variant) OVER (
           PARTITION BY {_UNIT_KEY} ORDER BY ts, variant, event_id
         ) AS first_variant
  FROM period_exposures
),
grouped AS (
  SELECT {_UNIT_KEY}, period_end, first_variant AS variant, MIN(key_base) AS key_base,
         MIN(ts) AS first_ts, MIN(ts_us) AS first_us, MIN(ts_us) - MAX(lookback_us) AS lookback_start_us,
         MIN(CASE WHEN variant <> first_variant THEN ts END) AS conflict_ts
  FROM ordered
  GROUP BY {_UNIT_KEY}, period_end, first_variant
)
SELECT {_UNIT_KEY}, period_end, variant, first_ts, first_us, lookback_start_us, conflict_ts,
       key_base + ROW_NUMBER() OVER (PARTITION BY experiment_key, analysis_period ORDER BY unit_type, unit_id)
         AS unit_key
FROM grouped
"""

# The outcome dedup in two passes. `duplicate_outcomes` (a stage) counts the ids and keeps only those
# seen more than once: a hash table of ids without any other column, whose result is small on real
# data. Rows with other ids then stream from the scan into the join as they are, and only the repeated
# ids (and NULL, which GROUP BY treats as one id) are merged with MIN per column: the same rows as one
# GROUP BY event_id over everything, without materialising every outcome row in a hash table first.
# The repeated ids are reached by an inner join from `duplicate_outcomes` (with none, DuckDB ends that
# branch without scanning the outcomes again) and the NULL ids by `event_id IS NULL` (a filter the
# Parquet statistics answer for most row groups), instead of a second full scan with `IN (...) OR IS NULL`.
DUPLICATE_OUTCOMES: Final = """
SELECT event_id
FROM outcomes
WHERE name IN (SELECT event_name FROM metric_events)
GROUP BY event_id
HAVING COUNT(*) > 1
"""
OUTCOME_EVENTS_DEDUPED: Final = """
  SELECT o.event_id, o.ts, o.ts_us, o.unit_type, o.unit_id, o.name, o.value
  FROM outcomes AS o
  LEFT JOIN duplicate_outcomes AS dup ON dup.event_id = o.event_id
  WHERE o.name IN (SELECT event_name FROM metric_events) AND o.event_id IS NOT NULL AND dup.event_id IS NULL
  UNION ALL
  SELECT o.event_id, MIN(o.ts) AS ts, MIN(o.ts_us) AS ts_us, MIN(o.unit_type) AS unit_type,
         MIN(o.unit_id) AS unit_id, MIN(o.name) AS name, MIN(o.value) AS value
  FROM outcomes AS o
  JOIN duplicate_outcomes AS dup ON dup.event_id = o.event_id
  WHERE o.name IN (SELECT event_name FROM metric_events)
  GROUP BY o.event_id
  UNION ALL
  SELECT event_id, MIN(ts) AS ts, MIN(ts_us) AS ts_us, MIN(unit_type) AS unit_type, MIN(unit_id) AS unit_id,
         MIN(name) AS name, MIN(value) AS value
  FROM outcomes
  WHERE name IN (SELECT event_name FROM metric_events) AND event_id IS NULL
  GROUP BY event_id
"""
# For inputs known to hold one row per event_id (every partition compacted by
# `splitline ingest compact`, which keeps copies of an event in one partition).
OUTCOME_EVENTS_AS_IS: Final = """
  SELECT event_id, ts, ts_us, unit_type, unit_id, name, value
  FROM outcomes
  WHERE name IN (SELECT event_name FROM metric_events)
"""

# Per unit, metric and day (day IS NULL: the metric's own CUPED window). `unit_events` first
# aggregates the joined outcomes per unit, event name and day (post-exposure) or whole days before the
# first exposure (pre-period, `lag_days` 0 = the 24 hours before it): one pass over the outcomes,
# filtered to the metrics' event names before anything else; it streams into the per-metric sums.
UNIT_OUTCOME_DAYS: Final = f"""
WITH outcome_events AS ({{outcome_events}}),
unit_events AS (
  SELECT u.unit_key, o.name,
         CASE WHEN o.ts_us >= u.first_us THEN CAST(o.ts AS DATE) END AS day,
         CASE WHEN o.ts_us < u.first_us
              THEN CAST(FLOOR((u.first_us - o.ts_us - 1) / {US_PER_DAY}) AS BIGINT) END AS lag_days,
         SUM(o.value) AS value_sum, COUNT(*) AS events
  FROM units AS u
  JOIN outcome_events AS o ON o.unit_type = u.unit_type AND o.unit_id = u.unit_id
  WHERE o.ts < u.period_end AND o.ts_us >= u.lookback_start_us
  GROUP BY u.unit_key, o.name,
           CASE WHEN o.ts_us >= u.first_us THEN CAST(o.ts AS DATE) END,
           CASE WHEN o.ts_us < u.first_us
                THEN CAST(FLOOR((u.first_us - o.ts_us - 1) / {US_PER_DAY}) AS BIGINT) END
)
SELECT e.unit_key, me.metric, e.day,
       SUM(CASE WHEN me.side = 'num'
                THEN (CASE WHEN me.counts THEN CAST(e.events AS DOUBLE) ELSE e.value_sum END)
                ELSE 0.0 END) AS y,
       SUM(CASE WHEN me.side = 'den'
                THEN (CASE WHEN me.counts THEN CAST(e.events AS DOUBLE) ELSE e.value_sum END)
                ELSE 0.0 END) AS d,
       SUM(CASE WHEN me.side = 'num' THEN e.events ELSE 0 END) AS k
FROM unit_events AS e
JOIN metric_events AS me ON e.name = me.event_name
WHERE e.day IS NOT NULL OR e.lag_days < me.cuped_days
GROUP BY e.unit_key, me.metric, e.day
"""

# Per unit, as-of day and metric, from one join with one aggregation: the outcomes through that day
# (y, d, k) and the covariate (x and its event count, and for ratios the pre-period denominator e;
# the rows with day IS NULL). Only units with
# some outcome have a row; every unit-day of every metric takes it by key (zero when absent).
SUFFICIENT_STATS: Final = """
WITH unit_days AS (
  SELECT u.unit_key, u.experiment_key, u.analysis_period, u.variant, dd.as_of
  FROM units AS u
  JOIN days AS dd ON dd.experiment_key = u.experiment_key AND dd.analysis_period = u.analysis_period
  WHERE u.first_ts < dd.as_of_end AND (u.conflict_ts IS NULL OR u.conflict_ts >= dd.as_of_end)
),
unit_metric_days AS (
  SELECT ud.unit_key, ud.as_of, p.metric,
         SUM(CASE WHEN p.day IS NULL THEN 0.0 ELSE p.y END) AS y,
         SUM(CASE WHEN p.day IS NULL THEN 0.0 ELSE p.d END) AS d,
         SUM(CASE WHEN p.day IS NULL THEN 0 ELSE p.k END) AS k,
         SUM(CASE WHEN p.day IS NULL THEN p.y ELSE 0.0 END) AS x,
         SUM(CASE WHEN p.day IS NULL THEN p.k ELSE 0 END) AS x_k,
         SUM(CASE WHEN p.day IS NULL THEN p.d ELSE 0.0 END) AS e
  FROM unit_days AS ud
  JOIN unit_outcome_days AS p ON p.unit_key = ud.unit_key AND (p.day IS NULL OR p.day <= ud.as_of)
  GROUP BY ud.unit_key, ud.as_of, p.metric
),
per_unit AS (
  SELECT ud.experiment_key, ud.analysis_period, m.metric, m.metric_kind, ud.variant, ud.as_of,
         CASE WHEN m.metric_kind = 'proportion' THEN (CASE WHEN v.k > 0 THEN 1.0 ELSE 0.0 END)
              ELSE COALESCE(v.y, 0.0) END AS y,
         CASE WHEN m.metric_kind = 'proportion' THEN (CASE WHEN v.x_k > 0 THEN 1.0 ELSE 0.0 END)
              ELSE COALESCE(v.x, 0.0) END AS x,
         CASE WHEN m.metric_kind = 'ratio' THEN COALESCE(v.d, 0.0) ELSE 0.0 END AS d,
         CASE WHEN m.metric_kind = 'ratio' THEN COALESCE(v.e, 0.0) ELSE 0.0 END AS e
  FROM unit_days AS ud
  CROSS JOIN metrics AS m
  LEFT JOIN unit_metric_days AS v ON v.unit_key = ud.unit_key AND v.as_of = ud.as_of AND v.metric = m.metric
)
SELECT experiment_key, CAST(analysis_period AS INT) AS analysis_period, metric, metric_kind, variant,
       as_of, CAST(COUNT(*) AS BIGINT) AS n,
       CAST(SUM(y) AS DOUBLE) AS sum_y, CAST(SUM(y * y) AS DOUBLE) AS sum_y2,
       CAST(SUM(x) AS DOUBLE) AS sum_x, CAST(SUM(x * x) AS DOUBLE) AS sum_x2,
       CAST(SUM(x * y) AS DOUBLE) AS sum_xy,
       CAST(SUM(d) AS DOUBLE) AS sum_d, CAST(SUM(d * d) AS DOUBLE) AS sum_d2,
       CAST(SUM(y * d) AS DOUBLE) AS sum_yd,
       CAST(SUM(e) AS DOUBLE) AS sum_e, CAST(SUM(e * e) AS DOUBLE) AS sum_e2,
       CAST(SUM(x * e) AS DOUBLE) AS sum_xe, CAST(SUM(y * e) AS DOUBLE) AS sum_ye,
       CAST(SUM(d * x) AS DOUBLE) AS sum_dx, CAST(SUM(d * e) AS DOUBLE) AS sum_de
FROM per_unit
GROUP BY experiment_key, analysis_period, metric, metric_kind, variant, as_of
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


STAGES: Final = (
    Stage("units", UNITS),
    Stage("duplicate_outcomes", DUPLICATE_OUTCOMES),
    Stage("unit_outcome_days", UNIT_OUTCOME_DAYS),
    Stage("sufficient_stats", SUFFICIENT_STATS),
    Stage("dropped_units", DROPPED_UNITS),
)


def transpile(sql: str, dialect: Dialect) -> str:
    """One query in the engine's dialect (a syntax error raises sqlglot.ParseError)."""
    return str(sqlglot.transpile(sql, read=SOURCE_DIALECT, write=dialect, pretty=True)[0])


def stages(dialect: Dialect, *, dedupe_outcomes: bool = True) -> list[Stage]:
    """The stages in the engine's dialect.

    `dedupe_outcomes=False` skips the outcome dedup (a full pass over the
    outcomes and a hash table of their event ids) for inputs that are known to
    be compacted; exposures are always deduplicated.
    """
    events = OUTCOME_EVENTS_DEDUPED if dedupe_outcomes else OUTCOME_EVENTS_AS_IS
    return [Stage(s.name, transpile(s.sql.replace("{outcome_events}", events), dialect)) for s in STAGES
            if dedupe_outcomes or s.name != "duplicate_outcomes"]
