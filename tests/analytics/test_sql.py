"""The join SQL is one text; SQLGlot writes it for each engine, and both engines can parse it."""

from __future__ import annotations

import duckdb
import pytest
import sqlglot
from splitline.analytics.pipeline import sql


@pytest.mark.parametrize("dialect", ["duckdb", "spark"])
def test_every_stage_transpiles_and_reparses(dialect: sql.Dialect) -> None:
    for stage in sql.stages(dialect):
        assert sqlglot.parse_one(stage.sql, read=dialect) is not None


def test_duckdb_text_binds_against_the_input_tables() -> None:
    """DuckDB's planner checks every column name: EXPLAIN fails on a typo or a missing column."""
    from splitline.analytics.pipeline import tables
    from splitline.analytics.pipeline.duckdb_engine import DuckDBEngine
    from splitline.analytics.pipeline.schema import EXPOSURE_SCHEMA, OUTCOME_SCHEMA

    engine = DuckDBEngine()
    for name, schema in (("raw_exposures", EXPOSURE_SCHEMA), ("raw_outcomes", OUTCOME_SCHEMA)):
        engine.register(name, schema.empty_table())
        engine.con.execute(f"CREATE VIEW {name.removeprefix('raw_')} AS SELECT *, epoch_us(ts) AS ts_us FROM {name}")
    engine.register("metrics", tables.metrics_table([]))
    engine.register("metric_events", tables.metric_events_table([]))
    engine.register("periods", tables.periods_table([], []))
    engine.register("days", tables.days_table([]))
    for stage in sql.stages("duckdb"):
        engine.materialize(stage.name, stage.sql)
    with pytest.raises(duckdb.BinderException):
        engine.query("SELECT no_such_column FROM units")
    engine.close()
