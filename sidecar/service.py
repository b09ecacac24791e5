"""The sidecar's operations, independent of the door a request came through.

Both doors (gRPC and the framed fast path) call these methods with parsed
protobuf requests and map `RequestError` to their own error shape. Assignment
is synchronous and never waits on disk or network; LogExposures and Track
return once the events are durable in the spool.
"""

from __future__ import annotations

import ctypes
import logging
import time

from splitline.sidecar import native, requests
from splitline.sidecar.config_state import ConfigState
from splitline.sidecar.metrics import Metrics
from splitline.sidecar.requests import RESOURCE_EXHAUSTED, UNAVAILABLE, RequestError
from splitline.sidecar.spool import Spool, SpoolFull
from splitline.sidecar.spool_format import KIND_EXPOSURE, KIND_OUTCOME, encode_records
from splitline.sidecar.wire import AssignCall
from splitline.v1 import assignment_pb2

log = logging.getLogger("splitline.sidecar")

_KIND_LABEL = {KIND_EXPOSURE: "exposure", KIND_OUTCOME: "outcome"}
_DROP_LOG_INTERVAL_S = 5.0


class AssignmentCore:
    """Assign, LogExposures and Track over the current config and the spool."""

    def __init__(self, state: ConfigState, spool: Spool, metrics: Metrics,
                 native_lib: ctypes.CDLL | None = None) -> None:
        self.state = state
        self.spool = spool
        self.metrics = metrics
        self.native_lib = native_lib  # validates and stamps events natively when set (same rules)
        self._spooled = {k: metrics.events_spooled.labels(v) for k, v in _KIND_LABEL.items()}
        self._last_drop_log = 0.0

    def assign(self, req: AssignCall) -> bytes:
        """Decide (a serialized AssignResponse); when asked, spool exposures without waiting for the disk."""
        loaded = self.state.current
        if loaded is None:
            raise RequestError(UNAVAILABLE, "no configuration loaded yet")
        resp, results = requests.assign(loaded.compiled, loaded.responses, req)
        if req.log_exposures:
            records = requests.exposures_for(loaded.compiled, req, results)
            if records:
                try:
                    self.spool.append(records)
                    self._spooled[KIND_EXPOSURE].inc(len(records))
                except SpoolFull:
                    self.metrics.events_dropped.inc(len(records))
                    now = time.monotonic()
                    if now - self._last_drop_log > _DROP_LOG_INTERVAL_S:
                        self._last_drop_log = now
                        log.error("spool full: exposures of Assign(log_exposures=true) are being DROPPED "
                                  "(see splitline_sidecar_events_dropped_total)")
        return resp

    async def _spool(self, records: list[tuple[int, bytes]], kind: int) -> int:
        return await self._spool_encoded(encode_records(records), len(records), kind)

    async def _spool_encoded(self, data: bytes, count: int, kind: int) -> int:
        try:
            fut = self.spool.append_encoded(data, count)
        except SpoolFull as exc:
            self.metrics.events_rejected.inc(count)
            raise RequestError(RESOURCE_EXHAUSTED, str(exc)) from None
        await fut
        self._spooled[kind].inc(count)
        return count

    async def spool_raw(self, kind: int, data: bytes, start: int, end: int) -> int:
        """Spool the events of an already-parsed LogExposuresRequest/TrackRequest in data[start:end]."""
        if self.native_lib is not None:
            encoded = native.spool_events(self.native_lib, kind, data, start, end, time.time_ns())
            if encoded is not None:
                blob, count = encoded
                return await self._spool_encoded(blob, count, kind) if count else 0
            # else: an event breaks a rule; the Python code below says which one
        records = requests.raw_event_records(kind, data, start, end)
        return await self._spool(records, kind) if records else 0

    async def log_exposures(self, req: assignment_pb2.LogExposuresRequest) -> assignment_pb2.LogExposuresResponse:
        records = requests.exposure_records(req.exposures)
        n = await self._spool(records, KIND_EXPOSURE) if records else 0
        return assignment_pb2.LogExposuresResponse(accepted=n)

    async def track(self, req: assignment_pb2.TrackRequest) -> assignment_pb2.TrackResponse:
        records = requests.outcome_records(req.outcomes)
        n = await self._spool(records, KIND_OUTCOME) if records else 0
        return assignment_pb2.TrackResponse(accepted=n)


__all__ = ["AssignmentCore"]
