"""Background work shared by `Client` and `AsyncClient`: snapshot refresh and event shipping.

Both run on daemon threads, for both clients: the hot path only swaps in a
snapshot reference and appends to a bounded queue, so the asyncio client gains
nothing from running this on its loop and would lose the ability to ship
events while the loop is busy. Events travel over the fast path when a fast
socket is configured, else over gRPC (`LogExposures`, `Track`); snapshots come
from a file (polled for changes) and/or the sidecar's `GetSnapshot` stream.
Failures are retried with capped exponential backoff; a batch keeps its
event ids across retries.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Protocol, TypeVar

from splitline.client._core import ClientCore, logger
from splitline.client._events import EventQueue
from splitline.client._fastpath import CODE_UNAVAILABLE, FastPathError, FastPathPool
from splitline.snapshot_file import load_snapshot
from splitline.v1 import assignment_pb2, events_pb2

if TYPE_CHECKING:
    import grpc

P = TypeVar("P")

DEFAULT_FLUSH_INTERVAL_S: Final = 1.0
DEFAULT_REFRESH_INTERVAL_S: Final = 5.0
DEFAULT_TIMEOUT_S: Final = 0.5
RETRY_MIN_S: Final = 0.05
RETRY_MAX_S: Final = 2.0
_GRPC_OPTIONS: Final = [
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
]


class EventSink(Protocol):
    """Where batches of events go; return how many (a prefix) were durably accepted, or raise."""

    def send_exposures(self, events: list[events_pb2.Exposure]) -> int: ...

    def send_outcomes(self, events: list[events_pb2.Outcome]) -> int: ...


class FastPathSink:
    """Events over the framed fast path (LogExposures and Track bodies)."""

    def __init__(self, pool: FastPathPool) -> None:
        self.pool = pool

    def send_exposures(self, events: list[events_pb2.Exposure]) -> int:
        response = self.pool.call(assignment_pb2.LogExposuresRequest(exposures=events))
        return response.log_exposures.accepted

    def send_outcomes(self, events: list[events_pb2.Outcome]) -> int:
        return self.pool.call(assignment_pb2.TrackRequest(outcomes=events)).track.accepted


def grpc_channel(socket_path: str) -> grpc.Channel:
    """A channel to the sidecar's gRPC Unix socket that redials quickly after a restart."""
    import grpc

    return grpc.insecure_channel("unix:" + os.path.abspath(socket_path), options=_GRPC_OPTIONS)


class GrpcSink:
    """Events over gRPC, for a sidecar reached without the fast path."""

    def __init__(self, channel: grpc.Channel, timeout: float) -> None:
        from splitline.v1 import assignment_pb2_grpc

        self._stub = assignment_pb2_grpc.AssignmentServiceStub(channel)
        self._timeout = timeout

    def send_exposures(self, events: list[events_pb2.Exposure]) -> int:
        request = assignment_pb2.LogExposuresRequest(exposures=events)
        return self._stub.LogExposures(request, timeout=self._timeout).accepted

    def send_outcomes(self, events: list[events_pb2.Outcome]) -> int:
        return self._stub.Track(assignment_pb2.TrackRequest(outcomes=events), timeout=self._timeout).accepted


def _drain_queue(queue: EventQueue[Any, P], send: Callable[[list[P]], int]) -> None:
    while batch := queue.next_batch():
        accepted = send(list(batch))
        queue.acknowledge(accepted)
        if accepted <= 0:
            raise FastPathError(CODE_UNAVAILABLE, "the sidecar accepted no event")


