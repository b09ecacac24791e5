"""Both pipeline engines for tests that must hold on each: `ENGINES` to parametrize, `bound_engine` to open one."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from splitline.analytics.pipeline.duckdb_engine import DuckDBEngine
from splitline.analytics.pipeline.engine import Engine

ENGINES = [
    "duckdb",
    pytest.param("spark", marks=[
        pytest.mark.spark,
        pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas:FutureWarning"),
    ]),
]


@contextmanager
def bound_engine(name: str, data: Path, request: pytest.FixtureRequest) -> Iterator[Engine]:
    """Engine `name` with `data`'s Parquet bound; Spark uses the session-wide `spark_session` fixture."""
    if name == "duckdb":
        duck = DuckDBEngine()
        duck.bind_parquet(data)
        try:
            yield duck
        finally:
            duck.close()
        return
    from splitline.analytics.pipeline.spark_engine import SparkEngine

    spark = SparkEngine(request.getfixturevalue("spark_session"))
    spark.bind_parquet(str(data))
    try:
        yield spark
    finally:
        spark.close()
