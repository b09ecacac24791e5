"""MetricDefinition <-> splitline.v1.MetricDefinition (the control plane's registry).

The proto has no `role` (an experiment names its primary, secondary and
guardrail metrics) and no numerator/denominator value source; those are YAML
only, so `from_proto` takes the role as an argument and reads ratio sides as
sums of `value`.
"""

from __future__ import annotations

from typing import Any

from splitline.analytics.metrics.definitions import (
    DEFAULT_CUPED_DAYS,
    Direction,
    MetricDefinition,
    MetricDefinitionError,
    MetricKind,
    Role,
)
from splitline.v1 import control_pb2

_KIND_TO_PROTO = {
    MetricKind.MEAN: control_pb2.METRIC_KIND_MEAN,
    MetricKind.PROPORTION: control_pb2.METRIC_KIND_PROPORTION,
    MetricKind.COUNT: control_pb2.METRIC_KIND_COUNT,
    MetricKind.RATIO: control_pb2.METRIC_KIND_RATIO,
}
_KIND_FROM_PROTO = {v: k for k, v in _KIND_TO_PROTO.items()}
_DIRECTION_TO_PROTO = {
    Direction.HIGHER_IS_BETTER: control_pb2.METRIC_DIRECTION_HIGHER_IS_BETTER,
    Direction.LOWER_IS_BETTER: control_pb2.METRIC_DIRECTION_LOWER_IS_BETTER,
}
_DIRECTION_FROM_PROTO = {v: k for k, v in _DIRECTION_TO_PROTO.items()}


def to_proto(metric: MetricDefinition) -> control_pb2.MetricDefinition:
    return control_pb2.MetricDefinition(
        name=metric.name,
        kind=_KIND_TO_PROTO[metric.kind],
        events=list(metric.events),
        denominator_events=list(metric.denominator_events),
        direction=_DIRECTION_TO_PROTO[metric.direction],
        guardrail_threshold=metric.guardrail_threshold,
        cuped_days=metric.cuped_days,
        description=metric.description,
    )


def from_proto(message: control_pb2.MetricDefinition, role: Role = Role.SECONDARY) -> MetricDefinition:
    kind = _KIND_FROM_PROTO.get(message.kind)
    if kind is None:
        raise MetricDefinitionError(f"metric {message.name!r}: kind is unspecified")
    return MetricDefinition(
        name=message.name,
        kind=kind,
        events=tuple(message.events),
        denominator_events=tuple(message.denominator_events),
        direction=_DIRECTION_FROM_PROTO.get(message.direction, Direction.HIGHER_IS_BETTER),
        role=role,
        guardrail_threshold=message.guardrail_threshold,
        cuped_days=message.cuped_days or DEFAULT_CUPED_DAYS,
        description=message.description,
    )


def experiment_metric_roles(experiment: Any) -> dict[str, Role]:
    """Metric name -> role from a `splitline.v1.Experiment`'s lists (duck-typed).

    A name in two lists takes the later of primary, secondary, guardrail: the
    one rule for the pipeline (`splitline metrics --control-plane`) and the
    stats engine (`stats/pipeline.py`).
    """
    roles: dict[str, Role] = {}
    if experiment.primary_metric:
        roles[experiment.primary_metric] = Role.PRIMARY
    for name in experiment.secondary_metrics:
        roles[name] = Role.SECONDARY
    for name in experiment.guardrail_metrics:
        roles[name] = Role.GUARDRAIL
    return roles
