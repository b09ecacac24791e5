"""The engine against independent implementations: scipy, numpy on raw rows, statsmodels OLS."""

from __future__ import annotations

import numpy as np
import pytest
import statsmodels.api as sm
from scipy import stats as sst
from splitline.analytics.stats import ErrorCode, MetricKind, SufficientStats, analyze

from tests.analytics.stats.helpers import stats_of, sums

REL = 1e-9


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_welch_matches_scipy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n0, n1 = rng.integers(20, 3000, size=2)
    y0 = rng.lognormal(1.0, 0.8, n0)
    y1 = rng.lognormal(1.05, 0.9, n1)
    e = analyze(stats_of([sums(y0), sums(y1)]))
    ref = sst.ttest_ind(y1, y0, equal_var=False)
    ci = ref.confidence_interval(0.95)
    assert e.error[0] == ErrorCode.OK
    assert e.t_stat[0] == pytest.approx(ref.statistic, rel=REL)
    assert e.p_value[0] == pytest.approx(ref.pvalue, rel=REL)
    assert e.df[0] == pytest.approx(ref.df, rel=REL)
    assert e.ci_low[0] == pytest.approx(ci.low, rel=REL)
    assert e.ci_high[0] == pytest.approx(ci.high, rel=REL)
    assert e.effect[0] == pytest.approx(y1.mean() - y0.mean(), rel=REL)


def test_welch_vectorised_batch_and_multi_arm_match_scipy() -> None:
    """A (4 experiments x 3 metrics x 3 variants) batch: every cell equals its own scipy call."""
    rng = np.random.default_rng(42)
    shape = (4, 3)
    rows: dict[tuple[int, int, int], np.ndarray] = {}
    cols: dict[str, np.ndarray] = {k: np.zeros((*shape, 3)) for k in SufficientStats.FIELDS}
    for i in range(4):
        for j in range(3):
            for v in range(3):
                y = rng.normal(5 + 0.1 * v, 1 + j, rng.integers(30, 400))
                rows[i, j, v] = y
                for k, val in sums(y).items():
                    cols[k][i, j, v] = val
    e = analyze(SufficientStats.from_arrays(**cols))
    assert e.shape == (4, 3, 2)
    for (i, j, v), y in rows.items():
        if v == 0:
            continue
        ref = sst.ttest_ind(y, rows[i, j, 0], equal_var=False)
        assert e.p_value[i, j, v - 1] == pytest.approx(ref.pvalue, rel=REL)
        assert e.t_stat[i, j, v - 1] == pytest.approx(ref.statistic, rel=REL)


def test_proportion_matches_scipy_on_zero_one_rows() -> None:
    rng = np.random.default_rng(7)
    y0 = (rng.random(8000) < 0.10).astype(float)
    y1 = (rng.random(8100) < 0.11).astype(float)
    e = analyze(stats_of([sums(y0), sums(y1)]), MetricKind.PROPORTION)
    ref = sst.ttest_ind(y1, y0, equal_var=False)
    assert e.p_value[0] == pytest.approx(ref.pvalue, rel=REL)
    assert e.rel_effect[0] == pytest.approx(y1.mean() / y0.mean() - 1, rel=REL)


def test_relative_and_ratio_intervals_cover_at_nominal_rate() -> None:
    """Delta-method intervals (lift, and ratio metrics) checked by coverage on seeded simulations."""
    rng = np.random.default_rng(11)
    sims, n = 4000, 400
    # lift: exponential metric, true means 2.0 and 2.2 -> true lift 10%
    y0 = rng.exponential(2.0, (sims, n))
    y1 = rng.exponential(2.2, (sims, n))
    s = SufficientStats.from_arrays(n=[n, n], sum_y=np.stack([y0.sum(1), y1.sum(1)], -1),
                                    sum_y2=np.stack([(y0**2).sum(1), (y1**2).sum(1)], -1))
    e = analyze(s)
    covered = (e.rel_ci_low[:, 0] < 0.1) & (e.rel_ci_high[:, 0] > 0.1)
    mc = 3 * np.sqrt(0.05 * 0.95 / sims)
    assert abs(covered.mean() - 0.95) < mc + 0.01
    # ratio: clicks / views per unit, true ratio 0.3 in both arms (effect 0)
    d = rng.poisson(5, (sims, 2, n)).astype(float) + 1
    y = rng.binomial(d.astype(int), 0.3).astype(float)
    r = SufficientStats.from_arrays(n=n, sum_y=y.sum(-1), sum_y2=(y**2).sum(-1), sum_d=d.sum(-1),
                                    sum_d2=(d**2).sum(-1), sum_yd=(y * d).sum(-1))
    er = analyze(r, MetricKind.RATIO)
    covered_r = (er.ci_low[:, 0] < 0) & (er.ci_high[:, 0] > 0)
    assert abs(covered_r.mean() - 0.95) < mc + 0.01


