"""Rule operands: decimal and semver parsing, the portable regex subset, attribute encoding."""

from __future__ import annotations

import re

import pytest
from splitline.core import RegexError, format_number, parse_decimal, parse_semver
from splitline.core.rules import compile_regex, translate_regex


@pytest.mark.parametrize(("text", "expected"), [
    ("16", 16.0), ("-3.5", -3.5), ("+2", 2.0), (".5", 0.5), ("5.", 5.0), ("1e3", 1000.0), ("1E-2", 0.01),
    ("1e400", float("inf")),
])
def test_decimal_parses(text: str, expected: float) -> None:
    assert parse_decimal(text) == expected


@pytest.mark.parametrize("text", ["", " 1", "1 ", "0x10", "inf", "NaN", "1_000", "1e", ".", "+", "١٢", "--1"])
def test_decimal_refuses(text: str) -> None:
    assert parse_decimal(text) is None


@pytest.mark.parametrize(("text", "expected"), [
    ("1", (1, 0, 0)), ("v2.3", (2, 3, 0)), ("2.3.4-beta.1", (2, 3, 4)), ("10.0.1+build", (10, 0, 1)),
    ("1.2.3.4", (1, 2, 3)), ("007.08.9", (7, 8, 9)), ("99999999999999999999.1", (99999999999999999999, 1, 0)),
])
def test_semver_parses(text: str, expected: tuple[int, int, int]) -> None:
    assert parse_semver(text) == expected


@pytest.mark.parametrize("text", ["", "v", "V1.2", "x1", ".1", "١.٢"])
def test_semver_refuses(text: str) -> None:
    assert parse_semver(text) is None


@pytest.mark.parametrize("pattern", [
    "abc", "^a.c$", "a|b", "(ab)+", "(?:ab)*?", "[a-z0-9_]", "[^0-9]", "\\d{2,4}", "\\w+", "\\.", "[-a]", "[a-]",
    "x{3}", "x{3,}", "a\\/b", "\\n\\t", "[\\]\\\\]", "用户.*",
])
def test_portable_patterns_compile(pattern: str) -> None:
    compile_regex(pattern)


@pytest.mark.parametrize(("pattern", "why"), [
    ("(?=a)", "group syntax"), ("(?<n>a)", "group syntax"), ("(?i)a", "group syntax"), ("(a)\\1", "escape"),
    ("\\s", "escape"), ("\\b", "escape"), ("\\A", "escape"), ("a**", "nothing to repeat"),
    ("*a", "nothing to repeat"), ("(a+)+", "already repeats"), ("((a)*)*", "already repeats"), ("[]", "empty"),
    ("[^]", "empty"), ("[[a]", "unescaped ["), ("[a&&b]", "&&"), ("a{1001}", "above"), ("a{3,2}", "reversed"),
    ("a{", "quantifier"), ("a}", "unescaped"), ("a]", "unescaped"), ("(a", "unbalanced"), ("a)", "unbalanced"),
    ("\\", "lone backslash"), ("[z-a]", "reversed"), ("[\\d-z]", "single character"), ("x" * 1001, "longer"),
])
def test_non_portable_patterns_refused(pattern: str, why: str) -> None:
    with pytest.raises(RegexError, match=re.escape(why)):
        translate_regex(pattern)


def test_dot_and_dollar_mean_the_same_as_in_javascript() -> None:
    dot = compile_regex("^a.c$")
    assert dot.search("abc") and dot.search("a☃c")
    for text in ("a\nc", "a\rc", "a\u2028c", "a\u2029c", "abc\n"):
        assert dot.search(text) is None, repr(text)
    assert compile_regex("\\d").search("٣") is None  # ASCII digits only, as in RE2 and JS


@pytest.mark.parametrize(("value", "text"), [
    (16.0, "16"), (0.5, "0.5"), (-0.0, "0"), (1e21, "1e+21"), (1e20, "100000000000000000000"), (1e-7, "1e-7"),
    (1.5e-7, "1.5e-7"), (0.000001, "0.000001"), (123.456, "123.456"), (2.5e25, "2.5e+25"), (float("inf"), "Infinity"),
    (float("-inf"), "-Infinity"), (float("nan"), "NaN"), (5e-324, "5e-324"), (1.7976931348623157e308,
                                                                              "1.7976931348623157e+308"),
])
def test_number_formatting_follows_ecmascript(value: float, text: str) -> None:
    assert format_number(value) == text
