"""Sufficient statistics: the engine's only input.

As in gbstats (`SampleMeanStatistic(n, sum, sum_squares)`), tests take sums rather than rows, so the
same engine runs on the pipeline's Parquet output, on an analyst's warehouse query, or on a
simulation. Unlike gbstats the fields are numpy arrays shaped `(..., V)` — any leading batch shape
(experiments x metrics) and one trailing axis of variants, control first — so one call analyses ten
thousand experiments without a Python loop.

The columns mirror the pipeline's Parquet schema exactly: `y` is the per-unit metric value (the
numerator for ratio metrics), `x` the CUPED pre-period covariate (0 when absent; for ratio metrics
the pre-period numerator), `d` the ratio denominator (0 for other kinds) and `e` the pre-period
ratio denominator (0 for other kinds, and when absent: a ratio then gets no CUPED). The six `e`
cross sums (`sum_e, sum_e2, sum_xe, sum_ye, sum_dx, sum_de`) came later than the others, so every
field but `n, sum_y, sum_y2` is optional on input and defaults to 0.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, fields
from typing import Any, ClassVar

import numpy as np
from numpy.typing import ArrayLike, NDArray

FloatArray = NDArray[np.float64]

SUM_FIELDS: tuple[str, ...] = (
    "n", "sum_y", "sum_y2", "sum_x", "sum_x2", "sum_xy", "sum_d", "sum_d2", "sum_yd",
    # ratio CUPED: e is the pre-period denominator (x the pre-period numerator)
    "sum_e", "sum_e2", "sum_xe", "sum_ye", "sum_dx", "sum_de",
)
REQUIRED_FIELDS: tuple[str, ...] = ("n", "sum_y", "sum_y2")


class MetricKind(enum.IntEnum):
    """Metric kinds of `MetricDefinition.kind`; names are the Parquet `metric_kind` strings."""

    MEAN = 0
    PROPORTION = 1
    COUNT = 2
    RATIO = 3

    @classmethod
    def parse(cls, name: str) -> MetricKind:
        """Read `mean|proportion|count|ratio` (case-insensitive; `METRIC_KIND_` prefix allowed)."""
        key = name.strip().upper().removeprefix("METRIC_KIND_")
        try:
            return cls[key]
        except KeyError:
            raise ValueError(f"unknown metric kind {name!r}") from None


@dataclass(frozen=True)
class SufficientStats:
    """Per-variant sums, every field an array of the same shape `(..., V)`; variant 0 is control."""

    n: FloatArray
    sum_y: FloatArray
    sum_y2: FloatArray
    sum_x: FloatArray
    sum_x2: FloatArray
    sum_xy: FloatArray
    sum_d: FloatArray
    sum_d2: FloatArray
    sum_yd: FloatArray
    sum_e: FloatArray
    sum_e2: FloatArray
    sum_xe: FloatArray
    sum_ye: FloatArray
    sum_dx: FloatArray
    sum_de: FloatArray

    FIELDS: ClassVar[tuple[str, ...]] = SUM_FIELDS

    @classmethod
    def from_arrays(cls, **columns: ArrayLike) -> SufficientStats:
        """Build from any array-likes; missing covariate/denominator sums default to 0.

        Everything is broadcast to one shape and converted to float64 (counts too: the engine's
        arithmetic is floating point and `n` of 1e9 is exact in float64).
        """
        unknown = set(columns) - set(SUM_FIELDS)
        if unknown:
            raise TypeError(f"unknown sufficient statistics: {sorted(unknown)}")
        for required in REQUIRED_FIELDS:
            if required not in columns:
                raise TypeError(f"missing sufficient statistic {required!r}")
        arrays = [np.asarray(columns.get(name, 0.0), dtype=np.float64) for name in SUM_FIELDS]
        shaped = np.broadcast_arrays(*arrays)
        return cls(*(np.ascontiguousarray(a) for a in shaped))

    @property
    def shape(self) -> tuple[int, ...]:
        """The full shape `(..., V)`."""
        return tuple(self.n.shape)

    @property
    def n_variants(self) -> int:
        return int(self.n.shape[-1])

    def __add__(self, other: SufficientStats) -> SufficientStats:
        """Pool two disjoint samples (e.g. two shards of units): sums simply add."""
        return SufficientStats(*(getattr(self, f) + getattr(other, f) for f in SUM_FIELDS))

    def __getitem__(self, index: Any) -> SufficientStats:
        """Index the leading (batch) axes; the variant axis must be kept."""
        return SufficientStats(*(getattr(self, f)[index] for f in SUM_FIELDS))

    def pooled(self) -> SufficientStats:
        """All arms as one sample (the variant axis summed, kept with length 1)."""
        return SufficientStats(*(getattr(self, f).sum(axis=-1, keepdims=True) for f in SUM_FIELDS))

    def as_dict(self) -> dict[str, FloatArray]:
        return {f.name: getattr(self, f.name) for f in fields(self)}
