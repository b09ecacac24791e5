"""Assign latency and throughput on both sidecar doors, each beside a trivial echo on the same kind of door.

The sidecars (`python -m splitline.sidecar`, uvloop; one with the native Go
core, one with `--core python`) and the echo servers run in their own
processes; this process is the client (uvloop). For each door:

- fixed request rates (default 1k, 5k, 10k req/s, open loop: requests are sent
  on a 1 ms clock whether or not earlier ones were answered) -> p50/p99 latency;
- maximum throughput with a window of requests in flight.

The client is `splitline-loadgen` (sdk_go/cmd/splitline-loadgen, built here when
Go is installed): a Python client on this machine costs more per request than
the servers it measures. `--client python` uses the asyncio clients below.

The echo on the fast path parses each FastPathRequest and answers an empty
AssignResponse with its request id (in Python with uvloop, like the sidecar;
with the Go client also `echo-go`, the same echo in Go: the machine's floor); the gRPC echo is a generic handler that
answers an empty AssignResponse. "overhead" = ours / echo, measured in the same
run, so the machine's noise mostly cancels. The client shares the machine, so
absolute figures include its own cost.

    .venv/bin/python bench/sidecar_assign_bench.py [--duration 3] [--rates 1000,5000,10000] [--cores native,python]
                                                   [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from splitline.sidecar.wire import encode_varint

ROOT = Path(__file__).resolve().parents[1]
SNAPSHOT = ROOT / "examples" / "snapshot.yaml"


# ------------------------------------------------------------------ echo servers

def serve_echo(directory: Path) -> None:
    """Run both echo servers (framed and gRPC) until SIGTERM."""
    import grpc
    import uvloop
    from splitline.v1 import assignment_pb2

    empty = assignment_pb2.AssignResponse().SerializeToString()

    class Echo(asyncio.Protocol):
        def connection_made(self, transport: Any) -> None:
            self.transport = transport
            self.buf = bytearray()

        def data_received(self, data: bytes) -> None:
            buf = self.buf
            buf += data
            out = []
            pos = 0
            while len(buf) - pos >= 4:
                n = int.from_bytes(buf[pos:pos + 4], "big")
                if len(buf) - pos - 4 < n:
                    break
                req = assignment_pb2.FastPathRequest.FromString(bytes(buf[pos + 4:pos + 4 + n]))
                pos += 4 + n
                resp = assignment_pb2.FastPathResponse(request_id=req.request_id)
                resp.assign.ParseFromString(empty)
                body = resp.SerializeToString()
                out.append(len(body).to_bytes(4, "big") + body)
            del buf[:pos]
            if out:
                self.transport.write(b"".join(out))

    async def main() -> None:
        loop = asyncio.get_running_loop()
        framed = await loop.create_unix_server(Echo, str(directory / "echo-fast.sock"))

        async def assign(data: bytes, context: Any) -> bytes:
            assignment_pb2.AssignRequest.FromString(data)
            return empty

        server = grpc.aio.server()
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
            "splitline.v1.AssignmentService", {"Assign": grpc.unary_unary_rpc_method_handler(assign)}),))
        server.add_insecure_port(f"unix:{directory / 'echo-grpc.sock'}")
        await server.start()
        stop = asyncio.Event()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        await stop.wait()
        framed.close()
        await server.stop(0)

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main())


# ----------------------------------------------------------------------- clients

def _requests(n: int) -> list[bytes]:
    """Serialized AssignRequests (all experiments of a unit) over a pool of units."""
    from splitline.v1 import assignment_pb2

    rng = random.Random(7)
    return [assignment_pb2.AssignRequest(
        units={"user_id": f"user-{rng.randrange(1_000_000)}"},
        attributes={"country": rng.choice(["US", "CA", "DE"]), "app_version": rng.choice(["1.9", "2.0.1", "3"])},
    ).SerializeToString() for _ in range(n)]


class FastClient(asyncio.Protocol):
    """Pipelined framed client recording per-request latency."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self.sent: dict[int, float] = {}
        self.latencies: list[float] = []
        self.done = 0
        self.next_id = 1
        self.waiter: asyncio.Future[None] | None = None
        self.transport: Any = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def send(self, bodies: list[bytes]) -> None:
        now = time.perf_counter()
        frames = []
        for body in bodies:
            rid = self.next_id
            self.next_id += 1
            msg = b"\x08" + encode_varint(rid) + b"\x12" + encode_varint(len(body)) + body
            frames.append(len(msg).to_bytes(4, "big") + msg)
            self.sent[rid] = now
        self.transport.write(b"".join(frames))

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        pos = 0
        now = time.perf_counter()
        while len(buf) - pos >= 4:
            n = int.from_bytes(buf[pos:pos + 4], "big")
            if len(buf) - pos - 4 < n:
                break
            # request_id is the first field (tag 0x08, varint): decode just that.
            rid = 0
            shift = 0
            i = pos + 5
            while True:
                b = buf[i]
                rid |= (b & 0x7F) << shift
                i += 1
                if b < 0x80:
                    break
                shift += 7
            pos += 4 + n
            t0 = self.sent.pop(rid, None)
            if t0 is not None:
                self.latencies.append(now - t0)
            self.done += 1
        del buf[:pos]
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)


