"""The vectorised statistics engine: one pure function from sufficient statistics to effects.

Everything "is this significant" lives here (with `srm.py`, `power.py`, `multiple.py` for the
other questions). All functions work on arrays shaped `(..., V)` — variant 0 is control — and
return arrays shaped `(..., V-1)`, one cell per treatment-versus-control comparison, so ten
thousand experiments cost a handful of numpy passes instead of a Python loop.

Per cell the engine computes, in this order:

1. per-arm moments from the sums (sample variances with ddof=1, like scipy's Welch test);
   ratio metrics are linearised by the delta method (`y/d` around the arm's means);
2. CUPED (Deng, Xu, Kohavi, Walker 2013) when a covariate is present: one θ per
   (experiment, metric), *pooled over all arms*, θ = cov(y, x) / var(x) on the combined sample,
   so the adjustment is the same function for every arm and the difference stays unbiased;
   the adjusted arm mean is ȳ − θ(x̄ − x̄_all), its variance var(y) − 2θ cov(x, y) + θ² var(x).
   Ratio metrics (Deng, Knoblich, Lu 2018) use the same code on delta-method linearisations:
   the outcome R = ȳ/d̄ as L_y = (y − R d)/d̄ and the covariate, the pre-period ratio
   R_x = x̄/ē (x, e the pre-period numerator and denominator), as L_x = (x − R_x e)/ē; then
   θ = cov(L_y, L_x)/var(L_x) on the combined sample (linearised around the pooled ratios), the
   arm estimate R − θ(R_x − R_x,all) with R_x,all = Σx/Σe over all arms, its variance
   var(L_y) − 2θ cov(L_y, L_x) + θ² var(L_x) (each arm linearised around its own ratios).
   See `_covariate` and `cuped_adjust`;
3. Welch's t-test: absolute effect, Welch–Satterthwaite degrees of freedom, two-sided p-value and
   confidence interval; the relative effect (lift) with its delta-method variance;
4. mSPRT (Johari, Pekelis, Walsh 2017) with a normal mixture N(0, τ²) over the effect: the
   always-valid p-value 1/Λ and the confidence sequence. τ² is tuned so that the sequence is
   tightest at the planned sample size (as gbstats and Eppo do):
   τ² = V_h · (−2 ln α + ln(1 − 2 ln α)), V_h being the variance of the difference at the
   planned number of units per arm.

Degenerate cells get an `ErrorCode` (see errors.py) and NaN numbers — never a NaN without a reason.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import special
from splitline.analytics.stats.errors import ErrorCode
from splitline.analytics.stats.statistics import FloatArray, MetricKind, SufficientStats

DEFAULT_ALPHA = 0.05
# gbstats' default sequential tuning parameter: the horizon assumed when no plan exists.
DEFAULT_PLANNED_N = 5000.0
# A computed variance this far below zero (relative to the raw second moment) is a data error
# rather than rounding.
_NEG_VARIANCE_RTOL = 1e-9


@dataclass(frozen=True)
class Effects:
    """Treatment-versus-control results, every field shaped `(..., V-1)`.

    `p_value`/`ci_*` are the fixed-horizon (Welch) figures, valid only when read once, at the
    planned sample size; `seq_p_value`/`cs_*` are always valid, whenever they are read.
    """

    control_mean: FloatArray  # (CUPED-adjusted when cuped is True)
    treatment_mean: FloatArray
    n_control: FloatArray
    n_treatment: FloatArray
    effect: FloatArray  # absolute difference treatment − control
    se: FloatArray
    df: FloatArray  # Welch–Satterthwaite degrees of freedom
    t_stat: FloatArray
    p_value: FloatArray
    ci_low: FloatArray
    ci_high: FloatArray
    rel_effect: FloatArray  # treatment / control − 1
    rel_se: FloatArray
    rel_ci_low: FloatArray
    rel_ci_high: FloatArray
    seq_p_value: FloatArray  # mSPRT always-valid p-value at this look
    cs_low: FloatArray  # confidence sequence for the absolute effect
    cs_high: FloatArray
    rel_cs_low: FloatArray
    rel_cs_high: FloatArray
    cuped: NDArray[np.bool_]  # CUPED applied to this cell
    theta: FloatArray  # pooled CUPED θ (0 when off; for ratios: per unit of the pre-period ratio)
    variance_reduction: FloatArray  # 1 − Var(adjusted diff) / Var(raw diff) (0 when off)
    error: NDArray[np.int8]  # ErrorCode values

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.effect.shape)


def _div(a: FloatArray, b: FloatArray) -> FloatArray:
    """Division that yields NaN/inf silently; callers attach error codes to such cells."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.divide(a, b)


