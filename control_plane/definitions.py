"""Pure checks and transformations of definitions, on top of the core's validation.

The control plane never commits a snapshot the core would refuse: every
mutation builds the snapshot it would produce and runs `compile_snapshot` on it
(`check_snapshot`). Field paths are those of the request (`experiment.variants[1].weight`).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

from google.protobuf.timestamp_pb2 import Timestamp
from splitline.control_plane import allocation
from splitline.control_plane.errors import InvalidDefinition, InvalidTransition
from splitline.control_plane.lifecycle import HOLDS_RANGES
from splitline.core.allocation import contiguous_ranges
from splitline.core.evaluator import compile_snapshot
from splitline.core.hashing import BUCKET_COUNT
from splitline.core.validate import KEY_PATTERN, FieldError, SnapshotError, validate_experiment
from splitline.v1 import config_pb2

FIELD = "experiment"
# Fields the control plane owns: whatever a caller sends there is replaced.
SERVER_FIELDS = ("status", "ranges", "version", "created_at", "updated_at", "analysis_period", "started_at")


def weight_errors(exp: config_pb2.Experiment, field: str = FIELD) -> list[FieldError]:
    errors: list[FieldError] = []
    if len(exp.variants) < 2:
        errors.append(FieldError(f"{field}.variants", f"needs at least two variants, has {len(exp.variants)}"))
    total = sum(v.weight for v in exp.variants)
    for i, v in enumerate(exp.variants):
        if v.weight > BUCKET_COUNT:
            errors.append(FieldError(f"{field}.variants[{i}].weight", f"{v.weight} exceeds {BUCKET_COUNT}"))
    if exp.variants and total != BUCKET_COUNT:
        errors.append(FieldError(f"{field}.variants", f"weights sum to {total}, want {BUCKET_COUNT}"))
    return errors


def validate_definition(
    exp: config_pb2.Experiment,
    layers: Collection[str],
    metrics: Collection[str],
    field: str = FIELD,
) -> list[FieldError]:
    """Every problem of one experiment definition (ranges already derived)."""
    errors: list[FieldError] = []
    validate_experiment(exp, field, errors)
    if exp.layer_id not in layers:
        errors.append(FieldError(f"{field}.layer_id", f"unknown layer {exp.layer_id!r}"))
    if exp.traffic_bp > BUCKET_COUNT:
        errors.append(FieldError(f"{field}.traffic_bp", f"{exp.traffic_bp} exceeds {BUCKET_COUNT}"))
    named = [("primary_metric", exp.primary_metric)] if exp.primary_metric else []
    named += [(f"secondary_metrics[{i}]", m) for i, m in enumerate(exp.secondary_metrics)]
    named += [(f"guardrail_metrics[{i}]", m) for i, m in enumerate(exp.guardrail_metrics)]
    for where, name in named:
        if name not in metrics:
            errors.append(FieldError(f"{field}.{where}", f"unknown metric {name!r} (define it first)"))
    if (
        exp.HasField("scheduled_start")
        and exp.HasField("scheduled_stop")
        and exp.scheduled_stop.ToNanoseconds() <= exp.scheduled_start.ToNanoseconds()
    ):
        errors.append(FieldError(f"{field}.scheduled_stop", "must be after scheduled_start"))
    return errors


def derive_variant_ranges(exp: config_pb2.Experiment) -> None:
    """Contiguous variant ranges from weights, in variant order (creation rule)."""
    for variant, ranges in zip(exp.variants, contiguous_ranges([v.weight for v in exp.variants]), strict=True):
        del variant.ranges[:]
        variant.ranges.extend(config_pb2.BucketRange(start=s, end=e) for s, e in ranges)


def prepare_new(
    incoming: config_pb2.Experiment, layers: Collection[str], metrics: Collection[str], now: Timestamp
) -> config_pb2.Experiment:
    """A new DRAFT from a create request; raises InvalidDefinition."""
    exp = config_pb2.Experiment()
    exp.CopyFrom(incoming)
    errors: list[FieldError] = []
    if exp.status not in (config_pb2.EXPERIMENT_STATUS_UNSPECIFIED, config_pb2.EXPERIMENT_STATUS_DRAFT):
        errors.append(FieldError(f"{FIELD}.status", "a new experiment starts as DRAFT; launch it afterwards"))
    if not KEY_PATTERN.match(exp.key):
        errors.append(FieldError(f"{FIELD}.key", f"{exp.key!r} must match {KEY_PATTERN.pattern[:-2]}"))
    if exp.salt and not KEY_PATTERN.match(exp.salt):
        errors.append(FieldError(f"{FIELD}.salt", f"{exp.salt!r} must match {KEY_PATTERN.pattern[:-2]}"))
    errors += weight_errors(exp)
    if errors:
        raise InvalidDefinition(errors)
    for name in SERVER_FIELDS:
        exp.ClearField(name)  # type: ignore[arg-type]
    exp.status = config_pb2.EXPERIMENT_STATUS_DRAFT
    exp.salt = exp.salt or exp.key
    exp.shipped_variant = ""
    derive_variant_ranges(exp)
    exp.version = 1
    exp.created_at.CopyFrom(now)
    exp.updated_at.CopyFrom(now)
    errors = validate_definition(exp, layers, metrics)
    if errors:
        raise InvalidDefinition(errors)
    return exp


def apply_update(
    stored: config_pb2.Experiment,
    incoming: config_pb2.Experiment,
    *,
    allow_reallocation: bool,
    layers: Collection[str],
    metrics: Collection[str],
    now: Timestamp,
) -> tuple[config_pb2.Experiment, int]:
    """The stored experiment with the caller's definition applied, and buckets moved."""
    errors: list[FieldError] = []
    for name in ("key", "layer_id"):
        if getattr(incoming, name) != getattr(stored, name):
            errors.append(FieldError(f"{FIELD}.{name}", f"cannot change ({getattr(stored, name)!r})"))
    if incoming.salt and incoming.salt != stored.salt:
        errors.append(FieldError(f"{FIELD}.salt", f"cannot change while the experiment lives ({stored.salt!r})"))
    errors += weight_errors(incoming)
    if errors:
        raise InvalidDefinition(errors)
    exp = config_pb2.Experiment()
    exp.CopyFrom(incoming)
    for name in (*SERVER_FIELDS, "salt", "shipped_variant"):
        exp.ClearField(name)  # type: ignore[arg-type]
    for name in (*SERVER_FIELDS, "salt", "shipped_variant"):
        if name in ("version", "updated_at"):
            continue
        value = getattr(stored, name)
        if name in ("ranges",):
            exp.ranges.extend(stored.ranges)
        elif name in ("created_at", "started_at"):
            if stored.HasField(name):  # type: ignore[arg-type]
                getattr(exp, name).CopyFrom(value)
        else:
            setattr(exp, name, value)
    old_weights = [(v.key, v.weight) for v in stored.variants]
    new_weights = [(v.key, v.weight) for v in exp.variants]
    moved = 0
    if stored.status == config_pb2.EXPERIMENT_STATUS_DRAFT:
        derive_variant_ranges(exp)
    elif old_weights == new_weights:
        for variant, old in zip(exp.variants, stored.variants, strict=True):
            del variant.ranges[:]
            variant.ranges.extend(old.ranges)
    elif not allow_reallocation:
        raise InvalidTransition(
            f"changing the variants or weights of launched experiment {stored.key!r} moves units "
            "between variants; ask for it explicitly (allow_reallocation) to re-allocate and start "
            "a new analysis period"
        )
    else:
        realloc = allocation.reallocate(
            [(v.key, [(r.start, r.end) for r in v.ranges]) for v in stored.variants], new_weights
        )
        for variant, ranges in zip(exp.variants, realloc.ranges, strict=True):
            del variant.ranges[:]
            variant.ranges.extend(config_pb2.BucketRange(start=s, end=e) for s, e in ranges)
        moved = realloc.moved_buckets
        exp.analysis_period = stored.analysis_period + 1
    exp.version = stored.version + 1
    exp.updated_at.CopyFrom(now)
    errors = validate_definition(exp, layers, metrics)
    if errors:
        raise InvalidDefinition(errors)
    return exp, moved


