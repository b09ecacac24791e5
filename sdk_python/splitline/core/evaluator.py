"""Which variant a unit sees: the one place that decides (DESIGN.md section 2).

`compile_snapshot` turns a validated `ConfigSnapshot` into an immutable index;
`CompiledSnapshot.assign` decides one experiment and `assign_all` every
experiment for a unit. Precedence, for one experiment:

1. experiment not in the snapshot                           -> UNKNOWN_EXPERIMENT
2. no non-empty id of the experiment's unit type            -> NO_UNIT
3. the unit id is in `overrides`                            -> that variant, OVERRIDE
4. status SHIPPED -> `shipped_variant` if every rule holds (SHIPPED), else
   NOT_ELIGIBLE; any other status but RUNNING                -> NOT_RUNNING
5. a targeting rule fails                                   -> NOT_ELIGIBLE
6. bucket(id, holdout.salt) < percent_bp for a holdout covering the layer -> HOLDOUT
7. bucket(id, layer.salt) outside the experiment's ranges   -> NOT_IN_TRAFFIC
8. bucket(id, experiment.salt) inside a variant's ranges    -> ASSIGNED
   (inside none                                             -> NOT_IN_TRAFFIC)

An empty unit id counts as no id: otherwise every anonymous unit would share one
bucket and one variant. Results are precomputed, immutable objects, so the hot
path allocates nothing; nothing here does I/O, reads the clock or raises into
the caller (`assign` and `assign_all` catch what malformed input could raise).

The index: per layer a table of 10000 slots, bucket -> owning experiment.
`assign_all` hashes each layer once per unit type, so it costs O(layers), not
O(experiments); it returns only the experiments that give the unit a variant.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final

import mmh3
from google.protobuf import json_format

from splitline.core.hashing import BUCKET_COUNT, HASH_SEED, SALT_SEPARATOR, utf8
from splitline.core.operators import Operator
from splitline.core.reasons import Reason
from splitline.core.rules import Predicate, compile_rule
from splitline.core.validate import SnapshotError, validate_snapshot
from splitline.v1 import config_pb2

RUNNING: Final = config_pb2.EXPERIMENT_STATUS_RUNNING
SHIPPED: Final = config_pb2.EXPERIMENT_STATUS_SHIPPED

_EMPTY_PARAMS: Final[Mapping[str, Any]] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Assignment:
    """One experiment's decision for a unit: the variant (or None) and why."""

    experiment_key: str
    variant: str | None
    reason: Reason
    params: Mapping[str, Any] = field(default_factory=lambda: _EMPTY_PARAMS, compare=False)

    @property
    def forced(self) -> bool:
        """True when an override chose the variant (logged as forced, excluded from analysis)."""
        return self.reason is Reason.OVERRIDE

    @property
    def in_experiment(self) -> bool:
        """True when the unit counts as exposed to a variant of a running experiment."""
        return self.reason is Reason.ASSIGNED or self.reason is Reason.OVERRIDE


def _plain(value: Any) -> Any:
    """JSON value from a Struct, integral doubles as ints (JSON has one number type)."""
    if isinstance(value, float) and value.is_integer() and math.fabs(value) <= 2**53:
        return int(value)
    if isinstance(value, dict):
        return MappingProxyType({k: _plain(v) for k, v in value.items()})
    if isinstance(value, list):
        return tuple(_plain(v) for v in value)
    return value


def params_of(variant: config_pb2.Variant) -> Mapping[str, Any]:
    """The variant's params as a read-only mapping."""
    if not variant.HasField("params"):
        return _EMPTY_PARAMS
    result = _plain(json_format.MessageToDict(variant.params))
    return result if isinstance(result, Mapping) else _EMPTY_PARAMS


class CompiledLayer:
    """A layer's salt and its bucket -> experiment table."""

    __slots__ = ("id", "salt", "suffix", "table")

    def __init__(self, layer: config_pb2.Layer) -> None:
        self.id = layer.id
        self.salt = layer.salt or layer.id
        self.suffix = (SALT_SEPARATOR + self.salt).encode()
        self.table: list[CompiledExperiment | None] = [None] * BUCKET_COUNT