def _cov(sum_ab: FloatArray, sum_a: FloatArray, sum_b: FloatArray, n: FloatArray) -> FloatArray:
    """Sample covariance (ddof 1) from sums: (Σab − Σa · Σb/n) / (n − 1); a variance when a = b."""
    return _div(sum_ab - sum_a * _div(sum_b, n), n - 1.0)


def _delta_cov(cov_ab: FloatArray, cov_ae: FloatArray, cov_db: FloatArray, cov_de: FloatArray,
               r_a: FloatArray, r_b: FloatArray, mean_d: FloatArray, mean_e: FloatArray) -> FloatArray:
    """cov(L_a, L_b) of two ratios R_a = ā/d̄, R_b = b̄/ē linearised per unit by the delta method,
    L_a = (a − R_a d)/d̄ and L_b = (b − R_b e)/ē:
    (cov(a, b) − R_b cov(a, e) − R_a cov(d, b) + R_a R_b cov(d, e)) / (d̄ ē)."""
    return _div(cov_ab - r_b * cov_ae - r_a * cov_db + r_a * r_b * cov_de, mean_d * mean_e)


def _covariate(s: SufficientStats, is_ratio: NDArray[np.bool_]
               ) -> tuple[FloatArray, FloatArray, FloatArray]:
    """The CUPED covariate of each sample of `s` (arms, or `s.pooled()`), in the outcome's terms:
    (its mean c, cov(outcome, covariate), var(covariate)).

    Mean, proportion and count metrics: (x̄, cov(y, x), var(x)). Ratio metrics: the pre-period
    ratio R_x = x̄/ē and the delta-method linearisations L_y = (y − R d)/d̄, L_x = (x − R_x e)/ē:
    (R_x, cov(L_y, L_x), var(L_x)); NaN where a mean denominator is 0 (callers do not use it then).
    """
    n = s.n
    mean_x = _div(s.sum_x, n)
    cov_yx = _cov(s.sum_xy, s.sum_x, s.sum_y, n)
    var_x = _cov(s.sum_x2, s.sum_x, s.sum_x, n)
    if not np.any(is_ratio):  # a batch without ratio metrics skips their linearisation
        return mean_x, cov_yx, var_x
    mean_d, mean_e = _div(s.sum_d, n), _div(s.sum_e, n)
    r_y, r_x = _div(_div(s.sum_y, n), mean_d), _div(mean_x, mean_e)
    cov_xe = _cov(s.sum_xe, s.sum_x, s.sum_e, n)
    cov_l = _delta_cov(cov_yx, _cov(s.sum_ye, s.sum_y, s.sum_e, n), _cov(s.sum_dx, s.sum_d, s.sum_x, n),
                       _cov(s.sum_de, s.sum_d, s.sum_e, n), r_y, r_x, mean_d, mean_e)
    var_l = _delta_cov(var_x, cov_xe, cov_xe, _cov(s.sum_e2, s.sum_e, s.sum_e, n), r_x, r_x, mean_e, mean_e)
    return (np.where(is_ratio, r_x, mean_x), np.where(is_ratio, cov_l, cov_yx),
            np.where(is_ratio, var_l, var_x))


