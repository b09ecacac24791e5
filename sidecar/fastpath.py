"""The fast path: length-prefixed FastPathRequest/FastPathResponse frames on a Unix socket.

Framing is specified in proto/splitline/v1/assignment.proto: a big-endian
uint32 length, then the message; requests are pipelined and carry a request id
echoed in their response. This door exists because Python's gRPC server costs
about ten times more per call than this: an asyncio Protocol parses every
complete frame of a read, answers assignments inline and writes all responses
of that read in one `write`. Spooling calls (LogExposures, Track) answer later,
when their events are durable, so responses may arrive out of order.

Errors: a frame that does not parse (or is over 4 MiB) gets an error response
with request_id 0 and the connection is closed; a well-formed request the
sidecar refuses gets an error response with its request id and the connection
stays open.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from pathlib import Path
from typing import Final, cast

from google.protobuf.message import DecodeError
from splitline.sidecar.metrics import LATENCY_BUCKETS, Metrics, add_observations
from splitline.sidecar.native import SERVE_BAD_HANDLE, SERVE_CALLER, SERVE_OUT_FULL, FrameServer, load
from splitline.sidecar.requests import INTERNAL, INVALID_ARGUMENT, RequestError, call_from_proto
from splitline.sidecar.service import AssignmentCore
from splitline.sidecar.spool_format import KIND_EXPOSURE, KIND_OUTCOME
from splitline.sidecar.wire import AssignCall, WireError, assign_span, body_span, decode_assign
from splitline.sidecar.wire import encode_varint as varint
from splitline.v1 import assignment_pb2

log = logging.getLogger("splitline.sidecar.fastpath")

MAX_FRAME_BYTES: Final = 4 * 1024 * 1024
_ASSIGN_TAG: Final = b"\x12"  # FastPathResponse.assign: field 2, length-delimited


def frame(message: bytes) -> bytes:
    """One frame: big-endian uint32 length, then the bytes."""
    return len(message).to_bytes(4, "big") + message


def assign_frame(request_id: int, body: bytes) -> bytes:
    """A framed FastPathResponse{request_id, assign} around a serialized AssignResponse."""
    head = (b"\x08" + varint(request_id)) if request_id else b""
    msg = head + _ASSIGN_TAG + varint(len(body)) + body
    return frame(msg)


def error_frame(request_id: int, code: int, message: str, field: str = "") -> bytes:
    resp = assignment_pb2.FastPathResponse(request_id=request_id)
    resp.error.code = code
    resp.error.message = message
    resp.error.field = field
    return frame(resp.SerializeToString())


class FastPathProtocol(asyncio.Protocol):
    """One client connection."""

    def __init__(self, core: AssignmentCore, metrics: Metrics, connections: set[FastPathProtocol]) -> None:
        self.core = core
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.connections = connections
        self.tasks: set[asyncio.Task[None]] = set()
        self._assign_latency = metrics.latency.labels("fast", "Assign")
        self._assign_ok = metrics.requests.labels("fast", "Assign", "OK")
        self._metrics = metrics
        self._native: FrameServer | None = None  # built on first use (the library is loaded by then)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, hence the cast.
        self.transport = cast(asyncio.Transport, transport)
        self.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.connections.discard(self)
        self.transport = None

    def pause_writing(self) -> None:
        # The client is not reading its responses: stop reading its requests.
        if self.transport is not None:
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.transport is not None:
            self.transport.resume_reading()

    def data_received(self, data: bytes) -> None:
        buf = self.buffer
        if buf:
            buf += data
            if len(buf) >= 4 and len(buf) < int.from_bytes(buf[:4], "big") + 4 <= MAX_FRAME_BYTES + 4:
                return  # a large frame still arriving: wait for all of it
            data = bytes(buf)
            buf.clear()
        out: list[bytes] = []
        pos = 0
        end = len(data)
        loaded = self.core.state.current
        native = loaded.native if loaded is not None else None
        while end - pos >= 4:
            if native is not None:
                # The Go core answers every plain Assign frame it can in one call and stops at the
                # first frame that is ours (errors, limits, events); we answer that one below.
                server = self._native
                if server is None:
                    lib = load()
                    assert lib is not None  # a NativeIndex exists, so the library is loaded
                    server = self._native = FrameServer(lib, LATENCY_BUCKETS)
                r = server.serve(native, data, pos)
                if r.answered:
                    out.append(r.output)
                    self._assign_ok.inc(r.answered)
                    add_observations(self._assign_latency, r.latency_counts, r.latency_sum_s)
                pos = r.position
                if r.status == SERVE_OUT_FULL:
                    continue
                if r.status == SERVE_BAD_HANDLE:
                    native = None
                elif r.status != SERVE_CALLER:
                    break
            n = int.from_bytes(data[pos:pos + 4], "big")
            if n > MAX_FRAME_BYTES:
                out.append(error_frame(0, INVALID_ARGUMENT, f"frame of {n} bytes exceeds {MAX_FRAME_BYTES}"))
                self._fail(out)
                return
            if end - pos - 4 < n:
                break
            start = pos + 4
            pos = start + n
            if not self._handle(data[start:pos], out):
                self._fail(out)
                return
        if pos < end:
            buf += data[pos:]
        if out and self.transport is not None:
            self.transport.write(b"".join(out))

    def _fail(self, out: list[bytes]) -> None:
        self._metrics.requests.labels("fast", "frame", "INVALID_ARGUMENT").inc()
        if self.transport is not None:
            self.transport.write(b"".join(out))
            self.transport.close()
        self.buffer.clear()

    def _handle(self, data: bytes, out: list[bytes]) -> bool:
        """Answer one frame into `out` (or schedule the answer); False closes the connection."""
        t0 = time.perf_counter()
        call: AssignCall | None = None
        try:
            span = assign_span(data)
            if span is not None:  # the hot path: decode the assign request straight into dicts
                rid, start, stop = span
                call = decode_assign(data, start, stop)
                body: str | None = "assign"
            else:
                req = assignment_pb2.FastPathRequest.FromString(data)
                rid = req.request_id
                body = req.WhichOneof("body")
                if body == "assign":
                    call = call_from_proto(req.assign)
        except (DecodeError, WireError, RuntimeError, ValueError) as exc:
            out.append(error_frame(0, INVALID_ARGUMENT, f"cannot parse FastPathRequest: {exc}"))
            return False
        if call is not None:
            try:
                resp = self.core.assign(call)
            except RequestError as e:
                out.append(error_frame(rid, e.code, e.message, f"assign.{e.field}" if e.field else ""))
                self._metrics.requests.labels("fast", "Assign", _code_name(e.code)).inc()
                return True
            out.append(assign_frame(rid, resp))
            self._assign_ok.inc()
            self._assign_latency.observe(time.perf_counter() - t0)
            return True
        if body in {"log_exposures", "track"}:
            task = asyncio.ensure_future(self._spooling(rid, req, data, body, t0))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
            return True
        out.append(error_frame(rid, INVALID_ARGUMENT, "request has no body", "body"))
        return True

    async def _spooling(self, rid: int, req: assignment_pb2.FastPathRequest, data: bytes, body: str,
                        t0: float) -> None:
        method = "LogExposures" if body == "log_exposures" else "Track"
        resp = assignment_pb2.FastPathResponse(request_id=rid)
        try:
            span = body_span(data)  # `data` parsed already: reuse the events' bytes when the frame is plain
            if body == "log_exposures":
                if span is not None and span[1] == 3:
                    resp.log_exposures.accepted = await self.core.spool_raw(KIND_EXPOSURE, data, span[2], span[3])
                else:
                    resp.log_exposures.CopyFrom(await self.core.log_exposures(req.log_exposures))
            elif span is not None and span[1] == 4:
                resp.track.accepted = await self.core.spool_raw(KIND_OUTCOME, data, span[2], span[3])
            else:
                resp.track.CopyFrom(await self.core.track(req.track))
            code = "OK"
        except RequestError as e:
            resp.error.code = e.code
            resp.error.message = e.message
            resp.error.field = f"{body}.{e.field}" if e.field else ""
            code = _code_name(e.code)
        except Exception as exc:
            log.exception("fast path: %s failed", method)
            resp.error.code = INTERNAL
            resp.error.message = f"internal error: {exc}"
            code = "INTERNAL"
        self._metrics.requests.labels("fast", method, code).inc()
        self._metrics.latency.labels("fast", method).observe(time.perf_counter() - t0)
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(frame(resp.SerializeToString()))


_CODE_NAMES: Final = {3: "INVALID_ARGUMENT", 8: "RESOURCE_EXHAUSTED", 9: "FAILED_PRECONDITION", 13: "INTERNAL",
                      14: "UNAVAILABLE"}


def _code_name(code: int) -> str:
    return _CODE_NAMES.get(code, str(code))


class FastPathServer:
    """The fast path listener on a Unix socket."""

    def __init__(self, core: AssignmentCore, metrics: Metrics, path: Path, mode: int = 0o660) -> None:
        self.core = core
        self.metrics = metrics
        self.path = Path(path)
        self.mode = mode
        self.connections: set[FastPathProtocol] = set()
        self._server: asyncio.AbstractServer | None = None

    async def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        loop = asyncio.get_running_loop()
        self._server = await loop.create_unix_server(
            lambda: FastPathProtocol(self.core, self.metrics, self.connections), str(self.path))
        os.chmod(self.path, self.mode)

    async def stop(self) -> None:
        if self._server is None:
            return
        self._server.close()
        # Let spooling calls in flight answer before hanging up.
        pending = [t for c in list(self.connections) for t in c.tasks]
        if pending:
            await asyncio.wait(pending, timeout=5)
        for conn in list(self.connections):
            if conn.transport is not None:
                conn.transport.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._server.wait_closed(), 5)
        self._server = None
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


__all__ = ["MAX_FRAME_BYTES", "FastPathServer", "assign_frame", "error_frame", "frame", "varint"]
