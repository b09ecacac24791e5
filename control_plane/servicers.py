"""gRPC servicers: request proto -> `ControlPlane` call -> response proto. Nothing else.

Domain errors are turned into statuses in one place (`_mapped`).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import grpc
from splitline.control_plane.auth import TokenTable, actor_of
from splitline.control_plane.config_stream import ConfigHub
from splitline.control_plane.errors import ControlPlaneError
from splitline.control_plane.service import ControlPlane
from splitline.v1 import control_pb2, control_pb2_grpc

log = logging.getLogger(__name__)
Ctx = grpc.aio.ServicerContext[Any, Any]
Req = TypeVar("Req")
Resp = TypeVar("Resp")


def _mapped(
    method: Callable[[Any, Req, Ctx], Awaitable[Resp]],
) -> Callable[[Any, Req, Ctx], Awaitable[Resp]]:
    @functools.wraps(method)
    async def wrapper(self: Any, request: Req, context: Ctx) -> Resp:
        try:
            return await method(self, request, context)
        except ControlPlaneError as exc:
            await context.abort(exc.code, str(exc))
            raise  # abort raises; this keeps type checkers content

    return wrapper


class _Base:
    def __init__(self, core: ControlPlane, tokens: TokenTable) -> None:
        self.core = core
        self.tokens = tokens


class ExperimentServicer(_Base, control_pb2_grpc.ExperimentServiceServicer):
    @_mapped
    async def CreateExperiment(
        self, request: control_pb2.CreateExperimentRequest, context: Ctx
    ) -> control_pb2.CreateExperimentResponse:
        exp, done = await self.core.create_experiment(
            actor_of(self.tokens, context), request.experiment, request.reason
        )
        return control_pb2.CreateExperimentResponse(experiment=exp, revision=done.revision)

    @_mapped
    async def GetExperiment(
        self, request: control_pb2.GetExperimentRequest, context: Ctx
    ) -> control_pb2.GetExperimentResponse:
        return control_pb2.GetExperimentResponse(experiment=await self.core.get_experiment(request.key))

    @_mapped
    async def ListExperiments(
        self, request: control_pb2.ListExperimentsRequest, context: Ctx
    ) -> control_pb2.ListExperimentsResponse:
        return control_pb2.ListExperimentsResponse(experiments=await self.core.list_experiments(request))

    @_mapped
    async def UpdateExperiment(
        self, request: control_pb2.UpdateExperimentRequest, context: Ctx
    ) -> control_pb2.UpdateExperimentResponse:
        exp, done, moved = await self.core.update_experiment(actor_of(self.tokens, context), request)
        return control_pb2.UpdateExperimentResponse(experiment=exp, revision=done.revision, moved_buckets=moved)

    async def _transition(self, action: str, request: Any, context: Ctx, **extra: Any) -> dict[str, Any]:
        exp, done = await self.core.transition(
            actor_of(self.tokens, context),
            action,
            request.key,
            request.expected_version,
            request.reason,
            **extra,
        )
        return {"experiment": exp, "revision": done.revision, "committed_at": done.committed_at}

    @_mapped
    async def LaunchExperiment(
        self, request: control_pb2.LaunchExperimentRequest, context: Ctx
    ) -> control_pb2.LaunchExperimentResponse:
        return control_pb2.LaunchExperimentResponse(
            **await self._transition("launch", request, context, traffic_bp=request.traffic_bp)
        )

    @_mapped
    async def RampExperiment(
        self, request: control_pb2.RampExperimentRequest, context: Ctx
    ) -> control_pb2.RampExperimentResponse:
        return control_pb2.RampExperimentResponse(
            **await self._transition("ramp", request, context, traffic_bp=request.traffic_bp)
        )

    @_mapped
    async def PauseExperiment(
        self, request: control_pb2.PauseExperimentRequest, context: Ctx
    ) -> control_pb2.PauseExperimentResponse:
        return control_pb2.PauseExperimentResponse(**await self._transition("pause", request, context))

    @_mapped
    async def ResumeExperiment(
        self, request: control_pb2.ResumeExperimentRequest, context: Ctx
    ) -> control_pb2.ResumeExperimentResponse:
        return control_pb2.ResumeExperimentResponse(**await self._transition("resume", request, context))

    @_mapped
    async def ConcludeExperiment(
        self, request: control_pb2.ConcludeExperimentRequest, context: Ctx
    ) -> control_pb2.ConcludeExperimentResponse:
        return control_pb2.ConcludeExperimentResponse(**await self._transition("conclude", request, context))

    @_mapped
    async def ShipExperiment(
        self, request: control_pb2.ShipExperimentRequest, context: Ctx
    ) -> control_pb2.ShipExperimentResponse:
        return control_pb2.ShipExperimentResponse(
            **await self._transition("ship", request, context, variant_key=request.variant_key)
        )

    @_mapped
    async def RevertExperiment(
        self, request: control_pb2.RevertExperimentRequest, context: Ctx
    ) -> control_pb2.RevertExperimentResponse:
        return control_pb2.RevertExperimentResponse(**await self._transition("revert", request, context))

    @_mapped
    async def ArchiveExperiment(
        self, request: control_pb2.ArchiveExperimentRequest, context: Ctx
    ) -> control_pb2.ArchiveExperimentResponse:
        return control_pb2.ArchiveExperimentResponse(**await self._transition("archive", request, context))


class LayerServicer(_Base, control_pb2_grpc.LayerServiceServicer):
    @_mapped
    async def CreateLayer(
        self, request: control_pb2.CreateLayerRequest, context: Ctx
    ) -> control_pb2.CreateLayerResponse:
        layer, done = await self.core.create_layer(actor_of(self.tokens, context), request.layer, request.reason)
        return control_pb2.CreateLayerResponse(layer=layer, revision=done.revision)

    @_mapped
    async def ListLayers(self, request: control_pb2.ListLayersRequest, context: Ctx) -> control_pb2.ListLayersResponse:
        return control_pb2.ListLayersResponse(layers=await self.core.list_layers())

    @_mapped
    async def GetLayerOccupancy(
        self, request: control_pb2.GetLayerOccupancyRequest, context: Ctx
    ) -> control_pb2.GetLayerOccupancyResponse:
        return await self.core.occupancy(request.layer_id)


class HoldoutServicer(_Base, control_pb2_grpc.HoldoutServiceServicer):
    @_mapped
    async def CreateHoldout(
        self, request: control_pb2.CreateHoldoutRequest, context: Ctx
    ) -> control_pb2.CreateHoldoutResponse:
        holdout, done = await self.core.create_holdout(actor_of(self.tokens, context), request.holdout, request.reason)
        return control_pb2.CreateHoldoutResponse(holdout=holdout, revision=done.revision)

    @_mapped
    async def ListHoldouts(
        self, request: control_pb2.ListHoldoutsRequest, context: Ctx
    ) -> control_pb2.ListHoldoutsResponse:
        return control_pb2.ListHoldoutsResponse(holdouts=await self.core.list_holdouts())

    @_mapped
    async def DeleteHoldout(
        self, request: control_pb2.DeleteHoldoutRequest, context: Ctx
    ) -> control_pb2.DeleteHoldoutResponse:
        done = await self.core.delete_holdout(actor_of(self.tokens, context), request.id, request.reason)
        return control_pb2.DeleteHoldoutResponse(revision=done.revision)


class MetricServicer(_Base, control_pb2_grpc.MetricServiceServicer):
    @_mapped
    async def PutMetric(self, request: control_pb2.PutMetricRequest, context: Ctx) -> control_pb2.PutMetricResponse:
        metric, done = await self.core.put_metric(actor_of(self.tokens, context), request.metric, request.reason)
        return control_pb2.PutMetricResponse(metric=metric, revision=done.revision)

    @_mapped
    async def ListMetrics(
        self, request: control_pb2.ListMetricsRequest, context: Ctx
    ) -> control_pb2.ListMetricsResponse:
        metrics = await self.core.metrics()
        return control_pb2.ListMetricsResponse(metrics=[metrics[k] for k in sorted(metrics)])


class AuditServicer(_Base, control_pb2_grpc.AuditServiceServicer):
    @_mapped
    async def ListAuditRecords(
        self, request: control_pb2.ListAuditRecordsRequest, context: Ctx
    ) -> control_pb2.ListAuditRecordsResponse:
        return control_pb2.ListAuditRecordsResponse(records=await self.core.list_audit(request.subject, request.limit))


class ConfigServicer(control_pb2_grpc.ConfigServiceServicer):
    def __init__(self, hub: ConfigHub) -> None:
        self.hub = hub

    async def WatchConfig(
        self, request: control_pb2.WatchConfigRequest, context: Ctx
    ) -> AsyncIterator[control_pb2.WatchConfigResponse]:
        async for message in self.hub.stream(request.from_revision):
            yield message