def cuped_adjust(mean: FloatArray, var: FloatArray, c: FloatArray, cov_c: FloatArray, var_c: FloatArray,
                 c_all: FloatArray, cov_all: FloatArray, var_all: FloatArray, use: NDArray[np.bool_]
                 ) -> tuple[FloatArray, FloatArray, FloatArray]:
    """CUPED with θ pooled over all arms, for every metric kind: (adjusted mean, variance, θ).

    Per arm: the outcome's `mean` and per-unit `var`, the covariate's mean `c`, `cov_c` = cov(outcome,
    covariate) and `var_c` = var(covariate); `*_all` are the same for all arms as one sample (shape
    (..., 1)). θ = cov_all / var_all; the arm's mean becomes mean − θ(c − c_all) and its variance
    var − 2θ cov_c + θ² var_c (clipped at 0). Cells where `use` is False are returned unchanged
    with θ = 0.
    """
    theta = np.where(use, _div(cov_all, var_all), 0.0)
    m_adj = np.where(use, mean - theta * (c - c_all), mean)
    v_adj = np.where(use, np.maximum(var - 2.0 * theta * cov_c + theta**2 * var_c, 0.0), var)
    return np.asarray(m_adj, dtype=np.float64), np.asarray(v_adj, dtype=np.float64), theta


_CF_MIN_DF = 500.0


def t_quantile(df: FloatArray, prob: float) -> FloatArray:
    """Student-t quantile, fast for large df.

    scipy's `stdtrit` costs ~4 µs an element, most of the engine's time on 100,000 cells; for
    df ≥ 500 the Cornish–Fisher expansion of the t quantile around the normal one (four terms,
    Abramowitz & Stegun 26.7.5) is within 1e-13 relative of it, so only small-df cells pay for
    the exact inversion.
    """
    z = float(special.ndtri(prob))
    z2 = z * z
    g1 = (z2 + 1) * z / 4
    g2 = ((5 * z2 + 16) * z2 + 3) * z / 96
    g3 = (((3 * z2 + 19) * z2 + 17) * z2 - 15) * z / 384
    g4 = ((((79 * z2 + 776) * z2 + 1482) * z2 - 1920) * z2 - 945) * z / 92160
    with np.errstate(all="ignore"):
        inv = 1.0 / df
        q = z + inv * (g1 + inv * (g2 + inv * (g3 + inv * g4)))
        small = ~(df >= _CF_MIN_DF)  # NaN df goes to the exact path (and stays NaN)
        if np.any(small):
            q = np.where(small, 0.0, q)
            q[small] = special.stdtrit(df[small], prob)
    return np.asarray(q, dtype=np.float64)


def mixture_variance(v_horizon: FloatArray, alpha: float) -> FloatArray:
    """τ² of the normal mixture minimising the confidence sequence's width at the horizon.

    With V_h the variance of the estimate at the planned sample size, the width of the mSPRT
    confidence sequence at the horizon is smallest (to first order) for
    τ² = V_h · (−2 ln α + ln(1 − 2 ln α)) — the same choice as gbstats' `sequential_tuning_parameter`.
    """
    c = -2.0 * np.log(alpha) + np.log(1.0 - 2.0 * np.log(alpha))
    return np.asarray(v_horizon * c, dtype=np.float64)


def msprt(effect: FloatArray, variance: FloatArray, tau2: FloatArray,
          alpha: float) -> tuple[FloatArray, FloatArray]:
    """Always-valid p-value and confidence-sequence half-width at one look.

    Λ = sqrt(V / (V + τ²)) · exp(τ² Δ² / (2 V (V + τ²))) is the mixture likelihood ratio of
    N(0, τ²) alternatives against Δ = 0; p = min(1, 1/Λ) at this look (the running minimum over
    looks is the always-valid p-value), and {Δ : Λ(Δ) < 1/α} is the confidence sequence,
    Δ̂ ± sqrt(V (V + τ²) / τ² · (2 ln(1/α) + ln((V + τ²) / V))).
    """
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        v_tau = variance + tau2
        log_lambda = 0.5 * np.log(variance / v_tau) + tau2 * effect**2 / (2.0 * variance * v_tau)
        p = np.minimum(1.0, np.exp(-log_lambda))
        half = np.sqrt(variance * v_tau / tau2 * (-2.0 * np.log(alpha) + np.log(v_tau / variance)))
    return p, half


