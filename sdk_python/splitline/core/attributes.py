"""Attribute encoding: every SDK turns typed values into the same strings.

Booleans become ``true``/``false``; integers their decimal digits; floats the
shortest round-trip form as ECMAScript's Number::toString writes it (``16``,
``0.5``, ``1e+21``, ``1.5e-7``), so Python, Go and JavaScript compare alike.
Strings pass through; ``None`` and other types are dropped (treated as missing).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from decimal import Decimal


def format_number(value: float) -> str:
    """ECMAScript Number::toString(value) for a Python float."""
    if math.isnan(value):
        return "NaN"
    if value == 0:
        return "0"
    if value < 0:
        return "-" + format_number(-value)
    if math.isinf(value):
        return "Infinity"
    _sign, digits_tuple, exponent = Decimal(repr(value)).as_tuple()
    digits = "".join(map(str, digits_tuple)).rstrip("0")
    assert isinstance(exponent, int)
    exponent += len("".join(map(str, digits_tuple))) - len(digits)
    k = len(digits)
    n = exponent + k
    if k <= n <= 21:
        return digits + "0" * (n - k)
    if 0 < n <= 21:
        return digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return "0." + "0" * (-n) + digits
    exp_text = ("+" if n - 1 >= 0 else "-") + str(abs(n - 1))
    if k == 1:
        return digits + "e" + exp_text
    return digits[0] + "." + digits[1:] + "e" + exp_text


def encode_value(value: object) -> str | None:
    """The contract's string for one attribute value, or None to drop it."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return format_number(value)
    return None


def encode_attributes(attributes: object) -> dict[str, str]:
    """Encode a mapping of typed attributes; non-string keys and unusable values are dropped."""
    if not isinstance(attributes, Mapping):
        return {}
    out: dict[str, str] = {}
    for key, value in attributes.items():
        if isinstance(key, str):
            encoded = encode_value(value)
            if encoded is not None:
                out[key] = encoded
    return out
