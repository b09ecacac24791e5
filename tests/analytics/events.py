"""Builders for hand-written exposure and outcome rows, and a Parquet writer for them."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from splitline.analytics.pipeline.schema import EXPOSURE_SCHEMA, OUTCOME_SCHEMA

DAY1 = dt.date(2026, 1, 1)
DAY2 = dt.date(2026, 1, 2)
DAY3 = dt.date(2026, 1, 3)


def at(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hour, minute)


def exposure(event_id: str, unit: str, variant: str, ts: dt.datetime, *, experiment: str = "exp",
             forced: bool = False, unit_type: str = "user_id") -> dict[str, Any]:
    return {"event_id": event_id, "ts": ts, "experiment_key": experiment, "variant": variant,
            "unit_type": unit_type, "unit_id": unit, "config_revision": 1, "forced": forced,
            "client": "test", "session_id": ""}


def outcome(event_id: str, unit: str, name: str, value: float, ts: dt.datetime, *,
            unit_type: str = "user_id") -> dict[str, Any]:
    return {"event_id": event_id, "ts": ts, "unit_type": unit_type, "unit_id": unit, "name": name,
            "value": value, "properties": []}


def write_events(root: Path, exposures: list[dict[str, Any]], outcomes: list[dict[str, Any]]) -> Path:
    """`root/exposures/part-0.parquet` and `root/outcomes/part-0.parquet` (the pipeline's input layout)."""
    for name, rows, schema in (("exposures", exposures, EXPOSURE_SCHEMA), ("outcomes", outcomes, OUTCOME_SCHEMA)):
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        if rows:
            pq.write_table(pa.Table.from_pylist(rows, schema=schema), folder / "part-0.parquet")
    return root
