"""`make demo`: the whole platform on one machine, embedded defaults (no etcd, no Kafka).

1. The assignment walk-through on examples/snapshot.yaml (the pure core alone).
2. A control plane on the embedded store; a layer, metrics and two experiments
   created and launched through its gRPC API: `checkout_v2` (its treatment
   really converts better) and `harmful_banner` (its treatment raises the error
   rate from 5% to 7.5%, an injected regression).
3. A sidecar following the control plane's WatchConfig stream, spooling events
   to disk (the embedded event log).
4. 40,000 simulated users through the Python SDK in local mode (fed by the
   sidecar's snapshot stream): exposures logged by `get_variant`, outcomes by
   `track`.
5. Analytics: the spool ingested to Parquet and compacted, the
   exposure-outcome join on DuckDB, per-variant sufficient statistics; the
   statistics engine's results.
6. The guardrail worker takes one look, pauses `harmful_banner` through the
   control plane, and the sidecar stops assigning it within moments.

Everything lives under a temporary folder (or $SPLITLINE_DEMO_DIR) and stops at the end.
"""

from __future__ import annotations

import os
import random
import sys
import tempfile
import time
from pathlib import Path

from splitline.demo_walkthrough import assignment_walkthrough

TOKEN = "splitline-dev-token"  # the control plane's laptop-only admin token
USERS = 40_000
METRICS_YAML = """\
metrics:
  - name: conversion
    kind: proportion
    events: [purchase]
    direction: higher_is_better
    role: primary
  - name: revenue
    kind: mean
    events: [purchase]
    direction: higher_is_better
    role: secondary
  - name: errors
    kind: proportion
    events: [error]
    direction: lower_is_better
    role: guardrail
    guardrail_threshold: 0.05
"""


def _title(text: str) -> None:
    print(f"\n== {text} " + "=" * max(0, 70 - len(text)), flush=True)


def _setup_control_plane(address: str) -> None:
    import grpc

    from splitline.v1 import config_pb2 as cfg
    from splitline.v1 import control_pb2 as c
    from splitline.v1 import control_pb2_grpc as cg

    md = (("authorization", f"Bearer {TOKEN}"),)
    with grpc.insecure_channel(address) as channel:
        cg.LayerServiceStub(channel).CreateLayer(c.CreateLayerRequest(layer=cfg.Layer(id="checkout")), metadata=md)
        cg.LayerServiceStub(channel).CreateLayer(c.CreateLayerRequest(layer=cfg.Layer(id="banners")), metadata=md)
        metrics = cg.MetricServiceStub(channel)
        metrics.PutMetric(c.PutMetricRequest(metric=c.MetricDefinition(
            name="conversion", kind=c.METRIC_KIND_PROPORTION, events=["purchase"],
            direction=c.METRIC_DIRECTION_HIGHER_IS_BETTER)), metadata=md)
        metrics.PutMetric(c.PutMetricRequest(metric=c.MetricDefinition(
            name="revenue", kind=c.METRIC_KIND_MEAN, events=["purchase"],
            direction=c.METRIC_DIRECTION_HIGHER_IS_BETTER)), metadata=md)
        metrics.PutMetric(c.PutMetricRequest(metric=c.MetricDefinition(
            name="errors", kind=c.METRIC_KIND_PROPORTION, events=["error"],
            direction=c.METRIC_DIRECTION_LOWER_IS_BETTER, guardrail_threshold=0.05)), metadata=md)
        experiments = cg.ExperimentServiceStub(channel)
        for key, layer, traffic in (("checkout_v2", "checkout", 8000), ("harmful_banner", "banners", 10000)):
            made = experiments.CreateExperiment(c.CreateExperimentRequest(experiment=cfg.Experiment(
                key=key, layer_id=layer, unit_type="user_id", traffic_bp=traffic, planned_sample_size=40_000,
                primary_metric="conversion", secondary_metrics=["revenue"], guardrail_metrics=["errors"],
                variants=[cfg.Variant(key="control", weight=5000), cfg.Variant(key="treatment", weight=5000)],
            ), reason="demo"), metadata=md)
            launched = experiments.LaunchExperiment(c.LaunchExperimentRequest(
                key=key, expected_version=made.experiment.version, reason="demo launch"), metadata=md)
            ranges = ", ".join(f"[{r.start},{r.end})" for r in launched.experiment.ranges)
            print(f"  launched {key} in layer {layer}: ranges {ranges}, revision {launched.revision}")


