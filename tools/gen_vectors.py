"""Generate proto/testdata/assignment_vectors.json from the Python core.

The file is the single source of truth every implementation (Python, Go,
TypeScript, the sidecar) runs in its tests; it is read in place, never copied.
`--check` exits 1 when the committed file differs from a fresh generation.

Layout (spec_version inside):
  hash_cases          {name, input, hash}              MurmurHash3_x86_32, seed 0
  bucket_cases        {name, unit_id, salt, bucket}
  attribute_cases     {name, value, encoded}           typed value -> contract string
  snapshots           {name: ConfigSnapshot in proto3 JSON}
  cases               {name, snapshot, input: {units, attributes, experiment},
                       expected: {variant, reason}}
  assign_all_cases    {name, snapshot, input: {units, attributes},
                       expected: [{experiment, variant, reason}]}
  ramp_pairs          {name, before, after}: names of two cases for the same unit
                      under the snapshots before and after a ramp
  invalid_snapshots   {name, snapshot, field}: must be refused; `field` is a
                      prefix of one reported error's field path
"""

from __future__ import annotations

import json
import random
import sys
import uuid
from pathlib import Path
from typing import Any

from google.protobuf import json_format
from splitline.core import SPEC_VERSION, bucket, compile_snapshot, encode_value, hash32
from splitline.core.validate import validate_snapshot
from splitline.snapshot_file import parse_snapshot

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "proto" / "testdata" / "assignment_vectors.json"

OPERATOR_CASES: dict[str, tuple[list[str], list[str | None]]] = {
    # operator: (rule values, attribute values to try; None = missing)
    "IN": (["US", "CA"], ["US", "CA", "us", "MX", "", " US", None]),
    "NOT_IN": (["US", "CA"], ["US", "CA", "us", "MX", "", None]),
    "EQ": (["pro"], ["pro", "Pro", "pro ", "", None]),
    "NEQ": (["pro"], ["pro", "Pro", "free", "", None]),
    "GT": (["16"], ["17", "16", "16.0", "15.9999", "1e2", "-20", "abc", "", "0x11", "inf", " 17", "1_7", "+17",
                    ".5", "17.", "1e400", None]),
    "GTE": (["16.5"], ["16.5", "16.50", "16.49", "17", "1.65e1", "abc", "", None]),
    "LT": (["0.5"], ["0.25", "0.5", ".49", "-1", "5e-1", "NaN", "", None]),
    "LTE": (["-3"], ["-3", "-3.0", "-2.9", "-4", "-3e0", "three", None]),
    "SEMVER_GT": (["2.3.4"], ["2.3.5", "2.3.4", "2.4", "3", "v2.10.0", "2.3.4-beta", "2.3.10", "1.99.99", "v",
                              "", "x2.4", "V2.4.0", "2.3.4.5", "02.03.05", None]),
    "SEMVER_GTE": (["v1.2"], ["1.2.0", "1.2", "1.1.9", "1.10", "v1.2.0-rc1", "1", "garbage", None]),
    "SEMVER_LT": (["10.0.0"], ["9.9.9", "10", "10.0.1", "v2", "1.0.0+build", "", None]),
    "SEMVER_LTE": (["1"], ["1", "1.0.0", "1.0.1", "0.9", "v0", "1.0.0-alpha", None]),
    "EXISTS": ([], ["x", "", None]),
    "NOT_EXISTS": ([], ["x", "", None]),
    "REGEX": (["^[a-z]+@example\\.(com|org)$"], ["ann@example.com", "ann@example.org", "Ann@example.com",
                                                "ann@example.com\n", "ann@exampleXcom", "x ann@example.com", "",
                                                None]),
}
REGEX_EXTRA: list[tuple[str, list[str]]] = [
    ("a.c", ["abc", "a\nc", "a\rc", "a\u2028c", "a☃c", "ac"]),
    ("\\d{3}", ["123", "12", "١٢٣", "a1234"]),
    ("^\\w+$", ["abc_1", "abc-1", "été", ""]),
    ("colou?r", ["color", "colour", "colouur"]),
    ("^(?:ab)+$", ["ab", "abab", "aba", ""]),
    ("[^0-9]", ["123", "12a", ""]),
    ("^.{2,3}$", ["ab", "abc", "abcd", "🙂🙂"]),
    ("[-a]", ["-", "a", "b"]),
    ("x*?y", ["y", "xxy", "x"]),
    ("\\.", [".", "a"]),
]


