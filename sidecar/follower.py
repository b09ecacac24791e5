"""Config followers: where the served snapshot comes from.

- `ControlPlaneFollower` consumes `ConfigService.WatchConfig`: a full snapshot
  first, then deltas. It resumes from the revision it holds after a broken
  stream, with capped exponential backoff and jitter, and keeps serving the last
  good config (from memory, or from the on-disk copy when it starts while the
  control plane is unreachable).
- `FileFollower` polls a snapshot file (JSON or YAML) for the embedded mode.

Both only build a `ConfigSnapshot` and hand it to `ConfigState.install`; the
delta arithmetic is a pure function (`apply_delta`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Final, TypeVar

from splitline.sidecar.config_state import ConfigState
from splitline.v1 import config_pb2, control_pb2

log = logging.getLogger("splitline.sidecar.config")

BACKOFF_MIN_S: Final = 0.1
BACKOFF_MAX_S: Final = 5.0
FILE_POLL_S: Final = 0.5
# Our own backoff decides when to retry; a private subchannel pool keeps gRPC's
# shared one (and its reconnect backoff) out of it.
_CHANNEL_OPTIONS: Final = [("grpc.use_local_subchannel_pool", 1), ("grpc.keepalive_time_ms", 30_000)]


M = TypeVar("M", config_pb2.Experiment, config_pb2.Layer, config_pb2.Holdout)


def _merge(current: Iterable[M], upserted: Iterable[M], deleted: Iterable[str], key_field: str) -> list[M]:
    by_key: dict[str, M] = {getattr(m, key_field): m for m in current}
    for m in upserted:
        by_key[getattr(m, key_field)] = m
    for k in deleted:
        by_key.pop(k, None)
    return list(by_key.values())


def apply_delta(base: config_pb2.ConfigSnapshot, msg: control_pb2.WatchConfigResponse) -> config_pb2.ConfigSnapshot:
    """The snapshot after one WatchConfig message (a full snapshot replaces everything)."""
    if msg.HasField("snapshot"):
        snap = config_pb2.ConfigSnapshot()
        snap.CopyFrom(msg.snapshot)
        snap.revision = max(snap.revision, msg.revision)
        return snap
    snap = config_pb2.ConfigSnapshot(revision=msg.revision or base.revision)
    snap.layers.extend(_merge(base.layers, msg.upserted_layers, msg.deleted_layers, "id"))
    snap.experiments.extend(_merge(base.experiments, msg.upserted_experiments, msg.deleted_experiments, "key"))
    snap.holdouts.extend(_merge(base.holdouts, msg.upserted_holdouts, msg.deleted_holdouts, "id"))
    if base.HasField("created_at"):
        snap.created_at.CopyFrom(base.created_at)
    return snap


class _Follower:
    """The background-task lifecycle both followers share: `start` runs `_run`, `stop` cancels it."""

    _task_name = "follower"
    _task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        raise NotImplementedError

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self._task_name)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None


class ControlPlaneFollower(_Follower):
    """Follows WatchConfig on `target` (host:port) and installs every revision."""

    _task_name = "config-follower"

    def __init__(self, state: ConfigState, target: str, token: str = "", tls_ca: Path | None = None) -> None:
        self.state = state
        self.target = target
        self.token = token
        self.tls_ca = tls_ca
        self.connected = False
        self.reconnects = 0

    async def _run(self) -> None:
        import grpc
        from splitline.v1 import control_pb2_grpc

        delay = BACKOFF_MIN_S
        metadata = (("authorization", f"Bearer {self.token}"),) if self.token else ()
        while True:
            if self.tls_ca is not None:
                creds = grpc.ssl_channel_credentials(self.tls_ca.read_bytes())
                channel = grpc.aio.secure_channel(self.target, creds, options=_CHANNEL_OPTIONS)
            else:
                channel = grpc.aio.insecure_channel(self.target, options=_CHANNEL_OPTIONS)
            try:
                stub = control_pb2_grpc.ConfigServiceStub(channel)
                base = self.state.current.compiled.snapshot if self.state.current else None
                call = stub.WatchConfig(
                    control_pb2.WatchConfigRequest(from_revision=base.revision if base else 0),
                    metadata=metadata,
                )
                async for msg in call:
                    if not self.connected:
                        self.connected = True
                        log.info("config: connected to control plane %s", self.target)
                    delay = BACKOFF_MIN_S
                    if base is None and not msg.HasField("snapshot"):
                        raise RuntimeError("WatchConfig sent a delta before any snapshot")
                    snap = apply_delta(base or config_pb2.ConfigSnapshot(), msg)
                    if base is not None and snap.revision == base.revision and not msg.HasField("snapshot"):
                        self.state.last_contact = time.time()
                        continue
                    if self.state.install(snap, "control-plane"):
                        base = snap
                    else:
                        self.state.last_contact = time.time()
            except asyncio.CancelledError:
                await channel.close(None)
                raise
            except grpc.aio.AioRpcError as exc:
                self._lost(f"{exc.code().name}: {exc.details()}", delay)
            except Exception as exc:
                self._lost(repr(exc), delay)
            else:
                self._lost("stream ended", delay)
            await channel.close(None)
            self.reconnects += 1
            await asyncio.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, BACKOFF_MAX_S)

    def _lost(self, why: str, delay: float) -> None:
        if self.connected or self.reconnects == 0:
            log.warning("config: control plane %s unreachable (%s); serving revision %d, retrying",
                        self.target, why, self.state.revision)
        else:
            log.debug("config: retry in %.1fs: %s", delay, why)
        self.connected = False


class FileFollower(_Follower):
    """Installs the snapshot in `path` and re-installs it whenever the file changes."""

    _task_name = "file-follower"

    def __init__(self, state: ConfigState, path: Path, poll_interval: float = FILE_POLL_S) -> None:
        self.state = state
        self.path = Path(path)
        self.poll_interval = poll_interval
        self._stamp: tuple[int, int, int] | None = None

    def load_once(self) -> bool:
        """Load the file now if it changed; False when it cannot be read or compiled."""
        from splitline.snapshot_file import SnapshotFileError, load_snapshot

        try:
            st = self.path.stat()
        except OSError as exc:
            log.error("config: snapshot file %s: %s", self.path, exc.strerror)
            return False
        stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
        if stamp == self._stamp:
            self.state.last_contact = time.time()
            return True
        self._stamp = stamp
        try:
            snapshot = load_snapshot(self.path)
        except SnapshotFileError as exc:
            log.error("config: %s", exc)
            return False
        return self.state.install(snapshot, "file")

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.poll_interval)
            self.load_once()


__all__ = ["ControlPlaneFollower", "FileFollower", "apply_delta"]
