"""Shared pytest configuration.

Component harnesses (real etcd, real Kafka) live in tests/harness/ and are
imported by the conftest.py of the test folders that need them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
VECTORS_PATH = ROOT / "proto" / "testdata" / "assignment_vectors.json"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def vectors_path() -> Path:
    return VECTORS_PATH
