"""The pure assignment core: hash, buckets, rules, precedence. No I/O, no clock.

Every Splitline component that decides a variant calls this package: the SDK's
in-process mode, the sidecar, the CLI's `assign`/`explain`, the control plane's
previews. The contract it implements is DESIGN.md section 2.
"""

from splitline.core.allocation import contiguous_ranges
from splitline.core.attributes import encode_attributes, encode_value, format_number
from splitline.core.evaluator import Assignment, CompiledSnapshot, compile_snapshot
from splitline.core.explain import explain
from splitline.core.hashing import BUCKET_COUNT, HASH_SEED, bucket, hash32
from splitline.core.operators import Operator
from splitline.core.reasons import Reason
from splitline.core.rules import RegexError, RuleError, compile_regex, parse_decimal, parse_semver
from splitline.core.validate import FieldError, SnapshotError, validate_snapshot

SPEC_VERSION = "1.0.0"

__all__ = [
    "BUCKET_COUNT",
    "HASH_SEED",
    "SPEC_VERSION",
    "Assignment",
    "CompiledSnapshot",
    "FieldError",
    "Operator",
    "Reason",
    "RegexError",
    "RuleError",
    "SnapshotError",
    "bucket",
    "compile_regex",
    "compile_snapshot",
    "contiguous_ranges",
    "encode_attributes",
    "encode_value",
    "explain",
    "format_number",
    "hash32",
    "parse_decimal",
    "parse_semver",
    "validate_snapshot",
]
