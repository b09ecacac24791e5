"""The guardrail part of `make demo`: an injected harmful experiment gets paused by the worker.

`guardrail_demo` drives a running control plane: it registers an `errors` guardrail metric, launches
two experiments (one raising the error rate from 5% to 6%, one A/A), writes the pipeline's
cumulative sufficient statistics for each five-minute interval as Parquet, and runs one guardrail
look per interval, printing what happened. `main` starts its own embedded control plane, so
`python -m splitline.analytics.stats.demo` works alone; `splitline.demo` can call
`guardrail_demo` with the control plane it already runs.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
from splitline.analytics.stats.guardrails import Alarm, GrpcControlPlane, Pause, Worker
from splitline.analytics.stats.model import AnalysisConfig

RATES = {"demo-harmful-checkout": (0.05, 0.06), "demo-aa-checkout": (0.05, 0.05)}
UNITS_PER_INTERVAL = 20_000


def _write(path: Path, cum: dict[tuple[str, str], int], n: int, day: dt.date) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [{"experiment_key": k, "analysis_period": 0, "metric": "errors", "metric_kind": "proportion",
             "variant": v, "as_of": day, "n": n, "sum_y": float(s), "sum_y2": float(s), "sum_x": 0.0,
             "sum_x2": 0.0, "sum_xy": 0.0, "sum_d": 0.0, "sum_d2": 0.0, "sum_yd": 0.0}
            for (k, v), s in cum.items()]
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), path)


def setup_experiments(address: str, admin_token: str) -> None:
    import grpc
    from splitline.v1 import config_pb2 as cfg
    from splitline.v1 import control_pb2 as c
    from splitline.v1 import control_pb2_grpc as cg

    md = (("authorization", f"Bearer {admin_token}"),)
    with grpc.insecure_channel(address) as ch:
        try:
            cg.LayerServiceStub(ch).CreateLayer(c.CreateLayerRequest(layer=cfg.Layer(id="demo-guardrails")),
                                                metadata=md)
        except grpc.RpcError as exc:
            if exc.code() != grpc.StatusCode.ALREADY_EXISTS:
                raise
        cg.MetricServiceStub(ch).PutMetric(c.PutMetricRequest(metric=c.MetricDefinition(
            name="errors", kind=c.METRIC_KIND_PROPORTION, events=["error"],
            direction=c.METRIC_DIRECTION_LOWER_IS_BETTER, guardrail_threshold=0.0,
            description="share of units with an error")), metadata=md)
        stub = cg.ExperimentServiceStub(ch)
        for key in RATES:
            made = stub.CreateExperiment(c.CreateExperimentRequest(experiment=cfg.Experiment(
                key=key, layer_id="demo-guardrails", unit_type="user_id", traffic_bp=5000,
                planned_sample_size=100_000, guardrail_metrics=["errors"],
                variants=[cfg.Variant(key="control", weight=5000), cfg.Variant(key="treatment", weight=5000)])),
                metadata=md)
            stub.LaunchExperiment(c.LaunchExperimentRequest(key=key, expected_version=made.experiment.version),
                                  metadata=md)


def guardrail_demo(address: str, admin_token: str, operator_token: str, workdir: Path, *,
                   intervals: int = 3, seed: int = 2026) -> bool:
    """Returns True when the harmful experiment was paused and the A/A one was not."""
    setup_experiments(address, admin_token)
    print(f"launched {', '.join(RATES)}: error rate 5% in control; 6% (+20%) in the harmful treatment")
    rng = np.random.default_rng(seed)
    cum = dict.fromkeys(((k, v) for k in RATES for v in ("control", "treatment")), 0)
    data = workdir / "stats"
    cp = GrpcControlPlane(address, operator_token)
    paused: set[str] = set()
    clock = [0.0]
    worker = Worker(control=cp, data_path=str(data), config=AnalysisConfig(), clock=lambda: clock[0])
    try:
        for look in range(1, intervals + 1):
            for (key, v) in cum:
                p = RATES[key][0] if v == "control" else RATES[key][1]
                cum[key, v] += int(rng.binomial(UNITS_PER_INTERVAL, p))
            _write(data / "part-0.parquet", cum, look * UNITS_PER_INTERVAL, dt.date.today())
            clock[0] = os.stat(data / "part-0.parquet").st_mtime + 5
            actions = worker.tick()
            print(f"look {look} (+{5 * look} min, {look * UNITS_PER_INTERVAL} units per arm):",
                  "no action" if not actions else "")
            for a in actions:
                if isinstance(a, Pause):
                    paused.add(a.key)
                    print(f"  PAUSED {a.key}: {a.reason}")
                elif isinstance(a, Alarm):
                    print(f"  ALARM {a.kind} {a.key}: {a.message}")
    finally:
        cp.close()
    ok = paused == {"demo-harmful-checkout"}
    print("guardrail demo:", "harmful experiment paused, A/A left running" if ok else f"UNEXPECTED: {paused}")
    return ok


def main() -> int:
    from splitline.control_plane.auth import Principal, Role, TokenTable
    from splitline.control_plane.server import ServerThread

    tokens = TokenTable({"demo-admin": Principal("demo", Role.ADMIN),
                         "demo-guardrails": Principal("guardrails", Role.OPERATOR)})
    with tempfile.TemporaryDirectory() as tmp, \
            ServerThread(data_dir=Path(tmp) / "cp", listen="127.0.0.1:0", tokens=tokens) as srv:
        return 0 if guardrail_demo(srv.address, "demo-admin", "demo-guardrails", Path(tmp)) else 1


if __name__ == "__main__":
    sys.exit(main())
