"""Request handling shared by both doors (gRPC and fast path): proto in, proto out.

Pure logic: no sockets, no disk. The doors parse bytes, call these functions,
and map `RequestError` to their own error shape (a gRPC status or an error
frame) in one place each. Event stamping (event_id, timestamp) happens here so
that both doors spool identical records.

Limits (`MAX_*`) exist so that a hostile or buggy client cannot make the
sidecar hash megabyte ids or spool megabyte events; exceeding one is
INVALID_ARGUMENT naming the field.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Final

from google.protobuf import timestamp_pb2
from splitline.core import CompiledSnapshot, Reason
from splitline.core.evaluator import Assignment
from splitline.sidecar.spool_format import KIND_EXPOSURE, KIND_OUTCOME
from splitline.sidecar.wire import (
    AssignCall,
    WireError,
    encode_varint,
    field_lengths,
    last_bytes_field,
    length_delimited,
    repeated_spans,
)
from splitline.v1 import assignment_pb2, events_pb2

INVALID_ARGUMENT: Final = 3
RESOURCE_EXHAUSTED: Final = 8
FAILED_PRECONDITION: Final = 9
UNAVAILABLE: Final = 14
INTERNAL: Final = 13

MAX_ID_BYTES: Final = 1024
MAX_KEY_BYTES: Final = 256
MAX_ATTRIBUTE_BYTES: Final = 8192
MAX_EXPERIMENT_KEYS: Final = 10_000
MAX_EVENTS_PER_CALL: Final = 100_000
MAX_EVENT_BYTES: Final = 64 * 1024

_REASON_TO_PROTO: Final = {r: assignment_pb2.Reason.Value(r.proto_name) for r in Reason}


class RequestError(Exception):
    """A request the sidecar refuses, with a google.rpc code and the field to blame."""

    def __init__(self, code: int, message: str, field: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field


def _check_len(value: str, limit: int, field: str) -> None:
    if len(value) > limit // 4 and len(value.encode("utf-8", "surrogatepass")) > limit:
        raise RequestError(INVALID_ARGUMENT, f"{field} is longer than {limit} bytes", field)


def validate_assign(units: Mapping[str, str], attributes: Mapping[str, str], experiment_keys: Sequence[str]) -> None:
    """Refuse ids, keys and attributes beyond the limits (naming the field)."""
    for unit_type, uid in units.items():
        if len(unit_type) > MAX_KEY_BYTES // 4 or len(uid) > MAX_ID_BYTES // 4:
            _check_len(unit_type, MAX_KEY_BYTES, "units")
            _check_len(uid, MAX_ID_BYTES, f"units[{unit_type}]")
    for name, value in attributes.items():
        if len(name) > MAX_KEY_BYTES // 4 or len(value) > MAX_ATTRIBUTE_BYTES // 4:
            _check_len(name, MAX_KEY_BYTES, "attributes")
            _check_len(value, MAX_ATTRIBUTE_BYTES, f"attributes[{name}]")
    if len(experiment_keys) > MAX_EXPERIMENT_KEYS:
        raise RequestError(INVALID_ARGUMENT, f"more than {MAX_EXPERIMENT_KEYS} experiment_keys", "experiment_keys")
    for i, key in enumerate(experiment_keys):
        _check_len(key, MAX_KEY_BYTES, f"experiment_keys[{i}]")


class ResponseCache:
    """Serialized `Assignment` prefixes per (experiment, variant, reason), built lazily per snapshot.

    Every decision the core returns for a known experiment is one of a few
    prebuilt results, so the wire bytes of an `Assignment` (key, variant,
    reason, params, unit type) are built once; a call only appends the unit id.
    That keeps proto construction (and Struct copies) off the hot path.
    """

    __slots__ = ("_compiled", "_templates")

    def __init__(self, compiled: CompiledSnapshot) -> None:
        self._compiled = compiled
        self._templates: dict[tuple[str, str | None, Reason], tuple[bytes, str]] = {}

    def template(self, result: Assignment) -> tuple[bytes, str]:
        """(serialized Assignment without unit_id, unit type) of a decision."""
        key = (result.experiment_key, result.variant, result.reason)
        found = self._templates.get(key)
        if found is not None:
            return found
        a = assignment_pb2.Assignment(experiment_key=result.experiment_key, reason=_REASON_TO_PROTO[result.reason])
        exp = self._compiled.experiments.get(result.experiment_key)
        unit_type = ""
        if exp is not None:
            unit_type = exp.unit_type
            a.unit_type = unit_type
            if result.variant is not None:
                a.variant_key = result.variant
                for v in exp.source.variants:
                    if v.key == result.variant and v.HasField("params") and v.params.fields:
                        a.params.CopyFrom(v.params)
        found = (a.SerializeToString(), unit_type)
        if exp is not None:  # unknown keys come from clients: never cache them
            self._templates[key] = found
        return found


def call_from_proto(req: assignment_pb2.AssignRequest) -> AssignCall:
    """An AssignCall from a parsed AssignRequest (the slow path; see wire.py)."""
    return AssignCall(units=dict(req.units), attributes=dict(req.attributes),
                      experiment_keys=list(req.experiment_keys), log_exposures=req.log_exposures,
                      client=req.client, session_id=req.session_id)


def assign(compiled: CompiledSnapshot, cache: ResponseCache, call: AssignCall) -> tuple[bytes, list[Assignment]]:
    """Evaluate the request against one snapshot.

    Returns the serialized AssignResponse and the raw decisions (for exposure
    logging).
    """
    units = call.units
    attributes = call.attributes
    keys = call.experiment_keys
    validate_assign(units, attributes, keys)
    results = compiled.assign_many(keys, units, attributes) if keys else compiled.assign_all(units, attributes)
    parts: list[bytes] = []
    template = cache.template
    for result in results:
        body, unit_type = template(result)
        uid = units.get(unit_type) if unit_type else None
        if uid:
            body += length_delimited(b"\x32", uid.encode("utf-8", "surrogatepass"))
        parts.append(length_delimited(b"\x0a", body))
    if compiled.revision:
        parts.append(b"\x10" + encode_varint(compiled.revision))
    return b"".join(parts), results


def new_event_id() -> str:
    return str(uuid.uuid4())


def exposures_for(compiled: CompiledSnapshot, req: AssignCall,
                  results: Sequence[Assignment]) -> list[tuple[int, bytes]]:
    """Spool records for the decisions of an Assign call that asked to log exposures.

    Only ASSIGNED and OVERRIDE count as exposures: SHIPPED serves everyone the
    same variant and is not part of any analysis.
    """
    records: list[tuple[int, bytes]] = []
    now = time.time_ns()
    for result in results:
        if not result.in_experiment or result.variant is None:
            continue
        exp = compiled.experiments.get(result.experiment_key)
        if exp is None:
            continue
        e = events_pb2.Exposure(
            event_id=new_event_id(), experiment_key=result.experiment_key, variant_key=result.variant,
            unit_type=exp.unit_type, unit_id=req.units.get(exp.unit_type, ""),
            config_revision=compiled.revision, forced=result.forced, client=req.client,
            session_id=req.session_id,
        )
        e.timestamp.FromNanoseconds(now)
        records.append((KIND_EXPOSURE, e.SerializeToString()))
    return records


def _parsed_event_records(kind: int, events: Sequence[events_pb2.Exposure | events_pb2.Outcome],
                          label: str, first: str) -> list[tuple[int, bytes]]:
    """Validate and stamp (event_id, timestamp when unset) parsed events; serialized for the spool.

    `first` names the event's other required string (experiment_key or name).
    """
    if len(events) > MAX_EVENTS_PER_CALL:
        raise RequestError(INVALID_ARGUMENT, f"more than {MAX_EVENTS_PER_CALL} {label}", label)
    records: list[tuple[int, bytes]] = []
    now = 0
    for i, e in enumerate(events):
        value: str = getattr(e, first)
        if not value:
            raise RequestError(INVALID_ARGUMENT, f"{first} is required", f"{label}[{i}].{first}")
        if not e.unit_id:
            raise RequestError(INVALID_ARGUMENT, "unit_id is required", f"{label}[{i}].unit_id")
        _check_len(e.unit_id, MAX_ID_BYTES, f"{label}[{i}].unit_id")
        _check_len(value, MAX_KEY_BYTES, f"{label}[{i}].{first}")
        if not e.event_id:
            e.event_id = new_event_id()
        if not e.HasField("timestamp"):
            now = now or time.time_ns()
            e.timestamp.FromNanoseconds(now)
        payload = e.SerializeToString()
        if len(payload) > MAX_EVENT_BYTES:
            raise RequestError(INVALID_ARGUMENT, f"event larger than {MAX_EVENT_BYTES} bytes", f"{label}[{i}]")
        records.append((kind, payload))
    return records


def exposure_records(exposures: Sequence[events_pb2.Exposure]) -> list[tuple[int, bytes]]:
    """Validate and stamp exposures; serialized for the spool."""
    return _parsed_event_records(KIND_EXPOSURE, exposures, "exposures", "experiment_key")


def outcome_records(outcomes: Sequence[events_pb2.Outcome]) -> list[tuple[int, bytes]]:
    """Validate and stamp outcomes; serialized for the spool."""
    return _parsed_event_records(KIND_OUTCOME, outcomes, "outcomes", "name")


# Field numbers (events.proto): event_id, timestamp, and the two required strings.
_EXPOSURE_FIELDS: Final = (1, 2, 3, 6)  # event_id, timestamp, experiment_key, unit_id
_OUTCOME_FIELDS: Final = (1, 2, 5, 4)  # event_id, timestamp, name, unit_id


def raw_event_records(kind: int, data: bytes, start: int, end: int) -> list[tuple[int, bytes]]:
    """Validate and stamp the events of a serialized LogExposuresRequest/TrackRequest without re-encoding them.

    `data[start:end]` must already have parsed as that message (so it is well
    formed and its strings are valid UTF-8). Each event's bytes are reused; an
    event without an id or timestamp gets them appended as fields (protobuf
    merges appended fields: the last occurrence wins). Same rules and error
    fields as `exposure_records` / `outcome_records`, at a fraction of the cost.
    """
    exposure = kind == KIND_EXPOSURE
    numbers = _EXPOSURE_FIELDS if exposure else _OUTCOME_FIELDS
    label = "exposures" if exposure else "outcomes"
    first = "experiment_key" if exposure else "name"
    spans = repeated_spans(data, start, end, 1)
    if len(spans) > MAX_EVENTS_PER_CALL:
        raise RequestError(INVALID_ARGUMENT, f"more than {MAX_EVENTS_PER_CALL} {label}", label)
    records: list[tuple[int, bytes]] = []
    stamp = b""
    for i, (s, e) in enumerate(spans):
        id_len, ts_len, first_len, uid_len = field_lengths(data, s, e, numbers)
        if first_len <= 0:
            raise RequestError(INVALID_ARGUMENT, f"{first} is required", f"{label}[{i}].{first}")
        if uid_len <= 0:
            raise RequestError(INVALID_ARGUMENT, "unit_id is required", f"{label}[{i}].unit_id")
        if uid_len > MAX_ID_BYTES:
            raise RequestError(INVALID_ARGUMENT, f"{label}[{i}].unit_id is longer than {MAX_ID_BYTES} bytes",
                               f"{label}[{i}].unit_id")
        if first_len > MAX_KEY_BYTES:
            raise RequestError(INVALID_ARGUMENT, f"{label}[{i}].{first} is longer than {MAX_KEY_BYTES} bytes",
                               f"{label}[{i}].{first}")
        payload = data[s:e]
        if id_len <= 0:
            payload += b"\x0a\x24" + str(uuid.uuid4()).encode("ascii")
        if ts_len < 0:
            if not stamp:
                ts = timestamp_pb2.Timestamp()
                ts.FromNanoseconds(time.time_ns())
                stamp = length_delimited(b"\x12", ts.SerializeToString())
            payload += stamp
        if len(payload) > MAX_EVENT_BYTES:
            raise RequestError(INVALID_ARGUMENT, f"event larger than {MAX_EVENT_BYTES} bytes", f"{label}[{i}]")
        records.append((kind, payload))
    return records


def event_key(kind: int, payload: bytes) -> bytes:
    """The unit id of a serialized event (its Kafka key)."""
    try:  # a field scan: parsing the whole event per record costs more than shipping it
        return last_bytes_field(payload, 6 if kind == KIND_EXPOSURE else 4)
    except WireError:
        return b""


__all__ = [
    "INVALID_ARGUMENT",
    "RESOURCE_EXHAUSTED",
    "RequestError",
    "ResponseCache",
    "assign",
    "call_from_proto",
    "event_key",
    "exposure_records",
    "exposures_for",
    "outcome_records",
    "raw_event_records",
    "validate_assign",
]
