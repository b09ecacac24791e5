"""Sample ratio mismatch: is the observed split of units the one that was configured?

A chi-square goodness-of-fit test over all arms against the configured weights. The p-value
comes from the survival function: `1 - cdf` underflows to exactly 0 for large imbalances
(1,002,000 vs 987,000 gives 2.0e-26, which `1 - cdf` rounds to 0), and "0" reads as a bug.
An SRM means the randomisation or the logging is broken, so every metric of the experiment is
unreliable: results are blocked below `SRM_ALPHA` (the usual, deliberately strict 0.001).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import special
from splitline.analytics.stats.statistics import FloatArray

SRM_ALPHA = 0.001


@dataclass(frozen=True)
class SrmResult:
    """Per experiment (the batch shape of the input, variants reduced)."""

    chi2: FloatArray
    df: NDArray[np.int64]
    p_value: FloatArray  # NaN when no unit was observed or the weights are invalid
    blocked: NDArray[np.bool_]  # p < SRM_ALPHA: results must not be shown


def srm_test(counts: ArrayLike, weights: ArrayLike, *, alpha: float = SRM_ALPHA) -> SrmResult:
    """Chi-square test of `counts` (..., V) against expected shares proportional to `weights`.

    Arms with weight 0 are left out of the test (they should get no units; a unit there is a
    logging error the chi-square cannot express, so such an experiment is blocked outright).
    """
    c = np.asarray(counts, dtype=np.float64)
    w = np.broadcast_to(np.asarray(weights, dtype=np.float64), c.shape)
    active = w > 0
    w_active = np.where(active, w, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        total = np.where(active, c, 0.0).sum(axis=-1, keepdims=True)
        expected = total * w_active / w_active.sum(axis=-1, keepdims=True)
        chi2 = np.where(active, (c - expected) ** 2 / expected, 0.0).sum(axis=-1)
    df = active.sum(axis=-1).astype(np.int64) - 1
    valid = (df >= 1) & (total[..., 0] > 0) & np.all(c >= 0, axis=-1) & np.all(w >= 0, axis=-1)
    p = np.where(valid, special.chdtrc(np.maximum(df, 1), chi2), np.nan)
    stray = np.any(~active & (c > 0), axis=-1)
    blocked = (valid & (p < alpha)) | stray
    return SrmResult(chi2=np.where(valid, chi2, np.nan), df=df, p_value=p, blocked=blocked)
