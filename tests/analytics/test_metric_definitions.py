"""Metric definitions: YAML parsing is strict, validation names the problem, the proto round-trips."""

from __future__ import annotations

from pathlib import Path

import pytest
from splitline.analytics.metrics import (
    Direction,
    MetricDefinition,
    MetricDefinitionError,
    MetricKind,
    Role,
    ValueSource,
    dump_yaml,
    from_proto,
    load_metrics,
    parse_metrics,
    to_proto,
)
from splitline.analytics.pipeline.tables import event_names_table, metrics_table
from splitline.v1 import control_pb2


def test_example_file_parses_to_the_expected_definitions(repo_root: Path) -> None:
    metrics = load_metrics(repo_root / "examples" / "metrics.yaml")
    assert [(m.name, m.kind, m.role) for m in metrics] == [
        ("revenue", MetricKind.MEAN, Role.PRIMARY),
        ("converted", MetricKind.PROPORTION, Role.SECONDARY),
        ("errors", MetricKind.COUNT, Role.GUARDRAIL),
        ("average_order_value", MetricKind.RATIO, Role.SECONDARY),
    ]
    errors = metrics[2]
    assert errors.events == ("error", "crash")
    assert errors.direction is Direction.LOWER_IS_BETTER
    assert errors.guardrail_threshold == 0.05
    assert errors.cuped_days == 7
    assert metrics[0].cuped_days == 14  # the default
    assert metrics[3].denominator_value is ValueSource.COUNT


def test_yaml_round_trip() -> None:
    metrics = parse_metrics([
        {"name": "aov", "kind": "ratio", "events": ["purchase"], "denominator_events": ["purchase"],
         "denominator_value": "count", "cuped_days": 3, "description": "per order"},
        {"name": "lat", "kind": "mean", "event": "latency_ms", "direction": "lower_is_better", "role": "guardrail",
         "guardrail_threshold": 0.1},
    ])
    import yaml

    assert parse_metrics(yaml.safe_load(dump_yaml(metrics))) == metrics


@pytest.mark.parametrize(("item", "message"), [
    ({"name": "m", "kind": "mean", "event": "x", "cupd_days": 3}, "unknown key(s) cupd_days"),
    ({"name": "m", "kind": "avg", "event": "x"}, "kind 'avg' is not one of"),
    ({"name": "m", "kind": "mean"}, "at least one non-empty event"),
    ({"name": "m", "kind": "ratio", "event": "x"}, "a ratio needs `denominator_events`"),
    ({"name": "m", "kind": "mean", "event": "x", "denominator_events": ["y"]}, "only for ratio"),
    ({"name": "m", "kind": "mean", "event": "x", "cuped_days": 0}, "cuped_days must be within 1..365"),
    ({"name": "m", "kind": "mean", "event": "x", "cuped_days": "7"}, "cuped_days must be a int"),
    ({"name": "m", "kind": "mean", "event": "x", "role": "guardrail", "guardrail_threshold": -0.1},
     "guardrail_threshold is a tolerated relative degradation"),
    ({"name": "Bad-Name", "kind": "mean", "event": "x"}, "lower_snake_case"),
    ({"name": "m", "kind": "count", "event": "x", "denominator_value": "count"}, "only for ratio"),
])
def test_invalid_definitions_are_refused_with_the_reason(item: dict[str, object], message: str) -> None:
    with pytest.raises(MetricDefinitionError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_metrics([item])


def test_duplicate_names_refused() -> None:
    with pytest.raises(MetricDefinitionError, match="defined twice"):
        parse_metrics({"metrics": [{"name": "m", "kind": "count", "event": "x"}] * 2})


def test_proto_round_trip_keeps_every_proto_field() -> None:
    metric = MetricDefinition(name="errors", kind=MetricKind.COUNT, events=("error", "crash"),
                              direction=Direction.LOWER_IS_BETTER, role=Role.GUARDRAIL, guardrail_threshold=0.05,
                              cuped_days=7, description="errors per user")
    message = to_proto(metric)
    assert message.kind == control_pb2.METRIC_KIND_COUNT
    assert message.direction == control_pb2.METRIC_DIRECTION_LOWER_IS_BETTER
    assert from_proto(message, role=Role.GUARDRAIL) == metric
    assert from_proto(message, role=Role.GUARDRAIL).description == "errors per user"


def test_proto_zero_cuped_days_means_the_default() -> None:
    message = control_pb2.MetricDefinition(name="m", kind=control_pb2.METRIC_KIND_MEAN, events=["x"])
    assert from_proto(message).cuped_days == 14


def test_event_names_are_numbered_once_each_in_first_use_order() -> None:
    metrics = parse_metrics([
        {"name": "aov", "kind": "ratio", "events": ["buy", "buy"], "denominator_events": ["view"],
         "denominator_value": "count", "cuped_days": 2},
        {"name": "conv", "kind": "proportion", "event": "buy"},
        {"name": "errors", "kind": "count", "event": "error"},
    ])
    assert event_names_table(metrics).to_pylist() == [
        {"event_name": "buy", "event_no": 1}, {"event_name": "view", "event_no": 2},
        {"event_name": "error", "event_no": 3},
    ]
    assert metrics_table(metrics).column("metric_no").to_pylist() == [1, 2, 3]


def test_an_apply_document_is_also_a_metrics_file() -> None:
    """`splitline apply`'s document (proto spellings) and the metrics YAML share one loader."""
    metrics = load_metrics(Path(__file__).resolve().parents[2] / "control_plane" / "examples" / "checkout.yaml")
    assert [(m.name, m.kind.value, m.direction.value, m.guardrail_threshold) for m in metrics] == [
        ("purchase_rate", "proportion", "higher_is_better", 0.0),
        ("error_rate", "proportion", "lower_is_better", 0.05)]
    (prefixed,) = parse_metrics([{"name": "m", "kind": "METRIC_KIND_RATIO", "events": ["a"],
                                  "denominator_events": ["b"], "direction": "METRIC_DIRECTION_LOWER_IS_BETTER"}])
    assert (prefixed.kind.value, prefixed.direction.value) == ("ratio", "lower_is_better")
