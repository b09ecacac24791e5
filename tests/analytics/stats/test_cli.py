"""`splitline analyze | plan | results` through the real entry point."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy import stats as sst
from splitline.analytics.stats import MetricKind, SufficientStats, analyze
from splitline.cli import main

from tests.analytics.stats.helpers import sums
from tests.analytics.stats.parquet_fixture import row, write


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_analyze_example_json(repo_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = repo_root / "examples" / "analyze_input.json"
    rc, out, _ = _run(capsys, "analyze", "--input", str(path), "--json")
    doc = json.loads(out)
    assert rc == 1  # the second example experiment has an SRM
    first, second = doc["experiments"]
    assert not first["srm"]["blocked"] and second["srm"]["blocked"]
    assert {c["decision"] for c in second["results"]} == {"BLOCKED"}
    # every number equals a direct engine call on the same sums
    src = json.loads(path.read_text())["experiments"][0]
    for metric in src["metrics"]:
        given = [f for f in SufficientStats.FIELDS if f in metric["stats"][src["variants"][0]["key"]]]
        cols = {f: [metric["stats"][v["key"]][f] for v in src["variants"]] for f in given}  # others: 0
        e = analyze(SufficientStats.from_arrays(**cols), MetricKind.parse(metric["kind"]),
                    planned_n=src["planned_sample_size"])
        cell = next(c for c in first["results"] if c["metric"] == metric["name"])
        assert cell["p_value"] == pytest.approx(float(e.p_value[0]), rel=1e-12)
        assert cell["seq_p_value"] == pytest.approx(float(e.seq_p_value[0]), rel=1e-12)
        assert cell["error"] == "OK"
    revenue = next(c for c in first["results"] if c["metric"] == "revenue")
    assert revenue["cuped"] and revenue["rule"] == "FIXED_HORIZON"  # n reached the plan of 9,812
    guard = next(c for c in first["results"] if c["role"] == "guardrail")
    assert guard["rule"] == "SEQUENTIAL"
    rc, text, _ = _run(capsys, "analyze", "--input", str(path))
    assert text.index("SRM check ok") < text.index("revenue [mean, primary]")
    assert "SRM DETECTED" in text and "results withheld" in text


def test_analyze_matches_scipy_and_applies_correction(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(4)
    metrics, raw = [], {}
    for name in ("m1", "m2", "m3"):
        y0, y1 = rng.normal(0, 1, 300), rng.normal(0.2, 1, 310)
        raw[name] = (y0, y1)
        metrics.append({"name": name, "stats": {"control": sums(y0), "treatment": sums(y1)}})
    doc = {"correction": "holm", "experiments": [{"key": "e", "variants": ["control", "treatment"],
                                                  "metrics": metrics}]}
    f = tmp_path / "in.json"
    f.write_text(json.dumps(doc))
    rc, out, _ = _run(capsys, "analyze", "--input", str(f), "--json")
    assert rc == 0
    cells = json.loads(out)["experiments"][0]["results"]
    ps = [sst.ttest_ind(raw[c["metric"]][1], raw[c["metric"]][0], equal_var=False).pvalue for c in cells]
    from statsmodels.stats.multitest import multipletests

    holm = multipletests(ps, method="holm")[1]
    for c, p, h in zip(cells, ps, holm, strict=True):
        assert c["p_value"] == pytest.approx(p, rel=1e-9)
        assert c["p_value_adjusted"] == pytest.approx(h, rel=1e-9)
        assert c["rule"] == "SEQUENTIAL"  # no planned sample size


@pytest.mark.parametrize(("doc", "message"), [
    ({}, "experiments"),
    ({"experiments": [{"key": "e", "variants": ["a"], "metrics": []}]}, "at least two variants"),
    ({"experiments": [{"key": "e", "variants": ["a", "b"], "metrics": [
        {"name": "m", "stats": {"a": {"n": 5, "sum_y": 1, "sum_y2": 1}}}]}]}, "no stats for variants"),
    ({"experiments": [{"key": "e", "variants": ["a", "b"], "metrics": [
        {"name": "m", "kind": "median", "stats": {}}]}]}, "unknown metric kind"),
    ({"experiments": [{"key": "e", "variants": ["a", "b"], "metrics": [{"name": "m", "stats": {
        "a": {"n": 5, "sum_y": "x", "sum_y2": 1}, "b": {"n": 5, "sum_y": 1, "sum_y2": 1}}}]}]}, "must be a number"),
])
def test_analyze_rejects_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str], doc: dict[str, Any],
                                   message: str) -> None:
    f = tmp_path / "bad.json"
    f.write_text(json.dumps(doc))
    rc, _, err = _run(capsys, "analyze", "--input", str(f))
    assert rc == 2 and message in err


def test_analyze_degenerate_cell_reports_code_not_nan(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = {"experiments": [{"key": "e", "variants": ["c", "t"], "metrics": [{"name": "m", "stats": {
        "c": {"n": 1, "sum_y": 1, "sum_y2": 1}, "t": {"n": 10, "sum_y": 5, "sum_y2": 4}}}]}]}
    f = tmp_path / "in.json"
    f.write_text(json.dumps(doc))
    _, out, _ = _run(capsys, "analyze", "--input", str(f), "--json")
    cell = json.loads(out)["experiments"][0]["results"][0]
    assert cell["error"] == "N_TOO_SMALL" and cell["decision"] == "INVALID" and cell["p_value"] is None


def test_plan(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = _run(capsys, "plan", "--sd", "50", "--mde", "2", "--json")
    assert rc == 0 and json.loads(out)["n_per_arm"] == 9812
    rc, out, _ = _run(capsys, "plan", "--sd", "50", "--mde", "2")
    assert "9812 units per arm" in out
    rc, out, _ = _run(capsys, "plan", "--sd", "50", "--n", "9811.075636657808", "--json")
    assert json.loads(out)["mde"] == pytest.approx(2.0, rel=1e-8)
    rc, out, _ = _run(capsys, "plan", "--baseline", "0.1", "--mde", "0.05", "--relative", "--arms", "3", "--json")
    from statsmodels.stats.power import NormalIndPower

    ref = NormalIndPower().solve_power(effect_size=0.005 / np.sqrt(0.09), alpha=0.025, power=0.8)
    assert json.loads(out)["n_per_arm"] == int(np.ceil(ref))
    rc, _, err = _run(capsys, "plan", "--mde", "2")
    assert rc == 2 and "--sd" in err


def _pipeline(tmp_path: Path, days: int = 5, lift: float = 0.05) -> Path:
    """Cumulative daily sufficient statistics for one experiment, as the pipeline writes them."""
    rng = np.random.default_rng(12)
    rows = []
    acc: dict[tuple[str, str], dict[str, float]] = {}
    for day in range(days):
        as_of = dt.date(2026, 11, 1) + dt.timedelta(days=day)
        for v, mu in (("control", 10.0), ("treatment", 10.0 * (1 + lift))):
            x = rng.normal(10, 2, 2000)
            y = mu + 0.8 * (x - 10) + rng.normal(0, 2, 2000)
            conv = (rng.random(2000) < 0.1).astype(float)
            for metric, kind, s in (("revenue", "mean", sums(y, x)), ("converted", "proportion", sums(conv))):
                a = acc.setdefault((metric, v), dict.fromkeys(s, 0.0))
                for k in s:
                    a[k] += s[k]
                rows.append(row("exp1", metric, kind, v, as_of, a))
        rows.append(row("other", "revenue", "mean", "control", as_of, {"n": 5, "sum_y": 5, "sum_y2": 6}))
    return write(tmp_path / "stats" / "part-0.parquet", rows)


def test_results_reads_pipeline_output_and_plots(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _pipeline(tmp_path)
    meta = {"key": "exp1", "planned_sample_size": 50000, "variants": [{"key": "control", "weight": 5000},
                                                                       {"key": "treatment", "weight": 5000}],
            "metrics": [{"name": "revenue", "role": "primary"}, {"name": "converted", "role": "guardrail"}]}
    (tmp_path / "meta.json").write_text(json.dumps(meta))
    plots = tmp_path / "plots"
    rc, out, err = _run(capsys, "results", "exp1", "--data", str(tmp_path / "stats"), "--meta",
                        str(tmp_path / "meta.json"), "--plot", str(plots))
    assert rc == 0, err
    assert out.index("SRM check ok") < out.index("revenue [mean, primary]")
    assert "as of 2026-11-05" in out and "CUPED" in out
    pngs = sorted(p.name for p in plots.glob("*.png"))
    assert "exp1_effects.png" in pngs and "exp1_revenue_treatment_timeline.png" in pngs
    assert all((plots / p).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)
    rc, out, _ = _run(capsys, "results", "exp1", "--data", str(tmp_path / "stats"), "--json")
    doc = json.loads(out)
    revenue = next(c for c in doc["results"] if c["metric"] == "revenue")
    assert revenue["n_control"] == 10000 and revenue["cuped"] and revenue["decision"] == "WIN"
    assert revenue["rule"] == "SEQUENTIAL"  # no plan given: only the sequential test may decide
    rc, _, err = _run(capsys, "results", "nope", "--data", str(tmp_path / "stats"))
    assert rc == 2 and "no data" in err


def test_results_reads_the_pipeline_results_layout(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """<results>/sufficient_stats/<exp>.parquet beside dropped_units/ files of another schema."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    src = _pipeline(tmp_path / "tmp", days=2)
    results = tmp_path / "results"
    (results / "sufficient_stats").mkdir(parents=True)
    (results / "dropped_units").mkdir()
    table = pq.read_table(src)
    # the pipeline writes analysis_period as int32
    table = table.set_column(1, pa.field("analysis_period", pa.int32()), table["analysis_period"].cast(pa.int32()))
    pq.write_table(table, results / "sufficient_stats" / "exp1.parquet")
    pq.write_table(pa.table({"experiment_key": ["exp1"], "dropped": [3]}), results / "dropped_units" / "exp1.parquet")
    rc, out, err = _run(capsys, "results", "exp1", "--data", str(results), "--json")
    assert rc == 0, err
    assert json.loads(out)["as_of"] == "2026-11-02"
