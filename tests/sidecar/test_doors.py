"""Both doors of an in-process sidecar in embedded (snapshot file) mode.

The assignment answers must be the vectors' answers on both doors; malformed
input must get clean errors and leave the server up.
"""

from __future__ import annotations

import asyncio
import json
import socket
import struct
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from splitline.sidecar.app import Sidecar
from splitline.sidecar.fastpath_client import FastPathClient, FastPathError
from splitline.v1 import assignment_pb2, assignment_pb2_grpc, events_pb2

from tests.sidecar.helpers import exposure_batch, settings, spooled_event_ids

VECTORS = json.loads((Path(__file__).resolve().parents[2] / "proto/testdata/assignment_vectors.json").read_text())
REASON = assignment_pb2.Reason


def _write_snapshot(path: Path, name: str = "main", revision: int | None = None) -> Path:
    doc = dict(VECTORS["snapshots"][name])
    if revision is not None:
        doc["revision"] = str(revision)
    path.write_text(json.dumps(doc))
    return path


@pytest.fixture
async def sidecar(short_tmp: Path) -> AsyncIterator[Sidecar]:
    snap = _write_snapshot(short_tmp / "snapshot.json")
    sc = Sidecar(settings(short_tmp, snapshot=snap, metrics_port=0, spool_max_bytes=200_000,
                          spool_segment_bytes=50_000))
    await sc.start()
    try:
        yield sc
    finally:
        await sc.stop()


@pytest.fixture
async def fast(sidecar: Sidecar) -> AsyncIterator[FastPathClient]:
    client = await FastPathClient.connect(sidecar.settings.fast_socket)
    yield client
    await client.close()


@pytest.fixture
async def stub(sidecar: Sidecar) -> AsyncIterator[assignment_pb2_grpc.AssignmentServiceStub]:
    channel = grpc.aio.insecure_channel(f"unix:{sidecar.settings.socket}")
    yield assignment_pb2_grpc.AssignmentServiceStub(channel)
    await channel.close()


def _request(case: dict[str, Any], keys: list[str]) -> assignment_pb2.AssignRequest:
    return assignment_pb2.AssignRequest(units=case["input"]["units"], attributes=case["input"]["attributes"],
                                        experiment_keys=keys)


def _decisions(resp: assignment_pb2.AssignResponse) -> list[tuple[str, str | None, str]]:
    return [(a.experiment_key, a.variant_key or None, REASON.Name(a.reason).removeprefix("REASON_"))
            for a in resp.assignments]


MAIN_CASES = [c for c in VECTORS["cases"] if c["snapshot"] == "main"]
ALL_CASES = [c for c in VECTORS["assign_all_cases"] if c["snapshot"] == "main"]


async def test_fast_path_matches_every_vector(fast: FastPathClient) -> None:
    futures = [fast.send(assignment_pb2.FastPathRequest(assign=_request(c, [c["input"]["experiment"]])))
               for c in MAIN_CASES]  # all pipelined on one connection
    responses = await asyncio.gather(*futures)
    for case, resp in zip(MAIN_CASES, responses, strict=True):
        got = _decisions(resp.assign)
        exp = case["expected"]
        assert got == [(case["input"]["experiment"], exp["variant"], exp["reason"])], case["name"]
        assert resp.assign.config_revision == int(VECTORS["snapshots"]["main"].get("revision", 0))
    for case in ALL_CASES:
        resp = await fast.assign(_request(case, []))
        assert sorted(_decisions(resp)) == [
            (e["experiment"], e["variant"], e["reason"]) for e in case["expected"]], case["name"]


