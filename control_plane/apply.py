"""`splitline apply`: experiments kept as YAML in git, reconciled with the control plane.

Pure planning: read desired objects from files, compare with what the server
holds, and produce a plan of creates and updates with a readable diff. The
executor (commands.py) carries the plan out; running it twice changes nothing
the second time. Apply manages definitions; lifecycle stays with the explicit
commands (launch, pause, ...), which is why `status`, ranges and versions are
ignored when comparing.

File format (one or more YAML documents per file; `.yaml`/`.yml`/`.json`)::

    layers:   [{id: checkout}]
    metrics:  [{name: revenue, kind: MEAN, events: [purchase], direction: HIGHER_IS_BETTER}]
    holdouts: [{id: global, percent_bp: 500}]
    experiments:
      - key: checkout_button
        layer_id: checkout
        unit_type: user_id
        traffic_bp: 2000
        variants: [{key: control, weight: 5000}, {key: big, weight: 5000}]
        rules: [{attribute: country, operator: IN, values: [DE, FR]}]

A document with a top-level `key` is a single experiment.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from google.protobuf import json_format
from google.protobuf.message import Message
from splitline.control_plane.definitions import SERVER_FIELDS
from splitline.snapshot_file import normalize_document
from splitline.v1 import config_pb2, control_pb2

SUFFIXES = (".yaml", ".yml", ".json")


class ApplyError(ValueError):
    """A file that cannot be applied; the message names the file and the problem."""


@dataclass
class Desired:
    layers: list[config_pb2.Layer] = field(default_factory=list)
    metrics: list[control_pb2.MetricDefinition] = field(default_factory=list)
    holdouts: list[config_pb2.Holdout] = field(default_factory=list)
    experiments: list[config_pb2.Experiment] = field(default_factory=list)


@dataclass(frozen=True)
class Step:
    """One change: `op` is create, update, unchanged or conflict (cannot be applied)."""

    kind: str
    name: str
    op: str
    diff: str
    desired: Message
    current: Message | None = None


def _prefixed(value: Any, prefix: str) -> Any:
    if isinstance(value, str) and not value.startswith(prefix):
        return prefix + value.upper()
    return value


def _files(paths: Iterable[str | Path]) -> list[Path]:
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(sorted(f for f in p.rglob("*") if f.suffix in SUFFIXES and f.is_file()))
        elif p.exists():
            out.append(p)
        else:
            raise ApplyError(f"{p}: no such file or directory")
    return out


def load(paths: Iterable[str | Path]) -> Desired:
    desired = Desired()
    for path in _files(paths):
        try:
            docs = [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]
        except yaml.YAMLError as exc:
            raise ApplyError(f"{path}: not valid YAML: {exc}") from exc
        for raw in docs:
            if not isinstance(raw, Mapping):
                raise ApplyError(f"{path}: each document must be a mapping")
            doc = {"experiments": [raw]} if "key" in raw else raw
            unknown = set(doc) - {"layers", "metrics", "holdouts", "experiments"}
            if unknown:
                raise ApplyError(f"{path}: unknown top-level keys {sorted(unknown)}")
            try:
                _parse_into(desired, doc)
            except (json_format.ParseError, TypeError, ValueError) as exc:
                raise ApplyError(f"{path}: {exc}") from exc
    return desired


def _parse_into(desired: Desired, doc: Mapping[str, Any]) -> None:
    normalized = normalize_document({"experiments": doc.get("experiments") or []})
    for item in normalized["experiments"]:
        desired.experiments.append(json_format.ParseDict(item, config_pb2.Experiment()))
    for item in doc.get("layers") or []:
        desired.layers.append(json_format.ParseDict(item, config_pb2.Layer()))
    for item in doc.get("holdouts") or []:
        desired.holdouts.append(json_format.ParseDict(item, config_pb2.Holdout()))
    for raw in doc.get("metrics") or []:
        item = dict(raw)
        if "kind" in item:
            item["kind"] = _prefixed(item["kind"], "METRIC_KIND_")
        if "direction" in item:
            item["direction"] = _prefixed(item["direction"], "METRIC_DIRECTION_")
        desired.metrics.append(json_format.ParseDict(item, control_pb2.MetricDefinition()))


def definition_of(exp: config_pb2.Experiment) -> config_pb2.Experiment:
    """What apply compares: the definition without server-owned fields."""
    out = config_pb2.Experiment()
    out.CopyFrom(exp)
    for name in (*SERVER_FIELDS, "shipped_variant"):
        out.ClearField(name)  # type: ignore[arg-type]
    out.salt = out.salt or out.key
    for variant in out.variants:
        del variant.ranges[:]
    return out


def _yaml(message: Message | None) -> list[str]:
    if message is None:
        return []
    text = yaml.safe_dump(json_format.MessageToDict(message, preserving_proto_field_name=True), sort_keys=True)
    return text.splitlines(keepends=True)


def _step(
    kind: str,
    name: str,
    desired: Message,
    current: Message | None,
    comparable: Message,
    current_comparable: Message | None,
    can_update: bool,
) -> Step:
    if current is None:
        op = "create"
    elif comparable == current_comparable:
        op = "unchanged"
    else:
        op = "update" if can_update else "conflict"
    diff = (
        ""
        if op == "unchanged"
        else "".join(
            difflib.unified_diff(
                _yaml(current_comparable), _yaml(comparable), f"{kind}/{name} (server)", f"{kind}/{name} (file)"
            )
        )
    )
    return Step(kind, name, op, diff, desired, current)


def plan(
    desired: Desired,
    layers: Iterable[config_pb2.Layer],
    metrics: Iterable[control_pb2.MetricDefinition],
    holdouts: Iterable[config_pb2.Holdout],
    experiments: Iterable[config_pb2.Experiment],
) -> list[Step]:
    """Steps in dependency order: layers, metrics, holdouts, experiments."""
    steps: list[Step] = []
    have_layers = {x.id: x for x in layers}
    for layer in desired.layers:
        want = config_pb2.Layer()
        want.CopyFrom(layer)
        want.salt = want.salt or want.id
        cur = have_layers.get(layer.id)
        steps.append(_step("layer", layer.id, want, cur, want, cur, can_update=False))
    have_metrics = {x.name: x for x in metrics}
    for metric in desired.metrics:
        cur_m = have_metrics.get(metric.name)
        steps.append(_step("metric", metric.name, metric, cur_m, metric, cur_m, can_update=True))
    have_holdouts = {x.id: x for x in holdouts}
    for holdout in desired.holdouts:
        want_h = config_pb2.Holdout()
        want_h.CopyFrom(holdout)
        want_h.salt = want_h.salt or want_h.id
        cur_h = have_holdouts.get(holdout.id)
        steps.append(_step("holdout", holdout.id, want_h, cur_h, want_h, cur_h, can_update=False))
    have_exps = {x.key: x for x in experiments}
    for exp in desired.experiments:
        cur_e = have_exps.get(exp.key)
        steps.append(
            _step(
                "experiment",
                exp.key,
                exp,
                cur_e,
                definition_of(exp),
                definition_of(cur_e) if cur_e is not None else None,
                can_update=True,
            )
        )
    return steps
