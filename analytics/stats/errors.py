"""Stable error codes for degenerate input.

Like gbstats' `messages.py`, every result cell carries a code instead of a bare NaN, so that a
dashboard can say *why* a number is missing, and one bad cell never fails the whole batch. The
string names are the contract (they appear in JSON output); the integer values are only the
in-array representation and may be reordered freely because nothing persists them.
"""

from __future__ import annotations

import enum


class ErrorCode(enum.IntEnum):
    """Why a result cell is (partly) missing; OK when it is complete.

    Codes other than OK and ZERO_CONTROL_MEAN make every number of the cell NaN.
    ZERO_CONTROL_MEAN keeps the absolute effect and its tests; only relative figures are NaN.
    """

    OK = 0
    NON_FINITE_INPUT = 1  # a NaN or infinite sum
    NEGATIVE_COUNT = 2  # n < 0, or a sum of squares < 0
    N_TOO_SMALL = 3  # an arm has fewer than 2 units
    INVALID_PROPORTION = 4  # a proportion with sum_y outside [0, n]
    NEGATIVE_VARIANCE = 5  # sums inconsistent: sum_y2 < sum_y^2 / n beyond rounding
    ZERO_DENOMINATOR = 6  # ratio metric whose denominator mean is 0 in an arm
    ZERO_VARIANCE = 7  # both arms constant: no test is possible
    ZERO_CONTROL_MEAN = 8  # relative effect undefined; absolute results valid

    @property
    def fatal(self) -> bool:
        """True when the code makes every number of the cell NaN."""
        return self not in (ErrorCode.OK, ErrorCode.ZERO_CONTROL_MEAN)


class InputError(ValueError):
    """Raised for malformed input files (not for degenerate numbers, which get an ErrorCode)."""
