"""Analytics test fixtures: one local SparkSession per test session (it takes seconds to start)."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import pytest

from tests.harness.kafka import kafka_broker  # noqa: F401


@pytest.fixture(scope="session")
def spark_session() -> Iterator[Any]:
    pytest.importorskip("pyspark")
    with warnings.catch_warnings():
        # pyspark 4.x warns at import that it does not fully support pandas >= 3; we never
        # hand it pandas objects (Arrow only), so this one warning is filtered, narrowly.
        warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas", category=FutureWarning)
        from splitline.analytics.pipeline.spark_engine import SMALL_DATA_CONF, local_session

        session = local_session("splitline-tests", extra_conf=SMALL_DATA_CONF)
    yield session
    session.stop()
