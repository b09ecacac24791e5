"""End to end: the guardrail worker pauses a harmful experiment through the real control plane.

A control plane (embedded store, gRPC, bearer tokens) runs in a thread; two experiments run, one
raising the error rate by 20% and one A/A. The pipeline's Parquet output grows every interval; the
worker (operator token) must pause the harmful one within two looks — audited, with its evidence as
the reason — and leave the A/A one running.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from splitline.analytics.stats.guardrails import Alarm, GrpcControlPlane, Pause, Worker
from splitline.analytics.stats.model import AnalysisConfig

from tests.analytics.stats.parquet_fixture import row, write

server = pytest.importorskip("splitline.control_plane.server")
auth = pytest.importorskip("splitline.control_plane.auth")

import grpc  # noqa: E402
from splitline.v1 import config_pb2 as cfg  # noqa: E402
from splitline.v1 import control_pb2 as c  # noqa: E402
from splitline.v1 import control_pb2_grpc as cg  # noqa: E402

ADMIN, OPERATOR, VIEWER = "admin-token", "guardrail-token", "viewer-token"
RATES = {"checkout-harmful": (0.05, 0.06), "checkout-aa": (0.05, 0.05)}


@pytest.fixture
def control_plane(tmp_path: Path) -> Iterator[str]:
    tokens = auth.TokenTable({ADMIN: auth.Principal("admin", auth.Role.ADMIN),
                              OPERATOR: auth.Principal("guardrails", auth.Role.OPERATOR),
                              VIEWER: auth.Principal("viewer", auth.Role.VIEWER)})
    with server.ServerThread(data_dir=tmp_path / "cp", listen="127.0.0.1:0", tokens=tokens) as srv:
        channel = grpc.insecure_channel(srv.address)
        md = (("authorization", f"Bearer {ADMIN}"),)
        cg.LayerServiceStub(channel).CreateLayer(c.CreateLayerRequest(layer=cfg.Layer(id="checkout")), metadata=md)
        cg.MetricServiceStub(channel).PutMetric(c.PutMetricRequest(metric=c.MetricDefinition(
            name="errors", kind=c.METRIC_KIND_PROPORTION, events=["error"],
            direction=c.METRIC_DIRECTION_LOWER_IS_BETTER, guardrail_threshold=0.0)), metadata=md)
        stub = cg.ExperimentServiceStub(channel)
        for key in RATES:
            made = stub.CreateExperiment(c.CreateExperimentRequest(experiment=cfg.Experiment(
                key=key, layer_id="checkout", unit_type="user_id", traffic_bp=5000, planned_sample_size=100_000,
                variants=[cfg.Variant(key="control", weight=5000), cfg.Variant(key="treatment", weight=5000)],
                guardrail_metrics=["errors"])), metadata=md)
            stub.LaunchExperiment(c.LaunchExperimentRequest(key=key, expected_version=made.experiment.version),
                                  metadata=md)
        channel.close()
        yield srv.address


def _status(address: str, key: str) -> int:
    with grpc.insecure_channel(address) as ch:
        got = cg.ExperimentServiceStub(ch).GetExperiment(c.GetExperimentRequest(key=key),
                                                         metadata=(("authorization", f"Bearer {ADMIN}"),))
    return int(got.experiment.status)


def test_harmful_experiment_is_paused_within_two_intervals(control_plane: str, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(8)
    data = tmp_path / "stats"
    cp = GrpcControlPlane(control_plane, OPERATOR)
    now = [0.0]
    worker = Worker(control=cp, data_path=str(data), config=AnalysisConfig(), clock=lambda: now[0])
    cum = dict.fromkeys(((k, v) for k in RATES for v in ("control", "treatment")), 0)
    per_interval, paused_at = 20_000, None
    try:
        for look in (1, 2):
            rows = []
            for key, (p0, p1) in RATES.items():
                for v, p in (("control", p0), ("treatment", p1)):
                    cum[key, v] += int(rng.binomial(per_interval, p))
                    rows.append(row(key, "errors", "proportion", v, dt.date(2026, 11, 23),
                                    {"n": look * per_interval, "sum_y": cum[key, v], "sum_y2": cum[key, v]}))
            now[0] = os.stat(write(data / "part-0.parquet", rows)).st_mtime + 30
            actions = worker.tick()
            assert not [a for a in actions if isinstance(a, Alarm)]
            assert all(a.key == "checkout-harmful" for a in actions if isinstance(a, Pause))
            if paused_at is None and actions:
                paused_at = look
    finally:
        cp.close()
    assert paused_at is not None
    assert _status(control_plane, "checkout-harmful") == cfg.EXPERIMENT_STATUS_PAUSED
    assert _status(control_plane, "checkout-aa") == cfg.EXPERIMENT_STATUS_RUNNING
    with grpc.insecure_channel(control_plane) as ch:
        audit = cg.AuditServiceStub(ch).ListAuditRecords(
            c.ListAuditRecordsRequest(subject="experiment/checkout-harmful"),
            metadata=(("authorization", f"Bearer {ADMIN}"),))
    reasons = [r.reason for r in audit.records if "guardrail" in r.reason]
    assert len(reasons) == 1 and "errors degraded in treatment" in reasons[0]
    assert any(r.actor == "guardrails" for r in audit.records)

    # `splitline results` takes roles and thresholds from the control plane
    from splitline.cli import main

    assert main(["results", "checkout-harmful", "--data", str(data), "--control-plane", control_plane,
                 "--token", VIEWER, "--json"]) == 1  # a breach needs attention
    import json

    doc = json.loads(capsys.readouterr().out)
    (cell,) = doc["results"]
    assert (cell["role"], cell["decision"], cell["rule"]) == ("guardrail", "BREACH", "SEQUENTIAL")


def test_worker_without_operator_role_cannot_pause(control_plane: str, tmp_path: Path) -> None:
    rows = [row("checkout-harmful", "errors", "proportion", v, dt.date(2026, 11, 23),
                {"n": 50_000, "sum_y": k, "sum_y2": k}) for v, k in (("control", 2500), ("treatment", 3000))]
    f = write(tmp_path / "s" / "p.parquet", rows)
    cp = GrpcControlPlane(control_plane, VIEWER)
    try:
        worker = Worker(control=cp, data_path=str(tmp_path / "s"), config=AnalysisConfig(),
                        clock=lambda: os.stat(f).st_mtime)
        actions = worker.tick()  # the pause is refused (PERMISSION_DENIED) and logged, not raised
    finally:
        cp.close()
    assert any(isinstance(a, Pause) for a in actions)
    assert _status(control_plane, "checkout-harmful") == cfg.EXPERIMENT_STATUS_RUNNING

    # the command with an operator token pauses it (exit 1: it acted); --max-lag is generous here
    from splitline.cli import main

    rc = main(["guardrails", "--once", "--data", str(tmp_path / "s"), "--control-plane", control_plane,
               "--token", OPERATOR, "--max-lag", "1e9"])
    assert rc == 1
    assert _status(control_plane, "checkout-harmful") == cfg.EXPERIMENT_STATUS_PAUSED


def test_demo_pauses_the_injected_harmful_experiment(capsys: pytest.CaptureFixture[str]) -> None:
    from splitline.analytics.stats import demo

    assert demo.main() == 0
    out = capsys.readouterr().out
    assert "PAUSED demo-harmful-checkout" in out and "PAUSED demo-aa-checkout" not in out
