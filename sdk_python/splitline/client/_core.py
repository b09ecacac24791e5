"""The I/O-free heart of `Client` and `AsyncClient`: one implementation of every client rule.

Both clients call into this module for everything that is not moving bytes:
deciding locally from the current compiled snapshot, building an AssignRequest
and reading its response in remote mode, the default answer when there is no
snapshot or no sidecar, the exposure rule (only ASSIGNED and OVERRIDE
decisions are exposures, SHIPPED ones are not; deduplicated per process),
turning raw events into protobuf batches, and the circuit breaker that keeps a
dead sidecar from costing the caller a timeout on every call. The sync client
wraps it with blocking sockets, the async one with asyncio; neither repeats it.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any, Final

from google.protobuf import timestamp_pb2

from splitline.client._events import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_DEDUP_SIZE,
    DEFAULT_MAX_BUFFERED,
    EventQueue,
    ExposureDedup,
)
from splitline.client._fastpath import CODE_INVALID_ARGUMENT, FastPathError
from splitline.client._types import UnitAssignment
from splitline.core.attributes import encode_attributes, encode_value
from splitline.core.evaluator import Assignment, CompiledSnapshot, compile_snapshot, params_of
from splitline.core.reasons import Reason
from splitline.v1 import assignment_pb2, config_pb2, events_pb2

logger = logging.getLogger("splitline.client")

# ((experiment, variant, unit_type, unit_id), revision, forced, time_ns): the first item is the dedup key.
ExposureRecord = tuple[tuple[str, str, str, str], int, bool, int]
# (unit_type, unit_id, name, value, properties, time_ns)
OutcomeRecord = tuple[str, str, str, float, Mapping[str, str], int]

LOG_INTERVAL_S: Final = 60.0
BREAKER_MIN_S: Final = 0.05
BREAKER_MAX_S: Final = 2.0
_NO_ATTRIBUTES: Final[Mapping[str, str]] = MappingProxyType({})
_NO_UNITS: Final[Mapping[str, str]] = MappingProxyType({})
_NO_PARAMS: Final[Mapping[str, Any]] = MappingProxyType({})
_PROTO_REASONS: Final = {assignment_pb2.Reason.Value(reason.proto_name): reason for reason in Reason}

_ASSIGNED: Final = Reason.ASSIGNED
_OVERRIDE: Final = Reason.OVERRIDE
NO_SNAPSHOT: Final = "no snapshot loaded"
SIDECAR_DOWN: Final = "sidecar unavailable"


def client_name() -> str:
    """`python/<version>`, written into every exposure (the `client` field)."""
    try:
        from importlib.metadata import version

        return "python/" + version("splitline")
    except Exception:
        return "python/unknown"


class RateLimitedLog:
    """At most one log line per topic per interval, so a dead sidecar does not flood the log."""

    def __init__(self, interval: float = LOG_INTERVAL_S) -> None:
        self._interval = interval
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}
        self._lock = threading.Lock()

    def emit(self, topic: str, message: str) -> None:
        now = time.monotonic()
        with self._lock:
            last = self._last.get(topic)
            if last is not None and now - last < self._interval:
                self._suppressed[topic] = self._suppressed.get(topic, 0) + 1
                return
            self._last[topic] = now
            suppressed = self._suppressed.pop(topic, 0)
        suffix = f" ({suppressed} similar messages suppressed)" if suppressed else ""
        logger.warning("%s%s", message, suffix)


class CircuitBreaker:
    """After a remote failure, answer with the default at once for a short, growing while.

    A sidecar that is down refuses connections in microseconds, but one that
    hangs would cost every caller the full timeout; the breaker bounds that to
    one probe per window (50 ms, doubling to 2 s) until a call succeeds.
    """

    def __init__(self) -> None:
        self._open_until = 0.0
        self._window = BREAKER_MIN_S

    def allow(self) -> bool:
        return self._open_until == 0.0 or time.monotonic() >= self._open_until

    def success(self) -> None:
        self._open_until = 0.0
        self._window = BREAKER_MIN_S

    def failure(self) -> None:
        self._open_until = time.monotonic() + self._window
        self._window = min(self._window * 2, BREAKER_MAX_S)


def _timestamp(time_ns: int) -> timestamp_pb2.Timestamp:
    return timestamp_pb2.Timestamp(seconds=time_ns // 1_000_000_000, nanos=time_ns % 1_000_000_000)


def _unit_id(units: Mapping[str, Any], unit_type: str) -> str:
    value = units.get(unit_type)
    if type(value) is str:
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return ""


class ClientCore:
    """State and rules shared by `Client` and `AsyncClient`; no sockets, no threads of its own."""

    def __init__(
        self,
        *,
        session_id: str = "",
        dedup_size: int = DEFAULT_DEDUP_SIZE,
        max_buffered_events: int = DEFAULT_MAX_BUFFERED,
        batch_size: int = DEFAULT_BATCH_SIZE,
        ship_events: bool = True,
    ) -> None:
        self.snapshot: CompiledSnapshot | None = None
        self.client = client_name()
        self.session_id = session_id
        self.ship_events = ship_events
        self.log = RateLimitedLog()
        self.breaker = CircuitBreaker()
        self._dedup = ExposureDedup(dedup_size)
        self._first_time = self._dedup.first_time
        self.exposures: EventQueue[ExposureRecord, events_pb2.Exposure] = EventQueue(
            self._build_exposures, max_buffered_events, batch_size
        )
        self.outcomes: EventQueue[OutcomeRecord, events_pb2.Outcome] = EventQueue(
            self._build_outcomes, max_buffered_events, batch_size
        )
        self.ready = threading.Event()

    # ---------------------------------------------------------------- snapshots

    def install(self, snapshot: config_pb2.ConfigSnapshot, source: str) -> bool:
        """Validate, compile and swap in `snapshot`; keep the current one if it is invalid or older."""
        current = self.snapshot
        if current is not None and snapshot.revision < current.revision:
            self.log.emit(
                "snapshot-revision",
                f"splitline: ignoring snapshot revision {snapshot.revision} from {source}: "
                f"older than the revision in use ({current.revision})",
            )
            return False
        try:
            compiled = compile_snapshot(snapshot)
        except Exception as exc:
            self.log.emit("snapshot", f"splitline: ignoring invalid snapshot from {source}: {exc}")
            return False
        self.snapshot = compiled  # one reference swap: readers see the old or the new index
        self.ready.set()
        return True

    # ----------------------------------------------------------------- deciding

    def default(self, experiment: str, detail: str) -> UnitAssignment:
        """The answer when the client cannot decide: no variant, and `detail` says why."""
        self.log.emit(detail.split(":", 1)[0], f"splitline: {experiment!r} answered with no variant: {detail}")
        return UnitAssignment(Assignment(experiment, None, Reason.UNKNOWN_EXPERIMENT), detail=detail)

    def local(
        self, experiment: str, units: Mapping[str, str] | None, attributes: Mapping[str, object] | None
    ) -> UnitAssignment:
        """Decide from the in-process snapshot (the core's `assign`), bound to the unit."""
        snap = self.snapshot
        if snap is None:
            return self.default(experiment, NO_SNAPSHOT)
        if type(units) is not dict and not isinstance(units, Mapping):
            units = _NO_UNITS
        exp = snap.experiments.get(experiment)
        if exp is None:
            return UnitAssignment(Assignment(experiment, None, Reason.UNKNOWN_EXPERIMENT), revision=snap.revision)
        unit_type = exp.unit_type
        unit_id = units.get(unit_type)
        if type(unit_id) is not str:
            # An int id (or junk): decide on its decimal string, as the other SDKs would see it.
            unit_id = _unit_id(units, unit_type)
            units = {**units, unit_type: unit_id}
        attrs = encode_attributes(attributes) if attributes else _NO_ATTRIBUTES
        return UnitAssignment(snap.assign(experiment, units, attrs), unit_type, unit_id, snap.revision)

    def local_all(
        self, units: Mapping[str, str] | None, attributes: Mapping[str, object] | None
    ) -> list[UnitAssignment]:
        snap = self.snapshot
        if snap is None:
            self.log.emit(NO_SNAPSHOT, "splitline: assign_all answered with nothing: " + NO_SNAPSHOT)
            return []
        if not isinstance(units, Mapping):
            units = _NO_UNITS
        attrs = encode_attributes(attributes) if attributes else _NO_ATTRIBUTES
        out = []
        for a in snap.assign_all(units, attrs):
            unit_type = snap.experiments[a.experiment_key].unit_type
            out.append(UnitAssignment(a, unit_type, _unit_id(units, unit_type), snap.revision))
        return out

    def request(
        self,
        experiments: Sequence[str],
        units: Mapping[str, str] | None,
        attributes: Mapping[str, object] | None,
    ) -> assignment_pb2.AssignRequest:
        """The remote-mode AssignRequest; the client logs exposures by its own rule."""
        given = units if isinstance(units, Mapping) else _NO_UNITS
        clean_units = {k: v for k in given if isinstance(k, str) and (v := _unit_id(given, k))}
        return assignment_pb2.AssignRequest(
            units=clean_units,
            attributes=encode_attributes(attributes) if attributes else None,
            experiment_keys=experiments,
            log_exposures=False,
            client=self.client,
            session_id=self.session_id,
        )

    def from_response(self, response: assignment_pb2.AssignResponse) -> list[UnitAssignment]:
        """AssignResponse to UnitAssignments (params read by the core's own rule)."""
        out = []
        for a in response.assignments:
            params = params_of(config_pb2.Variant(params=a.params)) if a.HasField("params") else _NO_PARAMS
            reason = _PROTO_REASONS.get(a.reason, Reason.UNKNOWN_EXPERIMENT)
            decision = Assignment(a.experiment_key, a.variant_key or None, reason, params)
            out.append(UnitAssignment(decision, a.unit_type, a.unit_id, response.config_revision))
        return out

    # ------------------------------------------------------------ remote mode

    def remote_failed(self, exc: FastPathError) -> str:
        """Record a failed remote call; the detail the default answer carries."""
        if exc.code != CODE_INVALID_ARGUMENT:
            self.breaker.failure()
            return f"{SIDECAR_DOWN}: {exc.message}"
        return f"invalid argument: {exc.message}" + (f" ({exc.field})" if exc.field else "")

    def remote_answer(self, response: assignment_pb2.FastPathResponse) -> list[UnitAssignment]:
        self.breaker.success()
        return self.from_response(response.assign)

    def pick(self, experiment: str, answer: list[UnitAssignment] | str) -> UnitAssignment:
        """The answer for `experiment` out of a remote reply (or the default, when it failed)."""
        if isinstance(answer, str):
            return self.default(experiment, answer)
        for a in answer:
            if a.experiment_key == experiment:
                return a
        return self.default(experiment, "the sidecar's answer did not include the experiment")

    def pick_all(self, answer: list[UnitAssignment] | str) -> list[UnitAssignment]:
        """Remote assign_all: like the core's, only experiments that give a variant."""
        if isinstance(answer, str):
            self.log.emit(answer.split(":", 1)[0], f"splitline: assign_all answered with nothing: {answer}")
            return []
        return [a for a in answer if a.variant is not None]

    # ------------------------------------------------------------------- events

    def expose(self, assignment: UnitAssignment) -> bool:
        """Queue the exposure of `assignment` unless it is not one or was logged already.

        Only ASSIGNED and OVERRIDE decisions are exposures (SHIPPED and every
        no-variant answer are not); OVERRIDE ones are marked forced. This is on
        the hot path of get_variant: one lock, one tuple as both dedup key and
        record, no protobuf, no UUID (the sender makes those).
        """
        decision = assignment.decision
        reason = decision.reason
        if (reason is not _ASSIGNED and reason is not _OVERRIDE) or not self.ship_events:
            return False
        key = (decision.experiment_key, decision.variant or "", assignment.unit_type, assignment.unit_id)
        queue = self.exposures
        with queue.lock:
            if not self._first_time(key):
                return False
            if queue.put_locked((key, assignment.revision, reason is _OVERRIDE, time.time_ns())):
                return True
            self._dedup.forget(key)  # not logged: a later call may try again
        self.log.emit("buffer", f"splitline: exposure buffer full ({queue.max_size}); dropping exposures")
        return False

    def track(
        self,
        name: str,
        units: Mapping[str, str] | None,
        value: float,
        properties: Mapping[str, object] | None,
    ) -> int:
        """Queue one outcome per unit id given (so experiments on any unit type can join it)."""
        if not self.ship_events:
            return 0
        props: Mapping[str, str] = {}
        if properties:
            props = {
                k: s
                for k, v in properties.items()
                if isinstance(k, str) and (s := encode_value(v)) is not None
            }
        now = time.time_ns()
        count = 0
        given = units if isinstance(units, Mapping) else _NO_UNITS
        for unit_type in given:
            unit_id = _unit_id(given, unit_type)
            if unit_id and isinstance(unit_type, str):
                if self.outcomes.put((unit_type, unit_id, str(name), float(value), props, now)):
                    count += 1
                else:
                    self.log.emit("buffer", f"splitline: outcome buffer full ({self.outcomes.max_size})")
        return count

    def _build_exposures(self, records: list[ExposureRecord]) -> list[events_pb2.Exposure]:
        """Protobuf exposures, each with the event_id it keeps across retries."""
        out = []
        for (exp, variant, unit_type, unit_id), revision, forced, t in records:
            try:
                out.append(
                    events_pb2.Exposure(
                        event_id=str(uuid.uuid4()),
                        timestamp=_timestamp(t),
                        experiment_key=exp,
                        variant_key=variant,
                        unit_type=unit_type,
                        unit_id=unit_id,
                        config_revision=revision,
                        forced=forced,
                        client=self.client,
                        session_id=self.session_id,
                    )
                )
            except Exception as exc:  # e.g. a lone surrogate protobuf will not encode
                self.log.emit("exposure", f"splitline: dropping malformed exposure of {exp!r}: {exc}")
        return out

    def _build_outcomes(self, records: list[OutcomeRecord]) -> list[events_pb2.Outcome]:
        out = []
        for unit_type, unit_id, name, value, props, t in records:
            try:
                out.append(
                    events_pb2.Outcome(
                        event_id=str(uuid.uuid4()),
                        timestamp=_timestamp(t),
                        unit_type=unit_type,
                        unit_id=unit_id,
                        name=name,
                        value=value,
                        properties=props,
                    )
                )
            except Exception as exc:  # e.g. a lone surrogate protobuf will not encode
                self.log.emit("outcome", f"splitline: dropping malformed outcome {name!r}: {exc}")
        return out
