"""Ingest from a real Kafka broker: consumers killed mid-batch lose nothing, and after compaction
nothing is counted twice.

The worker runs as a real process (`python -m splitline ingest kafka`). The
fail point ends it abruptly after a batch's Parquet files are written and
before its offsets are committed — the window where a wrong order (commit
first) would lose the batch and the right order repeats it.

`--idle-exit S` means "caught up on every partition" (the group's committed
offsets reach the end offsets), so after any number of killed members ONE
clean worker drains everything: it waits, when it must, until the dead
members' sessions time out (about 10 s each) and their partitions reach it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from splitline.analytics.cli import NOT_CAUGHT_UP_EXIT
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


def _command(bootstrap: str, data: Path, group: str, topics: tuple[str, str], *extra: str) -> list[str]:
    return [sys.executable, "-m", "splitline", "ingest", "kafka", "--bootstrap-servers", bootstrap,
            "--data", str(data), "--group-id", group, "--exposures-topic", topics[0],
            "--outcomes-topic", topics[1], *extra]


def _env(fail_after: int | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != FAIL_POINT_ENV}
    if fail_after is not None:
        env[FAIL_POINT_ENV] = str(fail_after)
    return env


def _worker(bootstrap: str, data: Path, group: str, topics: tuple[str, str], fail_after: int | None) -> int:
    """One worker run to its end: the fail point, or caught up on every partition (bounded by --max-wait)."""
    cmd = _command(bootstrap, data, group, topics, "--max-records", "100", "--idle-exit", "1", "--max-wait", "100")
    done = subprocess.run(cmd, cwd=ROOT, env=_env(fail_after), capture_output=True, timeout=150, check=False)
    if done.returncode not in (0, FAIL_EXIT_CODE):
        raise AssertionError(f"exit {done.returncode}\n{done.stderr.decode(errors='replace')[-3000:]}")
    return done.returncode


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
    # One clean worker drains everything (it waits for the second killed member's session to time out).
    assert _worker(kafka_broker.bootstrap_servers, data, group, topics, fail_after=None) == 0
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
    cmd = _command(kafka_broker.bootstrap_servers, data, group, topics, "--max-records", "50", "--idle-exit", "1",
                   "--max-wait", "100")
    env = _env()
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
    # Killed members (some possibly in the middle of joining) hold partitions until their sessions time
    # out; the one clean worker is caught up only after it has read all of them.
    assert _worker(kafka_broker.bootstrap_servers, data, group, topics, fail_after=None) == 0
    assert set(_event_ids(data, "exposures")) == set(produced_exposures)
    assert set(_event_ids(data, "outcomes")) == set(produced_outcomes)
    compact(data)
    assert sorted(_event_ids(data, "exposures")) == produced_exposures
    assert sorted(_event_ids(data, "outcomes")) == produced_outcomes


def _wait_for_text(path: Path, text: str, timeout: float) -> None:
    import time

    deadline = time.monotonic() + timeout
    while text not in path.read_text(errors="replace"):
        assert time.monotonic() < deadline, f"{text!r} not in {path}:\n{path.read_text(errors='replace')[-3000:]}"
        time.sleep(0.05)


# A group member that takes partitions and never reads or commits: prints "assigned N" once it holds some.
HOLDER = """
import asyncio, sys
from aiokafka import AIOKafkaConsumer

