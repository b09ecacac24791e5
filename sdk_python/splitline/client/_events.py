"""Exposure dedup and the bounded event queues between the caller and the sidecar.

Layered as in Optimizely's event pipeline: the hot path appends a small tuple
(no protobuf, no UUID, no clock beyond `time.time_ns`) to a bounded queue; the
background sender turns a batch of tuples into protobuf events once, gives each
its event_id then, and keeps that batch (same ids) until the sidecar accepts it,
so a retry after a sidecar restart is deduplicated downstream.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable
from typing import Final, Generic, TypeVar

DEFAULT_DEDUP_SIZE: Final = 100_000
DEFAULT_MAX_BUFFERED: Final = 100_000
DEFAULT_BATCH_SIZE: Final = 500
# Events built per GIL hold by the background sender (see EventQueue.next_batch).
BUILD_CHUNK: Final = 4

T = TypeVar("T")
P = TypeVar("P")


class ExposureDedup:
    """A bounded LRU of exposures already logged by this process.

    Keyed by (experiment, unit type, unit id, variant): a unit that moves to
    another variant (an override, a re-allocation) is logged again, which is
    what lets analysis see and drop it. Least recently seen keys fall out first.
    """

    __slots__ = ("_max", "_seen")

    def __init__(self, max_size: int = DEFAULT_DEDUP_SIZE) -> None:
        self._max = max(1, max_size)
        self._seen: OrderedDict[Hashable, None] = OrderedDict()

    def first_time(self, key: Hashable) -> bool:
        """True (and remember `key`) when `key` was not seen recently; the caller holds the lock."""
        seen = self._seen
        if key in seen:
            seen.move_to_end(key)
            return False
        seen[key] = None
        if len(seen) > self._max:
            seen.popitem(last=False)
        return True

    def forget(self, key: Hashable) -> None:
        self._seen.pop(key, None)

    def __len__(self) -> int:
        return len(self._seen)


class EventQueue(Generic[T, P]):
    """A bounded FIFO of raw events plus the one batch being delivered.

    When full, new events are refused (and counted) rather than old ones
    evicted: for exposures the first one defines the unit's start in analysis.
    `completed` counts events delivered or given up, in order, so `flush`
    can wait for everything queued before it was called.
    """

    def __init__(self, build: Callable[[list[T]], list[P]], max_size: int, batch_size: int) -> None:
        self._build = build
        self.max_size = max(1, max_size)
        self.batch_size = max(1, batch_size)
        self._items: deque[T] = deque()
        self.lock = threading.Lock()
        self.changed = threading.Condition(self.lock)
        self.pending: list[P] = []
        self.enqueued = 0
        self.completed = 0
        self.dropped = 0
        self.delivered = 0
        # Called (under the lock) whenever a full batch is waiting; the sender sets it.
        self.on_batch_ready: Callable[[], None] | None = None

    def put(self, item: T) -> bool:
        """Queue `item`; False when the queue is full (the item is dropped and counted)."""
        with self.lock:
            return self.put_locked(item)

    def put_locked(self, item: T) -> bool:
        if len(self._items) >= self.max_size:
            self.dropped += 1
            return False
        self._items.append(item)
        self.enqueued += 1
        if self.on_batch_ready is not None and len(self._items) % self.batch_size == 0:
            self.on_batch_ready()
        return True

    def __len__(self) -> int:
        return len(self._items) + len(self.pending)

    def next_batch(self) -> list[P]:
        """The batch to send: the pending one (a retry, same event ids) or a new one.

        Only the sender thread calls this. The protobuf events are built outside
        the lock, a few at a time with the GIL released in between: a CPU-bound
        caller then waits at most one small chunk (~10 us) for the GIL instead
        of a whole batch. When the queue backs up past a quarter of its bound,
        throughput wins and the batch is built in one go.
        """
        with self.lock:
            if self.pending or not self._items:
                return self.pending
            raw = [self._items.popleft() for _ in range(min(self.batch_size, len(self._items)))]
            backlog = len(self._items)
        step = BUILD_CHUNK if backlog < self.max_size // 4 else len(raw)
        built: list[P] = []
        for start in range(0, len(raw), step):
            built.extend(self._build(raw[start : start + step]))
            time.sleep(0)  # let a waiting caller have the GIL
        with self.lock:
            self.pending = built
            # build() may skip malformed items: count them as completed now.
            skipped = len(raw) - len(built)
            if skipped:
                self.completed += skipped
                self.changed.notify_all()
            return self.pending

    def acknowledge(self, accepted: int) -> None:
        """The sidecar durably took the first `accepted` events of the pending batch."""
        with self.lock:
            accepted = max(0, min(accepted, len(self.pending)))
            del self.pending[:accepted]
            self.completed += accepted
            self.delivered += accepted
            self.changed.notify_all()

    def abandon(self) -> int:
        """Give up on everything still queued (at close, after the flush deadline); return the count."""
        with self.lock:
            lost = len(self._items) + len(self.pending)
            self._items.clear()
            self.pending = []
            self.completed += lost
            self.dropped += lost
            self.changed.notify_all()
            return lost

    def wait_completed(self, target: int, timeout: float) -> bool:
        with self.lock:
            return self.changed.wait_for(lambda: self.completed >= target, timeout)
