"""The public names, and the promise that the bare SDK needs only grpcio, protobuf and mmh3."""

from __future__ import annotations

import subprocess
import sys

import splitline
import splitline.client


def test_exported_names() -> None:
    assert set(splitline.client.__all__) == {
        "AsyncClient",
        "Client",
        "EventSink",
        "FastPathError",
        "UnitAssignment",
    }
    assert splitline.Client is splitline.client.Client
    assert splitline.AsyncClient is splitline.client.AsyncClient
    assert {"Client", "AsyncClient"} <= set(splitline.__all__)


def test_importing_the_client_loads_no_extra() -> None:
    code = (
        "import sys, splitline, splitline.client\n"
        "c = splitline.Client()\n"
        "c.get_variant('x', {'user_id': '1'}); c.close()\n"
        "extras = {'openfeature', 'yaml', 'uvloop', 'aiokafka', 'duckdb', 'numpy', 'prometheus_client'}\n"
        "print(sorted(extras & {m.split('.')[0] for m in sys.modules}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
