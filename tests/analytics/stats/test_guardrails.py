"""Guardrail worker: pure decisions, and the worker loop over Parquet with a fake control plane."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import numpy as np
from splitline.analytics.stats.decisions import Role
from splitline.analytics.stats.guardrails import Alarm, Pause, Worker, evaluate
from splitline.analytics.stats.model import AnalysisConfig, ExperimentInput, MetricSpec
from splitline.analytics.stats.pipeline import ExperimentMeta
from splitline.analytics.stats.report import run
from splitline.analytics.stats.statistics import MetricKind, SufficientStats

from tests.analytics.stats.parquet_fixture import row, write

ERRORS = MetricSpec(name="errors", kind=MetricKind.PROPORTION, role=Role.GUARDRAIL, direction=-1,
                    guardrail_threshold=0.0)


class FakeControlPlane:
    def __init__(self, metas: dict[str, ExperimentMeta]) -> None:
        self.metas = metas
        self.paused: list[Pause] = []

    def running_experiments(self) -> dict[str, ExperimentMeta]:
        return {k: m for k, m in self.metas.items() if m.status == "EXPERIMENT_STATUS_RUNNING"}

    def pause(self, action: Pause) -> None:
        self.paused.append(action)
        m = self.metas[action.key]
        self.metas[action.key] = ExperimentMeta(key=m.key, variants=m.variants, weights=m.weights,
                                                metrics=m.metrics, version=m.version + 1,
                                                status="EXPERIMENT_STATUS_PAUSED")


def _meta(key: str) -> ExperimentMeta:
    return ExperimentMeta(key=key, variants=("control", "treatment"), weights=(5000.0, 5000.0),
                          planned_sample_size=100_000, metrics={"errors": ERRORS}, version=7,
                          status="EXPERIMENT_STATUS_RUNNING")


def test_worker_pauses_harmful_experiment_within_two_intervals_and_not_aa(tmp_path: Path) -> None:
    """Error rate 5% vs 6% (+20%) is paused by the 2nd look; an A/A experiment never is."""
    rng = np.random.default_rng(2026)
    cp = FakeControlPlane({"harmful": _meta("harmful"), "aa": _meta("aa")})
    rates = {"harmful": (0.05, 0.06), "aa": (0.05, 0.05)}
    per_interval = 20_000
    cum = {(e, v): 0.0 for e in rates for v in ("control", "treatment")}
    data = tmp_path / "stats"
    now = [0.0]
    worker = Worker(control=cp, data_path=str(data), config=AnalysisConfig(), clock=lambda: now[0])
    paused_at: dict[str, int] = {}
    for look in range(1, 5):
        rows = []
        for exp, (p0, p1) in rates.items():
            for v, p in (("control", p0), ("treatment", p1)):
                cum[exp, v] += rng.binomial(per_interval, p)
                k = cum[exp, v]
                rows.append(row(exp, "errors", "proportion", v, dt.date(2026, 11, 23),
                                {"n": look * per_interval, "sum_y": k, "sum_y2": k}))
        f = write(data / "part-0.parquet", rows)
        now[0] = os.stat(f).st_mtime + 60
        for a in worker.tick():
            assert not isinstance(a, Alarm), a
            paused_at.setdefault(a.key, look)
    assert paused_at == {"harmful": paused_at["harmful"]} and paused_at["harmful"] <= 2
    (pause,) = cp.paused
    assert pause.expected_version == 7
    assert "guardrail errors degraded in treatment" in pause.reason and "mSPRT p=" in pause.reason


def test_worker_alarms_on_lag_and_missing_data(tmp_path: Path) -> None:
    cp = FakeControlPlane({"x": _meta("x")})
    worker = Worker(control=cp, data_path=str(tmp_path / "none"), config=AnalysisConfig(), clock=lambda: 0.0)
    assert [a.kind for a in worker.tick() if isinstance(a, Alarm)] == ["LAG"]
    f = write(tmp_path / "s" / "p.parquet", [row("x", "errors", "proportion", v, dt.date(2026, 1, 1),
                                                  {"n": 100, "sum_y": 5, "sum_y2": 5})
                                              for v in ("control", "treatment")])
    worker = Worker(control=cp, data_path=str(tmp_path / "s"), config=AnalysisConfig(), max_lag_s=600,
                    clock=lambda: os.stat(f).st_mtime + 3600)
    (alarm,) = worker.tick()
    assert isinstance(alarm, Alarm) and alarm.kind == "LAG" and "3600s old" in alarm.message
    assert cp.paused == []


def _input(key: str, n: tuple[float, float], errs: tuple[float, float]) -> ExperimentInput:
    stats = SufficientStats.from_arrays(n=[list(n)], sum_y=[list(errs)], sum_y2=[list(errs)])
    return ExperimentInput(key=key, variants=("control", "treatment"), weights=(1.0, 1.0), metrics=(ERRORS,),
                           stats=stats, planned_sample_size=50_000)


def test_evaluate_srm_alarms_instead_of_pausing() -> None:
    reports = run([_input("srm", (50_000, 45_000), (2500, 3200))], AnalysisConfig())
    actions = evaluate(reports, {"srm": _meta("srm")}, data_age_s=1.0)
    assert [type(a) for a in actions] == [Alarm] and actions[0].kind == "SRM"  # type: ignore[union-attr]


def test_evaluate_respects_threshold() -> None:
    # +20% errors, clearly significant: paused at threshold 0 and 5%, not when 50% is tolerated
    reports = run([_input("e", (50_000, 50_000), (2500, 3000))], AnalysisConfig())
    assert isinstance(evaluate(reports, {"e": _meta("e")}, data_age_s=1.0)[0], Pause)
    tolerant = MetricSpec(name="errors", kind=MetricKind.PROPORTION, role=Role.GUARDRAIL, direction=-1,
                          guardrail_threshold=0.5)
    base = _input("e", (50_000, 50_000), (2500, 3000))
    loose = ExperimentInput(key="e", variants=base.variants, weights=base.weights, metrics=(tolerant,),
                            stats=base.stats, planned_sample_size=50_000)
    assert evaluate(run([loose], AnalysisConfig()), {"e": _meta("e")}, data_age_s=1.0) == []


def test_worker_alarms_on_srm_of_any_running_experiment(tmp_path: Path) -> None:
    primary_only = MetricSpec(name="revenue", kind=MetricKind.MEAN, role=Role.PRIMARY)
    meta = ExperimentMeta(key="skewed", variants=("control", "treatment"), weights=(5000.0, 5000.0),
                          metrics={"revenue": primary_only}, version=3, status="EXPERIMENT_STATUS_RUNNING")
    cp = FakeControlPlane({"skewed": meta})
    f = write(tmp_path / "s" / "p.parquet", [
        row("skewed", "revenue", "mean", v, dt.date(2026, 1, 1), {"n": n, "sum_y": n * 10.0, "sum_y2": n * 101.0})
        for v, n in (("control", 52_000), ("treatment", 48_000))])
    worker = Worker(control=cp, data_path=str(tmp_path / "s"), config=AnalysisConfig(),
                    clock=lambda: os.stat(f).st_mtime)
    (alarm,) = worker.tick()
    assert isinstance(alarm, Alarm) and alarm.kind == "SRM" and alarm.key == "skewed"
    assert cp.paused == []
