"""The Python SDK: `Client` (blocking) and `AsyncClient` (asyncio) over one I/O-free core.

Both decide in-process from a snapshot (local mode: a snapshot file and/or the
sidecar's snapshot stream) or ask the sidecar on every call (remote mode, over
the framed fast path). `get_variant` logs the exposure, deduplicated per
process; `assign` + `expose` split decision and exposure; `track` records
outcomes. Events reach the sidecar in background batches through bounded
buffers, and no call raises into the caller once the client is constructed.
"""

from splitline.client._async import AsyncClient
from splitline.client._fastpath import FastPathError
from splitline.client._runtime import EventSink
from splitline.client._sync import Client
from splitline.client._types import UnitAssignment

__all__ = ["AsyncClient", "Client", "EventSink", "FastPathError", "UnitAssignment"]
