"""Against a real etcd: two replicas stream identical changes; etcd down -> UNAVAILABLE
with a clear message, back up -> writes work, nothing lost, watchers catch up."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import grpc
import pytest
from splitline.control_plane.auth import TokenTable
from splitline.control_plane.client import Stubs, bearer
from splitline.control_plane.server import start_server
from splitline.control_plane.store.etcd import EtcdStore
from splitline.v1 import config_pb2, control_pb2

from tests.control_plane.conftest import TOKENS
from tests.control_plane.helpers import experiment, next_message, setup_layer
from tests.harness.etcd import EtcdServer

pytestmark = pytest.mark.etcd
C = control_pb2
MD = bearer("tok-admin")


def summary(message: control_pb2.WatchConfigResponse) -> tuple[Any, ...]:
    return (
        message.revision,
        [(e.key, e.status, e.version) for e in message.upserted_experiments],
        list(message.deleted_experiments),
        [h.id for h in message.upserted_holdouts],
    )


async def test_two_replicas_stream_identical_changes(etcd_server: EtcdServer) -> None:
    ns = f"/t-{uuid.uuid4().hex[:8]}"
    stores = [EtcdStore(etcd_server.endpoint, namespace=ns) for _ in range(2)]
    servers = [await start_server(s, TokenTable(TOKENS), "127.0.0.1:0", schedule_interval=None) for s in stores]
    channels = [grpc.aio.insecure_channel(s.address) for s in servers]
    stubs = [Stubs(ch) for ch in channels]
    try:
        streams = [s.config.WatchConfig(C.WatchConfigRequest(), metadata=MD) for s in stubs]
        firsts = [await next_message(st) for st in streams]
        for first in firsts:
            first.snapshot.ClearField("created_at")
        assert firsts[0].snapshot == firsts[1].snapshot
        # writes alternate between the replicas
        a, b = stubs
        await setup_layer(a, MD)
        await b.experiments.CreateExperiment(C.CreateExperimentRequest(experiment=experiment("rep")), metadata=MD)
        await a.experiments.LaunchExperiment(C.LaunchExperimentRequest(key="rep"), metadata=MD)
        await b.experiments.PauseExperiment(C.PauseExperimentRequest(key="rep"), metadata=MD)
        await a.holdouts.CreateHoldout(
            C.CreateHoldoutRequest(holdout=config_pb2.Holdout(id="h", percent_bp=10)), metadata=MD
        )
        got = [[summary(await next_message(st)) for _ in range(5)] for st in streams]
        assert got[0] == got[1]
        assert [g[1] for g in got[0][1:4]] == [
            [("rep", config_pb2.EXPERIMENT_STATUS_DRAFT, 1)],
            [("rep", config_pb2.EXPERIMENT_STATUS_RUNNING, 2)],
            [("rep", config_pb2.EXPERIMENT_STATUS_PAUSED, 3)],
        ]
        # a stale write through the other replica is refused
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await a.experiments.ResumeExperiment(C.ResumeExperimentRequest(key="rep", expected_version=2), metadata=MD)
        assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        for st in streams:
            st.cancel()
    finally:
        for ch in channels:
            await ch.close()
        for srv in servers:
            await srv.stop(0)
        for store in stores:
            await store.close()


async def test_etcd_down_then_back(fresh_etcd: EtcdServer) -> None:
    store = EtcdStore(fresh_etcd.endpoint)
    server = await start_server(store, TokenTable(TOKENS), "127.0.0.1:0", schedule_interval=None)
    channel = grpc.aio.insecure_channel(server.address)
    st = Stubs(channel)
    try:
        await setup_layer(st, MD)
        await st.experiments.CreateExperiment(C.CreateExperimentRequest(experiment=experiment("o")), metadata=MD)
        stream = st.config.WatchConfig(C.WatchConfigRequest(), metadata=MD)
        first = await next_message(stream)
        launched = await st.experiments.LaunchExperiment(C.LaunchExperimentRequest(key="o"), metadata=MD)
        assert (await next_message(stream)).revision == launched.revision

        await asyncio.to_thread(fresh_etcd.stop)
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await st.experiments.PauseExperiment(C.PauseExperimentRequest(key="o", reason="x"), metadata=MD)
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE
        assert f"etcd at {fresh_etcd.endpoint} is unavailable" in (info.value.details() or "")

        await asyncio.to_thread(fresh_etcd.start)
        paused = None
        for _ in range(50):  # the channel reconnects within about a second
            try:
                paused = await st.experiments.PauseExperiment(
                    C.PauseExperimentRequest(key="o", reason="x"), metadata=MD
                )
                break
            except grpc.aio.AioRpcError as exc:
                assert exc.code() == grpc.StatusCode.UNAVAILABLE
                await asyncio.sleep(0.1)
        assert paused is not None and paused.revision > launched.revision
        # the watcher that stayed connected gets the change; nothing before it was lost
        delta = await next_message(stream, timeout=15)
        assert delta.revision == paused.revision
        assert delta.upserted_experiments[0].status == config_pb2.EXPERIMENT_STATUS_PAUSED
        got = await st.experiments.GetExperiment(C.GetExperimentRequest(key="o"), metadata=MD)
        assert got.experiment.version == 3 and first.snapshot.experiments[0].version == 1
        audit = await st.audit.ListAuditRecords(C.ListAuditRecordsRequest(subject="experiment/o"), metadata=MD)
        assert [r.action for r in audit.records] == ["create", "launch", "pause"]
        stream.cancel()
    finally:
        await channel.close()
        await server.stop(0)
        await store.close()
