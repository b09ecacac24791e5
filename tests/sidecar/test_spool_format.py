"""The spool file format (the contract the analytics ingest reads)."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

from splitline.sidecar import spool_format as sf


def test_record_layout_is_length_crc_kind_payload() -> None:
    payload = b"\x0a\x03abc"
    record = sf.encode_record(sf.KIND_OUTCOME, payload)
    assert record[:4] == struct.pack(">I", 5)
    assert record[4:8] == struct.pack(">I", zlib.crc32(payload))
    assert record[8] == 2
    assert record[9:] == payload
    assert sf.KIND_EXPOSURE == 1 and sf.KIND_OUTCOME == 2


def test_segment_paths_sorted_oldest_first_and_ignore_other_files(tmp_path: Path) -> None:
    for seq in (10, 2, 100):
        (tmp_path / sf.segment_name(seq)).write_bytes(b"")
    (tmp_path / "segment-12.log").write_bytes(b"")  # not 20 digits
    (tmp_path / "last-good-snapshot.pb").write_bytes(b"")
    names = [p.name for p in sf.segment_paths(tmp_path)]
    assert names == [f"segment-{2:020d}.log", f"segment-{10:020d}.log", f"segment-{100:020d}.log"]
    assert sf.segment_paths(tmp_path / "missing") == []


def test_iter_records_offsets_and_resume(tmp_path: Path) -> None:
    path = tmp_path / sf.segment_name(0)
    payloads = [bytes([i]) * (i * 7 % 50) for i in range(200)]
    path.write_bytes(b"".join(sf.encode_record(1 + i % 2, p) for i, p in enumerate(payloads)))
    records = list(sf.iter_records(path))
    assert [p for _, _, p in records] == payloads
    assert [k for k, _, _ in records] == [1 + i % 2 for i in range(200)]
    assert records[-1][1] == path.stat().st_size
    # Resume from any record boundary.
    _, mid, _ = records[99]
    assert [p for _, _, p in sf.iter_records(path, mid)] == payloads[100:]


def test_torn_or_corrupt_tail_ends_the_readable_part(tmp_path: Path) -> None:
    good = b"".join(sf.encode_record(1, b"x" * n) for n in (3, 4, 5))
    path = tmp_path / sf.segment_name(7)
    for tail in (sf.encode_record(1, b"torn")[:-1], sf.encode_record(1, b"abc")[:5], b"\x00\x00\x00\x01\x00"):
        path.write_bytes(good + tail)
        assert [len(p) for _, _, p in sf.iter_records(path)] == [3, 4, 5]
        assert sf.valid_length(path) == len(good)
    bad_crc = bytearray(sf.encode_record(1, b"abcdef"))
    bad_crc[-1] ^= 0xFF
    path.write_bytes(good + bytes(bad_crc) + sf.encode_record(1, b"after"))
    assert [len(p) for _, _, p in sf.iter_records(path)] == [3, 4, 5]
    unknown_kind = bytearray(sf.encode_record(1, b"k"))
    unknown_kind[8] = 9
    path.write_bytes(good + bytes(unknown_kind))
    assert len(list(sf.iter_records(path))) == 3


def test_large_segment_read_in_chunks(tmp_path: Path) -> None:
    path = tmp_path / sf.segment_name(1)
    big = [bytes([i % 256]) * 300_000 for i in range(8)]  # crosses the 1 MiB read chunk
    path.write_bytes(b"".join(sf.encode_record(2, p) for p in big))
    assert [p for _, _, p in sf.iter_records(path)] == big