def _unit_ids(rng: random.Random) -> list[tuple[str, str]]:
    ids: list[tuple[str, str]] = [(f"seq{i}", str(i)) for i in range(0, 40)]
    ids += [(f"uuid{i}", str(uuid.UUID(int=rng.getrandbits(128), version=4))) for i in range(30)]
    ids += [(f"email{i}", f"user{rng.randrange(10**6)}@example.com") for i in range(20)]
    ids += [
        ("unicode_cjk", "用户-42"), ("unicode_accents", "émile-zoë"), ("unicode_emoji", "🙂-user"),
        ("unicode_rtl", "مستخدم"), ("unicode_combining", "e\u0301"), ("long", "x" * 1000),
        ("spaces", " 42 "), ("pipe", "a|b"), ("newline", "a\nb"), ("nul", "a\u0000b"),
    ]
    return ids


def main_snapshot() -> dict[str, Any]:
    """The main vectors snapshot: several layers, every status, holdouts, overrides, params."""
    variants_ab = [{"key": "control", "weight": 5000}, {"key": "treatment", "weight": 5000}]
    exps: list[dict[str, Any]] = [
        {"key": "checkout_v2", "layerId": "checkout", "unitType": "user_id", "status": "RUNNING",
         "ranges": [{"start": 0, "end": 5000}],
         "variants": [
             {"key": "control", "weight": 5000, "params": {"button": "blue"}},
             {"key": "treatment", "weight": 5000, "params": {"button": "green", "limit": 3, "ratio": 0.5}},
         ],
         "overrides": {"qa-alice": "treatment", "qa-bob": "control"}},
        {"key": "checkout_copy", "layerId": "checkout", "unitType": "user_id", "status": "RUNNING",
         "ranges": [{"start": 5000, "end": 7000}, {"start": 9000, "end": 10000}],
         "variants": [{"key": "a", "weight": 3334}, {"key": "b", "weight": 3333}, {"key": "c", "weight": 3333}]},
        {"key": "search_rank", "layerId": "search", "unitType": "user_id", "status": "RUNNING",
         "salt": "search_rank_2024",
         "ranges": [{"start": 0, "end": 10000}],
         "variants": [
             {"key": "control", "weight": 2500, "ranges": [{"start": 0, "end": 1250}, {"start": 5000, "end": 6250}]},
             {"key": "bm25", "weight": 5000, "ranges": [{"start": 1250, "end": 5000}, {"start": 6250, "end": 7500}]},
             {"key": "neural", "weight": 2500, "ranges": [{"start": 7500, "end": 10000}]},
         ],
         "rules": [{"attribute": "country", "operator": "IN", "values": ["US", "CA", "GB"]},
                   {"attribute": "app_version", "operator": "SEMVER_GTE", "values": ["2.0"]},
                   {"attribute": "age", "operator": "GTE", "values": ["18"]}]},
        {"key": "device_banner", "layerId": "device", "unitType": "device_id", "status": "RUNNING",
         "ranges": [{"start": 2000, "end": 8000}], "variants": variants_ab},
        {"key": "paused_exp", "layerId": "misc", "unitType": "user_id", "status": "PAUSED",
         "ranges": [{"start": 0, "end": 2000}], "variants": variants_ab, "overrides": {"qa-alice": "control"}},
        {"key": "draft_exp", "layerId": "misc", "unitType": "user_id", "status": "DRAFT", "variants": variants_ab},
        {"key": "concluded_exp", "layerId": "misc", "unitType": "user_id", "status": "CONCLUDED",
         "variants": variants_ab},
        {"key": "reverted_exp", "layerId": "misc", "unitType": "user_id", "status": "REVERTED",
         "variants": variants_ab},
        {"key": "shipped_exp", "layerId": "misc", "unitType": "user_id", "status": "SHIPPED",
         "shippedVariant": "treatment", "variants": variants_ab,
         "rules": [{"attribute": "plan", "operator": "NEQ", "values": ["enterprise"]}]},
        {"key": "misc_running", "layerId": "misc", "unitType": "user_id", "status": "RUNNING",
         "ranges": [{"start": 2000, "end": 6000}], "variants": variants_ab},
        {"key": "session_exp", "layerId": "session", "unitType": "session_id", "status": "RUNNING",
         "ranges": [{"start": 0, "end": 10000}],
         "variants": [{"key": "off", "weight": 9000}, {"key": "on", "weight": 1000}]},
    ]
    for op, (values, _) in OPERATOR_CASES.items():
        exps.append({"key": f"op_{op.lower()}", "layerId": f"op_{op.lower()}", "unitType": "user_id",
                     "status": "RUNNING", "ranges": [{"start": 0, "end": 10000}], "variants": variants_ab,
                     "rules": [{"attribute": "attr", "operator": op, "values": values}]})
    for i, (pattern, _) in enumerate(REGEX_EXTRA):
        exps.append({"key": f"regex_{i}", "layerId": f"regex_{i}", "unitType": "user_id",
                     "status": "RUNNING", "ranges": [{"start": 0, "end": 10000}], "variants": variants_ab,
                     "rules": [{"attribute": "attr", "operator": "REGEX", "values": [pattern]}]})
    layer_ids = sorted({e["layerId"] for e in exps})
    layers = [{"id": lid} for lid in layer_ids if lid != "search"] + [{"id": "search", "salt": "search-salt-v1"}]
    return {
        "revision": "42",
        "layers": layers,
        "experiments": exps,
        "holdouts": [
            {"id": "global_holdout", "percentBp": 500},
            {"id": "search_holdout", "salt": "sh-2024", "percentBp": 1000, "layerIds": ["search"]},
        ],
    }


