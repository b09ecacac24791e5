"""The join SQL is one text; SQLGlot writes it for each engine, and both engines can parse it."""

from __future__ import annotations

import duckdb
import pytest
import sqlglot
from splitline.analytics.metrics import MetricDefinition, parse_metrics
from splitline.analytics.pipeline import sql

# Every metric kind, a name shared by several metrics and sides, and a metric over two names.
METRICS = parse_metrics([
    {"name": "revenue", "kind": "mean", "event": "purchase"},
    {"name": "converted", "kind": "proportion", "event": "purchase", "cuped_days": 7},
    {"name": "actions", "kind": "count", "events": ["click", "purchase"]},
    {"name": "aov", "kind": "ratio", "event": "purchase", "denominator_events": "purchase",
     "denominator_value": "count"},
])


@pytest.mark.parametrize("dialect", ["duckdb", "spark"])
@pytest.mark.parametrize("metrics", [METRICS, []], ids=["metrics", "none"])
def test_every_stage_transpiles_and_reparses(dialect: sql.Dialect, metrics: list[MetricDefinition]) -> None:
    for stage in sql.stages(dialect, metrics):
        assert sqlglot.parse_one(stage.sql, read=dialect) is not None


@pytest.mark.parametrize("metrics", [METRICS, []], ids=["metrics", "none"])
def test_duckdb_text_binds_against_the_input_tables(metrics: list[MetricDefinition]) -> None:
    """DuckDB's planner checks every column name: EXPLAIN fails on a typo or a missing column."""
    from splitline.analytics.pipeline import tables
    from splitline.analytics.pipeline.duckdb_engine import DuckDBEngine
    from splitline.analytics.pipeline.schema import EXPOSURE_SCHEMA, OUTCOME_SCHEMA

    engine = DuckDBEngine()
    for name, schema in (("raw_exposures", EXPOSURE_SCHEMA), ("raw_outcomes", OUTCOME_SCHEMA)):
        engine.register(name, schema.empty_table())
        engine.con.execute(f"CREATE VIEW {name.removeprefix('raw_')} AS "
                           f"SELECT *, epoch_us(ts) AS ts_us, FALSE AS compacted FROM {name}")
    engine.register("metrics", tables.metrics_table(metrics))
    engine.register("event_names", tables.event_names_table(metrics))
    engine.register("periods", tables.periods_table([], metrics))
    engine.register("days", tables.days_table([]))
    for stage in sql.stages("duckdb", metrics):
        engine.materialize(stage.name, stage.sql)
    with pytest.raises(duckdb.BinderException):
        engine.query("SELECT no_such_column FROM units")
    engine.close()
