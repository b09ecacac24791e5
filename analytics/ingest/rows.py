"""Event protos -> Parquet rows (pure: no I/O).

Timestamps become naive UTC datetimes with microsecond precision, the type
every Parquet file of the pipeline uses (schema.TS_TYPE); the date and hour
partition of an event come from its own timestamp, so a redelivered copy of
an event always lands in the same partition as the original, where compaction
finds and removes it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Final

from splitline.sidecar.spool_format import KIND_EXPOSURE, KIND_OUTCOME
from splitline.v1 import events_pb2

EXPOSURES: Final = "exposures"
OUTCOMES: Final = "outcomes"
TABLE_OF_KIND: Final = {KIND_EXPOSURE: EXPOSURES, KIND_OUTCOME: OUTCOMES}
_EPOCH: Final = dt.datetime(1970, 1, 1)


def _ts(seconds: int, nanos: int) -> dt.datetime:
    return _EPOCH + dt.timedelta(seconds=seconds, microseconds=nanos // 1000)


def exposure_row(message: events_pb2.Exposure) -> dict[str, Any]:
    return {
        "event_id": message.event_id,
        "ts": _ts(message.timestamp.seconds, message.timestamp.nanos),
        "experiment_key": message.experiment_key,
        "variant": message.variant_key,
        "unit_type": message.unit_type,
        "unit_id": message.unit_id,
        "config_revision": message.config_revision & 0x7FFF_FFFF_FFFF_FFFF,
        "forced": message.forced,
        "client": message.client,
        "session_id": message.session_id,
    }


def outcome_row(message: events_pb2.Outcome) -> dict[str, Any]:
    return {
        "event_id": message.event_id,
        "ts": _ts(message.timestamp.seconds, message.timestamp.nanos),
        "unit_type": message.unit_type,
        "unit_id": message.unit_id,
        "name": message.name,
        "value": message.value,
        "properties": sorted(message.properties.items()),
    }


def decode(table: str, payload: bytes) -> dict[str, Any]:
    """One row of `table` ("exposures" or "outcomes") from a serialized proto."""
    if table == EXPOSURES:
        exposure = events_pb2.Exposure()
        exposure.ParseFromString(payload)
        return exposure_row(exposure)
    outcome = events_pb2.Outcome()
    outcome.ParseFromString(payload)
    return outcome_row(outcome)


def partition_of(row: dict[str, Any]) -> tuple[str, str]:
    """(date=YYYY-MM-DD, hour=HH) folder names of a row."""
    ts: dt.datetime = row["ts"]
    return f"date={ts:%Y-%m-%d}", f"hour={ts:%H}"
