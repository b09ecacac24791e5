"""Against a real sidecar process on Unix sockets: both modes, the spool, a kill and a restart."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from splitline.client import AsyncClient, Client
from splitline.core import Reason

from tests.sdk.conftest import SidecarProcess


def _main_cases(vectors: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for c in vectors["cases"] if c["snapshot"] == "main"]


def _check(got: Any, case: dict[str, Any]) -> None:
    expected = case["expected"]
    assert (got.variant, got.reason.value) == (expected["variant"], expected["reason"]), (case["name"], got)


def _check_all(client: Client, vectors: dict[str, Any]) -> None:
    for case in vectors["assign_all_cases"]:
        if case["snapshot"] != "main":
            continue
        got = client.assign_all(case["input"]["units"], case["input"]["attributes"])
        assert sorted((a.experiment_key, a.variant, a.reason.value) for a in got) == sorted(
            (e["experiment"], e["variant"], e["reason"]) for e in case["expected"]
        ), case["name"]


def test_local_mode_from_the_sidecar_stream_agrees_with_vectors(
    sidecar: SidecarProcess, vectors: dict[str, Any]
) -> None:
    with Client(socket=str(sidecar.socket), fast_socket=str(sidecar.fast_socket)) as client:
        assert client.ready and client.revision == 42
        for case in _main_cases(vectors):
            i = case["input"]
            _check(client.assign(i["experiment"], i["units"], i["attributes"]), case)
        _check_all(client, vectors)


def test_remote_mode_agrees_with_vectors(sidecar: SidecarProcess, vectors: dict[str, Any]) -> None:
    with Client(mode="remote", fast_socket=str(sidecar.fast_socket)) as client:
        for case in _main_cases(vectors):
            i = case["input"]
            got = client.assign(i["experiment"], i["units"], i["attributes"])
            assert got.detail == ""
            _check(got, case)
        _check_all(client, vectors)
        forced = client.assign("checkout_v2", {"user_id": "qa-alice"})
        assert (forced.variant, forced.reason, forced.revision) == ("treatment", Reason.OVERRIDE, 42)
        assert dict(forced.params) == {"button": "green", "limit": 3, "ratio": 0.5}
        assert (forced.unit_type, forced.unit_id) == ("user_id", "qa-alice")


def test_async_remote_pipelines_and_agrees_with_vectors(
    sidecar: SidecarProcess, vectors: dict[str, Any]
) -> None:
    cases = _main_cases(vectors)

    async def main() -> None:
        async with AsyncClient(mode="remote", fast_socket=str(sidecar.fast_socket)) as client:
            got = await asyncio.gather(
                *(
                    client.assign(c["input"]["experiment"], c["input"]["units"], c["input"]["attributes"])
                    for c in cases
                )
            )
            for a, case in zip(got, cases, strict=True):
                _check(a, case)

    asyncio.run(main())


def _assigned(client: Client, experiment: str, n: int, prefix: str) -> list[str]:
    ids = (f"{prefix}{i}" for i in range(100_000))
    return [u for u in ids if client.assign(experiment, {"user_id": u}).reason is Reason.ASSIGNED][:n]


def test_exposures_and_outcomes_reach_the_spool_once(
    sidecar: SidecarProcess, vectors: dict[str, Any]
) -> None:
    with Client(socket=str(sidecar.socket), fast_socket=str(sidecar.fast_socket)) as client:
        users = _assigned(client, "checkout_copy", 20, "spool-")
        for _ in range(3):
            for u in users:
                client.get_variant("checkout_copy", {"user_id": u})
        assert client.flush(10)
    spooled = [e for e in sidecar.spooled_exposures() if e.unit_id.startswith("spool-")]
    assert sorted(e.unit_id for e in spooled) == sorted(users)  # deduplicated in the client
    assert all(e.config_revision == 42 and e.client.startswith("python/") for e in spooled)


def test_events_over_grpc_without_a_fast_socket(sidecar: SidecarProcess) -> None:
    with Client(socket=str(sidecar.socket)) as client:
        users = _assigned(client, "checkout_copy", 5, "grpc-")
        for u in users:
            client.get_variant("checkout_copy", {"user_id": u})
        assert client.flush(10)
    assert sorted(e.unit_id for e in sidecar.spooled_exposures() if e.unit_id.startswith("grpc-")) == sorted(
        users
    )


def test_sidecar_killed_and_restarted_loses_no_buffered_exposure(own_sidecar: SidecarProcess) -> None:
    sc = own_sidecar
    local = Client(socket=str(sc.socket), fast_socket=str(sc.fast_socket), flush_interval=0.05)
    remote = Client(mode="remote", fast_socket=str(sc.fast_socket), timeout=0.5)
    users = _assigned(local, "checkout_copy", 60, "crash-")
    before, during, after = users[:20], users[20:40], users[40:]
    for u in before:
        local.get_variant("checkout_copy", {"user_id": u})
    assert local.flush(10)
    assert remote.assign("checkout_copy", {"user_id": before[0]}).variant is not None

    sc.kill()
    for u in during:  # buffered while the sidecar is down; the caller never waits or sees an error
        t0 = time.perf_counter()
        a = local.get_variant("checkout_copy", {"user_id": u})
        assert a.variant is not None and time.perf_counter() - t0 < 0.25  # never the 0.5 s timeout
    down = remote.assign("checkout_copy", {"user_id": before[0]})
    assert down.variant is None and down.detail.startswith("sidecar unavailable")
    assert not local.flush(0.3)  # nothing can be delivered yet
    assert local.stats["exposures_queued"] == len(during)

    # The restarted sidecar serves a newer revision: the local client's stream must pick it up by itself.
    doc = json.loads(sc.snapshot.read_text(encoding="utf-8"))
    doc["revision"] = "43"
    sc.snapshot.write_text(json.dumps(doc), encoding="utf-8")
    sc.start()
    deadline = time.monotonic() + 10
    while local.revision != 43 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert local.revision == 43
    for u in after:
        local.get_variant("checkout_copy", {"user_id": u})
    assert local.flush(15)  # the client redials by itself
    deadline = time.monotonic() + 10
    while (
        remote.assign("checkout_copy", {"user_id": before[0]}).variant is None and time.monotonic() < deadline
    ):
        time.sleep(0.05)
    assert remote.assign("checkout_copy", {"user_id": before[0]}).variant is not None
    assert local.close(5) and remote.close(5)

    spooled = {e.unit_id for e in sc.spooled_exposures() if e.unit_id.startswith("crash-")}
    assert spooled == set(users)
    assert local.stats["exposures_dropped"] == 0


def test_async_remote_recovers_after_a_restart(own_sidecar: SidecarProcess) -> None:
    sc = own_sidecar

    async def main() -> None:
        async with AsyncClient(mode="remote", fast_socket=str(sc.fast_socket), timeout=0.5) as client:
            before = await client.assign("checkout_v2", {"user_id": "qa-alice"})
            assert (before.variant, before.detail) == ("treatment", "")
            sc.kill()
            down = await client.assign("checkout_v2", {"user_id": "qa-alice"})
            assert down.variant is None and down.detail.startswith("sidecar unavailable")
            await asyncio.to_thread(sc.start)
            deadline = time.monotonic() + 10
            again = down
            while again.variant is None and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
                again = await client.assign("checkout_v2", {"user_id": "qa-alice"})
            assert (again.variant, again.reason, again.detail) == ("treatment", Reason.OVERRIDE, "")

    asyncio.run(main())
