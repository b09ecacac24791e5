"""Differential test: Python, Go and TypeScript decide 100,000 random cases alike.

Random snapshots (every status, operator, holdouts, overrides, fragmented
variant ranges, random portable regexes) that the Python core accepts, and
random units and attributes (unicode, empty ids, numbers in odd spellings,
huge versions, typed attribute values), all from a fixed seed. The Python
core decides each case in process; the Go binary (`sdk_go/cmd/splitline-eval`,
built here) and, when it is built, the TypeScript CLI (`sdk_js/dist/cli/eval.js`)
decide the same cases over their JSON-lines protocol. Any disagreement fails
the test with the first few differing cases.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from splitline.core import RegexError, compile_snapshot, encode_attributes, validate_snapshot
from splitline.core.rules import translate_regex
from splitline.snapshot_file import parse_snapshot

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent.parent
SDK_GO = ROOT / "sdk_go"
TS_CLI = ROOT / "sdk_js" / "dist" / "cli" / "eval.js"

SEED = 20261124
N_SNAPSHOTS = 200
CASES_PER_SNAPSHOT = 500  # 100,000 cases in all

STATUSES = ["RUNNING"] * 24 + ["PAUSED", "DRAFT", "CONCLUDED", "SHIPPED", "SHIPPED", "REVERTED", "ARCHIVED"]
UNIT_TYPES = ["user_id", "device_id", "session_id"]
ATTRS = ["country", "plan", "age", "score", "app_version", "email", "tag"]
STRINGS = ["US", "CA", "GB", "FR", "us", "", " US", "pro", "free", "enterprise", "true", "false", "null",
           "é", "用户", "🙂", "a|b", "x\ny"]
NUMBERS = ["0", "-0", "16", "16.0", "16.5", "+17", ".5", "17.", "1e2", "1E-2", "-3e0", "1e400", "-1e400", "1e-400",
           "0x11", "inf", "NaN", " 17", "1_7", "abc", "", "9007199254740993", "0.1", "0.30000000000000004",
           "123456789012345678901234567890", "-.5e-3", "1e", "e1", ".", "١٢"]
VERSIONS = ["1", "1.2", "1.2.3", "v2", "v2.10.0", "2.3.4-beta", "02.03.05", "1.", "v", "V2", "x1", "",
            "99999999999999999999.1", "99999999999999999998.9.9", "1.99999999999999999999", "10.0.0+build",
            "0.0.0", "3.0", "2.9.99", "v1.2.3.4"]
REGEX_PARTS = ["a", "b", "c", ".", "\\d", "\\w", "\\W", "\\D", "[a-c]", "[^a]", "[-x]", "\\.", "é", "🙂", "\\n",
               "[0-9]", "[\\d.]", "[^\\w]", "x"]
REGEX_CHARS = ["a", "b", "c", ".", "1", "9", "\n", "\r", "\u2028", "é", "🙂", "x", "_", "-", " ", "A"]


def _random_regex(rng: random.Random) -> str:
    while True:
        parts: list[str] = []
        if rng.random() < 0.3:
            parts.append("^")
        for _ in range(rng.randint(1, 5)):
            atom = rng.choice(REGEX_PARTS)
            roll = rng.random()
            if roll < 0.15:
                atom = "(" + atom + rng.choice(["", "|", "b|"]) + rng.choice(REGEX_PARTS) + ")"
            elif roll < 0.25:
                atom = "(?:" + atom + rng.choice(REGEX_PARTS) + ")"
            q = rng.random()
            if q < 0.15:
                atom += rng.choice(["*", "+", "?", "*?", "+?"])
            elif q < 0.25:
                low = rng.randint(0, 3)
                atom += rng.choice([f"{{{low}}}", f"{{{low},}}", f"{{{low},{low + rng.randint(0, 3)}}}", f"{{0{low}}}"])
            parts.append(atom)
        if rng.random() < 0.3:
            parts.append("$")
        if rng.random() < 0.1:
            parts.insert(rng.randint(0, len(parts)), "|")
        pattern = "".join(parts)
        try:
            translate_regex(pattern)
        except RegexError:
            continue
        return pattern


def _random_rule(rng: random.Random) -> dict[str, Any]:
    op = rng.choice(["IN", "NOT_IN", "EQ", "NEQ", "GT", "GTE", "LT", "LTE", "SEMVER_GT", "SEMVER_GTE",
                     "SEMVER_LT", "SEMVER_LTE", "EXISTS", "NOT_EXISTS", "REGEX"])
    attribute = rng.choice(ATTRS)
    if op in ("IN", "NOT_IN"):
        values = rng.sample(STRINGS, rng.randint(1, 10))
    elif op in ("EQ", "NEQ"):
        values = [rng.choice(STRINGS + NUMBERS[:8])]
    elif op in ("GT", "GTE", "LT", "LTE"):
        values = [rng.choice(["16", "16.5", "0", "-3", ".5", "1e2", "0.1", "1e400", "9007199254740992"])]
    elif op.startswith("SEMVER"):
        values = [rng.choice(["1", "1.2", "2.3.4", "v10.0.0", "99999999999999999999", "0.0.1"])]
    elif op == "REGEX":
        values = [_random_regex(rng)]
    else:
        values = []
    return {"attribute": attribute, "operator": op, "values": values}


def _random_ranges(rng: random.Random, weights: list[int]) -> list[list[dict[str, int]]]:
    """Variant ranges covering exactly their weights, contiguous or cut into shuffled pieces."""
    if rng.random() < 0.5:
        out, start = [], 0
        for w in weights:
            out.append([{"start": start, "end": start + w}] if w else [])
            start += w
        return out
    pieces: list[tuple[int, int]] = []  # (owner, size)
    for owner, w in enumerate(weights):
        left = w
        while left > 0:
            size = min(left, rng.choice([rng.randint(1, 50), rng.randint(1, 4000)]))
            pieces.append((owner, size))
            left -= size
    rng.shuffle(pieces)
    out = [[] for _ in weights]
    start = 0
    for owner, size in pieces:
        out[owner].append({"start": start, "end": start + size})
        start += size
    return out


def _random_snapshot(rng: random.Random, index: int) -> dict[str, Any]:
    layers = [{"id": f"layer{i}", **({"salt": f"salt-{index}-{i}"} if rng.random() < 0.5 else {})}
              for i in range(rng.randint(1, 4))]
    experiments: list[dict[str, Any]] = []
    for layer in layers:
        cursor = 0
        for _ in range(rng.randint(1, 4)):
            key = f"exp{len(experiments)}"
            n_variants = rng.randint(2, 4)
            cuts = sorted(rng.sample(range(0, 10001), n_variants - 1))
            weights = [b - a for a, b in zip([0, *cuts], [*cuts, 10000], strict=True)]
            ranges = _random_ranges(rng, weights)
            variants = [{"key": f"v{i}", "weight": w, "ranges": r}
                        for i, (w, r) in enumerate(zip(weights, ranges, strict=True))]
            status = rng.choice(STATUSES)
            exp: dict[str, Any] = {
                "key": key, "layerId": layer["id"], "unitType": rng.choice(UNIT_TYPES), "status": status,
                "variants": variants, "rules": [_random_rule(rng) for _ in range(rng.choice([0, 0, 0, 0, 1, 1, 2, 3]))],
            }
            if rng.random() < 0.5:
                exp["salt"] = f"{key}-salt-{rng.randrange(1000)}"
            span = rng.randint(0, 10000 - cursor)
            if span:
                exp["ranges"] = [{"start": cursor, "end": cursor + span // 2},
                                 {"start": cursor + span // 2 + (1 if span > 3 else 0), "end": cursor + span}]
                exp["ranges"] = [r for r in exp["ranges"] if r["start"] < r["end"]]
            cursor += span
            if rng.random() < 0.3:
                exp["overrides"] = {f"qa-{rng.randrange(5)}": rng.choice(variants)["key"] for _ in range(2)}
            if status == "SHIPPED" or rng.random() < 0.1:
                exp["shippedVariant"] = rng.choice(variants)["key"]
            experiments.append(exp)
    holdouts = []
    for i in range(rng.choice([0, 0, 1, 2])):
        h: dict[str, Any] = {"id": f"hold{i}", "percentBp": rng.choice([0, 100, 500, 1000, 2000, 10000])}
        if rng.random() < 0.5:
            h["layerIds"] = rng.sample([layer["id"] for layer in layers], 1)
        if rng.random() < 0.5:
            h["salt"] = f"hs-{i}"
        holdouts.append(h)
    return {"revision": str(index + 1), "layers": layers, "experiments": experiments, "holdouts": holdouts}


def _random_unit_id(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.02:
        return ""
    if roll < 0.07:
        return f"qa-{rng.randrange(5)}"
    if roll < 0.25:
        return "".join(rng.choice("ab用🙂é|\n 0") for _ in range(rng.randint(1, 12)))
    return str(rng.randrange(10**9)) if rng.random() < 0.5 else f"user-{rng.getrandbits(64):x}"


def _random_attribute_value(rng: random.Random, name: str) -> Any:
    roll = rng.random()
    if roll < 0.1:  # typed values: each SDK encodes them per the contract
        return rng.choice([True, False, 16, -7, 0, 16.0, 0.5, 1e21, 1e-7, 1.5e-7, 123456789.125, 2**53,
                           rng.randrange(-10**6, 10**6), rng.uniform(-1e3, 1e3)])
    if name in ("age", "score"):
        return rng.choice(NUMBERS)
    if name == "app_version":
        return rng.choice(VERSIONS)
    if name in ("email", "tag"):
        return "".join(rng.choice(REGEX_CHARS) for _ in range(rng.randint(0, 8)))
    return rng.choice(STRINGS)


def _build_cases() -> tuple[dict[str, Any], list[dict[str, Any]], list[tuple[str | None, str]]]:
    rng = random.Random(SEED)
    snapshots: dict[str, Any] = {}
    cases: list[dict[str, Any]] = []
    expected: list[tuple[str | None, str]] = []
    made = 0
    while len(snapshots) < N_SNAPSHOTS:
        doc = _random_snapshot(rng, made)
        made += 1
        parsed = parse_snapshot(json.dumps(doc))
        if validate_snapshot(parsed):
            continue
        name = f"s{len(snapshots)}"
        snapshots[name] = doc
        compiled = compile_snapshot(parsed)
        keys = [e["key"] for e in doc["experiments"]] + ["unknown_exp"]
        for _ in range(CASES_PER_SNAPSHOT):
            units = {t: _random_unit_id(rng) for t in UNIT_TYPES if rng.random() < 0.95}
            attributes = {a: _random_attribute_value(rng, a) for a in ATTRS if rng.random() < 0.7}
            key = "unknown_exp" if rng.random() < 0.03 else rng.choice(keys[:-1])
            result = compiled.assign(key, units, encode_attributes(attributes))
            cases.append({"id": str(len(cases)), "snapshot": name, "units": units, "attributes": attributes,
                          "experiment": key})
            expected.append((result.variant, result.reason.value))
    assert made < N_SNAPSHOTS * 3, "the generator makes too many snapshots the core refuses"
    return snapshots, cases, expected


_PAYLOADS: dict[int, str] = {}


def _payload(snapshots: dict[str, Any], cases: list[dict[str, Any]]) -> str:
    """The CLI's stdin, written once per corpus and shared by the Go and TypeScript runs."""
    key = id(cases)
    if key not in _PAYLOADS:
        lines = [json.dumps({"snapshots": snapshots})] + [json.dumps(c) for c in cases]
        _PAYLOADS[key] = "\n".join(lines) + "\n"
    return _PAYLOADS[key]


