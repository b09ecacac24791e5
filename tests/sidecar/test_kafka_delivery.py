"""At-least-once delivery into a real Apache Kafka broker (KRaft, started by the harness).

Every event whose LogExposures call returned OK must reach the topic, whatever
happens to the broker or to the sidecar in between: count distinct event ids at
the far end (duplicates allowed, loss not).
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest
from splitline.sidecar.app import Sidecar
from splitline.sidecar.fastpath_client import FastPathClient
from splitline.sidecar.shipper import KafkaSettings
from splitline.v1 import events_pb2

from tests.harness.kafka import KafkaBroker, free_port
from tests.sidecar.conftest import EXAMPLE_SNAPSHOT
from tests.sidecar.helpers import exposure_batch, settings, topic_names

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


def _event_ids(broker: KafkaBroker, topic: str) -> set[str]:
    return {events_pb2.Exposure.FromString(value).event_id for _, value in broker.consume_all(topic, timeout=120)
            if value is not None}


async def _send(client: FastPathClient, start: int, stop: int, batch: int, in_flight: int, *,
                acked: set[str], prefix: str) -> None:
    """LogExposures for ids [start, stop) in batches, `in_flight` calls at a time; record what was acked."""
    sem = asyncio.Semaphore(in_flight)

    async def one(first: int) -> None:
        async with sem:
            n = min(batch, stop - first)
            resp = await client.log_exposures(exposure_batch(first, n, prefix))
            assert resp.accepted == n
            acked.update(f"{prefix}-{i}" for i in range(first, first + n))

    try:
        async with asyncio.TaskGroup() as group:
            for i in range(start, stop, batch):
                group.create_task(one(i))
    except* ConnectionError as errors:
        raise ConnectionError("sidecar connection lost") from errors


async def test_200k_exposures_survive_a_broker_sigkill_and_restart(kafka_broker: KafkaBroker,
                                                                     short_tmp: Path) -> None:
    exposures, outcomes = topic_names()
    kafka_broker.create_topics([exposures], partitions=3)
    kafka_broker.create_topics([outcomes], partitions=1)
    kafka = KafkaSettings(kafka_broker.bootstrap_servers, exposures, outcomes, request_timeout_ms=5000)
    total = 200_000
    acked: set[str] = set()
    sidecar = await Sidecar(settings(short_tmp, snapshot=EXAMPLE_SNAPSHOT, kafka=kafka,
                                     spool_segment_bytes=2 << 20)).start()
    client = await FastPathClient.connect(sidecar.settings.fast_socket)
    try:
        await _send(client, 0, 60_000, 1000, 8, acked=acked, prefix="bk")
        kafka_broker.kill()
        killed_at = time.monotonic()
        await _send(client, 60_000, 120_000, 1000, 8, acked=acked, prefix="bk")  # spooled while the broker is dead
        assert sidecar.spool.size_bytes > 0
        restart = asyncio.create_task(asyncio.to_thread(kafka_broker.start))
        await _send(client, 120_000, total, 1000, 8, acked=acked, prefix="bk")  # while it restarts
        await restart
        assert time.monotonic() - killed_at > 1
        deadline = time.monotonic() + 180
        assert sidecar.shipper is not None
        while sidecar.shipper.pending_bytes() > 0 or sidecar.shipper.shipped < total:
            assert time.monotonic() < deadline, f"not drained: {sidecar.health()}"
            await asyncio.sleep(0.2)
        assert sidecar.shipper.failures >= 1  # it did notice the broker was gone
    finally:
        await client.close()
        await sidecar.stop()
        if not kafka_broker.running:
            kafka_broker.start()
        # aiokafka can drop a half-open connection when the broker dies mid-connect
        # (it is closed by its finalizer): collect it here rather than in a later test.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)
            gc.collect()
    assert len(acked) == total
    arrived = await asyncio.to_thread(_event_ids, kafka_broker, exposures)
    missing = acked - arrived
    assert not missing, f"{len(missing)} acknowledged events never reached Kafka, e.g. {sorted(missing)[:5]}"
    # With Kafka, the spool is trimmed once everything is acknowledged.
    assert sidecar.spool.size_bytes < 2 << 20


def _start_sidecar_process(tmp: Path, bootstrap: str, exposures: str, outcomes: str, metrics_port: int
                           ) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "splitline.sidecar", "--snapshot", str(EXAMPLE_SNAPSHOT),
           "--socket", str(tmp / "grpc.sock"), "--fast-socket", str(tmp / "fast.sock"),
           "--spool-dir", str(tmp / "spool"), "--kafka", bootstrap, "--exposures-topic", exposures,
           "--outcomes-topic", outcomes, "--metrics-port", str(metrics_port), "--segment-mb", "1"]
    log = (tmp / "sidecar.log").open("ab")
    try:
        return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    finally:
        log.close()


async def _wait_for_socket(path: Path, proc: subprocess.Popen[bytes], timeout: float = 30) -> FastPathClient:
    deadline = time.monotonic() + timeout
    while True:
        assert proc.poll() is None, "sidecar exited"
        try:
            return await FastPathClient.connect(path)
        except (FileNotFoundError, ConnectionRefusedError):
            assert time.monotonic() < deadline, "sidecar did not come up"
            await asyncio.sleep(0.1)


async def _health(port: int) -> dict[str, object]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(b"GET /healthz HTTP/1.0\r\n\r\n")
        data = await reader.read()
    finally:
        writer.close()
        await writer.wait_closed()
    result: dict[str, object] = json.loads(data.split(b"\r\n\r\n", 1)[1])
    return result


async def test_sidecar_sigkill_midstream_loses_no_acknowledged_event(kafka_broker: KafkaBroker,
                                                                      short_tmp: Path) -> None:
    exposures, outcomes = topic_names()
    kafka_broker.create_topics([exposures], partitions=3)
    kafka_broker.create_topics([outcomes], partitions=1)
    port = free_port()
    proc = _start_sidecar_process(short_tmp, kafka_broker.bootstrap_servers, exposures, outcomes, port)
    acked: set[str] = set()
    try:
        client = await _wait_for_socket(short_tmp / "fast.sock", proc)
        sender = asyncio.create_task(_send(client, 0, 400_000, 500, 8, acked=acked, prefix="sk"))
        while len(acked) < 30_000:
            assert not sender.done(), sender
            await asyncio.sleep(0.01)
        os.killpg(proc.pid, signal.SIGKILL)  # mid-stream: calls in flight die with the process
        proc.wait(timeout=10)
        with pytest.raises(ConnectionError):
            await sender
        await client.close()
        proc = _start_sidecar_process(short_tmp, kafka_broker.bootstrap_servers, exposures, outcomes, port)
        client = await _wait_for_socket(short_tmp / "fast.sock", proc)
        await _send(client, 1_000_000, 1_005_000, 500, 4, acked=acked, prefix="sk")  # it serves again
        await client.close()
        deadline = time.monotonic() + 120
        while True:
            health = await _health(port)
            kafka = health["kafka"]
            assert isinstance(kafka, dict)
            if kafka["pending_bytes"] == 0:
                break
            assert time.monotonic() < deadline, health
            await asyncio.sleep(0.2)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
    arrived = await asyncio.to_thread(_event_ids, kafka_broker, exposures)
    missing = acked - arrived
    assert len(acked) >= 35_000
    assert not missing, f"{len(missing)} acknowledged events never reached Kafka, e.g. {sorted(missing)[:5]}"
