"""A minimal asyncio fast-path client: pipelined requests over one Unix socket connection.

The SDKs carry their own clients; this one serves the sidecar's tests,
benchmarks and tools, and shows how little the framing needs.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from pathlib import Path

from splitline.v1 import assignment_pb2


class FastPathError(Exception):
    """An error frame: `code` is a google.rpc code, `field` the request field to blame."""

    def __init__(self, code: int, message: str, field: str) -> None:
        super().__init__(f"[{code}] {message}" + (f" ({field})" if field else ""))
        self.code = code
        self.message = message
        self.field = field


class FastPathClient:
    """Send FastPathRequests and match responses by request id."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[assignment_pb2.FastPathResponse]] = {}
        self._reader_task = asyncio.create_task(self._read_loop())
        self.closed_with: assignment_pb2.FastPathResponse | None = None

    @classmethod
    async def connect(cls, path: str | Path) -> FastPathClient:
        reader, writer = await asyncio.open_unix_connection(str(path), limit=8 << 20)
        return cls(reader, writer)

    async def _read_loop(self) -> None:
        error: BaseException = ConnectionError("fast path connection closed")
        try:
            while True:
                head = await self._reader.readexactly(4)
                body = await self._reader.readexactly(int.from_bytes(head, "big"))
                resp = assignment_pb2.FastPathResponse.FromString(body)
                fut = self._pending.pop(resp.request_id, None)
                if fut is None:
                    self.closed_with = resp  # request_id 0: the server refused a frame
                    continue
                if not fut.done():
                    fut.set_result(resp)
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            error = ConnectionError(f"fast path connection closed: {exc}")
        except asyncio.CancelledError:
            error = ConnectionError("client closed")
        finally:
            for fut in self._pending.values():
                if not fut.done():
                    fut.set_exception(error)
            self._pending.clear()

    def send(self, req: assignment_pb2.FastPathRequest) -> asyncio.Future[assignment_pb2.FastPathResponse]:
        """Queue one request (its id is set here); the future resolves with the raw response."""
        if self._reader_task.done() or self._writer.is_closing():
            raise ConnectionError("fast path connection closed")
        req.request_id = next(self._ids)
        fut: asyncio.Future[assignment_pb2.FastPathResponse] = asyncio.get_running_loop().create_future()
        self._pending[req.request_id] = fut
        data = req.SerializeToString()
        self._writer.write(len(data).to_bytes(4, "big") + data)
        return fut

    async def call(self, req: assignment_pb2.FastPathRequest) -> assignment_pb2.FastPathResponse:
        resp = await self.send(req)
        if resp.WhichOneof("body") == "error":
            raise FastPathError(resp.error.code, resp.error.message, resp.error.field)
        return resp

    async def assign(self, req: assignment_pb2.AssignRequest) -> assignment_pb2.AssignResponse:
        return (await self.call(assignment_pb2.FastPathRequest(assign=req))).assign

    async def log_exposures(self, req: assignment_pb2.LogExposuresRequest) -> assignment_pb2.LogExposuresResponse:
        return (await self.call(assignment_pb2.FastPathRequest(log_exposures=req))).log_exposures

    async def track(self, req: assignment_pb2.TrackRequest) -> assignment_pb2.TrackResponse:
        return (await self.call(assignment_pb2.FastPathRequest(track=req))).track

    async def drain(self) -> None:
        await self._writer.drain()

    async def close(self) -> None:
        self._writer.close()
        with contextlib.suppress(Exception):
            await self._writer.wait_closed()
        self._reader_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader_task


__all__ = ["FastPathClient", "FastPathError"]
