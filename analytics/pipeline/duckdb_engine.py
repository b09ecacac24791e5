"""The default engine: DuckDB, embedded, over the Parquet files on local disk."""

from __future__ import annotations

from pathlib import Path
from typing import Final

import duckdb
import pyarrow as pa
from splitline.analytics.pipeline.layout import split_compacted
from splitline.analytics.pipeline.schema import EXPOSURE_SCHEMA, OUTCOME_SCHEMA
from splitline.analytics.pipeline.sql import Dialect

_INPUTS: Final = {"exposures": EXPOSURE_SCHEMA, "outcomes": OUTCOME_SCHEMA}


def _sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


class DuckDBEngine:
    """Runs the pipeline's stages on one DuckDB connection (in memory unless told)."""

    dialect: Dialect = "duckdb"

    def __init__(self, connection: duckdb.DuckDBPyConnection | None = None, threads: int | None = None,
                 memory_limit: str | None = None) -> None:
        self.con = connection if connection is not None else duckdb.connect()
        self.con.execute("SET TimeZone = 'UTC'")
        # Stage tables are sets: not keeping row order lets DuckDB aggregate and write in parallel freely.
        self.con.execute("SET preserve_insertion_order = false")
        self.con.execute("SET enable_progress_bar = false")  # the CLI draws its own, per stage
        if threads is not None:
            self.con.execute(f"SET threads = {int(threads)}")
        if memory_limit is not None:
            self.con.execute(f"SET memory_limit = {_sql_string(memory_limit)}")
        self._keep: dict[str, pa.Table] = {}

    def bind_parquet(self, data_dir: Path) -> None:
        """`exposures` and `outcomes` from `<data_dir>/{exposures,outcomes}/**/*.parquet` (empty when absent).

        Each view adds `ts_us` and `compacted` (true for rows of a compacted
        partition, which the pipeline does not deduplicate again: layout.py).
        """
        for name, schema in _INPUTS.items():
            folder = data_dir / name
            pattern = _sql_string(str(folder) + "/**/*.parquet")
            files = [str(row[0]) for row in self.con.execute(f"SELECT file FROM glob({pattern})").fetchall()]
            columns = ", ".join(schema.names)  # by name: files with another column order still line up
            parts = [
                f"SELECT {columns}, epoch_us(ts) AS ts_us, {str(compacted).upper()} AS compacted "
                f"FROM read_parquet([{', '.join(_sql_string(f) for f in group)}], hive_partitioning = false)"
                for compacted, group in zip((True, False), split_compacted(files), strict=True) if group
            ]
            if not parts:
                self.register(f"_empty_{name}", schema.empty_table())
                parts = [f"SELECT {columns}, epoch_us(ts) AS ts_us, FALSE AS compacted FROM _empty_{name}"]
            self.con.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS {' UNION ALL '.join(parts)}")

    def register(self, name: str, table: pa.Table) -> None:
        self._keep[name] = table  # DuckDB scans the Arrow table lazily: keep it alive
        self.con.register(name, table)

    def materialize(self, name: str, query: str) -> None:
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS {query}")

    def query(self, query: str) -> pa.Table:
        return self.con.sql(query).to_arrow_table()

    def close(self) -> None:
        self.con.close()
