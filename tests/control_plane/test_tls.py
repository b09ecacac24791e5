"""TLS on the TCP listener: a client trusting the certificate gets through; plaintext does not."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import grpc
import pytest
from splitline.control_plane.auth import TokenTable
from splitline.control_plane.client import Stubs, bearer
from splitline.control_plane.server import TlsFiles, start_server
from splitline.control_plane.store import EmbeddedStore
from splitline.v1 import control_pb2

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")


async def test_tls_listener(tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    store = EmbeddedStore(None)
    server = await start_server(store, TokenTable.dev(), "127.0.0.1:0", tls=TlsFiles(cert, key), schedule_interval=None)
    try:
        creds = grpc.ssl_channel_credentials(cert.read_bytes())
        async with grpc.aio.secure_channel(server.address, creds) as channel:
            resp = await Stubs(channel).layers.ListLayers(
                control_pb2.ListLayersRequest(), metadata=bearer("splitline-dev-token"), timeout=10
            )
            assert list(resp.layers) == []
        async with grpc.aio.insecure_channel(server.address) as plain:
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await Stubs(plain).layers.ListLayers(
                    control_pb2.ListLayersRequest(), metadata=bearer("splitline-dev-token"), timeout=3
                )
            assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        await server.stop(0)
        await store.close()
