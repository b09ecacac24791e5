"""Ingest from a real Kafka broker: consumers killed mid-batch lose nothing, and after compaction
nothing is counted twice.

The worker runs as a real process (`python -m splitline ingest kafka`). The
fail point ends it abruptly after a batch's Parquet files are written and
before its offsets are committed — the window where a wrong order (commit
first) would lose the batch and the right order repeats it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from splitline.analytics.ingest.kafka import FAIL_EXIT_CODE, FAIL_POINT_ENV
from splitline.analytics.ingest.writer import compact
from splitline.analytics.metrics import parse_metrics
from splitline.analytics.pipeline.duckdb_engine import DuckDBEngine
from splitline.analytics.pipeline.engine import run_pipeline

from tests.analytics.ingest_helpers import exposure_bytes, outcome_bytes

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
T0 = dt.datetime(2026, 4, 1, 10, 0)
UNITS = 300


async def _produce(bootstrap: str, topic: str, records: list[tuple[str, bytes]]) -> None:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for key, value in records:
            await producer.send(topic, value=value, key=key.encode())
        await producer.flush()
    finally:
        await producer.stop()


def _worker(bootstrap: str, data: Path, group: str, topics: tuple[str, str], fail_after: int | None) -> int:
    env = {k: v for k, v in os.environ.items() if k != FAIL_POINT_ENV}
    if fail_after is not None:
        env[FAIL_POINT_ENV] = str(fail_after)
    cmd = [sys.executable, "-m", "splitline", "ingest", "kafka", "--bootstrap-servers", bootstrap,
           "--data", str(data), "--group-id", group, "--exposures-topic", topics[0],
           "--outcomes-topic", topics[1], "--max-records", "100", "--idle-exit", "4"]
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, timeout=120, check=False)
    if done.returncode not in (0, FAIL_EXIT_CODE):
        raise AssertionError(done.stderr.decode(errors="replace")[-3000:])
    return done.returncode


def _drain(bootstrap: str, data: Path, group: str, topics: tuple[str, str], expected: int) -> None:
    """Run clean workers until the data holds `expected` distinct events or a run reads nothing new.

    Killed members stay in the consumer group until their session times out; a worker that joins
    meanwhile may be given only part of the partitions and reach its idle exit early. The rest is
    still in Kafka with uncommitted offsets, so the next run reads it. A lost event (offset committed,
    file never written) would never come back, so the callers' assertions still catch loss.
    """
    seen = -1
    for _ in range(6):
        assert _worker(bootstrap, data, group, topics, fail_after=None) == 0
        ids = set(_event_ids(data, "exposures")) | set(_event_ids(data, "outcomes"))
        if len(ids) >= expected or len(ids) == seen:
            return
        seen = len(ids)


def _event_ids(data: Path, table: str) -> list[str]:
    return [e for f in sorted((data / table).rglob("*.parquet")) for e in pq.read_table(f)["event_id"].to_pylist()]


def test_consumer_killed_mid_batch_loses_and_double_counts_nothing(kafka_broker: Any, tmp_path: Path) -> None:
    suffix = uuid.uuid4().hex[:8]
    topics = (f"exposures-{suffix}", f"outcomes-{suffix}")
    kafka_broker.create_topics(list(topics), partitions=3)
    exposures = []
    outcomes = []
    for i in range(UNITS):
        unit = f"u{i}"
        variant = "control" if i % 3 else "treatment"
        for j in range(2):  # two exposures per unit: the first one counts
            exposures.append((unit, exposure_bytes(f"e{i}-{j}", unit, variant, T0 + dt.timedelta(minutes=i + j))))
        for j in range(i % 5):  # unit i buys i % 5 times, 2.0 each, after its exposure
            outcomes.append((unit, outcome_bytes(f"o{i}-{j}", unit, "purchase", 2.0,
                                                 T0 + dt.timedelta(minutes=i + 10 + j))))
    asyncio.run(_produce(kafka_broker.bootstrap_servers, topics[0], exposures))
    asyncio.run(_produce(kafka_broker.bootstrap_servers, topics[1], outcomes))

    data = tmp_path / "data"
    group = f"ingest-{suffix}"
    assert _worker(kafka_broker.bootstrap_servers, data, group, topics, fail_after=3) == FAIL_EXIT_CODE
    assert _worker(kafka_broker.bootstrap_servers, data, group, topics, fail_after=2) == FAIL_EXIT_CODE

    produced_exposures = sorted(f"e{i}-{j}" for i in range(UNITS) for j in range(2))
    produced_outcomes = sorted(f"o{i}-{j}" for i in range(UNITS) for j in range(i % 5))
    _drain(kafka_broker.bootstrap_servers, data, group, topics, len(produced_exposures) + len(produced_outcomes))
    written_exposures = _event_ids(data, "exposures") + _event_ids(data, "outcomes")
    # Nothing lost. The killed consumers' uncommitted batches were read again: when a re-read batch has
    # the same offsets its file is rewritten under the same name, otherwise copies exist until compaction.
    assert set(written_exposures) == set(produced_exposures) | set(produced_outcomes)
    assert len(written_exposures) >= len(produced_exposures) + len(produced_outcomes)

    compact(data)
    assert sorted(_event_ids(data, "exposures")) == produced_exposures
    assert sorted(_event_ids(data, "outcomes")) == produced_outcomes

    engine = DuckDBEngine()
    engine.bind_parquet(data)
    stats = run_pipeline(engine, parse_metrics([{"name": "revenue", "kind": "mean", "event": "purchase"}])).stats
    engine.close()
    # control: units with i % 3 != 0 (200 units), treatment: 100 units; y_i = 2 * (i % 5).
    expected = {}
    for variant, units in (("control", [i for i in range(UNITS) if i % 3]),
                           ("treatment", [i for i in range(UNITS) if i % 3 == 0])):
        ys = [2.0 * (i % 5) for i in units]
        expected[variant] = (len(units), sum(ys), sum(y * y for y in ys))
    assert {r["variant"]: (r["n"], r["sum_y"], r["sum_y2"]) for r in stats.to_pylist()} == expected


def test_consumer_sigkilled_at_random_moments_loses_and_double_counts_nothing(
    kafka_broker: Any, tmp_path: Path
) -> None:
    """An external SIGKILL at seeded random moments (mid-write, mid-commit, anywhere), three times over:
    after a clean final run and compaction every event is there exactly once."""
    import random
    import signal
    import time

    suffix = uuid.uuid4().hex[:8]
    topics = (f"exposures-{suffix}", f"outcomes-{suffix}")
    kafka_broker.create_topics(list(topics), partitions=3)
    units = 3000
    exposures = [(f"u{i}", exposure_bytes(f"e{i}", f"u{i}", "control" if i % 2 else "treatment",
                                          T0 + dt.timedelta(seconds=i))) for i in range(units)]
    outcomes = [(f"u{i}", outcome_bytes(f"o{i}", f"u{i}", "purchase", 1.0, T0 + dt.timedelta(seconds=i + 5)))
                for i in range(units)]
    asyncio.run(_produce(kafka_broker.bootstrap_servers, topics[0], exposures))
    asyncio.run(_produce(kafka_broker.bootstrap_servers, topics[1], outcomes))

    data = tmp_path / "data"
    group = f"ingest-{suffix}"
    cmd = [sys.executable, "-m", "splitline", "ingest", "kafka", "--bootstrap-servers", kafka_broker.bootstrap_servers,
           "--data", str(data), "--group-id", group, "--exposures-topic", topics[0], "--outcomes-topic", topics[1],
           "--max-records", "50", "--idle-exit", "4"]
    env = {k: v for k, v in os.environ.items() if k != FAIL_POINT_ENV}
    rng = random.Random(2026)
    killed = 0
    for _ in range(3):
        worker = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # Let it join the group and get going, then kill it at a seeded random moment.
        deadline = time.monotonic() + 60
        while not list(data.rglob("*.parquet")) and worker.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(rng.uniform(0.0, 1.5))
        if worker.poll() is None:
            worker.send_signal(signal.SIGKILL)
            killed += 1
        worker.wait(timeout=30)
    assert killed >= 1, "the worker finished before it could be killed: make the topic bigger"

    produced_exposures = sorted(f"e{i}" for i in range(units))
    produced_outcomes = sorted(f"o{i}" for i in range(units))
    _drain(kafka_broker.bootstrap_servers, data, group, topics, 2 * units)
    assert set(_event_ids(data, "exposures")) == set(produced_exposures)
    assert set(_event_ids(data, "outcomes")) == set(produced_outcomes)
    compact(data)
    assert sorted(_event_ids(data, "exposures")) == produced_exposures
    assert sorted(_event_ids(data, "outcomes")) == produced_outcomes
