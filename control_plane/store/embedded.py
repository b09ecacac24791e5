"""The embedded store: an in-memory map plus an fsynced append-only log file.

The default when no etcd is configured. It mirrors etcd's semantics closely
enough that the same behavioural tests run against both: a global revision,
per-key mod revisions for compare-and-swap, ordered watches from any retained
revision, and compaction. One process owns the file; several servers in that
process may share one instance.

File format (JSON lines): ``{"rev": N, "put": {key: b64}, "del": [key]}`` per
commit; a compaction rewrites the file starting with ``{"base": {key: [b64, mod]},
"rev": N, "compacted": N}``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import TextIO

from splitline.control_plane.store.base import (
    Change,
    ChangeBatch,
    Compacted,
    Conflict,
    Entry,
    Store,
)

DATA_FILE_NAME = "splitline-store.jsonl"
# Commits of history kept in memory for watch-from-revision; beyond twice this the
# store compacts itself (and rewrites its file), like etcd's auto-compaction.
HISTORY_KEEP = 10_000


def _enc(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


def _dec(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"))


class EmbeddedStore(Store):
    """File-backed (or, with `data_dir=None`, purely in-memory) revisioned store."""

    def __init__(self, data_dir: str | Path | None = None) -> None:
        self._data: dict[str, tuple[bytes, int]] = {}
        self._revision = 1  # etcd starts at 1 on an empty cluster; so do we
        self._compacted = 0
        self._history: list[ChangeBatch] = []
        self._subscribers: set[asyncio.Queue[ChangeBatch]] = set()
        self._path: Path | None = None
        self._fh: TextIO | None = None
        if data_dir is not None:
            folder = Path(data_dir)
            folder.mkdir(parents=True, exist_ok=True)
            self._path = folder / DATA_FILE_NAME
            if self._path.exists():
                self._replay(self._path)
            self._fh = self._path.open("a", encoding="utf-8")

    @property
    def description(self) -> str:
        return f"embedded store at {self._path}" if self._path else "in-memory store"

    @property
    def revision(self) -> int:
        return self._revision

    def _replay(self, path: Path) -> None:
        with path.open(encoding="utf-8") as fh:
            for line in fh:
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    break  # a torn last line from a crash mid-write: the commit never returned
                if "base" in record:
                    self._data = {k: (_dec(v), int(m)) for k, (v, m) in record["base"].items()}
                    self._revision = int(record["rev"])
                    self._compacted = int(record["compacted"])
                    self._history = []
                    continue
                self._apply(int(record["rev"]), {k: _dec(v) for k, v in record["put"].items()}, list(record["del"]))

    def _apply(self, rev: int, puts: Mapping[str, bytes], deletes: Sequence[str]) -> ChangeBatch:
        changes: list[Change] = []
        for key, value in puts.items():
            self._data[key] = (value, rev)
            changes.append(Change(key, value))
        for key in deletes:
            if self._data.pop(key, None) is not None:
                changes.append(Change(key, None))
        self._revision = rev
        batch = ChangeBatch(rev, tuple(changes))
        self._history.append(batch)
        return batch

    async def get(self, key: str) -> Entry | None:
        found = self._data.get(key)
        return Entry(key, found[0], found[1]) if found else None

    async def list(self, prefix: str) -> tuple[list[Entry], int]:
        entries = [Entry(k, v, m) for k, (v, m) in self._data.items() if k.startswith(prefix)]
        entries.sort(key=lambda e: e.key)
        return entries, self._revision

    async def commit(
        self,
        expect: Mapping[str, int],
        puts: Mapping[str, bytes],
        deletes: Sequence[str] = (),
    ) -> int:
        # No await between the comparison and the apply: asyncio makes this atomic.
        for key, mod in expect.items():
            current = self._data.get(key)
            if (current[1] if current else 0) != mod:
                raise Conflict(f"{key} changed since it was read")
        rev = self._revision + 1
        if self._fh is not None:
            line = json.dumps({"rev": rev, "put": {k: _enc(v) for k, v in puts.items()}, "del": list(deletes)})
            self._fh.write(line + "\n")
            self._fh.flush()
            os.fsync(self._fh.fileno())
        batch = self._apply(rev, puts, deletes)
        for queue in self._subscribers:
            queue.put_nowait(batch)
        if len(self._history) > 2 * HISTORY_KEEP:
            self._compact_to(self._history[-HISTORY_KEEP].revision)
        return rev

    async def watch(self, prefix: str, from_revision: int) -> AsyncIterator[ChangeBatch]:
        if from_revision <= self._compacted:
            raise Compacted(self._compacted)
        queue: asyncio.Queue[ChangeBatch] = asyncio.Queue()
        self._subscribers.add(queue)
        try:
            last = from_revision - 1
            for batch in list(self._history):
                if batch.revision > last:
                    picked = _under(batch, prefix)
                    last = batch.revision
                    if picked is not None:
                        yield picked
            while True:
                batch = await queue.get()
                if batch.revision <= last:
                    continue
                last = batch.revision
                picked = _under(batch, prefix)
                if picked is not None:
                    yield picked
        finally:
            self._subscribers.discard(queue)

    async def compact(self, revision: int) -> None:
        self._compact_to(revision)

    def _compact_to(self, revision: int) -> None:
        revision = min(revision, self._revision)
        if revision <= self._compacted:
            return
        self._history = [b for b in self._history if b.revision >= revision]
        # Watches from revisions strictly below `revision` are refused, as in etcd.
        self._compacted = revision - 1
        if self._path is not None:
            self._rewrite()

    def _rewrite(self) -> None:
        """Replace the log with one base record of the current state (atomic rename).

        History since the compaction point stays in memory for this process only;
        after a restart, watches from before the restart revision get `Compacted`
        (and WatchConfig streams a full snapshot), which is the documented fallback.
        """
        if self._path is None or self._fh is None:
            return
        base: dict[str, tuple[bytes, int]] = dict(self._data)
        tmp = self._path.with_suffix(".tmp")
        with tmp.open("w", encoding="utf-8") as fh:
            fh.write(
                json.dumps(
                    {
                        "base": {k: [_enc(v), m] for k, (v, m) in base.items()},
                        "rev": self._revision,
                        "compacted": self._revision - 1,
                    }
                )
                + "\n"
            )
            fh.flush()
            os.fsync(fh.fileno())
        self._fh.close()
        os.replace(tmp, self._path)
        self._fh = self._path.open("a", encoding="utf-8")

    async def close(self) -> None:
        if self._fh is not None and not self._fh.closed:
            self._fh.close()


def _under(batch: ChangeBatch, prefix: str) -> ChangeBatch | None:
    picked = tuple(c for c in batch.changes if c.key.startswith(prefix))
    return ChangeBatch(batch.revision, picked) if picked else None
