"""The branches of the two-pass outcome dedup on inputs the main dedup test does not cover.

No repeated id at all (the `duplicate_outcomes` table is empty, so the branch
of repeated ids joins nothing) and a single NULL id hidden in a later Parquet
row group (the `event_id IS NULL` branch must still find it when the other
row groups' statistics say they hold no NULL). The result must still be the
rows of one GROUP BY event_id with MIN per column.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from splitline.analytics.pipeline import sql, tables
from splitline.analytics.pipeline.engine import Engine
from splitline.analytics.pipeline.schema import OUTCOME_SCHEMA

from tests.analytics.engines import ENGINES, bound_engine
from tests.analytics.test_pipeline_dedup import METRICS, ONE_GROUP_BY, dedup_rows

T0 = dt.datetime(2026, 1, 1, 10)


def outcome(event_id: str | None, i: int) -> dict[str, Any]:
    return {"event_id": event_id, "ts": T0 + dt.timedelta(seconds=i), "unit_type": "user_id",
            "unit_id": f"u{i % 7}", "name": ("purchase", "click", "other")[i % 3], "value": float(i),
            "properties": []}


# 60 distinct ids in row groups of 10, then one NULL id in the last group.
ROWS = [outcome(f"e{i}", i) for i in range(60)] + [outcome(None, 60)]


def write(tmp_path: Path) -> Path:
    (tmp_path / "exposures").mkdir()
    (tmp_path / "outcomes").mkdir()
    pq.write_table(pa.Table.from_pylist(ROWS, schema=OUTCOME_SCHEMA), tmp_path / "outcomes" / "part-0.parquet",
                   row_group_size=10)
    return tmp_path


def check(engine: Engine) -> None:
    engine.register("event_names", tables.event_names_table(METRICS))
    stage = {s.name: s.sql for s in sql.stages(engine.dialect, METRICS)}
    engine.materialize("duplicate_outcomes", stage["duplicate_outcomes"])
    assert engine.query("SELECT COUNT(*) AS n FROM duplicate_outcomes").to_pylist() == [{"n": 0}]
    expected = dedup_rows(engine, sql.transpile(ONE_GROUP_BY, engine.dialect))
    got = dedup_rows(engine, sql.transpile(sql.OUTCOME_EVENTS, engine.dialect))
    assert got == expected
    assert len(got) == 41  # purchase and click rows of 0..59 (40) and the NULL id (60 % 3 == 0: purchase)
    assert (1767261660000000, "user_id", "u4", "purchase", 60.0) in [r[1:] for r in got]  # the NULL id


@pytest.mark.parametrize("engine_name", ENGINES)
def test_dedup_without_repeated_ids_keeps_every_row_and_the_null_id(
        tmp_path: Path, engine_name: str, request: pytest.FixtureRequest) -> None:
    with bound_engine(engine_name, write(tmp_path), request) as engine:
        check(engine)
