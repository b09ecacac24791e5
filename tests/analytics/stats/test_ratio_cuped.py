"""CUPED for ratio metrics (delta method) against an independent unit-level implementation.

Each unit has a numerator y and denominator d in the experiment, and a pre-period numerator x and
denominator e. The reference works on the unit arrays only: the linearised values
L_y = (y − R d)/mean(d) and L_x = (x − R_x e)/mean(e), θ from statsmodels OLS of L_y on L_x over all
arms pooled, and the adjusted arm variance as the sample variance of the adjusted unit values
L_y − θ L_x — never the engine's sums or formulas.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pytest
import statsmodels.api as sm
from scipy import stats as sst
from splitline.analytics.stats import ErrorCode, MetricKind, SufficientStats, analyze
from splitline.analytics.stats.model import parse_input
from splitline.analytics.stats.pipeline import inputs_from_rows, load_rows
from splitline.analytics.stats.statistics import SUM_FIELDS

from tests.analytics.stats import parquet_fixture
from tests.analytics.stats.helpers import Arr, stats_of, sums

REL = 1e-9
NEW_FIELDS = ("sum_e", "sum_e2", "sum_xe", "sum_ye", "sum_dx", "sum_de")


class Units(NamedTuple):
    y: Arr
    d: Arr
    x: Arr
    e: Arr


def _units(rng: np.random.Generator, n: int | tuple[int, ...], lift: float = 0.0, *,
           heterogeneity: float = 30.0) -> Units:
    """Clicks over views: a unit's activity λ and click propensity p drive both periods, so the
    pre-period ratio predicts the in-experiment one (more strongly for smaller `heterogeneity`,
    the Beta concentration of p)."""
    shape = (n,) if isinstance(n, int) else n
    lam = rng.lognormal(1.2, 0.7, shape)
    p = rng.beta(0.3 * heterogeneity, 0.7 * heterogeneity, shape)
    e = rng.poisson(lam) + 1.0
    d = rng.poisson(lam) + 1.0
    x = rng.binomial(e.astype(np.int64), p).astype(np.float64)
    y = rng.binomial(d.astype(np.int64), np.clip(p * (1.0 + lift), 0.0, 1.0)).astype(np.float64)
    return Units(y, d, x, e)


class Reference(NamedTuple):
    theta: float
    means: list[float]  # adjusted ratio per arm
    variances: list[float]  # per-unit variance of the adjusted linearised values, per arm
    raw_variances: list[float]


def _reference(arms: list[Units]) -> Reference:
    y, d, x, e = (np.concatenate([getattr(a, f) for a in arms]) for f in Units._fields)
    r_all, rx_all = y.sum() / d.sum(), x.sum() / e.sum()
    ly = (y - r_all * d) / d.mean()
    lx = (x - rx_all * e) / e.mean()
    theta = float(sm.OLS(ly, sm.add_constant(lx)).fit().params[1])
    means, variances, raw = [], [], []
    for a in arms:
        r, rx = a.y.sum() / a.d.sum(), a.x.sum() / a.e.sum()
        ly_a = (a.y - r * a.d) / a.d.mean()
        lx_a = (a.x - rx * a.e) / a.e.mean()
        means.append(float(r - theta * (rx - rx_all)))
        variances.append(float(np.var(ly_a - theta * lx_a, ddof=1)))
        raw.append(float(np.var(ly_a, ddof=1)))
    return Reference(theta, means, variances, raw)


def _welch(m0: float, v0: float, n0: int, m1: float, v1: float, n1: int) -> tuple[float, float, float, float]:
    """(effect, se, df, p) of a Welch test from per-arm means and per-unit variances."""
    a0, a1 = v0 / n0, v1 / n1
    se = float(np.sqrt(a0 + a1))
    df = (a0 + a1) ** 2 / (a0**2 / (n0 - 1) + a1**2 / (n1 - 1))
    t = (m1 - m0) / se
    return m1 - m0, se, float(df), float(2 * sst.t.sf(abs(t), df))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ratio_cuped_matches_unit_level_reference(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n0, n1 = (int(v) for v in rng.integers(2000, 6000, size=2))
    arms = [_units(rng, n0), _units(rng, n1, lift=0.03)]
    ref = _reference(arms)
    e = analyze(stats_of([sums(a.y, a.x, a.d, a.e) for a in arms]), MetricKind.RATIO)
    assert e.error[0] == ErrorCode.OK
    assert bool(e.cuped[0])
    assert e.theta[0] == pytest.approx(ref.theta, rel=REL)
    assert e.control_mean[0] == pytest.approx(ref.means[0], rel=REL)
    assert e.treatment_mean[0] == pytest.approx(ref.means[1], rel=REL)
    effect, se, df, p = _welch(ref.means[0], ref.variances[0], n0, ref.means[1], ref.variances[1], n1)
    assert e.effect[0] == pytest.approx(effect, rel=REL)
    assert e.se[0] == pytest.approx(se, rel=REL)
    assert e.df[0] == pytest.approx(df, rel=REL)
    assert e.p_value[0] == pytest.approx(p, rel=1e-8)
    q = sst.t.ppf(0.975, df)
    assert e.ci_low[0] == pytest.approx(effect - q * se, rel=REL)
    assert e.ci_high[0] == pytest.approx(effect + q * se, rel=REL)
    _, raw_se, _, _ = _welch(0.0, ref.raw_variances[0], n0, 0.0, ref.raw_variances[1], n1)
    assert e.variance_reduction[0] == pytest.approx(1 - se**2 / raw_se**2, rel=1e-8)


def test_ratio_cuped_three_arms_pooled_theta() -> None:
    rng = np.random.default_rng(17)
    arms = [_units(rng, n, lift) for n, lift in ((1500, 0.0), (1700, 0.05), (1600, -0.04))]
    ref = _reference(arms)
    e = analyze(stats_of([sums(a.y, a.x, a.d, a.e) for a in arms]), MetricKind.RATIO)
    for t in (1, 2):
        effect, se, _, p = _welch(ref.means[0], ref.variances[0], len(arms[0].y),
                                  ref.means[t], ref.variances[t], len(arms[t].y))
        assert e.theta[t - 1] == pytest.approx(ref.theta, rel=REL)
        assert e.effect[t - 1] == pytest.approx(effect, rel=REL)
        assert e.se[t - 1] == pytest.approx(se, rel=REL)
        assert e.p_value[t - 1] == pytest.approx(p, rel=1e-8)


def test_ratio_cuped_narrows_the_interval_when_the_pre_period_predicts() -> None:
    rng = np.random.default_rng(4)
    # small Beta concentration: propensities differ a lot between units, so x/e predicts y/d well
    arms = [_units(rng, 4000, heterogeneity=2.0), _units(rng, 4000, 0.05, heterogeneity=2.0)]
    s = stats_of([sums(a.y, a.x, a.d, a.e) for a in arms])
    on, off = analyze(s, MetricKind.RATIO), analyze(s, MetricKind.RATIO, cuped=False)
    assert bool(on.cuped[0]) and not bool(off.cuped[0])
    assert on.ci_high[0] - on.ci_low[0] < 0.8 * (off.ci_high[0] - off.ci_low[0])
    assert on.cs_high[0] - on.cs_low[0] < off.cs_high[0] - off.cs_low[0]
    assert on.variance_reduction[0] > 0.3
    assert on.variance_reduction[0] == pytest.approx(1 - (on.se[0] / off.se[0]) ** 2, rel=1e-9)
    # the unadjusted figures are the plain delta-method ratio
    assert off.effect[0] == pytest.approx(arms[1].y.sum() / arms[1].d.sum() - arms[0].y.sum() / arms[0].d.sum(),
                                          rel=REL)


def test_ratio_cuped_aa_false_positive_rate_and_coverage() -> None:
    """2,000 seeded A/A experiments in one engine call: rejections at α = 0.05 within binomial noise."""
    rng = np.random.default_rng(2026)
    sims, n = 2000, 400
    u = _units(rng, (sims, 2, n), heterogeneity=3.0)
    cols = {"n": float(n), "sum_y": u.y.sum(-1), "sum_y2": (u.y**2).sum(-1), "sum_x": u.x.sum(-1),
            "sum_x2": (u.x**2).sum(-1), "sum_xy": (u.x * u.y).sum(-1), "sum_d": u.d.sum(-1),
            "sum_d2": (u.d**2).sum(-1), "sum_yd": (u.y * u.d).sum(-1), "sum_e": u.e.sum(-1),
            "sum_e2": (u.e**2).sum(-1), "sum_xe": (u.x * u.e).sum(-1), "sum_ye": (u.y * u.e).sum(-1),
            "sum_dx": (u.d * u.x).sum(-1), "sum_de": (u.d * u.e).sum(-1)}
    e = analyze(SufficientStats.from_arrays(**cols), MetricKind.RATIO)
    assert e.shape == (sims, 1)
    assert bool(np.all(e.cuped)) and bool(np.all(e.error == ErrorCode.OK))
    tol = 3 * np.sqrt(0.05 * 0.95 / sims)
    fpr = float(np.mean(e.p_value[:, 0] < 0.05))
    assert abs(fpr - 0.05) < tol, fpr
    covered = float(np.mean((e.ci_low[:, 0] < 0) & (e.ci_high[:, 0] > 0)))
    assert abs(covered - 0.95) < tol, covered
    # and the adjustment is worth having on this data
    assert float(np.median(e.variance_reduction)) > 0.2
    # every cell of the batch equals the same experiment analysed alone
    for i in (0, 777, sims - 1):
        one = analyze(SufficientStats.from_arrays(**{k: v if np.ndim(v) == 0 else v[i] for k, v in cols.items()}),
                      MetricKind.RATIO)
        assert one.p_value[0] == pytest.approx(e.p_value[i, 0], rel=1e-12)
        assert one.theta[0] == pytest.approx(e.theta[i, 0], rel=1e-12)


def _ratio_stats(seed: int, with_e: bool) -> tuple[SufficientStats, list[Units]]:
    rng = np.random.default_rng(seed)
    arms = [_units(rng, 3000), _units(rng, 3100, 0.04)]
    return stats_of([sums(a.y, a.x, a.d, a.e if with_e else None) for a in arms]), arms


def _assert_same(a: object, b: object) -> None:
    for f in a.__dataclass_fields__:  # type: ignore[attr-defined]
        np.testing.assert_array_equal(getattr(a, f), getattr(b, f), err_msg=f)


def test_without_the_new_fields_a_ratio_is_unadjusted_as_before() -> None:
    s, arms = _ratio_stats(12, with_e=False)
    assert all(float(getattr(s, f).sum()) == 0.0 for f in NEW_FIELDS)
    plain = analyze(s, MetricKind.RATIO)
    assert not bool(plain.cuped[0]) and plain.theta[0] == 0 and plain.variance_reduction[0] == 0
    assert plain.error[0] == ErrorCode.OK
    # the same numbers as with CUPED switched off, as with the pre-period numerator dropped too, and
    # as with the new sums present but CUPED off: x alone never adjusts a ratio
    _assert_same(plain, analyze(s, MetricKind.RATIO, cuped=False))
    no_x = stats_of([sums(a.y, d=a.d) for a in arms])
    _assert_same(plain, analyze(no_x, MetricKind.RATIO))
    full, _ = _ratio_stats(12, with_e=True)
    _assert_same(plain, analyze(full, MetricKind.RATIO, cuped=False))
    # the unadjusted delta method, independently: Welch on z = (y − R d)/mean(d) per arm
    zs = [(a.y - a.y.sum() / a.d.sum() * a.d) / a.d.mean() for a in arms]
    se = np.sqrt(sum(z.var(ddof=1) / len(z) for z in zs))
    assert plain.se[0] == pytest.approx(se, rel=REL)


@pytest.mark.parametrize("kind", [MetricKind.MEAN, MetricKind.PROPORTION, MetricKind.COUNT])
def test_the_new_fields_do_not_touch_other_kinds(kind: MetricKind) -> None:
    rng = np.random.default_rng(3)
    arms = [_units(rng, 500), _units(rng, 500)]
    ys = [(a.y > 0).astype(float) if kind is MetricKind.PROPORTION else a.y for a in arms]
    xs = [(a.x > 0).astype(float) if kind is MetricKind.PROPORTION else a.x for a in arms]
    base = stats_of([sums(y, x) for y, x in zip(ys, xs, strict=True)])
    extra = stats_of([sums(y, x, a.d, a.e) for y, x, a in zip(ys, xs, arms, strict=True)])
    with_d = SufficientStats.from_arrays(**{f: getattr(extra, f) if f in NEW_FIELDS else getattr(base, f)
                                            for f in SUM_FIELDS})
    _assert_same(analyze(base, kind), analyze(with_d, kind))


def test_fallback_when_an_arm_has_no_pre_period_denominator() -> None:
    s, _ = _ratio_stats(6, with_e=True)
    plain = analyze(s, MetricKind.RATIO, cuped=False)
    cols = s.as_dict()
    for f in NEW_FIELDS:
        cols[f] = np.array([cols[f][0], 0.0])  # treatment: no pre-period data at all
    e = analyze(SufficientStats.from_arrays(**cols), MetricKind.RATIO)
    assert not bool(e.cuped[0]) and e.error[0] == ErrorCode.OK
    _assert_same(plain, e)


def test_no_cuped_when_the_pre_period_ratio_does_not_vary() -> None:
    """x = 0.25 e for every unit: L_x ≡ 0, so there is nothing to adjust with."""
    rng = np.random.default_rng(8)
    arms = [_units(rng, 800), _units(rng, 800)]
    arms = [a._replace(e=4.0 * np.ceil(a.e), x=np.ceil(a.e)) for a in arms]
    s = stats_of([sums(a.y, a.x, a.d, a.e) for a in arms])
    e = analyze(s, MetricKind.RATIO)
    assert not bool(e.cuped[0]) and e.error[0] == ErrorCode.OK
    _assert_same(analyze(s, MetricKind.RATIO, cuped=False), e)


def test_mixed_batch_equals_separate_calls() -> None:
    """Ratio and mean cells side by side in one call: each equals its own call."""
    s, _ = _ratio_stats(9, with_e=True)
    rng = np.random.default_rng(10)
    x0, x1 = rng.normal(10, 2, 900), rng.normal(10, 2, 950)
    m = stats_of([sums(x0 + rng.normal(0, 1, 900), x0), sums(x1 + rng.normal(0.2, 1, 950), x1)])
    both = SufficientStats.from_arrays(**{f: np.stack([getattr(s, f), getattr(m, f)]) for f in SUM_FIELDS})
    e = analyze(both, [MetricKind.RATIO, MetricKind.MEAN])
    for row, (single, kind) in enumerate(((s, MetricKind.RATIO), (m, MetricKind.MEAN))):
        alone = analyze(single, kind)
        assert bool(e.cuped[row, 0]) and bool(alone.cuped[0])
        for f in ("effect", "se", "p_value", "theta", "control_mean", "cs_low"):
            assert getattr(e, f)[row, 0] == pytest.approx(getattr(alone, f)[0], rel=1e-12), f


def test_negative_pre_period_sum_of_squares_is_a_negative_count() -> None:
    s, _ = _ratio_stats(1, with_e=True)
    cols = s.as_dict()
    cols["sum_e2"] = np.array([-1.0, cols["sum_e2"][1]])
    e = analyze(SufficientStats.from_arrays(**cols), MetricKind.RATIO)
    assert ErrorCode(int(e.error[0])) is ErrorCode.NEGATIVE_COUNT and np.isnan(e.p_value[0])


def test_json_input_new_fields_optional() -> None:
    s, _ = _ratio_stats(2, with_e=True)
    old = {k: [float(v) for v in getattr(s, k)] for k in SUM_FIELDS if k not in NEW_FIELDS}
    new = {k: [float(v) for v in getattr(s, k)] for k in SUM_FIELDS}

    def doc(cols: dict[str, list[float]]) -> dict[str, object]:
        return {"experiments": [{"key": "exp", "variants": ["control", "treatment"], "metrics": [{
            "name": "ctr", "kind": "ratio",
            "stats": {v: {k: c[i] for k, c in cols.items()} for i, v in enumerate(("control", "treatment"))},
        }]}]}

    (parsed_old,), _ = parse_input(doc(old))
    (parsed_new,), _ = parse_input(doc(new))
    for f in NEW_FIELDS:
        assert list(getattr(parsed_old.stats, f)[0]) == [0.0, 0.0]
        assert list(getattr(parsed_new.stats, f)[0]) == pytest.approx(list(getattr(s, f)))
    assert not bool(analyze(parsed_old.stats, MetricKind.RATIO).cuped[0, 0])
    assert bool(analyze(parsed_new.stats, MetricKind.RATIO).cuped[0, 0])


def _parquet_rows(s: SufficientStats, exp: str, fields: tuple[str, ...]) -> list[dict[str, object]]:
    day = dt.date(2026, 11, 20)
    return [parquet_fixture.row(exp, "ctr", "ratio", v, day, {f: float(getattr(s, f)[i]) for f in fields})
            for i, v in enumerate(("control", "treatment"))]


def test_parquet_new_columns_optional(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    s, _ = _ratio_stats(5, with_e=True)
    old_fields = tuple(f for f in SUM_FIELDS if f not in NEW_FIELDS)
    # "a-old" sorts first: the folder's first file has the old schema, the second the new one
    parquet_fixture.write(tmp_path / "a-old.parquet", _parquet_rows(s, "old", old_fields))
    new_schema = pa.schema([*parquet_fixture.SCHEMA, *[(f, pa.float64()) for f in NEW_FIELDS]])
    new_rows = _parquet_rows(s, "new", old_fields)
    for r, i in zip(new_rows, (0, 1), strict=True):
        r.update({f: float(getattr(s, f)[i]) for f in NEW_FIELDS})
    pq.write_table(pa.Table.from_pylist(new_rows, schema=new_schema), tmp_path / "b-new.parquet")

    only_old = inputs_from_rows(load_rows(tmp_path / "a-old.parquet"))
    assert [x.key for x in only_old] == ["old"]
    assert all(float(getattr(only_old[0].stats, f).sum()) == 0.0 for f in NEW_FIELDS)

    both = {x.key: x for x in inputs_from_rows(load_rows(tmp_path))}
    assert set(both) == {"old", "new"}
    for f in NEW_FIELDS:
        assert float(getattr(both["old"].stats, f).sum()) == 0.0
        np.testing.assert_allclose(getattr(both["new"].stats, f)[0], getattr(s, f), rtol=1e-15)
    old_eff = analyze(both["old"].stats, MetricKind.RATIO)
    new_eff = analyze(both["new"].stats, MetricKind.RATIO)
    assert not bool(old_eff.cuped[0, 0]) and bool(new_eff.cuped[0, 0])
    assert new_eff.p_value[0, 0] == pytest.approx(analyze(s, MetricKind.RATIO).p_value[0], rel=1e-12)
