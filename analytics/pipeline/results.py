"""Where the statistics land: Parquet files and a DuckDB table, replaced per experiment.

Layout under the results directory (the stats engine reads either):

  sufficient_stats/<experiment>.parquet   STATS_SCHEMA, one file per experiment
  dropped_units/<experiment>.parquet      DROPPED_SCHEMA
  results.duckdb                          tables sufficient_stats, dropped_units

A run replaces the rows of the experiments it computed and leaves the others,
so `splitline metrics EXP` for one experiment does not erase the rest. Files
are written to a temporary name and renamed, so a reader never sees half a file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final
from urllib.parse import quote

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from splitline.analytics.pipeline.engine import PipelineResult
from splitline.analytics.pipeline.schema import DROPPED_SCHEMA, STATS_SCHEMA

DATABASE: Final = "results.duckdb"
TABLES: Final = {"sufficient_stats": STATS_SCHEMA, "dropped_units": DROPPED_SCHEMA}


def _file_name(experiment_key: str) -> str:
    return quote(experiment_key, safe="") + ".parquet"


def _write_atomic(table: pa.Table, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    pq.write_table(table, tmp)
    with tmp.open("rb") as f:
        os.fsync(f.fileno())
    tmp.replace(path)


def write_results(result: PipelineResult, results_dir: Path, experiments: list[str]) -> None:
    """Replace the given experiments' rows (an experiment without rows gets an empty file)."""
    results_dir.mkdir(parents=True, exist_ok=True)
    tables = {"sufficient_stats": result.stats, "dropped_units": result.dropped}
    for name, table in tables.items():
        folder = results_dir / name
        folder.mkdir(exist_ok=True)
        for key in experiments:
            part = table.filter(pc.equal(table["experiment_key"], key))
            _write_atomic(part, folder / _file_name(key))
    con = duckdb.connect(str(results_dir / DATABASE))
    try:
        con.execute("BEGIN")
        for name, schema in TABLES.items():
            con.register("_empty", schema.empty_table())
            con.execute(f"CREATE TABLE IF NOT EXISTS {name} AS SELECT * FROM _empty")
            con.unregister("_empty")
            _add_missing_columns(con, name, schema)
            con.register("_keys", pa.table({"k": pa.array(experiments, pa.string())}))
            con.execute(f"DELETE FROM {name} WHERE experiment_key IN (SELECT k FROM _keys)")
            con.unregister("_keys")
            con.register("_new", tables[name])
            con.execute(f"INSERT INTO {name} BY NAME SELECT * FROM _new")
            con.unregister("_new")
        con.execute("COMMIT")
    finally:
        con.close()


def _add_missing_columns(con: duckdb.DuckDBPyConnection, table: str, schema: pa.Schema) -> None:
    """Columns added to the schema since the table was created (sums: DOUBLE, 0 for the old rows)."""
    existing = {row[0] for row in con.execute(f"DESCRIBE {table}").fetchall()}
    for field in schema:
        if field.name in existing:
            continue
        if field.type != pa.float64():
            raise ValueError(f"{table}: cannot add column {field.name} of type {field.type} to an existing table")
        con.execute(f"ALTER TABLE {table} ADD COLUMN {field.name} DOUBLE DEFAULT 0")


def read_stats(results_dir: Path, experiment_key: str) -> pa.Table:
    """One experiment's statistics from the Parquet files (empty when never computed)."""
    path = results_dir / "sufficient_stats" / _file_name(experiment_key)
    return pq.read_table(path, schema=STATS_SCHEMA) if path.exists() else STATS_SCHEMA.empty_table()
