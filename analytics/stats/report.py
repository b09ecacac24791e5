"""From typed experiment inputs to reports: one engine call per variant count, then names back.

Experiments with the same number of variants are stacked into one (rows, V) batch, so a file with
ten thousand experiments still costs a few numpy passes. Multiple-testing correction runs per
experiment over its non-guardrail metrics × treatment variants (guardrails are deliberately left
uncorrected: a guardrail exists to stop harm early, and correcting would slow it down).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from splitline.analytics.stats.decisions import Decision, Role, Rule, decide
from splitline.analytics.stats.engine import DEFAULT_PLANNED_N, Effects, analyze
from splitline.analytics.stats.errors import ErrorCode
from splitline.analytics.stats.model import AnalysisConfig, ExperimentInput
from splitline.analytics.stats.multiple import adjust
from splitline.analytics.stats.srm import SrmResult, srm_test
from splitline.analytics.stats.statistics import SUM_FIELDS, SufficientStats


@dataclass(frozen=True)
class CellResult:
    """One metric × treatment variant, in plain Python values (JSON-ready)."""

    metric: str
    kind: str
    role: str
    variant: str
    values: dict[str, Any]
    decision: str
    rule: str
    error: str


@dataclass(frozen=True)
class ExperimentReport:
    key: str
    analysis_period: int
    as_of: str
    planned_sample_size: float
    srm: dict[str, Any]
    cells: tuple[CellResult, ...]
    alarms: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key, "analysis_period": self.analysis_period, "as_of": self.as_of,
            "planned_sample_size": self.planned_sample_size, "srm": self.srm, "alarms": list(self.alarms),
            "results": [{"metric": c.metric, "kind": c.kind, "role": c.role, "variant": c.variant,
                         **c.values, "decision": c.decision, "rule": c.rule, "error": c.error}
                        for c in self.cells],
        }


_VALUE_FIELDS = ("n_control", "n_treatment", "control_mean", "treatment_mean", "effect", "se", "ci_low",
                 "ci_high", "rel_effect", "rel_ci_low", "rel_ci_high", "p_value", "seq_p_value",
                 "cs_low", "cs_high", "rel_cs_low", "rel_cs_high", "theta", "variance_reduction")


def _clean(x: float) -> float | None:
    """JSON has no NaN: a missing number is null, and the cell's error code says why."""
    return None if not math.isfinite(x) else x


def run(experiments: Sequence[ExperimentInput], config: AnalysisConfig) -> list[ExperimentReport]:
    """Analyse every experiment; the order of the output follows the input."""
    by_v: dict[int, list[int]] = defaultdict(list)
    for i, e in enumerate(experiments):
        by_v[len(e.variants)].append(i)
    reports: dict[int, ExperimentReport] = {}
    for v, idx in by_v.items():
        for i, rep in zip(idx, _run_group([experiments[i] for i in idx], v, config), strict=True):
            reports[i] = rep
    return [reports[i] for i in range(len(experiments))]


def _run_group(exps: Sequence[ExperimentInput], v: int, config: AnalysisConfig) -> list[ExperimentReport]:
    stats = SufficientStats.from_arrays(
        **{f: np.concatenate([getattr(e.stats, f) for e in exps], axis=0) for f in SUM_FIELDS})
    specs = [m for e in exps for m in e.metrics]
    exp_of_row = np.repeat(np.arange(len(exps)), [len(e.metrics) for e in exps])
    planned = np.array([e.planned_sample_size for e in exps])[exp_of_row]
    kind = np.array([m.kind for m in specs])
    role = np.array([m.role for m in specs])[:, None]
    eff = analyze(stats, kind, alpha=config.alpha,
                  planned_n=np.where(planned > 0, planned, DEFAULT_PLANNED_N),
                  cuped=np.array([m.cuped for m in specs]))
    srm = srm_test(np.array([e.srm_counts() for e in exps]), np.array([e.weights for e in exps]),
                   alpha=config.srm_alpha)

    # multiple testing: pad each experiment's family (non-guardrail cells) into one row
    width = max(len(e.metrics) for e in exps) * (v - 1)
    fam_p = np.full((len(exps), width), np.nan)
    fam_s = np.full((len(exps), width), np.nan)
    slots: list[np.ndarray] = []
    start = 0
    for j, e in enumerate(exps):
        m = len(e.metrics)
        cells = np.arange(m * (v - 1))
        guard = np.repeat(role[start:start + m, 0] == Role.GUARDRAIL, v - 1)
        fam_p[j, cells] = np.where(guard, np.nan, eff.p_value[start:start + m].ravel())
        fam_s[j, cells] = np.where(guard, np.nan, eff.seq_p_value[start:start + m].ravel())
        slots.append(cells)
        start += m
    adj_p_rows, adj_s_rows = adjust(fam_p, config.correction), adjust(fam_s, config.correction)
    p_adj = np.concatenate([adj_p_rows[j, s] for j, s in enumerate(slots)]).reshape(eff.shape)
    s_adj = np.concatenate([adj_s_rows[j, s] for j, s in enumerate(slots)]).reshape(eff.shape)
    is_guard = np.broadcast_to(role == Role.GUARDRAIL, eff.shape)
    p_adj = np.where(is_guard, eff.p_value, p_adj)
    s_adj = np.where(is_guard, eff.seq_p_value, s_adj)

    dec = decide(eff, role=role, direction=np.array([m.direction for m in specs])[:, None],
                 planned_n=planned[:, None], alpha=config.alpha, p_adjusted=p_adj, seq_p_adjusted=s_adj,
                 srm_blocked=srm.blocked[exp_of_row][:, None],
                 guardrail_threshold=np.array([m.guardrail_threshold for m in specs])[:, None])
    batch = _Batch(eff=eff, decision=dec.decision, rule=dec.rule, p_adj=p_adj, s_adj=s_adj, srm=srm,
                   exp_of_row=exp_of_row)
    return [_report(j, e, batch) for j, e in enumerate(exps)]