async def _fast_connect(path: Path) -> FastClient:
    loop = asyncio.get_running_loop()
    for _ in range(100):
        try:
            _, proto = await loop.create_unix_connection(FastClient, str(path))
            return proto
        except ConnectionRefusedError:
            await asyncio.sleep(0.1)
    raise ConnectionRefusedError(str(path))


def _summary(latencies: list[float], sent: int, elapsed: float) -> dict[str, float]:
    if not latencies:
        return {"sent": sent, "answered": 0}
    qs = statistics.quantiles(latencies, n=100, method="inclusive")
    return {"sent": sent, "answered": len(latencies), "achieved_rps": round(len(latencies) / elapsed),
            "p50_us": round(qs[49] * 1e6, 1), "p99_us": round(qs[98] * 1e6, 1)}


async def fast_fixed_rate(path: Path, rate: int, duration: float, bodies: list[bytes]) -> dict[str, float]:
    client = await _fast_connect(path)
    tick = 0.001
    start = time.perf_counter()
    sent = 0
    k = 0
    while True:
        now = time.perf_counter()
        elapsed = now - start
        if elapsed >= duration:
            break
        due = int(elapsed * rate) + 1 - sent
        if due > 0:
            batch = [bodies[(k + j) % len(bodies)] for j in range(due)]
            k += due
            client.send(batch)
            sent += due
        await asyncio.sleep(tick)
    deadline = time.perf_counter() + 10
    while client.sent and time.perf_counter() < deadline:
        await asyncio.sleep(0.01)
    client.transport.close()
    return _summary(client.latencies, sent, duration)


async def fast_max(path: Path, duration: float, bodies: list[bytes], window: int = 512) -> dict[str, float]:
    client = await _fast_connect(path)
    start = time.perf_counter()
    k = 0
    chunk = 64
    loop = asyncio.get_running_loop()
    while time.perf_counter() - start < duration:
        in_flight = len(client.sent)
        if in_flight < window:
            n = min(chunk, window - in_flight)
            client.send([bodies[(k + j) % len(bodies)] for j in range(n)])
            k += n
        else:
            client.waiter = loop.create_future()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(client.waiter, 1)
    elapsed = time.perf_counter() - start
    done = client.done
    client.transport.close()
    return {"rps": round(done / elapsed)}


async def grpc_fixed_rate(path: Path, rate: int, duration: float, bodies: list[bytes]) -> dict[str, float]:
    import grpc

    channel = grpc.aio.insecure_channel(f"unix:{path}")
    call = channel.unary_unary("/splitline.v1.AssignmentService/Assign")
    latencies: list[float] = []
    tasks: set[asyncio.Task[None]] = set()

    async def one(body: bytes) -> None:
        t0 = time.perf_counter()
        try:
            await call(body)
        except grpc.aio.AioRpcError:
            return  # cancelled at the end of the run: not answered in time
        latencies.append(time.perf_counter() - t0)

    await call(bodies[0])  # connect
    start = time.perf_counter()
    sent = 0
    while (elapsed := time.perf_counter() - start) < duration:
        due = int(elapsed * rate) + 1 - sent
        for _ in range(max(due, 0)):
            task = asyncio.create_task(one(bodies[sent % len(bodies)]))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            sent += 1
        await asyncio.sleep(0.001)
    if tasks:
        await asyncio.wait(tasks, timeout=30)
    await channel.close()
    return _summary(latencies, sent, duration)


