"""The OpenFeature provider through the real openfeature-sdk API: values, details, reasons, exposures."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from openfeature import api
from openfeature.evaluation_context import EvaluationContext
from openfeature.exception import ErrorCode
from openfeature.flag_evaluation import Reason as OFReason
from splitline.client import Client
from splitline.core import Reason
from splitline.openfeature_provider import SplitlineProvider
from splitline.snapshot_file import parse_snapshot

from tests.sdk.conftest import RecordingSink

SNAPSHOT = """
revision: 5
layers: [{id: web}, {id: pricing}, {id: misc}]
experiments:
  - key: new_checkout
    layer_id: web
    unit_type: user_id
    status: RUNNING
    ranges: [{start: 0, end: 10000}]
    overrides: {qa-1: treatment}
    rules: [{attribute: country, operator: IN, values: [US, CA]}]
    variants:
      - {key: control, weight: 5000, params: {value: false, limit: 1}}
      - {key: treatment, weight: 5000, params: {value: true, limit: 3, theme: {color: green, sizes: [1, 2]}}}
  - key: price
    layer_id: pricing
    unit_type: user_id
    status: RUNNING
    ranges: [{start: 0, end: 10000}]
    variants:
      - {key: low, weight: 5000, params: {value: 9.5}}
      - {key: high, weight: 5000, params: {value: 12}}
  - key: rollout
    layer_id: misc
    unit_type: user_id
    status: SHIPPED
    shipped_variant: "on"
    variants:
      - {key: "off", weight: 5000}
      - {key: "on", weight: 5000}
"""


@pytest.fixture
def of_client(sink: RecordingSink) -> Iterator[tuple[Any, Client, RecordingSink]]:
    client = Client(parse_snapshot(SNAPSHOT), event_sink=sink)
    api.set_provider(SplitlineProvider(client))
    yield api.get_client(), client, sink
    api.clear_providers()
    client.close()


def _user_in(client: Client, experiment: str, variant: str) -> str:
    return next(
        u
        for u in (f"u{i}" for i in range(10_000))
        if client.assign(experiment, {"user_id": u}, {"country": "US"}).variant == variant
    )


def test_string_flag_is_the_variant_with_details(of_client: tuple[Any, Client, RecordingSink]) -> None:
    of, client, sink = of_client
    user = _user_in(client, "new_checkout", "treatment")
    ctx = EvaluationContext(targeting_key=user, attributes={"country": "US"})
    details = of.get_string_details("new_checkout", "fallback", ctx)
    assert (details.value, details.variant, details.reason, details.error_code) == (
        "treatment",
        "treatment",
        OFReason.SPLIT,
        None,
    )
    assert details.flag_metadata["splitline_reason"] == "ASSIGNED"
    assert details.flag_metadata["splitline_revision"] == 5
    assert client.flush(5)
    assert [(e.experiment_key, e.variant_key, e.unit_id, e.config_revision) for e in sink.exposures] == [
        ("new_checkout", "treatment", user, 5)
    ]


def test_typed_flags_read_params(of_client: tuple[Any, Client, RecordingSink]) -> None:
    of, client, _ = of_client
    user = _user_in(client, "new_checkout", "treatment")
    ctx = EvaluationContext(targeting_key=user, attributes={"country": "US"})
    assert of.get_boolean_value("new_checkout", False, ctx) is True
    obj = of.get_object_details("new_checkout", {}, ctx)
    assert obj.value == {"value": True, "limit": 3, "theme": {"color": "green", "sizes": [1, 2]}}
    low = _user_in(client, "price", "low")
    assert of.get_float_value("price", 0.0, EvaluationContext(targeting_key=low)) == 9.5
    high = _user_in(client, "price", "high")
    assert of.get_integer_value("price", 0, EvaluationContext(targeting_key=high)) == 12


def test_boolean_false_variant_and_type_mismatch(of_client: tuple[Any, Client, RecordingSink]) -> None:
    of, client, sink = of_client
    user = _user_in(client, "new_checkout", "control")
    ctx = EvaluationContext(targeting_key=user, attributes={"country": "CA"})
    assert of.get_boolean_details("new_checkout", True, ctx).value is False
    low = _user_in(client, "price", "low")
    mismatch = of.get_integer_details("price", 7, EvaluationContext(targeting_key=low))  # 9.5 is no int
    assert (mismatch.value, mismatch.error_code, mismatch.reason) == (
        7,
        ErrorCode.TYPE_MISMATCH,
        OFReason.ERROR,
    )
    assert client.flush(5)
    # The caller saw the control variant of new_checkout, but the default of price: no exposure for price.
    assert [(e.experiment_key, e.variant_key) for e in sink.exposures] == [("new_checkout", "control")]


def test_defaults_and_error_codes(of_client: tuple[Any, Client, RecordingSink]) -> None:
    of, client, sink = of_client
    not_eligible = of.get_string_details("new_checkout", "fb", EvaluationContext("u1", {"country": "FR"}))
    assert (not_eligible.value, not_eligible.reason, not_eligible.error_code) == (
        "fb",
        OFReason.DEFAULT,
        None,
    )
    assert not_eligible.flag_metadata["splitline_reason"] == Reason.NOT_ELIGIBLE.value
    unknown = of.get_string_details("no_such_flag", "fb", EvaluationContext("u1"))
    assert (unknown.value, unknown.error_code) == ("fb", ErrorCode.FLAG_NOT_FOUND)
    no_key = of.get_string_details("new_checkout", "fb", EvaluationContext(None, {"country": "US"}))
    assert (no_key.value, no_key.error_code) == ("fb", ErrorCode.TARGETING_KEY_MISSING)
    assert client.flush(5)
    assert sink.exposures == []


def test_override_shipped_and_extra_units(of_client: tuple[Any, Client, RecordingSink]) -> None:
    of, client, sink = of_client
    forced = of.get_string_details("new_checkout", "fb", EvaluationContext("qa-1", {"country": "US"}))
    assert (forced.value, forced.reason) == ("treatment", OFReason.TARGETING_MATCH)
    shipped = of.get_string_details("rollout", "fb", EvaluationContext("u2"))
    assert (shipped.value, shipped.reason, shipped.flag_metadata["splitline_reason"]) == (
        "on",
        OFReason.TARGETING_MATCH,
        "SHIPPED",
    )
    # A unit of another type given under "units": the targeting key stays the user id.
    via_units = of.get_string_details("rollout", "fb", EvaluationContext(None, {"units": {"user_id": "u3"}}))
    assert via_units.value == "on"
    assert client.flush(5)
    assert [(e.experiment_key, e.forced) for e in sink.exposures] == [("new_checkout", True)]  # SHIPPED: none


def test_no_snapshot_is_provider_not_ready(sink: RecordingSink) -> None:
    client = Client("/nonexistent/snapshot.json", event_sink=sink)
    api.set_provider(SplitlineProvider(client))
    try:
        details = api.get_client().get_string_details("new_checkout", "fb", EvaluationContext("u1"))
        assert (details.value, details.error_code) == ("fb", ErrorCode.PROVIDER_NOT_READY)
    finally:
        api.clear_providers()
        client.close()


def test_boolean_from_variant_keys(of_client: tuple[Any, Client, RecordingSink]) -> None:
    of, client, _ = of_client
    assert of.get_boolean_value("rollout", False, EvaluationContext("u2")) is True  # shipped "on"
    low = _user_in(client, "price", "low")
    details = of.get_boolean_details("price", True, EvaluationContext(low))  # "low" is no boolean
    assert (details.value, details.error_code) == (True, ErrorCode.TYPE_MISMATCH)