async def main():
    consumer = AIOKafkaConsumer(*sys.argv[3:], bootstrap_servers=sys.argv[1], group_id=sys.argv[2],
                                enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()  # returns once partitions are assigned
    print("assigned", len(consumer.assignment()), flush=True)
    await asyncio.sleep(3600)

asyncio.run(main())
"""


def test_idle_exit_waits_for_the_partitions_of_a_dead_member(kafka_broker: Any, tmp_path: Path) -> None:
    """A member holding half of the partitions, with uncommitted records, is SIGKILLed; a fresh worker
    with --idle-exit 1 reads its own half, is idle, and must not exit: it stays until the dead member's
    session times out (about 10 s), gets the other half, reads it, and only then exits (0, caught up)."""
    import signal

    suffix = uuid.uuid4().hex[:8]
    topics = (f"exposures-{suffix}", f"outcomes-{suffix}")
    kafka_broker.create_topics(list(topics), partitions=3)
    bootstrap, data, group = kafka_broker.bootstrap_servers, tmp_path / "data", f"ingest-{suffix}"
    exposures = [f"e{i}" for i in range(90)]
    outcomes = [f"o{i}" for i in range(90)]
    asyncio.run(_produce(bootstrap, topics[0], [(e, exposure_bytes(e, e, "control", T0)) for e in exposures]))
    asyncio.run(_produce(bootstrap, topics[1], [(o, outcome_bytes(o, o, "purchase", 1.0, T0)) for o in outcomes]))
    # The holder joins first, so it leads the group and stays alive through the rebalance in which the
    # worker joins: the worker gets 3 of the 6 partitions, the holder keeps 3.
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, bootstrap, group, *topics], cwd=ROOT, env=_env(),
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    worker_log = tmp_path / "worker.log"
    worker: subprocess.Popen[bytes] | None = None
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "assigned 6"
        with worker_log.open("wb") as err:
            worker = subprocess.Popen(_command(bootstrap, data, group, topics, "--idle-exit", "1",
                                               "--max-wait", "100"),
                                      cwd=ROOT, env=_env(), stdout=subprocess.PIPE, stderr=err)
        _wait_for_text(worker_log, "Setting newly assigned partitions", timeout=60)
        holder.send_signal(signal.SIGKILL)  # holds 3 partitions, committed nothing; a member for ~10 s more
        holder.wait(timeout=30)
        out, _ = worker.communicate(timeout=150)
    finally:
        for proc in (holder, worker):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait(timeout=30)
        if holder.stdout is not None:
            holder.stdout.close()
    log = worker_log.read_text(errors="replace")
    assert worker.returncode == 0, log[-3000:]
    assert json.loads(out)["stopped"] == "caught_up"
    # With the old rule ("S seconds without records") the worker exited with half of this unread.
    assert sorted(_event_ids(data, "exposures")) == sorted(exposures)
    assert sorted(_event_ids(data, "outcomes")) == sorted(outcomes)
    # It was idle on its 3 partitions while the dead member's 3 lagged, and stayed: the case the rule is for.
    assert re.search(r"idle, but the group is not caught up \(assigned here: 3 partition", log), log[-3000:]


def test_max_wait_bounds_a_worker_that_cannot_catch_up(kafka_broker: Any, tmp_path: Path) -> None:
    """A dead member holds the only partitions, with uncommitted records, for up to 10 s: a worker with
    --idle-exit 0.5 --max-wait 4, still joining the group, stops after about 4 s with exit status 3
    and says why."""
    import time

    suffix = uuid.uuid4().hex[:8]
    topics = (f"exposures-{suffix}", f"outcomes-{suffix}")
    kafka_broker.create_topics(list(topics), partitions=1)
    bootstrap, data, group = kafka_broker.bootstrap_servers, tmp_path / "data", f"ingest-{suffix}"
    asyncio.run(_produce(bootstrap, topics[0], [(f"e{i}", exposure_bytes(f"e{i}", f"u{i}", "control", T0))
                                                for i in range(10)]))
    assert _worker(bootstrap, data, group, topics, fail_after=1) == FAIL_EXIT_CODE  # wrote, never committed
    started = time.monotonic()
    done = subprocess.run(_command(bootstrap, data, group, topics, "--idle-exit", "0.5", "--max-wait", "4"),
                          cwd=ROOT, env=_env(), capture_output=True, timeout=60, check=False)
    elapsed = time.monotonic() - started
    err = done.stderr.decode(errors="replace")
    assert done.returncode == NOT_CAUGHT_UP_EXIT, err[-3000:]
    assert elapsed < 12  # interpreter start + 4 s + at most 2 s to leave the group
    assert json.loads(done.stdout)["stopped"] == "max_wait"
    assert "not caught up after --max-wait 4s: no caught-up check yet (still joining the group" in err


def test_transaction_markers_do_not_keep_a_worker_from_catching_up(kafka_broker: Any, tmp_path: Path) -> None:
    """Transactional producers leave commit/abort markers at the end of partitions: the last record's
    offset + 1 is below the end offset. The idle worker commits its position past them and exits; the
    aborted transaction's records are not ingested (read_committed)."""
    from aiokafka import AIOKafkaProducer

    suffix = uuid.uuid4().hex[:8]
    topics = (f"exposures-{suffix}", f"outcomes-{suffix}")
    kafka_broker.create_topics(list(topics), partitions=2)
    bootstrap, data, group = kafka_broker.bootstrap_servers, tmp_path / "data", f"ingest-{suffix}"

    async def produce() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, transactional_id=f"tx-{suffix}")
        await producer.start()
        try:
            async with producer.transaction():
                for i in range(20):
                    await producer.send(topics[0], key=f"u{i}".encode(),
                                        value=exposure_bytes(f"e{i}", f"u{i}", "control", T0))
            await producer.begin_transaction()
            for i in range(5):
                await producer.send(topics[1], key=f"u{i}".encode(),
                                    value=outcome_bytes(f"aborted{i}", f"u{i}", "purchase", 1.0, T0))
            await producer.abort_transaction()
        finally:
            await producer.stop()

    asyncio.run(produce())
    done = subprocess.run(_command(bootstrap, data, group, topics, "--idle-exit", "0.5", "--max-wait", "60"),
                          cwd=ROOT, env=_env(), capture_output=True, timeout=90, check=False)
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-3000:]
    assert json.loads(done.stdout)["stopped"] == "caught_up"
    assert sorted(_event_ids(data, "exposures")) == sorted(f"e{i}" for i in range(20))
    assert _event_ids(data, "outcomes") == []
