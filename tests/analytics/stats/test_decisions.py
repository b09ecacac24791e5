"""Decision rules: which rule decides, before and at the horizon, guardrails, SRM, errors."""

from __future__ import annotations

import numpy as np
import pytest
from splitline.analytics.stats import Decision, Effects, Role, Rule, SufficientStats, analyze, decide


def _effects(shift: float, n: float, seed: int = 0) -> Effects:
    """One two-arm experiment of normal data (sd 1) with the given shift, as sums."""
    rng = np.random.default_rng(seed)
    y0, y1 = rng.normal(10, 1, int(n)), rng.normal(10 + shift, 1, int(n))
    s = SufficientStats.from_arrays(n=[n, n], sum_y=[y0.sum(), y1.sum()], sum_y2=[(y0**2).sum(), (y1**2).sum()])
    return analyze(s, planned_n=5000)


def _decide(shift: float, n: float, role: Role, *, direction: int = 1, planned: float = 5000,
            srm: bool = False, threshold: float = 0.0) -> tuple[Decision, Rule]:
    e = _effects(shift, n)
    d = decide(e, role=role, direction=direction, planned_n=planned, alpha=0.05,
               p_adjusted=e.p_value, seq_p_adjusted=e.seq_p_value,
               srm_blocked=srm, guardrail_threshold=threshold)
    return Decision(int(d.decision[0])), Rule(int(d.rule[0]))


def test_before_horizon_only_sequential_decides() -> None:
    # a small effect: fixed-horizon p < 0.05 but the sequence is not yet conclusive
    e = _effects(0.15, 400, seed=0)
    assert e.p_value[0] < 0.05 < e.seq_p_value[0]
    assert _decide(0.15, 400, Role.PRIMARY) == (Decision.CONTINUE, Rule.SEQUENTIAL)
    # a large effect: the sequential test may call it early
    assert _decide(0.5, 400, Role.PRIMARY) == (Decision.WIN, Rule.SEQUENTIAL)
    assert _decide(0.5, 400, Role.PRIMARY, direction=-1) == (Decision.LOSE, Rule.SEQUENTIAL)


def test_at_horizon_fixed_horizon_decides() -> None:
    assert _decide(0.1, 5000, Role.PRIMARY) == (Decision.WIN, Rule.FIXED_HORIZON)
    assert _decide(0.0, 5000, Role.PRIMARY) == (Decision.INCONCLUSIVE, Rule.FIXED_HORIZON)
    # no plan: the fixed-horizon p-value never decides
    assert _decide(0.0, 5000, Role.PRIMARY, planned=0)[1] is Rule.SEQUENTIAL


def test_guardrails_are_always_sequential_with_threshold() -> None:
    # lower is better (an error metric): +5% relative (0.5 on a mean of 10) is a degradation
    assert _decide(0.5, 5000, Role.GUARDRAIL, direction=-1) == (Decision.BREACH, Rule.SEQUENTIAL)
    assert _decide(0.5, 5000, Role.GUARDRAIL, direction=-1, threshold=0.2) == (Decision.GUARDRAIL_OK,
                                                                               Rule.SEQUENTIAL)
    assert _decide(0.5, 5000, Role.GUARDRAIL, direction=1) == (Decision.GUARDRAIL_OK, Rule.SEQUENTIAL)
    assert _decide(0.0, 5000, Role.GUARDRAIL, direction=-1)[0] is Decision.GUARDRAIL_OK


@pytest.mark.parametrize("role", list(Role))
def test_srm_blocks_every_role(role: Role) -> None:
    assert _decide(0.5, 5000, role, srm=True) == (Decision.BLOCKED, Rule.SRM)


def test_errors_are_invalid() -> None:
    s = SufficientStats.from_arrays(n=[1, 100], sum_y=[1, 50], sum_y2=[1, 60])
    e = analyze(s)
    d = decide(e, role=Role.PRIMARY, direction=1, planned_n=10, alpha=0.05, p_adjusted=e.p_value,
               seq_p_adjusted=e.seq_p_value)
    assert (Decision(int(d.decision[0])), Rule(int(d.rule[0]))) == (Decision.INVALID, Rule.ERROR)
