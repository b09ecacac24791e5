"""Benchmark: the stats engine on 10,000 experiments x 10 metrics x 2 variants (CUPED + sequential).

Prints the median wall time of the full engine (`analyze`: Welch, delta-method lift, CUPED with
pooled θ, mSPRT p-values and confidence sequences), of the multiple-testing correction and the
decision rules, beside the "numpy floor": one elementwise pass that reads every input array once
(the least any engine over these arrays can cost), measured in the same run because the machine
is shared and absolute timings are noisy. Target: the engine under 1 s.

    .venv/bin/python bench/stats_bench.py [--experiments 10000] [--metrics 10] [--repeats 5] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from splitline.analytics.stats import Role, SufficientStats, adjust, analyze, decide


def make_stats(experiments: int, metrics: int, seed: int = 0) -> SufficientStats:
    """Plausible sums: n ~ 5,000 per arm, per-unit mean ~ 10, sd ~ 3, covariate correlation 0.6."""
    rng = np.random.default_rng(seed)
    shape = (experiments, metrics, 2)
    n = rng.integers(4000, 6000, shape).astype(np.float64)
    mu_y = 10 + rng.normal(0, 0.05, shape)
    mu_x = 10 + rng.normal(0, 0.05, shape)
    sd_y, sd_x, rho = 3.0, 3.0, 0.6
    sum_y = n * mu_y
    sum_x = n * mu_x
    return SufficientStats.from_arrays(
        n=n, sum_y=sum_y, sum_y2=(n - 1) * sd_y**2 + sum_y * mu_y, sum_x=sum_x,
        sum_x2=(n - 1) * sd_x**2 + sum_x * mu_x, sum_xy=(n - 1) * rho * sd_x * sd_y + sum_x * mu_y)


def timed(fn: Callable[[], Any], repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--experiments", type=int, default=10_000)
    ap.add_argument("--metrics", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    s = make_stats(args.experiments, args.metrics)
    arrays = [getattr(s, f) for f in SufficientStats.FIELDS]

    def numpy_floor() -> Any:
        acc = np.zeros(s.shape)
        for a in arrays:
            acc += a
        return acc

    def engine() -> Any:
        return analyze(s, alpha=0.05, planned_n=5000)

    eff = engine()

    def corrections() -> Any:
        fam = eff.p_value.reshape(args.experiments, -1)
        return adjust(fam, "bh"), adjust(eff.seq_p_value.reshape(args.experiments, -1), "bh")

    def decisions() -> Any:
        return decide(eff, role=Role.PRIMARY, direction=1, planned_n=5000, alpha=0.05,
                      p_adjusted=eff.p_value, seq_p_adjusted=eff.seq_p_value)

    floor = timed(numpy_floor, args.repeats)
    t_engine = timed(engine, args.repeats)
    t_corr = timed(corrections, args.repeats)
    t_dec = timed(decisions, args.repeats)
    total = t_engine + t_corr + t_dec
    cells = args.experiments * args.metrics
    result = {
        "experiments": args.experiments, "metrics": args.metrics, "variants": 2, "cells": cells,
        "cuped_cells": int(eff.cuped.sum()), "repeats": args.repeats,
        "numpy_floor_s": floor, "engine_s": t_engine, "corrections_s": t_corr, "decisions_s": t_dec,
        "total_s": total, "engine_over_floor": t_engine / floor, "total_over_floor": total / floor,
        "target_s": 1.0, "meets_target": total < 1.0,
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"{args.experiments} experiments x {args.metrics} metrics x 2 variants "
              f"({cells} comparisons, CUPED on {result['cuped_cells']}, mSPRT on all), median of {args.repeats}:")
        print(f"  numpy floor (one pass over the input arrays): {floor * 1e3:8.1f} ms")
        print(f"  engine (Welch, lift, CUPED, mSPRT, CIs/CSs):     {t_engine * 1e3:8.1f} ms  "
              f"({t_engine / floor:.0f}x floor)")
        print(f"  BH correction (fixed + sequential p):            {t_corr * 1e3:8.1f} ms")
        print(f"  decisions:                                       {t_dec * 1e3:8.1f} ms")
        print(f"  total:                                           {total * 1e3:8.1f} ms  "
              f"(target < 1000 ms: {'met' if total < 1.0 else 'MISSED'})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