class Runtime:
    """The background threads of one client, and its flush/close protocol."""

    def __init__(
        self,
        core: ClientCore,
        *,
        sink: EventSink | None,
        snapshot_file: Path | None,
        channel: grpc.Channel | None,
        follow_sidecar: bool,
        flush_interval: float,
        refresh_interval: float,
    ) -> None:
        self.core = core
        self.sink = sink
        self._snapshot_file = snapshot_file
        self._channel = channel
        self._flush_interval = flush_interval
        self._refresh_interval = refresh_interval
        self._wake = threading.Event()
        self._stopped = threading.Event()
        self._stopping = False
        self._deadline = 0.0
        self._stream: Any = None
        self._threads: list[threading.Thread] = []
        self._file_mtime = 0.0
        self.follows_sidecar = follow_sidecar and channel is not None
        if snapshot_file is not None:
            self._load_file()
            self._spawn("splitline-snapshot-file", self._watch_file)
        if follow_sidecar and channel is not None:
            self._spawn("splitline-snapshot-stream", self._follow_stream)
        if sink is not None:
            self._spawn("splitline-events", self._send_loop)
            # Wake the sender as soon as a full batch is waiting.
            core.exposures.on_batch_ready = self._wake.set
            core.outcomes.on_batch_ready = self._wake.set

    def _spawn(self, name: str, target: Callable[[], None]) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    # ---------------------------------------------------------------- snapshots

    def _load_file(self) -> None:
        path = self._snapshot_file
        assert path is not None
        try:
            mtime = path.stat().st_mtime
            if mtime == self._file_mtime:
                return
            snapshot = load_snapshot(path)
            self._file_mtime = mtime
        except Exception as exc:
            self.core.log.emit("snapshot-file", f"splitline: cannot read snapshot file: {exc}")
            return
        self.core.install(snapshot, str(path))

    def _watch_file(self) -> None:
        while not self._stopped.wait(self._refresh_interval):
            self._load_file()

    def _follow_stream(self) -> None:
        """Follow GetSnapshot; on any break, redial with backoff until the client closes."""
        import grpc

        from splitline.v1 import assignment_pb2_grpc

        assert self._channel is not None
        stub = assignment_pb2_grpc.AssignmentServiceStub(self._channel)
        backoff = RETRY_MIN_S
        while not self._stopped.is_set():
            current = self.core.snapshot
            request = assignment_pb2.GetSnapshotRequest(known_revision=current.revision if current else 0)
            try:
                self._stream = stub.GetSnapshot(request)
                for message in self._stream:
                    if self.core.install(message.snapshot, "sidecar"):
                        backoff = RETRY_MIN_S
            except grpc.RpcError as exc:
                if self._stopped.is_set():
                    return
                self.core.log.emit("sidecar-stream", f"splitline: snapshot stream broke: {exc.code()}")
            except Exception as exc:
                self.core.log.emit("sidecar-stream", f"splitline: snapshot stream failed: {exc!r}")
            self._stopped.wait(backoff)
            backoff = min(backoff * 2, RETRY_MAX_S)

    # ------------------------------------------------------------------- events

    def _drain(self) -> None:
        """Send until both queues are empty; raise on the first failure."""
        sink = self.sink
        assert sink is not None
        _drain_queue(self.core.exposures, sink.send_exposures)
        _drain_queue(self.core.outcomes, sink.send_outcomes)

    def _send_loop(self) -> None:
        backoff = RETRY_MIN_S
        while True:
            if not self._stopping:
                self._wake.wait(self._flush_interval)
                self._wake.clear()
            try:
                self._drain()
                backoff = RETRY_MIN_S
                if self._stopping:
                    return
            except Exception as exc:
                self.core.log.emit("send", f"splitline: cannot ship events yet, will retry: {exc}")
                if self._stopping:
                    remaining = self._deadline - time.monotonic()
                    if remaining <= 0:
                        return
                    time.sleep(min(backoff, remaining))
                else:
                    # A flush() cuts the wait short: the caller asked for a retry now.
                    self._wake.wait(backoff)
                    self._wake.clear()
                backoff = min(backoff * 2, RETRY_MAX_S)

    def flush(self, timeout: float) -> bool:
        """Wait until every event queued before the call has been accepted; False on timeout."""
        if self.sink is None:
            return len(self.core.exposures) == 0 and len(self.core.outcomes) == 0
        deadline = time.monotonic() + timeout
        targets = [(q, q.enqueued) for q in (self.core.exposures, self.core.outcomes)]
        self._wake.set()
        return all(q.wait_completed(t, max(0.0, deadline - time.monotonic())) for q, t in targets)

    def close(self, timeout: float) -> bool:
        """Stop refreshing, ship what is queued (up to `timeout`), report what could not be."""
        self._stopped.set()
        self._stopping = True
        self._deadline = time.monotonic() + timeout
        self._wake.set()
        stream = self._stream
        if stream is not None:
            stream.cancel()
        for thread in self._threads:
            thread.join(max(0.0, self._deadline - time.monotonic()) + 0.5)
        lost = self.core.exposures.abandon() + self.core.outcomes.abandon()
        if lost:
            logger.warning("splitline: closing with %d events not delivered to the sidecar", lost)
        if self._channel is not None:
            self._channel.close()
        return lost == 0
