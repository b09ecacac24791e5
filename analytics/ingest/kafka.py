"""The ingest worker: a Kafka consumer group member writing Parquet.

Loop: fetch a batch -> write its Parquet files durably (writer.write_batch)
-> commit the batch's offsets. Offsets are committed only after the files are
on disk, so a crash anywhere repeats at most the uncommitted batch and loses
nothing; the repeat's duplicates are removed by compaction (and by the
pipeline's dedup on event_id). Scaling out is starting more members with the
same group id: Kafka spreads the partitions over them.

Stopping (`idle_exit_s`, `splitline ingest kafka --idle-exit S`) means "the
group is caught up", not "this member saw nothing for a while". The worker
exits only when both hold:

1. S seconds passed without records for this member, and
2. for EVERY partition of the subscribed topics — also those assigned to other
   members — the group's committed offset is >= the partition's end offset
   (`end_offsets` and `committed`, which asks the group coordinator and so
   works for partitions this member does not own).

Why 2: a member that was SIGKILLed keeps its partitions until its session
times out (about 10 s); a worker running meanwhile would otherwise be idle on
its own share and exit while the dead member's uncommitted records are still
waiting. With the rule it stays, gets those partitions in the next rebalance
and reads them. Positions that moved past offsets which are not records
(transaction markers, records removed by retention) are committed when idle,
so such a partition still counts as caught up. Until caught up the check is
repeated about once a second. `max_wait_s` (`--max-wait`) bounds the whole
run, joining the group included (a join waits until the old members rejoin or
time out): the worker then stops even if not caught up, leaving the group
within STOP_TIMEOUT_S (`KafkaIngestStats.stopped` says which; the CLI exits 3
when `--idle-exit` was given and the group was not caught up). Stopping early
loses nothing: written batches were committed or are read again.

The fail point (environment SPLITLINE_INGEST_FAIL_AFTER_WRITE=N) ends the
process abruptly, without cleanup, after batch N is written and before its
offsets are committed: tests use it to kill a consumer mid-batch.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from splitline.analytics.ingest.rows import EXPOSURES, OUTCOMES, decode
from splitline.analytics.ingest.writer import write_batch

log = logging.getLogger(__name__)

DEFAULT_GROUP: Final = "splitline-ingest"
DEFAULT_MAX_RECORDS: Final = 20_000
FAIL_POINT_ENV: Final = "SPLITLINE_INGEST_FAIL_AFTER_WRITE"
FAIL_EXIT_CODE: Final = 86
# Seconds between two caught-up checks once idle (each costs 2 + partitions requests).
CATCH_UP_CHECK_INTERVAL_S: Final = 1.0
# Why run_kafka_ingest returned.
STOPPED_CAUGHT_UP: Final = "caught_up"
STOPPED_MAX_WAIT: Final = "max_wait"
# After --max-wait: how long leaving the group may take (it waits for a join in progress).
STOP_TIMEOUT_S: Final = 2.0


@dataclass(frozen=True)
class KafkaIngestConfig:
    bootstrap_servers: str
    data_dir: Path
    group_id: str = DEFAULT_GROUP
    exposures_topic: str = EXPOSURES
    outcomes_topic: str = OUTCOMES
    max_records: int = DEFAULT_MAX_RECORDS
    # Stop once idle this long AND the group's committed offsets reach the end offsets of every
    # partition of both topics (None: run until cancelled). See the module docstring.
    idle_exit_s: float | None = None
    # Stop after this long in any case, caught up or not (None: no bound).
    max_wait_s: float | None = None


@dataclass
class KafkaIngestStats:
    batches: int = 0
    rows: dict[str, int] = field(default_factory=lambda: {EXPOSURES: 0, OUTCOMES: 0})
    commit_failures: int = 0
    # STOPPED_CAUGHT_UP or STOPPED_MAX_WAIT ("" while running).
    stopped: str = ""
    # Partitions still behind at the last caught-up check, as "topic[p] committed/end".
    lagging: list[str] = field(default_factory=list)


def _fail_after() -> int | None:
    raw = os.environ.get(FAIL_POINT_ENV)
    return int(raw) if raw else None


async def lagging_partitions(consumer: Any, topics: Sequence[str]) -> list[str]:
    """Partitions of `topics` whose group-committed offset is below the end offset ([] = caught up).

    Covers every partition, not only this member's. First commits this member's positions that
    moved past non-record offsets without delivering records (transaction markers, retention): call
    it only when every batch returned so far has been written.
    """
    from aiokafka import TopicPartition
    from aiokafka.errors import IllegalStateError

    tps: list[Any] = []
    for topic in topics:
        partitions = consumer.partitions_for_topic(topic)
        if not partitions:  # no metadata yet: nothing proves it is caught up
            return [f"{topic}[?] no partition metadata"]
        tps.extend(TopicPartition(topic, p) for p in sorted(partitions))
    ends: dict[Any, int] = await consumer.end_offsets(tps)
    committed: dict[Any, int] = {}
    for tp in tps:
        offset = await consumer.committed(tp)
        committed[tp] = -1 if offset is None else int(offset)
    advance: dict[Any, int] = {}
    assigned = consumer.assignment()
    for tp in tps:
        if tp in assigned and committed[tp] < ends[tp]:
            try:
                position = int(await consumer.position(tp))
            except IllegalStateError:  # unassigned meanwhile (rebalance)
                continue
            if position > max(committed[tp], 0):
                advance[tp] = position
    if advance:
        await consumer.commit(advance)
        committed.update(advance)
    return [f"{tp.topic}[{tp.partition}] {max(committed[tp], 0)}/{ends[tp]}" for tp in tps
            if committed[tp] < ends[tp] and ends[tp] > 0]


async def run_kafka_ingest(config: KafkaIngestConfig) -> KafkaIngestStats:
    from aiokafka import AIOKafkaConsumer
    from aiokafka.errors import CommitFailedError, KafkaError, RebalanceInProgressError

    started = time.monotonic()
    deadline = None if config.max_wait_s is None else started + config.max_wait_s
    table_of_topic = {config.exposures_topic: EXPOSURES, config.outcomes_topic: OUTCOMES}
    consumer = AIOKafkaConsumer(
        bootstrap_servers=config.bootstrap_servers, group_id=config.group_id,
        enable_auto_commit=False, auto_offset_reset="earliest", isolation_level="read_committed",
    )
    stats = KafkaIngestStats()
    fail_after = _fail_after()
    await consumer.start()
    try:
        # Subscribed after start(): start() with topics would wait, unbounded, for the first assignment.
        consumer.subscribe(list(table_of_topic))
        idle_since = time.monotonic()
        next_check = 0.0
        while True:
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                stats.stopped = STOPPED_MAX_WAIT
                if not stats.lagging:
                    stats.lagging = ["no caught-up check yet (still joining the group: its old members "
                                     "must rejoin or time out first)"]
                log.warning("stopping after --max-wait %gs; not caught up: %s", config.max_wait_s,
                            ", ".join(stats.lagging))
                return stats
            try:
                # getmany waits without a bound while a rebalance is in progress (joining the group
                # takes until every old member rejoined or timed out): keep --max-wait a hard bound.
                batch = await asyncio.wait_for(
                    consumer.getmany(timeout_ms=500, max_records=config.max_records),
                    timeout=None if deadline is None else max(deadline - now, 0.01))
            except TimeoutError:
                continue
            if not batch:
                now = time.monotonic()
                if config.idle_exit_s is None or now - idle_since < config.idle_exit_s or now < next_check:
                    continue
                next_check = now + CATCH_UP_CHECK_INTERVAL_S
                remaining = None if deadline is None else max(deadline - now, 0.1)
                try:
                    stats.lagging = await asyncio.wait_for(lagging_partitions(consumer, list(table_of_topic)),
                                                           timeout=remaining)
                except (KafkaError, TimeoutError) as exc:
                    log.warning("caught-up check failed (%r); retrying", exc)
                    continue
                if not stats.lagging:
                    stats.stopped = STOPPED_CAUGHT_UP
                    return stats
                log.info("idle, but the group is not caught up (assigned here: %d partition(s)): %s",
                         len(consumer.assignment()), ", ".join(stats.lagging))
                continue
            idle_since = time.monotonic()
            commits: dict[Any, int] = {}
            for tp, records in batch.items():
                table = table_of_topic[tp.topic]
                rows = [decode(table, r.value) for r in records if r.value is not None]
                batch_id = f"{tp.topic}-{tp.partition}-{records[0].offset}-{records[-1].offset}"
                # write_batch is blocking file I/O with fsync: keep the event loop (heartbeats) free.
                await asyncio.to_thread(write_batch, config.data_dir, table, rows, batch_id)
                stats.rows[table] += len(rows)
                commits[tp] = records[-1].offset + 1
            stats.batches += 1
            if fail_after is not None and stats.batches >= fail_after:
                os._exit(FAIL_EXIT_CODE)  # as abrupt as SIGKILL: no commit, no consumer.stop()
            try:
                await consumer.commit(commits)
            except (CommitFailedError, RebalanceInProgressError) as exc:
                # Partitions moved to another member, which re-reads the batch: duplicates, not loss.
                stats.commit_failures += 1
                log.warning("offset commit failed after a rebalance (%s); batch will be re-read", exc)
    finally:
        if stats.stopped == STOPPED_MAX_WAIT:
            # Leaving the group waits for a join in progress; --max-wait is a bound, so do not wait
            # long. Nothing is lost: every written batch was committed or will be read again.
            try:
                await asyncio.wait_for(consumer.stop(), timeout=STOP_TIMEOUT_S)
            except TimeoutError:
                log.warning("consumer did not stop within %.0fs (a rebalance is in progress); leaving anyway",
                            STOP_TIMEOUT_S)
        else:
            await consumer.stop()
