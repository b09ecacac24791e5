"""The embedded store's own guarantees: durability across reopen, CAS, watch, compaction."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from splitline.control_plane.store import Compacted, Conflict, EmbeddedStore


async def test_reopen_keeps_revisions_and_values(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path)
    r1 = await store.commit({"/a": 0}, {"/a": b"1"})
    r2 = await store.commit({"/a": r1}, {"/a": b"2", "/b": b"x"})
    with pytest.raises(Conflict):
        await store.commit({"/a": r1}, {"/a": b"3"})
    await store.close()
    reopened = EmbeddedStore(tmp_path)
    entry = await reopened.get("/a")
    assert entry is not None and entry.value == b"2" and entry.mod_revision == r2
    entries, rev = await reopened.list("/")
    assert [e.key for e in entries] == ["/a", "/b"] and rev == r2
    batches = []
    async for batch in reopened.watch("/", r1):
        batches.append(batch)
        if batch.revision == r2:
            break
    assert [b.revision for b in batches] == [r1, r2]
    await reopened.close()


async def test_torn_last_line_is_ignored(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path)
    await store.commit({}, {"/a": b"1"})
    await store.close()
    with (tmp_path / "splitline-store.jsonl").open("a") as fh:
        fh.write('{"rev": 3, "put": {"/a": "')
    reopened = EmbeddedStore(tmp_path)
    assert (await reopened.get("/a")) is not None
    await reopened.close()


async def test_watch_live_and_compaction(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path)
    r1 = await store.commit({}, {"/x/a": b"1", "/y/b": b"2"})
    seen: list[int] = []

    async def follow() -> None:
        async for batch in store.watch("/x/", r1 + 1):
            seen.append(batch.revision)
            return

    task = asyncio.create_task(follow())
    await asyncio.sleep(0)
    await store.commit({}, {"/y/c": b"3"})  # outside the prefix: not delivered
    r3 = await store.commit({}, {"/x/d": b"4"})
    await asyncio.wait_for(task, 5)
    assert seen == [r3]
    await store.compact(r3)
    with pytest.raises(Compacted):
        async for _ in store.watch("/", r1):
            break
    await store.close()
    reopened = EmbeddedStore(tmp_path)
    assert (await reopened.get("/x/d")) is not None and reopened.revision == r3
    await reopened.close()


async def test_auto_compaction_bounds_history_and_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from splitline.control_plane.store import embedded

    monkeypatch.setattr(embedded, "HISTORY_KEEP", 5)
    store = EmbeddedStore(tmp_path)
    revs = [await store.commit({}, {"/k": str(i).encode()}) for i in range(12)]
    with pytest.raises(Compacted):
        async for _ in store.watch("/", revs[0]):
            break
    lines = (tmp_path / "splitline-store.jsonl").read_text().splitlines()
    assert len(lines) < 12  # rewritten with a base record
    await store.close()
    reopened = EmbeddedStore(tmp_path)
    entry = await reopened.get("/k")
    assert entry is not None and entry.value == b"11" and reopened.revision == revs[-1]
    await reopened.close()
