"""The etcd adapter (aetcd, asyncio): etcd's own revisions, txns and watches.

Every aetcd/gRPC failure that means "etcd is not there" becomes
`StoreUnavailable` naming the endpoint, here and nowhere else. The channel's
reconnect backoff is kept short so that writes work again within a second of
etcd coming back.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, Final

import aetcd
import aetcd.exceptions
import aetcd.rpc
import grpc
from splitline.control_plane.store.base import (
    Change,
    ChangeBatch,
    Compacted,
    Conflict,
    Entry,
    Store,
    StoreUnavailable,
)

RPC_TIMEOUT_S: Final = 5
CHANNEL_OPTIONS: Final = {
    "grpc.initial_reconnect_backoff_ms": 100,
    "grpc.min_reconnect_backoff_ms": 100,
    "grpc.max_reconnect_backoff_ms": 1000,
    "grpc.max_receive_message_length": 64 * 1024 * 1024,
}
_DOWN: Final = (
    aetcd.exceptions.ConnectionFailedError,
    aetcd.exceptions.ConnectionTimeoutError,
    aetcd.exceptions.InternalError,
    aetcd.exceptions.WatchTimeoutError,
    grpc.aio.AioRpcError,
    OSError,
    asyncio.TimeoutError,
)


def _prefix_end(prefix: bytes) -> bytes:
    """etcd's range end for "every key starting with prefix"."""
    end = bytearray(prefix)
    for i in reversed(range(len(end))):
        if end[i] < 0xFF:
            end[i] += 1
            return bytes(end[: i + 1])
    return b"\0"


class EtcdStore(Store):
    """A `Store` on a real etcd (3.4+) endpoint `host:port`."""

    def __init__(self, endpoint: str, namespace: str = "") -> None:
        """`namespace` prefixes every key, so several control planes (or tests) can share one etcd."""
        host, _, port = endpoint.rpartition(":")
        self._endpoint = endpoint
        self._ns = namespace
        self._client = aetcd.Client(
            host=host or "127.0.0.1", port=int(port), timeout=RPC_TIMEOUT_S, options=dict(CHANNEL_OPTIONS)
        )

    @property
    def description(self) -> str:
        return f"etcd at {self._endpoint}"

    def _unavailable(self, exc: BaseException) -> StoreUnavailable:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return StoreUnavailable(f"{self.description} is unavailable ({detail[:200]})")

    async def get(self, key: str) -> Entry | None:
        try:
            found: Any = await self._client.get((self._ns + key).encode())
        except _DOWN as exc:
            raise self._unavailable(exc) from exc
        return None if found is None else Entry(key, bytes(found.value), int(found.mod_revision))

    async def list(self, prefix: str) -> tuple[list[Entry], int]:
        try:
            result: Any = await self._client.get_prefix((self._ns + prefix).encode(), sort_order="ascend")
        except _DOWN as exc:
            raise self._unavailable(exc) from exc
        entries = [Entry(kv.key.decode()[len(self._ns) :], bytes(kv.value), int(kv.mod_revision)) for kv in result.kvs]
        return entries, int(result.header.revision)

    async def commit(
        self,
        expect: Mapping[str, int],
        puts: Mapping[str, bytes],
        deletes: Sequence[str] = (),
    ) -> int:
        if not puts:
            raise ValueError("a commit needs at least one put")
        txn = self._client.transactions
        compare = [txn.mod((self._ns + key).encode()) == mod for key, mod in expect.items()]
        ops = [txn.put((self._ns + k).encode(), v) for k, v in puts.items()]
        ops.extend(txn.delete((self._ns + k).encode()) for k in deletes)
        try:
            succeeded, responses = await self._client.transaction(compare=compare, success=ops, failure=[])
        except _DOWN as exc:
            raise self._unavailable(exc) from exc
        if not succeeded:
            raise Conflict("a key changed since it was read")
        return int(responses[0].response_put.header.revision)

    async def watch(self, prefix: str, from_revision: int) -> AsyncIterator[ChangeBatch]:
        # aetcd hands events one by one; all events of one etcd watch response are
        # queued without a suspension point, so draining the queue after the first
        # event yields whole commits (one commit = one response, fragment=False).
        queue: asyncio.Queue[Any] = asyncio.Queue()

        async def on_event(event: Any) -> None:
            queue.put_nowait(event)

        key = (self._ns + prefix).encode()
        await self._check_not_compacted(key, from_revision)
        try:
            await self._client.connect()
            watcher: Any = self._client._watcher
            callback = await watcher.add_callback(
                key, on_event, range_end=_prefix_end(key), start_revision=max(from_revision, 1)
            )
        except aetcd.exceptions.RevisionCompactedError as exc:
            raise Compacted(int(exc.compacted_revision)) from exc
        except _DOWN as exc:
            raise self._unavailable(exc) from exc
        try:
            while True:
                items = [await queue.get()]
                while not queue.empty():
                    items.append(queue.get_nowait())
                batches: list[ChangeBatch] = []
                changes: list[Change] = []
                current = -1
                for item in items:
                    if isinstance(item, aetcd.exceptions.RevisionCompactedError):
                        raise Compacted(int(item.compacted_revision))
                    if isinstance(item, BaseException):
                        raise self._unavailable(item)
                    if item is None:  # aetcd's watch stream was shut down (client closing)
                        raise StoreUnavailable(f"{self.description}: watch stream closed")
                    rev = int(item.kv.mod_revision)
                    if rev != current and changes:
                        batches.append(ChangeBatch(current, tuple(changes)))
                        changes = []
                    current = rev
                    value = None if item.kind == "DELETE" else bytes(item.kv.value)
                    changes.append(Change(item.kv.key.decode()[len(self._ns) :], value))
                if changes:
                    batches.append(ChangeBatch(current, tuple(changes)))
                for batch in batches:
                    yield batch
        finally:
            watch_id = getattr(callback, "watch_id", None)
            if watch_id is not None:
                with contextlib.suppress(Exception):  # the stream may already be gone with etcd
                    await watcher.cancel(watch_id)

    async def _check_not_compacted(self, key: bytes, from_revision: int) -> None:
        """Ask for the range at `from_revision` first: etcd answers "compacted" at once.

        A watch created on a compacted revision reports it asynchronously, and aetcd
        1.0.0 can miss that report (the watch then stays silent), so we check up front.
        """
        if from_revision <= 1:
            return
        try:
            await self._client.connect()
            request = aetcd.rpc.RangeRequest(
                key=key, range_end=_prefix_end(key), revision=from_revision, limit=1, keys_only=True
            )
            await self._client.kvstub.Range(request, timeout=RPC_TIMEOUT_S, metadata=self._client.metadata)
        except grpc.aio.AioRpcError as exc:
            details = exc.details() or ""
            if "compacted" in details:
                raise Compacted(from_revision) from exc
            if exc.code() == grpc.StatusCode.OUT_OF_RANGE:
                return  # a future revision: the watch will wait for it
            raise self._unavailable(exc) from exc
        except _DOWN as exc:
            raise self._unavailable(exc) from exc

    async def compact(self, revision: int) -> None:
        try:
            await self._client.compact(revision, physical=True)
        except _DOWN as exc:
            raise self._unavailable(exc) from exc

    async def close(self) -> None:
        await self._client.close()
