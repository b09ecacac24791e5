"""The write-ahead spool: events are on disk before a call that logged them returns.

Writers call `append` (which raises `SpoolFull` when the size bound would be
crossed) and await the returned future: it resolves once a group commit has
written and fsynced the bytes. Group commit bounds the cost of fsync: every
record appended within one `commit_interval` shares one write and one fsync, and
the disk work runs in a worker thread so the event loop (and so assignment)
never waits on it.

Readers (the Kafka shipper) read committed records by position
(segment sequence, byte offset) and, once the broker acknowledged everything in
a closed segment, `trim` it. Without Kafka nothing is trimmed: the segments
are the event log the analytics ingest reads (format: spool_format.py).

Recovery on open: the newest segment's torn tail (a crash mid-write) is
truncated and writing continues in a fresh segment, so a segment is only ever
appended to by one process lifetime.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final, TypeVar

from splitline.sidecar.spool_format import (
    encode_records,
    scan_records,
    segment_name,
    segment_paths,
    segment_sequence,
    valid_length,
)

log = logging.getLogger("splitline.sidecar.spool")

DEFAULT_MAX_BYTES: Final = 1 << 30  # 1 GiB
DEFAULT_SEGMENT_BYTES: Final = 64 << 20
DEFAULT_COMMIT_INTERVAL_S: Final = 0.002


T = TypeVar("T")


class SpoolFull(Exception):
    """The spool reached its size bound; the caller must retry later (RESOURCE_EXHAUSTED)."""


@dataclass(frozen=True, slots=True)
class Position:
    """A place in the spool: segment sequence and byte offset within it."""

    segment: int
    offset: int


@dataclass(slots=True)
class _Segment:
    sequence: int
    path: Path
    size: int  # committed (fsynced) bytes


class Spool:
    """Segmented, size-bounded, group-committed append-only log on local disk."""

    def __init__(self, directory: Path, max_bytes: int = DEFAULT_MAX_BYTES,
                 segment_bytes: int = DEFAULT_SEGMENT_BYTES,
                 commit_interval: float = DEFAULT_COMMIT_INTERVAL_S, fsync: bool = True) -> None:
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self.segment_bytes = segment_bytes
        self.commit_interval = commit_interval
        self.fsync = fsync
        self._segments: list[_Segment] = []
        self._fd = -1
        self._buffer = bytearray()
        self._waiters: list[asyncio.Future[None]] = []
        self._pending_records = 0
        self._wake = asyncio.Event()
        self._disk = asyncio.Lock()
        self.committed = asyncio.Event()  # set after each commit; readers clear it
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.full_since: float | None = None
        self.records_appended = 0
        self.records_rejected = 0

    # ------------------------------------------------------------------ open

    async def open(self) -> None:
        """Recover existing segments and start a fresh one; start the commit task."""
        await asyncio.to_thread(self._recover)
        self._task = asyncio.create_task(self._commit_loop(), name="spool-commit")

    def _recover(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        paths = segment_paths(self.directory)
        for i, path in enumerate(paths):
            seq = segment_sequence(path)
            assert seq is not None
            size = path.stat().st_size
            if i == len(paths) - 1:
                good = valid_length(path)
                if good != size:
                    log.warning("spool: truncating torn tail of %s (%d -> %d bytes)", path.name, size, good)
                    with path.open("r+b") as f:
                        f.truncate(good)
                        os.fsync(f.fileno())
                    size = good
            self._segments.append(_Segment(seq, path, size))
        next_seq = self._segments[-1].sequence + 1 if self._segments else 0
        self._open_segment(next_seq)

    def _open_segment(self, sequence: int) -> None:
        path = self.directory / segment_name(sequence)
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
        self._segments.append(_Segment(sequence, path, 0))
        self._fsync_dir()

    def _fsync_dir(self) -> None:
        if not self.fsync:
            return
        dfd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)

    # ---------------------------------------------------------------- append

    @property
    def size_bytes(self) -> int:
        """Bytes on disk plus bytes waiting for the next commit."""
        return sum(s.size for s in self._segments) + len(self._buffer)

    def append(self, records: list[tuple[int, bytes]]) -> asyncio.Future[None]:
        """Queue framed records for the next group commit; the future resolves once they are durable.

        All or nothing: raises SpoolFull (and queues none) when the batch would
        cross the size bound.
        """
        return self.append_encoded(encode_records(records), len(records))

    def append_encoded(self, data: bytes, count: int) -> asyncio.Future[None]:
        """`append` for `count` records already framed by `spool_format.encode_record` (or its native twin)."""
        if self._closing:
            raise RuntimeError("spool is closed")
        if self.size_bytes + len(data) > self.max_bytes:
            self.records_rejected += count
            if self.full_since is None:
                self.full_since = time.monotonic()
                log.error("SPOOL FULL: %s holds %d bytes (bound %d); refusing new events until it drains "
                          "(is the Kafka broker reachable?)", self.directory, self.size_bytes, self.max_bytes)
            raise SpoolFull(f"spool full ({self.size_bytes} of {self.max_bytes} bytes)")
        if self.full_since is not None:
            log.warning("spool: accepting events again after %.1fs full", time.monotonic() - self.full_since)
            self.full_since = None
        self._buffer += data
        self._pending_records += count
        self.records_appended += count
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        self._wake.set()
        return fut

    async def _commit_loop(self) -> None:
        while True:
            await self._wake.wait()
            if self.commit_interval > 0 and not self._closing:
                await asyncio.sleep(self.commit_interval)
            self._wake.clear()
            if self._buffer:
                await self._commit()
            if self._closing and not self._buffer:
                return

    async def _commit(self) -> None:
        data = bytes(self._buffer)
        waiters = self._waiters
        self._buffer = bytearray()
        self._waiters = []
        self._pending_records = 0
        try:
            async with self._disk:
                await asyncio.to_thread(self._write, self._fd, data)
                self._segments[-1].size += len(data)
                if self._segments[-1].size >= self.segment_bytes:
                    await self._roll_locked()
        except BaseException as exc:
            for w in waiters:
                if not w.done():
                    w.set_exception(exc if isinstance(exc, Exception) else RuntimeError("commit cancelled"))
            if isinstance(exc, asyncio.CancelledError):
                raise
            log.exception("spool: commit failed")
            return
        for w in waiters:
            if not w.done():
                w.set_result(None)
        self.committed.set()

    def _write(self, fd: int, data: bytes) -> None:
        """Disk work of a commit (worker thread): write everything, then fsync."""
        view = memoryview(data)
        while view:
            n = os.write(fd, view)
            view = view[n:]
        if self.fsync:
            os.fdatasync(fd)

    def _create_file(self, sequence: int) -> int:
        """Disk work of a roll (worker thread): create the next segment file."""
        fd = os.open(self.directory / segment_name(sequence), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
        self._fsync_dir()
        return fd

    async def _roll_locked(self) -> None:
        old = self._fd
        sequence = self._segments[-1].sequence + 1
        self._fd = await asyncio.to_thread(self._create_file, sequence)
        self._segments.append(_Segment(sequence, self.directory / segment_name(sequence), 0))
        os.close(old)

    async def roll(self) -> None:
        """Close the active segment (when non-empty) so it can be trimmed once shipped."""
        async with self._disk:
            if self._segments[-1].size > 0:
                await self._roll_locked()

    # ------------------------------------------------------------------ read

    def start_position(self) -> Position:
        """The oldest record still in the spool."""
        return Position(self._segments[0].sequence, 0)

    def read(self, pos: Position, max_bytes: int = 4 << 20) -> tuple[list[tuple[int, bytes]], Position]:
        """Committed records from `pos` (at most about `max_bytes`), and the position after them.

        Moves to the next segment when `pos` is at the end of a closed one.
        """
        return self.read_with(pos, scan_records, max_bytes)

    def read_with(self, pos: Position, scan: Callable[[bytes], tuple[list[T], int]],
                  max_bytes: int = 4 << 20) -> tuple[list[T], Position]:
        """`read`, decoding the bytes with `scan` (items, bytes consumed): the shipper's native scanner."""
        while True:
            seg = self._find(pos.segment)
            if seg is None:  # trimmed or never existed: continue at the oldest segment after it
                later = [s for s in self._segments if s.sequence > pos.segment]
                if not later:
                    return [], pos
                pos = Position(later[0].sequence, 0)
                continue
            if pos.offset >= seg.size:
                if seg is self._segments[-1]:
                    return [], pos
                pos = Position(self._next_sequence(seg.sequence), 0)
                continue
            length = min(seg.size - pos.offset, max_bytes)
            with seg.path.open("rb") as f:
                f.seek(pos.offset)
                data = f.read(length)
            records, consumed = scan(data)
            end = pos.offset + consumed
            if not records:
                if length < seg.size - pos.offset:
                    # One record larger than max_bytes: read it whole.
                    return self.read_with(pos, scan, max_bytes=seg.size - pos.offset)
                log.error("spool: unreadable data in %s at %d; skipping the rest of it", seg.path.name, pos.offset)
                end = seg.size
            return records, Position(seg.sequence, end)

    def _find(self, sequence: int) -> _Segment | None:
        for s in self._segments:
            if s.sequence == sequence:
                return s
        return None

    def _next_sequence(self, sequence: int) -> int:
        for s in self._segments:
            if s.sequence > sequence:
                return s.sequence
        return sequence

    def trim(self, upto: Position) -> int:
        """Delete closed segments entirely before `upto` (everything in them acknowledged); returns bytes freed."""
        freed = 0
        while len(self._segments) > 1:
            seg = self._segments[0]
            fully_read = seg.sequence < upto.segment or (seg.sequence == upto.segment and upto.offset >= seg.size)
            if not fully_read:
                break
            with contextlib.suppress(FileNotFoundError):
                seg.path.unlink()
            freed += seg.size
            self._segments.pop(0)
        if freed and self.full_since is not None and self.size_bytes < self.max_bytes:
            log.warning("spool: %d bytes freed, below the bound again", freed)
        return freed

    def bytes_after(self, pos: Position) -> int:
        """Committed bytes at or after `pos` (what a reader at `pos` has still to read)."""
        total = 0
        for s in self._segments:
            if s.sequence > pos.segment:
                total += s.size
            elif s.sequence == pos.segment:
                total += max(0, s.size - pos.offset)
        return total

    def is_active(self, sequence: int) -> bool:
        return self._segments[-1].sequence == sequence

    @property
    def active_size(self) -> int:
        return self._segments[-1].size

    @property
    def segment_count(self) -> int:
        return len(self._segments)

    # ----------------------------------------------------------------- close

    async def close(self) -> None:
        """Commit what is buffered, stop the commit task, close the file."""
        if self._task is None:
            return
        self._closing = True
        self._wake.set()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


__all__ = ["DEFAULT_COMMIT_INTERVAL_S", "DEFAULT_MAX_BYTES", "DEFAULT_SEGMENT_BYTES", "Position", "Spool",
           "SpoolFull"]
