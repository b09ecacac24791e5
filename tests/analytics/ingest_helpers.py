"""Serialized Exposure/Outcome protos for ingest tests."""

from __future__ import annotations

import datetime as dt

from splitline.v1 import events_pb2

EPOCH = dt.datetime(1970, 1, 1)


def exposure_bytes(event_id: str, unit: str, variant: str, ts: dt.datetime, *, experiment: str = "exp",
                   forced: bool = False) -> bytes:
    message = events_pb2.Exposure(event_id=event_id, experiment_key=experiment, variant_key=variant,
                                  unit_type="user_id", unit_id=unit, config_revision=3, forced=forced,
                                  client="test/1")
    message.timestamp.FromDatetime(ts)
    return message.SerializeToString()


def outcome_bytes(event_id: str, unit: str, name: str, value: float, ts: dt.datetime) -> bytes:
    message = events_pb2.Outcome(event_id=event_id, unit_type="user_id", unit_id=unit, name=name, value=value)
    message.properties["source"] = "test"
    message.timestamp.FromDatetime(ts)
    return message.SerializeToString()
