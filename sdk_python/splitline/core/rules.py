"""Targeting rules: parsing of operands and compilation to predicates.

The semantics are normative (DESIGN.md section 2) and shared by every SDK:

* Attribute values are strings. A missing attribute fails every operator but
  NOT_IN, NEQ and NOT_EXISTS.
* Numeric operators parse both sides with `DECIMAL_PATTERN` into IEEE-754
  doubles (correctly rounded, as Python, Go and JavaScript all do); anything
  else (``"inf"``, ``"0x10"``, ``" 1"``, ``"1_000"``) does not parse and fails.
* Semver operators read ``v?MAJOR[.MINOR[.PATCH]]`` from the start of the
  value (ASCII digits); missing parts are 0 and anything after is ignored.
* REGEX searches anywhere in the value with a pattern from the portable subset
  that `translate_regex` accepts (it means the same in Python, RE2 and
  JavaScript with the ``u`` flag). Evaluation never raises.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, cast

from splitline.core.operators import Operator

Attributes = Mapping[str, str]
Predicate = Callable[[Attributes], bool]

DECIMAL_PATTERN: Final = r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
SEMVER_PATTERN: Final = r"v?([0-9]+)(?:\.([0-9]+)(?:\.([0-9]+))?)?"
MAX_REGEX_LENGTH: Final = 1000
MAX_REPEAT: Final = 1000

_DECIMAL = re.compile(DECIMAL_PATTERN + r"\Z")
_SEMVER = re.compile(SEMVER_PATTERN)


class RuleError(ValueError):
    """A rule that cannot be compiled; `field` names the offending part."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


_MISSING: Final = object()
_CACHE_LIMIT: Final = 4096
_decimal_cache: dict[object, object] = {}
_semver_cache: dict[object, object] = {}


def _memo(cache: dict[object, Any], parse: Callable[[object], Any], value: object) -> Any:
    """parse(value) through a small bounded memo: attribute values repeat a lot
    (ages, versions, plan tiers) and a dict hit is ~20x cheaper than a regex.
    Cleared wholesale when full; dict operations are atomic under the GIL."""
    parsed = parse(value)
    if len(cache) >= _CACHE_LIMIT:
        cache.clear()
    cache[value] = parsed
    return parsed


def _cached_decimal(value: object) -> float | None:
    hit = _decimal_cache.get(value, _MISSING)
    return _memo(_decimal_cache, parse_decimal, value) if hit is _MISSING else cast("float | None", hit)


def _cached_semver(value: object) -> tuple[int, int, int] | None:
    hit = _semver_cache.get(value, _MISSING)
    return _memo(_semver_cache, parse_semver, value) if hit is _MISSING else cast("tuple[int, int, int] | None", hit)


def parse_decimal(value: object) -> float | None:
    """The value as a double when it is a decimal number string, else None."""
    if type(value) is not str or _DECIMAL.match(value) is None:
        return None
    return float(value)


def parse_semver(value: object) -> tuple[int, int, int] | None:
    """(major, minor, patch) read from the start of the value, else None."""
    if type(value) is not str:
        return None
    match = _SEMVER.match(value)
    if match is None:
        return None
    major, minor, patch = match.groups()
    return int(major), int(minor or 0), int(patch or 0)


# --------------------------------------------------------------- portable regex

_SYNTAX_CHARS: Final = frozenset("^$\\.*+?()[]{}|/")
_CONTROL_ESCAPES: Final = {"n": "\n", "r": "\r", "t": "\t", "f": "\f", "v": "\v"}
_CLASS_ESCAPES: Final = frozenset("dDwW")
_PY_DOT: Final = "[^\\n\\r\\u2028\\u2029]"
_REPEAT = re.compile(r"\{([0-9]{1,4})(,([0-9]{0,4}))?\}")


class RegexError(ValueError):
    """A pattern outside the portable subset."""


