"""Client-side helpers: the stubs of every control-plane service on one channel,
and the bearer metadata. Works with sync (`grpc.insecure_channel`, the CLI) and
asyncio (`grpc.aio.insecure_channel`, tests, the guardrail worker) channels.
"""

from __future__ import annotations

from typing import Any

from splitline.v1 import control_pb2_grpc


def bearer(token: str) -> tuple[tuple[str, str], ...]:
    """gRPC metadata carrying `token`."""
    return (("authorization", f"Bearer {token}"),)


class Stubs:
    """One stub per service, sharing `channel`."""

    def __init__(self, channel: Any) -> None:
        self.experiments = control_pb2_grpc.ExperimentServiceStub(channel)
        self.layers = control_pb2_grpc.LayerServiceStub(channel)
        self.holdouts = control_pb2_grpc.HoldoutServiceStub(channel)
        self.metrics = control_pb2_grpc.MetricServiceStub(channel)
        self.audit = control_pb2_grpc.AuditServiceStub(channel)
        self.config = control_pb2_grpc.ConfigServiceStub(channel)
