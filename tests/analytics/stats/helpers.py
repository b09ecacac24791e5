"""Shared helpers: sufficient statistics from raw per-unit rows (the independent path)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray
from splitline.analytics.stats import SufficientStats

Arr = NDArray[np.float64]


def sums(y: Arr, x: Arr | None = None, d: Arr | None = None) -> dict[str, float]:
    x = np.zeros_like(y) if x is None else x
    d = np.zeros_like(y) if d is None else d
    return {"n": float(len(y)), "sum_y": float(y.sum()), "sum_y2": float((y * y).sum()),
            "sum_x": float(x.sum()), "sum_x2": float((x * x).sum()), "sum_xy": float((x * y).sum()),
            "sum_d": float(d.sum()), "sum_d2": float((d * d).sum()), "sum_yd": float((y * d).sum())}


def stats_of(arms: Sequence[dict[str, float]]) -> SufficientStats:
    """One experiment (batch shape ()) from per-arm sums, control first."""
    keys = arms[0].keys()
    return SufficientStats.from_arrays(**{k: [a[k] for a in arms] for k in keys})