def analyze(stats: SufficientStats, kind: ArrayLike = MetricKind.MEAN, *,
            alpha: float = DEFAULT_ALPHA, planned_n: ArrayLike = DEFAULT_PLANNED_N,
            cuped: ArrayLike = True) -> Effects:
    """Compare every treatment arm with control, cell by cell.

    `kind`, `planned_n` (units per arm; 0 = no plan) and `cuped` (allow CUPED) broadcast against the batch
    shape `stats.shape[:-1]`. CUPED is used where allowed and the covariate varies on all arms
    pooled; for ratio metrics the covariate is the pre-period ratio Σx/Σe, linearised by the delta
    method, and it is used only when `sum_e` > 0 in every arm (else the ratio is unadjusted).
    Degenerate cells produce NaN with an error code, so floating-point warnings are silenced here.
    """
    with np.errstate(all="ignore"):
        return _analyze(stats, kind, alpha=alpha, planned_n=planned_n, cuped=cuped)


def _analyze(stats: SufficientStats, kind: ArrayLike, *, alpha: float, planned_n: ArrayLike,
             cuped: ArrayLike) -> Effects:
    if not 0.0 < alpha < 1.0:
        raise ValueError("alpha must be in (0, 1)")
    if stats.n_variants < 2:
        raise ValueError("at least two variants (control first) are needed")
    batch = stats.shape[:-1]
    kind_b = np.broadcast_to(np.asarray(kind, dtype=np.int64), batch)[..., None]
    planned = np.broadcast_to(np.asarray(planned_n, dtype=np.float64), batch)[..., None]
    planned = np.where(planned > 0, planned, DEFAULT_PLANNED_N)  # no plan: gbstats' default horizon
    allow_cuped = np.broadcast_to(np.asarray(cuped, dtype=bool), batch)

    n = stats.n
    is_ratio = kind_b == MetricKind.RATIO
    is_prop = kind_b == MetricKind.PROPORTION

    # ---- validation: one code per arm, the most fundamental problem first
    arm_err = np.zeros(stats.shape, dtype=np.int8)

    def flag(cond: NDArray[np.bool_], code: ErrorCode) -> None:
        arm_err[(arm_err == ErrorCode.OK) & cond] = code

    finite = np.ones(stats.shape, dtype=bool)
    for name in SufficientStats.FIELDS:
        finite &= np.isfinite(getattr(stats, name))
    flag(~finite, ErrorCode.NON_FINITE_INPUT)
    flag((n < 0) | (stats.sum_y2 < 0) | (stats.sum_x2 < 0) | (stats.sum_d2 < 0) | (stats.sum_e2 < 0),
         ErrorCode.NEGATIVE_COUNT)
    flag(n < 2, ErrorCode.N_TOO_SMALL)
    flag(is_prop & ((stats.sum_y < 0) | (stats.sum_y > n)), ErrorCode.INVALID_PROPORTION)

    # ---- per-arm moments (ddof = 1)
    nm1 = n - 1.0
    mean_y = _div(stats.sum_y, n)
    mean_d = _div(stats.sum_d, n)
    var_y = _cov(stats.sum_y2, stats.sum_y, stats.sum_y, n)
    var_d = _cov(stats.sum_d2, stats.sum_d, stats.sum_d, n)
    cov_yd = _cov(stats.sum_yd, stats.sum_y, stats.sum_d, n)
    tol_y = _NEG_VARIANCE_RTOL * np.abs(_div(stats.sum_y2, nm1))
    neg = var_y < -tol_y
    neg |= is_ratio & (var_d < -_NEG_VARIANCE_RTOL * np.abs(_div(stats.sum_d2, nm1)))
    flag(neg, ErrorCode.NEGATIVE_VARIANCE)
    var_y = np.maximum(var_y, 0.0)
    var_d = np.maximum(var_d, 0.0)
    flag(is_ratio & (mean_d == 0), ErrorCode.ZERO_DENOMINATOR)

    # ratio metrics: linearise y/d around (mean_y, mean_d)
    ratio = _div(mean_y, mean_d)
    var_ratio = _div(var_y - 2.0 * ratio * cov_yd + ratio**2 * var_d, mean_d**2)
    m = np.where(is_ratio, ratio, mean_y)
    v = np.where(is_ratio, np.maximum(var_ratio, 0.0), var_y)

    # ---- CUPED with θ pooled over all arms (ratios: on delta-method linearisations)
    c, cov_c, var_c = _covariate(stats, is_ratio)
    c_all, cov_all, var_all = _covariate(stats.pooled(), is_ratio)
    has_e = np.all(stats.sum_e > 0, axis=-1, keepdims=True)  # a ratio's pre-period denominator
    use_cuped = (allow_cuped[..., None] & (var_all > 0) & (~is_ratio | has_e)
                 & np.all(arm_err == ErrorCode.OK, axis=-1, keepdims=True))
    m_adj, v_adj, theta = cuped_adjust(m, v, c, cov_c, np.maximum(var_c, 0.0), c_all, cov_all, var_all,
                                       use_cuped)

    # ---- Welch: each treatment arm against control
    n_c, n_t = n[..., :1], n[..., 1:]
    m_c, m_t = m_adj[..., :1], m_adj[..., 1:]
    a_c, a_t = _div(v_adj[..., :1], n_c), _div(v_adj[..., 1:], n_t)
    se2 = a_c + a_t
    raw_se2 = _div(v[..., :1], n_c) + _div(v[..., 1:], n_t)

    err = np.maximum(arm_err[..., :1], arm_err[..., 1:])  # any failing arm fails the comparison
    # keep the control arm's code when it is the (first) problem
    err = np.where(arm_err[..., :1] != ErrorCode.OK, arm_err[..., :1], err).astype(np.int8)
    err[(err == ErrorCode.OK) & ~(se2 > 0)] = ErrorCode.ZERO_VARIANCE
    fatal = (err != ErrorCode.OK)
    zero_control = ~fatal & (m_c == 0)
    err[zero_control] = ErrorCode.ZERO_CONTROL_MEAN

    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        effect = m_t - m_c
        se = np.sqrt(se2)
        df = se2**2 / (a_c**2 / (n_c - 1.0) + a_t**2 / (n_t - 1.0))
        t_stat = effect / se
        p_value = 2.0 * special.stdtr(df, -np.abs(t_stat))
        q = t_quantile(np.asarray(df, dtype=np.float64), 1.0 - alpha / 2.0)
        rel = m_t / m_c - 1.0
        rel_var = a_t / m_c**2 + m_t**2 * a_c / m_c**4
        rel_se = np.sqrt(rel_var)

        # ---- mSPRT: τ² from the variance the difference will have at the planned size per arm
        v_h = (v_adj[..., :1] + v_adj[..., 1:]) / planned
        tau2 = mixture_variance(v_h, alpha)
        seq_p, half = msprt(effect, se2, tau2, alpha)
        scale = _div(v_h, se2)  # the same horizon, in the relative effect's units
        _, rel_half = msprt(rel, rel_var, mixture_variance(rel_var * scale, alpha), alpha)
        vr = np.where(use_cuped, 1.0 - _div(se2, raw_se2), 0.0)

    def clean(a: FloatArray, bad: NDArray[np.bool_] = fatal) -> FloatArray:
        out = np.where(bad, np.nan, a)
        return np.asarray(out, dtype=np.float64)

    rel_bad = fatal | zero_control
    cuped_cells = np.broadcast_to(use_cuped, err.shape) & ~fatal
    return Effects(
        control_mean=clean(np.broadcast_to(m_c, effect.shape)),
        treatment_mean=clean(m_t),
        n_control=np.asarray(np.broadcast_to(n_c, effect.shape), dtype=np.float64),
        n_treatment=np.asarray(n_t, dtype=np.float64),
        effect=clean(effect), se=clean(se), df=clean(df), t_stat=clean(t_stat),
        p_value=clean(p_value), ci_low=clean(effect - q * se), ci_high=clean(effect + q * se),
        rel_effect=clean(rel, rel_bad), rel_se=clean(rel_se, rel_bad),
        rel_ci_low=clean(rel - q * rel_se, rel_bad), rel_ci_high=clean(rel + q * rel_se, rel_bad),
        seq_p_value=clean(seq_p), cs_low=clean(effect - half), cs_high=clean(effect + half),
        rel_cs_low=clean(rel - rel_half, rel_bad), rel_cs_high=clean(rel + rel_half, rel_bad),
        cuped=np.asarray(cuped_cells, dtype=bool),
        theta=clean(np.broadcast_to(theta, effect.shape)),
        variance_reduction=clean(np.broadcast_to(vr, effect.shape)),
        error=err,
    )
