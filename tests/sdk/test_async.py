"""AsyncClient in local mode: the same answers and exposure rules as Client (one shared core)."""

from __future__ import annotations

from typing import Any

from splitline.client import AsyncClient, Client
from splitline.core import Reason
from splitline.v1 import config_pb2

from tests.sdk.conftest import RecordingSink


async def test_async_local_agrees_with_vectors(
    vectors: dict[str, Any], main_snapshot: config_pb2.ConfigSnapshot
) -> None:
    async with AsyncClient(main_snapshot) as client:
        for case in vectors["cases"]:
            if case["snapshot"] != "main":
                continue
            i, expected = case["input"], case["expected"]
            a = await client.assign(i["experiment"], i["units"], i["attributes"])
            assert (a.variant, a.reason.value) == (expected["variant"], expected["reason"]), case["name"]


async def test_async_and_sync_give_identical_answers(main_snapshot: config_pb2.ConfigSnapshot) -> None:
    sync = Client(main_snapshot)
    async with AsyncClient(main_snapshot) as client:
        for uid in map(str, range(200)):
            units = {"user_id": uid, "device_id": f"d{uid}", "session_id": f"s{uid}"}
            assert await client.assign_all(units, {"country": "US"}) == sync.assign_all(
                units, {"country": "US"}
            )
    sync.close()


async def test_async_get_variant_exposes_once_and_aclose_flushes(
    main_snapshot: config_pb2.ConfigSnapshot, sink: RecordingSink
) -> None:
    client = AsyncClient(main_snapshot, event_sink=sink)
    a = await client.get_variant("checkout_v2", {"user_id": "qa-alice"})
    await client.get_variant("checkout_v2", {"user_id": "qa-alice"})
    assert (a.variant, a.reason) == ("treatment", Reason.OVERRIDE)
    client.track("purchase", {"user_id": "qa-alice"}, value=2.0)
    assert await client.aclose() is True
    assert [(e.unit_id, e.forced) for e in sink.exposures] == [("qa-alice", True)]
    assert [o.name for o in sink.outcomes] == ["purchase"]
    assert await client.aclose() is True


async def test_async_without_snapshot_answers_the_default() -> None:
    async with AsyncClient("/nonexistent.json") as client:
        a = await client.get_variant("checkout_v2", {"user_id": "1"})
        assert (a.variant, a.reason, a.detail) == (None, Reason.UNKNOWN_EXPERIMENT, "no snapshot loaded")
        assert await client.assign_all({"user_id": "1"}) == []
