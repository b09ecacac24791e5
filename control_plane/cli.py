"""`splitline` sub-commands of the control plane: the server and the operator CLI.

Registration only builds parsers (cheap); handlers live in commands.py and
import grpc and the server lazily. Every client command takes `--server`
(env SPLITLINE_SERVER), `--token` (env SPLITLINE_TOKEN) and `--json`.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from typing import Any

DEFAULT_SERVER = "127.0.0.1:7400"


def _lazy(name: str) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        from splitline.control_plane import commands

        handler: Callable[[argparse.Namespace], int] = getattr(commands, name)
        return handler(args)

    return run


def _client_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--server",
        default=os.environ.get("SPLITLINE_SERVER", DEFAULT_SERVER),
        help="control plane host:port (env SPLITLINE_SERVER; default %(default)s)",
    )
    p.add_argument(
        "--token",
        default=os.environ.get("SPLITLINE_TOKEN", ""),
        help="bearer token (env SPLITLINE_TOKEN; default: the dev token)",
    )
    p.add_argument("--tls-ca", default="", help="CA certificate (PEM) to connect over TLS")
    p.add_argument("--json", action="store_true", help="machine-readable output")


def _transition(sub: Any, name: str, help_text: str, **extra: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(name, help=help_text)
    p.add_argument("key", help="experiment key")
    p.add_argument("--reason", default="", help="why (kept in the audit log)")
    p.add_argument("--expected-version", type=int, default=0, help="refuse if the experiment moved on (0: current)")
    _client_flags(p)
    p.set_defaults(handler=_lazy("cmd_transition"), action=name, **extra)
    return p


def register(subparsers: Any) -> None:
    server = subparsers.add_parser("control-plane", help="run the control plane (gRPC, default 127.0.0.1:7400)")
    server.add_argument("--store", choices=("embedded", "etcd"), default="embedded")
    server.add_argument(
        "--data-dir",
        default=os.environ.get("SPLITLINE_DATA_DIR", ".splitline/control-plane"),
        help="embedded store directory (default %(default)s)",
    )
    server.add_argument("--etcd", default="127.0.0.1:2379", help="etcd endpoint host:port for --store etcd")
    server.add_argument("--listen", default=DEFAULT_SERVER)
    server.add_argument("--tokens", default="", help="tokens YAML (token -> role/actor); default: one dev admin token")
    server.add_argument("--tls-cert", default="", help="server certificate (PEM); with --tls-key enables TLS")
    server.add_argument("--tls-key", default="")
    server.add_argument("--log-level", default="INFO")
    server.set_defaults(handler=_lazy("cmd_serve"))

    exps = subparsers.add_parser("experiments", help="list, inspect and change experiments")
    esub = exps.add_subparsers(dest="experiments_command", metavar="ACTION", required=True)
    p = esub.add_parser("list", help="list experiments")
    p.add_argument("--status", action="append", default=[], help="RUNNING, PAUSED, ... (repeatable)")
    p.add_argument("--layer", default="")
    p.add_argument("--owner", default="")
    p.add_argument("--tag", default="")
    p.add_argument("--all", action="store_true", help="include archived experiments")
    _client_flags(p)
    p.set_defaults(handler=_lazy("cmd_list"))
    p = esub.add_parser("get", help="show one experiment")
    p.add_argument("key")
    _client_flags(p)
    p.set_defaults(handler=_lazy("cmd_get"))
    p = esub.add_parser("create", help="create a DRAFT experiment from a YAML/JSON file")
    p.add_argument("-f", "--file", required=True)
    p.add_argument("--reason", default="")
    _client_flags(p)
    p.set_defaults(handler=_lazy("cmd_create"))
    for name, text in (
        ("launch", "DRAFT -> RUNNING, allocating free layer buckets"),
        ("ramp", "grow a RUNNING experiment's share of its layer"),
    ):
        t = _transition(esub, name, text)
        t.add_argument("--traffic", default="", help="share of the layer: basis points (2000) or percent (20%%)")
    _transition(esub, "pause", "RUNNING -> PAUSED (operator; the emergency stop)")
    _transition(esub, "resume", "PAUSED -> RUNNING (operator)")
    _transition(esub, "conclude", "RUNNING|PAUSED -> CONCLUDED, freeing its layer buckets")
    _transition(esub, "ship", "CONCLUDED -> SHIPPED").add_argument("--variant", required=True)
    _transition(esub, "revert", "CONCLUDED -> REVERTED")
    _transition(esub, "archive", "remove a finished or draft experiment from the snapshot")

    _transition(subparsers, "pause", "emergency pause of an experiment (says when it committed)")

    layers = subparsers.add_parser("layers", help="layers and their occupancy")
    lsub = layers.add_subparsers(dest="layers_command", metavar="ACTION", required=True)
    p = lsub.add_parser("list", help="every layer with an occupancy bar")
    _client_flags(p)
    p.set_defaults(handler=_lazy("cmd_layers"))
    p = lsub.add_parser("show", help="one layer: who owns which buckets")
    p.add_argument("layer_id")
    _client_flags(p)
    p.set_defaults(handler=_lazy("cmd_layer_show"))

    audit = subparsers.add_parser("audit", help="audit log of an experiment (or everything)")
    audit.add_argument("key", nargs="?", default="", help="experiment key, or a subject like layer/checkout")
    audit.add_argument("--limit", type=int, default=100)
    _client_flags(audit)
    audit.set_defaults(handler=_lazy("cmd_audit"))

    apply = subparsers.add_parser("apply", help="reconcile experiments kept as YAML with the control plane")
    apply.add_argument("-f", "--file", action="append", required=True, help="file or directory (repeatable)")
    apply.add_argument("--dry-run", action="store_true", help="print the diff, change nothing")
    apply.add_argument(
        "--allow-reallocation",
        action="store_true",
        help="allow weight changes of launched experiments (moves units; new analysis period)",
    )
    apply.add_argument("--reason", default="splitline apply")
    _client_flags(apply)
    apply.set_defaults(handler=_lazy("cmd_apply"))
