"""The role matrix: every RPC x every role (and no token, and a wrong token)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from splitline.control_plane.auth import REQUIRED_ROLE, Role, TokenTable
from splitline.control_plane.server import start_server
from splitline.control_plane.store import EmbeddedStore
from splitline.v1 import control_pb2

from tests.control_plane.conftest import TOKENS

DENIED = (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED)
TOKEN_OF = {p.role: token for token, p in TOKENS.items()}


def all_methods() -> list[tuple[str, type, bool]]:
    out = []
    for service in control_pb2.DESCRIPTOR.services_by_name.values():
        for method in service.methods:
            request = getattr(control_pb2, method.input_type.name)
            out.append((f"/{service.full_name}/{method.name}", request, method.server_streaming))
    return out


def test_every_rpc_has_a_role() -> None:
    assert {m for m, _, _ in all_methods()} == set(REQUIRED_ROLE)
    assert REQUIRED_ROLE["/splitline.v1.ExperimentService/PauseExperiment"] == Role.OPERATOR
    assert REQUIRED_ROLE["/splitline.v1.ExperimentService/CreateExperiment"] == Role.EXPERIMENTER


@pytest.fixture
async def channel(tmp_path: Path) -> AsyncIterator[grpc.aio.Channel]:
    store = EmbeddedStore(tmp_path)
    server = await start_server(store, TokenTable(TOKENS), "127.0.0.1:0", schedule_interval=None)
    ch = grpc.aio.insecure_channel(server.address)
    yield ch
    await ch.close()
    await server.stop(0)
    await store.close()


async def call(
    channel: grpc.aio.Channel, method: str, request: type, streaming: bool, token: str | None
) -> grpc.StatusCode:
    md = (("authorization", f"Bearer {token}"),) if token is not None else ()
    try:
        if streaming:
            stream = channel.unary_stream(
                method,
                request_serializer=lambda m: m.SerializeToString(),
                response_deserializer=control_pb2.WatchConfigResponse.FromString,
            )
            call_ = stream(request(), metadata=md, timeout=5)
            await call_.read()
            call_.cancel()
        else:
            unary = channel.unary_unary(
                method, request_serializer=lambda m: m.SerializeToString(), response_deserializer=lambda b: b
            )
            await unary(request(), metadata=md, timeout=5)
    except grpc.aio.AioRpcError as exc:
        return exc.code()
    return grpc.StatusCode.OK


async def test_role_matrix(channel: grpc.aio.Channel) -> None:
    failures = []
    for method, request, streaming in all_methods():
        required = REQUIRED_ROLE[method]
        for role in Role:
            code = await call(channel, method, request, streaming, TOKEN_OF[role])
            allowed = role >= required
            if (allowed and code in DENIED) or (not allowed and code != grpc.StatusCode.PERMISSION_DENIED):
                failures.append(f"{method} as {role.name}: {code.name}")
        for token in (None, "not-a-token"):
            code = await call(channel, method, request, streaming, token)
            if code != grpc.StatusCode.UNAUTHENTICATED:
                failures.append(f"{method} with token {token!r}: {code.name}")
    assert not failures, failures


async def test_health_and_reflection_are_open(channel: grpc.aio.Channel) -> None:
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    resp = await health_pb2_grpc.HealthStub(channel).Check(
        health_pb2.HealthCheckRequest(service="splitline.v1.ExperimentService")
    )
    assert resp.status == health_pb2.HealthCheckResponse.SERVING
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

    stub = reflection_pb2_grpc.ServerReflectionStub(channel)

    async def one() -> AsyncIterator[reflection_pb2.ServerReflectionRequest]:
        yield reflection_pb2.ServerReflectionRequest(list_services="")

    names = set()
    async for answer in stub.ServerReflectionInfo(one()):
        names = {s.name for s in answer.list_services_response.service}
        break
    assert "splitline.v1.ConfigService" in names and "grpc.health.v1.Health" in names


def test_tokens_file(tmp_path: Path) -> None:
    path = tmp_path / "tokens.yaml"
    path.write_text("tokens:\n  abc123: {role: operator, actor: pager}\n  zzz999: viewer\n")
    table = TokenTable.load(path)
    op = table.lookup([("authorization", "Bearer abc123")])
    assert op is not None and op.role == Role.OPERATOR and op.actor == "pager"
    viewer = table.lookup([("authorization", "bearer zzz999")])
    assert viewer is not None and viewer.role == Role.VIEWER
    assert table.lookup([("authorization", "Bearer nope")]) is None
    path.write_text("tokens:\n  abc: superuser\n")
    with pytest.raises(ValueError, match="unknown role 'superuser'"):
        TokenTable.load(path)
