"""The results database keeps working when the statistics schema grows (ratio CUPED's columns)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pyarrow as pa
from splitline.analytics.pipeline.engine import PipelineResult
from splitline.analytics.pipeline.results import DATABASE, write_results
from splitline.analytics.pipeline.schema import DROPPED_SCHEMA, STATS_SCHEMA

OLD_COLUMNS = ["experiment_key", "analysis_period", "metric", "metric_kind", "variant", "as_of", "n", "sum_y",
               "sum_y2", "sum_x", "sum_x2", "sum_xy", "sum_d", "sum_d2", "sum_yd"]


def _row(key: str, value: float) -> dict[str, object]:
    row: dict[str, object] = {f.name: value for f in STATS_SCHEMA if f.name.startswith("sum_")}
    row |= {"experiment_key": key, "analysis_period": 0, "metric": "aov", "metric_kind": "ratio",
            "variant": "control", "as_of": dt.date(2026, 5, 1), "n": 3}
    return row


def test_an_older_results_table_gains_the_new_columns(tmp_path: Path) -> None:
    con = duckdb.connect(str(tmp_path / DATABASE))
    old = pa.Table.from_pylist([{c: _row("old_exp", 1.0)[c] for c in OLD_COLUMNS}],
                               schema=pa.schema([STATS_SCHEMA.field(c) for c in OLD_COLUMNS]))
    con.register("_old", old)
    con.execute("CREATE TABLE sufficient_stats AS SELECT * FROM _old")
    con.close()

    stats = pa.Table.from_pylist([_row("new_exp", 2.0)], schema=STATS_SCHEMA)
    write_results(PipelineResult(stats=stats, dropped=DROPPED_SCHEMA.empty_table()), tmp_path, ["new_exp"])

    con = duckdb.connect(str(tmp_path / DATABASE))
    got = {r[0]: r[1:] for r in con.execute(
        "SELECT experiment_key, sum_yd, sum_e, sum_de FROM sufficient_stats ORDER BY 1").fetchall()}
    con.close()
    assert got == {"new_exp": (2.0, 2.0, 2.0), "old_exp": (1.0, 0.0, 0.0)}