async def grpc_max(path: Path, duration: float, bodies: list[bytes], concurrency: int = 64) -> dict[str, float]:
    import grpc

    channel = grpc.aio.insecure_channel(f"unix:{path}")
    call = channel.unary_unary("/splitline.v1.AssignmentService/Assign")
    await call(bodies[0])
    done = 0
    stop_at = time.perf_counter() + duration

    async def worker(offset: int) -> None:
        nonlocal done
        i = offset
        while time.perf_counter() < stop_at:
            await call(bodies[i % len(bodies)])
            i += concurrency
            done += 1

    start = time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    elapsed = time.perf_counter() - start
    await channel.close()
    return {"rps": round(done / elapsed)}


# ------------------------------------------------------------------ Go client

LOADGEN = ROOT / "build" / "bin" / "splitline-loadgen"


def build_loadgen() -> Path | None:
    go = shutil.which("go")
    if go is None:
        return None
    subprocess.run([go, "build", "-o", str(LOADGEN), "./cmd/splitline-loadgen"], cwd=ROOT / "sdk_go", check=True)
    return LOADGEN


Client = Callable[..., Awaitable[dict[str, float]]]


def _loadgen(door: str) -> tuple[Client, Client]:
    async def run(path: Path, rate: int, duration: float) -> dict[str, Any]:
        proc = await asyncio.to_thread(
            subprocess.run, [str(LOADGEN), "-door", door, "-socket", str(path), "-rate", str(rate),
                             "-duration", f"{duration}s", "-window", "256" if door == "fast" else "64"],
            capture_output=True, text=True, check=True, timeout=duration + 60)
        out: dict[str, Any] = json.loads(proc.stdout)
        return out

    async def fixed(path: Path, rate: int, duration: float, bodies: list[bytes]) -> dict[str, float]:
        r = await run(path, rate, duration)
        return {k: round(r[k], 1) for k in ("sent", "answered", "p50_us", "p99_us") if k in r} | {
            "achieved_rps": round(r["achieved_rps"])}

    async def maximum(path: Path, duration: float, bodies: list[bytes]) -> dict[str, float]:
        return {"rps": round((await run(path, 0, duration))["achieved_rps"])}

    return fixed, maximum


# -------------------------------------------------------------------------- main

def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _server_time(port: int) -> dict[str, float]:
    """Mean handling time of an Assign inside each door (the sidecar's own histogram: sum / count)."""
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
        text = resp.read().decode()
    sums: dict[str, float] = {}
    counts: dict[str, float] = {}
    for line in text.splitlines():
        for door in ("fast", "grpc"):
            if line.startswith("splitline_sidecar_request_seconds_") and f'door="{door}",method="Assign"' in line:
                if line.startswith("splitline_sidecar_request_seconds_sum"):
                    sums[door] = float(line.rsplit(" ", 1)[1])
                elif line.startswith("splitline_sidecar_request_seconds_count"):
                    counts[door] = float(line.rsplit(" ", 1)[1])
    return {door: round(sums[door] / counts[door] * 1e6, 2) for door in sums if counts.get(door)}


