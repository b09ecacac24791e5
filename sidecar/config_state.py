"""The current compiled config: one reference swapped atomically, plus its staleness.

A request reads `state.current` once and uses that object for the whole call,
so it sees the old or the new config, never a mix. Watchers (GetSnapshot
streams) wait on `changed()` for the next revision.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

from splitline.core import CompiledSnapshot, compile_snapshot
from splitline.sidecar.native import NativeIndex
from splitline.sidecar.requests import ResponseCache
from splitline.v1 import config_pb2

log = logging.getLogger("splitline.sidecar.config")


@dataclass(frozen=True, slots=True)
class Loaded:
    """A compiled snapshot with what serving it needs, built once per revision."""

    compiled: CompiledSnapshot
    responses: ResponseCache
    loaded_at: float  # time.time() when it was swapped in
    source: str  # "control-plane", "file", "cache"
    native: NativeIndex | None = None  # the same snapshot in the Go core, when the library is in use

    @property
    def revision(self) -> int:
        return self.compiled.revision


class ConfigState:
    """Holds the served snapshot; persists the last good one (atomic rename) when asked to."""

    def __init__(self, cache_path: Path | None = None, native: bool = False) -> None:
        self.cache_path = cache_path
        self.native = native
        self.current: Loaded | None = None
        self.last_contact: float | None = None  # time.time() of the last message from the source
        self._changed = asyncio.Event()
        self.rejected = 0

    def install(self, snapshot: config_pb2.ConfigSnapshot, source: str, persist: bool = True) -> bool:
        """Compile and swap in `snapshot`; keep the old one (and say why) when it does not compile."""
        try:
            compiled = compile_snapshot(snapshot)
        except Exception as exc:
            self.rejected += 1
            log.error("config: revision %d rejected, still serving %s: %s", snapshot.revision,
                      self.current.revision if self.current else "nothing", exc)
            return False
        native = None
        if self.native:
            native = NativeIndex.compile(snapshot.SerializeToString())
            if native is None:
                log.warning("config: the native core refused revision %d; serving it from the Python core",
                            snapshot.revision)
        self.current = Loaded(compiled, ResponseCache(compiled), time.time(), source, native)
        self.last_contact = time.time()
        log.info("config: serving revision %d (%d experiments, from %s)", snapshot.revision,
                 len(snapshot.experiments), source)
        if persist and self.cache_path is not None:
            try:
                write_atomic(self.cache_path, snapshot.SerializeToString())
            except OSError as exc:
                log.warning("config: cannot persist last good snapshot to %s: %s", self.cache_path, exc)
        old, self._changed = self._changed, asyncio.Event()
        old.set()
        return True

    def load_cache(self) -> bool:
        """Serve the snapshot persisted by an earlier run (control plane unreachable at start)."""
        if self.cache_path is None or not self.cache_path.exists():
            return False
        try:
            snapshot = config_pb2.ConfigSnapshot.FromString(self.cache_path.read_bytes())
        except Exception as exc:
            log.error("config: cached snapshot %s unreadable: %s", self.cache_path, exc)
            return False
        return self.install(snapshot, "cache", persist=False)

    def changed_event(self) -> asyncio.Event:
        """An event set at the next swap (take it before checking `current`, then wait)."""
        return self._changed

    async def changed(self) -> None:
        """Return after the next swap."""
        await self._changed.wait()

    @property
    def revision(self) -> int:
        return self.current.revision if self.current else 0

    def age_seconds(self) -> float:
        """Seconds since the source last confirmed the config (or since it was loaded)."""
        ref = self.last_contact or (self.current.loaded_at if self.current else None)
        return time.time() - ref if ref else float("inf")


def write_atomic(path: Path, data: bytes) -> None:
    """Write `data` to `path` so that readers see the old or the new file, never a partial one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


__all__ = ["ConfigState", "Loaded", "write_atomic"]
