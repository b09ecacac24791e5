"""The native assignment index: the Go core as a shared library, behind ctypes.

Why: ~60 µs of Python per fast-path request (decode, evaluate, encode) is the
sidecar's ceiling on small machines; the Go core (same contract, same vectors
file, the 100k-case differential test) answers in a few microseconds. The
library is built from `sdk_go/cmd/libsplitline` by `make setup` into this
package's `_native/` folder; `SPLITLINE_NATIVE_LIB` points elsewhere.

The library answers only well-formed Assign requests within the sidecar's
limits that do not ask to log exposures; every other frame is handed back and
answered by the Python code (splitline.sidecar.requests), which stays the one
place for error messages, field names and event rules. Without the library
the sidecar serves everything in Python, with the same answers.
"""

from __future__ import annotations

import ctypes
import functools
import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

log = logging.getLogger("splitline.sidecar.native")

LIBRARY_NAME: Final = "libsplitline.so"
DEFAULT_PATH: Final = Path(__file__).resolve().parent / "_native" / LIBRARY_NAME

SERVE_INCOMPLETE: Final = 0
SERVE_CALLER: Final = 1
SERVE_OUT_FULL: Final = 2
SERVE_BAD_HANDLE: Final = -1

_STATS_HEAD: Final = 4
OUT_BYTES: Final = 256 * 1024


def library_path() -> Path:
    return Path(os.environ.get("SPLITLINE_NATIVE_LIB") or DEFAULT_PATH)


@functools.cache
def _open() -> tuple[ctypes.CDLL | None, str | None]:
    path = library_path()
    try:
        lib = ctypes.CDLL(str(path))
    except OSError as exc:
        return None, f"{path}: {exc}"
    i64, ptr = ctypes.c_longlong, ctypes.c_void_p
    lib.SplitlineCompile.argtypes = [ctypes.c_char_p, i64]
    lib.SplitlineCompile.restype = i64
    lib.SplitlineRelease.argtypes = [i64]
    lib.SplitlineRelease.restype = None
    lib.SplitlineAssign.argtypes = [i64, ctypes.c_char_p, i64, ptr, i64]
    lib.SplitlineAssign.restype = i64
    lib.SplitlineServe.argtypes = [i64, ctypes.c_char_p, i64, i64, ptr, i64, ptr, i64, ptr]
    lib.SplitlineServe.restype = i64
    lib.SplitlineSpoolEvents.argtypes = [i64, ctypes.c_char_p, i64, i64, i64, ptr, i64, ptr]
    lib.SplitlineSpoolEvents.restype = i64
    lib.SplitlineScanSpool.argtypes = [ctypes.c_char_p, i64, i64, ptr, i64, ptr]
    lib.SplitlineScanSpool.restype = i64
    return lib, None


def load() -> ctypes.CDLL | None:
    """The shared library, loaded once per process; None (the reason in `load_error()`) when unavailable."""
    return _open()[0]


def load_error() -> str | None:
    return _open()[1]


class NativeIndex:
    """One snapshot compiled by the Go core; released when garbage collected."""

    __slots__ = ("__weakref__", "_handle", "_lib")

    def __init__(self, lib: ctypes.CDLL, handle: int) -> None:
        self._lib = lib
        self._handle = handle

    @classmethod
    def compile(cls, serialized_snapshot: bytes) -> NativeIndex | None:
        """None when the library is missing or refuses the snapshot (the Python core then serves)."""
        lib = load()
        if lib is None:
            return None
        handle = int(lib.SplitlineCompile(serialized_snapshot, len(serialized_snapshot)))
        return cls(lib, handle) if handle > 0 else None

    @property
    def handle(self) -> int:
        return self._handle

    def __del__(self) -> None:
        lib = getattr(self, "_lib", None)
        if lib is not None:
            lib.SplitlineRelease(self._handle)


@dataclass(slots=True)
class ServeResult:
    status: int
    position: int  # input offset reached
    output: bytes  # response frames, ready to write
    answered: int
    latency_sum_s: float
    latency_counts: list[int]  # per bucket of the bounds given to FrameServer, +Inf last