def ramp_snapshot(ranges: list[dict[str, int]]) -> dict[str, Any]:
    return {
        "revision": "7",
        "layers": [{"id": "ramp_layer"}],
        "experiments": [
            {"key": "ramp_exp", "layerId": "ramp_layer", "unitType": "user_id", "status": "RUNNING",
             "ranges": ranges,
             "variants": [{"key": "control", "weight": 5000}, {"key": "treatment", "weight": 5000}]},
            {"key": "neighbour", "layerId": "ramp_layer", "unitType": "user_id", "status": "RUNNING",
             "ranges": [{"start": 8000, "end": 10000}],
             "variants": [{"key": "control", "weight": 5000}, {"key": "treatment", "weight": 5000}]},
        ],
    }


INVALID: list[tuple[str, str, dict[str, Any]]] = [
    ("weights_not_10000", "experiments[e].variants",
     {"variants": [{"key": "a", "weight": 5000}, {"key": "b", "weight": 4000}]}),
    ("one_variant", "experiments[e].variants", {"variants": [{"key": "a", "weight": 10000}]}),
    ("duplicate_variant", "experiments[e].variants[1].key",
     {"variants": [{"key": "a", "weight": 5000}, {"key": "a", "weight": 5000}]}),
    ("variant_ranges_overlap", "experiments[e].variants",
     {"variants": [{"key": "a", "weight": 5000, "ranges": [{"start": 0, "end": 5000}]},
                   {"key": "b", "weight": 5000, "ranges": [{"start": 4000, "end": 9000}]}]}),
    ("variant_ranges_not_weight", "experiments[e].variants[1].ranges",
     {"variants": [{"key": "a", "weight": 5000, "ranges": [{"start": 0, "end": 5000}]},
                   {"key": "b", "weight": 5000, "ranges": [{"start": 5000, "end": 9000}]}]}),
    ("range_out_of_bounds", "experiments[e].ranges[0]", {"ranges": [{"start": 9000, "end": 10001}]}),
    ("range_empty", "experiments[e].ranges[0]", {"ranges": [{"start": 10, "end": 10}]}),
    ("unknown_layer", "experiments[e].layer_id", {"layerId": "nope"}),
    ("bad_regex_lookahead", "experiments[e].rules[0].values[0]",
     {"rules": [{"attribute": "a", "operator": "REGEX", "values": ["(?=x)"]}]}),
    ("bad_regex_backref", "experiments[e].rules[0].values[0]",
     {"rules": [{"attribute": "a", "operator": "REGEX", "values": ["(a)\\1"]}]}),
    ("bad_regex_nested_quantifier", "experiments[e].rules[0].values[0]",
     {"rules": [{"attribute": "a", "operator": "REGEX", "values": ["(a+)+$"]}]}),
    ("bad_regex_whitespace_class", "experiments[e].rules[0].values[0]",
     {"rules": [{"attribute": "a", "operator": "REGEX", "values": ["\\s"]}]}),
    ("unknown_operator", "experiments[e].rules[0].operator", {"rules": [{"attribute": "a", "operator": 99}]}),
    ("unspecified_operator", "experiments[e].rules[0].operator",
     {"rules": [{"attribute": "a", "operator": "OPERATOR_UNSPECIFIED", "values": ["x"]}]}),
    ("gt_not_a_number", "experiments[e].rules[0].values[0]",
     {"rules": [{"attribute": "a", "operator": "GT", "values": ["ten"]}]}),
    ("semver_not_a_version", "experiments[e].rules[0].values[0]",
     {"rules": [{"attribute": "a", "operator": "SEMVER_GT", "values": ["latest"]}]}),
    ("in_without_values", "experiments[e].rules[0].values",
     {"rules": [{"attribute": "a", "operator": "IN", "values": []}]}),
    ("empty_attribute", "experiments[e].rules[0].attribute",
     {"rules": [{"attribute": "", "operator": "EXISTS"}]}),
    ("override_unknown_variant", "experiments[e].overrides[u1]", {"overrides": {"u1": "zzz"}}),
    ("shipped_without_variant", "experiments[e].shipped_variant", {"status": "SHIPPED"}),
    ("unspecified_status", "experiments[e].status", {"status": "EXPERIMENT_STATUS_UNSPECIFIED"}),
    ("empty_unit_type", "experiments[e].unit_type", {"unitType": ""}),
    ("bad_key", "experiments[bad key].key", {"key": "bad key"}),
]


