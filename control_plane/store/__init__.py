"""Revisioned key-value stores behind one interface (DESIGN.md section 4).

`EmbeddedStore` (a file-backed log, the laptop default) and `EtcdStore` (etcd 3
through aetcd) give the same semantics: a global revision bumped by every
commit, compare-and-swap commits on per-key mod revisions, watch from a
revision, and compaction that makes older history unavailable.
"""

from splitline.control_plane.store.base import (
    Change,
    ChangeBatch,
    Compacted,
    Conflict,
    Entry,
    Store,
    StoreError,
    StoreUnavailable,
)
from splitline.control_plane.store.embedded import EmbeddedStore

__all__ = [
    "Change",
    "ChangeBatch",
    "Compacted",
    "Conflict",
    "EmbeddedStore",
    "Entry",
    "Store",
    "StoreError",
    "StoreUnavailable",
]
