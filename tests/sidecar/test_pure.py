"""Pure pieces: WatchConfig delta arithmetic, response encoding, event stamping, fast-path framing."""

from __future__ import annotations

import pytest
from splitline.core import compile_snapshot
from splitline.sidecar import requests
from splitline.sidecar.fastpath import assign_frame, error_frame, varint
from splitline.sidecar.follower import apply_delta
from splitline.sidecar.requests import RequestError
from splitline.sidecar.shipper import partition_for
from splitline.sidecar.spool_format import KIND_EXPOSURE, KIND_OUTCOME
from splitline.snapshot_file import load_snapshot
from splitline.v1 import assignment_pb2, config_pb2, control_pb2, events_pb2

from tests.sidecar.conftest import EXAMPLE_SNAPSHOT


def test_apply_delta_upserts_then_deletes_and_snapshot_replaces() -> None:
    base = config_pb2.ConfigSnapshot(revision=3)
    base.layers.add(id="a")
    base.experiments.add(key="x", layer_id="a")
    base.experiments.add(key="y", layer_id="a")
    msg = control_pb2.WatchConfigResponse(revision=5, deleted_experiments=["y"])
    msg.upserted_experiments.add(key="x", layer_id="a", description="changed")
    msg.upserted_experiments.add(key="z", layer_id="a")
    msg.upserted_layers.add(id="b")
    out = apply_delta(base, msg)
    assert out.revision == 5
    assert {e.key: e.description for e in out.experiments} == {"x": "changed", "z": ""}
    assert sorted(layer.id for layer in out.layers) == ["a", "b"]
    assert [e.key for e in base.experiments] == ["x", "y"]  # the base is not modified
    full = control_pb2.WatchConfigResponse(revision=9, snapshot=config_pb2.ConfigSnapshot(revision=9))
    assert apply_delta(out, full) == config_pb2.ConfigSnapshot(revision=9)


def test_encoded_assign_response_equals_the_proto_built_the_slow_way() -> None:
    compiled = compile_snapshot(load_snapshot(EXAMPLE_SNAPSHOT))
    cache = requests.ResponseCache(compiled)
    req = assignment_pb2.AssignRequest(units={"user_id": "qa-alice"}, attributes={"country": "US"},
                                       experiment_keys=["checkout_v2", "search_rank", "nope", "new_onboarding"])
    body, results = requests.assign(compiled, cache, requests.call_from_proto(req))
    got = assignment_pb2.AssignResponse.FromString(body)
    want = assignment_pb2.AssignResponse(config_revision=compiled.revision)
    for r in results:
        a = want.assignments.add(experiment_key=r.experiment_key, variant_key=r.variant or "",
                                 reason=assignment_pb2.Reason.Value(r.reason.proto_name))
        if r.experiment_key in compiled.experiments:
            a.unit_type = "user_id"
            a.unit_id = "qa-alice"
            for v in compiled.experiments[r.experiment_key].source.variants:
                if v.key == r.variant and v.params.fields:
                    a.params.CopyFrom(v.params)
    assert got == want
    assert got.assignments[0].params.fields["button"].string_value == "green"
    # Fast-path framing of the same bytes.
    framed = assign_frame(7, body)
    assert int.from_bytes(framed[:4], "big") == len(framed) - 4
    assert assignment_pb2.FastPathResponse.FromString(framed[4:]) == assignment_pb2.FastPathResponse(
        request_id=7, assign=got)
    err = assignment_pb2.FastPathResponse.FromString(error_frame(3, 8, "full", "x")[4:])
    assert (err.request_id, err.error.code, err.error.field) == (3, 8, "x")


@pytest.mark.parametrize("n", [0, 1, 127, 128, 300, 2**32, 2**63])
def test_varint_matches_protobuf(n: int) -> None:
    encoded = assignment_pb2.FastPathRequest(request_id=n).SerializeToString()
    assert encoded == (b"\x08" + varint(n) if n else b"")


def test_stamping_fills_ids_and_timestamps_but_keeps_given_ones() -> None:
    given = events_pb2.Exposure(event_id="keep-me", experiment_key="e", unit_id="u")
    given.timestamp.FromSeconds(1_700_000_000)
    fresh = events_pb2.Exposure(experiment_key="e", unit_id="u2")
    records = requests.exposure_records([given, fresh])
    decoded = [events_pb2.Exposure.FromString(p) for _, p in records]
    assert [k for k, _ in records] == [KIND_EXPOSURE, KIND_EXPOSURE]
    assert decoded[0].event_id == "keep-me" and decoded[0].timestamp.seconds == 1_700_000_000
    assert len(decoded[1].event_id) == 36 and decoded[1].timestamp.seconds > 1_700_000_000
    outcome = requests.outcome_records([events_pb2.Outcome(unit_id="u", name="purchase", value=2.5)])
    assert outcome[0][0] == KIND_OUTCOME
    assert requests.event_key(*outcome[0]) == b"u"


@pytest.mark.parametrize(("event", "field"), [
    (events_pb2.Exposure(unit_id="u"), "exposures[0].experiment_key"),
    (events_pb2.Exposure(experiment_key="e"), "exposures[0].unit_id"),
    (events_pb2.Exposure(experiment_key="e", unit_id="u" * 2000), "exposures[0].unit_id"),
])
def test_invalid_exposures_name_their_field(event: events_pb2.Exposure, field: str) -> None:
    with pytest.raises(RequestError) as err:
        requests.exposure_records([event])
    assert (err.value.code, err.value.field) == (3, field)


def test_partitioning_is_stable_per_unit_and_spreads() -> None:
    assert partition_for(b"user-1", 3) == partition_for(b"user-1", 3)
    counts = [0, 0, 0]
    for i in range(3000):
        counts[partition_for(f"user-{i}".encode(), 3)] += 1
    assert min(counts) > 800
