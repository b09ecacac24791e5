"""Wiring: config source + state + spool + shipper + both doors + metrics endpoint.

`Sidecar(settings).start()` runs inside the caller's event loop (tests);
`SidecarThread` runs one on its own uvloop loop in a daemon thread for
synchronous callers such as `make demo`; `run(settings)` is what
`splitline sidecar` does (uvloop, until SIGINT/SIGTERM).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from splitline.sidecar import native
from splitline.sidecar.config_state import ConfigState
from splitline.sidecar.fastpath import FastPathServer
from splitline.sidecar.follower import ControlPlaneFollower, FileFollower
from splitline.sidecar.grpc_door import AssignmentDoor, GrpcServer
from splitline.sidecar.metrics import HttpEndpoint, Metrics
from splitline.sidecar.service import AssignmentCore
from splitline.sidecar.shipper import KafkaSettings, Shipper
from splitline.sidecar.spool import DEFAULT_COMMIT_INTERVAL_S, DEFAULT_MAX_BYTES, DEFAULT_SEGMENT_BYTES, Spool

log = logging.getLogger("splitline.sidecar")

CACHE_FILE = "last-good-snapshot.pb"


@dataclass(frozen=True)
class SidecarSettings:
    """Everything `splitline sidecar` can be told (see cli.py for the flags)."""

    socket: Path
    fast_socket: Path
    spool_dir: Path
    snapshot_file: Path | None = None
    control_plane: str | None = None
    token: str = ""
    control_plane_ca: Path | None = None
    state_dir: Path | None = None  # where the last good snapshot lives; default: spool_dir
    kafka: KafkaSettings | None = None
    metrics_port: int | None = None  # None: no endpoint; 0: any free port
    socket_mode: int = 0o660
    spool_max_bytes: int = DEFAULT_MAX_BYTES
    spool_segment_bytes: int = DEFAULT_SEGMENT_BYTES
    commit_interval: float = DEFAULT_COMMIT_INTERVAL_S
    fsync: bool = True
    # Assignment core: "auto" uses the native (Go) core when its library is built, "native" requires it,
    # "python" never loads it. Answers are identical (tests/sidecar/test_native.py).
    core: str = "auto"
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if (self.snapshot_file is None) == (self.control_plane is None):
            raise ValueError("exactly one config source: a snapshot file or a control plane address")
        if self.core not in CORES:
            raise ValueError(f"core must be one of {', '.join(CORES)}, not {self.core!r}")


CORES = ("auto", "native", "python")


def native_core_wanted(choice: str) -> bool:
    """Whether to serve with the native core; "native" without a loadable library is an error."""
    if choice == "python":
        return False
    available = native.load() is not None
    if choice == "native" and not available:
        raise RuntimeError(f"--core native: the native library is not available ({native.load_error()}); "
                           "build it with `make setup-native`")
    return available


class Sidecar:
    """One sidecar in the running event loop."""

    def __init__(self, settings: SidecarSettings) -> None:
        self.settings = settings
        self.metrics = Metrics()
        cache = (settings.state_dir or settings.spool_dir) / CACHE_FILE if settings.control_plane else None
        self.native = native_core_wanted(settings.core)
        self.state = ConfigState(cache, native=self.native)
        self.spool = Spool(settings.spool_dir, settings.spool_max_bytes, settings.spool_segment_bytes,
                           settings.commit_interval, settings.fsync)
        self.core = AssignmentCore(self.state, self.spool, self.metrics, native.load() if self.native else None)
        self.shipper: Shipper | None = None
        self.follower: ControlPlaneFollower | FileFollower | None = None
        self.grpc = GrpcServer(AssignmentDoor(self.core, self.state, self.metrics), settings.socket,
                               settings.socket_mode)
        self.fast = FastPathServer(self.core, self.metrics, settings.fast_socket, settings.socket_mode)
        self.http: HttpEndpoint | None = None
        self.started_at = time.time()

    @property
    def metrics_port(self) -> int | None:
        return self.http.port if self.http is not None else None

    async def start(self) -> Sidecar:
        s = self.settings
        await self.spool.open()
        if s.kafka is not None:
            self.shipper = Shipper(self.spool, s.kafka, self._count_shipped, native.load() if self.native else None)
            self.shipper.start()
        if s.snapshot_file is not None:
            file_follower = FileFollower(self.state, s.snapshot_file)
            file_follower.load_once()
            file_follower.start()
            self.follower = file_follower
        else:
            assert s.control_plane is not None
            if self.state.load_cache():
                log.info("config: serving the last good snapshot (revision %d) until the control plane answers",
                         self.state.revision)
            cp = ControlPlaneFollower(self.state, s.control_plane, s.token, s.control_plane_ca)
            cp.start()
            self.follower = cp
        self._bind_metrics()
        await self.grpc.start()
        await self.fast.start()
        if s.metrics_port is not None:
            self.http = HttpEndpoint(self.metrics, self.health, port=s.metrics_port)
            await self.http.start()
        log.info("sidecar: gRPC on %s, fast path on %s, spool %s, %s core, %s%s", s.socket, s.fast_socket,
                 s.spool_dir, "native" if self.native else "python",
                 f"Kafka {s.kafka.bootstrap_servers}" if s.kafka else "embedded (no Kafka)",
                 f", metrics on 127.0.0.1:{self.metrics_port}" if self.http else "")
        return self

    def _count_shipped(self, kind: int, n: int) -> None:
        self.metrics.events_shipped.labels("exposure" if kind == 1 else "outcome").inc(n)

    def _bind_metrics(self) -> None:
        m = self.metrics
        m.bind("config_revision", lambda: float(self.state.revision))
        m.bind("config_age", self.state.age_seconds)
        m.bind("config_connected", lambda: float(isinstance(self.follower, ControlPlaneFollower)
                                                 and self.follower.connected))
        m.bind("spool_bytes", lambda: float(self.spool.size_bytes))
        m.spool_limit.set(self.settings.spool_max_bytes)
        m.bind("queue_depth", lambda: float(self.shipper.pending_bytes() if self.shipper else 0))
        m.bind("kafka_connected", lambda: float(bool(self.shipper and self.shipper.connected)))

    def health(self) -> dict[str, Any]:
        """Serving state, config staleness, spool and shipping (the /healthz document)."""
        loaded = self.state.current
        age = self.state.age_seconds()
        return {
            "serving": loaded is not None,
            "core": "native" if loaded is not None and loaded.native is not None else "python",
            "config_revision": self.state.revision,
            "config_source": loaded.source if loaded else None,
            "config_age_seconds": round(age, 3) if age != float("inf") else None,
            "control_plane_connected": isinstance(self.follower, ControlPlaneFollower) and self.follower.connected,
            "spool_bytes": self.spool.size_bytes,
            "spool_limit_bytes": self.settings.spool_max_bytes,
            "spool_full": self.spool.full_since is not None,
            "kafka": None if self.shipper is None else {
                "connected": self.shipper.connected,
                "pending_bytes": self.shipper.pending_bytes(),
                "shipped": self.shipper.shipped,
            },
        }

    async def stop(self) -> None:
        """Stop accepting, commit the spool, give the shipper a moment to drain, release everything."""
        await self.fast.stop()
        await self.grpc.stop()
        if self.http is not None:
            await self.http.stop()
        if self.follower is not None:
            await self.follower.stop()
        await self.spool.close()
        if self.shipper is not None:
            await self.shipper.stop()

    async def __aenter__(self) -> Sidecar:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


def new_loop() -> asyncio.AbstractEventLoop:
    """A uvloop loop when uvloop is installed (it is with `splitline[sidecar]`)."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency of the extra
        return asyncio.new_event_loop()
    loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    return loop