def test_ratio_equals_welch_on_linearised_rows() -> None:
    """Independent delta method: per-unit z = (y − R d) / mean(d), then scipy's Welch on z."""
    rng = np.random.default_rng(5)
    arms = []
    zs = []
    for mu in (0.30, 0.33):
        d = rng.poisson(4, 3000).astype(float) + 1
        y = rng.binomial(d.astype(int), mu).astype(float)
        r = y.sum() / d.sum()
        zs.append((y - r * d) / d.mean())
        arms.append((y, d, r))
    e = analyze(stats_of([sums(y, d=d) for y, d, _ in arms]), MetricKind.RATIO)
    ref = sst.ttest_ind(zs[1], zs[0], equal_var=False)
    assert e.effect[0] == pytest.approx(arms[1][2] - arms[0][2], rel=REL)
    # each arm's z has mean 0, so Welch's statistic on z is 0; its standard error and df are the test
    se_ref = np.sqrt(zs[1].var(ddof=1) / len(zs[1]) + zs[0].var(ddof=1) / len(zs[0]))
    assert e.se[0] == pytest.approx(se_ref, rel=REL)
    assert e.df[0] == pytest.approx(ref.df, rel=1e-9)


def _cuped_data(seed: int, n0: int = 5000, n1: int = 5100, rho: float = 0.7) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    x0, x1 = rng.normal(10, 2, n0), rng.normal(10, 2, n1)
    noise = np.sqrt(1 - rho**2)
    y0 = 10 + rho * (x0 - 10) + noise * 2 * rng.normal(size=n0)
    y1 = 10.25 + rho * (x1 - 10) + noise * 2 * rng.normal(size=n1)
    return x0, y0, x1, y1


def test_cuped_matches_numpy_pooled_theta() -> None:
    x0, y0, x1, y1 = _cuped_data(3)
    x, y = np.concatenate([x0, x1]), np.concatenate([y0, y1])
    theta = np.cov(y, x, ddof=1)[0, 1] / np.var(x, ddof=1)
    a0, a1 = y0 - theta * (x0 - x.mean()), y1 - theta * (x1 - x.mean())
    ref = sst.ttest_ind(a1, a0, equal_var=False)
    e = analyze(stats_of([sums(y0, x0), sums(y1, x1)]))
    assert bool(e.cuped[0])
    assert e.theta[0] == pytest.approx(theta, rel=REL)
    assert e.effect[0] == pytest.approx(a1.mean() - a0.mean(), rel=REL)
    assert e.se[0] == pytest.approx(np.sqrt(a1.var(ddof=1) / len(a1) + a0.var(ddof=1) / len(a0)), rel=REL)
    assert e.p_value[0] == pytest.approx(ref.pvalue, rel=1e-8)
    assert e.control_mean[0] == pytest.approx(a0.mean(), rel=REL)


def test_cuped_close_to_statsmodels_ancova() -> None:
    """OLS y ~ 1 + treat + x uses the within-arm slope: within 1% of a standard error of pooled θ."""
    x0, y0, x1, y1 = _cuped_data(8)
    e = analyze(stats_of([sums(y0, x0), sums(y1, x1)]))
    treat = np.r_[np.zeros(len(y0)), np.ones(len(y1))]
    design = sm.add_constant(np.column_stack([treat, np.r_[x0, x1]]))
    ols = sm.OLS(np.r_[y0, y1], design).fit()
    assert abs(e.effect[0] - ols.params[1]) < 0.01 * e.se[0]
    assert e.se[0] == pytest.approx(ols.bse[1], rel=0.02)
    assert abs(e.effect[0] - ols.params[1]) > 0  # pooled θ is not the within-arm slope


def test_cuped_variance_reduction_is_one_minus_rho_squared() -> None:
    rho = 0.7
    x0, y0, x1, y1 = _cuped_data(9, 20000, 20000, rho)
    e = analyze(stats_of([sums(y0, x0), sums(y1, x1)]))
    assert e.variance_reduction[0] == pytest.approx(rho**2, abs=0.02)
    off = analyze(stats_of([sums(y0, x0), sums(y1, x1)]), cuped=False)
    assert not off.cuped[0] and off.variance_reduction[0] == 0
    assert e.se[0] ** 2 == pytest.approx(off.se[0] ** 2 * (1 - rho**2), rel=0.05)


def test_no_covariate_means_no_cuped() -> None:
    rng = np.random.default_rng(1)
    e = analyze(stats_of([sums(rng.normal(size=100)), sums(rng.normal(size=100))]))
    assert not e.cuped[0] and e.theta[0] == 0


def _cell(**arms: list[float]) -> SufficientStats:
    base = {"n": [100.0, 100.0], "sum_y": [50.0, 55.0], "sum_y2": [60.0, 70.0]}
    base.update(arms)
    return SufficientStats.from_arrays(**base)