def translate_regex(pattern: str) -> str:
    """Check `pattern` against the portable subset and return its Python spelling.

    The subset: literals; ``.`` (any character but \\n, \\r, U+2028, U+2029);
    ``^`` and ``$`` (start and end of the value); ``\\d \\D \\w \\W`` (ASCII);
    ``\\n \\r \\t \\f \\v``; a backslash before one of ``^$\\.*+?()[]{}|/``;
    classes ``[...]``/``[^...]`` of characters, escapes and ranges (``-`` only
    first or last, no nested ``[``, no ``&&``, ``~~``, ``||``); groups
    ``(...)`` and ``(?:...)``; alternation; quantifiers ``* + ? {n} {n,}
    {n,m}`` (at most 1000), optionally lazy. A quantifier may not apply to a
    group that already contains one, so no pattern backtracks exponentially.
    """
    if len(pattern) > MAX_REGEX_LENGTH:
        raise RegexError(f"pattern longer than {MAX_REGEX_LENGTH} characters")
    out: list[str] = []
    # Per open group: (index in `out` where it starts, whether it holds a quantifier).
    groups: list[list[int]] = []
    # What the last emitted item was: "atom", "group", "quant", "anchor", "start".
    last = "start"
    last_group_has_quant = False
    i = 0
    n = len(pattern)
    while i < n:
        ch = pattern[i]
        if ch == "\\":
            if i + 1 >= n:
                raise RegexError("pattern ends with a lone backslash")
            nxt = pattern[i + 1]
            if nxt in _CLASS_ESCAPES or nxt in _SYNTAX_CHARS or nxt in _CONTROL_ESCAPES:
                out.append("\\" + nxt)
            else:
                raise RegexError(f"escape \\{nxt} at {i} is not portable")
            i += 2
            last = "atom"
        elif ch == ".":
            out.append(_PY_DOT)
            i += 1
            last = "atom"
        elif ch == "^":
            out.append("^")
            i += 1
            last = "anchor"
        elif ch == "$":
            out.append("\\Z")
            i += 1
            last = "anchor"
        elif ch == "|":
            out.append("|")
            i += 1
            last = "start"
        elif ch == "(":
            if pattern.startswith("(?:", i):
                out.append("(?:")
                i += 3
            elif pattern.startswith("(?", i):
                raise RegexError(f"group syntax at {i} is not portable (only ( and (?: are)")
            else:
                out.append("(")
                i += 1
            groups.append([0])
            last = "start"
        elif ch == ")":
            if not groups:
                raise RegexError(f"unbalanced ) at {i}")
            has_quant = groups.pop()[0] == 1
            if has_quant and groups:
                groups[-1][0] = 1
            out.append(")")
            i += 1
            last = "group"
            last_group_has_quant = has_quant
        elif ch in "*+?{":
            if ch == "{":
                match = _REPEAT.match(pattern, i)
                if match is None:
                    raise RegexError(f"{{ at {i} is not a quantifier {{n}}, {{n,}} or {{n,m}}")
                low = int(match.group(1))
                high = match.group(3)
                if low > MAX_REPEAT or (high and int(high) > MAX_REPEAT):
                    raise RegexError(f"repeat count above {MAX_REPEAT} at {i}")
                if high and int(high) < low:
                    raise RegexError(f"repeat range {{{low},{high}}} at {i} is reversed")
                token = match.group(0)
            else:
                token = ch
            if last not in ("atom", "group"):
                raise RegexError(f"quantifier {token} at {i} has nothing to repeat")
            if last == "group" and last_group_has_quant:
                raise RegexError(f"quantifier {token} at {i} repeats a group that already repeats")
            i += len(token)
            if i < n and pattern[i] == "?":
                token += "?"
                i += 1
            out.append(token)
            if groups:
                groups[-1][0] = 1
            last = "quant"
        elif ch == "[":
            text, i = _translate_class(pattern, i)
            out.append(text)
            last = "atom"
        elif ch in "]}":
            raise RegexError(f"unescaped {ch} at {i}")
        else:
            out.append(ch)
            i += 1
            last = "atom"
    if groups:
        raise RegexError("unbalanced ( in pattern")
    return "".join(out)


def _translate_class(pattern: str, start: int) -> tuple[str, int]:
    """Translate the character class starting at `start`; return it and the next index."""
    i = start + 1
    n = len(pattern)
    out = ["["]
    if i < n and pattern[i] == "^":
        out.append("^")
        i += 1
    first = i
    items = 0
    prev_char: str | None = None  # the single character just read, for a range
    while True:
        if i >= n:
            raise RegexError(f"unterminated character class at {start}")
        ch = pattern[i]
        if ch == "]":
            break
        if ch == "[":
            raise RegexError(f"unescaped [ inside a class at {i}")
        if ch in "&~|" and i + 1 < n and pattern[i + 1] == ch:
            raise RegexError(f"{ch}{ch} inside a class at {i} is not portable")
        if ch == "-":
            at_edge = i == first or (i + 1 < n and pattern[i + 1] == "]")
            if at_edge:
                out.append("\\-")
                prev_char = "-"
                i += 1
                items += 1
                continue
            if prev_char is None:
                raise RegexError(f"range at {i} does not start with a single character")
            low = prev_char
            high_text, high, i = _class_char(pattern, i + 1)
            if high is None:
                raise RegexError(f"range at {i} does not end with a single character")
            if ord(high) < ord(low):
                raise RegexError(f"range {low}-{high} is reversed")
            out.append("-" + high_text)
            prev_char = None
            items += 1
            continue
        text, single, i = _class_char(pattern, i)
        out.append(text)
        prev_char = single
        items += 1
    if items == 0:
        raise RegexError(f"empty character class at {start}")
    out.append("]")
    return "".join(out), i + 1


