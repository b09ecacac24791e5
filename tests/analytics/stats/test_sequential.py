"""mSPRT: seeded A/A and A/B simulations with 100 looks, fully vectorised (runs in seconds)."""

from __future__ import annotations

import numpy as np
import pytest
from splitline.analytics.stats import MetricKind, SufficientStats, analyze, msprt

SIMS, LOOKS, PER_LOOK = 2000, 100, 50  # units per arm added between looks
ALPHA = 0.05
MC = 3 * np.sqrt(ALPHA * (1 - ALPHA) / SIMS)  # three Monte Carlo standard errors


def _looks(rng: np.random.Generator, mu: tuple[float, float], sd: float = 1.0) -> SufficientStats:
    """Cumulative sums at every look, shape (SIMS, LOOKS, 2), simulated exactly from normal rows.

    For k normal rows, sum ~ N(k mu, k sd^2) and the within-batch sum of squares ~ sd^2 chi2(k-1),
    independent of the sum; sum_y2 = SS + sum^2 / k. So these are the sums of real normal samples.
    """
    k = PER_LOOK
    mean = np.asarray(mu)
    batch_sum = rng.normal(k * mean, sd * np.sqrt(k), (SIMS, LOOKS, 2))
    batch_ss = sd**2 * rng.chisquare(k - 1, (SIMS, LOOKS, 2)) + batch_sum**2 / k
    n = k * np.arange(1, LOOKS + 1, dtype=float)[None, :, None] * np.ones((SIMS, 1, 2))
    return SufficientStats.from_arrays(n=n, sum_y=batch_sum.cumsum(1), sum_y2=batch_ss.cumsum(1))


def test_aa_naive_peeking_inflates_msprt_does_not() -> None:
    rng = np.random.default_rng(20261123)
    e = analyze(_looks(rng, (0.0, 0.0)), alpha=ALPHA, planned_n=PER_LOOK * LOOKS)
    naive = (e.p_value[..., 0] < ALPHA).any(axis=1).mean()
    seq = (e.seq_p_value[..., 0] < ALPHA).any(axis=1).mean()
    only_final = (e.p_value[:, -1, 0] < ALPHA).mean()
    assert naive > 0.15, naive  # repeated significance testing: far above 5%
    assert seq <= ALPHA + MC, seq
    assert abs(only_final - ALPHA) < MC  # the fixed-horizon test is fine when read once
    # the confidence sequence covers the true effect (0) at every look whenever the p-value says so
    excluded = (e.cs_low[..., 0] > 0) | (e.cs_high[..., 0] < 0)
    np.testing.assert_array_equal(excluded, e.seq_p_value[..., 0] < ALPHA)


def test_proportions_aa_msprt_holds_alpha() -> None:
    rng = np.random.default_rng(99)
    conv = rng.binomial(PER_LOOK, 0.1, (SIMS, LOOKS, 2)).astype(float).cumsum(1)
    n = PER_LOOK * np.arange(1, LOOKS + 1, dtype=float)[None, :, None] * np.ones((SIMS, 1, 2))
    s = SufficientStats.from_arrays(n=n, sum_y=conv, sum_y2=conv)
    e = analyze(s, MetricKind.PROPORTION, planned_n=PER_LOOK * LOOKS)
    assert (e.seq_p_value[..., 0] < ALPHA).any(axis=1).mean() <= ALPHA + MC


def test_msprt_detects_a_true_effect() -> None:
    rng = np.random.default_rng(7)
    # effect 0.06 sd: the fixed-horizon test at 5,000 per arm has ~80% power
    e = analyze(_looks(rng, (0.0, 0.06)), alpha=ALPHA, planned_n=PER_LOOK * LOOKS)
    detected = (e.seq_p_value[..., 0] < ALPHA).any(axis=1)
    wrong_sign = ((e.seq_p_value[..., 0] < ALPHA) & (e.effect[..., 0] < 0)).any(axis=1)
    assert detected.mean() > 0.6, detected.mean()
    assert wrong_sign.mean() < 0.01


def test_msprt_formula_against_direct_mixture_integral() -> None:
    """Λ by numerical integration of the normal likelihood ratio over the N(0, τ²) mixture."""
    effect, var, tau2 = 0.3, 0.01, 0.05
    grid = np.linspace(-3, 3, 200001)
    prior = np.exp(-grid**2 / (2 * tau2)) / np.sqrt(2 * np.pi * tau2)
    lr = np.exp((grid * effect - grid**2 / 2) / var)
    lam = np.trapezoid(prior * lr, grid)
    p, half = msprt(np.array(effect), np.array(var), np.array(tau2), ALPHA)
    assert float(p) == pytest.approx(min(1.0, 1 / lam), rel=1e-6)
    # at the sequence's edge θ0 = Δ̂ ± half, the test of θ0 sees Δ̂ − θ0 = ∓half: Λ = 1/α exactly
    edge = float(half)
    lam_edge = np.trapezoid(prior * np.exp((grid * edge - grid**2 / 2) / var), grid)
    assert lam_edge == pytest.approx(1 / ALPHA, rel=1e-6)