def invalid_snapshots() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    base_exp = {"key": "e", "layerId": "l", "unitType": "user_id", "status": "RUNNING",
                "ranges": [{"start": 0, "end": 5000}],
                "variants": [{"key": "a", "weight": 5000}, {"key": "b", "weight": 5000}]}
    for name, field, patch in INVALID:
        exp = {**base_exp, **patch}
        doc = {"revision": "1", "layers": [{"id": "l"}], "experiments": [exp]}
        out.append({"name": name, "field": field, "snapshot": doc})
    overlap = {"revision": "1", "layers": [{"id": "l"}], "experiments": [
        base_exp, {**base_exp, "key": "f", "ranges": [{"start": 4000, "end": 6000}]}]}
    out.append({"name": "layer_ranges_overlap", "field": "layers[l]", "snapshot": overlap})
    dup = {"revision": "1", "layers": [{"id": "l"}], "experiments": [base_exp, {**base_exp, "ranges": []}]}
    out.append({"name": "duplicate_experiment", "field": "experiments[e].key", "snapshot": dup})
    dup_layer = {"revision": "1", "layers": [{"id": "l"}, {"id": "l"}], "experiments": []}
    out.append({"name": "duplicate_layer", "field": "layers[l].id", "snapshot": dup_layer})
    bad_holdout = {"revision": "1", "layers": [{"id": "l"}], "experiments": [],
                   "holdouts": [{"id": "h", "percentBp": 10001, "layerIds": ["zz"]}]}
    out.append({"name": "holdout_bad", "field": "holdouts[h]", "snapshot": bad_holdout})
    return out


def _proto_json(doc: dict[str, Any]) -> dict[str, Any]:
    """Round-trip through the proto so the file holds canonical proto3 JSON."""
    snap = parse_snapshot(json.dumps(doc))
    # Sorted keys: map and Struct fields come out of protobuf in hash order.
    result: dict[str, Any] = json.loads(json.dumps(json_format.MessageToDict(snap), sort_keys=True))
    return result


