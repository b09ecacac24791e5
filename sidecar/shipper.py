"""Ships spooled events to Kafka; trims the spool only after the broker acknowledged.

The shipper reads committed records from the spool by position, produces them
(acks=all, compression, keyed by unit id) and waits for every acknowledgement
of a chunk before it moves its position and trims fully acknowledged segments.
Any failure (broker down, timeout, producer fenced) restarts the producer and
re-sends from the last acknowledged position: duplicates are possible, loss is
not, and analysis deduplicates on event_id. A restart of the sidecar re-sends
everything still in the spool for the same reason.

Partitioning: murmur3 (C, via mmh3) of the key modulo the partition count,
stable for a unit id so that one unit's events keep their order. It differs
from the Java client's murmur2 default on purpose: the pure-Python murmur2 costs
more than everything else per event.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import mmh3
from splitline.sidecar import native
from splitline.sidecar.requests import event_key
from splitline.sidecar.spool import Position, Spool
from splitline.sidecar.spool_format import KIND_EXPOSURE, KIND_OUTCOME, scan_records

log = logging.getLogger("splitline.sidecar.shipper")

ROLL_WHEN_CAUGHT_UP_BYTES: Final = 1 << 20
BACKOFF_MIN_S: Final = 0.2
BACKOFF_MAX_S: Final = 5.0


@dataclass(frozen=True, slots=True)
class KafkaSettings:
    """How to reach Kafka and what to produce."""

    bootstrap_servers: str
    exposures_topic: str = "exposures"
    outcomes_topic: str = "outcomes"
    compression: str | None = "lz4"
    idempotent: bool = True
    linger_ms: int = 5
    request_timeout_ms: int = 15_000
    chunk_bytes: int = 4 << 20


def partition_for(key: bytes, partitions: int) -> int:
    """Stable partition of a unit id (the shipper computes the same from a batch of hashes)."""
    return int(mmh3.hash(key, 0, False)) % partitions


class Shipper:
    """The background task moving spool records into Kafka topics."""

    def __init__(self, spool: Spool, settings: KafkaSettings,
                 on_shipped: Callable[[int, int], None] | None = None, native_lib: ctypes.CDLL | None = None) -> None:
        self.spool = spool
        self.native_lib = native_lib  # finds keys and their hashes natively when set (same rule)
        self.settings = settings
        self.on_shipped = on_shipped  # (kind, count) for metrics
        self.position: Position | None = None
        self.shipped = 0
        self.failures = 0
        self.connected = False
        self.last_ack: float | None = None
        self._producer: Any = None
        self._partitions: dict[str, int] = {}
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def start(self) -> None:
        self.position = self.spool.start_position()
        self._task = asyncio.create_task(self._run(), name="kafka-shipper")

    async def stop(self, drain_timeout: float = 5.0) -> None:
        """Ship what is already spooled (for up to `drain_timeout`), then stop."""
        if self._task is None:
            return
        deadline = time.monotonic() + drain_timeout
        while self.connected and self.pending_bytes() > 0 and time.monotonic() < deadline:
            self.spool.committed.set()
            await asyncio.sleep(0.05)
        self._stopping = True
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None
        await self._close_producer()

    def pending_bytes(self) -> int:
        """Spooled bytes not yet acknowledged by the broker."""
        return self.spool.size_bytes if self.position is None else self.spool.bytes_after(self.position)

    # ---------------------------------------------------------------- producer

    async def _open_producer(self) -> None:
        from aiokafka import AIOKafkaProducer

        s = self.settings
        producer = AIOKafkaProducer(
            bootstrap_servers=s.bootstrap_servers, acks="all", enable_idempotence=s.idempotent,
            compression_type=s.compression, linger_ms=s.linger_ms, max_batch_size=1 << 20,
            request_timeout_ms=s.request_timeout_ms, retry_backoff_ms=100, client_id="splitline-sidecar",
        )
        try:
            await producer.start()
        except Exception:
            with contextlib.suppress(Exception):
                await producer.stop()
            raise
        self._producer = producer
        self._partitions = {}
        for topic in (s.exposures_topic, s.outcomes_topic):
            parts = await asyncio.wait_for(producer.partitions_for(topic), s.request_timeout_ms / 1000)
            self._partitions[topic] = len(parts)
        if not self.connected:
            log.info("shipper: connected to Kafka %s (%s)", s.bootstrap_servers,
                     ", ".join(f"{t}: {n} partitions" for t, n in self._partitions.items()))
        self.connected = True

    async def _close_producer(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(producer.stop(), 10)

    # -------------------------------------------------------------------- loop

    async def _run(self) -> None:
        delay = BACKOFF_MIN_S
        while True:
            try:
                if self._producer is None:
                    await self._open_producer()
                await self._pump()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.failures += 1
                if self.connected:
                    log.warning("shipper: Kafka unavailable (%r); events stay spooled, retrying", exc)
                self.connected = False
                await self._close_producer()
                await asyncio.sleep(delay)
                delay = min(delay * 2, BACKOFF_MAX_S)
            else:
                delay = BACKOFF_MIN_S

    async def _pump(self) -> None:
        """Ship until caught up, then wait for the next commit; raises on any broker failure."""
        assert self.position is not None
        while True:
            self.spool.committed.clear()  # before reading, so a commit during the read is not missed
            records, next_pos = self.spool.read_with(self.position, self._scan, self.settings.chunk_bytes)
            if not records:
                if next_pos != self.position:
                    self.position = next_pos
                    self.spool.trim(next_pos)
                    continue
                if self.spool.active_size >= ROLL_WHEN_CAUGHT_UP_BYTES and \
                        self.spool.is_active(self.position.segment):
                    await self.spool.roll()
                    continue
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.spool.committed.wait(), 1.0)
                continue
            await self._send(records)
            self.position = next_pos
            self.spool.trim(next_pos)

    def _scan(self, data: bytes) -> tuple[list[tuple[int, bytes, bytes, int]], int]:
        """Spool records as (kind, payload, key, key hash), natively when the library is loaded."""
        if self.native_lib is not None:
            scanned = native.scan_spool(self.native_lib, data)
            if scanned is not None:
                return scanned
        records, consumed = scan_records(data)
        keys = [event_key(kind, payload) for kind, payload in records]
        return [(k, p, key, mmh3.hash(key, 0, False)) for (k, p), key in zip(records, keys, strict=True)], consumed

    async def _send(self, records: list[tuple[int, bytes, bytes, int]]) -> None:
        producer = self._producer
        s = self.settings
        batches: dict[tuple[str, int], Any] = {}
        futures: list[asyncio.Future[Any]] = []
        counts = {1: 0, 2: 0}
        topics = {KIND_EXPOSURE: s.exposures_topic, KIND_OUTCOME: s.outcomes_topic}
        for kind, payload, key, key_hash in records:
            topic = topics[kind]
            part = key_hash % self._partitions[topic]
            slot = (topic, part)
            batch = batches.get(slot)
            if batch is None:
                batch = batches[slot] = producer.create_batch()
            if batch.append(key=key, value=payload, timestamp=None) is None:
                batch.close()
                futures.append(await producer.send_batch(batch, topic, partition=part))
                batch = batches[slot] = producer.create_batch()
                batch.append(key=key, value=payload, timestamp=None)
            counts[kind] += 1
        for (topic, part), batch in batches.items():
            batch.close()
            futures.append(await producer.send_batch(batch, topic, partition=part))
        timeout = s.request_timeout_ms / 1000 * 2
        await asyncio.wait_for(asyncio.gather(*futures), timeout)
        self.shipped += len(records)
        self.last_ack = time.time()
        if self.on_shipped is not None:
            for kind, n in counts.items():
                if n:
                    self.on_shipped(kind, n)


__all__ = ["KafkaSettings", "Shipper", "partition_for"]
