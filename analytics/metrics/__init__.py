"""Metric definitions (YAML files and the control plane's registry) for the pipeline."""

from splitline.analytics.metrics.definitions import (
    DEFAULT_CUPED_DAYS,
    Direction,
    MetricDefinition,
    MetricDefinitionError,
    MetricKind,
    Role,
    ValueSource,
)
from splitline.analytics.metrics.load import dump_yaml, load_metrics, parse_metrics
from splitline.analytics.metrics.proto import experiment_metric_roles, from_proto, to_proto

__all__ = [
    "DEFAULT_CUPED_DAYS",
    "Direction",
    "MetricDefinition",
    "MetricDefinitionError",
    "MetricKind",
    "Role",
    "ValueSource",
    "dump_yaml",
    "experiment_metric_roles",
    "from_proto",
    "load_metrics",
    "parse_metrics",
    "to_proto",
]
