"""Handlers of the control-plane CLI (registered in cli.py): thin gRPC calls plus rendering."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import json_format
from google.protobuf.message import Message
from splitline.control_plane import apply as apply_mod
from splitline.control_plane.auth import DEV_TOKEN
from splitline.control_plane.client import Stubs, bearer
from splitline.control_plane.lifecycle import status_name
from splitline.core.hashing import BUCKET_COUNT
from splitline.v1 import config_pb2, control_pb2

C = control_pb2
BAR_WIDTH = 50


def _out(text: str = "") -> None:
    sys.stdout.write(text + "\n")


def _err(text: str) -> None:
    sys.stderr.write(text + "\n")


def _dict(message: Message) -> dict[str, Any]:
    return json_format.MessageToDict(message, preserving_proto_field_name=True)


def _print_json(obj: Any) -> None:
    _out(json.dumps(obj, indent=2, sort_keys=True))


class Client:
    """Stubs plus the caller's metadata; errors become a one-line message and exit code 1."""

    def __init__(self, args: argparse.Namespace) -> None:
        if args.tls_ca:
            creds = grpc.ssl_channel_credentials(Path(args.tls_ca).read_bytes())
            self.channel = grpc.secure_channel(args.server, creds)
        else:
            self.channel = grpc.insecure_channel(args.server)
        self.stubs = Stubs(self.channel)
        self.md = bearer(args.token or DEV_TOKEN)


@contextmanager
def _client(args: argparse.Namespace) -> Iterator[Client]:
    client = Client(args)
    try:
        yield client
    finally:
        client.channel.close()


def _guard(func: Any) -> Any:
    def run(args: argparse.Namespace) -> int:
        try:
            return int(func(args))
        except grpc.RpcError as exc:
            code = exc.code() if hasattr(exc, "code") else None
            details = exc.details() if hasattr(exc, "details") else str(exc)
            _err(f"error: {code.name if code else 'RPC'}: {details}")
            return 1
        except apply_mod.ApplyError as exc:
            _err(f"error: {exc}")
            return 1

    return run


def parse_traffic(text: str) -> int:
    """`20%` -> 2000 basis points; `2000` -> 2000; empty -> 0 (the experiment's own)."""
    text = text.strip()
    if not text:
        return 0
    if text.endswith("%"):
        return round(float(text[:-1]) * 100)
    return int(text)


def _ranges(ranges: Any) -> str:
    return " ".join(f"[{r.start},{r.end})" for r in ranges) or "-"


