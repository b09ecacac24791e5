"""The fast-path framing, to the spec in assignment.proto, against a scripted peer.

These tests pin the client's side of the protocol (big-endian length prefix,
pipelining, responses in any order, request_id 0 errors, the 4 MiB limit)
with a tiny in-test server whose behaviour each test scripts; the real
sidecar is exercised in test_sidecar.py.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import struct
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from splitline.client._fastpath import (
    MAX_FRAME_BYTES,
    AsyncFastPathConnection,
    FastPathError,
    FastPathPool,
    FrameDecoder,
    encode_frame,
)
from splitline.v1 import assignment_pb2

Handler = Callable[[list[assignment_pb2.FastPathRequest]], list[bytes]]


def response_frame(response: assignment_pb2.FastPathResponse) -> bytes:
    body = response.SerializeToString()
    return struct.pack(">I", len(body)) + body


def echo_assign(request: assignment_pb2.FastPathRequest) -> assignment_pb2.FastPathResponse:
    """Answer an assign with one assignment whose variant names the request (to match them up)."""
    a = assignment_pb2.Assignment(
        experiment_key=request.assign.experiment_keys[0], variant_key=f"v{request.request_id}"
    )
    return assignment_pb2.FastPathResponse(
        request_id=request.request_id,
        assign=assignment_pb2.AssignResponse(assignments=[a], config_revision=9),
    )


class ScriptedPeer:
    """A framed Unix-socket server: collects `batch` requests, then answers with what `handler` returns."""

    def __init__(self, handler: Handler, batch: int = 1) -> None:
        self.dir = tempfile.mkdtemp(prefix="slfp", dir="/tmp")
        self.path = str(Path(self.dir) / "fast.sock")
        self.handler = handler
        self.batch = batch
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(self.path)
        self.server.listen()
        self.connections = 0
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._talk, args=(conn,), daemon=True).start()

    def _talk(self, conn: socket.socket) -> None:
        buffer = b""
        pending: list[assignment_pb2.FastPathRequest] = []
        with conn:
            while True:
                try:
                    data = conn.recv(65536)
                except OSError:
                    return
                if not data:
                    return
                buffer += data
                while len(buffer) >= 4:
                    (n,) = struct.unpack(">I", buffer[:4])
                    if len(buffer) < 4 + n:
                        break
                    pending.append(assignment_pb2.FastPathRequest.FromString(buffer[4 : 4 + n]))
                    buffer = buffer[4 + n :]
                if len(pending) >= self.batch:
                    out = self.handler(pending)
                    pending = []
                    for frame in out:
                        if frame == b"CLOSE":
                            return
                        conn.sendall(frame)

    def close(self) -> None:
        self.server.close()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def peer_factory() -> Iterator[Callable[..., ScriptedPeer]]:
    peers: list[ScriptedPeer] = []

    def make(handler: Handler, batch: int = 1) -> ScriptedPeer:
        peers.append(ScriptedPeer(handler, batch))
        return peers[-1]

    yield make
    for p in peers:
        p.close()


def assign_body(key: str) -> assignment_pb2.AssignRequest:
    return assignment_pb2.AssignRequest(units={"user_id": "1"}, experiment_keys=[key])


def test_frame_is_big_endian_length_then_message() -> None:
    request = assignment_pb2.FastPathRequest(request_id=7, assign=assign_body("exp"))
    frame = encode_frame(request)
    assert frame[:4] == len(request.SerializeToString()).to_bytes(4, "big")
    assert assignment_pb2.FastPathRequest.FromString(frame[4:]) == request


def test_decoder_handles_split_and_coalesced_frames() -> None:
    responses = [assignment_pb2.FastPathResponse(request_id=i) for i in (1, 2, 3)]
    stream = b"".join(response_frame(r) for r in responses)
    decoder = FrameDecoder()
    got = []
    for i in range(len(stream)):  # one byte at a time
        got.extend(decoder.feed(stream[i : i + 1]))
    assert [r.request_id for r in got] == [1, 2, 3]
    assert [r.request_id for r in FrameDecoder().feed(stream)] == [1, 2, 3]


def test_decoder_refuses_oversized_and_garbage_frames() -> None:
    with pytest.raises(FastPathError):
        FrameDecoder().feed(struct.pack(">I", MAX_FRAME_BYTES + 1))
    with pytest.raises(FastPathError):
        FrameDecoder().feed(struct.pack(">I", 3) + b"\xff\xff\xff")


def test_encoder_refuses_requests_over_4_mib() -> None:
    big = assignment_pb2.AssignRequest(attributes={"blob": "x" * (MAX_FRAME_BYTES + 1)})
    with pytest.raises(FastPathError) as info:
        encode_frame(assignment_pb2.FastPathRequest(request_id=1, assign=big))
    assert info.value.code == 3


def test_sync_pool_round_trip_and_reconnect(peer_factory: Callable[..., ScriptedPeer]) -> None:
    calls = {"n": 0}

    def handler(reqs: list[assignment_pb2.FastPathRequest]) -> list[bytes]:
        calls["n"] += 1
        if calls["n"] == 2:
            return [b"CLOSE"]  # the peer drops the connection mid-call
        return [response_frame(echo_assign(r)) for r in reqs]

    peer = peer_factory(handler)
    pool = FastPathPool(peer.path, timeout=2.0)
    first = pool.call(assign_body("a"))
    assert first.assign.assignments[0].variant_key == f"v{first.request_id}"
    with pytest.raises(FastPathError) as info:
        pool.call(assign_body("b"))
    assert info.value.code == 14
    third = pool.call(assign_body("c"))  # a fresh connection, by itself
    assert third.assign.assignments[0].experiment_key == "c"
    assert peer.connections == 2
    pool.close()


def test_error_frame_with_request_id_zero_fails_the_call(peer_factory: Callable[..., ScriptedPeer]) -> None:
    def handler(reqs: list[assignment_pb2.FastPathRequest]) -> list[bytes]:
        err = assignment_pb2.FastPathError(code=3, message="bad frame", field="assign.units")
        return [response_frame(assignment_pb2.FastPathResponse(request_id=0, error=err)), b"CLOSE"]

    pool = FastPathPool(peer_factory(handler).path, timeout=2.0)
    with pytest.raises(FastPathError) as info:
        pool.call(assign_body("a"))
    assert (info.value.code, info.value.field) == (3, "assign.units")
    pool.close()


def test_sync_call_times_out(peer_factory: Callable[..., ScriptedPeer]) -> None:
    pool = FastPathPool(peer_factory(lambda reqs: []).path, timeout=0.1)
    with pytest.raises(FastPathError, match="timed out"):
        pool.call(assign_body("a"))
    pool.close()


def test_async_connection_pipelines_and_matches_out_of_order(
    peer_factory: Callable[..., ScriptedPeer],
) -> None:
    def handler(reqs: list[assignment_pb2.FastPathRequest]) -> list[bytes]:
        return [response_frame(echo_assign(r)) for r in reversed(reqs)]  # answers in reverse order

    peer = peer_factory(handler, batch=8)

    async def main() -> None:
        conn = AsyncFastPathConnection(peer.path, timeout=5.0)
        keys = [f"exp{i}" for i in range(8)]
        responses = await asyncio.gather(*(conn.call(assign_body(k)) for k in keys))
        for key, response in zip(keys, responses, strict=True):
            assert response.assign.assignments[0].experiment_key == key
            assert response.assign.assignments[0].variant_key == f"v{response.request_id}"
        assert peer.connections == 1  # all eight in flight on one connection
        await conn.close()

    asyncio.run(main())


def test_async_connection_error_reaches_every_waiter(peer_factory: Callable[..., ScriptedPeer]) -> None:
    peer = peer_factory(lambda reqs: [b"CLOSE"], batch=3)

    async def main() -> None:
        conn = AsyncFastPathConnection(peer.path, timeout=5.0)
        results = await asyncio.gather(
            *(conn.call(assign_body("a")) for _ in range(3)), return_exceptions=True
        )
        assert all(isinstance(r, FastPathError) and r.code == 14 for r in results)
        await conn.close()

    asyncio.run(main())


def test_unreachable_socket_is_unavailable() -> None:
    pool = FastPathPool("/tmp/slfp-definitely-missing.sock", timeout=0.5)
    with pytest.raises(FastPathError) as info:
        pool.call(assign_body("a"))
    assert info.value.code == 14
