"""Python SDK cost per call: local get_variant and remote (fast path) assign, beside the core alone.

    python bench/sdk_bench.py [--samples 100000] [--remote-samples 5000] [--no-remote]
                              [--fast-socket PATH]   # reuse a running sidecar instead of starting one

Every figure is taken call by call with perf_counter_ns over distinct unit ids
(so every get_variant call is a first exposure: dedup miss, queue append) and
reported as median and p99, timer overhead subtracted, in the same run as:

- core: `CompiledSnapshot.assign` alone, the floor of any local call;
- local assign: the client's decision without exposure;
- local get_variant: the decision plus the exposure rule, dedup LRU and queue
  append, with the background sender draining into a sidecar-less sink (so
  the measurement includes the GIL it takes);
- remote assign: one round trip over the fast path to a real sidecar process
  (started here with the vectors' main snapshot unless --fast-socket is given).

Rounds are interleaved so that all measures share the machine's noise.
Targets (issue 5): local get_variant p50 <= 5 us and p99 <= 20 us.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from google.protobuf import json_format
from splitline.client import Client
from splitline.core import compile_snapshot
from splitline.v1 import config_pb2, events_pb2

ROOT = Path(__file__).resolve().parent.parent
VECTORS = ROOT / "proto" / "testdata" / "assignment_vectors.json"
EXPERIMENT = "checkout_copy"


class CountingSink:
    """Accepts every batch (the protobufs are built, as for a sidecar), keeps only counts."""

    def __init__(self) -> None:
        self.exposures = 0

    def send_exposures(self, events: list[events_pb2.Exposure]) -> int:
        self.exposures += len(events)
        return len(events)

    def send_outcomes(self, events: list[events_pb2.Outcome]) -> int:
        return len(events)


def timed(fn: Callable[[str, dict[str, str]], object], unit_maps: list[dict[str, str]]) -> list[int]:
    clock = time.perf_counter_ns
    out = []
    for units in unit_maps:
        t0 = clock()
        fn(EXPERIMENT, units)
        out.append(clock() - t0)
    return out


def timer_overhead(n: int = 100_000) -> int:
    clock = time.perf_counter_ns
    samples = []
    for _ in range(n):
        t0 = clock()
        samples.append(clock() - t0)
    return int(statistics.median(samples))


def pct(values: list[int], q: float) -> float:
    ordered = sorted(values)
    return float(ordered[min(len(ordered) - 1, int(q * len(ordered)))])


def start_sidecar(snapshot_doc: dict[str, Any]) -> tuple[subprocess.Popen[bytes], str, str]:
    """A real sidecar process on two Unix sockets in a fresh temporary directory."""
    tmp = tempfile.mkdtemp(prefix="slbench", dir="/tmp")
    snap = Path(tmp) / "snapshot.json"
    snap.write_text(json.dumps(snapshot_doc), encoding="utf-8")
    grpc_sock, fast_sock = f"{tmp}/grpc.sock", f"{tmp}/fast.sock"
    proc = subprocess.Popen(
        [sys.executable, "-m", "splitline.sidecar", "--snapshot", str(snap), "--socket", grpc_sock,
         "--fast-socket", fast_sock, "--spool-dir", f"{tmp}/spool", "--log-level", "WARNING"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while not (os.path.exists(fast_sock) and os.path.exists(grpc_sock)):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("the sidecar did not start")
        time.sleep(0.05)
    time.sleep(0.3)
    return proc, fast_sock, tmp


def summarize(rounds: list[list[int]], overhead: int) -> tuple[float, float]:
    p50 = statistics.median(statistics.median(r) for r in rounds) - overhead
    p99 = statistics.median(pct(r, 0.99) for r in rounds) - overhead
    return p50 / 1000, p99 / 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=100_000, help="local calls per round")
    parser.add_argument("--remote-samples", type=int, default=5_000, help="remote calls per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-remote", action="store_true")
    parser.add_argument("--fast-socket", help="a running sidecar's fast socket (default: start one)")
    parser.add_argument("--gc-off", action="store_true", help="disable the garbage collector while timing")
    args = parser.parse_args()

    doc = json.loads(VECTORS.read_text(encoding="utf-8"))["snapshots"]["main"]
    snapshot = json_format.ParseDict(doc, config_pb2.ConfigSnapshot())
    compiled = compile_snapshot(snapshot)
    empty: dict[str, str] = {}

    def core(key: str, units: dict[str, str]) -> object:
        return compiled.assign(key, units, empty)

    proc, tmp = None, None
    remote: Client | None = None
    if not args.no_remote:
        fast_socket = args.fast_socket
        if fast_socket is None:
            proc, fast_socket, tmp = start_sidecar(doc)
        remote = Client(mode="remote", fast_socket=fast_socket)

    overhead = timer_overhead()
    results: dict[str, list[list[int]]] = {"core": [], "assign": [], "get_variant": [], "remote": []}
    sink = CountingSink()
    try:
        for r in range(args.rounds):
            # A fresh client per round: every get_variant is a first exposure (worst case).
            local = Client(snapshot, event_sink=sink)
            unit_maps = [{"user_id": f"r{r}-u{i}"} for i in range(args.samples)]
            if args.gc_off:
                gc.disable()
            results["core"].append(timed(core, unit_maps))
            results["assign"].append(timed(local.assign, unit_maps))
            results["get_variant"].append(timed(local.get_variant, unit_maps))
            if remote is not None:
                results["remote"].append(timed(remote.assign, unit_maps[: args.remote_samples]))
            gc.enable()
            local.close()
        if remote is not None:
            check = remote.assign(EXPERIMENT, {"user_id": "r0-u1"})
            if check.detail:
                raise SystemExit(f"remote calls failed: {check.detail}")
    finally:
        if remote is not None:
            remote.close()
        if proc is not None:
            proc.terminate()
            proc.wait(10)
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)

    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpus, load {os.getloadavg()[0]:.1f}; "
          f"{args.rounds} rounds x {args.samples} local / {args.remote_samples} remote calls; "
          f"timer overhead {overhead} ns (subtracted); gc {'off' if args.gc_off else 'on'}")
    print(f"{'measure':<52}{'p50':>10}{'p99':>10}")
    rows = [
        ("core: CompiledSnapshot.assign", "core"),
        ("local Client.assign (no exposure)", "assign"),
        ("local Client.get_variant (exposure queued)", "get_variant"),
        ("remote Client.assign (fast path, real sidecar)", "remote"),
    ]
    for label, key in rows:
        if results[key]:
            p50, p99 = summarize(results[key], overhead)
            print(f"{label:<52}{p50:>8.2f}us{p99:>8.2f}us")
    print(f"exposures shipped by the background sender: {sink.exposures}")
    print("targets: local get_variant p50 <= 5 us, p99 <= 20 us")


if __name__ == "__main__":
    main()
