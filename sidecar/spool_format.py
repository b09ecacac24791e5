"""The on-disk spool format: segment files of framed Exposure/Outcome records.

This is a contract between the sidecar (writer) and the analytics ingest
(reader, in embedded mode), so it lives in one small module with no dependency
beyond the standard library: a reader imports it without the sidecar's
transports.

A spool directory holds segment files named ``segment-<20-digit sequence>.log``;
a higher sequence is newer. Each record is

    4 bytes  big-endian payload length N
    4 bytes  big-endian zlib.crc32(payload)
    1 byte   kind: 1 = splitline.v1.Exposure, 2 = splitline.v1.Outcome
    N bytes  the serialized protobuf message

A torn or corrupt record (short read, bad CRC, unknown kind) ends the readable
part of a segment: a crash can only tear the tail, and writers truncate it when
they recover.
"""

from __future__ import annotations

import re
import struct
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Final

KIND_EXPOSURE: Final = 1
KIND_OUTCOME: Final = 2
KINDS: Final = frozenset({KIND_EXPOSURE, KIND_OUTCOME})

HEADER: Final = struct.Struct(">IIB")
HEADER_SIZE: Final = HEADER.size  # 9
# A record larger than this is corruption, not data (events are small).
MAX_RECORD_BYTES: Final = 16 * 1024 * 1024

SEGMENT_PREFIX: Final = "segment-"
SEGMENT_SUFFIX: Final = ".log"
_SEGMENT_RE: Final = re.compile(r"^segment-(\d{20})\.log$")

_READ_CHUNK: Final = 1 << 20


def segment_name(sequence: int) -> str:
    """File name of the segment with this sequence number."""
    return f"{SEGMENT_PREFIX}{sequence:020d}{SEGMENT_SUFFIX}"


def segment_sequence(path: Path) -> int | None:
    """The sequence number in a segment's file name, None for other files."""
    match = _SEGMENT_RE.match(path.name)
    return int(match.group(1)) if match else None


def segment_paths(spool_dir: Path) -> list[Path]:
    """Segment files in `spool_dir`, oldest first (empty when the directory is missing)."""
    try:
        entries = list(Path(spool_dir).iterdir())
    except FileNotFoundError:
        return []
    found = [(seq, p) for p in entries if (seq := segment_sequence(p)) is not None]
    return [p for _, p in sorted(found)]


def encode_record(kind: int, payload: bytes) -> bytes:
    """One framed record (header + payload)."""
    if kind not in KINDS:
        raise ValueError(f"unknown record kind {kind}")
    return HEADER.pack(len(payload), zlib.crc32(payload), kind) + payload


def encode_records(records: Iterable[tuple[int, bytes]]) -> bytes:
    """Framed records laid end to end (what a spool append writes)."""
    return b"".join(encode_record(kind, payload) for kind, payload in records)


def iter_buffer(data: bytes | memoryview, start_offset: int = 0) -> Iterator[tuple[int, int, bytes]]:
    """Records in an in-memory segment image: (kind, next_offset, payload); stops at a bad record."""
    view = memoryview(data)
    offset = start_offset
    end = len(view)
    while offset + HEADER_SIZE <= end:
        length, crc, kind = HEADER.unpack_from(view, offset)
        body = offset + HEADER_SIZE
        if kind not in KINDS or length > MAX_RECORD_BYTES or body + length > end:
            return
        payload = bytes(view[body:body + length])
        if zlib.crc32(payload) != crc:
            return
        offset = body + length
        yield kind, offset, payload


def scan_records(data: bytes) -> tuple[list[tuple[int, bytes]], int]:
    """(kind, payload) of each valid record of an in-memory chunk, and the bytes they span."""
    records: list[tuple[int, bytes]] = []
    consumed = 0
    for kind, next_offset, payload in iter_buffer(data):
        records.append((kind, payload))
        consumed = next_offset
    return records, consumed


def iter_records(path: Path, start_offset: int = 0) -> Iterator[tuple[int, int, bytes]]:
    """Each complete, valid record of a segment from `start_offset`: (kind, next_offset, payload).

    Reads in chunks, so a large segment does not need to fit in memory twice.
    Stops at the first torn or corrupt record.
    """
    with Path(path).open("rb") as f:
        f.seek(start_offset)
        offset = start_offset
        buf = b""
        while True:
            chunk = f.read(_READ_CHUNK)
            if chunk:
                buf += chunk
            pos = 0
            while pos + HEADER_SIZE <= len(buf):
                length, crc, kind = HEADER.unpack_from(buf, pos)
                if kind not in KINDS or length > MAX_RECORD_BYTES:
                    return
                body = pos + HEADER_SIZE
                if body + length > len(buf):
                    break
                payload = buf[body:body + length]
                if zlib.crc32(payload) != crc:
                    return
                pos = body + length
                yield kind, offset + pos, payload
            offset += pos
            buf = buf[pos:]
            if not chunk:
                return


def valid_length(path: Path) -> int:
    """Byte length of the readable prefix of a segment (where a writer truncates a torn tail)."""
    end = 0
    for _, next_offset, _ in iter_records(path):
        end = next_offset
    return end


__all__ = [
    "HEADER_SIZE",
    "KIND_EXPOSURE",
    "KIND_OUTCOME",
    "MAX_RECORD_BYTES",
    "encode_record",
    "encode_records",
    "iter_buffer",
    "iter_records",
    "scan_records",
    "segment_name",
    "segment_paths",
    "segment_sequence",
    "valid_length",
]
