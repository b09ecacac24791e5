"""Fixtures: the same behavioural suite against the embedded store and a real etcd."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from splitline.control_plane.auth import Principal, Role, TokenTable
from splitline.control_plane.client import Stubs, bearer
from splitline.control_plane.server import RunningServer, start_server
from splitline.control_plane.store import EmbeddedStore, Store

from tests.harness.etcd import EtcdServer, etcd_server, fresh_etcd  # noqa: F401  (fixtures)

TOKENS = {
    "tok-viewer": Principal("vera", Role.VIEWER),
    "tok-experimenter": Principal("erin", Role.EXPERIMENTER),
    "tok-operator": Principal("otto", Role.OPERATOR),
    "tok-admin": Principal("ada", Role.ADMIN),
}


def make_store(kind: str, tmp_path: Path, etcd: EtcdServer | None) -> Store:
    if kind == "embedded":
        return EmbeddedStore(tmp_path / "store")
    from splitline.control_plane.store.etcd import EtcdStore

    assert etcd is not None
    return EtcdStore(etcd.endpoint, namespace=f"/t-{uuid.uuid4().hex[:8]}")


@dataclass
class Plane:
    """A running control plane plus a client for it."""

    server: RunningServer
    store: Store
    channel: grpc.aio.Channel
    stubs: Stubs
    md: Any  # admin metadata

    def as_role(self, token: str) -> Any:
        return bearer(token)


@pytest.fixture(params=["embedded", pytest.param("etcd", marks=pytest.mark.etcd)])
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def plane(store_kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Plane]:
    etcd = request.getfixturevalue("etcd_server") if store_kind == "etcd" else None
    store = make_store(store_kind, tmp_path, etcd)
    server = await start_server(store, TokenTable(TOKENS), "127.0.0.1:0", schedule_interval=None)
    channel = grpc.aio.insecure_channel(server.address)
    try:
        yield Plane(server, store, channel, Stubs(channel), bearer("tok-admin"))
    finally:
        await channel.close()
        await server.stop(0)
        await store.close()
