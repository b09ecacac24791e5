"""Pure allocation arithmetic: free ranges, launch/ramp, minimal re-allocation."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from splitline.control_plane import allocation as al


def test_free_and_allocate_lowest_first() -> None:
    assert al.free_ranges([(2000, 4000), (0, 1000)]) == [(1000, 2000), (4000, 10000)]
    assert al.allocate([(2000, 4000), (0, 1000)], 1500) == [(1000, 2000), (4000, 4500)]
    with pytest.raises(al.NotEnoughSpace) as info:
        al.allocate([(0, 9000)], 1500)
    assert info.value.free == 1000 and "only 1000 (10%) are free" in str(info.value)


def test_ramp_keeps_every_existing_bucket() -> None:
    assert al.ramp([(0, 1000)], [(1000, 3000)], 2500) == [(0, 1000), (3000, 4500)]
    with pytest.raises(ValueError, match="only grows"):
        al.ramp([(0, 1000)], [], 500)


def test_reallocate_moves_minimum() -> None:
    result = al.reallocate([("c", [(0, 5000)]), ("t", [(5000, 10000)])], [("c", 8000), ("t", 2000)])
    assert result.moved_buckets == 3000
    assert result.ranges == [[(0, 5000), (7000, 10000)], [(5000, 7000)]]
    # a new third arm takes buckets only from the shrinking ones
    result = al.reallocate([("c", [(0, 5000)]), ("t", [(5000, 10000)])], [("c", 3400), ("t", 3300), ("u", 3300)])
    assert result.moved_buckets == 3300
    assert result.ranges[0] == [(0, 3400)] and result.ranges[1] == [(5000, 8300)]


weights3 = st.lists(st.integers(0, 10000), min_size=1, max_size=4).map(
    lambda ws: [*ws[:-1], 10000 - sum(ws[:-1])] if sum(ws[:-1]) <= 10000 else [10000]
)


@settings(max_examples=150, deadline=None)
@given(old=weights3, new=weights3)
def test_reallocate_properties(old: list[int], new: list[int]) -> None:
    from splitline.core.allocation import contiguous_ranges

    old_ranges = [(f"v{i}", r) for i, r in enumerate(contiguous_ranges(old))]
    new_weights = [(f"v{i}", w) for i, w in enumerate(new)]
    result = al.reallocate(old_ranges, new_weights)
    # exact coverage of the weights, disjoint, covering the whole space
    assert [al.size(r) for r in result.ranges] == new
    flat = sorted(r for rs in result.ranges for r in rs)
    assert al.normalize(flat) == ([(0, 10000)] if flat else [])
    assert al.size(flat) == 10000
    # minimal: moved equals the sum of growth, and kept buckets stay with their variant
    old_w = dict((k, al.size(r)) for k, r in old_ranges)
    assert result.moved_buckets == sum(max(0, w - old_w.get(k, 0)) for k, w in new_weights)
    for (key, rs), new_rs in zip(old_ranges, result.ranges, strict=False):
        kept = al.size(r for r in _intersect(rs, new_rs))
        assert kept == min(al.size(rs), al.size(new_rs)), key


def _intersect(a: list[tuple[int, int]], b: list[tuple[int, int]]) -> list[tuple[int, int]]:
    return [(max(s1, s2), min(e1, e2)) for s1, e1 in a for s2, e2 in b if max(s1, s2) < min(e1, e2)]