class FrameServer:
    """Per-connection buffers for `SplitlineServe` (reused across calls; not thread safe)."""

    __slots__ = ("_bounds", "_bounds_addr", "_nbounds", "_out", "_out_addr", "_serve", "_stats", "_stats_addr",
                 "_stats_len")

    def __init__(self, lib: ctypes.CDLL, bounds: Sequence[float]) -> None:
        self._serve = lib.SplitlineServe
        self._out = ctypes.create_string_buffer(OUT_BYTES)
        self._out_addr = ctypes.addressof(self._out)
        self._nbounds = len(bounds)
        self._bounds = (ctypes.c_double * len(bounds))(*bounds)
        self._bounds_addr = ctypes.addressof(self._bounds)
        self._stats_len = _STATS_HEAD + len(bounds) + 1
        self._stats = (ctypes.c_longlong * self._stats_len)()
        self._stats_addr = ctypes.addressof(self._stats)

    def serve(self, index: NativeIndex, data: bytes, start: int) -> ServeResult:
        """Answer the frames of data[start:] until one is the caller's, the input ends or the output fills."""
        status = int(self._serve(index.handle, data, start, len(data), self._out_addr, OUT_BYTES,
                                 self._bounds_addr, self._nbounds, self._stats_addr))
        st = self._stats
        n_out = st[1]
        return ServeResult(status, st[0], ctypes.string_at(self._out_addr, n_out) if n_out else b"", st[2],
                           st[3] / 1e9, st[_STATS_HEAD:self._stats_len])


def assign(index: NativeIndex, request: bytes, out: ctypes.Array[ctypes.c_char]) -> bytes | None:
    """A serialized AssignResponse for a serialized AssignRequest; None when the caller must answer."""
    n = int(index._lib.SplitlineAssign(index.handle, request, len(request), ctypes.addressof(out), len(out)))
    return ctypes.string_at(ctypes.addressof(out), n) if n >= 0 else None


_buffers = threading.local()  # per thread: tests run several sidecars, each on its own loop thread


def _scratch(size: int) -> ctypes.Array[ctypes.c_char]:
    buf: ctypes.Array[ctypes.c_char] | None = getattr(_buffers, "out", None)
    if buf is None or len(buf) < size:
        buf = _buffers.out = ctypes.create_string_buffer(max(size, 1 << 20))
    return buf


# Per event, stamping adds at most an id (38 bytes) and a timestamp (~14); a record header is 9 bytes and
# an event in a request takes at least 6 bytes (its tag, length and two required fields).
_WORST_GROWTH: Final = (6 + 61) // 6 + 1


def spool_events(lib: ctypes.CDLL, kind: int, data: bytes, start: int, end: int,
                 now_ns: int) -> tuple[bytes, int] | None:
    """Spool records for the events of a parsed LogExposuresRequest/TrackRequest in data[start:end].

    The rules of `requests.raw_event_records` for well-formed events; None
    when any event breaks one, so that the caller's code answers and names the
    field. Returns (encoded records, count).
    """
    size = 2 * (end - start) + 4096
    written = ctypes.c_longlong(0)
    while True:
        out = _scratch(size)
        count = int(lib.SplitlineSpoolEvents(kind, data, start, end, now_ns, ctypes.addressof(out), len(out),
                                             ctypes.addressof(written)))
        if count == -2 and size < _WORST_GROWTH * (end - start) + 4096:
            size = _WORST_GROWTH * (end - start) + 4096
            continue
        if count < 0:
            return None
        return ctypes.string_at(ctypes.addressof(out), written.value), count


_SCAN_BATCH: Final = 4096  # records per call (the output array is reused per thread)


def scan_spool(lib: ctypes.CDLL, data: bytes) -> tuple[list[tuple[int, bytes, bytes, int]], int] | None:
    """Records of a spool chunk as (kind, payload, Kafka key, key hash), and the bytes they span.

    `spool_format.iter_buffer` plus `requests.event_key` and the key's
    MurmurHash3 in one native pass; stops at the first torn or corrupt record.
    None if the library failed (the caller then reads the chunk itself).
    """
    out: ctypes.Array[ctypes.c_longlong] | None = getattr(_buffers, "scan", None)
    if out is None:
        out = _buffers.scan = (ctypes.c_longlong * (6 * _SCAN_BATCH))()
    consumed = ctypes.c_longlong(0)
    items: list[tuple[int, bytes, bytes, int]] = []
    base = 0
    while True:
        n = int(lib.SplitlineScanSpool(data, base, len(data), ctypes.addressof(out), _SCAN_BATCH,
                                       ctypes.addressof(consumed)))
        if n < 0:
            return None
        flat = memoryview(out).cast("B").cast("q")[:6 * n].tolist()
        for i in range(0, 6 * n, 6):
            po, ko = flat[i + 1], flat[i + 3]
            items.append((flat[i], data[po:po + flat[i + 2]], data[ko:ko + flat[i + 4]], flat[i + 5]))
        base = consumed.value
        if n < _SCAN_BATCH:
            return items, base


__all__ = ["FrameServer", "NativeIndex", "ServeResult", "assign", "library_path", "load",
           "load_error", "scan_spool", "spool_events"]
