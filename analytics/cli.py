"""`splitline ingest …` and `splitline metrics EXP`: the analytics pipeline from the command line.

    splitline ingest kafka --bootstrap-servers HOST:9092 --data DIR [--group-id G] [--idle-exit S]
    splitline ingest spool --spool DIR --data DIR        (embedded mode: the sidecar's spool files)
    splitline ingest compact --data DIR                  (merge files, drop duplicate event ids)
    splitline metrics EXP --data DIR --metrics metrics.yaml [--results DIR] [--engine duckdb|spark]
                          [--end 2026-01-02T00:00:00] [--all-days] [--json]

Heavy imports (DuckDB, pyarrow, aiokafka, pyspark) happen inside handlers so
that `splitline --help` stays fast.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
from pathlib import Path
from typing import Any

DEFAULT_DATA = os.environ.get("SPLITLINE_DATA", ".splitline/data")
DEFAULT_RESULTS = os.environ.get("SPLITLINE_RESULTS", ".splitline/results")


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
                       help="exit after S seconds without records (default: run until interrupted)")
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
    metrics.add_argument("--metrics", type=Path, default=Path("metrics.yaml"), help="metric definitions YAML")
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

    from splitline.analytics.ingest.kafka import KafkaIngestConfig, run_kafka_ingest

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = KafkaIngestConfig(
        bootstrap_servers=args.bootstrap_servers, data_dir=args.data, group_id=args.group_id,
        exposures_topic=args.exposures_topic, outcomes_topic=args.outcomes_topic,
        max_records=args.max_records, idle_exit_s=args.idle_exit,
    )
    stats = asyncio.run(run_kafka_ingest(config))
    print(json.dumps({"batches": stats.batches, "rows": stats.rows, "commit_failures": stats.commit_failures}))
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


def _metrics(args: argparse.Namespace) -> int:
    from splitline.analytics.metrics import MetricDefinitionError, load_metrics
    from splitline.analytics.pipeline.engine import run_pipeline
    from splitline.analytics.pipeline.results import write_results
    from splitline.analytics.pipeline.table_text import format_table
    from splitline.analytics.progress import ProgressBar

    try:
        metrics = load_metrics(args.metrics)
    except (OSError, MetricDefinitionError) as exc:
        print(f"splitline metrics: {exc}", file=sys.stderr)
        return 2
    if args.metric:
        unknown = sorted(set(args.metric) - {m.name for m in metrics})
        if unknown:
            print(f"splitline metrics: unknown metric(s) {', '.join(unknown)} in {args.metrics}", file=sys.stderr)
            return 2
        metrics = [m for m in metrics if m.name in args.metric]
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
        result = run_pipeline(engine, metrics, end=args.end, experiments=args.experiment,
                              progress=ProgressBar(enabled=args.progress))
    finally:
        engine.close()
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
