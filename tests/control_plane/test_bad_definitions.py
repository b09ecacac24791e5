"""Hypothesis: bad experiment definitions are all refused with a field-level message,
never a crash, and nothing is committed."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from splitline.control_plane.errors import InvalidDefinition
from splitline.control_plane.service import ControlPlane
from splitline.control_plane.store import EmbeddedStore
from splitline.v1 import config_pb2, control_pb2

from tests.control_plane.helpers import experiment

S = config_pb2
Breaker = Callable[[config_pb2.Experiment], None]


def _set(**fields: object) -> Breaker:
    def apply(e: config_pb2.Experiment) -> None:
        for k, v in fields.items():
            setattr(e, k, v)

    return apply


def _weights(*ws: int) -> Breaker:
    def apply(e: config_pb2.Experiment) -> None:
        del e.variants[:]
        for i, w in enumerate(ws):
            e.variants.add(key=f"v{i}", weight=w)

    return apply


def _rule(attribute: str, op: int, *values: str) -> Breaker:
    def apply(e: config_pb2.Experiment) -> None:
        e.rules.add(attribute=attribute, operator=op, values=list(values))  # type: ignore[arg-type]

    return apply


def _dup_variant(e: config_pb2.Experiment) -> None:
    if len(e.variants) >= 2:  # fewer variants is already a refusal of its own
        e.variants[1].key = e.variants[0].key
    else:
        e.variants.add(key=e.variants[0].key if e.variants else "", weight=0)


def _override(e: config_pb2.Experiment) -> None:
    e.overrides["qa-user"] = "no-such-variant"


def _metric(e: config_pb2.Experiment) -> None:
    e.guardrail_metrics.append("undefined_metric")


def _schedule(e: config_pb2.Experiment) -> None:
    e.scheduled_start.FromSeconds(2_000_000_000)
    e.scheduled_stop.FromSeconds(1_000_000_000)


BREAKERS: list[Breaker] = [
    _set(key=""),
    _set(key="has space"),
    _set(key="-leading"),
    _set(key="x" * 200),
    _set(salt="bad salt"),
    _set(unit_type=""),
    _set(layer_id="missing-layer"),
    _set(traffic_bp=10_001),
    _set(status=S.EXPERIMENT_STATUS_RUNNING),
    _set(status=S.EXPERIMENT_STATUS_SHIPPED),
    _weights(10_000),
    _weights(5000, 4999),
    _weights(6000, 6000),
    _weights(20_000, 0),
    _weights(),
    _dup_variant,
    _override,
    _metric,
    _schedule,
    _rule("age", S.OPERATOR_GT, "not-a-number"),
    _rule("app", S.OPERATOR_SEMVER_GTE, "x.y"),
    _rule("name", S.OPERATOR_REGEX, "(unclosed"),
    _rule("", S.OPERATOR_EXISTS),
    _rule("a", 99, "x"),
    _rule("a", S.OPERATOR_UNSPECIFIED, "x"),
    _rule("a", S.OPERATOR_EQ),
]


def _text_key(value: str) -> Breaker:
    return _set(key=value)


bad_keys = st.text(min_size=0, max_size=12).filter(
    lambda s: (
        not s
        or not s[0].isascii()
        or not s[0].isalnum()
        or any(not (c.isascii() and (c.isalnum() or c in "_.-")) for c in s)
    )
)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    picks=st.lists(st.sampled_from(BREAKERS), min_size=1, max_size=3),
    key=st.one_of(st.none(), bad_keys),
)
def test_bad_definitions_refused_never_crash(picks: list[Breaker], key: str | None) -> None:
    async def run() -> None:
        store = EmbeddedStore(None)
        core = ControlPlane(store)
        await core.create_layer("t", config_pb2.Layer(id="checkout"), "")
        await core.put_metric(
            "t",
            control_pb2.MetricDefinition(name="revenue", kind=control_pb2.METRIC_KIND_MEAN, events=["purchase"]),
            "",
        )
        exp = experiment("good")
        for breaker in picks:
            breaker(exp)
        if key is not None:
            _text_key(key)(exp)
        try:
            await core.create_experiment("t", exp, "fuzz")
        except InvalidDefinition as exc:
            assert exc.errors, "refusal without a reason"
            assert all(e.field.startswith("experiment") for e in exc.errors), exc.errors
            assert all(e.message for e in exc.errors)
        else:
            raise AssertionError(f"accepted a bad definition: {exp}")
        state = await core.load()
        assert not state.experiments  # nothing committed

    asyncio.run(run())
