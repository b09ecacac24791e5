"""The gRPC door: AssignmentService, health and reflection on a Unix socket.

Handlers take raw bytes and parse them here, so that a request that does not
parse (invalid UTF-8 in a string field, garbage) is INVALID_ARGUMENT with a
message, not the INTERNAL "Exception deserializing request" that grpcio would
answer. `RequestError` maps to a status in one place (`_abort`).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import grpc
from google.protobuf.message import DecodeError, Message
from splitline.sidecar import native
from splitline.sidecar.config_state import ConfigState
from splitline.sidecar.metrics import Metrics
from splitline.sidecar.requests import INVALID_ARGUMENT, RequestError
from splitline.sidecar.service import AssignmentCore
from splitline.sidecar.spool_format import KIND_EXPOSURE, KIND_OUTCOME
from splitline.sidecar.wire import WireError, decode_assign
from splitline.v1 import assignment_pb2

log = logging.getLogger("splitline.sidecar.grpc")

SERVICE = assignment_pb2.DESCRIPTOR.services_by_name["AssignmentService"].full_name
M = TypeVar("M", bound=Message)


def _parse(cls: type[M], data: bytes) -> M:
    try:
        return cls.FromString(data)
    except (DecodeError, RuntimeError, ValueError) as exc:
        raise RequestError(grpc.StatusCode.INVALID_ARGUMENT.value[0], f"cannot parse {cls.__name__}: {exc}") from None


_STATUS_BY_CODE = {s.value[0]: s for s in grpc.StatusCode}


async def _abort(context: grpc.aio.ServicerContext[Any, Any], e: RequestError) -> None:
    status = _STATUS_BY_CODE.get(e.code, grpc.StatusCode.UNKNOWN)
    message = f"{e.field}: {e.message}" if e.field else e.message
    await context.abort(status, message)


class AssignmentDoor:
    """Builds the generic handler for AssignmentService over an AssignmentCore."""

    def __init__(self, core: AssignmentCore, state: ConfigState, metrics: Metrics) -> None:
        self.core = core
        self.state = state
        self.metrics = metrics
        self._native_out: ctypes.Array[ctypes.c_char] | None = None  # one buffer: handlers run on one loop

    def _unary(self, method: str, fn: Callable[[bytes], Awaitable[bytes]]) -> grpc.RpcMethodHandler[Any, Any]:
        latency = self.metrics.latency.labels("grpc", method)
        requests = self.metrics.requests

        async def handler(data: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> bytes:
            t0 = time.perf_counter()
            try:
                out = await fn(data)
            except RequestError as e:
                requests.labels("grpc", method, _STATUS_BY_CODE.get(e.code, grpc.StatusCode.UNKNOWN).name).inc()
                await _abort(context, e)
                raise AssertionError("unreachable") from None
            requests.labels("grpc", method, "OK").inc()
            latency.observe(time.perf_counter() - t0)
            return out

        return grpc.unary_unary_rpc_method_handler(handler)

    async def _assign(self, data: bytes) -> bytes:
        loaded = self.state.current
        if loaded is not None and loaded.native is not None:
            if self._native_out is None:
                self._native_out = ctypes.create_string_buffer(native.OUT_BYTES)
            answer = native.assign(loaded.native, data, self._native_out)
            if answer is not None:
                return answer  # else: ours to answer (errors, limits, exposure logging)
        try:
            call = decode_assign(data)
        except WireError as exc:
            raise RequestError(INVALID_ARGUMENT, f"cannot parse AssignRequest: {exc}") from None
        return self.core.assign(call)

    async def _log_exposures(self, data: bytes) -> bytes:
        _parse(assignment_pb2.LogExposuresRequest, data)  # validates; the events' bytes are then reused
        n = await self.core.spool_raw(KIND_EXPOSURE, data, 0, len(data))
        return assignment_pb2.LogExposuresResponse(accepted=n).SerializeToString()

    async def _track(self, data: bytes) -> bytes:
        _parse(assignment_pb2.TrackRequest, data)
        n = await self.core.spool_raw(KIND_OUTCOME, data, 0, len(data))
        return assignment_pb2.TrackResponse(accepted=n).SerializeToString()

    async def _get_snapshot(self, data: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> AsyncIterator[bytes]:
        try:
            req = _parse(assignment_pb2.GetSnapshotRequest, data)
        except RequestError as e:
            await _abort(context, e)
            return
        known = req.known_revision
        while True:
            changed = self.state.changed_event()
            loaded = self.state.current
            if loaded is not None and loaded.revision > known:
                known = loaded.revision
                yield assignment_pb2.GetSnapshotResponse(snapshot=loaded.compiled.snapshot).SerializeToString()
            await changed.wait()

    def handler(self) -> grpc.GenericRpcHandler[Any, Any]:
        return grpc.method_handlers_generic_handler(SERVICE, {
            "Assign": self._unary("Assign", self._assign),
            "LogExposures": self._unary("LogExposures", self._log_exposures),
            "Track": self._unary("Track", self._track),
            "GetSnapshot": grpc.unary_stream_rpc_method_handler(self._get_snapshot),
        })


class GrpcServer:
    """grpc.aio server on `unix:<path>` with AssignmentService, health and reflection."""

    def __init__(self, door: AssignmentDoor, path: Path, mode: int = 0o660) -> None:
        self.door = door
        self.path = Path(path)
        self.mode = mode
        self._server: grpc.aio.Server | None = None
        self._health: Any = None
        self._watch: asyncio.Task[None] | None = None

    async def start(self) -> None:
        from grpc_health.v1 import _async as health_aio
        from grpc_health.v1 import health, health_pb2_grpc
        from grpc_reflection.v1alpha import reflection

        self.path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        server = grpc.aio.server(options=[("grpc.max_receive_message_length", 16 << 20)])
        server.add_generic_rpc_handlers((self.door.handler(),))
        self._health = health_aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self._health, server)
        reflection.enable_server_reflection((SERVICE, health.SERVICE_NAME, reflection.SERVICE_NAME), server)
        server.add_insecure_port(f"unix:{self.path}")
        await server.start()
        os.chmod(self.path, self.mode)
        self._server = server
        await self._set_health()
        self._watch = asyncio.create_task(self._follow_health(), name="grpc-health")

    async def _set_health(self) -> None:
        from grpc_health.v1 import health_pb2

        status = (health_pb2.HealthCheckResponse.SERVING if self.door.state.current is not None
                  else health_pb2.HealthCheckResponse.NOT_SERVING)
        for name in ("", SERVICE):
            await self._health.set(name, status)

    async def _follow_health(self) -> None:
        while True:
            changed = self.door.state.changed_event()
            await self._set_health()
            await changed.wait()

    async def stop(self, grace: float = 2.0) -> None:
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
        if self._server is not None:
            await self._server.stop(grace)
            self._server = None
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


__all__ = ["SERVICE", "AssignmentDoor", "GrpcServer"]
