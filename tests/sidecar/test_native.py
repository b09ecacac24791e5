"""The native (Go) core behind the sidecar answers exactly what the Python core answers.

Differential: random snapshots (the cross-language test's generator: every
status, operator, holdouts, overrides) and random requests, one or several or
all experiments; both answers are parsed and compared as messages (map order
inside variant params may differ in bytes). Then the frame server: a stream
of pipelined frames mixing plain Assign requests with frames the native core
must hand back (exposure logging, ids over the limits, invalid UTF-8, events,
no body, garbage), answered through the real FastPathProtocol with each core.
Finally a real sidecar: health says which core serves, metrics count the
native answers.

Without the library these tests skip, unless SPLITLINE_REQUIRE_NATIVE is set
(`make test` sets it, so CI cannot pass without exercising the native core).
"""

from __future__ import annotations

import asyncio
import ctypes
import json
import os
import random
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import mmh3
import pytest
from google.protobuf import timestamp_pb2
from splitline.core import compile_snapshot, encode_attributes, validate_snapshot
from splitline.sidecar import native
from splitline.sidecar.app import Sidecar
from splitline.sidecar.config_state import ConfigState
from splitline.sidecar.fastpath import FastPathProtocol, frame
from splitline.sidecar.metrics import Metrics
from splitline.sidecar.requests import (
    RequestError,
    ResponseCache,
    assign,
    call_from_proto,
    event_key,
    raw_event_records,
)
from splitline.sidecar.service import AssignmentCore
from splitline.sidecar.shipper import KafkaSettings, Shipper
from splitline.sidecar.spool import Spool
from splitline.sidecar.spool_format import KIND_EXPOSURE, KIND_OUTCOME, encode_record, iter_buffer
from splitline.snapshot_file import parse_snapshot
from splitline.v1 import assignment_pb2, config_pb2, events_pb2

from tests.cross.test_differential import ATTRS, UNIT_TYPES, _random_attribute_value, _random_snapshot, _random_unit_id
from tests.sidecar.helpers import settings

if native.load() is None:
    if os.environ.get("SPLITLINE_REQUIRE_NATIVE"):
        raise RuntimeError(f"SPLITLINE_REQUIRE_NATIVE is set but the native library is missing: "
                           f"{native.load_error()}")
    pytest.skip(f"native library not built: {native.load_error()}", allow_module_level=True)

ROOT = Path(__file__).resolve().parents[2]
SEED = 424242


def _snapshots(n: int, rng: random.Random) -> list[config_pb2.ConfigSnapshot]:
    out: list[config_pb2.ConfigSnapshot] = []
    made = 0
    while len(out) < n:
        parsed = parse_snapshot(json.dumps(_random_snapshot(rng, made)))
        made += 1
        if not validate_snapshot(parsed):
            out.append(parsed)
    return out


def _request(rng: random.Random, keys: list[str]) -> assignment_pb2.AssignRequest:
    req = assignment_pb2.AssignRequest()
    for t in UNIT_TYPES:
        if rng.random() < 0.9:
            req.units[t] = _random_unit_id(rng)
    for a in ATTRS:
        if rng.random() < 0.7:
            req.attributes.update(encode_attributes({a: _random_attribute_value(rng, a)}))
    roll = rng.random()
    if roll < 0.4:
        pass  # all experiments
    elif roll < 0.8:
        req.experiment_keys.append(rng.choice(keys))
    else:
        req.experiment_keys.extend(rng.sample(keys, min(len(keys), rng.randint(2, 6))))
    return req


def _canonical(resp: assignment_pb2.AssignResponse, all_experiments: bool) -> assignment_pb2.AssignResponse:
    """Without experiment keys the answer is a set (decision 0001): compare it sorted by experiment key."""
    if all_experiments:
        ordered = sorted(resp.assignments, key=lambda a: a.experiment_key)
        resp = assignment_pb2.AssignResponse(assignments=ordered, config_revision=resp.config_revision)
    return resp


