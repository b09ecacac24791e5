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


__all__ = ["FrameServer", "NativeIndex", "ServeResult", "assign", "library_path", "load", "load_error"]
