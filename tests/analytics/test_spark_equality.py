"""DuckDB and Spark give identical sufficient statistics on the same Parquet.

The data is random but seeded, with values on a 1/4 grid so every sum is
exact in float64 whatever order an engine adds in; so equality is exact, not
approximate. It mixes every case the rules treat specially: duplicates,
forced exposures, multi-variant units, pre-period outcomes, several days.
"""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path
from typing import Any

import pytest
from splitline.analytics.ingest.writer import compact, write_batch
from splitline.analytics.metrics import parse_metrics
from splitline.analytics.pipeline.duckdb_engine import DuckDBEngine
from splitline.analytics.pipeline.engine import PipelineResult, run_pipeline
from splitline.analytics.pipeline.spark_engine import SparkEngine

from tests.analytics.events import exposure, outcome, write_events

pytestmark = [
    pytest.mark.spark,
    pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas:FutureWarning"),
]

METRICS = parse_metrics([
    {"name": "revenue", "kind": "mean", "event": "purchase", "cuped_days": 2},
    {"name": "converted", "kind": "proportion", "event": "purchase"},
    {"name": "clicks", "kind": "count", "events": ["click", "tap"]},
    {"name": "aov", "kind": "ratio", "event": "purchase", "denominator_events": "purchase",
     "denominator_value": "count"},
])
START = dt.datetime(2026, 3, 1)


def random_events(seed: int, units: int = 300) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    rng = random.Random(seed)
    exposures: list[dict[str, Any]] = []
    outcomes: list[dict[str, Any]] = []
    for i in range(units):
        unit = f"u{i}"
        for experiment, variants in (("checkout", ("control", "treatment")), ("search", ("a", "b", "c"))):
            if rng.random() < 0.3:
                continue
            variant = rng.choice(variants)
            for j in range(rng.randint(1, 3)):
                ts = START + dt.timedelta(minutes=rng.randint(2 * 1440, 5 * 1440))
                switched = rng.random() < 0.05
                exposures.append(exposure(f"{experiment}-{unit}-{j}", unit,
                                          rng.choice(variants) if switched else variant, ts,
                                          experiment=experiment, forced=rng.random() < 0.03))
                if rng.random() < 0.1:
                    exposures.append(dict(exposures[-1]))  # redelivered
        for j in range(rng.randint(0, 8)):
            ts = START + dt.timedelta(minutes=rng.randint(0, 6 * 1440))
            name = rng.choice(("purchase", "click", "tap", "other"))
            outcomes.append(outcome(f"o-{unit}-{j}", unit, name, rng.randint(0, 400) / 4, ts,
                                    unit_type=rng.choice(("user_id",) * 9 + ("session_id",))))
            if rng.random() < 0.1:
                outcomes.append(dict(outcomes[-1]))
    return exposures, outcomes


def run_both(data: Path, spark_session: Any) -> tuple[PipelineResult, PipelineResult]:
    end = START + dt.timedelta(days=5, hours=12)
    duck = DuckDBEngine()
    duck.bind_parquet(data)
    expected = run_pipeline(duck, METRICS, end=end)
    duck.close()

    spark = SparkEngine(spark_session)
    spark.bind_parquet(str(data))
    got = run_pipeline(spark, METRICS, end=end)
    spark.close()
    return expected, got


def test_duckdb_and_spark_agree_exactly_before_and_after_compaction(tmp_path: Path, spark_session: Any) -> None:
    exposures, outcomes = random_events(7)
    raw = write_events(tmp_path / "raw", exposures, outcomes)
    compacted = tmp_path / "compacted"
    write_batch(compacted, "exposures", exposures, "b0")
    write_batch(compacted, "outcomes", outcomes, "b0")
    assert compact(compacted) > 1  # several date/hour partitions per table

    expected, got = run_both(raw, spark_session)
    assert expected.stats.num_rows > 50  # 2 experiments x 4 metrics x 2-3 variants x several days
    assert sum(expected.dropped.column("dropped_units").to_pylist()) > 0
    assert got.stats.schema == expected.stats.schema
    assert got.stats.to_pylist() == expected.stats.to_pylist()
    assert got.dropped.to_pylist() == expected.dropped.to_pylist()

    # Compacted partitions skip the pipeline's dedup and are clustered by unit: the same numbers.
    duck_compacted, spark_compacted = run_both(compacted, spark_session)
    assert duck_compacted.stats.to_pylist() == expected.stats.to_pylist()
    assert spark_compacted.stats.to_pylist() == expected.stats.to_pylist()
    assert spark_compacted.dropped.to_pylist() == expected.dropped.to_pylist()
