"""Shared helpers: sufficient statistics from raw per-unit rows (the independent path)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray
from splitline.analytics.stats import SufficientStats

Arr = NDArray[np.float64]


def sums(y: Arr, x: Arr | None = None, d: Arr | None = None, e: Arr | None = None) -> dict[str, float]:
    """The sums of one arm; the ratio-CUPED sums (pre-period denominator `e`) only when `e` is given."""
    x = np.zeros_like(y) if x is None else x
    d = np.zeros_like(y) if d is None else d
    out = {"n": float(len(y)), "sum_y": float(y.sum()), "sum_y2": float((y * y).sum()),
           "sum_x": float(x.sum()), "sum_x2": float((x * x).sum()), "sum_xy": float((x * y).sum()),
           "sum_d": float(d.sum()), "sum_d2": float((d * d).sum()), "sum_yd": float((y * d).sum())}
    if e is not None:
        out |= {"sum_e": float(e.sum()), "sum_e2": float((e * e).sum()), "sum_xe": float((x * e).sum()),
                "sum_ye": float((y * e).sum()), "sum_dx": float((d * x).sum()), "sum_de": float((d * e).sum())}
    return out


def stats_of(arms: Sequence[dict[str, float]]) -> SufficientStats:
    """One experiment (batch shape ()) from per-arm sums, control first."""
    keys = arms[0].keys()
    return SufficientStats.from_arrays(**{k: [a[k] for a in arms] for k in keys})