async def test_grpc_matches_vectors_and_carries_params_and_units(
        stub: assignment_pb2_grpc.AssignmentServiceStub) -> None:
    for case in MAIN_CASES[::9]:
        resp = await stub.Assign(_request(case, [case["input"]["experiment"]]))
        exp = case["expected"]
        assert _decisions(resp) == [(case["input"]["experiment"], exp["variant"], exp["reason"])], case["name"]
    resp = await stub.Assign(assignment_pb2.AssignRequest(units={"user_id": "qa-alice"},
                                                          experiment_keys=["checkout_v2", "no_such"]))
    forced, unknown = resp.assignments
    assert (forced.variant_key, forced.reason, forced.unit_type, forced.unit_id) == (
        "treatment", REASON.REASON_OVERRIDE, "user_id", "qa-alice")
    assert forced.params.fields["button"].string_value == "green"
    assert (unknown.reason, unknown.variant_key) == (REASON.REASON_UNKNOWN_EXPERIMENT, "")


async def test_assign_with_log_exposures_spools_assigned_and_forced_only(
        sidecar: Sidecar, fast: FastPathClient) -> None:
    resp = await fast.assign(assignment_pb2.AssignRequest(
        units={"user_id": "qa-alice"}, experiment_keys=["checkout_v2", "no_such"], log_exposures=True,
        client="test/1", session_id="s1"))
    assert resp.assignments[0].reason == REASON.REASON_OVERRIDE
    await fast.log_exposures(exposure_batch(0, 1))  # a durable call after it: the exposure is committed too
    from splitline.sidecar.spool_format import iter_records, segment_paths
    exposures = [events_pb2.Exposure.FromString(p) for path in segment_paths(sidecar.settings.spool_dir)
                 for _, _, p in iter_records(path)]
    forced = [e for e in exposures if e.unit_id == "qa-alice"]
    assert len(forced) == 1
    e = forced[0]
    assert (e.experiment_key, e.variant_key, e.forced, e.client, e.session_id, e.config_revision) == (
        "checkout_v2", "treatment", True, "test/1", "s1", resp.config_revision)
    assert len(e.event_id) == 36 and e.timestamp.seconds > 0


async def test_log_exposures_and_track_are_durable_and_stamped(
        sidecar: Sidecar, fast: FastPathClient, stub: assignment_pb2_grpc.AssignmentServiceStub) -> None:
    out = await stub.LogExposures(exposure_batch(0, 10, prefix="grpc"))
    assert out.accepted == 10
    out2 = await fast.log_exposures(exposure_batch(0, 5, prefix="fast"))
    assert out2.accepted == 5
    tracked = await fast.track(assignment_pb2.TrackRequest(outcomes=[
        events_pb2.Outcome(unit_type="user_id", unit_id="u1", name="purchase", value=9.5)]))
    assert tracked.accepted == 1
    ids = spooled_event_ids(sidecar.settings.spool_dir)
    assert sorted(ids) == sorted([f"grpc-{i}" for i in range(10)] + [f"fast-{i}" for i in range(5)])


async def test_invalid_requests_name_the_field(
        fast: FastPathClient, stub: assignment_pb2_grpc.AssignmentServiceStub) -> None:
    huge = "x" * 5000
    with pytest.raises(FastPathError) as err:
        await fast.assign(assignment_pb2.AssignRequest(units={"user_id": huge}))
    assert err.value.code == 3 and err.value.field == "assign.units[user_id]"
    with pytest.raises(grpc.aio.AioRpcError) as rpc_err:
        await stub.Assign(assignment_pb2.AssignRequest(units={"user_id": huge}))
    assert rpc_err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "units[user_id]" in (rpc_err.value.details() or "")
    with pytest.raises(FastPathError) as err:
        await fast.track(assignment_pb2.TrackRequest(outcomes=[events_pb2.Outcome(unit_id="u")]))
    assert err.value.field == "track.outcomes[0].name"
    with pytest.raises(grpc.aio.AioRpcError) as rpc_err:
        await stub.LogExposures(assignment_pb2.LogExposuresRequest(exposures=[events_pb2.Exposure(unit_id="u")]))
    assert rpc_err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    # Still serving on the same connection.
    ok = await fast.assign(assignment_pb2.AssignRequest(units={"user_id": "qa-alice"}, experiment_keys=["x"]))
    assert ok.assignments[0].reason == REASON.REASON_UNKNOWN_EXPERIMENT