def _table(rows: list[list[str]], header: list[str]) -> None:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=False)]
    for row in [header, *rows]:
        _out("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=False)).rstrip())


# ------------------------------------------------------------------- server


def cmd_serve(args: argparse.Namespace) -> int:
    from splitline.control_plane.auth import TokenTable
    from splitline.control_plane.server import TlsFiles, open_store, start_server

    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    tokens = TokenTable.load(args.tokens) if args.tokens else TokenTable.dev()
    if not args.tokens:
        logging.warning("no --tokens file: accepting only the dev admin token %r (laptops only)", DEV_TOKEN)
    tls = TlsFiles(Path(args.tls_cert), Path(args.tls_key)) if args.tls_cert and args.tls_key else None

    async def main() -> None:
        store = open_store(args.store, args.data_dir, args.etcd)
        running = await start_server(store, tokens, args.listen, tls)
        _out(f"control plane listening on {running.address} ({store.description})")
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await running.stop()
        await store.close()

    asyncio.run(main())
    return 0


# -------------------------------------------------------------- experiments


@_guard
def cmd_list(args: argparse.Namespace) -> int:
    statuses = [config_pb2.ExperimentStatus.Value("EXPERIMENT_STATUS_" + s.upper()) for s in args.status]
    req = C.ListExperimentsRequest(
        statuses=statuses, layer_id=args.layer, owner=args.owner, tag=args.tag, include_archived=args.all
    )
    with _client(args) as c:
        resp = c.stubs.experiments.ListExperiments(req, metadata=c.md)
    if args.json:
        _print_json([_dict(e) for e in resp.experiments])
        return 0
    rows = [
        [
            e.key,
            status_name(e.status),
            e.layer_id,
            f"{sum(r.end - r.start for r in e.ranges) / 100:g}%",
            "/".join(f"{v.key}:{v.weight / 100:g}" for v in e.variants),
            str(e.version),
            e.owner,
        ]
        for e in resp.experiments
    ]
    _table(rows, ["KEY", "STATUS", "LAYER", "TRAFFIC", "VARIANTS (%)", "VER", "OWNER"])
    return 0


@_guard
def cmd_get(args: argparse.Namespace) -> int:
    with _client(args) as c:
        exp = c.stubs.experiments.GetExperiment(C.GetExperimentRequest(key=args.key), metadata=c.md).experiment
    if args.json:
        _print_json(_dict(exp))
        return 0
    _out(f"{exp.key}  {status_name(exp.status)}  version {exp.version}  layer {exp.layer_id}  salt {exp.salt}")
    _out(f"  unit_type {exp.unit_type}; traffic {_ranges(exp.ranges)}; analysis period {exp.analysis_period}")
    for v in exp.variants:
        _out(f"  variant {v.key:<16} weight {v.weight:>5}  buckets {_ranges(v.ranges)}")
    for r in exp.rules:
        op = config_pb2.Operator.Name(r.operator).removeprefix("OPERATOR_")
        _out(f"  rule {r.attribute} {op} {list(r.values)}")
    if exp.shipped_variant:
        _out(f"  shipped variant {exp.shipped_variant}")
    return 0


@_guard
def cmd_create(args: argparse.Namespace) -> int:
    desired = apply_mod.load([args.file])
    if len(desired.experiments) != 1:
        raise apply_mod.ApplyError(f"{args.file}: expected exactly one experiment, found {len(desired.experiments)}")
    with _client(args) as c:
        resp = c.stubs.experiments.CreateExperiment(
            C.CreateExperimentRequest(experiment=desired.experiments[0], reason=args.reason), metadata=c.md
        )
    if args.json:
        _print_json({"experiment": _dict(resp.experiment), "revision": resp.revision})
    else:
        _out(f"created {resp.experiment.key} (DRAFT) at revision {resp.revision}")
    return 0


@_guard
def cmd_transition(args: argparse.Namespace) -> int:
    action, key, v, reason = args.action, args.key, args.expected_version, args.reason
    e = C
    with _client(args) as c:
        stub = c.stubs.experiments
        if action == "launch":
            resp: Any = stub.LaunchExperiment(
                e.LaunchExperimentRequest(
                    key=key, expected_version=v, reason=reason, traffic_bp=parse_traffic(args.traffic)
                ),
                metadata=c.md,
            )
        elif action == "ramp":
            resp = stub.RampExperiment(
                e.RampExperimentRequest(
                    key=key, expected_version=v, reason=reason, traffic_bp=parse_traffic(args.traffic)
                ),
                metadata=c.md,
            )
        elif action == "ship":
            resp = stub.ShipExperiment(
                e.ShipExperimentRequest(key=key, expected_version=v, reason=reason, variant_key=args.variant),
                metadata=c.md,
            )
        else:
            method = getattr(stub, f"{action.capitalize()}Experiment")
            request = getattr(e, f"{action.capitalize()}ExperimentRequest")(key=key, expected_version=v, reason=reason)
            resp = method(request, metadata=c.md)
    committed = resp.committed_at.ToDatetime().isoformat(timespec="milliseconds") + "Z"
    if args.json:
        _print_json({"experiment": _dict(resp.experiment), "revision": resp.revision, "committed_at": committed})
    else:
        exp = resp.experiment
        _out(
            f"{action}: {exp.key} is {status_name(exp.status)} (version {exp.version}, traffic "
            f"{_ranges(exp.ranges)}); committed at {committed}, config revision {resp.revision}"
        )
    return 0


# ------------------------------------------------------------------- layers


def occupancy_bar(occ: control_pb2.GetLayerOccupancyResponse, width: int = BAR_WIDTH) -> str:
    """One character per BUCKET_COUNT/width buckets: a letter per experiment, `.` free."""
    owner = ["."] * width
    for i, alloc in enumerate(occ.allocations):
        mark = chr(ord("A") + i % 26)
        for r in alloc.ranges:
            for cell in range(
                r.start * width // BUCKET_COUNT, max(r.start * width // BUCKET_COUNT + 1, r.end * width // BUCKET_COUNT)
            ):
                owner[min(cell, width - 1)] = mark
    used = BUCKET_COUNT - occ.free_buckets
    return f"[{''.join(owner)}] {used / 100:5.1f}% used"


@_guard
def cmd_layers(args: argparse.Namespace) -> int:
    with _client(args) as c:
        layers = c.stubs.layers.ListLayers(C.ListLayersRequest(), metadata=c.md).layers
        occs = [
            c.stubs.layers.GetLayerOccupancy(C.GetLayerOccupancyRequest(layer_id=la.id), metadata=c.md) for la in layers
        ]
    if args.json:
        _print_json([_dict(o) for o in occs])
        return 0
    for occ in occs:
        _out(f"{occ.layer.id:<20} {occupancy_bar(occ)}  ({len(occ.allocations)} experiments)")
    return 0


@_guard
def cmd_layer_show(args: argparse.Namespace) -> int:
    with _client(args) as c:
        occ = c.stubs.layers.GetLayerOccupancy(C.GetLayerOccupancyRequest(layer_id=args.layer_id), metadata=c.md)
    if args.json:
        _print_json(_dict(occ))
        return 0
    _out(f"layer {occ.layer.id} (salt {occ.layer.salt})  {occupancy_bar(occ)}")
    for i, alloc in enumerate(occ.allocations):
        size = sum(r.end - r.start for r in alloc.ranges)
        _out(f"  {chr(ord('A') + i % 26)} {alloc.experiment_key:<24} {size / 100:5.1f}%  {_ranges(alloc.ranges)}")
    _out(f"  free: {occ.free_buckets} buckets ({occ.free_buckets / 100:g}%)")
    return 0


# -------------------------------------------------------------------- audit


@_guard
def cmd_audit(args: argparse.Namespace) -> int:
    subject = args.key if not args.key or "/" in args.key else f"experiment/{args.key}"
    with _client(args) as c:
        records = c.stubs.audit.ListAuditRecords(
            C.ListAuditRecordsRequest(subject=subject, limit=args.limit), metadata=c.md
        ).records
    if args.json:
        _print_json([_dict(r) for r in records])
        return 0
    rows = [
        [
            r.time.ToDatetime().isoformat(timespec="seconds") + "Z",
            str(r.revision),
            r.actor,
            r.action,
            r.subject,
            r.reason,
        ]
        for r in records
    ]
    _table(rows, ["TIME", "REV", "ACTOR", "ACTION", "SUBJECT", "REASON"])
    return 0


# -------------------------------------------------------------------- apply


@_guard
def cmd_apply(args: argparse.Namespace) -> int:
    desired = apply_mod.load(args.file)
    with _client(args) as c:
        s, md = c.stubs, c.md
        steps = apply_mod.plan(
            desired,
            s.layers.ListLayers(C.ListLayersRequest(), metadata=md).layers,
            s.metrics.ListMetrics(C.ListMetricsRequest(), metadata=md).metrics,
            s.holdouts.ListHoldouts(C.ListHoldoutsRequest(), metadata=md).holdouts,
            s.experiments.ListExperiments(C.ListExperimentsRequest(include_archived=True), metadata=md).experiments,
        )
        results = []
        for step in steps:
            if step.diff and not args.json:
                _out(step.diff.rstrip("\n"))
            if step.op == "conflict":
                _err(f"{step.kind}/{step.name}: differs from the server but cannot be changed in place")
            done = step.op in ("create", "update") and not args.dry_run
            if done:
                _execute(s, md, step, args)
            results.append({"kind": step.kind, "name": step.name, "op": step.op, "applied": done, "diff": step.diff})
            if not args.json:
                verb = {"create": "created", "update": "updated"}.get(step.op, step.op)
                if args.dry_run and step.op in ("create", "update"):
                    verb = f"would be {verb} (dry run)"
                _out(f"{step.kind}/{step.name}: {verb}")
    if args.json:
        _print_json(results)
    return 1 if any(st.op == "conflict" for st in steps) else 0


def _execute(s: Stubs, md: Any, step: apply_mod.Step, args: argparse.Namespace) -> None:
    d: Any = step.desired
    if step.kind == "layer":
        s.layers.CreateLayer(C.CreateLayerRequest(layer=d, reason=args.reason), metadata=md)
    elif step.kind == "metric":
        s.metrics.PutMetric(C.PutMetricRequest(metric=d, reason=args.reason), metadata=md)
    elif step.kind == "holdout":
        s.holdouts.CreateHoldout(C.CreateHoldoutRequest(holdout=d, reason=args.reason), metadata=md)
    elif step.op == "create":
        s.experiments.CreateExperiment(C.CreateExperimentRequest(experiment=d, reason=args.reason), metadata=md)
    else:
        current: Any = step.current
        s.experiments.UpdateExperiment(
            C.UpdateExperimentRequest(
                experiment=d,
                expected_version=current.version,
                allow_reallocation=args.allow_reallocation,
                reason=args.reason,
            ),
            metadata=md,
        )