def _run_cli(cmd: list[str], snapshots: dict[str, Any], cases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    proc = subprocess.run(cmd, input=_payload(snapshots, cases), capture_output=True, text=True, timeout=120,
                          check=False, cwd=ROOT)
    assert proc.returncode == 0, f"{cmd}: exit {proc.returncode}: {proc.stderr[-2000:]}"
    out = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    assert len(out) == len(cases), f"{cmd}: {len(out)} answers for {len(cases)} cases"
    return out


def _disagreements(name: str, cases: list[dict[str, Any]], expected: list[tuple[str | None, str]],
                   got: list[dict[str, Any]]) -> list[str]:
    bad = []
    for case, want, answer in zip(cases, expected, got, strict=True):
        if answer.get("id") != case["id"] or (answer.get("variant"), answer.get("reason")) != want:
            bad.append(f"{name} case {case['id']}: python {want}, {name} {answer} for {json.dumps(case)[:400]}")
    return bad


@pytest.fixture(scope="module")
def corpus() -> tuple[dict[str, Any], list[dict[str, Any]], list[tuple[str | None, str]]]:
    return _build_cases()


@pytest.fixture(scope="module")
def go_binary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    go = shutil.which("go")
    if go is None:
        pytest.skip("go is not installed")
    out = tmp_path_factory.mktemp("go") / "splitline-eval"
    subprocess.run([go, "build", "-buildvcs=false", "-o", str(out), "./cmd/splitline-eval"], cwd=SDK_GO,
                   check=True, timeout=300, env={**os.environ, "CGO_ENABLED": "0"})
    return out


def test_corpus_covers_every_reason(corpus: tuple[dict[str, Any], list[dict[str, Any]], list[Any]]) -> None:
    _, cases, expected = corpus
    assert len(cases) == N_SNAPSHOTS * CASES_PER_SNAPSHOT
    reasons = {reason for _, reason in expected}
    assert reasons >= {"ASSIGNED", "NOT_IN_TRAFFIC", "NOT_ELIGIBLE", "HOLDOUT", "OVERRIDE", "NOT_RUNNING",
                       "SHIPPED", "NO_UNIT", "UNKNOWN_EXPERIMENT"}, reasons


def test_go_agrees_with_python(corpus: tuple[dict[str, Any], list[dict[str, Any]], list[Any]],
                               go_binary: Path) -> None:
    snapshots, cases, expected = corpus
    bad = _disagreements("go", cases, expected, _run_cli([str(go_binary)], snapshots, cases))
    assert not bad, f"{len(bad)} disagreements:\n" + "\n".join(bad[:10])


def test_typescript_agrees_with_python(corpus: tuple[dict[str, Any], list[dict[str, Any]], list[Any]]) -> None:
    node = shutil.which("node")
    if node is None or not TS_CLI.exists():
        pytest.skip("the TypeScript CLI is not built (sdk_js/dist/cli/eval.js) or node is missing")
    snapshots, cases, expected = corpus
    bad = _disagreements("typescript", cases, expected, _run_cli([node, str(TS_CLI)], snapshots, cases))
    assert not bad, f"{len(bad)} disagreements:\n" + "\n".join(bad[:10])