def _raw_exchange(path: Path, data: bytes) -> bytes:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(10)
        s.connect(str(path))
        s.sendall(data)
        chunks = []
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return b"".join(chunks)  # the server closed the connection
            chunks.append(chunk)


def _error_of(reply: bytes) -> assignment_pb2.FastPathResponse:
    (n,) = struct.unpack(">I", reply[:4])
    resp = assignment_pb2.FastPathResponse.FromString(reply[4:4 + n])
    assert resp.WhichOneof("body") == "error"
    return resp


async def test_garbage_oversized_and_invalid_utf8_frames(
        sidecar: Sidecar, stub: assignment_pb2_grpc.AssignmentServiceStub) -> None:
    path = sidecar.settings.fast_socket
    garbage = _error_of(await asyncio.to_thread(_raw_exchange, path, struct.pack(">I", 7) + b"\xff" * 7))
    assert (garbage.request_id, garbage.error.code) == (0, 3)
    too_big = _error_of(await asyncio.to_thread(_raw_exchange, path, struct.pack(">I", 64 << 20) + b"x" * 10))
    assert too_big.error.code == 3 and "exceeds" in too_big.error.message
    # AssignRequest.units["user_id"] = b"\xc3\x28" (invalid UTF-8) inside a FastPathRequest.
    entry = b"\x0a\x07user_id" + b"\x12\x02\xc3\x28"
    assign = b"\x0a" + bytes([len(entry)]) + entry
    request = b"\x08\x05" + b"\x12" + bytes([len(assign)]) + assign
    bad_utf8 = _error_of(await asyncio.to_thread(_raw_exchange, path, struct.pack(">I", len(request)) + request))
    assert bad_utf8.error.code == 3
    # The same bytes over gRPC: INVALID_ARGUMENT, not INTERNAL.
    channel = grpc.aio.insecure_channel(f"unix:{sidecar.settings.socket}")
    raw = channel.unary_unary("/splitline.v1.AssignmentService/Assign")
    with pytest.raises(grpc.aio.AioRpcError) as rpc_err:
        await raw(assign)
    assert rpc_err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    await channel.close()
    # A truncated frame then a hang-up: nothing to answer, nothing breaks.
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.connect(str(path))
        s.sendall(struct.pack(">I", 100) + b"abc")
    # The server is still up on both doors.
    client = await FastPathClient.connect(path)
    resp = await client.assign(assignment_pb2.AssignRequest(units={"user_id": "qa-alice"}))
    assert resp.assignments
    await client.close()
    assert (await stub.Assign(assignment_pb2.AssignRequest(units={"user_id": "1"}))).config_revision > 0


async def test_spool_full_is_resource_exhausted_and_nothing_crashes(
        sidecar: Sidecar, fast: FastPathClient, stub: assignment_pb2_grpc.AssignmentServiceStub) -> None:
    accepted = 0
    with pytest.raises(FastPathError) as err:
        for i in range(1000):  # 200 kB bound, ~80 bytes an event: full long before 1000 x 100
            accepted += (await fast.log_exposures(exposure_batch(i * 100, 100))).accepted
    assert err.value.code == 8
    with pytest.raises(grpc.aio.AioRpcError) as rpc_err:
        await stub.Track(assignment_pb2.TrackRequest(outcomes=[
            events_pb2.Outcome(unit_id="u", name="purchase")] * 3000))
    assert rpc_err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    with pytest.raises(FastPathError):  # fill to the brim with single events
        for i in range(10_000):
            accepted += (await fast.log_exposures(exposure_batch(10**6 + i, 1))).accepted
    # Everything acknowledged is in the spool; assignment still works, with drops counted.
    assert len(spooled_event_ids(sidecar.settings.spool_dir)) == accepted
    resp = await fast.assign(assignment_pb2.AssignRequest(units={"user_id": "qa-alice"}, log_exposures=True))
    assert resp.assignments
    assert (sidecar.metrics.registry.get_sample_value("splitline_sidecar_events_dropped_total") or 0) >= 1
    assert sidecar.health()["spool_full"] is True


