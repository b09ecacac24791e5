"""Writes pipeline-shaped Parquet (the analytics pipeline's sufficient-statistics schema)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

SCHEMA = pa.schema([
    ("experiment_key", pa.string()), ("analysis_period", pa.int64()), ("metric", pa.string()),
    ("metric_kind", pa.string()), ("variant", pa.string()), ("as_of", pa.date32()), ("n", pa.int64()),
    *[(f, pa.float64()) for f in ("sum_y", "sum_y2", "sum_x", "sum_x2", "sum_xy", "sum_d", "sum_d2", "sum_yd")],
])


def row(exp: str, metric: str, kind: str, variant: str, as_of: dt.date, sums: dict[str, float], *,
        period: int = 0) -> dict[str, Any]:
    r: dict[str, Any] = {"experiment_key": exp, "analysis_period": period, "metric": metric, "metric_kind": kind,
                         "variant": variant, "as_of": as_of}
    for f in SCHEMA.names[6:]:
        r[f] = int(sums.get(f, 0)) if f == "n" else float(sums.get(f, 0.0))
    return r


def write(path: Path, rows: Sequence[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(list(rows), schema=SCHEMA), path)
    return path
