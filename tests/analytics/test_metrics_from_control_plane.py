"""`splitline metrics EXP --control-plane ADDR`: each experiment's metric lists and the registry's
definitions come from a real control plane (embedded store, gRPC, bearer tokens) in this process."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from splitline.analytics.cli import MetricsSourceError, metrics_from_control_plane
from splitline.analytics.metrics import Role, parse_metrics
from splitline.analytics.pipeline.duckdb_engine import DuckDBEngine
from splitline.analytics.pipeline.engine import run_pipeline
from splitline.analytics.pipeline.results import read_stats
from splitline.cli import main
from splitline.control_plane import keys
from splitline.control_plane.auth import DEV_TOKEN
from splitline.control_plane.server import ServerThread
from splitline.control_plane.store import EmbeddedStore
from splitline.v1 import config_pb2 as cfg
from splitline.v1 import control_pb2 as c
from splitline.v1 import control_pb2_grpc as cg

from tests.analytics.events import DAY1, DAY2, at, exposure, outcome, write_events

MD = (("authorization", f"Bearer {DEV_TOKEN}"),)
REGISTRY = [
    c.MetricDefinition(name="revenue", kind=c.METRIC_KIND_MEAN, events=["purchase"],
                       direction=c.METRIC_DIRECTION_HIGHER_IS_BETTER),
    c.MetricDefinition(name="converted", kind=c.METRIC_KIND_PROPORTION, events=["purchase"]),
    c.MetricDefinition(name="errors", kind=c.METRIC_KIND_COUNT, events=["error"],
                       direction=c.METRIC_DIRECTION_LOWER_IS_BETTER, guardrail_threshold=0.05, cuped_days=7),
    # Defined, but listed by no experiment: never computed.
    c.MetricDefinition(name="sessions", kind=c.METRIC_KIND_COUNT, events=["session"]),
    # A guardrail with no tolerated degradation (threshold 0: any significant harm breaches it).
    c.MetricDefinition(name="strict_errors", kind=c.METRIC_KIND_COUNT, events=["error"]),
]
EXPERIMENTS = {
    "checkout": {"primary_metric": "revenue", "secondary_metrics": ["converted"], "guardrail_metrics": ["errors"]},
    "banner": {"primary_metric": "converted"},
    "strict": {"guardrail_metrics": ["strict_errors"]},
    "unmeasured": {},
}


def _populate(address: str) -> None:
    with grpc.insecure_channel(address) as channel:
        cg.LayerServiceStub(channel).CreateLayer(c.CreateLayerRequest(layer=cfg.Layer(id="web")), metadata=MD)
        for metric in REGISTRY:
            cg.MetricServiceStub(channel).PutMetric(c.PutMetricRequest(metric=metric), metadata=MD)
        for key, lists in EXPERIMENTS.items():
            cg.ExperimentServiceStub(channel).CreateExperiment(c.CreateExperimentRequest(experiment=cfg.Experiment(
                key=key, layer_id="web", unit_type="user_id", traffic_bp=1000,
                variants=[cfg.Variant(key="control", weight=5000), cfg.Variant(key="treatment", weight=5000)],
                **lists)), metadata=MD)


@pytest.fixture(scope="module")
def control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A control plane with the dev token (the default of `--token`) and the registry above."""
    with ServerThread(data_dir=tmp_path_factory.mktemp("cp"), listen="127.0.0.1:0") as srv:
        _populate(srv.address)
        yield srv.address


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return write_events(tmp_path / "data", [
        exposure("c1", "u1", "control", at(DAY1, 1), experiment="checkout"),
        exposure("c2", "u2", "treatment", at(DAY1, 1), experiment="checkout"),
        exposure("c3", "u3", "treatment", at(DAY1, 2), experiment="checkout"),
        exposure("b1", "u1", "control", at(DAY1, 1), experiment="banner"),
        exposure("b2", "u4", "treatment", at(DAY1, 1), experiment="banner"),
    ], [
        outcome("o1", "u1", "purchase", 10.0, at(DAY1, 3)),
        outcome("o2", "u2", "purchase", 4.0, at(DAY1, 3)),
        outcome("o3", "u2", "purchase", 6.0, at(DAY2, 3)),
        outcome("o4", "u3", "error", 1.0, at(DAY1, 3)),
        outcome("o5", "u3", "error", 1.0, at(DAY1, 4)),
        outcome("o6", "u3", "session", 1.0, at(DAY1, 4)),
    ])


def _rows(capsys: pytest.CaptureFixture[str]) -> dict[tuple[str, str, str], tuple[int, float]]:
    out = capsys.readouterr().out
    return {(r["experiment_key"], r["metric"], r["variant"]): (r["n"], r["sum_y"])
            for r in map(json.loads, out.splitlines())}


