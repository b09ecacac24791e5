"""The hash against published MurmurHash3 values and an independent implementation."""

from __future__ import annotations

import random

import pytest
from splitline.core import bucket, hash32
from splitline.core.hashing import utf8


def murmur3_x86_32(data: bytes, seed: int = 0) -> int:
    """A straight transcription of Austin Appleby's MurmurHash3_x86_32, for cross-checking mmh3."""
    c1, c2 = 0xCC9E2D51, 0x1B873593
    h = seed & 0xFFFFFFFF
    n = len(data)
    rounded = n - n % 4
    for i in range(0, rounded, 4):
        k = int.from_bytes(data[i:i + 4], "little")
        k = (k * c1) & 0xFFFFFFFF
        k = ((k << 15) | (k >> 17)) & 0xFFFFFFFF
        k = (k * c2) & 0xFFFFFFFF
        h ^= k
        h = ((h << 13) | (h >> 19)) & 0xFFFFFFFF
        h = (h * 5 + 0xE6546B64) & 0xFFFFFFFF
    k = 0
    tail = data[rounded:]
    if len(tail) >= 3:
        k ^= tail[2] << 16
    if len(tail) >= 2:
        k ^= tail[1] << 8
    if len(tail) >= 1:
        k ^= tail[0]
        k = (k * c1) & 0xFFFFFFFF
        k = ((k << 15) | (k >> 17)) & 0xFFFFFFFF
        k = (k * c2) & 0xFFFFFFFF
        h ^= k
    h ^= n
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & 0xFFFFFFFF
    h ^= h >> 16
    return h


@pytest.mark.parametrize(("text", "expected"), [
    ("", 0),
    ("hello", 0x248BFA47),
    ("The quick brown fox jumps over the lazy dog", 0x2E4FF723),
])
def test_published_values(text: str, expected: int) -> None:
    assert hash32(text) == expected
    assert murmur3_x86_32(text.encode()) == expected


def test_matches_independent_implementation_on_random_strings() -> None:
    rng = random.Random(7)
    alphabet = "abcXYZ019|-_ éü用户🙂\u0000"
    for _ in range(3000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 40)))
        assert hash32(text) == murmur3_x86_32(text.encode("utf-8")), text


def test_pinned_buckets() -> None:
    # Pinned once from the contract; a change here breaks every SDK and every
    # running experiment.
    assert bucket("42", "checkout") == murmur3_x86_32(b"42|checkout") % 10000
    assert bucket("ppid1", "x") == 7387
    assert bucket("用户-42", "layer") == murmur3_x86_32("用户-42|layer".encode()) % 10000


def test_lone_surrogate_hashes_as_replacement_character() -> None:
    assert utf8("a\ud800b") == "a\ufffdb".encode()
    assert hash32("a\ud800b") == hash32("a\ufffdb")
