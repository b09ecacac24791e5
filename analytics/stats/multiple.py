"""Multiple-testing corrections across the metrics and variants of one experiment.

Ten metrics times three treatments are thirty chances of a false positive; the engine adjusts
p-values over such a family: Benjamini–Hochberg (false discovery rate, the default, as GrowthBook
and Statsig offer) or Holm (family-wise error rate, uniformly better than Bonferroni).
Vectorised over families: the last axis is the family; NaN entries (cells with an error) are not
part of it and stay NaN.
"""

from __future__ import annotations

import enum

import numpy as np
from numpy.typing import ArrayLike
from splitline.analytics.stats.statistics import FloatArray


class Correction(enum.StrEnum):
    NONE = "none"
    BH = "bh"  # Benjamini–Hochberg
    HOLM = "holm"


def adjust(p_values: ArrayLike, method: Correction | str = Correction.BH) -> FloatArray:
    """Adjusted p-values along the last axis (same shape, NaN kept)."""
    method = Correction(method)
    p = np.asarray(p_values, dtype=np.float64)
    if method is Correction.NONE or p.shape[-1] == 0:
        return p.copy()
    missing = np.isnan(p)
    m = (~missing).sum(axis=-1, keepdims=True).astype(np.float64)
    order = np.argsort(np.where(missing, np.inf, p), axis=-1, kind="stable")
    ps = np.take_along_axis(np.where(missing, np.inf, p), order, axis=-1)
    rank = np.arange(1, p.shape[-1] + 1, dtype=np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        if method is Correction.BH:
            scaled = ps * m / rank
            adj = np.minimum.accumulate(scaled[..., ::-1], axis=-1)[..., ::-1]
        else:
            scaled = ps * np.maximum(m - rank + 1.0, 1.0)
            adj = np.maximum.accumulate(scaled, axis=-1)
    adj = np.minimum(adj, 1.0)
    out = np.empty_like(p)
    np.put_along_axis(out, order, adj, axis=-1)
    out[missing] = np.nan
    return out