def test_native_answers_equal_python_answers() -> None:
    rng = random.Random(SEED)
    out = ctypes.create_string_buffer(1 << 20)
    compared = 0
    reasons: set[int] = set()
    for snapshot in _snapshots(60, rng):
        compiled = compile_snapshot(snapshot)
        cache = ResponseCache(compiled)
        index = native.NativeIndex.compile(snapshot.SerializeToString())
        assert index is not None, "the Go core refused a snapshot the Python core accepts"
        keys = [e.key for e in snapshot.experiments] + ["unknown_exp"]
        for _ in range(150):
            req = _request(rng, keys)
            py_bytes, _ = assign(compiled, cache, call_from_proto(req))
            go_bytes = native.assign(index, req.SerializeToString(), out)
            assert go_bytes is not None
            every = not req.experiment_keys
            py = _canonical(assignment_pb2.AssignResponse.FromString(py_bytes), every)
            go = _canonical(assignment_pb2.AssignResponse.FromString(go_bytes), every)
            assert go == py, f"request {req}"
            reasons.update(a.reason for a in py.assignments)
            compared += 1
    assert compared == 9000
    assert len(reasons) >= 8, reasons  # every reason showed up at least once


def test_native_hands_back_what_python_must_answer() -> None:
    snapshot = parse_snapshot((ROOT / "examples" / "snapshot.yaml").read_text())
    index = native.NativeIndex.compile(snapshot.SerializeToString())
    assert index is not None
    out = ctypes.create_string_buffer(1 << 16)
    cases = {
        "log_exposures": assignment_pb2.AssignRequest(units={"user_id": "u1"}, log_exposures=True),
        "long id": assignment_pb2.AssignRequest(units={"user_id": "x" * 1025}),
        "long key": assignment_pb2.AssignRequest(units={"user_id": "u"}, experiment_keys=["k" * 257]),
        "long attribute": assignment_pb2.AssignRequest(units={"user_id": "u"}, attributes={"a": "v" * 8193}),
    }
    for name, req in cases.items():
        assert native.assign(index, req.SerializeToString(), out) is None, name
    assert native.assign(index, b"\x0a\x05\x0a\x03\xff\xfe\xfd", out) is None  # invalid UTF-8 in a map key
    at_limit = assignment_pb2.AssignRequest(units={"user_id": "x" * 1024}, attributes={"a": "v" * 8192})
    assert native.assign(index, at_limit.SerializeToString(), out) is not None
    tiny = ctypes.create_string_buffer(8)  # an answer that does not fit is handed back, never truncated
    assert native.assign(index, assignment_pb2.AssignRequest(units={"user_id": "u1"}).SerializeToString(),
                         tiny) is None


