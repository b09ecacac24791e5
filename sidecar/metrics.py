"""Prometheus metrics and the localhost HTTP endpoint that serves them.

Each sidecar owns a private registry (tests run several in one process). Gauges
that mirror live state (config revision and age, spool size, queue depth) are
read when scraped, through callbacks, so the hot path never updates them.

The endpoint is a minimal asyncio HTTP/1.0 responder on 127.0.0.1:
`/metrics` (Prometheus text format) and `/healthz` (JSON: serving, revision,
age, spool and shipping state), so staleness is visible without a gRPC client.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

log = logging.getLogger("splitline.sidecar.metrics")

LATENCY_BUCKETS = (0.00002, 0.00005, 0.0001, 0.0002, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 1.0)


class Metrics:
    """The sidecar's metric families."""

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter("splitline_sidecar_requests", "Requests by door, method and status code",
                                ["door", "method", "code"], registry=r)
        self.latency = Histogram("splitline_sidecar_request_seconds", "Request handling time",
                                 ["door", "method"], buckets=LATENCY_BUCKETS, registry=r)
        self.events_spooled = Counter("splitline_sidecar_events_spooled", "Events written to the spool",
                                      ["kind"], registry=r)
        self.events_shipped = Counter("splitline_sidecar_events_shipped", "Events acknowledged by Kafka",
                                      ["kind"], registry=r)
        self.events_dropped = Counter("splitline_sidecar_events_dropped",
                                      "Exposures of Assign(log_exposures) refused because the spool was full",
                                      registry=r)
        self.events_rejected = Counter("splitline_sidecar_events_rejected",
                                       "Events refused with RESOURCE_EXHAUSTED (spool full)", registry=r)
        self.config_revision = Gauge("splitline_sidecar_config_revision", "Revision being served", registry=r)
        self.config_age = Gauge("splitline_sidecar_config_age_seconds",
                                "Seconds since the config source last confirmed the served config", registry=r)
        self.config_connected = Gauge("splitline_sidecar_config_source_connected",
                                      "1 while the control plane stream is up", registry=r)
        self.spool_bytes = Gauge("splitline_sidecar_spool_bytes", "Bytes in the spool", registry=r)
        self.spool_limit = Gauge("splitline_sidecar_spool_limit_bytes", "Spool size bound", registry=r)
        self.queue_depth = Gauge("splitline_sidecar_queue_bytes",
                                 "Spooled bytes not yet acknowledged by Kafka", registry=r)
        self.kafka_connected = Gauge("splitline_sidecar_kafka_connected", "1 while the producer works", registry=r)

    def bind(self, name: str, fn: Callable[[], float]) -> None:
        """Make the gauge attribute `name` read `fn()` at scrape time."""
        gauge: Gauge = getattr(self, name)
        gauge.set_function(fn)

    def exposition(self) -> bytes:
        return bytes(generate_latest(self.registry))


def add_observations(histogram: Histogram, counts: Sequence[int], total: float) -> None:
    """Add pre-bucketed observations (counts per bucket of the histogram's bounds, +Inf last) and their sum.

    The native core times its requests itself and reports one batch per call;
    observing each again in Python would cost what the native path saves.
    prometheus_client has no public bulk API, so this adds to the child's
    bucket and sum values (tests/sidecar check the exposition).
    """
    buckets = histogram._buckets
    for i, c in enumerate(counts):
        if c:
            buckets[i].inc(c)
    histogram._sum.inc(total)


class HttpEndpoint:
    """GET /metrics and /healthz on a localhost TCP port."""

    def __init__(self, metrics: Metrics, health: Callable[[], dict[str, Any]], host: str = "127.0.0.1",
                 port: int = 0) -> None:
        self.metrics = metrics
        self.health = health
        self.host = host
        self.port = port
        self._server: asyncio.Server | None = None

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._handle, self.host, self.port)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self.port

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            parts = request.split(b" ", 2)
            path = parts[1].decode("latin-1").split("?", 1)[0] if len(parts) > 1 else "/"
            if path == "/metrics":
                status, ctype, body = "200 OK", CONTENT_TYPE_LATEST, self.metrics.exposition()
            elif path in ("/healthz", "/health"):
                info = self.health()
                status = "200 OK" if info.get("serving") else "503 Service Unavailable"
                ctype, body = "application/json", json.dumps(info, sort_keys=True).encode()
            else:
                status, ctype, body = "404 Not Found", "text/plain", b"not found\n"
            writer.write(f"HTTP/1.0 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
                         "Connection: close\r\n\r\n".encode("latin-1") + body)
            await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ConnectionError):
            pass
        except Exception:
            log.exception("metrics endpoint: request failed")
        finally:
            writer.close()

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None


__all__ = ["LATENCY_BUCKETS", "HttpEndpoint", "Metrics", "add_observations"]
