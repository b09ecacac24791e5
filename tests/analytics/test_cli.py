"""`splitline metrics EXP` and `splitline ingest …` through the real entry point."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from splitline.analytics.pipeline.results import DATABASE, read_stats
from splitline.analytics.pipeline.schema import STATS_SCHEMA
from splitline.cli import main
from splitline.sidecar.spool_format import KIND_EXPOSURE, KIND_OUTCOME, encode_record, segment_name

from tests.analytics.events import DAY1, at, exposure, outcome, write_events
from tests.analytics.ingest_helpers import exposure_bytes, outcome_bytes


def _data(tmp_path: Path) -> Path:
    return write_events(tmp_path / "data", [
        exposure("e1", "u1", "control", at(DAY1, 1)),
        exposure("e2", "u2", "treatment", at(DAY1, 1)),
        exposure("e3", "u3", "treatment", at(DAY1, 2)),
        exposure("x1", "u1", "a", at(DAY1, 1), experiment="other"),
    ], [
        outcome("o1", "u1", "purchase", 10.0, at(DAY1, 3)),
        outcome("o2", "u2", "purchase", 4.0, at(DAY1, 3)),
        outcome("o3", "u3", "error", 1.0, at(DAY1, 3)),
    ])


def test_metrics_prints_the_table_and_writes_parquet_and_duckdb(
        tmp_path: Path, repo_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data, results = _data(tmp_path), tmp_path / "results"
    code = main(["metrics", "exp", "--data", str(data), "--metrics", str(repo_root / "examples/metrics.yaml"),
                 "--results", str(results), "--no-progress"])
    out = capsys.readouterr().out
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["experiment", "period", "as_of", "metric", "kind", "variant", "n", "mean",
                                "sum_y", "sum_y2", "sum_x", "sum_d"]
    revenue = {line.split()[5]: line.split() for line in lines if " revenue " in line}
    assert revenue["control"][6:9] == ["1", "10", "10"]  # n, mean, Σy
    assert revenue["treatment"][6:9] == ["2", "2", "4"]
    assert "exp: 0 unit(s) seen in two variants dropped (as of 2026-01-01)" in out

    table = pq.read_table(results / "sufficient_stats" / "exp.parquet")
    assert table.schema == STATS_SCHEMA
    assert table.num_rows == 8  # 4 metrics x 2 variants
    import duckdb

    con = duckdb.connect(str(results / DATABASE), read_only=True)
    assert con.execute("SELECT SUM(n) FROM sufficient_stats WHERE metric = 'errors'").fetchone() == (3,)
    assert con.execute("SELECT dropped_units FROM dropped_units").fetchall() == [(0,)]
    con.close()

    # A second experiment's run keeps the first one's rows.
    assert main(["metrics", "other", "--data", str(data), "--metrics", str(repo_root / "examples/metrics.yaml"),
                 "--results", str(results), "--json", "--metric", "revenue"]) == 0
    row = json.loads(capsys.readouterr().out.splitlines()[0])
    assert (row["experiment_key"], row["variant"], row["n"], row["sum_y"]) == ("other", "a", 1, 10.0)
    assert read_stats(results, "exp").num_rows == 8


def test_metrics_reports_a_bad_metrics_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "m.yaml"
    bad.write_text("metrics:\n  - {name: m, kind: avg, event: x}\n")
    assert main(["metrics", "exp", "--data", str(_data(tmp_path)), "--metrics", str(bad)]) == 2
    assert "kind 'avg' is not one of" in capsys.readouterr().err


def test_ingest_spool_then_compact(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    with (spool / segment_name(1)).open("wb") as f:
        f.write(encode_record(KIND_EXPOSURE, exposure_bytes("e1", "u1", "control", at(DAY1, 1))))
        f.write(encode_record(KIND_OUTCOME, outcome_bytes("o1", "u1", "purchase", 2.0, at(DAY1, 2))))
    data = tmp_path / "data"
    assert main(["ingest", "spool", "--spool", str(spool), "--data", str(data)]) == 0
    assert json.loads(capsys.readouterr().out) == {"batches": 1, "exposures": 1, "outcomes": 1}
    assert main(["ingest", "compact", "--data", str(data)]) == 0
    assert json.loads(capsys.readouterr().out) == {"partitions_compacted": 2}
