"""The write-ahead spool: durability before acknowledgement, bounds, recovery, trimming."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from splitline.sidecar.spool import Position, Spool, SpoolFull
from splitline.sidecar.spool_format import encode_record, iter_records, segment_paths


def _all_payloads(directory: Path) -> list[bytes]:
    return [p for path in segment_paths(directory) for _, _, p in iter_records(path)]


async def test_append_resolves_after_the_bytes_are_on_disk(tmp_path: Path) -> None:
    spool = Spool(tmp_path, commit_interval=0.001)
    await spool.open()
    fut = spool.append([(1, b"a"), (2, b"bb")])
    assert _all_payloads(tmp_path) == []  # not yet committed
    await fut
    assert _all_payloads(tmp_path) == [b"a", b"bb"]
    await spool.close()


async def test_group_commit_shares_one_write(tmp_path: Path) -> None:
    spool = Spool(tmp_path, commit_interval=0.01)
    await spool.open()
    futures = [spool.append([(1, bytes([i]))]) for i in range(100)]
    await asyncio.gather(*futures)
    assert _all_payloads(tmp_path) == [bytes([i]) for i in range(100)]
    await spool.close()


async def test_full_spool_refuses_whole_batches_and_recovers_after_trim(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=1000, segment_bytes=300, commit_interval=0)
    await spool.open()
    await spool.append([(1, b"x" * 91)] * 5)  # 5 x 100 bytes
    with pytest.raises(SpoolFull):
        spool.append([(1, b"x" * 91)] * 6)
    assert spool.records_rejected == 6
    await spool.append([(1, b"x" * 91)] * 5)
    with pytest.raises(SpoolFull):
        spool.append([(1, b"y")])
    # Read everything, then trim: the closed segments go away and space frees up.
    pos = spool.start_position()
    n = 0
    while True:
        records, pos = spool.read(pos)
        if not records:
            break
        n += len(records)
    assert n == 10
    await spool.roll()
    records, pos = spool.read(pos)
    assert records == []
    freed = spool.trim(pos)
    assert freed == 1000
    await spool.append([(2, b"z")])
    await spool.close()


async def test_recovery_truncates_a_torn_tail_and_keeps_old_segments(tmp_path: Path) -> None:
    spool = Spool(tmp_path, commit_interval=0)
    await spool.open()
    await spool.append([(1, b"one"), (1, b"two")])
    await spool.close()
    last = segment_paths(tmp_path)[-1]
    with last.open("ab") as f:
        f.write(encode_record(1, b"three")[:-2])  # a crash mid-write
    again = Spool(tmp_path, commit_interval=0)
    await again.open()
    assert _all_payloads(tmp_path) == [b"one", b"two"]
    await again.append([(2, b"four")])
    assert _all_payloads(tmp_path) == [b"one", b"two", b"four"]
    assert len(segment_paths(tmp_path)) == 2  # writing continues in a fresh segment
    records, _ = again.read(again.start_position())
    assert records == [(1, b"one"), (1, b"two")]
    await again.close()


async def test_read_walks_segments_and_trim_keeps_the_active_one(tmp_path: Path) -> None:
    spool = Spool(tmp_path, segment_bytes=50, commit_interval=0)
    await spool.open()
    for i in range(10):
        await spool.append([(1, bytes([i]) * 20)])
    pos = spool.start_position()
    seen: list[bytes] = []
    while True:
        records, pos = spool.read(pos, max_bytes=40)
        if not records:
            break
        seen.extend(p for _, p in records)
    assert seen == [bytes([i]) * 20 for i in range(10)]
    spool.trim(pos)
    assert spool.segment_count == 1
    assert spool.size_bytes == spool.active_size
    # A stale position (trimmed segment) continues at the oldest remaining one.
    records, _ = spool.read(Position(0, 0))
    assert records == []
    await spool.close()