@pytest.mark.parametrize(("cols", "kind", "code"), [
    ({"n": [1.0, 100.0]}, MetricKind.MEAN, ErrorCode.N_TOO_SMALL),
    ({"n": [-5.0, 100.0]}, MetricKind.MEAN, ErrorCode.NEGATIVE_COUNT),
    ({"sum_y2": [-1.0, 70.0]}, MetricKind.MEAN, ErrorCode.NEGATIVE_COUNT),
    ({"sum_y": [50.0, float("nan")]}, MetricKind.MEAN, ErrorCode.NON_FINITE_INPUT),
    ({"sum_y": [150.0, 55.0], "sum_y2": [150.0, 55.0]}, MetricKind.PROPORTION, ErrorCode.INVALID_PROPORTION),
    ({"sum_y2": [10.0, 70.0]}, MetricKind.MEAN, ErrorCode.NEGATIVE_VARIANCE),
    ({"sum_y": [100.0, 100.0], "sum_y2": [100.0, 100.0]}, MetricKind.MEAN, ErrorCode.ZERO_VARIANCE),
    ({"sum_d": [0.0, 10.0]}, MetricKind.RATIO, ErrorCode.ZERO_DENOMINATOR),
])
def test_degenerate_input_gets_a_stable_code_and_nan(cols: dict[str, list[float]], kind: MetricKind,
                                                    code: ErrorCode) -> None:
    e = analyze(_cell(**cols), kind)
    assert ErrorCode(int(e.error[0])) is code
    assert code.fatal
    for field in ("effect", "p_value", "ci_low", "seq_p_value", "cs_high", "rel_effect"):
        assert np.isnan(getattr(e, field)[0]), field


def test_zero_control_mean_keeps_absolute_results() -> None:
    e = analyze(_cell(sum_y=[0.0, 5.0], sum_y2=[30.0, 40.0]))
    assert ErrorCode(int(e.error[0])) is ErrorCode.ZERO_CONTROL_MEAN
    assert np.isfinite(e.p_value[0]) and np.isnan(e.rel_effect[0])


def test_bad_cell_does_not_spoil_the_batch() -> None:
    good = _cell()
    bad = _cell(n=[1.0, 100.0])
    both = SufficientStats.from_arrays(**{k: np.stack([getattr(good, k), getattr(bad, k)])
                                          for k in SufficientStats.FIELDS})
    e = analyze(both)
    assert list(e.error[:, 0]) == [ErrorCode.OK, ErrorCode.N_TOO_SMALL]
    assert e.p_value[0, 0] == pytest.approx(analyze(good).p_value[0], rel=1e-12)


def test_invalid_arguments_raise() -> None:
    with pytest.raises(ValueError, match="alpha"):
        analyze(_cell(), alpha=1.5)
    with pytest.raises(ValueError, match="two variants"):
        analyze(SufficientStats.from_arrays(n=[10.0], sum_y=[1.0], sum_y2=[1.0]))
    with pytest.raises(TypeError, match="unknown"):
        SufficientStats.from_arrays(n=[1.0], sum_y=[1.0], sum_y2=[1.0], sum_z=[0.0])


def test_t_quantile_matches_scipy_across_df() -> None:
    from splitline.analytics.stats.engine import t_quantile

    df = np.concatenate([np.linspace(1.5, 400, 500), np.geomspace(400, 1e9, 200), [np.nan]])
    for prob in (0.975, 0.995, 0.95):
        got = t_quantile(df, prob)
        np.testing.assert_allclose(got[:-1], sst.t.ppf(prob, df[:-1]), rtol=1e-12)
        assert np.isnan(got[-1])


def test_cuped_three_arms_pooled_theta_matches_numpy() -> None:
    rng = np.random.default_rng(21)
    xs = [rng.normal(5, 1, n) for n in (800, 900, 1000)]
    ys = [2 + 0.9 * x + rng.normal(0, 1, len(x)) + 0.1 * i for i, x in enumerate(xs)]
    x_all, y_all = np.concatenate(xs), np.concatenate(ys)
    theta = np.cov(y_all, x_all)[0, 1] / np.var(x_all, ddof=1)
    adj = [y - theta * (x - x_all.mean()) for x, y in zip(xs, ys, strict=True)]
    e = analyze(stats_of([sums(y, x) for x, y in zip(xs, ys, strict=True)]))
    for t in (1, 2):
        ref = sst.ttest_ind(adj[t], adj[0], equal_var=False)
        assert e.effect[t - 1] == pytest.approx(adj[t].mean() - adj[0].mean(), rel=REL)
        assert e.p_value[t - 1] == pytest.approx(ref.pvalue, rel=1e-8)
        assert e.theta[t - 1] == pytest.approx(theta, rel=REL)
