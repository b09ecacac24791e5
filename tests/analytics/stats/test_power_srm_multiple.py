"""Planner, SRM and multiple-testing corrections against statsmodels and scipy."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sst
from splitline.analytics.stats import (
    SRM_ALPHA,
    adjust,
    minimum_detectable_effect,
    proportion_sd,
    sample_size,
    srm_test,
)
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import NormalIndPower


def test_sample_size_reference_value_from_issue() -> None:
    plan = sample_size(50, 2, alpha=0.05, power=0.8)
    assert int(plan.n_per_arm) == 9812
    assert int(plan.n_total) == 2 * 9812


@pytest.mark.parametrize(("sd", "mde", "alpha", "power", "arms"), [
    (50, 2, 0.05, 0.8, 2), (1.0, 0.01, 0.01, 0.9, 2), (3.0, 0.5, 0.1, 0.5, 2), (10, 1, 0.05, 0.8, 4),
    (0.3, 0.2, 0.2, 0.95, 3),
])
def test_sample_size_matches_normal_ind_power(sd: float, mde: float, alpha: float, power: float,
                                              arms: int) -> None:
    a = alpha / (arms - 1)
    ref = NormalIndPower().solve_power(effect_size=mde / sd, alpha=a, power=power, ratio=1.0)
    plan = sample_size(sd, mde, alpha=alpha, power=power, arms=arms)
    # statsmodels' root finder stops at ~1e-7 relative; its power function at our n is exact
    assert float(plan.n_per_arm_exact) == pytest.approx(ref, rel=1e-6)
    at_n = NormalIndPower().power(effect_size=mde / sd, nobs1=float(plan.n_per_arm_exact), alpha=a)
    assert at_n == pytest.approx(power, rel=1e-10)
    assert int(plan.n_per_arm) == int(np.ceil(ref))
    back = minimum_detectable_effect(sd, float(plan.n_per_arm_exact), alpha=alpha, power=power, arms=arms)
    assert float(back) == pytest.approx(mde, rel=1e-8)
    achieved = NormalIndPower().power(effect_size=float(back) / sd, nobs1=float(plan.n_per_arm_exact),
                                      alpha=a)
    assert achieved == pytest.approx(power, rel=1e-8)


def test_sample_size_vectorised_and_proportion_sd() -> None:
    sd = proportion_sd([0.1, 0.2])
    plans = sample_size(sd, np.array([0.1, 0.2]) * 0.05)
    for i in range(2):
        ref = NormalIndPower().solve_power(effect_size=[0.005, 0.01][i] / sd[i], alpha=0.05, power=0.8)
        assert plans.n_per_arm_exact[i] == pytest.approx(ref, rel=1e-8)
    with pytest.raises(ValueError):
        sample_size(1, 0.1, power=1.0)
    with pytest.raises(ValueError):
        proportion_sd(1.5)


def test_srm_reference_value_uses_survival_function() -> None:
    r = srm_test([1_002_000, 987_000], [5000, 5000])
    assert float(r.p_value) > 0
    assert float(r.p_value) == pytest.approx(2.0e-26, rel=0.02)
    assert float(r.p_value) == pytest.approx(sst.chi2.sf(float(r.chi2), 1), rel=1e-12)
    assert bool(r.blocked)


def test_srm_multi_arm_batch_matches_scipy_chisquare() -> None:
    rng = np.random.default_rng(3)
    weights = np.array([[5000, 2500, 2500], [3334, 3333, 3333], [2000, 3000, 5000]], dtype=float)
    counts = np.array([rng.multinomial(30000, w / w.sum()) for w in weights], dtype=float)
    counts[2, 0] += 400  # a broken arm
    r = srm_test(counts, weights)
    for i in range(3):
        ref = sst.chisquare(counts[i], counts[i].sum() * weights[i] / weights[i].sum())
        assert r.chi2[i] == pytest.approx(ref.statistic, rel=1e-12)
        assert r.p_value[i] == pytest.approx(ref.pvalue, rel=1e-9)
    assert list(r.blocked) == [bool(p < SRM_ALPHA) for p in r.p_value]
    assert bool(r.blocked[2])


def test_srm_edge_cases() -> None:
    assert np.isnan(srm_test([0, 0], [1, 1]).p_value)
    assert bool(srm_test([500, 500, 3], [1, 1, 0]).blocked)  # units in a zero-weight arm
    assert not bool(srm_test([500, 505, 0], [1, 1, 0]).blocked)


@pytest.mark.parametrize(("method", "sm_method"), [("bh", "fdr_bh"), ("holm", "holm")])
def test_corrections_match_statsmodels(method: str, sm_method: str) -> None:
    rng = np.random.default_rng(17)
    p = rng.beta(0.4, 1.0, (50, 12))
    p[3, [1, 5]] = np.nan  # cells with an error are not part of the family
    p[7, 2] = p[7, 3]  # ties
    got = adjust(p, method)
    for row in range(50):
        ok = ~np.isnan(p[row])
        ref = multipletests(p[row, ok], method=sm_method)[1]
        np.testing.assert_allclose(got[row, ok], ref, rtol=1e-12)
        assert np.isnan(got[row, ~ok]).all()
    np.testing.assert_array_equal(adjust(p, "none")[~np.isnan(p)], p[~np.isnan(p)])
