"""Read and write snapshot files: proto3 JSON (``.json``) or YAML (``.yaml``/``.yml``).

Files written by hand may use the contract's short enum names (``status:
RUNNING``, ``operator: IN``) and may leave out variant ``ranges``: a variant
without ranges gets contiguous ranges from the weights, in variant order,
exactly as the control plane derives them at creation.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from google.protobuf import json_format

from splitline.core.allocation import contiguous_ranges
from splitline.v1 import config_pb2


class SnapshotFileError(ValueError):
    """A snapshot file that cannot be read; the message names the file and the problem."""


def _prefixed(value: Any, prefix: str) -> Any:
    if isinstance(value, str) and not value.startswith(prefix):
        return prefix + value.upper()
    return value


def normalize_document(doc: Mapping[str, Any]) -> dict[str, Any]:
    """Expand short enum names and derive missing variant ranges, in a copy of `doc`."""
    out: dict[str, Any] = json.loads(json.dumps(doc))
    for exp in out.get("experiments") or []:
        if not isinstance(exp, dict):
            continue
        if "status" in exp:
            exp["status"] = _prefixed(exp["status"], "EXPERIMENT_STATUS_")
        for rule in exp.get("rules") or []:
            if isinstance(rule, dict) and "operator" in rule:
                rule["operator"] = _prefixed(rule["operator"], "OPERATOR_")
            if isinstance(rule, dict) and isinstance(rule.get("values"), list):
                rule["values"] = [v if isinstance(v, str) else json.dumps(v) for v in rule["values"]]
        variants = exp.get("variants") or []
        if variants and all(isinstance(v, dict) and not v.get("ranges") for v in variants):
            weights = [int(v.get("weight", 0)) for v in variants]
            try:
                derived = contiguous_ranges(weights)
            except ValueError:
                continue  # validation reports the weights with their field path
            for variant, ranges in zip(variants, derived, strict=True):
                variant["ranges"] = [{"start": s, "end": e} for s, e in ranges]
    return out


def parse_snapshot(text: str, source: str = "<snapshot>") -> config_pb2.ConfigSnapshot:
    """Parse proto3 JSON or YAML text into a ConfigSnapshot (not yet validated)."""
    stripped = text.lstrip()
    try:
        if stripped.startswith("{"):
            doc = json.loads(text)
        else:
            import yaml

            doc = yaml.safe_load(text)
    except Exception as exc:
        raise SnapshotFileError(f"{source}: cannot parse: {exc}") from None
    if not isinstance(doc, Mapping):
        raise SnapshotFileError(f"{source}: the top level must be a mapping")
    snapshot = config_pb2.ConfigSnapshot()
    try:
        json_format.ParseDict(normalize_document(doc), snapshot)
    except json_format.ParseError as exc:
        raise SnapshotFileError(f"{source}: {exc}") from None
    return snapshot


def load_snapshot(path: str | Path) -> config_pb2.ConfigSnapshot:
    """Read a snapshot file (JSON or YAML by content)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise SnapshotFileError(f"{p}: {exc.strerror}") from None
    return parse_snapshot(text, str(p))


def snapshot_to_json(snapshot: config_pb2.ConfigSnapshot) -> str:
    """Canonical proto3 JSON of a snapshot (stable key order, 2-space indent)."""
    return json_format.MessageToJson(snapshot, indent=2, sort_keys=True)