class CompiledExperiment:
    """An experiment with its rules compiled and every possible result prebuilt."""

    __slots__ = (
        "holdouts",
        "key",
        "layer",
        "overrides",
        "r_holdout",
        "r_no_unit",
        "r_not_eligible",
        "r_not_in_traffic",
        "r_not_running",
        "r_shipped",
        "rules",
        "salt",
        "source",
        "status",
        "suffix",
        "unit_type",
        "variant_ends",
        "variant_results",
        "variant_starts",
        "variants",
    )

    def __init__(
        self, exp: config_pb2.Experiment, layer: CompiledLayer, holdouts: list[tuple[bytes, int]],
        interned: dict[tuple[str, int, tuple[str, ...]], Predicate],
    ) -> None:
        self.source = exp
        self.key = exp.key
        self.salt = exp.salt or exp.key
        self.suffix = (SALT_SEPARATOR + self.salt).encode()
        self.unit_type = exp.unit_type
        self.status = exp.status
        self.layer = layer
        self.holdouts = tuple(holdouts)
        # Identical rules share one predicate, so assign_all evaluates each
        # distinct rule once per call (see `_running`'s rule memo).
        rules: list[Predicate] = []
        for i, r in enumerate(exp.rules):
            ident = (r.attribute, r.operator, tuple(r.values))
            predicate = interned.get(ident)
            if predicate is None:
                predicate = interned[ident] = compile_rule(
                    r.attribute, Operator(r.operator), list(r.values), f"experiments[{exp.key}].rules[{i}]")
            rules.append(predicate)
        self.rules: tuple[Predicate, ...] = tuple(rules)
        key = exp.key
        self.variants = {
            v.key: Assignment(key, v.key, Reason.ASSIGNED, params_of(v)) for v in exp.variants
        }
        self.overrides: dict[str, Assignment] = {
            unit_id: Assignment(key, vk, Reason.OVERRIDE, self.variants[vk].params)
            for unit_id, vk in exp.overrides.items()
        }
        owned = sorted((r.start, r.end, self.variants[v.key]) for v in exp.variants for r in v.ranges)
        self.variant_starts = [s for s, _, _ in owned]
        self.variant_ends = [e for _, e, _ in owned]
        self.variant_results = [a for _, _, a in owned]
        self.r_no_unit = Assignment(key, None, Reason.NO_UNIT)
        self.r_not_running = Assignment(key, None, Reason.NOT_RUNNING)
        self.r_not_eligible = Assignment(key, None, Reason.NOT_ELIGIBLE)
        self.r_holdout = Assignment(key, None, Reason.HOLDOUT)
        self.r_not_in_traffic = Assignment(key, None, Reason.NOT_IN_TRAFFIC)
        shipped = self.variants.get(exp.shipped_variant)
        self.r_shipped = (
            Assignment(key, shipped.variant, Reason.SHIPPED, shipped.params) if shipped is not None else None
        )


def _eligible(exp: CompiledExperiment, attributes: Mapping[str, str]) -> bool:
    """Step 5: every rule holds (for SHIPPED; RUNNING inlines it in _running)."""
    return all(rule(attributes) for rule in exp.rules)


def _not_running(exp: CompiledExperiment, attributes: Mapping[str, str]) -> Assignment:
    """Step 4 for every status but RUNNING: SHIPPED serves its variant to eligible units."""
    if exp.status == SHIPPED and exp.r_shipped is not None:
        return exp.r_shipped if _eligible(exp, attributes) else exp.r_not_eligible
    return exp.r_not_running


