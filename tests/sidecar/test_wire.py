"""The hand-rolled AssignRequest decoder agrees with the protobuf runtime."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from splitline.sidecar.requests import (
    RequestError,
    call_from_proto,
    exposure_records,
    outcome_records,
    raw_event_records,
)
from splitline.sidecar.spool_format import KIND_EXPOSURE, KIND_OUTCOME
from splitline.sidecar.wire import WireError, assign_span, decode_assign
from splitline.v1 import assignment_pb2, events_pb2

text = st.text(max_size=12)
requests = st.builds(
    assignment_pb2.AssignRequest,
    units=st.dictionaries(text, text, max_size=3),
    attributes=st.dictionaries(text, text, max_size=4),
    experiment_keys=st.lists(text, max_size=3),
    log_exposures=st.booleans(),
    client=text,
    session_id=text,
)


@settings(max_examples=300, deadline=None)
@given(requests, st.integers(min_value=0, max_value=2**64 - 1))
def test_decoder_matches_protobuf(req: assignment_pb2.AssignRequest, request_id: int) -> None:
    data = req.SerializeToString()
    assert decode_assign(data) == call_from_proto(req)
    framed = assignment_pb2.FastPathRequest(request_id=request_id, assign=req).SerializeToString()
    span = assign_span(framed)
    assert span is not None
    rid, start, stop = span
    assert rid == request_id
    assert decode_assign(framed, start, stop) == call_from_proto(req)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=40))
def test_garbage_is_refused_exactly_when_protobuf_refuses_it(data: bytes) -> None:
    try:
        expected = call_from_proto(assignment_pb2.AssignRequest.FromString(data))
    except Exception:
        with pytest.raises(WireError):
            decode_assign(data)
        return
    assert decode_assign(data) == expected


def test_other_bodies_and_unusual_frames_take_the_slow_path() -> None:
    track = assignment_pb2.FastPathRequest(request_id=3, track=assignment_pb2.TrackRequest())
    track.track.outcomes.add(unit_id="u", name="n")
    assert assign_span(track.SerializeToString()) is None
    assert assign_span(b"") is None
    with pytest.raises(WireError):
        decode_assign(b"\x0a\x05ab")  # truncated
    with pytest.raises(WireError):
        decode_assign(b"\x2a\x02\xc3\x28")  # client: invalid UTF-8


events = st.builds(
    events_pb2.Exposure,
    event_id=st.sampled_from(["", "given-id"]),
    experiment_key=st.text(min_size=1, max_size=8),
    unit_id=st.text(min_size=1, max_size=8),
    variant_key=text,
    forced=st.booleans(),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(events, max_size=5), st.booleans())
def test_raw_event_records_equal_the_parsed_path(exposures: list[events_pb2.Exposure], with_ts: bool) -> None:
    for e in exposures:
        if with_ts:
            e.timestamp.FromSeconds(1_700_000_000)
    data = assignment_pb2.LogExposuresRequest(exposures=exposures).SerializeToString()
    raw = [events_pb2.Exposure.FromString(p) for _, p in raw_event_records(KIND_EXPOSURE, data, 0, len(data))]
    parsed = [events_pb2.Exposure.FromString(p) for _, p in exposure_records(
        assignment_pb2.LogExposuresRequest.FromString(data).exposures)]
    assert len(raw) == len(parsed) == len(exposures)
    for r, p, src in zip(raw, parsed, exposures, strict=True):
        if not src.event_id:  # fresh ids differ; both are UUIDs
            assert len(r.event_id) == 36 and len(p.event_id) == 36
            r.event_id = p.event_id = ""
        if not with_ts:
            assert r.timestamp.seconds > 1_700_000_000
            r.ClearField("timestamp")
            p.ClearField("timestamp")
        assert r == p


def test_raw_event_records_refuse_like_the_parsed_path() -> None:
    bad = [events_pb2.Outcome(unit_id="u"), events_pb2.Outcome(name="n"),
           events_pb2.Outcome(name="n", unit_id="u" * 2000)]
    for outcome in bad:
        data = assignment_pb2.TrackRequest(outcomes=[outcome]).SerializeToString()
        with pytest.raises(RequestError) as raw_err:
            raw_event_records(KIND_OUTCOME, data, 0, len(data))
        with pytest.raises(RequestError) as parsed_err:
            outcome_records([outcome])
        assert (raw_err.value.code, raw_err.value.field) == (parsed_err.value.code, parsed_err.value.field)
