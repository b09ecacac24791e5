"""The ingest worker: a Kafka consumer group member writing Parquet.

Loop: fetch a batch -> write its Parquet files durably (writer.write_batch)
-> commit the batch's offsets. Offsets are committed only after the files are
on disk, so a crash anywhere repeats at most the uncommitted batch and loses
nothing; the repeat's duplicates are removed by compaction (and by the
pipeline's dedup on event_id). Scaling out is starting more members with the
same group id: Kafka spreads the partitions over them.

The fail point (environment SPLITLINE_INGEST_FAIL_AFTER_WRITE=N) ends the
process abruptly, without cleanup, after batch N is written and before its
offsets are committed: tests use it to kill a consumer mid-batch.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
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


@dataclass(frozen=True)
class KafkaIngestConfig:
    bootstrap_servers: str
    data_dir: Path
    group_id: str = DEFAULT_GROUP
    exposures_topic: str = EXPOSURES
    outcomes_topic: str = OUTCOMES
    max_records: int = DEFAULT_MAX_RECORDS
    # Stop after this long without records (None: run until cancelled).
    idle_exit_s: float | None = None


@dataclass
class KafkaIngestStats:
    batches: int = 0
    rows: dict[str, int] = field(default_factory=lambda: {EXPOSURES: 0, OUTCOMES: 0})
    commit_failures: int = 0


def _fail_after() -> int | None:
    raw = os.environ.get(FAIL_POINT_ENV)
    return int(raw) if raw else None


async def run_kafka_ingest(config: KafkaIngestConfig) -> KafkaIngestStats:
    from aiokafka import AIOKafkaConsumer
    from aiokafka.errors import CommitFailedError, RebalanceInProgressError

    table_of_topic = {config.exposures_topic: EXPOSURES, config.outcomes_topic: OUTCOMES}
    consumer = AIOKafkaConsumer(
        *table_of_topic, bootstrap_servers=config.bootstrap_servers, group_id=config.group_id,
        enable_auto_commit=False, auto_offset_reset="earliest", isolation_level="read_committed",
    )
    stats = KafkaIngestStats()
    fail_after = _fail_after()
    await consumer.start()
    try:
        idle_since = time.monotonic()
        while True:
            batch = await consumer.getmany(timeout_ms=500, max_records=config.max_records)
            if not batch:
                if not consumer.assignment():  # still joining the group: not idle, waiting
                    idle_since = time.monotonic()
                elif config.idle_exit_s is not None and time.monotonic() - idle_since >= config.idle_exit_s:
                    return stats
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
        await consumer.stop()
