"""`splitline sidecar`: run the per-host daemon.

Registration is cheap (argparse only); the servers are imported by the handler.
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser("sidecar", help="run the sidecar (assignment server, config follower, event shipper)",
                       description="Serve assignments on Unix sockets from a followed config; spool "
                                   "exposures and outcomes and ship them to Kafka.")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--snapshot", type=Path, metavar="FILE",
                        help="follow a snapshot file (JSON or YAML), the embedded mode")
    source.add_argument("--control-plane", metavar="HOST:PORT", help="follow the control plane's WatchConfig")
    p.add_argument("--token", default=os.environ.get("SPLITLINE_TOKEN", ""),
                   help="bearer token for the control plane (default: $SPLITLINE_TOKEN)")
    p.add_argument("--control-plane-ca", type=Path, metavar="PEM", help="CA bundle: use TLS to the control plane")
    p.add_argument("--socket", type=Path, required=True, help="gRPC Unix socket path")
    p.add_argument("--fast-socket", type=Path, required=True, help="fast path Unix socket path")
    p.add_argument("--socket-mode", default="0660", help="file mode of both sockets (octal, default 0660)")
    p.add_argument("--spool-dir", type=Path, required=True, help="write-ahead spool directory (the event log "
                   "without Kafka)")
    p.add_argument("--spool-max-mb", type=int, default=1024, help="spool size bound in MiB (default 1024)")
    p.add_argument("--segment-mb", type=int, default=64, help="spool segment size in MiB (default 64)")
    p.add_argument("--commit-interval-ms", type=float, default=2.0,
                   help="group commit: fsync at most every N ms (default 2)")
    p.add_argument("--state-dir", type=Path, help="where the last good snapshot is kept (default: --spool-dir)")
    p.add_argument("--kafka", metavar="BOOTSTRAP", help="Kafka bootstrap servers; without it events stay in the "
                   "spool")
    p.add_argument("--exposures-topic", default="exposures")
    p.add_argument("--outcomes-topic", default="outcomes")
    p.add_argument("--compression", default="lz4", choices=["none", "gzip", "snappy", "lz4", "zstd"])
    p.add_argument("--no-idempotence", action="store_true", help="disable the idempotent producer")
    p.add_argument("--core", default="auto", choices=["auto", "native", "python"],
                   help="assignment core: the native (Go) library when built (auto, the default), required "
                        "(native), or pure Python (python); answers are identical")
    p.add_argument("--metrics-port", type=int, help="serve /metrics and /healthz on 127.0.0.1:N")
    p.add_argument("--log-level", default="INFO")
    p.set_defaults(handler=run_sidecar)


def settings_from_args(args: argparse.Namespace) -> Any:
    from splitline.sidecar.app import SidecarSettings
    from splitline.sidecar.shipper import KafkaSettings

    kafka = None
    if args.kafka:
        kafka = KafkaSettings(
            bootstrap_servers=args.kafka, exposures_topic=args.exposures_topic, outcomes_topic=args.outcomes_topic,
            compression=None if args.compression == "none" else args.compression,
            idempotent=not args.no_idempotence,
        )
    return SidecarSettings(
        socket=args.socket, fast_socket=args.fast_socket, spool_dir=args.spool_dir,
        snapshot_file=args.snapshot, control_plane=args.control_plane, token=args.token,
        control_plane_ca=args.control_plane_ca, state_dir=args.state_dir, kafka=kafka,
        metrics_port=args.metrics_port, socket_mode=int(args.socket_mode, 8),
        spool_max_bytes=args.spool_max_mb << 20, spool_segment_bytes=args.segment_mb << 20,
        commit_interval=args.commit_interval_ms / 1000.0, core=args.core,
    )


def run_sidecar(args: argparse.Namespace) -> int:
    logging.basicConfig(level=getattr(logging, str(args.log_level).upper(), logging.INFO),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from splitline.sidecar.app import run

    return run(settings_from_args(args))


__all__ = ["register", "run_sidecar", "settings_from_args"]
