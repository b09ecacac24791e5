"""Pure bucket-range arithmetic shared by the control plane and snapshot loaders."""

from __future__ import annotations

from collections.abc import Sequence

from splitline.core.hashing import BUCKET_COUNT


def contiguous_ranges(weights: Sequence[int]) -> list[list[tuple[int, int]]]:
    """Variant ranges from weights at creation: contiguous, in variant order.

    ``[5000, 5000]`` -> ``[[(0, 5000)], [(5000, 10000)]]``. Zero weights own no range.
    """
    if sum(weights) != BUCKET_COUNT or any(w < 0 for w in weights):
        raise ValueError(f"weights must be non-negative and sum to {BUCKET_COUNT}, got {list(weights)}")
    out: list[list[tuple[int, int]]] = []
    start = 0
    for weight in weights:
        out.append([(start, start + weight)] if weight else [])
        start += weight
    return out
