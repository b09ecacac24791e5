"""Every join rule of DESIGN.md section 6 on hand-computed fixtures (DuckDB engine).

Each test writes a handful of events, runs the pipeline and compares the
sufficient statistics with numbers worked out by hand in the comments.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from splitline.analytics.ingest.writer import compact, write_batch
from splitline.analytics.metrics import MetricDefinition, parse_metrics
from splitline.analytics.pipeline.duckdb_engine import DuckDBEngine
from splitline.analytics.pipeline.engine import PipelineResult, run_pipeline
from splitline.analytics.pipeline.tables import Period

from tests.analytics.events import DAY1, DAY2, DAY3, at, exposure, outcome, write_events

REVENUE = parse_metrics([{"name": "revenue", "kind": "mean", "event": "purchase"}])


def run(tmp_path: Path, exposures: list[dict[str, Any]], outcomes: list[dict[str, Any]],
        metrics: list[MetricDefinition] = REVENUE, **kwargs: Any) -> PipelineResult:
    write_events(tmp_path, exposures, outcomes)
    engine = DuckDBEngine()
    engine.bind_parquet(tmp_path)
    try:
        return run_pipeline(engine, metrics, **kwargs)
    finally:
        engine.close()


def rows(result: PipelineResult) -> dict[tuple[Any, ...], dict[str, Any]]:
    """(metric, variant, as_of, period) -> the statistics columns."""
    out = {}
    for r in result.stats.to_pylist():
        key = (r.pop("metric"), r.pop("variant"), r.pop("as_of"), r.pop("analysis_period"))
        r.pop("experiment_key")
        r.pop("metric_kind")
        out[key] = r
    return out


def _dot(a: list[float], b: list[float]) -> float:
    return sum(p * q for p, q in zip(a, b, strict=True))


def stat(n: int, y: list[float], x: list[float] | None = None, d: list[float] | None = None,
         e: list[float] | None = None) -> dict[str, Any]:
    """Expected sufficient statistics from per-unit values written out by hand.

    y: value (ratio numerator), x: pre-period covariate (ratio: pre-period numerator), d: ratio
    denominator, e: ratio pre-period denominator.
    """
    x = x or [0.0] * n
    d = d or [0.0] * n
    e = e or [0.0] * n
    assert len(y) == len(x) == len(d) == len(e) == n
    return {"n": n, "sum_y": sum(y), "sum_y2": _dot(y, y), "sum_x": sum(x), "sum_x2": _dot(x, x),
            "sum_xy": _dot(x, y), "sum_d": sum(d), "sum_d2": _dot(d, d), "sum_yd": _dot(y, d),
            "sum_e": sum(e), "sum_e2": _dot(e, e), "sum_xe": _dot(x, e), "sum_ye": _dot(y, e),
            "sum_dx": _dot(d, x), "sum_de": _dot(d, e)}


def test_pre_exposure_outcome_ignored_but_gives_the_covariate(tmp_path: Path) -> None:
    # u1 exposed 10:00; purchase 5 at 09:00 (before: covariate only), 7 at 11:00 (counts).
    result = run(tmp_path, [exposure("e1", "u1", "control", at(DAY1, 10))],
                 [outcome("o1", "u1", "purchase", 5.0, at(DAY1, 9)),
                  outcome("o2", "u1", "purchase", 7.0, at(DAY1, 11))])
    assert rows(result) == {("revenue", "control", DAY1, 0): stat(1, [7.0], x=[5.0])}


def test_cuped_window_is_cuped_days_before_the_first_exposure(tmp_path: Path) -> None:
    metrics = parse_metrics([{"name": "revenue", "kind": "mean", "event": "purchase", "cuped_days": 1}])
    # exposure DAY3 10:00; window [DAY2 10:00, DAY3 10:00): 2 at DAY2 11:00 in, 4 at DAY2 09:00 out.
    result = run(tmp_path, [exposure("e1", "u1", "control", at(DAY3, 10))],
                 [outcome("o1", "u1", "purchase", 2.0, at(DAY2, 11)),
                  outcome("o2", "u1", "purchase", 4.0, at(DAY2, 9)),
                  outcome("o3", "u1", "purchase", 4.0, at(DAY2, 10))], metrics)
    # DAY2 10:00 exactly is inside the half-open window: x = 2 + 4 = 6, y = 0.
    assert rows(result) == {("revenue", "control", DAY3, 0): stat(1, [0.0], x=[6.0])}


def test_metrics_with_different_windows_and_a_repeated_name_in_one_run(tmp_path: Path) -> None:
    """Each metric reads its own CUPED window; a name listed twice counts once."""
    metrics = parse_metrics([
        {"name": "short", "kind": "mean", "event": "purchase", "cuped_days": 1},
        {"name": "long", "kind": "mean", "events": ["purchase", "purchase"], "cuped_days": 14},
        {"name": "buyers", "kind": "proportion", "event": "purchase", "cuped_days": 1},
    ])
    # exposure DAY3 10:00: 2 at DAY2 11:00 (in both windows), 4 at DAY1 09:00 (only in the 14-day
    # one), 8 at DAY3 12:00 (after: y).
    result = run(tmp_path, [exposure("e1", "u1", "control", at(DAY3, 10))],
                 [outcome("o1", "u1", "purchase", 2.0, at(DAY2, 11)),
                  outcome("o2", "u1", "purchase", 4.0, at(DAY1, 9)),
                  outcome("o3", "u1", "purchase", 8.0, at(DAY3, 12))], metrics)
    assert rows(result) == {
        ("short", "control", DAY3, 0): stat(1, [8.0], x=[2.0]),
        ("long", "control", DAY3, 0): stat(1, [8.0], x=[6.0]),
        ("buyers", "control", DAY3, 0): stat(1, [1.0], x=[1.0]),
    }


def test_first_exposure_gives_start_time_whatever_the_file_order(tmp_path: Path) -> None:
    # u1's exposures arrive out of order: the 08:00 one is first, so the 09:00 purchase counts.
    result = run(tmp_path, [exposure("e2", "u1", "treatment", at(DAY1, 12)),
                            exposure("e1", "u1", "treatment", at(DAY1, 8))],
                 [outcome("o1", "u1", "purchase", 3.0, at(DAY1, 9))])
    assert rows(result) == {("revenue", "treatment", DAY1, 0): stat(1, [3.0])}


def test_units_without_outcomes_count_as_zero(tmp_path: Path) -> None:
    # u1 buys 4 and 6 (y=10), u2 nothing (y=0), both control: n=2, Σy=10, Σy²=100.
    result = run(tmp_path, [exposure("e1", "u1", "control", at(DAY1, 1)),
                            exposure("e2", "u2", "control", at(DAY1, 2))],
                 [outcome("o1", "u1", "purchase", 4.0, at(DAY1, 3)),
                  outcome("o2", "u1", "purchase", 6.0, at(DAY1, 4))])
    assert rows(result) == {("revenue", "control", DAY1, 0): stat(2, [10.0, 0.0])}


def test_multi_variant_units_dropped_from_the_day_of_their_second_variant_and_counted(tmp_path: Path) -> None:
    # u1 control all along; u2 control on DAY1, treatment on DAY2 -> in control as of DAY1, dropped from DAY2.
    result = run(tmp_path, [exposure("e1", "u1", "control", at(DAY1, 1)),
                            exposure("e2", "u2", "control", at(DAY1, 2)),
                            exposure("e3", "u2", "treatment", at(DAY2, 5))],
                 [outcome("o1", "u2", "purchase", 8.0, at(DAY1, 3)),
                  outcome("o2", "u1", "purchase", 1.0, at(DAY2, 6))])
    assert rows(result) == {
        ("revenue", "control", DAY1, 0): stat(2, [0.0, 8.0]),
        ("revenue", "control", DAY2, 0): stat(1, [1.0]),
    }
    assert result.dropped.to_pylist() == [
        {"experiment_key": "exp", "analysis_period": 0, "as_of": DAY1, "dropped_units": 0},
        {"experiment_key": "exp", "analysis_period": 0, "as_of": DAY2, "dropped_units": 1},
    ]


def test_forced_exposures_excluded(tmp_path: Path) -> None:
    # u1 only forced: absent. u2 forced into treatment, hashed into control: control, not multi-variant.
    result = run(tmp_path, [exposure("e1", "u1", "treatment", at(DAY1, 1), forced=True),
                            exposure("e2", "u2", "treatment", at(DAY1, 1), forced=True),
                            exposure("e3", "u2", "control", at(DAY1, 2))],
                 [outcome("o1", "u1", "purchase", 9.0, at(DAY1, 3)),
                  outcome("o2", "u2", "purchase", 2.0, at(DAY1, 3))])
    assert rows(result) == {("revenue", "control", DAY1, 0): stat(1, [2.0])}
    assert result.dropped.column("dropped_units").to_pylist() == [0]


def test_duplicate_events_counted_once(tmp_path: Path) -> None:
    # the same exposure and the same purchase delivered twice (at-least-once): n=1, y=5.
    result = run(tmp_path, [exposure("e1", "u1", "control", at(DAY1, 1)),
                            exposure("e1", "u1", "control", at(DAY1, 1))],
                 [outcome("o1", "u1", "purchase", 5.0, at(DAY1, 2)),
                  outcome("o1", "u1", "purchase", 5.0, at(DAY1, 2))])
    assert rows(result) == {("revenue", "control", DAY1, 0): stat(1, [5.0])}


def test_cumulative_by_day_and_analysis_end(tmp_path: Path) -> None:
    # u1 (DAY1) buys 1 on DAY1, 2 on DAY2, 4 on DAY3; u2 exposed DAY2 buys 8 on DAY3 at 12:00.
    # end = DAY3 12:00 (exclusive): the DAY3 12:00 purchase is out, the DAY3 06:00 one is in.
    result = run(tmp_path, [exposure("e1", "u1", "control", at(DAY1, 1)),
                            exposure("e2", "u2", "control", at(DAY2, 1))],
                 [outcome("o1", "u1", "purchase", 1.0, at(DAY1, 2)),
                  outcome("o2", "u1", "purchase", 2.0, at(DAY2, 2)),
                  outcome("o3", "u1", "purchase", 4.0, at(DAY3, 6)),
                  outcome("o4", "u2", "purchase", 8.0, at(DAY3, 12))],
                 end=at(DAY3, 12))
    assert rows(result) == {
        ("revenue", "control", DAY1, 0): stat(1, [1.0]),
        ("revenue", "control", DAY2, 0): stat(2, [3.0, 0.0]),
        ("revenue", "control", DAY3, 0): stat(2, [7.0, 0.0]),
    }


def test_outcomes_of_another_unit_type_do_not_match(tmp_path: Path) -> None:
    result = run(tmp_path, [exposure("e1", "42", "control", at(DAY1, 1))],
                 [outcome("o1", "42", "purchase", 5.0, at(DAY1, 2), unit_type="session_id")])
    assert rows(result) == {("revenue", "control", DAY1, 0): stat(1, [0.0])}


def test_metric_kinds(tmp_path: Path) -> None:
    metrics = parse_metrics([
        {"name": "revenue", "kind": "mean", "event": "purchase"},
        {"name": "converted", "kind": "proportion", "event": "purchase"},
        {"name": "clicks", "kind": "count", "events": ["click", "tap"]},
        {"name": "aov", "kind": "ratio", "event": "purchase", "denominator_events": ["purchase"],
         "denominator_value": "count"},
    ])
    # u1: purchases 10 and 20, one click, one tap; purchase 3 before exposure (covariate).
    # u2: one click only. Both treatment.
    result = run(tmp_path, [exposure("e1", "u1", "treatment", at(DAY1, 5)),
                            exposure("e2", "u2", "treatment", at(DAY1, 5))],
                 [outcome("o0", "u1", "purchase", 3.0, at(DAY1, 4)),
                  outcome("o1", "u1", "purchase", 10.0, at(DAY1, 6)),
                  outcome("o2", "u1", "purchase", 20.0, at(DAY1, 7)),
                  outcome("o3", "u1", "click", 99.0, at(DAY1, 8)),
                  outcome("o4", "u1", "tap", 99.0, at(DAY1, 8)),
                  outcome("o5", "u2", "click", 1.0, at(DAY1, 9))], metrics)
    assert rows(result) == {
        ("revenue", "treatment", DAY1, 0): stat(2, [30.0, 0.0], x=[3.0, 0.0]),
        ("converted", "treatment", DAY1, 0): stat(2, [1.0, 0.0], x=[1.0, 0.0]),
        ("clicks", "treatment", DAY1, 0): stat(2, [2.0, 1.0]),
        # ratio: y = Σ purchase value, d = number of purchases; the covariate is the same ratio's
        # pre-period numerator x (purchase 3) and denominator e (one purchase).
        ("aov", "treatment", DAY1, 0): stat(2, [30.0, 0.0], x=[3.0, 0.0], d=[2.0, 0.0], e=[1.0, 0.0]),
    }


def test_analysis_periods_start_afresh(tmp_path: Path) -> None:
    # Period 0: [DAY1, DAY2), period 1: [DAY2, DAY3). u1 control in 0, treatment in 1 (a re-allocation,
    # not a multi-variant unit); its DAY2 purchase belongs to period 1 only.
    periods = [Period("exp", 0, dt.datetime(2026, 1, 1), dt.datetime(2026, 1, 2)),
               Period("exp", 1, dt.datetime(2026, 1, 2), dt.datetime(2026, 1, 3))]
    result = run(tmp_path, [exposure("e1", "u1", "control", at(DAY1, 1)),
                            exposure("e2", "u1", "treatment", at(DAY2, 1))],
                 [outcome("o1", "u1", "purchase", 2.0, at(DAY1, 2)),
                  outcome("o2", "u1", "purchase", 5.0, at(DAY2, 2))], periods=periods)
    assert rows(result) == {
        ("revenue", "control", DAY1, 0): stat(1, [2.0]),
        # period 1's covariate window (14 days before DAY2 01:00) sees the DAY1 purchase.
        ("revenue", "treatment", DAY2, 1): stat(1, [5.0], x=[2.0]),
    }
    assert result.dropped.column("dropped_units").to_pylist() == [0, 0]


def test_experiments_filter_and_empty_outcomes(tmp_path: Path) -> None:
    result = run(tmp_path, [exposure("e1", "u1", "a", at(DAY1, 1), experiment="one"),
                            exposure("e2", "u1", "b", at(DAY1, 1), experiment="two")], [],
                 experiments=["two"])
    assert [(r["experiment_key"], r["variant"], r["n"]) for r in result.stats.to_pylist()] == [("two", "b", 1)]


def test_copies_count_once_before_compaction_after_it_and_beside_a_compacted_file(tmp_path: Path) -> None:
    """A redelivered batch is deduplicated by the pipeline until compaction, by compaction after it,
    and again by the pipeline when a later copy lands beside a compacted file (layout.py)."""
    exposures = [exposure("e1", "u1", "control", at(DAY1, 1))]
    purchase = [outcome("o1", "u1", "purchase", 5.0, at(DAY1, 2))]
    write_batch(tmp_path, "exposures", exposures, "b0")
    write_batch(tmp_path, "outcomes", purchase, "b1")
    write_batch(tmp_path, "outcomes", purchase, "b2")  # the same events again, under another batch id

    def revenue() -> tuple[dict[str, Any], list[Any]]:
        engine = DuckDBEngine()
        engine.bind_parquet(tmp_path)
        flags = sorted(engine.query("SELECT compacted FROM outcomes").column("compacted").to_pylist())
        result = rows(run_pipeline(engine, REVENUE))[("revenue", "control", DAY1, 0)]
        engine.close()
        return result, flags

    assert revenue() == (stat(1, [5.0]), [False, False])
    assert compact(tmp_path) == 2
    assert revenue() == (stat(1, [5.0]), [True])
    write_batch(tmp_path, "outcomes", purchase, "b3")
    assert revenue() == (stat(1, [5.0]), [False, False])
