"""Shared pieces of the sidecar tests (settings, event batches, spool reading)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from splitline.sidecar.app import SidecarSettings
from splitline.sidecar.shipper import KafkaSettings
from splitline.sidecar.spool_format import KIND_EXPOSURE, iter_records, segment_paths
from splitline.v1 import assignment_pb2, events_pb2


def settings(tmp: Path, snapshot: Path | None = None, control_plane: str | None = None,
             kafka: KafkaSettings | None = None, **kw: Any) -> SidecarSettings:
    return SidecarSettings(socket=tmp / "grpc.sock", fast_socket=tmp / "fast.sock", spool_dir=tmp / "spool",
                           snapshot_file=snapshot, control_plane=control_plane, kafka=kafka, **kw)


def exposure_batch(start: int, n: int, prefix: str = "e") -> assignment_pb2.LogExposuresRequest:
    """`n` exposures with event ids `<prefix>-<i>` (so a test can count them at the other end)."""
    req = assignment_pb2.LogExposuresRequest()
    for i in range(start, start + n):
        req.exposures.add(event_id=f"{prefix}-{i}", experiment_key="checkout_v2", variant_key="control",
                          unit_type="user_id", unit_id=f"u{i % 5000}")
    return req


def spooled_event_ids(spool_dir: Path) -> list[str]:
    ids: list[str] = []
    for path in segment_paths(spool_dir):
        for kind, _, payload in iter_records(path):
            if kind == KIND_EXPOSURE:
                ids.append(events_pb2.Exposure.FromString(payload).event_id)
    return ids


def topic_names() -> tuple[str, str]:
    tag = uuid.uuid4().hex[:8]
    return f"exposures-{tag}", f"outcomes-{tag}"
