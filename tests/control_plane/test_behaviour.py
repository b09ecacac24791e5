"""CRUD, lifecycle, allocation, concurrency, audit and WatchConfig through gRPC,
run against both stores (the `plane` fixture is parametrised)."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from splitline.core import compile_snapshot
from splitline.v1 import config_pb2, control_pb2

from tests.control_plane.conftest import Plane
from tests.control_plane.helpers import experiment, next_message, setup_layer

S = config_pb2
C = control_pb2


async def code_of(call: object) -> grpc.StatusCode:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call  # type: ignore[misc]
    return info.value.code()


async def test_create_get_list_update(plane: Plane) -> None:
    st, md = plane.stubs, plane.md
    await setup_layer(st, md)
    created = await st.experiments.CreateExperiment(
        C.CreateExperimentRequest(experiment=experiment("btn", weights=(3000, 7000)), reason="new"), metadata=md
    )
    exp = created.experiment
    assert exp.status == S.EXPERIMENT_STATUS_DRAFT and exp.salt == "btn" and exp.version == 1
    assert [(r.start, r.end) for v in exp.variants for r in v.ranges] == [(0, 3000), (3000, 10000)]
    got = await st.experiments.GetExperiment(C.GetExperimentRequest(key="btn"), metadata=md)
    assert got.experiment == exp
    listed = await st.experiments.ListExperiments(C.ListExperimentsRequest(layer_id="checkout"), metadata=md)
    assert [e.key for e in listed.experiments] == ["btn"]
    none = await st.experiments.ListExperiments(
        C.ListExperimentsRequest(statuses=[S.EXPERIMENT_STATUS_RUNNING]), metadata=md
    )
    assert not none.experiments
    new = S.Experiment()
    new.CopyFrom(exp)
    new.description = "bigger button"
    new.variants[0].weight, new.variants[1].weight = 5000, 5000  # a draft may change weights freely
    updated = await st.experiments.UpdateExperiment(
        C.UpdateExperimentRequest(experiment=new, expected_version=1), metadata=md
    )
    assert updated.experiment.version == 2 and updated.experiment.description == "bigger button"
    assert [(r.start, r.end) for r in updated.experiment.variants[1].ranges] == [(5000, 10000)]
    # stale version: refused, nothing overwritten
    assert (
        await code_of(
            st.experiments.UpdateExperiment(C.UpdateExperimentRequest(experiment=new, expected_version=1), metadata=md)
        )
        == grpc.StatusCode.FAILED_PRECONDITION
    )
    assert (
        await code_of(
            st.experiments.CreateExperiment(C.CreateExperimentRequest(experiment=experiment("btn")), metadata=md)
        )
        == grpc.StatusCode.ALREADY_EXISTS
    )
    assert (
        await code_of(st.experiments.GetExperiment(C.GetExperimentRequest(key="nope"), metadata=md))
        == grpc.StatusCode.NOT_FOUND
    )


async def test_lifecycle_and_invalid_transitions(plane: Plane) -> None:
    st, md = plane.stubs, plane.md
    await setup_layer(st, md)
    await st.experiments.CreateExperiment(C.CreateExperimentRequest(experiment=experiment("e1")), metadata=md)
    for call in (
        st.experiments.PauseExperiment(C.PauseExperimentRequest(key="e1"), metadata=md),
        st.experiments.ShipExperiment(C.ShipExperimentRequest(key="e1", variant_key="control"), metadata=md),
        st.experiments.ResumeExperiment(C.ResumeExperimentRequest(key="e1"), metadata=md),
    ):
        assert await code_of(call) == grpc.StatusCode.FAILED_PRECONDITION
    launched = await st.experiments.LaunchExperiment(
        C.LaunchExperimentRequest(key="e1", expected_version=1), metadata=md
    )
    e = launched.experiment
    assert e.status == S.EXPERIMENT_STATUS_RUNNING and [(r.start, r.end) for r in e.ranges] == [(0, 2000)]
    assert launched.committed_at.seconds > 0 and e.HasField("started_at")
    paused = await st.experiments.PauseExperiment(C.PauseExperimentRequest(key="e1", reason="errors"), metadata=md)
    assert paused.experiment.status == S.EXPERIMENT_STATUS_PAUSED and paused.revision > launched.revision
    assert paused.experiment.ranges == e.ranges  # a pause keeps units where they are
    await st.experiments.ResumeExperiment(C.ResumeExperimentRequest(key="e1"), metadata=md)
    ramped = await st.experiments.RampExperiment(C.RampExperimentRequest(key="e1", traffic_bp=5000), metadata=md)
    assert [(r.start, r.end) for r in ramped.experiment.ranges] == [(0, 5000)]
    assert (
        await code_of(st.experiments.RampExperiment(C.RampExperimentRequest(key="e1", traffic_bp=4000), metadata=md))
        == grpc.StatusCode.INVALID_ARGUMENT
    )
    concluded = await st.experiments.ConcludeExperiment(C.ConcludeExperimentRequest(key="e1"), metadata=md)
    assert concluded.experiment.status == S.EXPERIMENT_STATUS_CONCLUDED and not concluded.experiment.ranges
    assert (
        await code_of(st.experiments.ShipExperiment(C.ShipExperimentRequest(key="e1", variant_key="nope"), metadata=md))
        == grpc.StatusCode.INVALID_ARGUMENT
    )
    shipped = await st.experiments.ShipExperiment(
        C.ShipExperimentRequest(key="e1", variant_key="treatment1"), metadata=md
    )
    assert shipped.experiment.shipped_variant == "treatment1"
    assert (
        await code_of(st.experiments.RevertExperiment(C.RevertExperimentRequest(key="e1"), metadata=md))
        == grpc.StatusCode.FAILED_PRECONDITION
    )
    await st.experiments.ArchiveExperiment(C.ArchiveExperimentRequest(key="e1"), metadata=md)
    listed = await st.experiments.ListExperiments(C.ListExperimentsRequest(), metadata=md)
    assert not listed.experiments
    listed = await st.experiments.ListExperiments(C.ListExperimentsRequest(include_archived=True), metadata=md)
    assert [e.key for e in listed.experiments] == ["e1"]
    audit = await st.audit.ListAuditRecords(C.ListAuditRecordsRequest(subject="experiment/e1"), metadata=md)
    actions = [r.action for r in audit.records]
    assert actions == ["create", "launch", "pause", "resume", "ramp", "conclude", "ship", "archive"]
    assert all(r.actor == "ada" for r in audit.records)
    pause = audit.records[2]
    assert pause.reason == "errors" and '"EXPERIMENT_STATUS_RUNNING"' in pause.before_json
    assert '"EXPERIMENT_STATUS_PAUSED"' in pause.after_json and pause.revision == paused.revision


async def test_layer_allocation_never_overlaps(plane: Plane) -> None:
    st, md = plane.stubs, plane.md
    await setup_layer(st, md)
    for key, bp in (("a", 4000), ("b", 4000), ("c", 3000)):
        await st.experiments.CreateExperiment(
            C.CreateExperimentRequest(experiment=experiment(key, traffic_bp=bp)), metadata=md
        )
    await st.experiments.LaunchExperiment(C.LaunchExperimentRequest(key="a"), metadata=md)
    await st.experiments.LaunchExperiment(C.LaunchExperimentRequest(key="b"), metadata=md)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await st.experiments.LaunchExperiment(C.LaunchExperimentRequest(key="c"), metadata=md)
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "2000 (20%) are free" in (info.value.details() or "")
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await st.experiments.RampExperiment(C.RampExperimentRequest(key="a", traffic_bp=6500), metadata=md)
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    await st.experiments.RampExperiment(C.RampExperimentRequest(key="a", traffic_bp=6000), metadata=md)
    occ = await st.layers.GetLayerOccupancy(C.GetLayerOccupancyRequest(layer_id="checkout"), metadata=md)
    assert occ.free_buckets == 0
    got = {a.experiment_key: [(r.start, r.end) for r in a.ranges] for a in occ.allocations}
    assert got == {"a": [(0, 4000), (8000, 10000)], "b": [(4000, 8000)]}
    # concluding frees the ranges for the next experiment
    await st.experiments.ConcludeExperiment(C.ConcludeExperimentRequest(key="b"), metadata=md)
    c = await st.experiments.LaunchExperiment(C.LaunchExperimentRequest(key="c"), metadata=md)
    assert [(r.start, r.end) for r in c.experiment.ranges] == [(4000, 7000)]
    listed = await st.experiments.ListExperiments(C.ListExperimentsRequest(), metadata=md)
    snapshot = S.ConfigSnapshot(
        revision=1, layers=[S.Layer(id="checkout", salt="checkout")], experiments=listed.experiments
    )
    compile_snapshot(snapshot)  # the core accepts what the control plane holds


async def test_racing_launches_one_wins(plane: Plane) -> None:
    st, md = plane.stubs, plane.md
    await setup_layer(st, md)
    for key in ("x", "y"):
        await st.experiments.CreateExperiment(
            C.CreateExperimentRequest(experiment=experiment(key, traffic_bp=6000)), metadata=md
        )
    results = await asyncio.gather(
        st.experiments.LaunchExperiment(C.LaunchExperimentRequest(key="x"), metadata=md),
        st.experiments.LaunchExperiment(C.LaunchExperimentRequest(key="y"), metadata=md),
        return_exceptions=True,
    )
    errors = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
    assert len(errors) == 1
    assert errors[0].code() in (grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.FAILED_PRECONDITION)


async def test_reallocation_is_explicit_and_minimal(plane: Plane) -> None:
    st, md = plane.stubs, plane.md
    await setup_layer(st, md)
    await st.experiments.CreateExperiment(C.CreateExperimentRequest(experiment=experiment("r")), metadata=md)
    launched = await st.experiments.LaunchExperiment(C.LaunchExperimentRequest(key="r"), metadata=md)
    new = S.Experiment()
    new.CopyFrom(launched.experiment)
    new.variants[0].weight, new.variants[1].weight = 8000, 2000
    request = C.UpdateExperimentRequest(experiment=new, expected_version=launched.experiment.version)
    assert await code_of(st.experiments.UpdateExperiment(request, metadata=md)) == grpc.StatusCode.FAILED_PRECONDITION
    request.allow_reallocation = True
    done = await st.experiments.UpdateExperiment(request, metadata=md)
    assert done.moved_buckets == 3000 and done.experiment.analysis_period == 1
    # the shrinking variant keeps its lowest buckets; the growing one takes the released tail
    assert [(r.start, r.end) for r in done.experiment.variants[0].ranges] == [(0, 5000), (7000, 10000)]
    assert [(r.start, r.end) for r in done.experiment.variants[1].ranges] == [(5000, 7000)]


async def test_invalid_definitions_refused_with_fields(plane: Plane) -> None:
    st, md = plane.stubs, plane.md
    await setup_layer(st, md)
    bad = experiment("bad", weights=(5000, 4000))
    bad.rules.add(attribute="country", operator=S.OPERATOR_GT, values=["x"])
    bad.primary_metric = "revenue"
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await st.experiments.CreateExperiment(C.CreateExperimentRequest(experiment=bad), metadata=md)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "experiment.variants: weights sum to 9000" in (info.value.details() or "")
    bad = experiment("bad2", layer="nolayer")
    bad.primary_metric = "revenue"
    bad.rules.add(attribute="version", operator=S.OPERATOR_SEMVER_GT, values=["not-a-version"])
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await st.experiments.CreateExperiment(C.CreateExperimentRequest(experiment=bad), metadata=md)
    details = info.value.details() or ""
    assert "experiment.layer_id: unknown layer 'nolayer'" in details
    assert "experiment.primary_metric: unknown metric 'revenue'" in details
    assert "experiment.rules[0]" in details


async def test_holdouts_metrics_layers(plane: Plane) -> None:
    st, md = plane.stubs, plane.md
    await setup_layer(st, md)
    assert (
        await code_of(st.layers.CreateLayer(C.CreateLayerRequest(layer=S.Layer(id="checkout")), metadata=md))
        == grpc.StatusCode.ALREADY_EXISTS
    )
    layers = await st.layers.ListLayers(C.ListLayersRequest(), metadata=md)
    assert [(la.id, la.salt) for la in layers.layers] == [("checkout", "checkout")]
    await st.holdouts.CreateHoldout(C.CreateHoldoutRequest(holdout=S.Holdout(id="h1", percent_bp=500)), metadata=md)
    assert (
        await code_of(
            st.holdouts.CreateHoldout(C.CreateHoldoutRequest(holdout=S.Holdout(id="h2", percent_bp=20000)), metadata=md)
        )
        == grpc.StatusCode.INVALID_ARGUMENT
    )
    holdouts = await st.holdouts.ListHoldouts(C.ListHoldoutsRequest(), metadata=md)
    assert [h.id for h in holdouts.holdouts] == ["h1"]
    await st.holdouts.DeleteHoldout(C.DeleteHoldoutRequest(id="h1"), metadata=md)
    assert not (await st.holdouts.ListHoldouts(C.ListHoldoutsRequest(), metadata=md)).holdouts
    metric = C.MetricDefinition(
        name="revenue", kind=C.METRIC_KIND_MEAN, events=["purchase"], direction=C.METRIC_DIRECTION_HIGHER_IS_BETTER
    )
    await st.metrics.PutMetric(C.PutMetricRequest(metric=metric), metadata=md)
    assert (
        await code_of(
            st.metrics.PutMetric(
                C.PutMetricRequest(metric=C.MetricDefinition(name="m2", kind=C.METRIC_KIND_RATIO, events=["a"])),
                metadata=md,
            )
        )
        == grpc.StatusCode.INVALID_ARGUMENT
    )
    assert [m.name for m in (await st.metrics.ListMetrics(C.ListMetricsRequest(), metadata=md)).metrics] == ["revenue"]
    exp = experiment("with-metric")
    exp.primary_metric = "revenue"
    await st.experiments.CreateExperiment(C.CreateExperimentRequest(experiment=exp), metadata=md)


async def test_watch_snapshot_then_changes_and_resume(plane: Plane) -> None:
    st, md = plane.stubs, plane.md
    await setup_layer(st, md)
    await st.experiments.CreateExperiment(C.CreateExperimentRequest(experiment=experiment("w")), metadata=md)
    stream = st.config.WatchConfig(C.WatchConfigRequest(), metadata=md)
    first = await next_message(stream)
    assert first.HasField("snapshot") and [e.key for e in first.snapshot.experiments] == ["w"]
    assert first.snapshot.revision == first.revision
    launched = await st.experiments.LaunchExperiment(C.LaunchExperimentRequest(key="w"), metadata=md)
    delta = await next_message(stream)
    assert not delta.HasField("snapshot") and delta.revision == launched.revision
    assert [e.status for e in delta.upserted_experiments] == [S.EXPERIMENT_STATUS_RUNNING]
    stream.cancel()
    # changes while disconnected are replayed on resume, in order, nothing missed
    held = delta.revision
    paused = await st.experiments.PauseExperiment(C.PauseExperimentRequest(key="w"), metadata=md)
    await st.holdouts.CreateHoldout(C.CreateHoldoutRequest(holdout=S.Holdout(id="h", percent_bp=100)), metadata=md)
    resumed = await st.experiments.ResumeExperiment(C.ResumeExperimentRequest(key="w"), metadata=md)
    stream = st.config.WatchConfig(C.WatchConfigRequest(from_revision=held), metadata=md)
    got = [await next_message(stream) for _ in range(3)]
    assert not any(m.HasField("snapshot") for m in got)
    assert got[0].revision == paused.revision and got[0].upserted_experiments[0].status == S.EXPERIMENT_STATUS_PAUSED
    assert [h.id for h in got[1].upserted_holdouts] == ["h"]
    assert got[2].revision == resumed.revision
    # archiving removes the experiment from the watchers' view
    await st.experiments.ConcludeExperiment(C.ConcludeExperimentRequest(key="w"), metadata=md)
    await st.experiments.ArchiveExperiment(C.ArchiveExperimentRequest(key="w"), metadata=md)
    await next_message(stream)
    assert list((await next_message(stream)).deleted_experiments) == ["w"]
    stream.cancel()


async def test_watch_after_compaction_gets_full_snapshot(plane: Plane) -> None:
    st, md = plane.stubs, plane.md
    await setup_layer(st, md)
    created = await st.experiments.CreateExperiment(C.CreateExperimentRequest(experiment=experiment("k")), metadata=md)
    launched = await st.experiments.LaunchExperiment(C.LaunchExperimentRequest(key="k"), metadata=md)
    await plane.store.compact(launched.revision)
    # A fresh replica on the compacted store cannot replay from an old revision.
    from splitline.control_plane.config_stream import ConfigHub

    hub = ConfigHub(plane.store)
    await hub.start()
    try:
        stream = hub.stream(created.revision - 1)
        first = await asyncio.wait_for(anext(stream), 10)
        assert first.HasField("snapshot")
        assert [e.status for e in first.snapshot.experiments] == [S.EXPERIMENT_STATUS_RUNNING]
        await stream.aclose()
    finally:
        await hub.stop()
    # and the store itself refuses a watch from before the compaction
    from splitline.control_plane.store import Compacted

    async def first_batch() -> None:
        async for _ in plane.store.watch("/splitline/config/", created.revision - 1):
            break

    with pytest.raises(Compacted):
        await asyncio.wait_for(first_batch(), 15)