@dataclass(frozen=True)
class _Batch:
    eff: Effects
    decision: np.ndarray
    rule: np.ndarray
    p_adj: np.ndarray
    s_adj: np.ndarray
    srm: SrmResult
    exp_of_row: np.ndarray


def _report(j: int, e: ExperimentInput, b: _Batch) -> ExperimentReport:
    eff, decision, rule, p_adj, s_adj, srm = b.eff, b.decision, b.rule, b.p_adj, b.s_adj, b.srm
    rows = np.flatnonzero(b.exp_of_row == j)
    cells: list[CellResult] = []
    for r, spec in zip(rows, e.metrics, strict=True):
        for t, variant in enumerate(e.variants[1:]):
            values: dict[str, Any] = {f: _clean(float(getattr(eff, f)[r, t])) for f in _VALUE_FIELDS}
            values["p_value_adjusted"] = _clean(float(p_adj[r, t]))
            values["seq_p_value_adjusted"] = _clean(float(s_adj[r, t]))
            values["cuped"] = bool(eff.cuped[r, t])
            if spec.role == Role.GUARDRAIL:
                values["guardrail_threshold"] = spec.guardrail_threshold
            cells.append(CellResult(
                metric=spec.name, kind=spec.kind.name.lower(), role=spec.role.name.lower(),
                variant=variant, values=values, decision=Decision(int(decision[r, t])).name,
                rule=Rule(int(rule[r, t])).name,
                error=ErrorCode(int(eff.error[r, t])).name))
    p = float(srm.p_value[j])
    alarms: list[str] = []
    if bool(srm.blocked[j]):
        alarms.append(f"SRM: observed units {list(e.srm_counts())} do not match weights {list(e.weights)} "
                      f"(chi-square p = {p:.3g}); results are blocked")
    alarms.extend(f"GUARDRAIL {c.metric} ({c.variant}): significant degradation beyond threshold"
                  for c in cells if c.decision == Decision.BREACH.name)
    return ExperimentReport(
        key=e.key, analysis_period=e.analysis_period, as_of=e.as_of,
        planned_sample_size=e.planned_sample_size,
        srm={"chi2": _clean(float(srm.chi2[j])), "p_value": _clean(p), "blocked": bool(srm.blocked[j]),
             "units": list(e.srm_counts()), "weights": list(e.weights), "variants": list(e.variants)},
        cells=tuple(cells), alarms=tuple(alarms))


def _fmt(x: Any, spec: str = ".4g") -> str:
    return "—" if x is None else format(x, spec)


def format_text(report: ExperimentReport) -> str:
    """The human view: SRM banner first, then one table per metric."""
    s = report.srm
    planned = report.planned_sample_size
    lines = [f"experiment {report.key}  (period {report.analysis_period}"
             + (f", as of {report.as_of}" if report.as_of else "")
             + (f", planned {int(planned)} per arm)" if planned else ", no planned sample size)")]
    units = ", ".join(f"{v}={int(n)}" for v, n in zip(s["variants"], s["units"], strict=True))
    if s["blocked"]:
        lines.append(f"!! SRM DETECTED (p = {_fmt(s['p_value'], '.3g')}; units {units}) — results blocked")
    else:
        lines.append(f"SRM check ok (p = {_fmt(s['p_value'], '.3g')}; units {units})")
    for alarm in report.alarms:
        if not alarm.startswith("SRM"):
            lines.append(f"!! {alarm}")
    by_metric: dict[str, list[CellResult]] = defaultdict(list)
    for c in report.cells:
        by_metric[c.metric].append(c)
    for name, cells in by_metric.items():
        c0 = cells[0]
        lines.append("")
        if s["blocked"]:
            lines.append(f"{name} [{c0.kind}, {c0.role}]  results withheld until the SRM is explained")
            continue
        lines.append(f"{name} [{c0.kind}, {c0.role}]  control mean {_fmt(c0.values['control_mean'])}")
        lines.append(f"  {'variant':<14}{'effect':>11} {'95% CI':>23} {'lift':>8} {'p':>9} {'p adj':>9}"
                     f" {'seq p':>9}  {'CUPED':<5} {'decision':<13} rule")
        for c in cells:
            v = c.values
            ci = f"[{_fmt(v['ci_low'])}, {_fmt(v['ci_high'])}]"
            lift = "—" if v["rel_effect"] is None else f"{100 * v['rel_effect']:+.2f}%"
            dec = c.decision if c.error in ("OK", "ZERO_CONTROL_MEAN") else f"{c.decision}:{c.error}"
            lines.append(f"  {c.variant:<14}{_fmt(v['effect']):>11} {ci:>23} {lift:>8}"
                         f" {_fmt(v['p_value'], '.3g'):>9} {_fmt(v['p_value_adjusted'], '.3g'):>9}"
                         f" {_fmt(v['seq_p_value'], '.3g'):>9}  "
                         f"{'on' if v['cuped'] else 'off':<5} {dec:<13} {c.rule}")
    return "\n".join(lines)
