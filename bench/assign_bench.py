"""Assignment cost on a 10,000-experiment snapshot, beside the cost of hashing alone.

    python bench/assign_bench.py [--experiments 10000] [--layers 100] [--samples 200000]

Snapshot: 10,000 RUNNING experiments in 100 layers (100 per layer, 100 layer
buckets each, so every unit lands in one experiment per layer), 2 variants,
3 rules each (IN, SEMVER_GTE, GTE) that the benchmark's attributes satisfy, and
one global 5% holdout. Timings are taken call by call with perf_counter_ns
over distinct unit ids and reported as medians and p99.

The floor is what any assignment must do at least: two MurmurHash3 calls on
``unit_id|salt`` (layer bucket, then variant bucket), measured in the same run
the same way; for assign_all, those two calls for every layer. Targets (issue 2): single assignment <= 3x the floor;
all-experiments p99 <= 150 us.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
from collections.abc import Callable

import mmh3
from splitline.core import compile_snapshot
from splitline.v1 import config_pb2


def build_snapshot(experiments: int, layers: int) -> config_pb2.ConfigSnapshot:
    snap = config_pb2.ConfigSnapshot(revision=1)
    per_layer = experiments // layers
    width = 10000 // per_layer
    for li in range(layers):
        snap.layers.add(id=f"layer_{li}")
        for ei in range(per_layer):
            exp = snap.experiments.add(
                key=f"exp_{li}_{ei}", layer_id=f"layer_{li}", unit_type="user_id",
                status=config_pb2.EXPERIMENT_STATUS_RUNNING,
            )
            exp.ranges.add(start=ei * width, end=(ei + 1) * width)
            exp.variants.add(key="control", weight=5000).ranges.add(start=0, end=5000)
            exp.variants.add(key="treatment", weight=5000).ranges.add(start=5000, end=10000)
            exp.rules.add(attribute="country", operator=config_pb2.OPERATOR_IN, values=["US", "CA", "GB"])
            exp.rules.add(attribute="app_version", operator=config_pb2.OPERATOR_SEMVER_GTE, values=["2.0"])
            exp.rules.add(attribute="age", operator=config_pb2.OPERATOR_GTE, values=["18"])
    snap.holdouts.add(id="global", percent_bp=500)
    return snap


def timed(fn: Callable[[str], object], ids: list[str]) -> list[int]:
    out = []
    clock = time.perf_counter_ns
    gc.disable()
    try:
        for uid in ids:
            t0 = clock()
            fn(uid)
            out.append(clock() - t0)
    finally:
        gc.enable()
    return out


def timer_overhead(n: int) -> int:
    clock = time.perf_counter_ns
    samples = []
    for _ in range(n):
        t0 = clock()
        samples.append(clock() - t0)
    return int(statistics.median(samples))


def pct(values: list[int], q: float) -> float:
    ordered = sorted(values)
    return float(ordered[min(len(ordered) - 1, int(q * len(ordered)))])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--experiments", type=int, default=10_000)
    parser.add_argument("--layers", type=int, default=100)
    parser.add_argument("--samples", type=int, default=200_000)
    parser.add_argument("--all-samples", type=int, default=5_000)
    args = parser.parse_args()

    t0 = time.perf_counter()
    compiled = compile_snapshot(build_snapshot(args.experiments, args.layers))
    compile_s = time.perf_counter() - t0
    attrs = {"country": "US", "app_version": "2.3.1", "age": "30"}
    ids = [f"user-{i}" for i in range(args.samples)]
    key = "exp_7_42"
    layer_suffix, exp_suffix = "|layer_7", "|exp_7_42"
    hash_ = mmh3.hash

    def floor(uid: str) -> object:
        data = uid.encode()
        return (hash_(data + b"|layer_7", 0, False) % 10000, hash_(data + b"|exp_7_42", 0, False) % 10000)

    layer_suffixes = [f"|layer_{li}".encode() for li in range(args.layers)]
    exp_suffixes = [f"|exp_{li}_{li % (args.experiments // args.layers)}".encode() for li in range(args.layers)]

    def floor_all(uid: str) -> object:
        data = uid.encode()
        return [(hash_(data + ls, 0, False) % 10000, hash_(data + es, 0, False) % 10000)
                for ls, es in zip(layer_suffixes, exp_suffixes, strict=True)]

    def single(uid: str) -> object:
        return compiled.assign(key, {"user_id": uid}, attrs)

    def all_experiments(uid: str) -> object:
        return compiled.assign_all({"user_id": uid}, attrs)

    del layer_suffix, exp_suffix
    overhead = timer_overhead(100_000)
    rounds = []
    for _ in range(3):  # interleave to share the machine's noise
        rounds.append((timed(floor, ids), timed(single, ids)))
    floor_ns = statistics.median(statistics.median(f) for f, _ in rounds) - overhead
    single_ns = statistics.median(statistics.median(s) for _, s in rounds) - overhead
    single_p99 = statistics.median(pct(s, 0.99) for _, s in rounds) - overhead
    floor_p99 = statistics.median(pct(f, 0.99) for f, _ in rounds) - overhead
    all_floor = timed(floor_all, ids[: args.all_samples])
    all_times = timed(all_experiments, ids[: args.all_samples])
    all_floor_us = (statistics.median(all_floor) - overhead) / 1000
    hits = len(compiled.assign_all({"user_id": ids[0]}, attrs))

    print(f"snapshot: {args.experiments} experiments in {args.layers} layers, 3 rules each, 1 holdout; "
          f"compiled in {compile_s:.2f} s; timer overhead {overhead} ns (subtracted)")
    print(f"{'measure':<44}{'median':>12}{'p99':>12}{'x floor':>10}")
    print(f"{'floor: 2 x mmh3.hash(unit|salt)':<44}{floor_ns:>10.0f}ns{floor_p99:>10.0f}ns{1.0:>10.2f}")
    print(f"{'assign (one experiment, 3 rules, holdout)':<44}{single_ns:>10.0f}ns{single_p99:>10.0f}ns"
          f"{single_ns / floor_ns:>10.2f}")
    all_us = (statistics.median(all_times) - overhead) / 1000
    print(f"{'floor: 2 x mmh3.hash per layer (' + str(args.layers) + ')':<44}{all_floor_us:>10.1f}us"
          f"{(pct(all_floor, 0.99) - overhead) / 1000:>10.1f}us{1.0:>10.2f}")
    print(f"{'assign_all (' + str(args.layers) + ' layers, ~' + str(hits) + ' variants)':<44}"
          f"{all_us:>10.1f}us{(pct(all_times, 0.99) - overhead) / 1000:>10.1f}us{all_us / all_floor_us:>10.2f}")
    print("targets: assign <= 3.00 x floor; assign_all p99 <= 150 us")


if __name__ == "__main__":
    main()
