"""Embedded-mode ingest: the sidecar's spool segments -> Parquet, no Kafka.

The position (segment sequence, byte offset) is a checkpoint file saved after
the batch's Parquet files are durable, the same order as committing Kafka
offsets; a crash in between repeats the batch, whose duplicates compaction
removes. Segments older than the checkpoint are skipped (the sidecar deletes
them when it likes).
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from splitline.analytics.ingest.rows import TABLE_OF_KIND, decode
from splitline.analytics.ingest.writer import write_batch
from splitline.sidecar.spool_format import iter_records, segment_paths, segment_sequence

CHECKPOINT: Final = "_checkpoints/spool.json"
DEFAULT_BATCH_RECORDS: Final = 50_000


@dataclass(frozen=True)
class Position:
    sequence: int
    offset: int


@dataclass
class SpoolIngestStats:
    batches: int = 0
    exposures: int = 0
    outcomes: int = 0


def load_position(root: Path) -> Position:
    path = root / CHECKPOINT
    if not path.exists():
        return Position(-1, 0)
    data = json.loads(path.read_text(encoding="utf-8"))
    return Position(int(data["sequence"]), int(data["offset"]))


def save_position(root: Path, position: Position) -> None:
    path = root / CHECKPOINT
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        json.dump({"sequence": position.sequence, "offset": position.offset}, f)
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)


def ingest_spool(spool_dir: Path, root: Path, batch_records: int = DEFAULT_BATCH_RECORDS) -> SpoolIngestStats:
    """Read every complete record after the checkpoint, write Parquet, advance the checkpoint."""
    stats = SpoolIngestStats()
    position = load_position(root)
    for segment in segment_paths(spool_dir):
        sequence = segment_sequence(segment)
        assert sequence is not None
        if sequence < position.sequence:
            continue
        start = position.offset if sequence == position.sequence else 0
        batch: dict[str, list[dict[str, Any]]] = defaultdict(list)
        pending = 0
        offset = start
        for kind, next_offset, payload in iter_records(segment, start):
            table = TABLE_OF_KIND[kind]
            batch[table].append(decode(table, payload))
            pending += 1
            offset = next_offset
            if pending >= batch_records:
                _flush(root, batch, sequence=sequence, start=start, end=offset, stats=stats)
                start, pending = offset, 0
                batch = defaultdict(list)
        if pending:
            _flush(root, batch, sequence=sequence, start=start, end=offset, stats=stats)
        position = Position(sequence, offset)
        save_position(root, position)
    return stats


def _flush(root: Path, batch: dict[str, list[dict[str, Any]]], *, sequence: int, start: int, end: int,
           stats: SpoolIngestStats) -> None:
    batch_id = f"spool-{sequence:020d}-{start}-{end}"
    for table, rows in batch.items():
        write_batch(root, table, rows, batch_id)
    stats.batches += 1
    stats.exposures += len(batch.get("exposures", ()))
    stats.outcomes += len(batch.get("outcomes", ()))
    save_position(root, Position(sequence, end))
