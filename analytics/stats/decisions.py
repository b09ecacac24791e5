"""Decisions that respect the peeking problem, and the rule that made each one.

Experimenters look at results every day; a fixed-horizon p-value read daily is wrong far more
often than 5% of the time. So, cell by cell:

1. the experiment has an SRM → BLOCKED (rule SRM): no metric result is trustworthy;
2. the cell has a fatal error code → INVALID (rule ERROR);
3. guardrail metrics → always the sequential test (rule SEQUENTIAL): BREACH when the confidence
   sequence shows, at level α, a degradation larger than the metric's tolerated relative
   threshold (0 = any degradation), else GUARDRAIL_OK; this is what lets the guardrail worker
   look every five minutes;
4. other metrics before the planned sample size (smallest compared arm < planned units per arm)
   → the sequential test only (rule SEQUENTIAL): WIN/LOSE when the multiplicity-adjusted
   always-valid p-value is below α, else CONTINUE;
5. other metrics at or past the planned sample size → the fixed-horizon Welch test (rule
   FIXED_HORIZON): WIN/LOSE when the adjusted p-value is below α, else INCONCLUSIVE.

WIN and LOSE follow the metric's direction (higher or lower is better).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from splitline.analytics.stats.engine import Effects
from splitline.analytics.stats.errors import ErrorCode


class Role(enum.IntEnum):
    PRIMARY = 0
    SECONDARY = 1
    GUARDRAIL = 2


class Decision(enum.IntEnum):
    CONTINUE = 0  # not enough evidence yet, keep running
    WIN = 1  # significant improvement
    LOSE = 2  # significant degradation
    INCONCLUSIVE = 3  # at the horizon, not significant
    GUARDRAIL_OK = 4
    BREACH = 5  # guardrail: significant degradation beyond the threshold
    BLOCKED = 6  # SRM: results withheld
    INVALID = 7  # see the cell's error code


class Rule(enum.IntEnum):
    SEQUENTIAL = 0
    FIXED_HORIZON = 1
    SRM = 2
    ERROR = 3


@dataclass(frozen=True)
class Decisions:
    decision: NDArray[np.int8]
    rule: NDArray[np.int8]


def decide(effects: Effects, *, role: ArrayLike, direction: ArrayLike, planned_n: ArrayLike,
           alpha: float, p_adjusted: ArrayLike, seq_p_adjusted: ArrayLike,
           srm_blocked: ArrayLike = False, guardrail_threshold: ArrayLike = 0.0) -> Decisions:
    """Decide every cell of `effects` (shape S); every other argument broadcasts to S.

    `direction` is +1 when higher is better, −1 when lower is better. `planned_n` is per arm;
    0 or NaN means "no plan", which keeps the metric on the sequential rule forever.
    """
    shape = effects.shape
    b = {name: np.broadcast_to(np.asarray(value), shape) for name, value in (
        ("role", role), ("direction", direction), ("planned", planned_n), ("p", p_adjusted),
        ("seq_p", seq_p_adjusted), ("srm", srm_blocked), ("thr", guardrail_threshold))}
    sign = np.where(b["direction"].astype(np.float64) < 0, -1.0, 1.0)
    better = sign * effects.effect > 0
    n_min = np.minimum(effects.n_control, effects.n_treatment)
    planned = b["planned"].astype(np.float64)
    at_horizon = (planned > 0) & (n_min >= planned)
    fatal = (effects.error != ErrorCode.OK) & (effects.error != ErrorCode.ZERO_CONTROL_MEAN)
    guardrail = b["role"] == Role.GUARDRAIL

    # guardrail breach: the sequence excludes every degradation up to the threshold
    thr = np.abs(b["thr"].astype(np.float64))
    have_rel = np.isfinite(effects.rel_cs_low)
    with np.errstate(invalid="ignore"):
        harm_rel = np.where(sign > 0, -effects.rel_cs_high, effects.rel_cs_low)  # lower bound of harm
        harm_abs = np.where(sign > 0, -effects.cs_high, effects.cs_low)
        breach = np.where(have_rel, harm_rel > thr, harm_abs > 0)
        seq_sig = b["seq_p"].astype(np.float64) < alpha
        fixed_sig = b["p"].astype(np.float64) < alpha

    win_lose = np.where(better, Decision.WIN, Decision.LOSE)
    decision = np.select(
        [b["srm"].astype(bool), fatal, guardrail, ~at_horizon, True],
        [Decision.BLOCKED, Decision.INVALID,
         np.where(breach, Decision.BREACH, Decision.GUARDRAIL_OK),
         np.where(seq_sig, win_lose, Decision.CONTINUE),
         np.where(fixed_sig, win_lose, Decision.INCONCLUSIVE)])
    rule = np.select(
        [b["srm"].astype(bool), fatal, guardrail | ~at_horizon, True],
        [Rule.SRM, Rule.ERROR, Rule.SEQUENTIAL, Rule.FIXED_HORIZON])
    return Decisions(decision=decision.astype(np.int8), rule=rule.astype(np.int8))
