"""Scheduled start and stop are carried out by the control plane (not by evaluation)."""

from __future__ import annotations

from google.protobuf.timestamp_pb2 import Timestamp
from splitline.control_plane.service import ControlPlane
from splitline.control_plane.store import EmbeddedStore
from splitline.v1 import config_pb2

from tests.control_plane.helpers import experiment


class Clock:
    def __init__(self, seconds: int) -> None:
        self.seconds = seconds

    def __call__(self) -> Timestamp:
        return Timestamp(seconds=self.seconds)


async def test_scheduled_start_and_stop() -> None:
    clock = Clock(1_000)
    core = ControlPlane(EmbeddedStore(None), clock=clock)
    await core.create_layer("t", config_pb2.Layer(id="checkout"), "")
    exp = experiment("sched", traffic_bp=3000)
    exp.scheduled_start.FromSeconds(1_100)
    exp.scheduled_stop.FromSeconds(1_200)
    await core.create_experiment("alice", exp, "")
    assert await core.run_schedules() == []
    clock.seconds = 1_100
    assert await core.run_schedules() == ["launch sched"]
    got = await core.get_experiment("sched")
    assert got.status == config_pb2.EXPERIMENT_STATUS_RUNNING and [(r.start, r.end) for r in got.ranges] == [(0, 3000)]
    assert await core.run_schedules() == []  # done once
    clock.seconds = 1_250
    assert await core.run_schedules() == ["conclude sched"]
    got = await core.get_experiment("sched")
    assert got.status == config_pb2.EXPERIMENT_STATUS_CONCLUDED and not got.ranges
    audit = await core.list_audit("experiment/sched", 10)
    assert [(r.actor, r.action, r.reason) for r in audit] == [
        ("alice", "create", ""),
        ("scheduler", "launch", "scheduled launch"),
        ("scheduler", "conclude", "scheduled conclude"),
    ]
