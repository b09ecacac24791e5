"""The store interface every adapter implements, and its errors.

Keys are strings, values bytes. Every successful `commit` bumps the store's
global revision by one and returns it; all changes of one commit share that
revision, so a watcher sees a commit as one `ChangeBatch` (never half of it).
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass


class StoreError(Exception):
    """Base of the store errors."""


class StoreUnavailable(StoreError):
    """The backing store cannot be reached; the message says which and why."""


class Conflict(StoreError):
    """A compare-and-swap commit lost: some key changed since it was read."""


class Compacted(StoreError):
    """The requested watch revision is older than the retained history."""

    def __init__(self, compacted_revision: int) -> None:
        super().__init__(f"history before revision {compacted_revision} was compacted")
        self.compacted_revision = compacted_revision


@dataclass(frozen=True, slots=True)
class Entry:
    """A key's current value and the revision that last modified it."""

    key: str
    value: bytes
    mod_revision: int


@dataclass(frozen=True, slots=True)
class Change:
    """One key changed by a commit; `value` is None for a deletion."""

    key: str
    value: bytes | None


@dataclass(frozen=True, slots=True)
class ChangeBatch:
    """Every change one commit made under the watched prefix."""

    revision: int
    changes: tuple[Change, ...]


class Store(abc.ABC):
    """A revisioned key-value store with CAS commits and watches."""

    @abc.abstractmethod
    async def get(self, key: str) -> Entry | None:
        """The key's entry, or None when absent."""

    @abc.abstractmethod
    async def list(self, prefix: str) -> tuple[list[Entry], int]:
        """Every entry under `prefix` (sorted by key) and the revision they were read at."""

    @abc.abstractmethod
    async def commit(
        self,
        expect: Mapping[str, int],
        puts: Mapping[str, bytes],
        deletes: Sequence[str] = (),
    ) -> int:
        """Apply puts and deletes atomically if every `expect` key still has that mod revision.

        An expected revision of 0 means "absent". Returns the new revision; raises
        `Conflict` when a comparison fails and `StoreUnavailable` when the store is down.
        `puts` must not be empty (the revision is read from the commit's first put).
        """

    @abc.abstractmethod
    def watch(self, prefix: str, from_revision: int) -> AsyncIterator[ChangeBatch]:
        """Batches under `prefix` with revision >= `from_revision`, then live ones, in order.

        Raises `Compacted` when `from_revision` is no longer retained and
        `StoreUnavailable` when the store connection breaks.
        """

    @abc.abstractmethod
    async def compact(self, revision: int) -> None:
        """Forget history before `revision` (watches from older revisions get `Compacted`)."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Release connections and files."""

    @property
    @abc.abstractmethod
    def description(self) -> str:
        """A human name for messages, e.g. "etcd at 127.0.0.1:2379"."""