def range_tuples(ranges: Iterable[config_pb2.BucketRange]) -> list[tuple[int, int]]:
    return [(r.start, r.end) for r in ranges]


def occupied_by_others(experiments: Iterable[config_pb2.Experiment], layer_id: str, key: str) -> list[tuple[int, int]]:
    """Layer ranges held by live experiments of `layer_id` other than `key`."""
    return [
        (r.start, r.end)
        for e in experiments
        if e.layer_id == layer_id and e.key != key and e.status in HOLDS_RANGES
        for r in e.ranges
    ]


def build_snapshot(
    layers: Iterable[config_pb2.Layer],
    experiments: Iterable[config_pb2.Experiment],
    holdouts: Iterable[config_pb2.Holdout],
    revision: int,
) -> config_pb2.ConfigSnapshot:
    """The snapshot evaluators see: archived experiments leave it."""
    snap = config_pb2.ConfigSnapshot(revision=revision)
    snap.layers.extend(sorted(layers, key=lambda x: x.id))
    snap.experiments.extend(
        sorted((e for e in experiments if e.status != config_pb2.EXPERIMENT_STATUS_ARCHIVED), key=lambda x: x.key)
    )
    snap.holdouts.extend(sorted(holdouts, key=lambda x: x.id))
    return snap


def check_snapshot(snapshot: config_pb2.ConfigSnapshot) -> None:
    """Refuse (InvalidDefinition) anything the core would refuse to serve."""
    try:
        compile_snapshot(snapshot)
    except SnapshotError as exc:
        raise InvalidDefinition(exc.errors) from exc
