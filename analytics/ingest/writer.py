"""Durable Parquet writes, partitioned by event date and hour, and compaction.

`write_batch` returns only once every file of the batch is on disk (written
under a temporary name, fsynced, renamed, directory fsynced): the ingest
workers commit their position (Kafka offsets, spool checkpoint) after it
returns, never before, so a crash can repeat a batch but never lose one.

A repeated batch leaves duplicate rows; `compact_partition` merges a
partition's files into one, keeping one row per event_id, clustered by unit
(the layout contract the pipeline reads: pipeline/layout.py). Because the
partition comes from the event's own timestamp, every copy of an event is in
the same partition, so compaction removes them all.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Final

import pyarrow as pa
import pyarrow.parquet as pq
from splitline.analytics.ingest.rows import EXPOSURES, partition_of
from splitline.analytics.pipeline.layout import COMPACTED_ORDER, COMPACTED_PREFIX, is_compacted_folder, is_data_file
from splitline.analytics.pipeline.schema import EXPOSURE_SCHEMA, OUTCOME_SCHEMA

SCHEMAS: Final = {"exposures": EXPOSURE_SCHEMA, "outcomes": OUTCOME_SCHEMA}


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_durable(table: pa.Table, path: Path) -> None:
    """Write `table` to `path` so that after return it survives a crash or power loss."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    pq.write_table(table, tmp, compression="zstd")
    with tmp.open("rb") as f:
        os.fsync(f.fileno())
    tmp.replace(path)
    _fsync_dir(path.parent)


def write_batch(root: Path, table_name: str, rows: Iterable[dict[str, Any]], batch_id: str) -> list[Path]:
    """Write rows as `root/<table>/date=…/hour=…/part-<batch_id>.parquet`; the files written.

    `batch_id` must be unique per batch of input positions (e.g. topic,
    partition and offsets); writing the same batch twice replaces its files.
    """
    schema = SCHEMAS[table_name]
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[partition_of(row)].append(row)
    written = []
    for (date, hour), group in sorted(groups.items()):
        path = root / table_name / date / hour / f"part-{batch_id}.parquet"
        write_durable(pa.Table.from_pylist(group, schema=schema), path)
        written.append(path)
    return written


def dedupe(table: pa.Table) -> pa.Table:
    """One row per event_id (the first seen), in COMPACTED_ORDER."""
    indices = pa.table({"event_id": table["event_id"], "i": pa.array(range(table.num_rows), pa.int64())})
    first = indices.group_by("event_id", use_threads=False).aggregate([("i", "min")])["i_min"]
    kept = table.take(first)
    return kept.sort_by([(column, "ascending") for column in COMPACTED_ORDER])


def compact_partition(folder: Path, table_name: str) -> Path | None:
    """Merge a partition folder's Parquet files into one deduplicated file; None when empty.

    Crash-safe: the merged file is durable before the inputs are removed, and
    a later compaction reads the merged file too, so an interrupted run leaves
    duplicates that the next run (and the pipeline's own dedup) removes.
    """
    files = sorted(p for p in folder.glob("*.parquet") if is_data_file(str(p)))
    if not files:
        return None
    if is_compacted_folder([str(p) for p in files]):
        return files[0]
    merged = dedupe(pa.concat_tables([pq.read_table(p, schema=SCHEMAS[table_name]) for p in files]))
    generation = 1 + max((int(p.stem.removeprefix(COMPACTED_PREFIX)) for p in files
                          if p.name.startswith(COMPACTED_PREFIX)), default=0)
    target = folder / f"{COMPACTED_PREFIX}{generation:06d}.parquet"
    write_durable(merged, target)
    for p in files:
        p.unlink()
    _fsync_dir(folder)
    return target


def compact(root: Path, tables: Iterable[str] = (EXPOSURES, "outcomes")) -> int:
    """Compact every date/hour partition under `root`; the number of partitions compacted."""
    count = 0
    for table_name in tables:
        for folder in sorted((root / table_name).glob("date=*/hour=*")):
            if compact_partition(folder, table_name) is not None:
                count += 1
    return count
