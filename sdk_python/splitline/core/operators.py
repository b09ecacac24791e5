"""Targeting operators, named as in the contract (the proto names carry an OPERATOR_ prefix)."""

from __future__ import annotations

import enum


class Operator(enum.IntEnum):
    """Values equal the `splitline.v1.Operator` proto numbers."""

    IN = 1
    NOT_IN = 2
    EQ = 3
    NEQ = 4
    GT = 5
    GTE = 6
    LT = 7
    LTE = 8
    SEMVER_GT = 9
    SEMVER_GTE = 10
    SEMVER_LT = 11
    SEMVER_LTE = 12
    EXISTS = 13
    NOT_EXISTS = 14
    REGEX = 15