def test_metrics_come_from_the_experiment_and_the_registry(
        control_plane: str, data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    results = tmp_path / "results"
    code = main(["metrics", "checkout", "banner", "--control-plane", control_plane, "--data", str(data),
                 "--results", str(results), "--json", "--no-progress"])
    assert code == 0, capsys.readouterr().err
    rows = _rows(capsys)
    # Each experiment gets exactly its own lists; `sessions` (registered, unlisted) is never computed.
    assert {(k, m) for k, m, _v in rows} == {("checkout", "revenue"), ("checkout", "converted"),
                                            ("checkout", "errors"), ("banner", "converted")}
    assert rows["checkout", "revenue", "control"] == (1, 10.0)
    assert rows["checkout", "revenue", "treatment"] == (2, 10.0)  # u2: 4 + 6, u3: 0
    assert rows["checkout", "converted", "treatment"] == (2, 1.0)
    assert rows["checkout", "errors", "treatment"] == (2, 2.0)
    assert rows["banner", "converted", "control"] == (1, 1.0)
    assert rows["banner", "converted", "treatment"] == (1, 0.0)
    assert read_stats(results, "checkout").num_rows == 3 * 2 * 2  # metrics x variants x as-of days
    assert set(read_stats(results, "banner")["metric"].to_pylist()) == {"converted"}

    # The same definitions from YAML give the same numbers.
    engine = DuckDBEngine()
    engine.bind_parquet(data)
    expected = run_pipeline(engine, parse_metrics([
        {"name": "revenue", "kind": "mean", "event": "purchase"},
        {"name": "converted", "kind": "proportion", "event": "purchase"},
        {"name": "errors", "kind": "count", "event": "error", "cuped_days": 7},
    ]), experiments=["checkout"]).stats
    engine.close()
    assert read_stats(results, "checkout").to_pylist() == expected.to_pylist()


def test_roles_follow_the_experiments_lists(control_plane: str) -> None:
    got = metrics_from_control_plane(control_plane, ["checkout", "banner"])
    assert [(m.name, m.role) for m in got["checkout"]] == [
        ("revenue", Role.PRIMARY), ("converted", Role.SECONDARY), ("errors", Role.GUARDRAIL)]
    assert [(m.name, m.role) for m in got["banner"]] == [("converted", Role.PRIMARY)]
    errors = got["checkout"][2]
    assert (errors.guardrail_threshold, errors.cuped_days, errors.direction) == (0.05, 7, "lower_is_better")
    strict = metrics_from_control_plane(control_plane, ["strict"])["strict"]
    assert [(m.name, m.role, m.guardrail_threshold) for m in strict] == [("strict_errors", Role.GUARDRAIL, 0.0)]


def test_metric_picks_among_the_experiments_metrics(
        control_plane: str, data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["--control-plane", control_plane, "--data", str(data), "--no-write", "--json"]
    assert main(["metrics", "checkout", *base, "--metric", "errors"]) == 0
    assert {m for _k, m, _v in _rows(capsys)} == {"errors"}
    assert main(["metrics", "checkout", *base, "--metric", "sessions"]) == 2
    assert "experiment 'checkout' does not list metric(s) sessions" in capsys.readouterr().err


def test_a_listed_metric_missing_from_the_registry_is_named(
        tmp_path: Path, data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The API refuses experiments naming unknown metrics, so the registry entry is removed from the
    store itself (as a hand edit of etcd would) while the control plane is down."""
    store_dir = tmp_path / "cp"
    with ServerThread(data_dir=store_dir, listen="127.0.0.1:0") as srv:
        _populate(srv.address)

    async def remove_converted() -> None:
        store = EmbeddedStore(store_dir)
        try:  # a commit needs one put: rewrite `sessions` unchanged
            await store.commit({}, {keys.metric("sessions"): REGISTRY[3].SerializeToString()},
                               deletes=[keys.metric("converted")])
        finally:
            await store.close()

    asyncio.run(remove_converted())
    with ServerThread(data_dir=store_dir, listen="127.0.0.1:0") as srv:
        code = main(["metrics", "checkout", "--control-plane", srv.address, "--data", str(data), "--no-write"])
        err = capsys.readouterr().err
        assert code == 2
        assert (f"experiment 'checkout' lists metric(s) 'converted' (secondary) that the metric registry of the "
                f"control plane {srv.address} does not define") in err
        with pytest.raises(MetricsSourceError, match="'converted'"):
            metrics_from_control_plane(srv.address, ["banner"])


@pytest.mark.parametrize(("experiment", "token", "message"), [
    ("unmeasured", "", "experiment 'unmeasured' on the control plane {address} lists no metrics"),
    ("nope", "", "control plane {address}: NOT_FOUND:"),
    ("checkout", "not-a-token", "control plane {address}: UNAUTHENTICATED:"),
])
def test_control_plane_errors_are_clear(control_plane: str, data: Path, capsys: pytest.CaptureFixture[str],
                                        experiment: str, token: str, message: str) -> None:
    argv = ["metrics", experiment, "--control-plane", control_plane, "--data", str(data), "--no-write"]
    assert main([*argv, *(["--token", token] if token else [])]) == 2
    captured = capsys.readouterr()
    assert message.format(address=control_plane) in captured.err
    assert captured.out == ""


def test_metrics_file_or_control_plane_is_required(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["metrics", "checkout", "--data", str(data)]) == 2
    assert ("say where the metric definitions come from: --metrics FILE.yaml or --control-plane HOST:PORT"
            in capsys.readouterr().err)
    with pytest.raises(SystemExit) as exited:
        main(["metrics", "checkout", "--data", str(data), "--metrics", "m.yaml", "--control-plane", "x:1"])
    assert exited.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err