def run(settings: SidecarSettings) -> int:
    """Run until SIGINT or SIGTERM (the `splitline sidecar` command)."""

    async def main() -> None:
        sidecar = await Sidecar(settings).start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            await stop.wait()
        finally:
            log.info("sidecar: shutting down")
            await sidecar.stop()

    with asyncio.Runner(loop_factory=new_loop) as runner:
        runner.run(main())
    return 0


class SidecarThread:
    """A sidecar on its own uvloop loop in a daemon thread (for `make demo` and sync callers).

    >>> with SidecarThread(settings) as sc:  # doctest: +SKIP
    ...     print(sc.sidecar.settings.fast_socket)
    """

    def __init__(self, settings: SidecarSettings) -> None:
        self.settings = settings
        self._loop = new_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="sidecar", daemon=True)
        self.sidecar: Sidecar | None = None

    def start(self, timeout: float = 30.0) -> SidecarThread:
        self._thread.start()

        async def boot() -> Sidecar:
            return await Sidecar(self.settings).start()

        self.sidecar = asyncio.run_coroutine_threadsafe(boot(), self._loop).result(timeout=timeout)
        return self

    def call(self, fn: Any) -> Any:
        """Run `fn(sidecar)` on the sidecar's loop and return its result (fn may be async)."""
        assert self.sidecar is not None

        async def go() -> Any:
            result = fn(self.sidecar)
            return await result if asyncio.iscoroutine(result) else result

        return asyncio.run_coroutine_threadsafe(go(), self._loop).result(timeout=30)

    def stop(self) -> None:
        if self.sidecar is not None:
            sidecar = self.sidecar
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(sidecar.stop(), self._loop).result(timeout=30)
            self.sidecar = None
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        if not self._thread.is_alive():
            self._loop.close()

    def __enter__(self) -> SidecarThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


__all__ = ["Sidecar", "SidecarSettings", "SidecarThread", "new_loop", "run"]
