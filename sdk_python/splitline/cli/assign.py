"""`splitline assign` and `splitline explain`: the core, from the command line.

    splitline assign --snapshot FILE --unit user_id=42 [--attr country=US ...] [--experiment KEY] [--json]
    splitline assign --snapshot FILE --units-file IDS [--unit-type user_id] [--experiment KEY ...]
    splitline explain --snapshot FILE --unit user_id=42 --experiment KEY [--attr ...]

Batch mode writes JSON lines {"unit_id", "experiment", "variant", "reason"}, one
per id and experiment, streaming (a million ids take seconds).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Sequence
from typing import Any, TextIO


def _pairs(values: Sequence[str] | None, flag: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in values or ():
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise SystemExit(f"splitline: {flag} expects NAME=VALUE, got {item!r}")
        out[name] = value
    return out


def register(sub: Any) -> None:
    assign = sub.add_parser("assign", help="assign a unit (or a file of ids) from a snapshot file")
    _common(assign)
    assign.add_argument("--experiment", action="append", metavar="KEY",
                        help="experiment key (repeatable); default: every experiment in the snapshot")
    assign.add_argument("--units-file", metavar="FILE", help="batch mode: one unit id per line ('-' = stdin)")
    assign.add_argument("--unit-type", default=None,
                        help="unit type of the ids in --units-file (default: the experiment's, else user_id)")
    assign.add_argument("--all-reasons", action="store_true",
                        help="single unit without --experiment: list every experiment, not only those with a variant")
    assign.add_argument("--json", action="store_true", help="machine-readable output")
    assign.set_defaults(handler=run_assign)

    explain = sub.add_parser("explain", help="explain step by step why a unit gets its variant")
    _common(explain)
    explain.add_argument("--experiment", required=True, metavar="KEY")
    explain.add_argument("--json", action="store_true")
    explain.set_defaults(handler=run_explain)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--snapshot", required=True, metavar="FILE", help="snapshot file, proto3 JSON or YAML")
    parser.add_argument("--unit", action="append", metavar="TYPE=ID", help="unit id, e.g. user_id=42 (repeatable)")
    parser.add_argument("--attr", action="append", metavar="NAME=VALUE", help="attribute (repeatable)")


def _load(path: str) -> Any:
    from splitline.core import SnapshotError, compile_snapshot
    from splitline.snapshot_file import SnapshotFileError, load_snapshot

    try:
        return compile_snapshot(load_snapshot(path))
    except SnapshotFileError as exc:
        raise SystemExit(f"splitline: {exc}") from None
    except SnapshotError as exc:
        lines = "\n".join(f"  {e}" for e in exc.errors)
        raise SystemExit(f"splitline: {path} is not a valid snapshot:\n{lines}") from None


def _row(unit_id: str, assignment: Any) -> dict[str, Any]:
    return {"unit_id": unit_id, "experiment": assignment.experiment_key, "variant": assignment.variant,
            "reason": assignment.reason.value, "params": dict(assignment.params)}


def run_assign(args: argparse.Namespace) -> int:
    compiled = _load(args.snapshot)
    attributes = _pairs(args.attr, "--attr")
    if args.units_file:
        return _batch(compiled, args, attributes, sys.stdout)
    units = _pairs(args.unit, "--unit")
    if not units:
        raise SystemExit("splitline: give --unit TYPE=ID or --units-file FILE")
    if args.experiment:
        results = compiled.assign_many(args.experiment, units, attributes)
    elif args.all_reasons:
        results = compiled.assign_many(sorted(compiled.experiments), units, attributes)
    else:
        results = compiled.assign_all(units, attributes)
    unit_of = {key: units.get(exp.unit_type, "") for key, exp in compiled.experiments.items()}
    rows = [_row(unit_of.get(r.experiment_key, ""), r) for r in results]
    if args.json:
        for row in rows:
            print(json.dumps(row, ensure_ascii=False))
        return 0
    if not rows:
        print("no experiment gives this unit a variant (use --all-reasons or --experiment KEY to see why)")
        return 0
    width = max(len(r["experiment"]) for r in rows)
    for row in rows:
        variant = row["variant"] if row["variant"] is not None else "-"
        params = f"  {json.dumps(row['params'])}" if row["params"] else ""
        print(f"{row['experiment']:<{width}}  {variant:<12} {row['reason']}{params}")
    return 0


def _ids(path: str) -> Iterable[str]:
    stream: TextIO = sys.stdin if path == "-" else open(path, encoding="utf-8")  # noqa: SIM115
    with stream:
        for line in stream:
            uid = line.rstrip("\r\n")
            if uid:
                yield uid


def _batch(compiled: Any, args: argparse.Namespace, attributes: dict[str, str], out: TextIO) -> int:
    keys: list[str] = args.experiment or sorted(compiled.experiments)
    unit_type = args.unit_type
    if unit_type is None:
        types = {compiled.experiments[k].unit_type for k in keys if k in compiled.experiments}
        unit_type = types.pop() if len(types) == 1 else "user_id"
    extra = _pairs(args.unit, "--unit")
    # Each distinct result object is rendered once; lines are then a concatenation.
    tails: dict[int, str] = {}
    write = out.write
    assign = compiled.assign
    buffer: list[str] = []
    for uid in _ids(args.units_file):
        units = {**extra, unit_type: uid}
        head = '{"unit_id":' + json.dumps(uid, ensure_ascii=False)
        for key in keys:
            result = assign(key, units, attributes)
            tail = tails.get(id(result))
            if tail is None:
                variant = json.dumps(result.variant, ensure_ascii=False)
                tail = (f',"experiment":{json.dumps(key, ensure_ascii=False)},"variant":{variant},'
                        f'"reason":"{result.reason.value}"}}\n')
                if result.reason.value != "UNKNOWN_EXPERIMENT":
                    tails[id(result)] = tail
            buffer.append(head + tail)
        if len(buffer) >= 4096:
            write("".join(buffer))
            buffer.clear()
    write("".join(buffer))
    out.flush()
    return 0


def run_explain(args: argparse.Namespace) -> int:
    from splitline.core import explain

    compiled = _load(args.snapshot)
    units = _pairs(args.unit, "--unit")
    attributes = _pairs(args.attr, "--attr")
    result = explain(compiled, args.experiment, units, attributes)
    a = result.assignment
    if args.json:
        print(json.dumps({"experiment": a.experiment_key, "variant": a.variant, "reason": a.reason.value,
                          "steps": list(result.steps), "layer_bucket": result.layer_bucket,
                          "variant_bucket": result.variant_bucket}, ensure_ascii=False))
        return 0
    for i, step in enumerate(result.steps, 1):
        print(f"{i}. {step}")
    print(f"=> {a.variant if a.variant is not None else 'no variant'} ({a.reason.value})")
    return 0
