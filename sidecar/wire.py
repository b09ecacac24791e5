"""A hand-rolled decoder for the hot request: FastPathRequest{assign} / AssignRequest.

Why: reading upb map fields from Python costs several microseconds per access
(copying `units` and `attributes` out of a parsed AssignRequest costs more than
parsing it), and assignment is the one call whose latency matters. This decoder
reads the wire format straight into plain dicts. It accepts exactly what
protobuf accepts for these messages (fields in any order, repeated scalars last
one wins, unknown fields skipped) and refuses what protobuf refuses (truncated
data, invalid UTF-8 in strings) with `WireError`. tests/sidecar/test_wire.py
checks it against the protobuf runtime.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final


class WireError(ValueError):
    """Bytes that are not a valid message of the expected type."""


@dataclass(slots=True)
class AssignCall:
    """The fields of an AssignRequest, in the shapes the core wants."""

    units: dict[str, str] = field(default_factory=dict)
    attributes: dict[str, str] = field(default_factory=dict)
    experiment_keys: list[str] = field(default_factory=list)
    log_exposures: bool = False
    client: str = ""
    session_id: str = ""


_MAX_FIELD_NUMBER = (1 << 29) - 1


# ------------------------------------------------------------------ encoding

def _encode_varint(n: int) -> bytes:
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


_SMALL_VARINTS: Final = tuple(_encode_varint(i) for i in range(1 << 14))


def encode_varint(n: int) -> bytes:
    """Protobuf base-128 varint of a non-negative integer; below 16384 from a table (the hot path's case)."""
    return _SMALL_VARINTS[n] if n < 16384 else _encode_varint(n)


def length_delimited(tag: bytes, data: bytes) -> bytes:
    """A length-delimited protobuf field: tag, varint length, bytes."""
    n = len(data)
    return tag + (_SMALL_VARINTS[n] if n < 16384 else _encode_varint(n)) + data


# ------------------------------------------------------------------ decoding


def _tag(data: bytes, pos: int, end: int) -> tuple[int, int]:
    """A field tag; field numbers outside 1..2^29-1 are invalid, as protobuf says."""
    tag, pos = _varint(data, pos, end)
    if tag >> 3 == 0 or tag >> 3 > _MAX_FIELD_NUMBER:
        raise WireError(f"invalid field number {tag >> 3}")
    return tag, pos


def _varint(data: bytes, pos: int, end: int) -> tuple[int, int]:
    result = 0
    shift = 0
    while True:
        if pos >= end:
            raise WireError("truncated varint")
        b = data[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7
        if shift >= 70:
            raise WireError("varint too long")


def _skip(data: bytes, pos: int, end: int, wire_type: int) -> int:
    if wire_type == 0:
        return _varint(data, pos, end)[1]
    if wire_type == 2:
        n, pos = _varint(data, pos, end)
        pos += n
    elif wire_type == 1:
        pos += 8
    elif wire_type == 5:
        pos += 4
    else:
        raise WireError(f"unsupported wire type {wire_type}")
    if pos > end:
        raise WireError("truncated field")
    return pos


def _text(data: bytes, start: int, stop: int) -> str:
    try:
        return data[start:stop].decode("utf-8")
    except UnicodeDecodeError:
        raise WireError("string field is not valid UTF-8") from None


def _map_entry(data: bytes, pos: int, end: int) -> tuple[str, str]:
    key = value = ""
    while pos < end:
        tag, pos = _tag(data, pos, end)
        number, wire_type = tag >> 3, tag & 7
        if wire_type == 2 and number in (1, 2):
            n, pos = _varint(data, pos, end)
            stop = pos + n
            if stop > end:
                raise WireError("truncated map entry")
            if number == 1:
                key = _text(data, pos, stop)
            else:
                value = _text(data, pos, stop)
            pos = stop
        else:
            if number == 0:
                raise WireError("field number 0")
            pos = _skip(data, pos, end, wire_type)
    return key, value


def decode_assign(data: bytes, pos: int = 0, end: int | None = None) -> AssignCall:
    """Decode an AssignRequest from data[pos:end]."""
    end = len(data) if end is None else end
    call = AssignCall()
    while pos < end:
        tag, pos = _tag(data, pos, end)
        number, wire_type = tag >> 3, tag & 7
        if number == 0:
            raise WireError("field number 0")
        if wire_type == 2 and number in (1, 2, 3, 5, 6):
            n, pos = _varint(data, pos, end)
            stop = pos + n
            if stop > end:
                raise WireError("truncated field")
            if number == 1:
                k, v = _map_entry(data, pos, stop)
                call.units[k] = v
            elif number == 2:
                k, v = _map_entry(data, pos, stop)
                call.attributes[k] = v
            elif number == 3:
                call.experiment_keys.append(_text(data, pos, stop))
            elif number == 5:
                call.client = _text(data, pos, stop)
            else:
                call.session_id = _text(data, pos, stop)
            pos = stop
        elif wire_type == 0 and number == 4:
            value, pos = _varint(data, pos, end)
            call.log_exposures = value != 0
        else:
            pos = _skip(data, pos, end, wire_type)
    return call


def assign_span(data: bytes) -> tuple[int, int, int] | None:
    """(request_id, start, end) when `data` is a FastPathRequest whose body is `assign`; else None.

    None also for anything unusual (repeated or unknown fields): the caller
    then parses with the protobuf runtime, which has the last word.
    """
    end = len(data)
    pos = 0
    request_id = 0
    span: tuple[int, int] | None = None
    while pos < end:
        tag, pos = _tag(data, pos, end)
        if tag == 0x08:
            request_id, pos = _varint(data, pos, end)
        elif tag == 0x12 and span is None:
            n, pos = _varint(data, pos, end)
            if pos + n > end:
                raise WireError("truncated assign")
            span = (pos, pos + n)
            pos += n
        else:
            return None
    if span is None:
        return None
    return request_id, span[0], span[1]




def body_span(data: bytes) -> tuple[int, int, int, int] | None:
    """(request_id, body field number, start, end) of a FastPathRequest with one body; None if unusual."""
    end = len(data)
    pos = 0
    request_id = 0
    found: tuple[int, int, int] | None = None
    while pos < end:
        tag, pos = _tag(data, pos, end)
        if tag == 0x08:
            request_id, pos = _varint(data, pos, end)
        elif tag & 7 == 2 and 2 <= tag >> 3 <= 4 and found is None:
            n, pos = _varint(data, pos, end)
            if pos + n > end:
                raise WireError("truncated body")
            found = (tag >> 3, pos, pos + n)
            pos += n
        else:
            return None
    if found is None:
        return None
    return request_id, found[0], found[1], found[2]


def repeated_spans(data: bytes, start: int, end: int, number: int) -> list[tuple[int, int]]:
    """Spans of every occurrence of length-delimited field `number` in data[start:end]."""
    spans: list[tuple[int, int]] = []
    pos = start
    while pos < end:
        tag, pos = _tag(data, pos, end)
        if tag >> 3 == number and tag & 7 == 2:
            n, pos = _varint(data, pos, end)
            if pos + n > end:
                raise WireError("truncated field")
            spans.append((pos, pos + n))
            pos += n
        else:
            pos = _skip(data, pos, end, tag & 7)
    return spans


def field_lengths(data: bytes, start: int, end: int, numbers: tuple[int, ...]) -> list[int]:
    """For each field number: the length of its last length-delimited occurrence, -1 when absent.

    Enough to tell, without parsing, whether an event carries an id and a
    timestamp and whether its required strings are empty or too long.
    """
    lengths = [-1] * len(numbers)
    pos = start
    while pos < end:
        tag, pos = _tag(data, pos, end)
        number = tag >> 3
        if tag & 7 == 2:
            n, pos = _varint(data, pos, end)
            if number in numbers:
                lengths[numbers.index(number)] = n
            pos += n
            if pos > end:
                raise WireError("truncated field")
        else:
            pos = _skip(data, pos, end, tag & 7)
    return lengths


def last_bytes_field(data: bytes, number: int) -> bytes:
    """The bytes of the last length-delimited occurrence of field `number` (b"" when absent)."""
    end = len(data)
    pos = 0
    found = b""
    while pos < end:
        tag, pos = _tag(data, pos, end)
        if tag & 7 == 2:
            n, pos = _varint(data, pos, end)
            if pos + n > end:
                raise WireError("truncated field")
            if tag >> 3 == number:
                found = data[pos:pos + n]
            pos += n
        else:
            pos = _skip(data, pos, end, tag & 7)
    return found


__all__ = ["AssignCall", "WireError", "assign_span", "body_span", "decode_assign", "field_lengths", "last_bytes_field",
           "repeated_spans"]
