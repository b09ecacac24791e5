"""The reason chain behind an assignment, in words (for `splitline explain`).

The decision itself always comes from `CompiledSnapshot.assign`; this module
only narrates the facts each precedence step looked at (buckets, rules,
ranges), stopping at the step that decided.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from splitline.core.evaluator import RUNNING, SHIPPED, Assignment, CompiledExperiment, CompiledSnapshot
from splitline.core.hashing import bucket
from splitline.core.operators import Operator
from splitline.core.reasons import Reason
from splitline.v1 import config_pb2


@dataclass(frozen=True, slots=True)
class Explanation:
    """The assignment plus the steps that led to it, one sentence each."""

    assignment: Assignment
    steps: tuple[str, ...]
    layer_bucket: int | None = None
    variant_bucket: int | None = None


def _ranges(ranges: object) -> str:
    text = ", ".join(f"[{r.start},{r.end})" for r in ranges)  # type: ignore[attr-defined]
    return text or "(none)"


def _rule_text(rule: config_pb2.Rule) -> str:
    op = Operator(rule.operator).name if rule.operator in Operator._value2member_map_ else str(rule.operator)
    values = ", ".join(repr(v) for v in rule.values)
    return f"{rule.attribute} {op} {values}".rstrip()


def explain(
    compiled: CompiledSnapshot, experiment_key: str, units: Mapping[str, str], attributes: Mapping[str, str]
) -> Explanation:
    """Explain `compiled.assign(experiment_key, units, attributes)` step by step."""
    result = compiled.assign(experiment_key, units, attributes)
    steps: list[str] = []
    exp = compiled.experiments.get(experiment_key)
    if exp is None:
        steps.append(f"{experiment_key!r} is not in snapshot revision {compiled.revision}")
        return Explanation(result, tuple(steps))
    src = exp.source
    uid = units.get(exp.unit_type) if isinstance(units, Mapping) else None
    if not uid:
        steps.append(f"{exp.key} hashes {exp.unit_type}, and the request has no {exp.unit_type}")
        return Explanation(result, tuple(steps))
    steps.append(f"{exp.key} hashes {exp.unit_type} {uid!r}")
    if result.reason is Reason.OVERRIDE:
        steps.append(f"{uid!r} is in the overrides of {exp.key}: forced to {result.variant!r}")
        return Explanation(result, tuple(steps))
    status = config_pb2.ExperimentStatus.Name(src.status).removeprefix("EXPERIMENT_STATUS_")
    if exp.status not in (RUNNING, SHIPPED):
        steps.append(f"{exp.key} is {status}: only RUNNING experiments assign variants")
        return Explanation(result, tuple(steps))
    steps.append(f"{exp.key} is {status}")
    for rule, predicate in zip(src.rules, exp.rules, strict=True):
        value = attributes.get(rule.attribute) if isinstance(attributes, Mapping) else None
        shown = "missing" if value is None else repr(value)
        passed = predicate(attributes)
        steps.append(f"rule {_rule_text(rule)}: {rule.attribute} is {shown} -> {'holds' if passed else 'fails'}")
        if not passed:
            return Explanation(result, tuple(steps))
    if exp.status == SHIPPED:
        steps.append(f"{exp.key} shipped {result.variant!r} to every eligible unit")
        return Explanation(result, tuple(steps))
    for holdout in compiled.snapshot.holdouts:
        if holdout.layer_ids and exp.layer.id not in holdout.layer_ids:
            continue
        b = bucket(uid, holdout.salt or holdout.id)
        inside = b < holdout.percent_bp
        steps.append(
            f"holdout {holdout.id} bucket {b} is {'below' if inside else 'not below'} {holdout.percent_bp}"
            + (": held out" if inside else "")
        )
        if inside:
            return Explanation(result, tuple(steps))
    layer_bucket = bucket(uid, exp.layer.salt)
    if result.reason is Reason.NOT_IN_TRAFFIC and exp.layer.table[layer_bucket] is not exp:
        owner = exp.layer.table[layer_bucket]
        who = f" (owned by {owner.key})" if isinstance(owner, CompiledExperiment) else ""
        steps.append(
            f"layer {exp.layer.id} bucket {layer_bucket} is outside {exp.key}'s ranges {_ranges(src.ranges)}{who}"
        )
        return Explanation(result, tuple(steps), layer_bucket)
    steps.append(f"layer {exp.layer.id} bucket {layer_bucket} is inside {exp.key}'s ranges {_ranges(src.ranges)}")
    variant_bucket = bucket(uid, exp.salt)
    if result.variant is None:
        steps.append(f"variant bucket {variant_bucket} is in no variant's ranges")
    else:
        variant = next(v for v in src.variants if v.key == result.variant)
        steps.append(f"variant bucket {variant_bucket} is in {variant.key}'s ranges {_ranges(variant.ranges)}")
    return Explanation(result, tuple(steps), layer_bucket, variant_bucket)
