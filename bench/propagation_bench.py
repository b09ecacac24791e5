"""Pause propagation: time from `PauseExperiment` returning to each of N WatchConfig
streams receiving the change, on the embedded store and on a real etcd.

The control plane runs as its own process (`splitline control-plane`); the
watchers (one channel each, like a fleet of sidecars) run in this process.
Each round pauses, measures, then resumes (unmeasured). Prints p50/p99/max in ms.

    .venv/bin/python bench/propagation_bench.py [--streams 200] [--rounds 10] [--stores embedded,etcd]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import grpc

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from splitline.control_plane.auth import DEV_TOKEN  # noqa: E402
from splitline.control_plane.client import Stubs, bearer  # noqa: E402
from splitline.v1 import config_pb2, control_pb2  # noqa: E402

from tests.harness.etcd import EtcdServer, free_port  # noqa: E402

MD = bearer(DEV_TOKEN)
C = control_pb2


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


async def wait_ready(address: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            async with grpc.aio.insecure_channel(address) as ch:
                await Stubs(ch).layers.ListLayers(C.ListLayersRequest(), metadata=MD, timeout=1)
                return
        except grpc.aio.AioRpcError:
            await asyncio.sleep(0.1)
    raise RuntimeError(f"control plane at {address} did not come up")


async def measure(address: str, streams: int, rounds: int) -> tuple[list[float], float]:
    """Latencies (ms) and the floor: median unary round trip to the same server, same run."""
    await wait_ready(address)
    admin_ch = grpc.aio.insecure_channel(address)
    st = Stubs(admin_ch)
    floor_samples = []
    for _ in range(50):
        t0 = time.perf_counter()
        await st.layers.ListLayers(C.ListLayersRequest(), metadata=MD)
        floor_samples.append((time.perf_counter() - t0) * 1000)
    floor = statistics.median(floor_samples)
    await st.layers.CreateLayer(C.CreateLayerRequest(layer=config_pb2.Layer(id="bench")), metadata=MD)
    exp = config_pb2.Experiment(key="bench_exp", layer_id="bench", unit_type="user_id", traffic_bp=5000)
    exp.variants.add(key="control", weight=5000)
    exp.variants.add(key="treatment", weight=5000)
    await st.experiments.CreateExperiment(C.CreateExperimentRequest(experiment=exp), metadata=MD)
    await st.experiments.LaunchExperiment(C.LaunchExperimentRequest(key="bench_exp"), metadata=MD)

    arrivals: list[dict[int, float]] = [{} for _ in range(streams)]
    ready = [asyncio.Event() for _ in range(streams)]
    channels = [grpc.aio.insecure_channel(address) for _ in range(streams)]

    async def watch(i: int) -> None:
        call = Stubs(channels[i]).config.WatchConfig(C.WatchConfigRequest(), metadata=MD)
        async for message in call:
            arrivals[i][message.revision] = time.perf_counter()
            ready[i].set()

    tasks = [asyncio.create_task(watch(i)) for i in range(streams)]
    await asyncio.wait_for(asyncio.gather(*(e.wait() for e in ready)), 60)
    latencies: list[float] = []
    for _ in range(rounds):
        resp = await st.experiments.PauseExperiment(
            C.PauseExperimentRequest(key="bench_exp", reason="bench"), metadata=MD
        )
        returned = time.perf_counter()
        deadline = time.monotonic() + 30
        while any(resp.revision not in a for a in arrivals):
            if time.monotonic() > deadline:
                raise RuntimeError("a stream never received the pause")
            await asyncio.sleep(0.001)
        latencies.extend(max(0.0, a[resp.revision] - returned) * 1000 for a in arrivals)
        await st.experiments.ResumeExperiment(C.ResumeExperimentRequest(key="bench_exp"), metadata=MD)
        await asyncio.sleep(0.05)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for ch in [*channels, admin_ch]:
        await ch.close()
    return latencies, floor


def run_store(kind: str, streams: int, rounds: int) -> tuple[list[float], float]:
    with tempfile.TemporaryDirectory(prefix="splitline-bench-") as tmp:
        etcd = None
        port = free_port()
        cmd = [
            sys.executable,
            "-m",
            "splitline",
            "control-plane",
            "--listen",
            f"127.0.0.1:{port}",
            "--data-dir",
            str(Path(tmp) / "cp"),
            "--log-level",
            "ERROR",
        ]
        if kind == "etcd":
            etcd = EtcdServer(Path(tmp) / "etcd")
            etcd.start()
            cmd += ["--store", "etcd", "--etcd", etcd.endpoint]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        try:
            return asyncio.run(measure(f"127.0.0.1:{port}", streams, rounds))
        finally:
            proc.terminate()
            proc.wait(timeout=10)
            if etcd is not None:
                etcd.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--stores", default="embedded,etcd")
    args = parser.parse_args()
    print(f"pause -> WatchConfig receipt, {args.streams} streams x {args.rounds} rounds (ms)")
    header = ("store", "samples", "p50", "p99", "max", "mean", "floor", "p50/floor")
    print(f"{header[0]:<10}" + "".join(f"{h:>10}" for h in header[1:]))
    for kind in args.stores.split(","):
        lat, floor = run_store(kind, args.streams, args.rounds)
        p50 = percentile(lat, 0.5)
        row = (len(lat), p50, percentile(lat, 0.99), max(lat), statistics.fmean(lat), floor, p50 / floor)
        print(f"{kind:<10}{row[0]:>10}" + "".join(f"{v:>10.1f}" for v in row[1:5]) + f"{row[5]:>10.2f}{row[6]:>10.1f}")
    print("floor: median unary ListLayers round trip to the same server, same run")
    return 0


if __name__ == "__main__":
    sys.exit(main())
