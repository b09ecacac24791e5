"""Metric definitions: what a metric counts, per unit, and how it is judged.

One frozen dataclass shared by the YAML files (`load.py`), the control plane's
metric registry (`to_proto` / `from_proto`, splitline.v1.MetricDefinition) and
the pipeline, which turns a list of them into small tables (`tables.py`) and
the per-metric columns of its SQL (`pipeline/sql.py`).

Per-unit value `y` by kind (DESIGN.md section 6):
  mean        sum of `value` over the unit's matching events (0 without any)
  proportion  1 if the unit has at least one matching event, else 0
  count       number of matching events
  ratio       numerator `y` and denominator `d`, each a per-unit sum of
              `value` (or the event count, with `numerator_value: count` /
              `denominator_value: count`); analysed as sum(y) / sum(d)

Role and direction do not change the numbers; the stats engine and the
guardrail worker read them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

DEFAULT_CUPED_DAYS: Final = 14
MAX_CUPED_DAYS: Final = 365
_NAME_RE: Final = re.compile(r"^[a-z][a-z0-9_]{0,127}$")


class MetricKind(StrEnum):
    MEAN = "mean"
    PROPORTION = "proportion"
    COUNT = "count"
    RATIO = "ratio"


class Direction(StrEnum):
    HIGHER_IS_BETTER = "higher_is_better"
    LOWER_IS_BETTER = "lower_is_better"


class Role(StrEnum):
    PRIMARY = "primary"
    SECONDARY = "secondary"
    GUARDRAIL = "guardrail"


class ValueSource(StrEnum):
    """What one matching event contributes to a per-unit sum."""

    SUM = "sum"  # the event's `value`
    COUNT = "count"  # 1 per event


class MetricDefinitionError(ValueError):
    """A metric definition that the pipeline would compute wrongly or not at all."""


@dataclass(frozen=True)
class MetricDefinition:
    name: str
    kind: MetricKind
    events: tuple[str, ...]
    denominator_events: tuple[str, ...] = ()
    direction: Direction = Direction.HIGHER_IS_BETTER
    role: Role = Role.SECONDARY
    guardrail_threshold: float = 0.0
    cuped_days: int = DEFAULT_CUPED_DAYS
    numerator_value: ValueSource = ValueSource.SUM
    denominator_value: ValueSource = ValueSource.SUM
    description: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        for problem in validate(self):
            raise MetricDefinitionError(f"metric {self.name!r}: {problem}")

    @property
    def counts_numerator(self) -> bool:
        """Whether a numerator event adds 1 (count, proportion) rather than its value."""
        if self.kind in (MetricKind.COUNT, MetricKind.PROPORTION):
            return True
        return self.kind is MetricKind.RATIO and self.numerator_value is ValueSource.COUNT

    @property
    def counts_denominator(self) -> bool:
        return self.denominator_value is ValueSource.COUNT


def validate(metric: MetricDefinition) -> list[str]:
    """Every problem with one definition, as short sentences (empty = valid)."""
    problems: list[str] = []
    if not _NAME_RE.match(metric.name):
        problems.append("name must be lower_snake_case, start with a letter, at most 128 characters")
    if not metric.events or any(not e for e in metric.events):
        problems.append("needs at least one non-empty event name in `events`")
    if metric.kind is MetricKind.RATIO:
        if not metric.denominator_events or any(not e for e in metric.denominator_events):
            problems.append("a ratio needs `denominator_events`")
    else:
        if metric.denominator_events:
            problems.append("`denominator_events` is only for ratio metrics")
        if metric.numerator_value is not ValueSource.SUM or metric.denominator_value is not ValueSource.SUM:
            problems.append("`numerator_value` / `denominator_value` are only for ratio metrics")
    if not 1 <= metric.cuped_days <= MAX_CUPED_DAYS:
        problems.append(f"cuped_days must be within 1..{MAX_CUPED_DAYS} (the proto reads 0 as the default)")
    # 0 is a guardrail with no tolerated degradation: any significant harm breaches it (as the
    # control plane and the guardrail worker read it).
    if metric.guardrail_threshold < 0:
        problems.append("guardrail_threshold is a tolerated relative degradation, >= 0")
    return problems


def check_unique(metrics: list[MetricDefinition]) -> None:
    """Metric names key the results table, so two definitions may not share one."""
    seen: set[str] = set()
    for metric in metrics:
        if metric.name in seen:
            raise MetricDefinitionError(f"metric {metric.name!r} is defined twice")
        seen.add(metric.name)