class _Transport:
    """Collects what the protocol writes."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.closed = False

    def write(self, data: bytes) -> None:
        self.data += data

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


def _response_list(data: bytes) -> list[assignment_pb2.FastPathResponse]:
    out: list[assignment_pb2.FastPathResponse] = []
    pos = 0
    while pos < len(data):
        n = int.from_bytes(data[pos:pos + 4], "big")
        out.append(assignment_pb2.FastPathResponse.FromString(data[pos + 4:pos + 4 + n]))
        pos += 4 + n
    return out


def _responses(data: bytes) -> dict[int, assignment_pb2.FastPathResponse]:
    out: dict[int, assignment_pb2.FastPathResponse] = {}
    for resp in _response_list(data):
        assert resp.request_id not in out
        out[resp.request_id] = resp
    return out


async def _serve_raw(snapshot: config_pb2.ConfigSnapshot, use_native: bool, stream: bytes, chunk: int,
                     tmp: Path) -> tuple[bytes, bool, Metrics]:
    """What the protocol wrote for `stream` fed in `chunk`-sized reads, whether it closed, its metrics."""
    state = ConfigState(native=use_native)
    assert state.install(snapshot, "file", persist=False)
    assert (state.current is not None and state.current.native is not None) == use_native
    spool = Spool(tmp, fsync=False)
    await spool.open()
    metrics = Metrics()
    proto = FastPathProtocol(AssignmentCore(state, spool, metrics), metrics, set())
    transport = _Transport()
    proto.connection_made(transport)  # type: ignore[arg-type]
    for i in range(0, len(stream), chunk):
        proto.data_received(stream[i:i + chunk])
    if proto.tasks:
        await asyncio.wait(proto.tasks)
    await spool.close()
    return bytes(transport.data), transport.closed, metrics


async def _serve(snapshot: config_pb2.ConfigSnapshot, use_native: bool, stream: bytes, chunk: int,
                 tmp: Path) -> tuple[dict[int, assignment_pb2.FastPathResponse], Metrics]:
    data, _, metrics = await _serve_raw(snapshot, use_native, stream, chunk, tmp)
    return _responses(data), metrics


def _stream(rng: random.Random, keys: list[str]) -> tuple[bytes, int, set[int]]:
    frames: list[bytes] = []
    plain = 0
    every: set[int] = set()  # request ids asking for all experiments
    for rid in range(1, 601):
        roll = rng.random()
        req = assignment_pb2.FastPathRequest(request_id=rid)
        if roll < 0.75:
            req.assign.CopyFrom(_request(rng, keys))
            plain += 1
        elif roll < 0.8:
            req.assign.CopyFrom(_request(rng, keys))
            req.assign.log_exposures = True
        elif roll < 0.85:
            req.assign.units["user_id"] = "x" * 2000
        elif roll < 0.9:
            req.log_exposures.exposures.add(experiment_key="checkout_v2", variant_key="treatment",
                                            unit_type="user_id", unit_id=f"u{rid}")
        elif roll < 0.95:
            req.track.outcomes.add(name="purchase", unit_type="user_id", unit_id=f"u{rid}", value=1.5)
        else:
            pass  # no body: INVALID_ARGUMENT naming `body`, connection stays open
        if req.HasField("assign") and not req.assign.experiment_keys:
            every.add(rid)
        frames.append(frame(req.SerializeToString()))
    return b"".join(frames), plain, every


@pytest.mark.parametrize("chunk", [1 << 20, 997, 5])
async def test_frame_server_matches_python_door(tmp_path: Path, chunk: int) -> None:
    rng = random.Random(SEED + chunk)
    snapshot = _snapshots(1, rng)[0]
    keys = [e.key for e in snapshot.experiments] + ["unknown_exp"]
    stream, plain, every = _stream(rng, keys)
    py, _ = await _serve(snapshot, False, stream, chunk, tmp_path / "py")
    go, metrics = await _serve(snapshot, True, stream, chunk, tmp_path / "go")
    assert len(py) == len(go) == 600
    for rid in range(1, 601):
        if py[rid].HasField("log_exposures") or py[rid].HasField("track"):
            assert go[rid].WhichOneof("body") == py[rid].WhichOneof("body")  # event ids differ: fresh uuids
        elif py[rid].HasField("assign"):
            assert _canonical(go[rid].assign, rid in every) == _canonical(py[rid].assign, rid in every), rid
            assert go[rid].request_id == py[rid].request_id
        else:
            assert go[rid] == py[rid], rid
    answered = metrics.requests.labels("fast", "Assign", "OK")._value.get()
    assert answered >= plain  # plain ones natively, log_exposures ones in Python
    histogram = metrics.latency.labels("fast", "Assign")
    assert sum(b.get() for b in histogram._buckets) == answered


async def test_garbage_after_native_frames_closes_with_an_error(tmp_path: Path) -> None:
    snapshot = parse_snapshot((ROOT / "examples" / "snapshot.yaml").read_text())
    good = frame(assignment_pb2.FastPathRequest(
        request_id=7, assign=assignment_pb2.AssignRequest(units={"user_id": "u1"})).SerializeToString())
    got, _ = await _serve(snapshot, True, good + frame(b"\xff\xff\xff"), 1 << 16, tmp_path)
    assert set(got) == {7, 0}
    assert got[7].HasField("assign") and got[0].error.code == 3


async def test_real_sidecar_reports_native_core(tmp_path: Path) -> None:
    snap = tmp_path / "snapshot.yaml"
    snap.write_text((ROOT / "examples" / "snapshot.yaml").read_text())
    async with Sidecar(settings(tmp_path, snapshot=snap, metrics_port=0, core="native")) as sc:
        reader, writer = await asyncio.open_unix_connection(str(sc.settings.fast_socket))
        frames = b"".join(frame(assignment_pb2.FastPathRequest(
            request_id=i, assign=assignment_pb2.AssignRequest(units={"user_id": f"u{i}"})).SerializeToString())
            for i in range(1, 101))
        writer.write(frames)
        got: dict[int, Any] = {}
        while len(got) < 100:
            n = int.from_bytes(await reader.readexactly(4), "big")
            resp = assignment_pb2.FastPathResponse.FromString(await reader.readexactly(n))
            got[resp.request_id] = resp
        writer.close()
        assert all(r.HasField("assign") for r in got.values())
        health = sc.health()
        assert health["core"] == "native"

        def scrape() -> str:
            with urllib.request.urlopen(f"http://127.0.0.1:{sc.metrics_port}/metrics", timeout=5) as r:
                return str(r.read().decode())

        text = await asyncio.to_thread(scrape)
        assert 'splitline_sidecar_requests_total{code="OK",door="fast",method="Assign"} 100.0' in text
        assert 'splitline_sidecar_request_seconds_count{door="fast",method="Assign"} 100.0' in text


# ------------------------------------------------------------------ events


def _random_events(rng: random.Random, kind: int, n: int) -> list[Any]:
    events: list[Any] = []
    for i in range(n):
        if kind == KIND_EXPOSURE:
            e: Any = events_pb2.Exposure(experiment_key=rng.choice(["checkout_v2", "e" * 256, "用户"]),
                                         variant_key="treatment", unit_type="user_id",
                                         unit_id=rng.choice([f"u{i}", "x" * 1024, "🙂"]), forced=rng.random() < 0.1)
        else:
            e = events_pb2.Outcome(name=rng.choice(["purchase", "n" * 256]), unit_type="user_id",
                                   unit_id=rng.choice([f"u{i}", "x" * 1024]), value=rng.uniform(-5, 5))
        if rng.random() < 0.5:
            e.event_id = rng.choice(["", f"id-{i}"])
        if rng.random() < 0.5:
            e.timestamp.FromNanoseconds(rng.randrange(0, 2 * 10**18))
        events.append(e)
    return events


def _request_bytes(kind: int, events: list[Any]) -> bytes:
    if kind == KIND_EXPOSURE:
        return assignment_pb2.LogExposuresRequest(exposures=events).SerializeToString()
    return assignment_pb2.TrackRequest(outcomes=events).SerializeToString()


def _decoded(kind: int, payload: bytes) -> Any:
    cls = events_pb2.Exposure if kind == KIND_EXPOSURE else events_pb2.Outcome
    return cls.FromString(payload)


@pytest.mark.parametrize("kind", [KIND_EXPOSURE, KIND_OUTCOME])
def test_native_spool_events_follow_the_python_rules(kind: int) -> None:
    lib = native.load()
    assert lib is not None
    rng = random.Random(SEED + kind)
    now = 1_790_000_000_123_456_789
    for _ in range(40):
        events = _random_events(rng, kind, rng.randint(0, 60))
        data = _request_bytes(kind, events)
        start = rng.randint(0, 3)
        padded = b"\x00" * start + data
        got = native.spool_events(lib, kind, padded, start, len(padded), now)
        assert got is not None
        blob, count = got
        native_records = [(k, p) for k, _, p in iter_buffer(blob)]
        assert len(native_records) == count == len(events)
        ts = timestamp_pb2.Timestamp()
        ts.FromNanoseconds(now)
        for original, (k, payload) in zip(events, native_records, strict=True):
            assert k == kind
            event = _decoded(kind, payload)
            if original.event_id:
                assert payload.startswith(original.SerializeToString())
                assert event.event_id == original.event_id
            else:
                assert uuid.UUID(event.event_id).version == 4 and str(uuid.UUID(event.event_id)) == event.event_id
            want_ts = original.timestamp if original.HasField("timestamp") else ts
            assert event.timestamp == want_ts
            expected = _decoded(kind, original.SerializeToString())
            expected.event_id = event.event_id
            expected.timestamp.CopyFrom(want_ts)
            assert event == expected
        # the Python rules give the same events (ids aside: fresh UUIDs)
        py = [(_decoded(k, p)) for k, p in raw_event_records(kind, data, 0, len(data))]
        assert len(py) == len(events)


@pytest.mark.parametrize("broken", ["no unit_id", "empty key", "long unit_id", "long key", "big event"])
def test_native_spool_events_hand_back_broken_events(broken: str) -> None:
    lib = native.load()
    assert lib is not None
    e = events_pb2.Exposure(experiment_key="checkout_v2", variant_key="t", unit_type="user_id", unit_id="u1")
    if broken == "no unit_id":
        e.unit_id = ""
    elif broken == "empty key":
        e.experiment_key = ""
    elif broken == "long unit_id":
        e.unit_id = "x" * 1025
    elif broken == "long key":
        e.experiment_key = "k" * 257
    else:
        e.client = "c" * (64 * 1024)
    good = events_pb2.Exposure(experiment_key="k", unit_id="u2")
    data = _request_bytes(KIND_EXPOSURE, [good, e])
    assert native.spool_events(lib, KIND_EXPOSURE, data, 0, len(data), 1) is None
    with pytest.raises(RequestError) as err:
        raw_event_records(KIND_EXPOSURE, data, 0, len(data))
    assert err.value.field.startswith("exposures[1]")


def test_native_spool_scan_matches_the_python_reader(tmp_path: Path) -> None:
    """Records, keys and key hashes as iter_buffer + event_key + mmh3 give them, up to a corrupt tail."""
    lib = native.load()
    assert lib is not None
    rng = random.Random(SEED)
    records: list[tuple[int, bytes]] = []
    for kind in (KIND_EXPOSURE, KIND_OUTCOME):
        for e in _random_events(rng, kind, 3000):
            records.append((kind, e.SerializeToString()))
    records += [(KIND_EXPOSURE, b""), (KIND_OUTCOME, b"\x22\x02ab\x22\x01c"), (KIND_EXPOSURE, b"\x32\x05ab"),
                (KIND_EXPOSURE, b"\x0b\x32\x01a\x0c"), (KIND_OUTCOME, b"\xff"), (KIND_EXPOSURE, b"\x32\x00")]
    rng.shuffle(records)
    data = b"".join(encode_record(k, p) for k, p in records)
    for tail in (b"", b"\x00\x00\x00\x05\x00\x00\x00\x00\x01abc", encode_record(1, b"xyz")[:-1]):
        chunk = data + tail
        scanned = native.scan_spool(lib, chunk)
        assert scanned is not None
        items, consumed = scanned
        want = [(k, p, event_key(k, p), mmh3.hash(event_key(k, p), 0, False)) for k, _, p in iter_buffer(chunk)]
        assert items == want
        assert consumed == len(data)
        # the shipper's own reader (no library) gives the same
        assert Shipper(Spool(tmp_path), KafkaSettings("127.0.0.1:1"))._scan(chunk) == (items, consumed)


# ------------------------------------------------------------------ fuzz

_FUZZ_SNAPSHOT = _snapshots(1, random.Random(SEED + 1))[0]
_FUZZ_KEYS = [e.key for e in _FUZZ_SNAPSHOT.experiments] + ["unknown_exp"]


def _mutated_frames(seed: int, n: int) -> tuple[bytes, set[int]]:
    """Pipelined frames: valid Assign requests, some with flipped, cut or inserted bytes, some garbage."""
    rng = random.Random(seed)
    frames: list[bytes] = []
    every: set[int] = set()
    for rid in range(1, n + 1):
        req = assignment_pb2.FastPathRequest(request_id=rid, assign=_request(rng, _FUZZ_KEYS))
        body = bytearray(req.SerializeToString())
        roll = rng.random()
        if roll < 0.2 and len(body) > 4:
            for _ in range(rng.randint(1, 3)):
                body[rng.randrange(2, len(body))] = rng.randrange(256)  # keep the request id readable
        elif roll < 0.3 and len(body) > 4:
            del body[rng.randrange(2, len(body)):]
        elif roll < 0.35:
            body = bytearray(rng.randbytes(rng.randint(0, 40)))
        elif roll < 0.45:
            pos = rng.randrange(2, len(body) + 1)
            body[pos:pos] = rng.choice([b"\x08\x05", b"\x3a\x00", b"\x12\x00", b"\x20\x01", b"\x0a\x02\x0a\x00"])
        if not req.assign.experiment_keys:
            every.add(rid)
        frames.append(frame(bytes(body)))
    return b"".join(frames), every


def _comparable(data: bytes, every: set[int]) -> list[tuple[int, bytes]]:
    out: list[tuple[int, bytes]] = []
    for r in _response_list(data):
        if r.HasField("assign"):
            r.assign.CopyFrom(_canonical(r.assign, r.request_id in every))
        out.append((r.request_id, r.SerializeToString(deterministic=True)))
    return out


@pytest.mark.parametrize("seed", range(40))
def test_fuzzed_frames_get_the_same_answers_from_both_cores(tmp_path: Path, seed: int) -> None:
    """Mutated and garbage frames: the native path answers, hands back or fails exactly like Python."""
    stream, every = _mutated_frames(seed, 60)

    async def both() -> tuple[Any, Any]:
        py = await _serve_raw(_FUZZ_SNAPSHOT, False, stream, 1 << 20, tmp_path / "py")
        go = await _serve_raw(_FUZZ_SNAPSHOT, True, stream, 1 << 20, tmp_path / "go")
        return py, go

    (py, py_closed, _), (go, go_closed, _) = asyncio.run(both())
    assert _comparable(go, every) == _comparable(py, every)
    assert go_closed == py_closed
