"""Statistical checks of the bucketing on a million ids of three shapes."""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable

import numpy as np
import pytest
from scipy import stats
from splitline.core import bucket, compile_snapshot
from splitline.snapshot_file import parse_snapshot

N = 1_000_000


def _sequential(i: int, rng: random.Random) -> str:
    return str(i)


def _uuid(i: int, rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _email(i: int, rng: random.Random) -> str:
    return f"user.{i}.{rng.randrange(1000)}@example{rng.randrange(50)}.com"


SHAPES: dict[str, Callable[[int, random.Random], str]] = {
    "sequential": _sequential, "uuid": _uuid, "email": _email,
}


@pytest.fixture(scope="module", params=sorted(SHAPES))
def ids(request: pytest.FixtureRequest) -> list[str]:
    rng = random.Random(1234)
    make = SHAPES[request.param]
    return [make(i, rng) for i in range(N)]


@pytest.mark.slow
def test_buckets_uniform_and_layers_independent(ids: list[str]) -> None:
    a = np.fromiter((bucket(u, "layer_a") for u in ids), dtype=np.int64, count=len(ids))
    b = np.fromiter((bucket(u, "layer_b") for u in ids), dtype=np.int64, count=len(ids))
    counts = np.bincount(a, minlength=10000)
    assert stats.chisquare(counts).pvalue > 0.001
    # Independence of two layers' buckets on a 100 x 100 grid of bucket deciles.
    table = np.zeros((100, 100), dtype=np.int64)
    np.add.at(table, (a // 100, b // 100), 1)
    assert stats.chi2_contingency(table).pvalue > 0.001


@pytest.mark.slow
def test_variant_shares_match_weights(ids: list[str]) -> None:
    doc = """
    revision: 1
    layers: [{id: l}]
    experiments:
      - key: e
        layerId: l
        unitType: user_id
        status: RUNNING
        ranges: [{start: 0, end: 10000}]
        variants: [{key: a, weight: 2000}, {key: b, weight: 3000}, {key: c, weight: 5000}]
    """
    snap = compile_snapshot(parse_snapshot(doc))
    shares: dict[str, int] = {"a": 0, "b": 0, "c": 0}
    for u in ids:
        variant = snap.assign("e", {"user_id": u}, {}).variant
        assert variant is not None
        shares[variant] += 1
    for key, weight in (("a", 0.2), ("b", 0.3), ("c", 0.5)):
        assert abs(shares[key] / len(ids) - weight) < 0.005, (key, shares)
