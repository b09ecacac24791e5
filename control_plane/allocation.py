"""Pure bucket arithmetic for layers and variants (no I/O, no store).

Ranges are half-open ``(start, end)`` tuples within ``[0, BUCKET_COUNT)``.

* Layer allocation: an experiment's traffic is a set of layer ranges disjoint
  from every other live experiment's. Launch and ramp take free buckets lowest
  first; a ramp only adds ranges, so no unit already in moves.
* Variant re-allocation: when weights change, each shrinking variant gives up
  buckets from the end of its ranges and each growing variant takes from that
  pool, so exactly ``sum(max(0, new - old))`` buckets change variant: the
  minimum possible.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from splitline.core.hashing import BUCKET_COUNT

Range = tuple[int, int]


class NotEnoughSpace(ValueError):
    """A request for more buckets than are free; `free` says how many are."""

    def __init__(self, wanted: int, free: int) -> None:
        super().__init__(f"wants {wanted} buckets ({wanted / 100:g}%) but only {free} ({free / 100:g}%) are free")
        self.wanted = wanted
        self.free = free


def normalize(ranges: Iterable[Range]) -> list[Range]:
    """Sorted, with touching or overlapping ranges merged."""
    out: list[Range] = []
    for start, end in sorted(r for r in ranges if r[0] < r[1]):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def size(ranges: Iterable[Range]) -> int:
    return sum(end - start for start, end in ranges)


def free_ranges(occupied: Iterable[Range], total: int = BUCKET_COUNT) -> list[Range]:
    """The complement of `occupied` within ``[0, total)``."""
    free: list[Range] = []
    cursor = 0
    for start, end in normalize(occupied):
        if start > cursor:
            free.append((cursor, start))
        cursor = max(cursor, end)
    if cursor < total:
        free.append((cursor, total))
    return free


def overlaps(a: Iterable[Range], b: Iterable[Range]) -> bool:
    bs = normalize(b)
    return any(s < be and bs_ < e for s, e in normalize(a) for bs_, be in bs)


def take(free: Sequence[Range], amount: int) -> list[Range]:
    """The lowest `amount` buckets of `free`; raises NotEnoughSpace."""
    available = size(free)
    if amount > available:
        raise NotEnoughSpace(amount, available)
    out: list[Range] = []
    need = amount
    for start, end in normalize(free):
        if need <= 0:
            break
        part = min(need, end - start)
        out.append((start, start + part))
        need -= part
    return out


def allocate(occupied_by_others: Iterable[Range], amount: int) -> list[Range]:
    """Layer ranges for a launch: `amount` free buckets, lowest first."""
    return normalize(take(free_ranges(occupied_by_others), amount))


def ramp(current: Sequence[Range], occupied_by_others: Iterable[Range], new_total: int) -> list[Range]:
    """Grow `current` to `new_total` buckets by adding free ones; never removes any."""
    have = size(normalize(current))
    if new_total < have:
        raise ValueError(f"a ramp only grows traffic: has {have} buckets, asked for {new_total}")
    added = take(free_ranges([*occupied_by_others, *current]), new_total - have)
    return normalize([*current, *added])


@dataclass(frozen=True, slots=True)
class Reallocation:
    """New variant ranges (in the order of the new weights) and buckets moved."""

    ranges: list[list[Range]]
    moved_buckets: int


def reallocate(old: Sequence[tuple[str, Sequence[Range]]], new: Sequence[tuple[str, int]]) -> Reallocation:
    """Re-derive variant ranges for new weights moving as few buckets as possible.

    `old` pairs each existing variant key with its ranges, `new` each variant key
    (in the new order) with its weight. Variants matched by key keep what they
    can; variants that vanish release everything.
    """
    if sum(w for _, w in new) != BUCKET_COUNT or any(w < 0 for _, w in new):
        raise ValueError(f"weights must be non-negative and sum to {BUCKET_COUNT}")
    old_map = {k: normalize(r) for k, r in old}
    pool: list[Range] = list(free_ranges([r for rs in old_map.values() for r in rs]))
    kept: dict[str, list[Range]] = {}
    for key, weight in new:
        ranges = old_map.pop(key, [])
        keep: list[Range] = []
        need = weight
        for start, end in ranges:  # keep the lowest buckets, release the tail
            part = min(need, end - start)
            if part > 0:
                keep.append((start, start + part))
            if start + part < end:
                pool.append((start + part, end))
            need -= part
        kept[key] = keep
    for ranges in old_map.values():  # removed variants
        pool.extend(ranges)
    pool = normalize(pool)
    moved = 0
    result: list[list[Range]] = []
    for key, weight in new:
        missing = weight - size(kept[key])
        if missing > 0:
            got = take(pool, missing)
            pool = free_ranges([*free_ranges(pool), *got])
            kept[key] = normalize([*kept[key], *got])
            moved += missing
        result.append(kept[key])
    return Reallocation(result, moved)
