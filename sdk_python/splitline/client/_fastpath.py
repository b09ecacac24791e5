"""The sidecar's fast path: length-prefixed protobuf frames on a Unix socket.

The wire format is specified in proto/splitline/v1/assignment.proto: each frame
is a uint32 big-endian length N, then N bytes of a FastPathRequest (client to
sidecar) or FastPathResponse (sidecar to client); requests may be pipelined and
responses come back tagged with their request_id, in any order. A frame the
server cannot parse gets a response with request_id 0 and an error, and the
connection is closed; frames over 4 MiB are refused.

The codec (`encode_frame`, `FrameDecoder`) is sans-I/O so that the blocking
connection used by `Client` and the asyncio connection used by `AsyncClient`
share it; each connection is only the socket loop around it.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import socket
import struct
import threading
from collections.abc import Iterable
from typing import Final

from splitline.v1 import assignment_pb2

MAX_FRAME_BYTES: Final = 4 * 1024 * 1024
_HEADER: Final = struct.Struct(">I")
_READ_CHUNK: Final = 64 * 1024

# google.rpc.Code values the client reacts to.
CODE_INVALID_ARGUMENT: Final = 3
CODE_RESOURCE_EXHAUSTED: Final = 8
CODE_UNAVAILABLE: Final = 14


class FastPathError(Exception):
    """The fast path failed: the socket broke, timed out, or the sidecar answered with an error.

    `code` is a google.rpc.Code (14 UNAVAILABLE for transport failures), so the
    caller can tell "retry later" (8, 14) from "this request is wrong" (3).
    """

    def __init__(self, code: int, message: str, field: str = "") -> None:
        super().__init__(f"fast path error {code}: {message}" + (f" (field {field})" if field else ""))
        self.code = code
        self.message = message
        self.field = field


def encode_frame(request: assignment_pb2.FastPathRequest) -> bytes:
    """One request as a frame: big-endian uint32 length, then the serialized message."""
    body = request.SerializeToString()
    if len(body) > MAX_FRAME_BYTES:
        raise FastPathError(
            CODE_INVALID_ARGUMENT, f"request of {len(body)} bytes exceeds the 4 MiB frame limit"
        )
    return _HEADER.pack(len(body)) + body


class FrameDecoder:
    """Incremental decoder: feed it bytes as they arrive, get whole responses back."""

    __slots__ = ("_buffer",)

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[assignment_pb2.FastPathResponse]:
        """Responses completed by `data`; raise FastPathError on an oversized or unparsable frame."""
        self._buffer += data
        out: list[assignment_pb2.FastPathResponse] = []
        buffer = self._buffer
        offset = 0
        while len(buffer) - offset >= 4:
            (length,) = _HEADER.unpack_from(buffer, offset)
            if length > MAX_FRAME_BYTES:
                raise FastPathError(CODE_UNAVAILABLE, f"sidecar sent a frame of {length} bytes (limit 4 MiB)")
            end = offset + 4 + length
            if len(buffer) < end:
                break
            response = assignment_pb2.FastPathResponse()
            try:
                response.ParseFromString(bytes(buffer[offset + 4 : end]))
            except Exception as exc:
                raise FastPathError(CODE_UNAVAILABLE, f"unparsable frame from the sidecar: {exc}") from None
            out.append(response)
            offset = end
        if offset:
            del buffer[:offset]
        return out


def raise_for_error(response: assignment_pb2.FastPathResponse) -> None:
    """Turn an `error` body into FastPathError (request_id 0 means the connection is done)."""
    if response.WhichOneof("body") == "error":
        err = response.error
        raise FastPathError(err.code or CODE_UNAVAILABLE, err.message, err.field)


RequestBody = assignment_pb2.AssignRequest | assignment_pb2.LogExposuresRequest | assignment_pb2.TrackRequest


def make_request(request_id: int, body: RequestBody) -> assignment_pb2.FastPathRequest:
    """A FastPathRequest carrying `body` in the matching arm of its oneof."""
    if isinstance(body, assignment_pb2.AssignRequest):
        return assignment_pb2.FastPathRequest(request_id=request_id, assign=body)
    if isinstance(body, assignment_pb2.LogExposuresRequest):
        return assignment_pb2.FastPathRequest(request_id=request_id, log_exposures=body)
    return assignment_pb2.FastPathRequest(request_id=request_id, track=body)


class RequestIds:
    """Non-zero request ids, unique per process (the spec reserves 0 for connection errors)."""

    def __init__(self) -> None:
        self._counter = itertools.count(1)

    def next(self) -> int:
        return next(self._counter)


class FastPathConnection:
    """A blocking connection: send frames, read until every answer has come back.

    Not shared between threads (see `FastPathPool`), so a round trip needs no
    reader thread and no hand-off: that is what keeps remote calls near the
    socket's own latency.
    """

    def __init__(self, path: str, timeout: float) -> None:
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.settimeout(timeout)
        try:
            self._sock.connect(path)
        except OSError as exc:
            self._sock.close()
            raise FastPathError(CODE_UNAVAILABLE, f"cannot connect to {path}: {exc}") from None
        self._decoder = FrameDecoder()
        self.broken = False

    def call_many(
        self, requests: Iterable[assignment_pb2.FastPathRequest]
    ) -> dict[int, assignment_pb2.FastPathResponse]:
        """Pipeline `requests` (ids must be unique and non-zero); return responses by request id."""
        reqs = list(requests)
        try:
            self._sock.sendall(b"".join(encode_frame(r) for r in reqs))
            wanted = {r.request_id for r in reqs}
            got: dict[int, assignment_pb2.FastPathResponse] = {}
            while wanted:
                data = self._sock.recv(_READ_CHUNK)
                if not data:
                    raise FastPathError(CODE_UNAVAILABLE, "the sidecar closed the connection")
                for response in self._decoder.feed(data):
                    if response.request_id == 0:
                        raise_for_error(response)
                    if response.request_id in wanted:
                        wanted.discard(response.request_id)
                        got[response.request_id] = response
            return got
        except FastPathError:
            self.close()
            raise
        except OSError as exc:
            self.close()
            kind = "timed out" if isinstance(exc, TimeoutError) else str(exc)
            raise FastPathError(CODE_UNAVAILABLE, f"fast path {kind}") from None

    def call(self, request: assignment_pb2.FastPathRequest) -> assignment_pb2.FastPathResponse:
        return self.call_many((request,))[request.request_id]

    def close(self) -> None:
        self.broken = True
        with contextlib.suppress(OSError):
            self._sock.close()


class FastPathPool:
    """Idle blocking connections to one socket, taken by one thread at a time.

    A thread takes a connection, makes its round trip and gives it back; a
    broken connection is dropped and the next call dials a fresh one, which is
    how the client recovers from a sidecar restart without help.
    """

    def __init__(self, path: str, timeout: float) -> None:
        self.path = path
        self.timeout = timeout
        self.ids = RequestIds()
        self._idle: list[FastPathConnection] = []
        self._lock = threading.Lock()
        self._closed = False

    def call(self, body: RequestBody) -> assignment_pb2.FastPathResponse:
        """Send one request carrying `body`; return its (non-error) response."""
        request = make_request(self.ids.next(), body)
        with self._lock:
            if self._closed:
                raise FastPathError(CODE_UNAVAILABLE, "client closed")
            conn = self._idle.pop() if self._idle else None
        if conn is None:
            conn = FastPathConnection(self.path, self.timeout)
        response = conn.call(request)
        with self._lock:
            if self._closed:
                conn.close()
            else:
                self._idle.append(conn)
        raise_for_error(response)
        return response

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()


class AsyncFastPathConnection:
    """One pipelined asyncio connection: many requests in flight, answers matched by id.

    A reader task resolves the future of each request as its response arrives
    (in any order); when the connection breaks every waiter gets the error and
    the next call dials again.
    """

    def __init__(self, path: str, timeout: float) -> None:
        self.path = path
        self.timeout = timeout
        self.ids = RequestIds()
        self._writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self._waiters: dict[int, asyncio.Future[assignment_pb2.FastPathResponse]] = {}
        self._connecting: asyncio.Lock | None = None

    async def _connect(self) -> asyncio.StreamWriter:
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        async with self._connecting:
            if self._writer is not None and not self._writer.is_closing():
                return self._writer
            try:
                reader, writer = await asyncio.wait_for(asyncio.open_unix_connection(self.path), self.timeout)
            except (OSError, TimeoutError) as exc:
                raise FastPathError(CODE_UNAVAILABLE, f"cannot connect to {self.path}: {exc!r}") from None
            self._writer = writer
            self._reader_task = asyncio.get_running_loop().create_task(self._read(reader, writer))
            return writer

    async def _read(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        decoder = FrameDecoder()
        error = FastPathError(CODE_UNAVAILABLE, "the sidecar closed the connection")
        try:
            while True:
                data = await reader.read(_READ_CHUNK)
                if not data:
                    break
                for response in decoder.feed(data):
                    if response.request_id == 0:
                        raise_for_error(response)
                    waiter = self._waiters.pop(response.request_id, None)
                    if waiter is not None and not waiter.done():
                        waiter.set_result(response)
        except FastPathError as exc:
            error = exc
        except (OSError, asyncio.CancelledError) as exc:
            error = FastPathError(CODE_UNAVAILABLE, f"fast path read failed: {exc!r}")
        finally:
            if self._writer is writer:
                self._writer = None
            writer.close()
            waiters, self._waiters = self._waiters, {}
            for waiter in waiters.values():
                if not waiter.done():
                    waiter.set_exception(error)

    async def call(self, body: RequestBody) -> assignment_pb2.FastPathResponse:
        """Send one request carrying `body` and await its response; FastPathError on failure or timeout."""
        request = make_request(self.ids.next(), body)
        writer = self._writer
        if writer is None or writer.is_closing():
            writer = await self._connect()
        future: asyncio.Future[assignment_pb2.FastPathResponse] = asyncio.get_running_loop().create_future()
        self._waiters[request.request_id] = future
        try:
            writer.write(encode_frame(request))
            response = await asyncio.wait_for(future, self.timeout)
        except TimeoutError:
            raise FastPathError(CODE_UNAVAILABLE, "fast path timed out") from None
        except OSError as exc:
            raise FastPathError(CODE_UNAVAILABLE, f"fast path write failed: {exc!r}") from None
        finally:
            self._waiters.pop(request.request_id, None)
        raise_for_error(response)
        return response

    async def close(self) -> None:
        writer, task = self._writer, self._reader_task
        self._writer = None
        if writer is not None:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
        if task is not None:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