def _wait_socket(path: Path, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{path} did not appear")
        time.sleep(0.05)


async def run(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    bodies = _requests(20_000)
    rates = [int(r) for r in args.rates.split(",")]
    doors: dict[str, dict[str, Any]] = {}
    cores = args.cores.split(",")
    plans: list[tuple[str, str, Path, Callable[..., Awaitable[dict[str, float]]],
                      Callable[..., Awaitable[dict[str, float]]]]] = []
    clients = {"fast": (fast_fixed_rate, fast_max), "grpc": (grpc_fixed_rate, grpc_max)}
    if args.client == "go":
        clients = {door: _loadgen(door) for door in clients}
    for door, (fixed_fn, max_fn) in clients.items():
        for core in cores:
            plans.append((door, f"sidecar-{core}", tmp / f"{door}-{core}.sock", fixed_fn, max_fn))
        plans.append((door, "echo", tmp / f"echo-{door}.sock", fixed_fn, max_fn))
        if door == "fast" and args.client == "go":
            plans.append((door, "echo-go", tmp / "echo-go-fast.sock", fixed_fn, max_fn))
    for door, who, path, fixed, maximum in plans:
        entry = doors.setdefault(door, {}).setdefault(who, {})
        await fixed(path, 200, 0.5, bodies)  # warm-up
        for rate in rates:
            entry[f"{rate}_rps"] = await fixed(path, rate, args.duration, bodies)
        entry["max"] = await maximum(path, args.duration, bodies)
    for result in doors.values():
        echo = result["echo"]
        for core in cores:
            ours = result[f"sidecar-{core}"]
            result[f"overhead_{core}_max_throughput"] = round(echo["max"]["rps"] / max(ours["max"]["rps"], 1), 2)
            for rate in rates:
                key = f"{rate}_rps"
                if "p50_us" in ours[key] and "p50_us" in echo[key]:
                    result[f"overhead_{core}_p50_at_{key}"] = round(ours[key]["p50_us"] / echo[key]["p50_us"], 2)
    return doors


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--rates", default="1000,5000,10000")
    parser.add_argument("--cores", default="native,python", help="sidecar cores to measure (native, python)")
    parser.add_argument("--client", choices=["go", "python"], default="go",
                        help="load generator: splitline-loadgen (default; built with Go) or asyncio in this process")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--serve-echo", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_echo:
        serve_echo(args.serve_echo)
        return 0
    import uvloop

    if args.client == "go" and build_loadgen() is None:
        print("no Go toolchain: using the Python client", file=sys.stderr)
        args.client = "python"
    tmp = Path(tempfile.mkdtemp(prefix="sl-bench-", dir="/tmp"))
    env = dict(os.environ)
    cores = args.cores.split(",")
    ports = {core: _free_port() for core in cores}
    procs = [subprocess.Popen([sys.executable, "-m", "splitline.sidecar", "--snapshot", str(SNAPSHOT),
                               "--core", core, "--socket", str(tmp / f"grpc-{core}.sock"),
                               "--fast-socket", str(tmp / f"fast-{core}.sock"), "--metrics-port", str(ports[core]),
                               "--spool-dir", str(tmp / f"spool-{core}"), "--log-level", "WARNING"], env=env)
             for core in cores]
    procs.append(subprocess.Popen([sys.executable, __file__, "--serve-echo", str(tmp)], env=env))
    if args.client == "go":  # the machine's floor: a framed echo with no Python in it
        procs.append(subprocess.Popen([str(LOADGEN), "-serve-echo", str(tmp / "echo-go-fast.sock")]))
    try:
        waits = [(tmp / f"{door}-{core}.sock", proc) for core, proc in zip(cores, procs, strict=False)
                 for door in ("fast", "grpc")]
        echo_proc = procs[len(cores)]
        waits += [(tmp / "echo-fast.sock", echo_proc), (tmp / "echo-grpc.sock", echo_proc)]
        if args.client == "go":
            waits.append((tmp / "echo-go-fast.sock", procs[-1]))
        for path, proc in waits:
            _wait_socket(path, proc)
        time.sleep(0.5)
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            result = runner.run(run(args, tmp))
        result["server_side_assign_us"] = {core: _server_time(ports[core]) for core in cores}
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    result["machine"] = {"cpus": os.cpu_count(), "loadavg_1m": round(os.getloadavg()[0], 2), "client": args.client}
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for door in ("fast", "grpc"):
            r = result[door]
            print(f"== {door} door ==")
            for who in [*(f"sidecar-{c}" for c in args.cores.split(",")), "echo", "echo-go"]:
                if who not in r:
                    continue
                print(f"  {who:14s} " + "  ".join(
                    f"{k}: p50 {v.get('p50_us', '-')}us p99 {v.get('p99_us', '-')}us ({v.get('achieved_rps', 0)}/s)"
                    for k, v in r[who].items() if k != "max") + f"  max: {r[who]['max']['rps']}/s")
            print("  " + "  ".join(f"{k}={v}" for k, v in r.items() if k.startswith("overhead")))
        print("server-side mean time per Assign (us, from each sidecar's histogram): "
              f"{result['server_side_assign_us']}")
        print(f"machine: {result['machine']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