def _class_char(pattern: str, i: int) -> tuple[str, str | None, int]:
    """One class member at i: (python text, the single char or None for \\d etc., next index)."""
    if i >= len(pattern):
        raise RegexError("unterminated character class")
    ch = pattern[i]
    if ch == "\\":
        if i + 1 >= len(pattern):
            raise RegexError("pattern ends with a lone backslash")
        nxt = pattern[i + 1]
        if nxt in _CLASS_ESCAPES:
            return "\\" + nxt, None, i + 2
        if nxt in _CONTROL_ESCAPES:
            return "\\" + nxt, _CONTROL_ESCAPES[nxt], i + 2
        if nxt in _SYNTAX_CHARS or nxt == "-":
            return "\\" + nxt, nxt, i + 2
        raise RegexError(f"escape \\{nxt} at {i} is not portable")
    if ch in "]-[":
        raise RegexError(f"unexpected {ch} in a class at {i}")
    return (re.escape(ch) if ch in "&~|^" else ch), ch, i + 1


def compile_regex(pattern: str) -> re.Pattern[str]:
    """Compile a portable pattern for Python (ASCII \\d and \\w, like RE2 and JS)."""
    return re.compile(translate_regex(pattern), re.ASCII)


# --------------------------------------------------------------------- compile

def compile_rule(attribute: str, operator: Operator, values: Sequence[str], field: str = "rule") -> Predicate:
    """Compile one rule into a predicate over string attributes.

    Raises RuleError (with `field`) when the rule is malformed; the returned
    predicate itself never raises on well-formed string attributes.
    """
    name = attribute
    if not name:
        raise RuleError(f"{field}.attribute", "must not be empty")
    vals = list(values)

    def need(count: int) -> None:
        if len(vals) != count:
            raise RuleError(f"{field}.values", f"{operator.name} takes {count} value(s), got {len(vals)}")

    if operator is Operator.IN or operator is Operator.NOT_IN:
        if not vals:
            raise RuleError(f"{field}.values", f"{operator.name} needs at least one value")
        members = frozenset(vals)
        if operator is Operator.IN:
            return lambda attrs: attrs.get(name) in members
        return lambda attrs: attrs.get(name) not in members
    if operator is Operator.EQ:
        need(1)
        expected = vals[0]
        return lambda attrs: attrs.get(name) == expected
    if operator is Operator.NEQ:
        need(1)
        expected = vals[0]
        return lambda attrs: attrs.get(name) != expected
    if operator in _NUMERIC:
        need(1)
        bound = parse_decimal(vals[0])
        if bound is None:
            raise RuleError(f"{field}.values[0]", f"{vals[0]!r} is not a decimal number")
        compare = _NUMERIC[operator]

        cache_get = _decimal_cache.get

        def numeric(attrs: Attributes) -> bool:
            value = attrs.get(name)
            number = cache_get(value, _MISSING)  # the memo, inlined: this runs per rule per call
            if number is _MISSING:
                number = _cached_decimal(value)
            return number is not None and compare(number, bound)  # type: ignore[arg-type]

        return numeric
    if operator in _SEMVER_OPS:
        need(1)
        version = parse_semver(vals[0])
        if version is None:
            raise RuleError(f"{field}.values[0]", f"{vals[0]!r} is not a version (major[.minor[.patch]])")
        compare_version = _SEMVER_OPS[operator]

        semver_get = _semver_cache.get

        def semver(attrs: Attributes) -> bool:
            value = attrs.get(name)
            parsed = semver_get(value, _MISSING)
            if parsed is _MISSING:
                parsed = _cached_semver(value)
            return parsed is not None and compare_version(parsed, version)  # type: ignore[arg-type]

        return semver
    if operator is Operator.EXISTS:
        need(0)
        return lambda attrs: name in attrs
    if operator is Operator.NOT_EXISTS:
        need(0)
        return lambda attrs: name not in attrs
    if operator is Operator.REGEX:
        need(1)
        try:
            search = compile_regex(vals[0]).search
        except RegexError as exc:
            raise RuleError(f"{field}.values[0]", f"regex {vals[0]!r}: {exc}") from None

        def regex(attrs: Attributes) -> bool:
            value = attrs.get(name)
            return type(value) is str and search(value) is not None

        return regex
    raise RuleError(f"{field}.operator", f"unknown operator {operator!r}")


_NUMERIC: Final[dict[Operator, Callable[[float, float], bool]]] = {
    Operator.GT: operator.gt, Operator.GTE: operator.ge, Operator.LT: operator.lt, Operator.LTE: operator.le,
}
_SEMVER_OPS: Final[dict[Operator, Callable[[tuple[int, int, int], tuple[int, int, int]], bool]]] = {
    Operator.SEMVER_GT: operator.gt, Operator.SEMVER_GTE: operator.ge,
    Operator.SEMVER_LT: operator.lt, Operator.SEMVER_LTE: operator.le,
}
