"""The hash and bucket rule of the assignment contract (DESIGN.md section 2).

    h(s)             = MurmurHash3_x86_32(utf8(s), seed=0), unsigned 32-bit
    bucket(id, salt) = h(id + "|" + salt) % 10000

Every SDK implements exactly this; the vectors file pins concrete numbers.
"""

from __future__ import annotations

import re
from typing import Final

import mmh3

HASH_SEED: Final = 0
BUCKET_COUNT: Final = 10_000
SALT_SEPARATOR: Final = "|"

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def utf8(text: str) -> bytes:
    """UTF-8 bytes of `text`; a lone surrogate becomes U+FFFD, as in JavaScript and Go.

    Python strings can hold lone surrogates that strict UTF-8 refuses; the other
    SDKs replace them with U+FFFD when they encode, so we do the same instead of
    raising on the hot path.
    """
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return _LONE_SURROGATE.sub("\ufffd", text).encode("utf-8")


def hash32(text: str) -> int:
    """MurmurHash3_x86_32 of the UTF-8 bytes of `text`, seed 0, unsigned."""
    # Always hash bytes: mmh3 5.x crashes on a str holding a lone surrogate.
    return int(mmh3.hash(utf8(text), HASH_SEED, False))


def bucket(unit_id: str, salt: str) -> int:
    """The unit's bucket in [0, 10000) for `salt` (a layer, experiment or holdout salt)."""
    return hash32(unit_id + SALT_SEPARATOR + salt) % BUCKET_COUNT
