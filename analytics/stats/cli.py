"""`splitline analyze | plan | results | guardrails`: thin shells over the engine.

Registration stays cheap (argparse only); numpy, scipy, pyarrow, matplotlib and grpc are imported
inside the handlers. Exit codes: 0 ok, 1 the analysis ran but something needs attention (an SRM,
a guardrail breach), 2 bad input.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

EXIT_OK, EXIT_ATTENTION, EXIT_BAD_INPUT = 0, 1, 2


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("analyze", help="run the statistics engine on a JSON file of sufficient statistics",
                              description="Analyse per-variant sufficient statistics (JSON schema: README).")
    p.add_argument("--input", required=True, help="JSON file ('-' for stdin)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--alpha", type=float, help="override the file's alpha")
    p.add_argument("--correction", choices=["bh", "holm", "none"], help="override the file's correction")
    p.set_defaults(handler=cmd_analyze)

    p = subparsers.add_parser("plan", help="sample size per arm (or the MDE for a given size)")
    p.add_argument("--sd", type=float, help="per-unit standard deviation (omit for a proportion baseline)")
    p.add_argument("--baseline", type=float, help="baseline mean; a proportion's rate when --sd is omitted")
    p.add_argument("--mde", type=float, help="minimum detectable effect (absolute unless --relative)")
    p.add_argument("--relative", action="store_true", help="--mde is relative to --baseline (0.05 = 5%%)")
    p.add_argument("--n", type=float, help="units per arm: report the MDE instead of a sample size")
    p.add_argument("--alpha", type=float, default=0.05)
    p.add_argument("--power", type=float, default=0.8)
    p.add_argument("--arms", type=int, default=2, help="number of arms incl. control (Bonferroni over arms-1)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_plan)

    p = subparsers.add_parser("results", help="analyse an experiment from the pipeline's Parquet output")
    p.add_argument("experiment")
    p.add_argument("--data", default=_default_results(),
                   help="the pipeline's results folder, or a Parquet file/folder (default: %(default)s)")
    p.add_argument("--period", type=int, help="analysis period (default: the latest)")
    p.add_argument("--meta", help="experiment metadata JSON (analyze format without stats)")
    p.add_argument("--control-plane", help="host:port of the control plane, for metadata")
    p.add_argument("--token", help="bearer token for --control-plane (or SPLITLINE_TOKEN)")
    p.add_argument("--alpha", type=float, default=0.05)
    p.add_argument("--correction", choices=["bh", "holm", "none"], default="bh")
    p.add_argument("--json", action="store_true")
    p.add_argument("--plot", metavar="DIR", help="write PNG charts to DIR")
    p.set_defaults(handler=cmd_results)

    p = subparsers.add_parser("guardrails", help="guardrail worker: pause experiments that breach guardrails")
    p.add_argument("--data", default=_default_results(),
                   help="the pipeline's results folder, or a Parquet file/folder (default: %(default)s)")
    p.add_argument("--control-plane", default=os.environ.get("SPLITLINE_SERVER", "127.0.0.1:7400"),
                   help="host:port of the control plane (default: $SPLITLINE_SERVER or %(default)s)")
    p.add_argument("--token", help="operator bearer token (or SPLITLINE_TOKEN)")
    p.add_argument("--interval", type=float, default=300.0, help="seconds between looks (default 300)")
    p.add_argument("--max-lag", type=float, default=3600.0, help="alarm when output is older (seconds)")
    p.add_argument("--alpha", type=float, default=0.05)
    p.add_argument("--once", action="store_true", help="one look, then exit (1 when it acted)")
    p.set_defaults(handler=cmd_guardrails)


def _default_results() -> str:
    import os

    return os.environ.get("SPLITLINE_RESULTS", ".splitline/results")


def _token(args: argparse.Namespace) -> str:
    import os

    return str(args.token or os.environ.get("SPLITLINE_TOKEN", ""))


def _emit(obj: Any) -> None:
    json.dump(obj, sys.stdout, indent=2, allow_nan=False)
    sys.stdout.write("\n")


def cmd_analyze(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from splitline.analytics.stats.errors import InputError
    from splitline.analytics.stats.model import parse_input
    from splitline.analytics.stats.multiple import Correction
    from splitline.analytics.stats.report import format_text, run

    try:
        text = sys.stdin.read() if args.input == "-" else Path(args.input).read_text(encoding="utf-8")
        experiments, config = parse_input(json.loads(text))
        if args.alpha is not None:
            if not 0 < args.alpha < 1:
                raise InputError("--alpha must be in (0, 1)")
            config = replace(config, alpha=args.alpha)
        if args.correction is not None:
            config = replace(config, correction=Correction(args.correction))
    except (OSError, json.JSONDecodeError, InputError) as exc:
        print(f"splitline analyze: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    reports = run(experiments, config)
    if args.json:
        _emit({"alpha": config.alpha, "correction": config.correction.value,
               "experiments": [r.to_json() for r in reports]})
    else:
        print("\n\n".join(format_text(r) for r in reports))
    return EXIT_ATTENTION if any(r.alarms for r in reports) else EXIT_OK


def cmd_plan(args: argparse.Namespace) -> int:
    from splitline.analytics.stats.power import minimum_detectable_effect, proportion_sd, sample_size

    try:
        if args.sd is not None:
            sd = args.sd
        elif args.baseline is not None:
            sd = float(proportion_sd(args.baseline))
        else:
            raise ValueError("give --sd, or --baseline for a proportion")
        if args.n is not None:
            mde = float(minimum_detectable_effect(sd, args.n, alpha=args.alpha, power=args.power, arms=args.arms))
            out: dict[str, Any] = {"n_per_arm": args.n, "sd": sd, "alpha": args.alpha, "power": args.power,
                                   "arms": args.arms, "mde": mde}
            if args.baseline:
                out["mde_relative"] = mde / args.baseline
            text = f"MDE with {args.n:.0f} units per arm: {mde:.6g} (absolute)"
            if args.baseline:
                text += f", {100 * mde / args.baseline:.3g}% of the baseline {args.baseline:g}"
        else:
            if args.mde is None:
                raise ValueError("give --mde (or --n for the MDE)")
            mde = args.mde * args.baseline if args.relative else args.mde
            if args.relative and not args.baseline:
                raise ValueError("--relative needs --baseline")
            plan = sample_size(sd, mde, alpha=args.alpha, power=args.power, arms=args.arms)
            out = {"n_per_arm": int(plan.n_per_arm), "n_total": int(plan.n_total), "sd": sd, "mde": abs(mde),
                   "alpha": args.alpha, "alpha_per_comparison": float(plan.alpha_per_comparison),
                   "power": args.power, "arms": args.arms}
            text = (f"{int(plan.n_per_arm)} units per arm, {int(plan.n_total)} in total "
                    f"(sd {sd:.6g}, MDE {abs(mde):.6g}, alpha {args.alpha:g} two-sided"
                    + (f", {float(plan.alpha_per_comparison):.4g} per comparison" if args.arms > 2 else "")
                    + f", power {args.power:g}, {args.arms} arms)")
    except ValueError as exc:
        print(f"splitline plan: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.json:
        _emit(out)
    else:
        print(text)
    return EXIT_OK


def _metas_for(args: argparse.Namespace, key: str) -> dict[str, Any]:
    from splitline.analytics.stats.pipeline import ExperimentMeta, meta_from_json

    metas: dict[str, ExperimentMeta] = {}
    if args.meta:
        doc = json.loads(Path(args.meta).read_text(encoding="utf-8"))
        for e in doc.get("experiments", [doc]):
            m = meta_from_json(e)
            metas[m.key] = m
    elif args.control_plane:
        from splitline.analytics.stats.guardrails import GrpcControlPlane

        cp = GrpcControlPlane(args.control_plane, _token(args))
        try:
            metas = cp.experiment(key)
        finally:
            cp.close()
    if args.period is not None and key in metas:
        from dataclasses import replace

        metas[key] = replace(metas[key], analysis_period=args.period)
    elif args.period is not None:
        metas[key] = ExperimentMeta(key=key, analysis_period=args.period)
    return metas


def cmd_results(args: argparse.Namespace) -> int:
    from splitline.analytics.stats.errors import InputError
    from splitline.analytics.stats.model import AnalysisConfig
    from splitline.analytics.stats.multiple import Correction
    from splitline.analytics.stats.pipeline import inputs_from_rows, load_rows
    from splitline.analytics.stats.report import format_text, run

    key = args.experiment
    try:
        metas = _metas_for(args, key)
        rows = load_rows(args.data, [key])
        days = inputs_from_rows(rows, metas, latest_only=False)
    except (OSError, json.JSONDecodeError, InputError, ValueError) as exc:
        print(f"splitline results: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if not days:
        print(f"splitline results: no data for experiment {key!r} under {args.data}", file=sys.stderr)
        return EXIT_BAD_INPUT
    config = AnalysisConfig(alpha=args.alpha, correction=Correction(args.correction))
    reports = run(days, config)
    latest = reports[-1]
    if args.json:
        _emit(latest.to_json())
    else:
        print(format_text(latest))
    if args.plot:
        from splitline.analytics.stats.plots import plot_effects, plot_timeline

        out = Path(args.plot)
        out.mkdir(parents=True, exist_ok=True)
        paths = [plot_effects(latest, out), *plot_timeline(reports, out)]
        print("\n".join(f"wrote {p}" for p in paths), file=sys.stderr)
    return EXIT_ATTENTION if latest.alarms else EXIT_OK


def cmd_guardrails(args: argparse.Namespace) -> int:
    import logging

    from splitline.analytics.stats.guardrails import GrpcControlPlane, Pause, Worker
    from splitline.analytics.stats.model import AnalysisConfig

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    cp = GrpcControlPlane(args.control_plane, _token(args))
    worker = Worker(control=cp, data_path=args.data, config=AnalysisConfig(alpha=args.alpha),
                    max_lag_s=args.max_lag)
    try:
        if args.once:
            actions = worker.tick()
            for a in actions:
                print(a)
            return EXIT_ATTENTION if any(isinstance(a, Pause) for a in actions) else EXIT_OK
        worker.run_forever(args.interval)
    finally:
        cp.close()
    return EXIT_OK
