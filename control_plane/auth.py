"""Bearer tokens -> roles, and the interceptor that enforces the role per RPC.

Tokens file (YAML)::

    tokens:
      s3cr3t-admin: {role: admin, actor: alice}
      s3cr3t-ops:   {role: operator, actor: pager-bot}
      s3cr3t-view:  viewer            # short form: actor = "viewer:<first 4 chars>"

Roles are ordered viewer < experimenter < operator < admin; each RPC names the
least role that may call it (control.proto's header lists the policy). Health
and reflection stay open so `grpcurl` can discover the API.
"""

from __future__ import annotations

import enum
import hmac
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TypeAlias

import grpc
import yaml

DEV_TOKEN: Final = "splitline-dev-token"


class Role(enum.IntEnum):
    VIEWER = 1
    EXPERIMENTER = 2
    OPERATOR = 3
    ADMIN = 4


@dataclass(frozen=True, slots=True)
class Principal:
    actor: str
    role: Role


_P = "/splitline.v1."
REQUIRED_ROLE: Final[Mapping[str, Role]] = {
    f"{_P}ExperimentService/GetExperiment": Role.VIEWER,
    f"{_P}ExperimentService/ListExperiments": Role.VIEWER,
    f"{_P}ExperimentService/CreateExperiment": Role.EXPERIMENTER,
    f"{_P}ExperimentService/UpdateExperiment": Role.EXPERIMENTER,
    f"{_P}ExperimentService/LaunchExperiment": Role.EXPERIMENTER,
    f"{_P}ExperimentService/RampExperiment": Role.EXPERIMENTER,
    f"{_P}ExperimentService/PauseExperiment": Role.OPERATOR,
    f"{_P}ExperimentService/ResumeExperiment": Role.OPERATOR,
    f"{_P}ExperimentService/ConcludeExperiment": Role.EXPERIMENTER,
    f"{_P}ExperimentService/ShipExperiment": Role.EXPERIMENTER,
    f"{_P}ExperimentService/RevertExperiment": Role.EXPERIMENTER,
    f"{_P}ExperimentService/ArchiveExperiment": Role.EXPERIMENTER,
    f"{_P}LayerService/CreateLayer": Role.EXPERIMENTER,
    f"{_P}LayerService/ListLayers": Role.VIEWER,
    f"{_P}LayerService/GetLayerOccupancy": Role.VIEWER,
    f"{_P}HoldoutService/CreateHoldout": Role.EXPERIMENTER,
    f"{_P}HoldoutService/ListHoldouts": Role.VIEWER,
    f"{_P}HoldoutService/DeleteHoldout": Role.EXPERIMENTER,
    f"{_P}MetricService/PutMetric": Role.EXPERIMENTER,
    f"{_P}MetricService/ListMetrics": Role.VIEWER,
    f"{_P}AuditService/ListAuditRecords": Role.VIEWER,
    f"{_P}ConfigService/WatchConfig": Role.VIEWER,
}
OPEN_PREFIXES: Final = ("/grpc.health.v1.", "/grpc.reflection.")


class TokenTable:
    """Token -> principal; compared in constant time."""

    def __init__(self, tokens: Mapping[str, Principal]) -> None:
        self._tokens = dict(tokens)

    @classmethod
    def dev(cls) -> TokenTable:
        """One admin token for laptops and the demo; never use it on a shared network."""
        return cls({DEV_TOKEN: Principal("dev", Role.ADMIN)})

    @classmethod
    def load(cls, path: str | Path) -> TokenTable:
        doc = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        raw = doc.get("tokens", doc) if isinstance(doc, dict) else None
        if not isinstance(raw, dict):
            raise ValueError(f"{path}: expected a mapping `tokens: {{TOKEN: ROLE | {{role, actor}}}}`")
        table: dict[str, Principal] = {}
        for token, spec in raw.items():
            role_name, actor = (spec, "") if isinstance(spec, str) else (spec.get("role", ""), spec.get("actor", ""))
            try:
                role = Role[str(role_name).upper()]
            except KeyError:
                raise ValueError(
                    f"{path}: token {str(token)[:4]}…: unknown role {role_name!r}; "
                    f"one of {[r.name.lower() for r in Role]}"
                ) from None
            table[str(token)] = Principal(actor or f"{role.name.lower()}:{str(token)[:4]}", role)
        return cls(table)

    def lookup(self, metadata: Any) -> Principal | None:
        header = ""
        for key, value in metadata or ():
            if key == "authorization":
                header = value if isinstance(value, str) else value.decode()
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return None
        found = None
        for known, principal in self._tokens.items():
            if hmac.compare_digest(known.encode(), token.strip().encode()):
                found = principal
        return found


def _denied(
    handler: grpc.RpcMethodHandler[Any, Any], code: grpc.StatusCode, message: str
) -> grpc.RpcMethodHandler[Any, Any]:
    async def abort(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        await context.abort(code, message)

    if handler.unary_stream is not None:

        async def abort_stream(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            await context.abort(code, message)
            yield  # pragma: no cover - makes this an async generator

        return grpc.unary_stream_rpc_method_handler(
            abort_stream,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
    return grpc.unary_unary_rpc_method_handler(
        abort,
        request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )


if TYPE_CHECKING:
    _Interceptor: TypeAlias = grpc.aio.ServerInterceptor[Any, Any]
else:
    _Interceptor = grpc.aio.ServerInterceptor


class AuthInterceptor(_Interceptor):
    """UNAUTHENTICATED without a known token, PERMISSION_DENIED below the RPC's role."""

    def __init__(self, tokens: TokenTable) -> None:
        self._tokens = tokens

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any]]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any]:
        method = handler_call_details.method
        handler = await continuation(handler_call_details)
        if method.startswith(OPEN_PREFIXES) or handler is None:
            return handler
        required = REQUIRED_ROLE.get(method, Role.ADMIN)  # unknown methods: least privilege
        principal = self._tokens.lookup(handler_call_details.invocation_metadata)
        if principal is None:
            return _denied(
                handler,
                grpc.StatusCode.UNAUTHENTICATED,
                "missing or unknown bearer token (send `authorization: Bearer <token>`)",
            )
        if principal.role < required:
            return _denied(
                handler,
                grpc.StatusCode.PERMISSION_DENIED,
                f"{method.rsplit('/', 1)[1]} needs role {required.name.lower()}; "
                f"{principal.actor} has {principal.role.name.lower()}",
            )
        return handler


def actor_of(tokens: TokenTable, context: grpc.aio.ServicerContext[Any, Any]) -> str:
    principal = tokens.lookup(context.invocation_metadata())
    return principal.actor if principal else "unknown"