async def test_health_reflection_metrics_and_socket_mode(sidecar: Sidecar) -> None:
    assert sidecar.settings.socket.stat().st_mode & 0o777 == 0o660
    assert sidecar.settings.fast_socket.stat().st_mode & 0o777 == 0o660
    channel = grpc.aio.insecure_channel(f"unix:{sidecar.settings.socket}")
    health = health_pb2_grpc.HealthStub(channel)
    status = await health.Check(health_pb2.HealthCheckRequest(service="splitline.v1.AssignmentService"))
    assert status.status == health_pb2.HealthCheckResponse.SERVING
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
    refl = reflection_pb2_grpc.ServerReflectionStub(channel)

    async def ask() -> AsyncIterator[reflection_pb2.ServerReflectionRequest]:
        yield reflection_pb2.ServerReflectionRequest(list_services="")

    services = [s.name async for r in refl.ServerReflectionInfo(ask())
                for s in r.list_services_response.service]
    assert "splitline.v1.AssignmentService" in services
    await channel.close()
    reader, writer = await asyncio.open_connection("127.0.0.1", sidecar.metrics_port)
    writer.write(b"GET /metrics HTTP/1.0\r\n\r\n")
    text = (await reader.read()).decode()
    writer.close()
    await writer.wait_closed()
    assert "splitline_sidecar_config_revision" in text and "splitline_sidecar_spool_bytes" in text
    reader, writer = await asyncio.open_connection("127.0.0.1", sidecar.metrics_port)
    writer.write(b"GET /healthz HTTP/1.0\r\n\r\n")
    body = (await reader.read()).split(b"\r\n\r\n", 1)[1]
    writer.close()
    await writer.wait_closed()
    info = json.loads(body)
    assert info["serving"] is True and info["config_source"] == "file"


async def test_snapshot_file_change_swaps_config_and_streams_to_get_snapshot(
        sidecar: Sidecar, stub: assignment_pb2_grpc.AssignmentServiceStub, short_tmp: Path) -> None:
    stream = stub.GetSnapshot(assignment_pb2.GetSnapshotRequest(known_revision=0))
    first = await stream.read()
    assert first.snapshot.revision == sidecar.state.revision
    old = sidecar.state.revision
    snap = sidecar.settings.snapshot_file
    assert snap is not None
    _write_snapshot(snap, "ramp_after", revision=old + 5)
    second = await asyncio.wait_for(stream.read(), 10)
    assert second.snapshot.revision == old + 5
    resp = await stub.Assign(assignment_pb2.AssignRequest(units={"user_id": "1"}))
    assert resp.config_revision == old + 5
    # A broken file keeps the last good config.
    snap.write_text("{not json")
    await asyncio.sleep(1.2)
    assert sidecar.state.revision == old + 5
    stream.cancel()


def test_sidecar_thread_serves_on_uvloop_for_sync_callers(short_tmp: Path) -> None:
    """The programmatic start `make demo` uses: own uvloop loop in a thread, stopped cleanly."""
    from splitline.sidecar.app import SidecarThread

    snap = _write_snapshot(short_tmp / "snapshot.json")
    with SidecarThread(settings(short_tmp, snapshot=snap)) as running:
        assert running.sidecar is not None
        assert type(running.call(lambda sc: __import__("asyncio").get_running_loop())).__module__ == "uvloop"
        req = assignment_pb2.FastPathRequest(request_id=9, assign=assignment_pb2.AssignRequest(
            units={"user_id": "qa-alice"}, experiment_keys=["checkout_v2"])).SerializeToString()
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(10)
            s.connect(str(short_tmp / "fast.sock"))
            s.sendall(struct.pack(">I", len(req)) + req)
            data = b""
            while len(data) < 4 or len(data) < 4 + struct.unpack(">I", data[:4])[0]:
                data += s.recv(65536)
        resp = assignment_pb2.FastPathResponse.FromString(data[4:])
        assert resp.request_id == 9
        assert resp.assign.assignments[0].variant_key == "treatment"
    assert not (short_tmp / "fast.sock").exists()
