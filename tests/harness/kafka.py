"""A real Apache Kafka broker for tests: single node, KRaft mode, loopback only.

Why a real broker: the sidecar's and the ingest worker's delivery guarantees are
about what a broker does when it is killed, restarted or slow; a fake cannot
show that. The broker runs from Kafka's published jars (fetched from Maven
Central by `make setup-kafka`, see tools/kafka/pom.xml, into .local/kafka/jars);
when the jars are missing the harness fetches them itself with the same command.

Usage (pytest): import the fixture into a conftest.py

    from tests.harness.kafka import kafka_broker  # noqa: F401

and ask for `kafka_broker` in a test marked `@pytest.mark.kafka`. It is
session-scoped: one broker per test session, stopped at the end. The object it
returns is a `KafkaBroker`:

    kafka_broker.bootstrap_servers      "127.0.0.1:<port>"
    kafka_broker.create_topics(["exposures", "outcomes"], partitions=3)
    kafka_broker.kill()                 SIGKILL, as a crash
    kafka_broker.stop()                 SIGTERM, clean shutdown
    kafka_broker.start()                same ports, same data dir
    kafka_broker.consume_all(topic)     every record value currently in the topic

A test that kills or stops the broker must leave it running (call `start()`,
ideally in a `finally`) because later tests share it.
"""

from __future__ import annotations

import asyncio
import atexit
import base64
import contextlib
import gc
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid
import warnings
from collections.abc import Awaitable, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import pytest

ROOT = Path(__file__).resolve().parents[2]
KAFKA_HOME = Path(os.environ.get("SPLITLINE_KAFKA_HOME", ROOT / ".local" / "kafka"))
JARS_DIR = KAFKA_HOME / "jars"
POM = ROOT / "tools" / "kafka" / "pom.xml"

START_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 30.0
READY_LINE = "Kafka Server started"

T = TypeVar("T")


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ensure_jars() -> Path:
    """The broker jars, fetched from Maven Central when absent (what `make setup-kafka` runs)."""
    stamp = JARS_DIR / ".complete"
    if stamp.exists():
        return JARS_DIR
    mvn = shutil.which("mvn")
    if mvn is None:
        raise RuntimeError("Kafka jars missing and no `mvn` on PATH: run `make setup-kafka`")
    JARS_DIR.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [mvn, "-q", "-B", "-f", str(POM), "dependency:copy-dependencies", "-DincludeScope=runtime",
         f"-DoutputDirectory={JARS_DIR}"],
        check=True,
    )
    stamp.touch()
    return JARS_DIR


