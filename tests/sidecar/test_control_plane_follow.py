"""The sidecar following a real control plane (embedded store) over WatchConfig.

Pause in the control plane stops assignment; the control plane going away
leaves the last config serving, also across a sidecar restart (from the
on-disk copy); the control plane coming back is caught up with.

The outage lasts SPLITLINE_OUTAGE_SECONDS (default 120: "minutes", long past
every reconnect backoff) with assignments checked every second throughout;
set it lower for a quick local run.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
import pytest
from splitline.control_plane.auth import Principal, Role, TokenTable
from splitline.control_plane.client import Stubs, bearer
from splitline.control_plane.server import RunningServer, start_server
from splitline.control_plane.store import EmbeddedStore
from splitline.sidecar.app import Sidecar
from splitline.sidecar.fastpath_client import FastPathClient
from splitline.v1 import assignment_pb2, config_pb2, control_pb2

from tests.harness.kafka import free_port
from tests.sidecar.helpers import settings

pytestmark = pytest.mark.slow

TOKEN = "tok-sidecar-test"
MD = bearer(TOKEN)
REASON = assignment_pb2.Reason
OUTAGE_S = float(os.environ.get("SPLITLINE_OUTAGE_SECONDS", "120"))


async def _plane(data: Path, port: int) -> tuple[RunningServer, EmbeddedStore]:
    store = EmbeddedStore(data)
    server = await start_server(store, TokenTable({TOKEN: Principal("t", Role.ADMIN)}), f"127.0.0.1:{port}",
                                schedule_interval=None)
    return server, store


async def _eventually(check: Callable[[], Any], timeout: float = 20.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


async def _reasons(client: FastPathClient, n: int = 200) -> dict[int, int]:
    counts: dict[int, int] = {}
    for i in range(n):
        resp = await client.assign(assignment_pb2.AssignRequest(units={"user_id": f"user-{i}"},
                                                                experiment_keys=["cp_exp"]))
        reason = resp.assignments[0].reason
        counts[reason] = counts.get(reason, 0) + 1
    return counts


async def _version(stubs: Stubs) -> int:
    got = await stubs.experiments.GetExperiment(control_pb2.GetExperimentRequest(key="cp_exp"), metadata=MD)
    return int(got.experiment.version)


async def test_follow_pause_outage_restart_from_disk_and_catch_up(short_tmp: Path) -> None:
    port = free_port()
    server, store = await _plane(short_tmp / "store", port)
    channel = grpc.aio.insecure_channel(server.address, options=[("grpc.use_local_subchannel_pool", 1)])
    stubs = Stubs(channel)
    await stubs.layers.CreateLayer(control_pb2.CreateLayerRequest(layer=config_pb2.Layer(id="main")), metadata=MD)
    exp = config_pb2.Experiment(key="cp_exp", layer_id="main", unit_type="user_id", traffic_bp=10000)
    exp.variants.add(key="control", weight=5000)
    exp.variants.add(key="treatment", weight=5000)
    await stubs.experiments.CreateExperiment(control_pb2.CreateExperimentRequest(experiment=exp), metadata=MD)
    await stubs.experiments.LaunchExperiment(
        control_pb2.LaunchExperimentRequest(key="cp_exp", expected_version=await _version(stubs)), metadata=MD)

    cfg = settings(short_tmp, control_plane=server.address, token=TOKEN, metrics_port=0)
    sidecar = await Sidecar(cfg).start()
    client = await FastPathClient.connect(cfg.fast_socket)
    try:
        await _eventually(lambda: "cp_exp" in (sidecar.state.current.compiled.experiments
                                                if sidecar.state.current else {}), what="first snapshot")
        assert (await _reasons(client)).get(REASON.REASON_ASSIGNED) == 200

        # Pause: the sidecar stops assigning it.
        await stubs.experiments.PauseExperiment(control_pb2.PauseExperimentRequest(
            key="cp_exp", expected_version=await _version(stubs), reason="test"), metadata=MD)

        async def paused() -> bool:
            return (await _reasons(client, 20)) == {REASON.REASON_NOT_RUNNING: 20}

        await _eventually(paused, what="pause to reach the sidecar")
        await stubs.experiments.ResumeExperiment(control_pb2.ResumeExperimentRequest(
            key="cp_exp", expected_version=await _version(stubs), reason="test"), metadata=MD)

        async def running() -> bool:
            return (await _reasons(client, 20)) == {REASON.REASON_ASSIGNED: 20}

        await _eventually(running, what="resume to reach the sidecar")
        revision = sidecar.state.revision

        # Control plane gone: assignments keep flowing from the last config.
        await channel.close()
        await server.stop(0)
        await store.close()
        await _eventually(lambda: not sidecar.health()["control_plane_connected"], what="disconnect")
        outage_started = time.monotonic()
        checks = 0
        while time.monotonic() - outage_started < OUTAGE_S:
            assert (await _reasons(client, 50)) == {REASON.REASON_ASSIGNED: 50}
            checks += 1
            await asyncio.sleep(1)
        assert checks >= min(3, OUTAGE_S)
        assert sidecar.state.revision == revision
        assert sidecar.health()["control_plane_connected"] is False
        age = sidecar.health()["config_age_seconds"]
        assert isinstance(age, float) and age >= OUTAGE_S - 1  # staleness is visible

        # Sidecar restarted while the control plane is down: serves from disk.
        await client.close()
        await sidecar.stop()
        sidecar = await Sidecar(cfg).start()
        client = await FastPathClient.connect(cfg.fast_socket)
        assert sidecar.state.revision == revision
        assert sidecar.health()["config_source"] == "cache"
        assert (await _reasons(client, 50)) == {REASON.REASON_ASSIGNED: 50}

        # Control plane back (same port, same store): the sidecar catches up with a change made there.
        server, store = await _plane(short_tmp / "store", port)
        channel = grpc.aio.insecure_channel(server.address, options=[("grpc.use_local_subchannel_pool", 1)])
        stubs = Stubs(channel)
        await stubs.experiments.PauseExperiment(control_pb2.PauseExperimentRequest(
            key="cp_exp", expected_version=await _version(stubs), reason="after outage"), metadata=MD)
        await _eventually(lambda: sidecar.state.revision > revision, timeout=30, what="catch-up")
        assert sidecar.health()["control_plane_connected"] is True
        assert (await _reasons(client, 20)) == {REASON.REASON_NOT_RUNNING: 20}
    finally:
        await client.close()
        await sidecar.stop()
        await channel.close()
        await server.stop(0)
        await store.close()
