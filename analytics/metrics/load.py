"""Metric definitions from YAML: strict parsing, so a typo fails loudly.

A misspelt key (`cupd_days`) silently falling back to a default would change
the numbers without anyone noticing; so unknown keys, unknown enum values and
wrong types are errors that name the metric and the key.

File shape (a top-level list is accepted too):

    metrics:
      - name: revenue
        kind: mean            # mean | proportion | count | ratio
        events: [purchase]    # or `event: purchase`
        direction: higher_is_better   # or lower_is_better
        role: primary         # primary | secondary | guardrail
        cuped_days: 14        # pre-period length for the CUPED covariate
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

import yaml
from splitline.analytics.metrics.definitions import (
    DEFAULT_CUPED_DAYS,
    Direction,
    MetricDefinition,
    MetricDefinitionError,
    MetricKind,
    Role,
    ValueSource,
    check_unique,
)

_KEYS = frozenset({
    "name", "kind", "events", "event", "denominator_events", "direction", "role", "guardrail_threshold",
    "cuped_days", "numerator_value", "denominator_value", "description",
})
E = TypeVar("E", bound=StrEnum)


def _enum(cls: type[E], raw: Any, key: str, name: str) -> E:
    # The proto's spellings (METRIC_KIND_MEAN, METRIC_DIRECTION_LOWER_IS_BETTER) are accepted too, so a
    # `splitline apply` document's `metrics:` section is also a metrics file.
    text = str(raw).lower().removeprefix("metric_kind_").removeprefix("metric_direction_")
    try:
        return cls(text)
    except ValueError:
        allowed = ", ".join(m.value for m in cls)
        raise MetricDefinitionError(f"metric {name!r}: {key} {raw!r} is not one of {allowed}") from None


def _names(raw: Any, key: str, name: str) -> tuple[str, ...]:
    if raw is None:
        return ()
    if isinstance(raw, str):
        return (raw,)
    if isinstance(raw, list) and all(isinstance(x, str) for x in raw):
        return tuple(raw)
    raise MetricDefinitionError(f"metric {name!r}: {key} must be an event name or a list of names")


def _number(raw: Any, key: str, name: str, kind: type[int] | type[float]) -> Any:
    if isinstance(raw, bool) or not isinstance(raw, (int, float)) or (kind is int and not isinstance(raw, int)):
        raise MetricDefinitionError(f"metric {name!r}: {key} must be a {kind.__name__}, got {raw!r}")
    return kind(raw)


def metric_from_mapping(item: Mapping[str, Any]) -> MetricDefinition:
    """One metric from its YAML mapping."""
    name = item.get("name")
    if not isinstance(name, str):
        raise MetricDefinitionError(f"every metric needs a string `name`, got {item!r}")
    unknown = sorted(set(item) - _KEYS)
    if unknown:
        raise MetricDefinitionError(f"metric {name!r}: unknown key(s) {', '.join(unknown)}")
    if "event" in item and "events" in item:
        raise MetricDefinitionError(f"metric {name!r}: give `event` or `events`, not both")
    if "kind" not in item:
        raise MetricDefinitionError(f"metric {name!r}: `kind` is required")
    return MetricDefinition(
        name=name,
        kind=_enum(MetricKind, item["kind"], "kind", name),
        events=_names(item.get("events", item.get("event")), "events", name),
        denominator_events=_names(item.get("denominator_events"), "denominator_events", name),
        direction=_enum(Direction, item.get("direction", Direction.HIGHER_IS_BETTER), "direction", name),
        role=_enum(Role, item.get("role", Role.SECONDARY), "role", name),
        guardrail_threshold=_number(item.get("guardrail_threshold", 0.0), "guardrail_threshold", name, float),
        cuped_days=_number(item.get("cuped_days", DEFAULT_CUPED_DAYS), "cuped_days", name, int),
        numerator_value=_enum(ValueSource, item.get("numerator_value", "sum"), "numerator_value", name),
        denominator_value=_enum(ValueSource, item.get("denominator_value", "sum"), "denominator_value", name),
        description=str(item.get("description", "")),
    )


def parse_metrics(document: Any) -> list[MetricDefinition]:
    """Metrics from a parsed YAML document (`{metrics: [...]}` or a bare list)."""
    items = document.get("metrics") if isinstance(document, dict) else document
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise MetricDefinitionError("expected a list of metric mappings (under `metrics:`)")
    metrics = [metric_from_mapping(i) for i in items]
    check_unique(metrics)
    return metrics


def load_metrics(path: Path) -> list[MetricDefinition]:
    with path.open(encoding="utf-8") as f:
        return parse_metrics(yaml.safe_load(f))


def to_mapping(metric: MetricDefinition) -> dict[str, Any]:
    """The YAML mapping of one metric, defaults left out so files stay short."""
    out: dict[str, Any] = {"name": metric.name, "kind": metric.kind.value, "events": list(metric.events)}
    if metric.denominator_events:
        out["denominator_events"] = list(metric.denominator_events)
    out["direction"] = metric.direction.value
    out["role"] = metric.role.value
    if metric.guardrail_threshold:
        out["guardrail_threshold"] = metric.guardrail_threshold
    if metric.cuped_days != DEFAULT_CUPED_DAYS:
        out["cuped_days"] = metric.cuped_days
    if metric.kind is MetricKind.RATIO:
        out["numerator_value"] = metric.numerator_value.value
        out["denominator_value"] = metric.denominator_value.value
    if metric.description:
        out["description"] = metric.description
    return out


def dump_yaml(metrics: list[MetricDefinition]) -> str:
    return yaml.safe_dump({"metrics": [to_mapping(m) for m in metrics]}, sort_keys=False)