def _run_async(make: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine to completion on a private loop in a thread.

    Works whether or not the caller already runs an event loop (async tests
    call the harness too).
    """
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(_as_coroutine(make))
        except BaseException as exc:
            box["error"] = exc
        # aiokafka clients can leave a half-closed connection to be finalized by the
        # garbage collector; collect it now, quietly, instead of in some later test.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)
            gc.collect()

    thread = threading.Thread(target=target, name="kafka-harness")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]  # type: ignore[no-any-return]


async def _as_coroutine(make: Callable[[], Awaitable[T]]) -> T:
    return await make()


class KafkaBroker:
    """One single-node KRaft Apache Kafka process on loopback ports."""

    def __init__(self, data_dir: Path, port: int | None = None, controller_port: int | None = None,
                 num_partitions: int = 1, heap_mb: int = 512) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.controller_port = controller_port or free_port()
        self.num_partitions = num_partitions
        self.heap_mb = heap_mb
        self.log_dir = data_dir / "kraft-logs"
        self.config_path = data_dir / "server.properties"
        self.output_path = data_dir / "broker.out"
        self.process: subprocess.Popen[bytes] | None = None
        self._formatted = False

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    # ----------------------------------------------------------------- process

    def _write_config(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@127.0.0.1:{self.controller_port}",
            "listeners": f"PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": str(self.log_dir),
            "num.partitions": str(self.num_partitions),
            "auto.create.topics.enable": "true",
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "3",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            "num.network.threads": "2",
            "num.io.threads": "2",
            "log.cleaner.enable": "false",
        }
        self.config_path.write_text("".join(f"{k}={v}\n" for k, v in props.items()), encoding="utf-8")
        (self.data_dir / "log4j.properties").write_text(
            "log4j.rootLogger=INFO, out\n"
            "log4j.appender.out=org.apache.log4j.ConsoleAppender\n"
            "log4j.appender.out.layout=org.apache.log4j.PatternLayout\n"
            "log4j.appender.out.layout.ConversionPattern=[%d] %p %m (%c)%n\n"
            "log4j.logger.kafka=INFO\nlog4j.logger.org.apache.kafka=INFO\n"
            "log4j.logger.state.change.logger=WARN\nlog4j.logger.kafka.log.LogCleaner=WARN\n",
            encoding="utf-8",
        )

    def _java(self, main: str, *args: str) -> list[str]:
        java = shutil.which("java")
        if java is None:
            raise RuntimeError("java not found: Kafka needs a JRE (17+)")
        return [
            java, f"-Xmx{self.heap_mb}m", f"-Xms{min(self.heap_mb, 256)}m", "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20", "-Djava.awt.headless=true",
            f"-Dlog4j.configuration=file:{self.data_dir / 'log4j.properties'}",
            "-cp", f"{ensure_jars()}/*", main, *args,
        ]

    def _format(self) -> None:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode("ascii").rstrip("=")
        subprocess.run(
            self._java("kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(self.config_path),
                       "--ignore-formatted"),
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=120,
        )
        self._formatted = True

    def start(self, timeout: float = START_TIMEOUT_S) -> None:
        """Start (or restart) the broker on the same ports and data dir; wait until it serves."""
        if self.process is not None and self.process.poll() is None:
            return
        if not self._formatted:
            self._write_config()
            self._format()
        offset = self.output_path.stat().st_size if self.output_path.exists() else 0
        out = self.output_path.open("ab")
        try:
            self.process = subprocess.Popen(
                self._java("kafka.Kafka", str(self.config_path)),
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )
        finally:
            out.close()
        _LIVE.add(self)
        self._wait_ready(offset, timeout)

    def _wait_ready(self, offset: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"Kafka exited with {self.process.returncode}:\n{self.tail()}")
            with self.output_path.open("rb") as f:
                f.seek(offset)
                if READY_LINE.encode() in f.read():
                    break
            time.sleep(0.2)
        else:
            raise RuntimeError(f"Kafka not ready after {timeout:.0f}s:\n{self.tail()}")
        # Started also means the listener answers metadata requests.
        self.wait_for_metadata(deadline - time.monotonic())

    def wait_for_metadata(self, timeout: float = 30.0) -> None:
        """Block until a client can fetch cluster metadata."""
        from aiokafka.admin import AIOKafkaAdminClient

        async def probe() -> None:
            client = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap_servers, request_timeout_ms=5000)
            try:  # start() inside: a failed start must close its connections too
                await client.start()
                await client.list_topics()
            finally:
                await client.close()

        deadline = time.monotonic() + max(timeout, 5.0)
        while True:
            try:
                _run_async(probe)
                return
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)

    def _signal(self, sig: signal.Signals, timeout: float) -> None:
        proc = self.process
        if proc is None or proc.poll() is not None:
            self.process = None
            return
        os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        self.process = None

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> None:
        """Clean shutdown (SIGTERM), SIGKILL after `timeout`."""
        self._signal(signal.SIGTERM, timeout)

    def kill(self) -> None:
        """Crash it: SIGKILL, no flush, no goodbye."""
        self._signal(signal.SIGKILL, 10)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def tail(self, lines: int = 40) -> str:
        try:
            text = self.output_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    # ------------------------------------------------------------------ topics

    def create_topics(self, names: Sequence[str], partitions: int = 1, configs: dict[str, str] | None = None) -> None:
        """Create topics (replication 1); ones that already exist are left alone."""
        from aiokafka.admin import AIOKafkaAdminClient, NewTopic
        from aiokafka.errors import TopicAlreadyExistsError

        async def create() -> None:
            client = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap_servers, request_timeout_ms=15000)
            try:
                await client.start()
                existing = set(await client.list_topics())
                todo = [NewTopic(n, partitions, 1, topic_configs=dict(configs or {}))
                        for n in names if n not in existing]
                if todo:
                    with contextlib.suppress(TopicAlreadyExistsError):
                        await client.create_topics(todo)
            finally:
                await client.close()

        _run_async(create)

    def delete_topics(self, names: Sequence[str]) -> None:
        from aiokafka.admin import AIOKafkaAdminClient

        async def delete() -> None:
            client = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap_servers, request_timeout_ms=15000)
            try:
                await client.start()
                existing = set(await client.list_topics())
                todo = [n for n in names if n in existing]
                if todo:
                    await client.delete_topics(todo)
            finally:
                await client.close()

        _run_async(delete)

    def consume_all(self, topic: str, timeout: float = 60.0) -> list[tuple[bytes | None, bytes | None]]:
        """Every (key, value) in `topic` from the beginning up to its end offsets now."""
        from aiokafka import AIOKafkaConsumer, TopicPartition

        async def read() -> list[tuple[bytes | None, bytes | None]]:
            consumer = AIOKafkaConsumer(
                bootstrap_servers=self.bootstrap_servers, enable_auto_commit=False,
                auto_offset_reset="earliest", isolation_level="read_uncommitted",
                fetch_max_bytes=64 * 1024 * 1024, max_partition_fetch_bytes=16 * 1024 * 1024,
            )
            try:
                await consumer.start()
                cluster = await consumer._client.fetch_all_metadata()
                partitions = cluster.partitions_for_topic(topic) or set()
                tps = [TopicPartition(topic, p) for p in sorted(partitions)]
                if not tps:
                    return []
                consumer.assign(tps)
                await consumer.seek_to_beginning(*tps)
                ends = await consumer.end_offsets(tps)
                out: list[tuple[bytes | None, bytes | None]] = []
                deadline = time.monotonic() + timeout
                while [tp for tp in tps if await consumer.position(tp) < ends[tp]]:
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"consume_all({topic}) timed out after {len(out)} records")
                    batches = await consumer.getmany(timeout_ms=1000, max_records=100_000)
                    for records in batches.values():
                        out.extend((r.key, r.value) for r in records)
                return out
            finally:
                await consumer.stop()

        return _run_async(read)


_LIVE: set[KafkaBroker] = set()


@atexit.register
def _kill_leftovers() -> None:
    """A crashed test session must not leave a JVM behind."""
    for broker in list(_LIVE):
        with contextlib.suppress(Exception):
            broker.kill()


@pytest.fixture(scope="session")
def kafka_broker() -> Iterator[KafkaBroker]:
    """One real Kafka broker for the whole session (see the module docstring)."""
    base = Path(tempfile.mkdtemp(prefix="splitline-kafka-"))
    broker = KafkaBroker(base)
    try:
        broker.start()
        yield broker
    finally:
        broker.stop()
        _LIVE.discard(broker)
        shutil.rmtree(base, ignore_errors=True)


__all__ = ["KafkaBroker", "ensure_jars", "free_port", "kafka_broker"]
