"""WatchConfig: one store watch per server, fanned out to every stream.

The hub reads the config once, then follows the store from that revision,
keeping the current objects and a bounded history of per-commit deltas. A
stream starts with a full snapshot (from_revision 0, a revision older than the
hub's history, or a history that was trimmed or reset), otherwise with the
deltas after its revision; then it gets every commit as it arrives. When the
store watch breaks (etcd down) the hub resumes from its last revision; if that
was compacted away it reloads and every stream gets a fresh full snapshot.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from bisect import bisect_right
from collections.abc import AsyncIterator
from typing import Final

from google.protobuf.timestamp_pb2 import Timestamp
from splitline.control_plane import definitions, keys
from splitline.control_plane.store import ChangeBatch, Compacted, Store, StoreUnavailable
from splitline.v1 import config_pb2, control_pb2

log = logging.getLogger(__name__)
HISTORY_LIMIT: Final = 10_000
RETRY_S: Final = 0.2
CATCH_UP_WAIT_S: Final = 5.0


class ConfigHub:
    """Follows the store and serves `WatchConfig` streams."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.layers: dict[str, config_pb2.Layer] = {}
        self.experiments: dict[str, config_pb2.Experiment] = {}
        self.holdouts: dict[str, config_pb2.Holdout] = {}
        self.revision = 0
        self._base = 0  # deltas after this revision are in _history
        self._epoch = 0  # bumped on reload: streams then resend a full snapshot
        self._history: list[control_pb2.WatchConfigResponse] = []
        self._revs: list[int] = []  # revisions of _history, for bisect
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    async def start(self) -> None:
        await self._reload()
        self._ready.set()
        self._task = asyncio.create_task(self._follow(), name="config-hub")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _reload(self) -> None:
        entries, revision = await self._store.list(keys.CONFIG_PREFIX)
        self.layers, self.experiments, self.holdouts = {}, {}, {}
        for entry in entries:
            self._put(entry.key, entry.value)
        self.revision = self._base = revision
        self._history, self._revs = [], []
        self._epoch += 1
        self._notify()

    def _put(self, key: str, value: bytes) -> None:
        if key.startswith(keys.EXPERIMENTS):
            exp = config_pb2.Experiment.FromString(value)
            if exp.status == config_pb2.EXPERIMENT_STATUS_ARCHIVED:
                self.experiments.pop(exp.key, None)
            else:
                self.experiments[exp.key] = exp
        elif key.startswith(keys.LAYERS):
            layer = config_pb2.Layer.FromString(value)
            self.layers[layer.id] = layer
        elif key.startswith(keys.HOLDOUTS):
            holdout = config_pb2.Holdout.FromString(value)
            self.holdouts[holdout.id] = holdout

    def _notify(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    def _apply(self, batch: ChangeBatch) -> None:
        delta = control_pb2.WatchConfigResponse(revision=batch.revision)
        for change in batch.changes:
            name = change.key.rsplit("/", 1)[1]
            if change.value is not None:
                self._put(change.key, change.value)
            if change.key.startswith(keys.EXPERIMENTS):
                if change.value is None or name not in self.experiments:
                    self.experiments.pop(name, None)
                    delta.deleted_experiments.append(name)
                else:
                    delta.upserted_experiments.append(self.experiments[name])
            elif change.key.startswith(keys.LAYERS):
                if change.value is None:
                    self.layers.pop(name, None)
                    delta.deleted_layers.append(name)
                else:
                    delta.upserted_layers.append(self.layers[name])
            elif change.key.startswith(keys.HOLDOUTS):
                if change.value is None:
                    self.holdouts.pop(name, None)
                    delta.deleted_holdouts.append(name)
                else:
                    delta.upserted_holdouts.append(self.holdouts[name])
        self.revision = batch.revision
        self._history.append(delta)
        self._revs.append(delta.revision)
        if len(self._history) > 2 * HISTORY_LIMIT:  # trim in chunks: amortised O(1)
            self._base = self._revs[-HISTORY_LIMIT - 1]
            self._history, self._revs = self._history[-HISTORY_LIMIT:], self._revs[-HISTORY_LIMIT:]
        self._notify()

    async def _follow(self) -> None:
        while True:
            try:
                async for batch in self._store.watch(keys.CONFIG_PREFIX, self.revision + 1):
                    if batch.revision > self.revision:
                        self._apply(batch)
            except Compacted:
                log.warning("config history compacted past revision %d; reloading", self.revision)
                await self._retry(self._reload)
            except StoreUnavailable as exc:
                log.warning("config watch broken (%s); retrying from revision %d", exc, self.revision)
                await asyncio.sleep(RETRY_S)
            except Exception:  # never let the stream die silently: log, back off, resume
                log.exception("config watch failed; retrying from revision %d", self.revision)
                await asyncio.sleep(RETRY_S)

    @staticmethod
    async def _retry(action: object) -> None:
        while True:
            try:
                await action()  # type: ignore[operator]
                return
            except StoreUnavailable:
                await asyncio.sleep(RETRY_S)

    def snapshot(self) -> control_pb2.WatchConfigResponse:
        snap = definitions.build_snapshot(
            self.layers.values(), self.experiments.values(), self.holdouts.values(), self.revision
        )
        created = Timestamp()
        created.GetCurrentTime()
        snap.created_at.CopyFrom(created)
        return control_pb2.WatchConfigResponse(snapshot=snap, revision=self.revision)

    async def stream(self, from_revision: int) -> AsyncIterator[control_pb2.WatchConfigResponse]:
        """The WatchConfig semantics of control.proto for one watcher."""
        await self._ready.wait()
        if from_revision > self.revision:
            # A watcher that came from a replica further ahead: let this one catch up.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(CATCH_UP_WAIT_S):
                    while from_revision > self.revision:
                        await self._changed.wait()
        cursor = from_revision
        epoch = -1 if from_revision == 0 or from_revision < self._base or from_revision > self.revision else self._epoch
        while True:
            changed = self._changed
            if epoch != self._epoch or cursor < self._base:
                message = self.snapshot()
                epoch, cursor = self._epoch, message.revision
                yield message
                continue
            pending = self._history[bisect_right(self._revs, cursor) :]
            for delta in pending:
                cursor = delta.revision
                yield delta
                if epoch != self._epoch:
                    break
            if not pending:
                await changed.wait()
