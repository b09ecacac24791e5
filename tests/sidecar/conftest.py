"""Fixtures for the sidecar tests: snapshot files, in-process sidecars, the shared Kafka broker."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.kafka import kafka_broker  # noqa: F401  (session fixture re-exported)

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_SNAPSHOT = ROOT / "examples" / "snapshot.yaml"


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    """A short temp dir: Unix socket paths must stay under ~100 bytes."""
    path = Path(tempfile.mkdtemp(prefix="sl-", dir="/tmp"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