def _running(
    exp: CompiledExperiment, uid: bytes, attributes: Mapping[str, str],
    holdout_cache: dict[bytes, int] | None, layer_checked: bool,
    rule_memo: dict[Predicate, bool] | None = None,
) -> Assignment:
    """Steps 5-8 for a RUNNING experiment, in one function (this is the hot path).

    `holdout_cache` (unit id + salt -> bucket) lets assign_all hash each holdout
    once per unit; `layer_checked` says assign_all already found the unit in
    this experiment's layer ranges; `rule_memo` lets it evaluate each distinct
    (interned) rule once per call.
    """
    if rule_memo is None:
        for rule in exp.rules:
            if not rule(attributes):
                return exp.r_not_eligible
    else:
        for rule in exp.rules:
            holds = rule_memo.get(rule)
            if holds is None:
                holds = rule_memo[rule] = rule(attributes)
            if not holds:
                return exp.r_not_eligible
    for suffix, percent in exp.holdouts:
        key = uid + suffix
        if holdout_cache is None:
            value = mmh3.hash(key, HASH_SEED, False) % BUCKET_COUNT
        else:
            cached = holdout_cache.get(key)
            if cached is None:
                value = holdout_cache[key] = mmh3.hash(key, HASH_SEED, False) % BUCKET_COUNT
            else:
                value = cached
        if value < percent:
            return exp.r_holdout
    if not layer_checked and exp.layer.table[mmh3.hash(uid + exp.layer.suffix, HASH_SEED, False) % BUCKET_COUNT] \
            is not exp:
        return exp.r_not_in_traffic
    v = mmh3.hash(uid + exp.suffix, HASH_SEED, False) % BUCKET_COUNT
    i = bisect_right(exp.variant_starts, v) - 1
    if i >= 0 and v < exp.variant_ends[i]:
        return exp.variant_results[i]
    return exp.r_not_in_traffic


