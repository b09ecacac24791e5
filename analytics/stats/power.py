"""Sample size and minimum detectable effect for a two-sided, two-sample z-test.

The planner's numbers feed the engine (the planned sample size fixes the fixed-horizon decision
point and tunes the mSPRT mixture), so they must match the reference implementation: the power
function is statsmodels' `NormalIndPower` (both rejection tails counted, equal arms), solved by
Newton's method rather than the one-tail closed form, and the sample size is rounded up.
With several treatment arms, α is split Bonferroni-style over the arm-versus-control comparisons.
Vectorised: every argument broadcasts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import special
from splitline.analytics.stats.statistics import FloatArray


@dataclass(frozen=True)
class Plan:
    """A sample-size plan; arrays broadcast from the inputs."""

    n_per_arm: FloatArray  # rounded up
    n_total: FloatArray
    n_per_arm_exact: FloatArray  # before rounding, for comparisons
    alpha_per_comparison: FloatArray
    mde: FloatArray  # absolute
    sd: FloatArray


def _ndtri(p: ArrayLike) -> FloatArray:
    return np.asarray(special.ndtri(p), dtype=np.float64)


def _solve_u(z: FloatArray, power: FloatArray) -> FloatArray:
    """Solve Φ(u − z) + Φ(−u − z) = power for u ≥ 0 (u = standardised effect · sqrt(n/2))."""
    u = z + _ndtri(power)  # one-tail solution: the other tail adds only a little power
    for _ in range(20):
        f = special.ndtr(u - z) + special.ndtr(-u - z) - power
        g = (np.exp(-0.5 * (u - z) ** 2) - np.exp(-0.5 * (u + z) ** 2)) / np.sqrt(2 * np.pi)
        step = f / g
        u = u - step
        if np.all(np.abs(step) < 1e-13 * np.maximum(1.0, np.abs(u))):
            break
    return np.asarray(u, dtype=np.float64)


def _check(alpha: FloatArray, power: FloatArray, arms: FloatArray) -> None:
    if np.any((alpha <= 0) | (alpha >= 1)):
        raise ValueError("alpha must be in (0, 1)")
    if np.any((power <= 0) | (power >= 1)):
        raise ValueError("power must be in (0, 1)")
    if np.any(arms < 2):
        raise ValueError("at least two arms are needed")


def proportion_sd(baseline: ArrayLike) -> FloatArray:
    """Per-unit standard deviation of a conversion rate: sqrt(p (1 − p))."""
    p = np.asarray(baseline, dtype=np.float64)
    if np.any((p <= 0) | (p >= 1)):
        raise ValueError("a proportion baseline must be in (0, 1)")
    return np.asarray(np.sqrt(p * (1.0 - p)), dtype=np.float64)


def sample_size(sd: ArrayLike, mde: ArrayLike, *, alpha: ArrayLike = 0.05, power: ArrayLike = 0.8,
                arms: ArrayLike = 2) -> Plan:
    """Units per arm to detect an absolute effect `mde` on a metric with per-unit s.d. `sd`.

    n = 2 (u σ / MDE)², u solving the two-tailed power equation at α / (arms − 1).
    σ = 50, MDE = 2, α = 0.05, power 0.8 → 9,812 per arm (statsmodels: 9,811.1).
    """
    s = np.asarray(sd, dtype=np.float64)
    d = np.asarray(mde, dtype=np.float64)
    a = np.asarray(alpha, dtype=np.float64)
    pw = np.asarray(power, dtype=np.float64)
    k = np.asarray(arms, dtype=np.float64)
    _check(a, pw, k)
    if np.any(s <= 0) or np.any(d == 0):
        raise ValueError("sd must be positive and mde non-zero")
    a_cmp = a / (k - 1.0)
    u = _solve_u(_ndtri(1.0 - a_cmp / 2.0), pw)
    exact = 2.0 * (u * s / np.abs(d)) ** 2
    n = np.ceil(exact - 1e-9)
    return Plan(n_per_arm=n, n_total=n * k, n_per_arm_exact=exact,
                alpha_per_comparison=np.asarray(a_cmp, dtype=np.float64),
                mde=np.asarray(np.abs(d), dtype=np.float64), sd=s)


def minimum_detectable_effect(sd: ArrayLike, n_per_arm: ArrayLike, *, alpha: ArrayLike = 0.05,
                              power: ArrayLike = 0.8, arms: ArrayLike = 2) -> FloatArray:
    """The absolute effect detectable with `n_per_arm` units per arm: MDE = u σ sqrt(2 / n)."""
    s = np.asarray(sd, dtype=np.float64)
    n = np.asarray(n_per_arm, dtype=np.float64)
    a = np.asarray(alpha, dtype=np.float64)
    pw = np.asarray(power, dtype=np.float64)
    k = np.asarray(arms, dtype=np.float64)
    _check(a, pw, k)
    if np.any(n <= 0) or np.any(s <= 0):
        raise ValueError("n_per_arm and sd must be positive")
    u = _solve_u(_ndtri(1.0 - a / (k - 1.0) / 2.0), pw)
    return np.asarray(u * s * np.sqrt(2.0 / n), dtype=np.float64)