def build() -> dict[str, Any]:
    rng = random.Random(20261123)
    snapshots = {
        "main": _proto_json(main_snapshot()),
        "ramp_before": _proto_json(ramp_snapshot([{"start": 0, "end": 2000}])),
        "ramp_after": _proto_json(ramp_snapshot([{"start": 0, "end": 2000}, {"start": 3000, "end": 6000}])),
        "empty": {"revision": "1"},
    }
    compiled = {name: compile_snapshot(parse_snapshot(json.dumps(doc))) for name, doc in snapshots.items()}
    cases: list[dict[str, Any]] = []

    def add(name: str, snap: str, units: dict[str, str], attrs: dict[str, str], key: str) -> None:
        result = compiled[snap].assign(key, units, attrs)
        cases.append({
            "name": name, "snapshot": snap,
            "input": {"units": units, "attributes": attrs, "experiment": key},
            "expected": {"variant": result.variant, "reason": result.reason.value},
        })

    unit_ids = _unit_ids(rng)
    eligible = {"country": "US", "app_version": "2.1.0", "age": "30", "plan": "free"}
    for label, uid in unit_ids:
        for key in ("checkout_v2", "checkout_copy", "search_rank", "misc_running", "shipped_exp"):
            add(f"main/{key}/{label}", "main", {"user_id": uid}, eligible, key)
    for label, uid in unit_ids[:25]:
        add(f"main/device_banner/{label}", "main", {"device_id": uid, "user_id": "1"}, {}, "device_banner")
        add(f"main/session_exp/{label}", "main", {"session_id": uid}, {}, "session_exp")
    # Reasons that need a particular input.
    add("reason/unknown_experiment", "main", {"user_id": "1"}, {}, "no_such_experiment")
    add("reason/unknown_experiment_empty_snapshot", "empty", {"user_id": "1"}, {}, "checkout_v2")
    add("reason/no_unit_missing", "main", {"device_id": "d1"}, {}, "checkout_v2")
    add("reason/no_unit_empty_id", "main", {"user_id": ""}, {}, "checkout_v2")
    add("reason/no_unit_no_units", "main", {}, {}, "checkout_v2")
    add("reason/override_treatment", "main", {"user_id": "qa-alice"}, {}, "checkout_v2")
    add("reason/override_control", "main", {"user_id": "qa-bob"}, {}, "checkout_v2")
    add("reason/override_beats_paused", "main", {"user_id": "qa-alice"}, {}, "paused_exp")
    add("reason/override_other_unit_type", "main", {"device_id": "qa-alice"}, {}, "checkout_v2")
    for key in ("paused_exp", "draft_exp", "concluded_exp", "reverted_exp"):
        add(f"reason/not_running/{key}", "main", {"user_id": "12345"}, eligible, key)
    add("reason/shipped", "main", {"user_id": "12345"}, {"plan": "free"}, "shipped_exp")
    add("reason/shipped_missing_attr", "main", {"user_id": "12345"}, {}, "shipped_exp")
    add("reason/shipped_not_eligible", "main", {"user_id": "12345"}, {"plan": "enterprise"}, "shipped_exp")
    for attrs_label, attrs in [
        ("all_hold", eligible), ("country_fails", {**eligible, "country": "FR"}),
        ("version_fails", {**eligible, "app_version": "1.9"}), ("age_missing", {"country": "US", "app_version": "3"}),
        ("age_unparseable", {**eligible, "age": "thirty"}), ("no_attributes", {}),
    ]:
        for label, uid in unit_ids[:12]:
            add(f"rules/search_rank/{attrs_label}/{label}", "main", {"user_id": uid}, attrs, "search_rank")
    # Holdouts: find units held out and not.
    held = [str(i) for i in range(2000) if bucket(str(i), "global_holdout") < 500][:6]
    search_held = [str(i) for i in range(2000)
                   if bucket(str(i), "sh-2024") < 1000 and bucket(str(i), "global_holdout") >= 500][:6]
    for uid in held:
        add(f"holdout/global/{uid}", "main", {"user_id": uid}, eligible, "checkout_v2")
        add(f"holdout/global_search/{uid}", "main", {"user_id": uid}, eligible, "search_rank")
    for uid in search_held:
        add(f"holdout/search_only/{uid}", "main", {"user_id": uid}, eligible, "search_rank")
        add(f"holdout/search_only_not_checkout/{uid}", "main", {"user_id": uid}, eligible, "checkout_v2")
    # Every operator with matching, non-matching, missing and unparseable values.
    for op, (_, attr_values) in OPERATOR_CASES.items():
        for i, value in enumerate(attr_values):
            attrs = {} if value is None else {"attr": value}
            label = "missing" if value is None else f"{i}"
            for uid in ("7", "alice"):
                add(f"operator/{op}/{label}/{uid}", "main", {"user_id": uid}, attrs, f"op_{op.lower()}")
    for i, (_, values) in enumerate(REGEX_EXTRA):
        for j, value in enumerate(values):
            add(f"regex/{i}/{j}", "main", {"user_id": "7"}, {"attr": value}, f"regex_{i}")
    # Ramp pairs: the same units before and after adding [3000, 6000).
    ramp_pairs: list[dict[str, str]] = []
    for i in range(60):
        uid = f"ramp-user-{i}"
        before = f"ramp/{i}/before"
        after = f"ramp/{i}/after"
        add(before, "ramp_before", {"user_id": uid}, {}, "ramp_exp")
        add(after, "ramp_after", {"user_id": uid}, {}, "ramp_exp")
        ramp_pairs.append({"name": f"ramp/{i}", "before": before, "after": after})

    assign_all_cases: list[dict[str, Any]] = []
    all_inputs: list[tuple[str, dict[str, str], dict[str, str]]] = [
        (f"{label}", {"user_id": uid, "device_id": f"dev-{uid}", "session_id": f"s-{uid}"},
         {**eligible, "attr": "US"}) for label, uid in unit_ids[:40]
    ]
    all_inputs += [
        ("override_alice", {"user_id": "qa-alice"}, {}),
        ("no_units", {}, {}),
        ("empty_id", {"user_id": ""}, eligible),
        ("enterprise", {"user_id": "77"}, {"plan": "enterprise"}),
    ]
    for label, units, attrs in all_inputs:
        results = compiled["main"].assign_all(units, attrs)
        assign_all_cases.append({
            "name": f"all/{label}", "snapshot": "main", "input": {"units": units, "attributes": attrs},
            "expected": [{"experiment": r.experiment_key, "variant": r.variant, "reason": r.reason.value}
                         for r in sorted(results, key=lambda r: r.experiment_key)],
        })

    hash_inputs = ["", "a", "hello", "The quick brown fox jumps over the lazy dog", "用户", "🙂", "e\u0301",
                   "x" * 257, "42|checkout", "a\u0000b"]
    hash_cases = [{"name": f"hash/{i}", "input": s, "hash": hash32(s)} for i, s in enumerate(hash_inputs)]
    bucket_cases = [
        {"name": f"bucket/{label}", "unit_id": uid, "salt": salt, "bucket": bucket(uid, salt)}
        for label, uid in unit_ids[:30] for salt in ("checkout", "exp-salt")
    ]
    attribute_values: list[Any] = [True, False, 0, 16, -7, 16.0, 0.5, -0.25, 1e21, 1e-7, 123456789.125, 1.5e-7,
                                   1e20, 0.1, 1 / 3, 2**53, "16", "", "true"]
    attribute_cases = [{"name": f"attribute/{i}", "value": v, "encoded": encode_value(v)}
                       for i, v in enumerate(attribute_values)]
    invalid = invalid_snapshots()
    for item in invalid:
        errors = validate_snapshot(parse_snapshot(json.dumps(item["snapshot"])))
        if not any(e.field.startswith(item["field"]) for e in errors):
            raise SystemExit(f"invalid snapshot {item['name']}: expected an error on {item['field']}, got {errors}")
    return {
        "spec_version": SPEC_VERSION,
        "description": "Splitline assignment vectors: generated by tools/gen_vectors.py from the Python core. "
                       "Every implementation must reproduce every case. Do not edit or copy.",
        "hash": "MurmurHash3_x86_32(utf8(s), seed=0) unsigned; bucket = hash(unit_id + '|' + salt) % 10000",
        "hash_cases": hash_cases,
        "bucket_cases": bucket_cases,
        "attribute_cases": attribute_cases,
        "snapshots": snapshots,
        "cases": cases,
        "assign_all_cases": assign_all_cases,
        "ramp_pairs": ramp_pairs,
        "invalid_snapshots": invalid,
    }


def render() -> str:
    return json.dumps(build(), indent=1, ensure_ascii=False, sort_keys=False) + "\n"


def main() -> int:
    text = render()
    if "--check" in sys.argv[1:]:
        if not TARGET.exists() or TARGET.read_text(encoding="utf-8") != text:
            print(f"{TARGET.relative_to(ROOT)} is stale; run `python tools/gen_vectors.py`")
            return 1
        print("vectors are up to date")
        return 0
    TARGET.write_text(text, encoding="utf-8")
    data = json.loads(text)
    print(f"wrote {TARGET.relative_to(ROOT)}: {len(data['cases'])} cases, "
          f"{len(data['assign_all_cases'])} assign_all cases, {len(data['invalid_snapshots'])} invalid snapshots")
    return 0


if __name__ == "__main__":
    sys.exit(main())