class CompiledSnapshot:
    """An immutable, indexed snapshot; share it freely between threads."""

    __slots__ = ("_by_unit_override", "_running_tables", "_shipped", "experiments", "revision", "snapshot")

    def __init__(self, snapshot: config_pb2.ConfigSnapshot) -> None:
        self.snapshot = snapshot
        self.revision: int = snapshot.revision
        layers = {layer.id: CompiledLayer(layer) for layer in snapshot.layers}
        holdouts_of: dict[str, list[tuple[bytes, int]]] = {lid: [] for lid in layers}
        for h in snapshot.holdouts:
            suffix = (SALT_SEPARATOR + (h.salt or h.id)).encode()
            for lid in h.layer_ids or layers:
                holdouts_of[lid].append((suffix, h.percent_bp))
        self.experiments: dict[str, CompiledExperiment] = {}
        overrides: dict[tuple[str, str], list[CompiledExperiment]] = {}
        shipped: list[CompiledExperiment] = []
        interned: dict[tuple[str, int, tuple[str, ...]], Predicate] = {}
        running_types: dict[str, set[str]] = {lid: set() for lid in layers}
        for exp in snapshot.experiments:
            layer = layers[exp.layer_id]
            compiled = CompiledExperiment(exp, layer, holdouts_of[exp.layer_id], interned)
            self.experiments[exp.key] = compiled
            for r in exp.ranges:
                layer.table[r.start:r.end] = [compiled] * (r.end - r.start)
            for unit_id in exp.overrides:
                overrides.setdefault((exp.unit_type, unit_id), []).append(compiled)
            if exp.status == SHIPPED:
                shipped.append(compiled)
            elif exp.status == RUNNING and exp.ranges:
                running_types[exp.layer_id].add(exp.unit_type)
        # For assign_all: per unit type, each layer's table restricted to the
        # RUNNING experiments of that unit type, so a hit needs no further check.
        running_tables: dict[str, list[tuple[bytes, list[CompiledExperiment | None]]]] = {}
        for lid, layer in layers.items():
            for unit_type in sorted(running_types[lid]):
                table = [e if e is not None and e.status == RUNNING and e.unit_type == unit_type else None
                         for e in layer.table]
                running_tables.setdefault(unit_type, []).append((layer.suffix, table))
        self._running_tables = {ut: tuple(tables) for ut, tables in running_tables.items()}
        self._shipped = tuple(shipped)
        self._by_unit_override = overrides

    # ------------------------------------------------------------------ assign

    def assign(self, experiment_key: str, units: Mapping[str, str], attributes: Mapping[str, str]) -> Assignment:
        """Decide one experiment for the unit (see the module docstring for the order)."""
        exp = self.experiments.get(experiment_key)
        if exp is None:
            return Assignment(experiment_key, None, Reason.UNKNOWN_EXPERIMENT)
        try:
            return self._decide(exp, units, attributes)
        except Exception:
            # Only malformed input gets here (non-string ids or attributes, lone
            # surrogates): normalise it and decide again on the slow path.
            return self._decide(exp, _clean_units(units), _clean_attributes(attributes))

    def _decide(self, exp: CompiledExperiment, units: Mapping[str, str], attributes: Mapping[str, str]) -> Assignment:
        """Steps 2-8 for a known experiment."""
        uid = units.get(exp.unit_type)
        if not uid:
            return exp.r_no_unit
        if exp.overrides:
            forced = exp.overrides.get(uid)
            if forced is not None:
                return forced
        if exp.status == RUNNING:
            return _running(exp, uid.encode(), attributes, None, False)
        return _not_running(exp, attributes)

    def assign_many(
        self, experiment_keys: Sequence[str], units: Mapping[str, str], attributes: Mapping[str, str]
    ) -> list[Assignment]:
        """`assign` for each key, in order."""
        return [self.assign(key, units, attributes) for key in experiment_keys]

    def assign_all(self, units: Mapping[str, str], attributes: Mapping[str, str]) -> list[Assignment]:
        """Every experiment that gives the unit a variant (ASSIGNED, OVERRIDE or SHIPPED).

        Any experiment not listed answers with no variant; `assign` says why.
        The list is a set (its order is not part of the contract): here,
        overrides, shipped experiments, then per unit type the layers in
        snapshot order.
        """
        try:
            return self._assign_all(units, attributes)
        except Exception:
            return self._assign_all(_clean_units(units), _clean_attributes(attributes))

    def _assign_all(self, units: Mapping[str, str], attributes: Mapping[str, str]) -> list[Assignment]:
        out: list[Assignment] = []
        forced_keys: set[str] = set()
        if self._by_unit_override:
            for unit_type, uid in units.items():
                for exp in self._by_unit_override.get((unit_type, uid), ()):
                    out.append(exp.overrides[uid])
                    forced_keys.add(exp.key)
        for exp in self._shipped:
            if exp.key not in forced_keys:
                result = self._decide(exp, units, attributes)
                if result.variant is not None:
                    out.append(result)
        holdout_cache: dict[bytes, int] = {}
        rule_memo: dict[Predicate, bool] = {}
        hash_ = mmh3.hash
        for unit_type, tables in self._running_tables.items():
            unit_id = units.get(unit_type)
            if not unit_id:
                continue
            key = unit_id.encode()
            for suffix, table in tables:
                owner = table[hash_(key + suffix, HASH_SEED, False) % BUCKET_COUNT]
                if owner is None or (forced_keys and owner.key in forced_keys):
                    continue
                result = _running(owner, key, attributes, holdout_cache, True, rule_memo)
                if result.variant is not None:
                    out.append(result)
        return out


def _clean_units(units: object) -> dict[str, str]:
    """Units coerced to non-empty strings, lone surrogates replaced; junk dropped."""
    clean: dict[str, str] = {}
    try:
        items = list(units.items())  # type: ignore[attr-defined]
    except Exception:
        return clean
    for key, value in items:
        if isinstance(key, str) and isinstance(value, (str, int)) and not isinstance(value, bool):
            text = utf8(str(value)).decode("utf-8")
            if text:
                clean[key] = text
    return clean


def _clean_attributes(attributes: object) -> dict[str, str]:
    """Attributes encoded as the contract's strings; values that cannot be are dropped."""
    from splitline.core.attributes import encode_attributes

    try:
        return {k: utf8(v).decode("utf-8") for k, v in encode_attributes(attributes).items()}
    except Exception:
        return {}


def compile_snapshot(snapshot: config_pb2.ConfigSnapshot) -> CompiledSnapshot:
    """Validate and index a snapshot; raise SnapshotError listing every problem."""
    errors = validate_snapshot(snapshot)
    if errors:
        raise SnapshotError(errors)
    return CompiledSnapshot(snapshot)


__all__ = ["Assignment", "CompiledExperiment", "CompiledLayer", "CompiledSnapshot", "compile_snapshot"]
