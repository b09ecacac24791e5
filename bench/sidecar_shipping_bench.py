"""Sustained exposure shipping through the sidecar (spool on, fsync on) into Kafka, beside a bare producer.

Starts a real single-node Kafka (tests/harness/kafka.py), then measures in the
same run:

- bare: one aiokafka producer in this process sending the same serialized
  exposures (acks=all, lz4, keyed by unit id) as fast as it can, then flushing;
- sidecar: `python -m splitline.sidecar --kafka ...` in its own process; this
  process sends LogExposures batches (1000 events each, 8 calls in flight) over
  the fast path. "spooled/s" counts events acknowledged to the client (durable
  in the spool); "shipped/s" is the end-to-end rate until Kafka acknowledged the
  last one (read from the sidecar's /healthz).

Requests are serialized before the clock starts, so client-side protobuf
building is not measured.

    .venv/bin/python bench/sidecar_shipping_bench.py [--events 200000] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from splitline.sidecar.wire import encode_varint

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SNAPSHOT = ROOT / "examples" / "snapshot.yaml"
BATCH = 1000
IN_FLIGHT = 8


def _exposures(n: int, tag: str) -> list[bytes]:
    from splitline.v1 import events_pb2

    out = []
    for i in range(n):
        e = events_pb2.Exposure(event_id=f"{tag}-{i:09d}", experiment_key="checkout_v2", variant_key="control",
                                unit_type="user_id", unit_id=f"user-{i % 100_000}", config_revision=1,
                                client="bench/1")
        e.timestamp.FromSeconds(1_800_000_000 + i // 1000)
        out.append(e.SerializeToString())
    return out


async def bare_producer(bootstrap: str, topic: str, payloads: list[bytes]) -> float:
    from aiokafka import AIOKafkaProducer
    from splitline.v1 import events_pb2

    keys = [events_pb2.Exposure.FromString(p).unit_id.encode() for p in payloads]
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", compression_type="lz4", linger_ms=5,
                                max_batch_size=1 << 20, enable_idempotence=True)
    await producer.start()
    try:
        start = time.perf_counter()
        futures = [await producer.send(topic, value=p, key=k) for p, k in zip(payloads, keys, strict=True)]
        await producer.flush()
        await asyncio.gather(*futures)
        return len(payloads) / (time.perf_counter() - start)
    finally:
        await producer.stop()


async def _health(port: int) -> dict[str, Any]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /healthz HTTP/1.0\r\n\r\n")
    data = await reader.read()
    writer.close()
    result: dict[str, Any] = json.loads(data.split(b"\r\n\r\n", 1)[1])
    return result


async def through_sidecar(fast_socket: Path, metrics_port: int, payloads: list[bytes]) -> dict[str, float]:
    from splitline.v1 import assignment_pb2

    frames = []
    for rid, first in enumerate(range(0, len(payloads), BATCH), start=1):
        req = b"".join(b"\x0a" + encode_varint(len(p)) + p for p in payloads[first:first + BATCH])
        msg = b"\x08" + encode_varint(rid) + b"\x1a" + encode_varint(len(req)) + req
        frames.append(len(msg).to_bytes(4, "big") + msg)
    reader, writer = await asyncio.open_unix_connection(str(fast_socket), limit=1 << 24)
    sem = asyncio.Semaphore(IN_FLIGHT)
    answered = 0

    async def read_loop() -> None:
        nonlocal answered
        while answered < len(frames):
            n = int.from_bytes(await reader.readexactly(4), "big")
            body = await reader.readexactly(n)
            resp = assignment_pb2.FastPathResponse.FromString(body)  # one per 1000 events: cheap
            if resp.WhichOneof("body") == "error":
                raise RuntimeError(f"sidecar refused a batch: {resp.error}")
            answered += 1
            sem.release()

    health = await _health(metrics_port)
    base_shipped = health["kafka"]["shipped"]
    start = time.perf_counter()
    reading = asyncio.create_task(read_loop())
    for f in frames:
        await sem.acquire()
        writer.write(f)
    await reading
    spooled_at = time.perf_counter()
    while True:
        health = await _health(metrics_port)
        if health["kafka"]["shipped"] - base_shipped >= len(payloads) and health["kafka"]["pending_bytes"] == 0:
            break
        await asyncio.sleep(0.02)
    done = time.perf_counter()
    writer.close()
    return {"spooled_per_s": round(len(payloads) / (spooled_at - start)),
            "shipped_per_s": round(len(payloads) / (done - start))}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    import uvloop

    from tests.harness.kafka import KafkaBroker, free_port

    tmp = Path(tempfile.mkdtemp(prefix="sl-ship-", dir="/tmp"))
    broker = KafkaBroker(tmp / "kafka")
    sidecar: subprocess.Popen[bytes] | None = None
    try:
        broker.start()
        broker.create_topics(["bare-exposures", "exposures", "outcomes"], partitions=3)
        port = free_port()
        sidecar = subprocess.Popen([
            sys.executable, "-m", "splitline.sidecar", "--snapshot", str(SNAPSHOT),
            "--socket", str(tmp / "grpc.sock"), "--fast-socket", str(tmp / "fast.sock"),
            "--spool-dir", str(tmp / "spool"), "--kafka", broker.bootstrap_servers,
            "--metrics-port", str(port), "--log-level", "WARNING"])
        deadline = time.monotonic() + 60
        while not (tmp / "fast.sock").exists():
            if sidecar.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("sidecar did not start")
            time.sleep(0.05)
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            warm = _exposures(20_000, "warm")
            runner.run(bare_producer(broker.bootstrap_servers, "bare-exposures", warm))
            runner.run(through_sidecar(tmp / "fast.sock", port, warm))
            payloads = _exposures(args.events, "run")
            bare = runner.run(bare_producer(broker.bootstrap_servers, "bare-exposures", payloads))
            ours = runner.run(through_sidecar(tmp / "fast.sock", port, payloads))
    finally:
        if sidecar is not None:
            sidecar.send_signal(signal.SIGTERM)
            try:
                sidecar.wait(timeout=30)
            except subprocess.TimeoutExpired:
                sidecar.kill()
        broker.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    result = {
        "events": args.events,
        "bare_producer_per_s": round(bare),
        **ours,
        "ratio_to_bare": round(ours["shipped_per_s"] / bare, 2),
        "machine": {"cpus": os.cpu_count(), "loadavg_1m": round(os.getloadavg()[0], 2)},
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"bare aiokafka producer: {result['bare_producer_per_s']} events/s")
        print(f"sidecar (spool+fsync): spooled {result['spooled_per_s']} events/s, "
              f"shipped end-to-end {result['shipped_per_s']} events/s, ratio to bare {result['ratio_to_bare']}")
        print(f"machine: {result['machine']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
