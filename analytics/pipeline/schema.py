"""The pipeline's table contracts: what it reads and what it writes.

Inputs (Parquet written by `splitline ingest`, any directory layout under
`<data>/exposures/` and `<data>/outcomes/`; timestamps are UTC, microseconds):

  exposures: event_id, ts, experiment_key, variant, unit_type, unit_id,
             config_revision, forced, client, session_id
  outcomes:  event_id, ts, unit_type, unit_id, name, value, properties

Output: per-variant sufficient statistics, read by the stats engine
(splitline.analytics.stats); the column list is a contract, change it only
together with that reader. `x` is the CUPED pre-period covariate (0 when
absent; for ratio metrics the pre-period numerator), `d` the ratio
denominator and `e` its pre-period value (0 for other kinds).
"""

from __future__ import annotations

from typing import Final

import pyarrow as pa

TS_TYPE: Final = pa.timestamp("us")

EXPOSURE_SCHEMA: Final = pa.schema([
    ("event_id", pa.string()),
    ("ts", TS_TYPE),
    ("experiment_key", pa.string()),
    ("variant", pa.string()),
    ("unit_type", pa.string()),
    ("unit_id", pa.string()),
    ("config_revision", pa.int64()),
    ("forced", pa.bool_()),
    ("client", pa.string()),
    ("session_id", pa.string()),
])

OUTCOME_SCHEMA: Final = pa.schema([
    ("event_id", pa.string()),
    ("ts", TS_TYPE),
    ("unit_type", pa.string()),
    ("unit_id", pa.string()),
    ("name", pa.string()),
    ("value", pa.float64()),
    ("properties", pa.map_(pa.string(), pa.string())),
])

STATS_SCHEMA: Final = pa.schema([
    ("experiment_key", pa.string()),
    ("analysis_period", pa.int32()),
    ("metric", pa.string()),
    ("metric_kind", pa.string()),
    ("variant", pa.string()),
    ("as_of", pa.date32()),
    ("n", pa.int64()),
    ("sum_y", pa.float64()),
    ("sum_y2", pa.float64()),
    ("sum_x", pa.float64()),
    ("sum_x2", pa.float64()),
    ("sum_xy", pa.float64()),
    ("sum_d", pa.float64()),
    ("sum_d2", pa.float64()),
    ("sum_yd", pa.float64()),
    # Ratio metrics' CUPED (analytics/stats: delta method): e is the pre-period denominator, x the
    # pre-period numerator; zero for other kinds.
    ("sum_e", pa.float64()),
    ("sum_e2", pa.float64()),
    ("sum_xe", pa.float64()),
    ("sum_ye", pa.float64()),
    ("sum_dx", pa.float64()),
    ("sum_de", pa.float64()),
])

# Units seen in two or more variants of one experiment (DESIGN.md section 6):
# dropped from the statistics, counted here, cumulative through `as_of`.
DROPPED_SCHEMA: Final = pa.schema([
    ("experiment_key", pa.string()),
    ("analysis_period", pa.int32()),
    ("as_of", pa.date32()),
    ("dropped_units", pa.int64()),
])

STATS_KEY: Final = ("experiment_key", "analysis_period", "metric", "variant", "as_of")
