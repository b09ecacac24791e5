"""`AsyncClient`: the asyncio client; remote calls are pipelined on one fast-path connection."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from types import TracebackType

from splitline.client._base import DEFAULT_CLOSE_TIMEOUT_S, ClientBase
from splitline.client._core import SIDECAR_DOWN
from splitline.client._fastpath import AsyncFastPathConnection, FastPathError
from splitline.client._types import UnitAssignment


class AsyncClient(ClientBase):
    """The asyncio twin of `Client`: same options, same answers, `await` on the calls.

    Local decisions never wait (they are pure compute); remote ones await one
    pipelined fast-path round trip. Event shipping and snapshot refresh run on
    the same background threads as the sync client (see `_runtime`).

        async with AsyncClient("snapshot.json") as client:
            a = await client.get_variant("checkout_v2", units={"user_id": "42"})
    """

    async def _ask(
        self,
        experiments: Sequence[str],
        units: Mapping[str, str] | None,
        attributes: Mapping[str, object] | None,
    ) -> list[UnitAssignment] | str:
        core = self._core
        if not core.breaker.allow():
            return SIDECAR_DOWN + ": waiting before the next attempt"
        if self._conn is None:
            assert self.fast_socket is not None
            self._conn = AsyncFastPathConnection(self.fast_socket, self.timeout)
        try:
            response = await self._conn.call(core.request(experiments, units, attributes))
        except FastPathError as exc:
            return core.remote_failed(exc)
        return core.remote_answer(response)

    async def assign(
        self,
        experiment: str,
        units: Mapping[str, str] | None = None,
        attributes: Mapping[str, object] | None = None,
    ) -> UnitAssignment:
        """The variant for the unit, without logging an exposure (use `expose` when it is shown)."""
        try:
            if self._remote:
                return self._core.pick(experiment, await self._ask((experiment,), units, attributes))
            return self._core.local(experiment, units, attributes)
        except Exception as exc:
            return self._core.default(experiment, f"internal error: {exc!r}")

    async def get_variant(
        self,
        experiment: str,
        units: Mapping[str, str] | None = None,
        attributes: Mapping[str, object] | None = None,
    ) -> UnitAssignment:
        """The variant for the unit, logging its exposure (once per process per unit and variant)."""
        a = await self.assign(experiment, units, attributes)
        self.expose(a)
        return a

    async def assign_all(
        self, units: Mapping[str, str] | None = None, attributes: Mapping[str, object] | None = None
    ) -> list[UnitAssignment]:
        """Every experiment that gives the unit a variant; logs no exposure."""
        try:
            if self._remote:
                return self._core.pick_all(await self._ask((), units, attributes))
            return self._core.local_all(units, attributes)
        except Exception as exc:
            self._core.log.emit("internal", f"splitline: assign_all failed: {exc!r}")
            return []

    async def wait_ready(self, timeout: float | None = None) -> bool:
        """Wait until a snapshot is loaded (local mode) without blocking the loop."""
        if self.ready:
            return True
        wait = self.ready_timeout if timeout is None else timeout
        return await asyncio.to_thread(self._core.ready.wait, wait)

    async def flush(self, timeout: float = DEFAULT_CLOSE_TIMEOUT_S) -> bool:
        """Wait until every event queued so far is accepted by the sidecar; False on timeout."""
        return await asyncio.to_thread(self._runtime.flush, timeout)

    async def aclose(self, timeout: float = DEFAULT_CLOSE_TIMEOUT_S) -> bool:
        """Ship what is queued (up to `timeout`) and stop; True when nothing was lost. Idempotent."""
        if self._closed:
            return True
        self._closed = True
        try:
            if self._conn is not None:
                await self._conn.close()
            return await asyncio.to_thread(self._runtime.close, timeout)
        finally:
            if self._pool is not None:
                self._pool.close()

    async def __aenter__(self) -> AsyncClient:
        if not self._remote and self._runtime.follows_sidecar:
            await self.wait_ready()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()
