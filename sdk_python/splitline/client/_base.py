"""Construction and the transport-free methods common to `Client` and `AsyncClient`."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from splitline.client._core import ClientCore
from splitline.client._events import DEFAULT_BATCH_SIZE, DEFAULT_DEDUP_SIZE, DEFAULT_MAX_BUFFERED
from splitline.client._fastpath import AsyncFastPathConnection, FastPathPool
from splitline.client._runtime import (
    DEFAULT_FLUSH_INTERVAL_S,
    DEFAULT_REFRESH_INTERVAL_S,
    DEFAULT_TIMEOUT_S,
    EventSink,
    FastPathSink,
    GrpcSink,
    Runtime,
    grpc_channel,
)
from splitline.client._types import UnitAssignment
from splitline.v1 import config_pb2

SOCKET_ENV: Final = "SPLITLINE_SOCKET"
FAST_SOCKET_ENV: Final = "SPLITLINE_FAST_SOCKET"
LOCAL: Final = "local"
REMOTE: Final = "remote"
DEFAULT_READY_TIMEOUT_S: Final = 2.0
DEFAULT_CLOSE_TIMEOUT_S: Final = 5.0


class ClientBase:
    """Wires the core, the transports and the background runtime from the options.

    Configuration mistakes (an unknown mode, remote mode without a fast
    socket) raise here, at construction; nothing after construction raises.

    Options: `snapshot` a snapshot file (JSON, or YAML with the `cli` extra)
    or a ConfigSnapshot; `socket`/`fast_socket` the sidecar's gRPC and fast
    path sockets (default $SPLITLINE_SOCKET, $SPLITLINE_FAST_SOCKET); `mode`
    "local" (decide in-process, the default) or "remote" (ask the sidecar);
    `timeout` per sidecar call; `flush_interval` between background sends;
    `refresh_interval` between snapshot file checks; `dedup_size` the
    exposure LRU; `max_buffered_events` the bound of each event queue;
    `event_sink` to ship events elsewhere than a sidecar; `ready_timeout` how
    long the sync constructor (or `async with`) waits for the first snapshot
    from the sidecar.
    """

    # Whether __init__ may block until the first snapshot (not on an event loop).
    _WAIT_IN_INIT = False

    def __init__(
        self,
        snapshot: str | os.PathLike[str] | config_pb2.ConfigSnapshot | None = None,
        *,
        socket: str | None = None,
        fast_socket: str | None = None,
        mode: str = LOCAL,
        session_id: str = "",
        timeout: float = DEFAULT_TIMEOUT_S,
        flush_interval: float = DEFAULT_FLUSH_INTERVAL_S,
        refresh_interval: float = DEFAULT_REFRESH_INTERVAL_S,
        dedup_size: int = DEFAULT_DEDUP_SIZE,
        max_buffered_events: int = DEFAULT_MAX_BUFFERED,
        batch_size: int = DEFAULT_BATCH_SIZE,
        event_sink: EventSink | None = None,
        ready_timeout: float = DEFAULT_READY_TIMEOUT_S,
    ) -> None:
        if mode not in (LOCAL, REMOTE):
            raise ValueError(f"mode must be {LOCAL!r} or {REMOTE!r}, not {mode!r}")
        socket = socket or os.environ.get(SOCKET_ENV) or None
        fast_socket = fast_socket or os.environ.get(FAST_SOCKET_ENV) or None
        if mode == REMOTE and fast_socket is None:
            raise ValueError(
                f"remote mode needs the sidecar's fast socket (fast_socket= or ${FAST_SOCKET_ENV})"
            )
        self.mode = mode
        self.fast_socket = fast_socket
        self.timeout = timeout
        self._pool = FastPathPool(fast_socket, timeout) if fast_socket else None
        self._conn: AsyncFastPathConnection | None = None  # AsyncClient's, made on its loop
        # gRPC carries the snapshot stream (local mode) and events when there is no fast path.
        channel = grpc_channel(socket) if socket and (mode == LOCAL or self._pool is None) else None
        sink: EventSink | None = event_sink
        if sink is None and self._pool is not None:
            sink = FastPathSink(self._pool)
        elif sink is None and channel is not None:
            sink = GrpcSink(channel, timeout)
        self._core = ClientCore(
            session_id=session_id,
            dedup_size=dedup_size,
            max_buffered_events=max_buffered_events,
            batch_size=batch_size,
            ship_events=sink is not None,
        )
        if isinstance(snapshot, config_pb2.ConfigSnapshot):
            self._core.install(snapshot, "the snapshot argument")
        snapshot_file = None
        if snapshot is not None and not isinstance(snapshot, config_pb2.ConfigSnapshot):
            snapshot_file = Path(snapshot)
        self._runtime = Runtime(
            self._core,
            sink=sink,
            snapshot_file=snapshot_file if mode == LOCAL else None,
            channel=channel,
            follow_sidecar=mode == LOCAL,
            flush_interval=flush_interval,
            refresh_interval=refresh_interval,
        )
        self._remote = mode == REMOTE
        self._closed = False
        self.ready_timeout = ready_timeout
        waits = self._WAIT_IN_INIT and self._runtime.follows_sidecar and ready_timeout > 0
        if waits and self._core.snapshot is None:
            self._core.ready.wait(ready_timeout)

    @property
    def revision(self) -> int | None:
        """The config revision in use (local mode), None before the first snapshot."""
        snap = self._core.snapshot
        return snap.revision if snap is not None else None

    @property
    def ready(self) -> bool:
        """True once the client can decide: a snapshot is loaded, or remote mode."""
        return self._remote or self._core.ready.is_set()

    def expose(self, assignment: UnitAssignment) -> None:
        """Log the exposure of an earlier `assign` decision (deduplicated; never raises)."""
        try:
            self._core.expose(assignment)
        except Exception as exc:
            self._core.log.emit("internal", f"splitline: expose failed: {exc!r}")

    def track(
        self,
        event: str,
        units: Mapping[str, str] | None = None,
        value: float = 0.0,
        properties: Mapping[str, object] | None = None,
    ) -> None:
        """Record an outcome (`purchase`, `latency_ms`...) for every unit id given; never raises."""
        try:
            self._core.track(event, units, value, properties)
        except Exception as exc:
            self._core.log.emit("internal", f"splitline: track failed: {exc!r}")

    @property
    def stats(self) -> dict[str, int]:
        """Event counters: queued, delivered and dropped exposures and outcomes."""
        ex, out = self._core.exposures, self._core.outcomes
        return {
            "exposures_queued": len(ex),
            "exposures_delivered": ex.delivered,
            "exposures_dropped": ex.dropped,
            "outcomes_queued": len(out),
            "outcomes_delivered": out.delivered,
            "outcomes_dropped": out.dropped,
        }
