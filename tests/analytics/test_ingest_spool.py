"""Embedded-mode ingest (spool segments -> Parquet), crash repeats, and compaction."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow.parquet as pq
from splitline.analytics.ingest.spool import Position, ingest_spool, load_position, save_position
from splitline.analytics.ingest.writer import compact, dedupe
from splitline.analytics.metrics import parse_metrics
from splitline.analytics.pipeline.duckdb_engine import DuckDBEngine
from splitline.analytics.pipeline.engine import run_pipeline
from splitline.sidecar.spool_format import KIND_EXPOSURE, KIND_OUTCOME, encode_record, segment_name

from tests.analytics.ingest_helpers import exposure_bytes, outcome_bytes

T0 = dt.datetime(2026, 2, 1, 9, 30)


def _append(path: Path, records: list[tuple[int, bytes]], torn_tail: bool = False) -> None:
    with path.open("ab") as f:
        for kind, payload in records:
            f.write(encode_record(kind, payload))
        if torn_tail:
            f.write(encode_record(KIND_OUTCOME, outcome_bytes("torn", "u9", "purchase", 1.0, T0))[:12])


def _rows(root: Path, table: str) -> list[dict[str, object]]:
    files = sorted((root / table).rglob("*.parquet"))
    return [r for f in files for r in pq.read_table(f).to_pylist()]


def test_spool_to_parquet_partitioned_by_event_hour_and_resumed(tmp_path: Path) -> None:
    spool, data = tmp_path / "spool", tmp_path / "data"
    spool.mkdir()
    _append(spool / segment_name(1), [
        (KIND_EXPOSURE, exposure_bytes("e1", "u1", "control", T0)),
        (KIND_OUTCOME, outcome_bytes("o1", "u1", "purchase", 4.5, T0 + dt.timedelta(hours=1))),
    ])
    _append(spool / segment_name(2), [(KIND_EXPOSURE, exposure_bytes("e2", "u2", "treatment", T0))], torn_tail=True)

    stats = ingest_spool(spool, data)
    assert (stats.exposures, stats.outcomes) == (2, 1)  # the torn record is not read
    assert sorted(p.relative_to(data).parent.as_posix() for p in data.rglob("*.parquet")) == [
        "exposures/date=2026-02-01/hour=09", "exposures/date=2026-02-01/hour=09",
        "outcomes/date=2026-02-01/hour=10",
    ]
    (outcome,) = _rows(data, "outcomes")
    assert outcome == {"event_id": "o1", "ts": T0 + dt.timedelta(hours=1), "unit_type": "user_id",
                       "unit_id": "u1", "name": "purchase", "value": 4.5, "properties": [("source", "test")]}
    exposures = {r["event_id"]: r for r in _rows(data, "exposures")}
    assert exposures["e2"]["variant"] == "treatment" and exposures["e2"]["config_revision"] == 3

    # Nothing new: nothing read. Then the sidecar appends to segment 2: only the new record is read.
    assert ingest_spool(spool, data).exposures == 0
    seg2 = spool / segment_name(2)
    seg2.write_bytes(seg2.read_bytes()[:-12])  # the writer truncates its torn tail on recovery
    _append(seg2, [(KIND_EXPOSURE, exposure_bytes("e3", "u3", "control", T0))])
    assert ingest_spool(spool, data).exposures == 1
    assert sorted(r["event_id"] for r in _rows(data, "exposures")) == ["e1", "e2", "e3"]


def test_crash_before_checkpoint_repeats_a_batch_and_compaction_removes_the_copies(tmp_path: Path) -> None:
    spool, data = tmp_path / "spool", tmp_path / "data"
    spool.mkdir()
    records = [(KIND_EXPOSURE, exposure_bytes(f"e{i}", f"u{i}", "control" if i % 2 else "treatment", T0))
               for i in range(10)]
    records += [(KIND_OUTCOME, outcome_bytes(f"o{i}", f"u{i}", "purchase", float(i), T0 + dt.timedelta(minutes=5)))
                for i in range(10)]
    _append(spool / segment_name(7), records)
    ingest_spool(spool, data, batch_records=6)
    # Crash simulated after the files of the last batches were written but before the checkpoint moved:
    save_position(data, Position(7, 0))
    ingest_spool(spool, data, batch_records=4)  # other batch boundaries, so other file names
    assert load_position(data) == Position(7, (spool / segment_name(7)).stat().st_size)
    assert len(_rows(data, "exposures")) == 20 and len(_rows(data, "outcomes")) == 20

    assert compact(data) == 2
    assert sorted(r["event_id"] for r in _rows(data, "exposures")) == sorted(f"e{i}" for i in range(10))
    assert sorted(r["event_id"] for r in _rows(data, "outcomes")) == sorted(f"o{i}" for i in range(10))
    assert compact(data) == 2  # idempotent: one file per partition stays one file
    assert len(list(data.rglob("*.parquet"))) == 2

    engine = DuckDBEngine()
    engine.bind_parquet(data)
    stats = run_pipeline(engine, parse_metrics([{"name": "revenue", "kind": "mean", "event": "purchase"}])).stats
    # control = odd units 1,3,5,7,9 (Σy = 25, Σy² = 165); treatment = 0,2,4,6,8 (Σy = 20, Σy² = 120).
    assert [(r["variant"], r["n"], r["sum_y"], r["sum_y2"]) for r in stats.to_pylist()] == [
        ("control", 5, 25.0, 165.0), ("treatment", 5, 20.0, 120.0)]


def test_dedupe_keeps_one_row_per_event_id_clustered_by_unit() -> None:
    import pyarrow as pa

    table = pa.table({"event_id": ["b", "a", "b", "c", "a", "d"],
                      "ts": pa.array([2, 1, 2, 3, 1, 0], pa.timestamp("us")),
                      "unit_type": ["user_id"] * 6, "unit_id": ["u2", "u1", "u2", "u1", "u1", "u3"]})
    assert dedupe(table).column("event_id").to_pylist() == ["a", "c", "b", "d"]
