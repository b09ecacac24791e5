"""A real etcd for tests: installed from Debian (`etcd-server`, 3.4) when missing,
started on free loopback ports with a temporary data dir, stoppable and
restartable (same data dir, same ports) so tests can take it away and bring it back.

Use the `etcd_server` fixture (session-wide, shared) or `fresh_etcd` (a private
instance a test may stop and restart).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

START_TIMEOUT_S = 30.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def etcd_binary() -> str:
    """The etcd executable, installing Debian's etcd-server if it is not there yet."""
    found = shutil.which("etcd") or ("/usr/bin/etcd" if os.path.exists("/usr/bin/etcd") else None)
    if found:
        return found
    if os.geteuid() != 0:
        pytest.skip("etcd is not installed and we are not root: run `make setup-etcd`")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env, capture_output=True)
    subprocess.run(["apt-get", "install", "-y", "-qq", "etcd-server"], check=True, env=env, capture_output=True)
    found = shutil.which("etcd") or "/usr/bin/etcd"
    return found


class EtcdServer:
    """One single-member etcd on 127.0.0.1; `endpoint` is host:port for clients."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.client_port = free_port()
        self.peer_port = free_port()
        self._proc: subprocess.Popen[bytes] | None = None
        self._log = data_dir.parent / f"{data_dir.name}.log"

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.client_port}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        if self.running:
            return
        client = f"http://127.0.0.1:{self.client_port}"
        peer = f"http://127.0.0.1:{self.peer_port}"
        cmd = [
            etcd_binary(),
            "--name",
            "test",
            "--data-dir",
            str(self.data_dir),
            "--listen-client-urls",
            client,
            "--advertise-client-urls",
            client,
            "--listen-peer-urls",
            peer,
            "--initial-advertise-peer-urls",
            peer,
            "--initial-cluster",
            f"test={peer}",
            "--initial-cluster-state",
            "new",
            "--log-level",
            "error",
            "--logger",
            "zap",
        ]
        with self._log.open("ab") as log:
            self._proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"etcd exited with {self._proc.returncode}: {self._log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{client}/health", timeout=1) as resp:
                    if b'"true"' in resp.read():
                        return
            except OSError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"etcd did not become healthy within {START_TIMEOUT_S}s")

    def stop(self) -> None:
        if self._proc is None:
            return
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None

    def restart(self) -> None:
        self.stop()
        self.start()


def run_etcd() -> Iterator[EtcdServer]:
    with tempfile.TemporaryDirectory(prefix="splitline-etcd-") as tmp:
        server = EtcdServer(Path(tmp) / "data")
        server.start()
        try:
            yield server
        finally:
            server.stop()


@pytest.fixture(scope="session")
def etcd_server() -> Iterator[EtcdServer]:
    """A shared etcd for the whole session (tests isolate themselves by key namespace)."""
    yield from run_etcd()


@pytest.fixture
def fresh_etcd() -> Iterator[EtcdServer]:
    """A private etcd the test may stop and restart."""
    yield from run_etcd()