def _simulate(client: object, users: int, seed: int = 7) -> None:
    """Users see their variants and then behave: checkout_v2's treatment converts
    at 12% instead of 10%; harmful_banner's treatment errors at 7.5% instead of 5%."""
    from splitline.client import Client

    assert isinstance(client, Client)
    rng = random.Random(seed)
    t0 = time.perf_counter()
    for i in range(users):
        units = {"user_id": f"user-{i}"}
        checkout = client.get_variant("checkout_v2", units=units, attributes={"country": "US"})
        banner = client.get_variant("harmful_banner", units=units)
        convert = 0.12 if checkout.variant == "treatment" else 0.10
        if checkout.variant is not None and rng.random() < convert:
            client.track("purchase", units=units, value=round(rng.uniform(5, 120), 2))
        error_rate = 0.075 if banner.variant == "treatment" else 0.05
        if banner.variant is not None and rng.random() < error_rate:
            client.track("error", units=units)
    print(f"  {users} users simulated in {time.perf_counter() - t0:.1f} s")


def platform_demo(workdir: Path) -> int:
    from splitline.cli import main as cli
    from splitline.client import Client
    from splitline.control_plane.server import ServerThread
    from splitline.sidecar.app import SidecarSettings, SidecarThread

    _title("control plane on the embedded store")
    with ServerThread(data_dir=workdir / "control-plane", listen="127.0.0.1:0") as cp:
        address = cp.address
        print(f"  listening on {address}")
        _setup_control_plane(address)

        _title("sidecar following the control plane (embedded event log)")
        sockets = workdir / "run"
        sockets.mkdir(parents=True, exist_ok=True)
        spool = workdir / "spool"
        settings = SidecarSettings(socket=sockets / "grpc.sock", fast_socket=sockets / "fast.sock",
                                   spool_dir=spool, control_plane=address, token=TOKEN)
        with SidecarThread(settings) as sidecar:
            core = "native (Go)" if sidecar.sidecar is not None and sidecar.sidecar.native else "Python"
            print(f"  sockets {settings.socket} and {settings.fast_socket}; {core} assignment core")

            _title(f"{USERS} simulated users through the Python SDK (local mode, fed by the sidecar)")
            with Client(socket=str(settings.socket), fast_socket=str(settings.fast_socket)) as client:
                if not client.wait_ready(20):
                    print("  the SDK got no snapshot from the sidecar", file=sys.stderr)
                    return 1
                if sidecar.sidecar is not None:
                    health = sidecar.sidecar.health()
                    print(f"  sidecar serving revision {health['config_revision']} from {health['config_source']}")
                _simulate(client, USERS)
                client.flush(30)

            _title("analytics: spool -> Parquet -> compaction -> DuckDB join -> sufficient statistics")
            data, results = workdir / "data", workdir / "results"
            metrics_file = workdir / "metrics.yaml"
            metrics_file.write_text(METRICS_YAML)
            cli(["ingest", "spool", "--spool", str(spool), "--data", str(data)])
            cli(["ingest", "compact", "--data", str(data)])  # one row per event, sorted by unit: read as is
            cli(["metrics", "checkout_v2", "harmful_banner", "--data", str(data), "--metrics", str(metrics_file),
                 "--results", str(results)])

            _title("results for checkout_v2 (statistics engine)")
            cli(["results", "checkout_v2", "--data", str(results), "--control-plane", address, "--token", TOKEN])

            _title("guardrail worker: one look at every running experiment")
            cli(["guardrails", "--data", str(results), "--control-plane", address, "--token", TOKEN, "--once"])

            _title("the sidecar follows the pause")
            with Client(socket=str(settings.socket), fast_socket=str(settings.fast_socket)) as client:
                client.wait_ready(10)
                deadline = time.monotonic() + 10
                answer = client.assign("harmful_banner", units={"user_id": "user-1"})
                while answer.reason.value != "NOT_RUNNING" and time.monotonic() < deadline:
                    time.sleep(0.1)
                    answer = client.assign("harmful_banner", units={"user_id": "user-1"})
                still = client.assign("checkout_v2", units={"user_id": "user-1"}, attributes={"country": "US"})
                print(f"  harmful_banner -> {answer.variant} ({answer.reason.value}); "
                      f"checkout_v2 -> {still.variant} ({still.reason.value})")
            cli(["audit", "harmful_banner", "--server", address, "--token", TOKEN])
            paused = answer.reason.value == "NOT_RUNNING"
    print("\ndemo finished: " + ("the harmful experiment was paused automatically" if paused
                                 else "the harmful experiment was NOT paused"))
    return 0 if paused else 1


def main() -> int:
    assignment_walkthrough()
    base = os.environ.get("SPLITLINE_DEMO_DIR")
    if base:
        return platform_demo(Path(base))
    with tempfile.TemporaryDirectory(prefix="splitline-demo-") as tmp:
        return platform_demo(Path(tmp))


if __name__ == "__main__":
    sys.exit(main())
