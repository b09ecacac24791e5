"""Wiring: store + core + hub + servicers + auth + health + reflection + scheduler.

`start_server` runs inside the caller's event loop (tests, benchmarks);
`ServerThread` runs a server on its own loop in a background thread for
synchronous callers such as `make demo`; `open_store` builds a store from CLI
flags.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import grpc
from grpc_health.v1 import _async as health_aio
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from splitline.control_plane import servicers
from splitline.control_plane.auth import AuthInterceptor, TokenTable
from splitline.control_plane.config_stream import ConfigHub
from splitline.control_plane.service import ControlPlane
from splitline.control_plane.store import EmbeddedStore, Store
from splitline.v1 import control_pb2, control_pb2_grpc

log = logging.getLogger(__name__)
DEFAULT_LISTEN: Final = "127.0.0.1:7400"
SCHEDULE_INTERVAL_S: Final = 1.0
SERVICE_NAMES: Final = tuple(
    control_pb2.DESCRIPTOR.services_by_name[name].full_name
    for name in (
        "ExperimentService",
        "LayerService",
        "HoldoutService",
        "MetricService",
        "AuditService",
        "ConfigService",
    )
)


@dataclass(frozen=True, slots=True)
class TlsFiles:
    cert: Path
    key: Path


def open_store(kind: str = "embedded", data_dir: str | Path | None = None, etcd: str = "") -> Store:
    """A store from configuration: `embedded` (file-backed under data_dir) or `etcd` (host:port)."""
    if kind == "etcd":
        from splitline.control_plane.store.etcd import EtcdStore

        return EtcdStore(etcd or "127.0.0.1:2379")
    if kind == "embedded":
        return EmbeddedStore(data_dir)
    raise ValueError(f"unknown store {kind!r}: embedded or etcd")


@dataclass
class RunningServer:
    """A started control plane; `address` is host:port actually bound."""

    server: grpc.aio.Server
    core: ControlPlane
    hub: ConfigHub
    address: str
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def port(self) -> int:
        return int(self.address.rsplit(":", 1)[1])

    async def stop(self, grace: float = 0.5) -> None:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.server.stop(grace)
        await self.hub.stop()


async def _schedule_loop(core: ControlPlane, interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        try:
            for done in await core.run_schedules():
                log.info("schedule: %s", done)
        except Exception as exc:  # the store may be down; try again next tick
            log.warning("schedule run failed: %s", exc)


async def start_server(
    store: Store,
    tokens: TokenTable | None = None,
    listen: str = DEFAULT_LISTEN,
    tls: TlsFiles | None = None,
    schedule_interval: float | None = SCHEDULE_INTERVAL_S,
) -> RunningServer:
    """Start serving on `listen` (port 0 picks a free one) in the running loop."""
    tokens = tokens or TokenTable.dev()
    core = ControlPlane(store)
    hub = ConfigHub(store)
    await hub.start()
    server = grpc.aio.server(
        interceptors=[AuthInterceptor(tokens)],
        options=[("grpc.so_reuseport", 0), ("grpc.max_concurrent_streams", 10_000)],
    )
    control_pb2_grpc.add_ExperimentServiceServicer_to_server(servicers.ExperimentServicer(core, tokens), server)
    control_pb2_grpc.add_LayerServiceServicer_to_server(servicers.LayerServicer(core, tokens), server)
    control_pb2_grpc.add_HoldoutServiceServicer_to_server(servicers.HoldoutServicer(core, tokens), server)
    control_pb2_grpc.add_MetricServiceServicer_to_server(servicers.MetricServicer(core, tokens), server)
    control_pb2_grpc.add_AuditServiceServicer_to_server(servicers.AuditServicer(core, tokens), server)
    control_pb2_grpc.add_ConfigServiceServicer_to_server(servicers.ConfigServicer(hub), server)
    health_servicer = health_aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for name in (*SERVICE_NAMES, ""):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    reflection.enable_server_reflection((*SERVICE_NAMES, health.SERVICE_NAME, reflection.SERVICE_NAME), server)
    if tls is None:
        port = server.add_insecure_port(listen)
    else:
        creds = grpc.ssl_server_credentials([(tls.key.read_bytes(), tls.cert.read_bytes())])
        port = server.add_secure_port(listen, creds)
    await server.start()
    running = RunningServer(server, core, hub, f"{listen.rsplit(':', 1)[0]}:{port}")
    if schedule_interval:
        running._tasks.append(asyncio.create_task(_schedule_loop(core, schedule_interval)))
    log.info("control plane serving on %s (%s)", running.address, store.description)
    return running


class ServerThread:
    """A control plane on its own event loop in a daemon thread (for sync callers).

    >>> with ServerThread(data_dir="/tmp/splitline-demo", listen="127.0.0.1:0") as srv:
    ...     print(srv.address)  # doctest: +SKIP
    """

    def __init__(
        self,
        data_dir: str | Path | None = None,
        listen: str = DEFAULT_LISTEN,
        tokens: TokenTable | None = None,
        store: str = "embedded",
        etcd: str = "",
    ) -> None:
        self._args: dict[str, Any] = {
            "data_dir": data_dir,
            "listen": listen,
            "tokens": tokens,
            "store": store,
            "etcd": etcd,
        }
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="control-plane", daemon=True)
        self._running: RunningServer | None = None
        self._store: Store | None = None

    @property
    def address(self) -> str:
        assert self._running is not None, "not started"
        return self._running.address

    def start(self) -> ServerThread:
        self._thread.start()

        async def boot() -> RunningServer:
            self._store = open_store(self._args["store"], self._args["data_dir"], self._args["etcd"])
            return await start_server(self._store, self._args["tokens"], self._args["listen"])

        self._running = asyncio.run_coroutine_threadsafe(boot(), self._loop).result(timeout=30)
        return self

    def stop(self) -> None:
        if self._running is not None:
            running, store = self._running, self._store

            async def down() -> None:
                await running.stop()
                if store is not None:
                    await store.close()

            asyncio.run_coroutine_threadsafe(down(), self._loop).result(timeout=30)
            self._running = None
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        if not self._thread.is_alive():
            self._loop.close()

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
