"""`splitline ingest …` and `splitline metrics EXP`: the analytics pipeline from the command line.

    splitline ingest kafka --bootstrap-servers HOST:9092 --data DIR [--group-id G] [--idle-exit S] [--max-wait S]
    splitline ingest spool --spool DIR --data DIR        (embedded mode: the sidecar's spool files)
    splitline ingest compact --data DIR                  (merge files, drop duplicate event ids)
    splitline metrics EXP --data DIR (--metrics metrics.yaml | --control-plane HOST:PORT [--token T])
                          [--results DIR] [--engine duckdb|spark] [--end 2026-01-02T00:00:00] [--all-days] [--json]

`--idle-exit S` stops the Kafka worker once it saw no records for S seconds AND
the group's committed offsets reach the end of every partition of both topics
(also partitions held by other, possibly dead, members); `--max-wait S` bounds
the run (exit status 3 when `--idle-exit` was given and it was not caught up).
`--control-plane` takes the experiment's metric lists (primary, secondary,
guardrail) and the definitions from the control plane's registry.

Heavy imports (DuckDB, pyarrow, aiokafka, pyspark) happen inside handlers so
that `splitline --help` stays fast.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from splitline.analytics.metrics import MetricDefinition

DEFAULT_DATA = os.environ.get("SPLITLINE_DATA", ".splitline/data")
DEFAULT_RESULTS = os.environ.get("SPLITLINE_RESULTS", ".splitline/results")
_RPC_TIMEOUT_S = 30.0
NOT_CAUGHT_UP_EXIT = 3  # `ingest kafka --idle-exit S --max-wait T`: T passed before the group was caught up


def register(sub: Any) -> None:
    ingest = sub.add_parser("ingest", help="events (Kafka or the sidecar's spool) -> Parquet")
    isub = ingest.add_subparsers(dest="ingest_command", metavar="SOURCE", required=True)
    kafka = isub.add_parser("kafka", help="run a consumer-group member on the exposures/outcomes topics")
    kafka.add_argument("--bootstrap-servers", required=True)
    kafka.add_argument("--data", type=Path, default=Path(DEFAULT_DATA), help="Parquet root (default %(default)s)")
    kafka.add_argument("--group-id", default="splitline-ingest")
    kafka.add_argument("--exposures-topic", default="exposures")
    kafka.add_argument("--outcomes-topic", default="outcomes")
    kafka.add_argument("--max-records", type=int, default=20_000, help="records per batch (one commit each)")
    kafka.add_argument("--idle-exit", type=float, default=None, metavar="S",
                       help="exit when caught up: no records for S seconds AND, for every partition of both "
                            "topics (also those of other members, dead ones included), the group's committed "
                            "offset >= the end offset; checked about once a second "
                            "(default: run until interrupted)")
    kafka.add_argument("--max-wait", type=float, default=None, metavar="S",
                       help="stop after S seconds in any case; with --idle-exit, exit status "
                            f"{NOT_CAUGHT_UP_EXIT} when not caught up by then (default: no bound)")
    kafka.set_defaults(handler=_ingest_kafka)
    spool = isub.add_parser("spool", help="embedded mode: ingest the sidecar's spool segments once")
    spool.add_argument("--spool", type=Path, required=True, help="the sidecar's spool directory")
    spool.add_argument("--data", type=Path, default=Path(DEFAULT_DATA))
    spool.set_defaults(handler=_ingest_spool)
    compact = isub.add_parser("compact", help="merge each date/hour partition, one row per event_id")
    compact.add_argument("--data", type=Path, default=Path(DEFAULT_DATA))
    compact.set_defaults(handler=_compact)

    metrics = sub.add_parser("metrics", help="per-variant sufficient statistics of an experiment")
    metrics.add_argument("experiment", nargs="+", metavar="EXP")
    source = metrics.add_mutually_exclusive_group()
    source.add_argument("--metrics", type=Path, default=None, metavar="FILE",
                        help="metric definitions YAML: every metric in it is computed")
    source.add_argument("--control-plane", default=None, metavar="HOST:PORT",
                        help="compute each experiment's own metrics (primary_metric, secondary_metrics, "
                             "guardrail_metrics) with the definitions of the control plane's metric registry")
    metrics.add_argument("--token", default=os.environ.get("SPLITLINE_TOKEN", ""),
                         help="bearer token for --control-plane, viewer or above "
                              "(env SPLITLINE_TOKEN; default: the dev token)")
    metrics.add_argument("--tls-ca", default="", help="CA certificate (PEM) to reach --control-plane over TLS")
    metrics.add_argument("--metric", action="append", help="only this metric (repeatable)")
    metrics.add_argument("--data", type=Path, default=Path(DEFAULT_DATA))
    metrics.add_argument("--results", type=Path, default=Path(DEFAULT_RESULTS),
                         help="where Parquet + results.duckdb are written (default %(default)s)")
    metrics.add_argument("--no-write", action="store_true", help="print only, write no results")
    metrics.add_argument("--engine", choices=("duckdb", "spark"), default="duckdb")
    metrics.add_argument("--end", type=_timestamp, default=None,
                         help="analysis end, UTC, exclusive (default: just after the last event)")
    metrics.add_argument("--all-days", action="store_true", help="every as-of day, not only the latest")
    metrics.add_argument("--json", action="store_true", help="JSON lines instead of a table")
    metrics.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                         help="progress bar on stderr (default: when stderr is a terminal)")
    metrics.set_defaults(handler=_metrics)


def _timestamp(text: str) -> dt.datetime:
    value = dt.datetime.fromisoformat(text)
    return value if value.tzinfo is None else value.astimezone(dt.UTC).replace(tzinfo=None)


def _ingest_kafka(args: argparse.Namespace) -> int:
    import asyncio
    import logging

    from splitline.analytics.ingest.kafka import STOPPED_MAX_WAIT, KafkaIngestConfig, run_kafka_ingest

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = KafkaIngestConfig(
        bootstrap_servers=args.bootstrap_servers, data_dir=args.data, group_id=args.group_id,
        exposures_topic=args.exposures_topic, outcomes_topic=args.outcomes_topic,
        max_records=args.max_records, idle_exit_s=args.idle_exit, max_wait_s=args.max_wait,
    )
    stats = asyncio.run(run_kafka_ingest(config))
    print(json.dumps({"batches": stats.batches, "rows": stats.rows, "commit_failures": stats.commit_failures,
                      "stopped": stats.stopped, "lagging": stats.lagging}))
    if args.idle_exit is not None and stats.stopped == STOPPED_MAX_WAIT:
        print(f"splitline ingest kafka: not caught up after --max-wait {args.max_wait:g}s: "
              f"{', '.join(stats.lagging)}", file=sys.stderr)
        return NOT_CAUGHT_UP_EXIT
    return 0


def _ingest_spool(args: argparse.Namespace) -> int:
    from splitline.analytics.ingest.spool import ingest_spool

    stats = ingest_spool(args.spool, args.data)
    print(json.dumps({"batches": stats.batches, "exposures": stats.exposures, "outcomes": stats.outcomes}))
    return 0


def _compact(args: argparse.Namespace) -> int:
    from splitline.analytics.ingest.writer import compact

    print(json.dumps({"partitions_compacted": compact(args.data)}))
    return 0


class MetricsSourceError(Exception):
    """Why the metric definitions could not be had (`splitline metrics` prints it, exit status 2)."""


def metrics_from_control_plane(address: str, experiments: Sequence[str], *, token: str = "",
                               tls_ca: str = "") -> dict[str, list[MetricDefinition]]:
    """Each experiment's metrics: the names it lists, defined by the control plane's registry.

    One `GetExperiment` per experiment and one `ListMetrics`, over the control-plane CLI's
    connection (`control_plane.commands.Client`: TLS with `tls_ca`, the dev token when `token` is
    empty). Roles come from the experiment's lists; a name in two lists takes the later one of
    primary, secondary, guardrail (`experiment_metric_roles`, shared with the stats engine).
    Raises `MetricsSourceError` naming the experiment and metric when a listed metric is not in the
    registry or its definition is not valid for its role.
    """
    import grpc
    from splitline.analytics.metrics import MetricDefinitionError, experiment_metric_roles, from_proto
    from splitline.control_plane.commands import Client
    from splitline.v1 import control_pb2

    where = f"control plane {address}"
    client = Client(argparse.Namespace(server=address, token=token, tls_ca=tls_ca))
    try:
        registry = {m.name: m for m in client.stubs.metrics.ListMetrics(
            control_pb2.ListMetricsRequest(), metadata=client.md, timeout=_RPC_TIMEOUT_S).metrics}
        found = {key: client.stubs.experiments.GetExperiment(
            control_pb2.GetExperimentRequest(key=key), metadata=client.md, timeout=_RPC_TIMEOUT_S).experiment
            for key in dict.fromkeys(experiments)}
    except grpc.RpcError as exc:
        code = exc.code().name if hasattr(exc, "code") and exc.code() else "RPC"
        details = exc.details() if hasattr(exc, "details") else str(exc)
        raise MetricsSourceError(f"{where}: {code}: {details}") from exc
    finally:
        client.channel.close()
    out: dict[str, list[MetricDefinition]] = {}
    for key, exp in found.items():
        roles = experiment_metric_roles(exp)
        if not roles:
            raise MetricsSourceError(f"experiment {key!r} on the {where} lists no metrics "
                                     "(primary_metric, secondary_metrics and guardrail_metrics are empty)")
        missing = [f"{name!r} ({role})" for name, role in roles.items() if name not in registry]
        if missing:
            raise MetricsSourceError(f"experiment {key!r} lists metric(s) {', '.join(missing)} that the "
                                     f"metric registry of the {where} does not define")
        try:
            out[key] = [from_proto(registry[name], role) for name, role in roles.items()]
        except MetricDefinitionError as exc:
            raise MetricsSourceError(f"experiment {key!r}, definition from the {where}: {exc}") from exc
    return out


def _metric_plans(args: argparse.Namespace) -> list[tuple[list[MetricDefinition], list[str]]]:
    """(metrics, experiments) pairs: one pipeline run each."""
    from splitline.analytics.metrics import MetricDefinitionError, load_metrics

    experiments = list(dict.fromkeys(args.experiment))
    if args.metrics is None and args.control_plane is None:
        raise MetricsSourceError("say where the metric definitions come from: --metrics FILE.yaml "
                                 "or --control-plane HOST:PORT")
    if args.metrics is not None:
        try:
            metrics = load_metrics(args.metrics)
        except (OSError, MetricDefinitionError) as exc:
            raise MetricsSourceError(str(exc)) from exc
        if args.metric:
            unknown = sorted(set(args.metric) - {m.name for m in metrics})
            if unknown:
                raise MetricsSourceError(f"unknown metric(s) {', '.join(unknown)} in {args.metrics}")
            metrics = [m for m in metrics if m.name in args.metric]
        return [(metrics, experiments)]
    per_experiment = metrics_from_control_plane(args.control_plane, experiments, token=args.token,
                                                tls_ca=args.tls_ca)
    if args.metric:
        for key, metrics in per_experiment.items():
            unlisted = sorted(set(args.metric) - {m.name for m in metrics})
            if unlisted:
                raise MetricsSourceError(f"experiment {key!r} does not list metric(s) {', '.join(unlisted)} "
                                         f"(it lists {', '.join(m.name for m in metrics)})")
            per_experiment[key] = [m for m in metrics if m.name in args.metric]
    # Experiments with the same metrics share one pipeline run.
    groups: dict[tuple[MetricDefinition, ...], list[str]] = {}
    for key in experiments:
        groups.setdefault(tuple(per_experiment[key]), []).append(key)
    return [(list(metrics), keys) for metrics, keys in groups.items()]


def _metrics(args: argparse.Namespace) -> int:
    from splitline.analytics.pipeline.engine import PipelineResult, run_pipeline
    from splitline.analytics.pipeline.results import write_results
    from splitline.analytics.pipeline.table_text import format_table
    from splitline.analytics.progress import ProgressBar

    try:
        plans = _metric_plans(args)
    except MetricsSourceError as exc:
        print(f"splitline metrics: {exc}", file=sys.stderr)
        return 2
    engine: Any
    if args.engine == "spark":
        from splitline.analytics.pipeline.spark_engine import SparkEngine, local_session

        engine = SparkEngine(local_session())
        engine.bind_parquet(str(args.data))
    else:
        from splitline.analytics.pipeline.duckdb_engine import DuckDBEngine

        engine = DuckDBEngine()
        engine.bind_parquet(args.data)
    try:
        results = [run_pipeline(engine, metrics, end=args.end, experiments=keys,
                                progress=ProgressBar(enabled=args.progress)) for metrics, keys in plans]
    finally:
        engine.close()
    if len(results) == 1:
        result = results[0]
    else:
        import pyarrow as pa

        result = PipelineResult(
            stats=pa.concat_tables([r.stats for r in results]).sort_by(
                [(k, "ascending") for k in ("experiment_key", "analysis_period", "metric", "as_of", "variant")]),
            dropped=pa.concat_tables([r.dropped for r in results]).sort_by(
                [(k, "ascending") for k in ("experiment_key", "analysis_period", "as_of")]))
    if not args.no_write:
        write_results(result, args.results, list(args.experiment))
    rows = result.stats.to_pylist()
    if not args.all_days and rows:
        latest = max(r["as_of"] for r in rows)
        rows = [r for r in rows if r["as_of"] == latest]
    dropped = {(r["experiment_key"], r["as_of"]): r["dropped_units"] for r in result.dropped.to_pylist()}
    if args.json:
        for r in rows:
            print(json.dumps({**r, "as_of": r["as_of"].isoformat()}))
        return 0
    if not rows:
        print(f"no exposures for {', '.join(args.experiment)} in {args.data}")
        return 1
    print(format_table(rows))
    for (key, as_of), count in sorted(dropped.items()):
        if args.all_days or as_of == max(r["as_of"] for r in rows):
            print(f"{key}: {count} unit(s) seen in two variants dropped (as of {as_of})")
    return 0
