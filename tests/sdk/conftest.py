"""Fixtures for the Python SDK tests: the vectors, a recording event sink, a real sidecar process.

`SidecarProcess` runs `python -m splitline.sidecar` (the same code as
`splitline sidecar`) on two Unix sockets in a short temporary directory and can
kill it with SIGKILL and start it again on the same sockets and spool: the
tests that claim a real sidecar use nothing else.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format
from splitline.v1 import config_pb2, events_pb2

ROOT = Path(__file__).resolve().parents[2]
VECTORS = ROOT / "proto" / "testdata" / "assignment_vectors.json"


def load_vectors() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(VECTORS.read_text(encoding="utf-8"))
    return data


def snapshot_from(doc: dict[str, Any]) -> config_pb2.ConfigSnapshot:
    return json_format.ParseDict(doc, config_pb2.ConfigSnapshot())


@pytest.fixture(scope="session")
def vectors() -> dict[str, Any]:
    return load_vectors()


@pytest.fixture(scope="session")
def main_snapshot(vectors: dict[str, Any]) -> config_pb2.ConfigSnapshot:
    return snapshot_from(vectors["snapshots"]["main"])


class RecordingSink:
    """An EventSink that keeps what it is sent; `fail` makes it refuse like a dead sidecar."""

    def __init__(self) -> None:
        self.exposures: list[events_pb2.Exposure] = []
        self.outcomes: list[events_pb2.Outcome] = []
        self.fail = False
        self.calls = 0
        self.lock = threading.Lock()

    def send_exposures(self, events: list[events_pb2.Exposure]) -> int:
        with self.lock:
            self.calls += 1
            if self.fail:
                raise ConnectionError("sink down")
            self.exposures.extend(events)
            return len(events)

    def send_outcomes(self, events: list[events_pb2.Outcome]) -> int:
        with self.lock:
            self.calls += 1
            if self.fail:
                raise ConnectionError("sink down")
            self.outcomes.extend(events)
            return len(events)


@pytest.fixture
def sink() -> RecordingSink:
    return RecordingSink()


def _connectable(path: Path) -> bool:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(str(path))
        return True
    except OSError:
        return False
    finally:
        s.close()


class SidecarProcess:
    """A real sidecar process on Unix sockets, killable and restartable on the same paths."""

    def __init__(self, snapshot_doc: dict[str, Any]) -> None:
        # Short paths: a Unix socket path must fit in 108 bytes.
        self.dir = Path(tempfile.mkdtemp(prefix="slsdk", dir="/tmp"))
        self.snapshot = self.dir / "snapshot.json"
        self.snapshot.write_text(json.dumps(snapshot_doc), encoding="utf-8")
        self.socket = self.dir / "grpc.sock"
        self.fast_socket = self.dir / "fast.sock"
        self.spool = self.dir / "spool"
        self.log = self.dir / "sidecar.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> SidecarProcess:
        cmd = [
            sys.executable,
            "-m",
            "splitline.sidecar",
            "--snapshot",
            str(self.snapshot),
            "--socket",
            str(self.socket),
            "--fast-socket",
            str(self.fast_socket),
            "--spool-dir",
            str(self.spool),
            "--commit-interval-ms",
            "1",
            "--log-level",
            "WARNING",
        ]
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=log, cwd=ROOT, env={**os.environ})
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"sidecar exited with {self.proc.returncode}:\n{self.log.read_text()[-3000:]}"
                )
            if _connectable(self.socket) and _connectable(self.fast_socket):
                return self
            time.sleep(0.05)
        raise RuntimeError(f"sidecar did not listen within {timeout}s:\n{self.log.read_text()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL: no graceful shutdown, like a crash or an OOM kill."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def spooled_exposures(self) -> list[events_pb2.Exposure]:
        """Every Exposure record in the sidecar's spool, read with the sidecar's own format module."""
        from splitline.sidecar.spool_format import KIND_EXPOSURE, iter_records, segment_paths

        out = []
        for path in segment_paths(self.spool):
            for kind, _next_offset, payload in iter_records(path):
                if kind == KIND_EXPOSURE:
                    out.append(events_pb2.Exposure.FromString(payload))
        return out

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def sidecar(vectors: dict[str, Any]) -> Iterator[SidecarProcess]:
    """A real sidecar serving the vectors' main snapshot, shared by a module's tests."""
    proc = SidecarProcess(vectors["snapshots"]["main"])
    try:
        yield proc.start()
    finally:
        proc.cleanup()


@pytest.fixture
def own_sidecar(vectors: dict[str, Any]) -> Iterator[SidecarProcess]:
    """A sidecar of the test's own (to kill and restart)."""
    proc = SidecarProcess(vectors["snapshots"]["main"])
    try:
        yield proc.start()
    finally:
        proc.cleanup()
