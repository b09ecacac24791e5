"""Local mode from a snapshot (file or message): vectors, exposure rules, dedup, buffers, no raising."""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any

import pytest
from splitline.client import Client, UnitAssignment
from splitline.core import Reason
from splitline.v1 import config_pb2

from tests.sdk.conftest import RecordingSink, snapshot_from


def _check_cases(client: Client, vectors: dict[str, Any], snapshot: str) -> int:
    checked = 0
    for case in vectors["cases"]:
        if case["snapshot"] != snapshot:
            continue
        i, expected = case["input"], case["expected"]
        a = client.assign(i["experiment"], units=i["units"], attributes=i["attributes"])
        assert (a.variant, a.reason.value) == (expected["variant"], expected["reason"]), case["name"]
        checked += 1
    return checked


def assigned_ids(snapshot: config_pb2.ConfigSnapshot, experiment: str, n: int) -> list[str]:
    """The first `n` user ids that get a hashed variant of `experiment` (found, not assumed)."""
    with Client(snapshot) as client:
        ids = (str(i) for i in range(100_000))
        return [uid for uid in ids if client.assign(experiment, {"user_id": uid}).reason is Reason.ASSIGNED][
            :n
        ]


def test_local_mode_agrees_with_every_vector(vectors: dict[str, Any]) -> None:
    total = 0
    for name, doc in vectors["snapshots"].items():
        with Client(snapshot_from(doc)) as client:
            total += _check_cases(client, vectors, name)
    assert total == len(vectors["cases"])


def test_assign_all_agrees_with_vectors(vectors: dict[str, Any]) -> None:
    clients = {name: Client(snapshot_from(doc)) for name, doc in vectors["snapshots"].items()}
    for case in vectors["assign_all_cases"]:
        i = case["input"]
        got = clients[case["snapshot"]].assign_all(units=i["units"], attributes=i["attributes"])
        assert sorted((a.experiment_key, a.variant, a.reason.value) for a in got) == sorted(
            (e["experiment"], e["variant"], e["reason"]) for e in case["expected"]
        ), case["name"]
    for client in clients.values():
        client.close()


def test_snapshot_file_json_and_reload(tmp_path: Path, vectors: dict[str, Any]) -> None:
    path = tmp_path / "snap.json"
    path.write_text(json.dumps(vectors["snapshots"]["ramp_before"]), encoding="utf-8")
    with Client(path, refresh_interval=0.05) as client:
        assert _check_cases(client, vectors, "ramp_before") > 0
        path.write_text(json.dumps(vectors["snapshots"]["ramp_after"]), encoding="utf-8")
        os.utime(path, (time.time() + 5, time.time() + 5))  # a new mtime even on coarse clocks
        # A case whose answer the ramp changes tells when the new file is in use.
        changed = next(
            c
            for c in vectors["cases"]
            if c["snapshot"] == "ramp_after"
            and c["expected"]["reason"] == "ASSIGNED"
            and client.assign(c["input"]["experiment"], c["input"]["units"]).reason is Reason.NOT_IN_TRAFFIC
        )
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            i = changed["input"]
            if client.assign(i["experiment"], i["units"], i["attributes"]).variant is not None:
                break
            time.sleep(0.02)
        assert _check_cases(client, vectors, "ramp_after") > 0


def test_params_revision_and_unit_are_carried(main_snapshot: config_pb2.ConfigSnapshot) -> None:
    with Client(main_snapshot) as client:
        a = client.assign("checkout_v2", units={"user_id": "qa-alice"})
        assert (a.variant, a.reason, a.forced) == ("treatment", Reason.OVERRIDE, True)
        assert dict(a.params) == {"button": "green", "limit": 3, "ratio": 0.5}
        assert (a.unit_type, a.unit_id, a.revision, a.detail) == ("user_id", "qa-alice", 42, "")
        assert a.decision.params is a.params  # the core's prebuilt result, not a copy


def test_get_variant_logs_each_exposure_once(
    main_snapshot: config_pb2.ConfigSnapshot, sink: RecordingSink
) -> None:
    u0, u1 = assigned_ids(main_snapshot, "checkout_copy", 2)
    with Client(main_snapshot, event_sink=sink, session_id="s-1") as client:
        a = client.get_variant("checkout_copy", units={"user_id": u0})
        for _ in range(5):
            assert client.get_variant("checkout_copy", units={"user_id": u0}) == a
        client.get_variant("checkout_copy", units={"user_id": u1})
        assert client.flush(5)
    assert [(e.experiment_key, e.unit_id) for e in sink.exposures] == [
        ("checkout_copy", u0),
        ("checkout_copy", u1),
    ]
    first = sink.exposures[0]
    assert (first.variant_key, first.unit_type, first.config_revision, first.forced) == (
        a.variant,
        "user_id",
        42,
        False,
    )
    assert first.client.startswith("python/") and first.session_id == "s-1"
    assert len(first.event_id) == 36 and first.event_id != sink.exposures[1].event_id
    assert abs(first.timestamp.seconds - time.time()) < 60


def test_exposure_rules_by_reason(main_snapshot: config_pb2.ConfigSnapshot, sink: RecordingSink) -> None:
    with Client(main_snapshot, event_sink=sink) as client:
        shipped = client.get_variant("shipped_exp", units={"user_id": "7"}, attributes={"plan": "free"})
        assert (shipped.variant, shipped.reason) == ("treatment", Reason.SHIPPED)
        assert client.get_variant("paused_exp", units={"user_id": "7"}).reason is Reason.NOT_RUNNING
        assert client.get_variant("nope", units={"user_id": "7"}).reason is Reason.UNKNOWN_EXPERIMENT
        assert client.get_variant("checkout_v2", units={}).reason is Reason.NO_UNIT
        forced = client.get_variant("checkout_v2", units={"user_id": "qa-bob"})
        assert client.flush(5)
    assert [(e.experiment_key, e.variant_key, e.forced) for e in sink.exposures] == [
        ("checkout_v2", forced.variant, True)
    ]


def test_assign_then_expose_later(main_snapshot: config_pb2.ConfigSnapshot, sink: RecordingSink) -> None:
    with Client(main_snapshot, event_sink=sink) as client:
        a = client.assign(
            "search_rank",
            units={"user_id": "3"},
            attributes={"country": "US", "app_version": "2.1", "age": 30},
        )
        assert a.reason is Reason.ASSIGNED
        assert client.flush(5) and sink.exposures == []  # assign alone logs nothing
        client.expose(a)
        client.expose(a)
        assert client.flush(5)
    assert [(e.experiment_key, e.variant_key, e.unit_id) for e in sink.exposures] == [
        ("search_rank", a.variant, "3")
    ]


def test_dedup_lru_is_bounded(main_snapshot: config_pb2.ConfigSnapshot, sink: RecordingSink) -> None:
    with Client(main_snapshot, event_sink=sink, dedup_size=2) as client:
        for uid in ("qa-alice", "qa-bob", "qa-alice", "qa-bob"):  # both stay in the LRU
            client.get_variant("checkout_v2", units={"user_id": uid})
        client.get_variant("checkout_copy", units={"user_id": "0"})  # evicts qa-alice (least recent)
        client.get_variant("checkout_v2", units={"user_id": "qa-alice"})  # logged again
        client.get_variant("checkout_v2", units={"user_id": "qa-alice"})  # not again
        assert client.flush(5)
    assert [e.unit_id for e in sink.exposures] == ["qa-alice", "qa-bob", "0", "qa-alice"]


def test_track_one_outcome_per_unit(main_snapshot: config_pb2.ConfigSnapshot, sink: RecordingSink) -> None:
    with Client(main_snapshot, event_sink=sink) as client:
        client.track(
            "purchase",
            units={"user_id": "42", "device_id": "d-1"},
            value=9.5,
            properties={"sku": "A-1", "qty": 2, "gift": True, "skip": None},
        )
        assert client.flush(5)
    assert sorted((o.unit_type, o.unit_id, o.name, o.value) for o in sink.outcomes) == [
        ("device_id", "d-1", "purchase", 9.5),
        ("user_id", "42", "purchase", 9.5),
    ]
    assert dict(sink.outcomes[0].properties) == {"sku": "A-1", "qty": "2", "gift": "true"}
    assert sink.outcomes[0].event_id != sink.outcomes[1].event_id


def test_buffer_is_bounded_and_drops_are_counted(
    main_snapshot: config_pb2.ConfigSnapshot, sink: RecordingSink, caplog: pytest.LogCaptureFixture
) -> None:
    ids = assigned_ids(main_snapshot, "checkout_copy", 30)
    sink.fail = True
    client = Client(main_snapshot, event_sink=sink, max_buffered_events=10, batch_size=4)
    with caplog.at_level(logging.WARNING, logger="splitline.client"):
        for uid in ids:
            client.get_variant("checkout_copy", units={"user_id": uid})
    stats = client.stats
    # At most the queue bound plus the one batch being retried; the rest counted as dropped.
    assert 10 <= stats["exposures_queued"] <= 10 + 4
    assert stats["exposures_dropped"] == len(ids) - stats["exposures_queued"]
    assert any("buffer full" in r.message for r in caplog.records)
    sink.fail = False
    assert client.flush(10)
    assert len(sink.exposures) == stats["exposures_queued"]
    # A dropped exposure was not remembered as logged: the next call logs it.
    client.get_variant("checkout_copy", units={"user_id": ids[-1]})
    assert client.flush(5)
    assert sink.exposures[-1].unit_id == ids[-1]
    assert len({e.unit_id for e in sink.exposures}) == len(sink.exposures)
    client.close()


def test_retry_keeps_event_ids_and_close_flushes(
    main_snapshot: config_pb2.ConfigSnapshot, sink: RecordingSink
) -> None:
    sink.fail = True
    client = Client(main_snapshot, event_sink=sink, flush_interval=0.01)
    client.get_variant("checkout_copy", units={"user_id": "5"})
    deadline = time.monotonic() + 5
    while sink.calls < 2 and time.monotonic() < deadline:  # at least one retry happened
        time.sleep(0.01)
    assert sink.calls >= 2 and sink.exposures == []
    pending_ids = [e.event_id for e in client._core.exposures.pending]
    sink.fail = False
    assert client.close(5) is True
    assert [e.event_id for e in sink.exposures] == pending_ids


def test_close_reports_what_it_could_not_ship(
    main_snapshot: config_pb2.ConfigSnapshot, sink: RecordingSink, caplog: pytest.LogCaptureFixture
) -> None:
    sink.fail = True
    client = Client(main_snapshot, event_sink=sink)
    client.get_variant("checkout_copy", units={"user_id": "5"})
    with caplog.at_level(logging.WARNING, logger="splitline.client"):
        assert client.close(0.2) is False
    assert any("1 events not delivered" in r.message for r in caplog.records)
    assert client.close() is True  # idempotent


def test_no_snapshot_is_a_default_not_an_error(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with (
        caplog.at_level(logging.WARNING, logger="splitline.client"),
        Client(tmp_path / "missing.json") as client,
    ):
        for _ in range(3):
            a = client.get_variant("checkout_v2", units={"user_id": "1"})
            assert (a.variant, a.reason, a.detail) == (None, Reason.UNKNOWN_EXPERIMENT, "no snapshot loaded")
        assert client.assign_all(units={"user_id": "1"}) == []
        assert not client.ready and client.revision is None
    no_variant_lines = [r for r in caplog.records if "answered with no variant" in r.message]
    assert len(no_variant_lines) == 1  # rate-limited


def test_invalid_snapshot_file_keeps_the_last_good_one(tmp_path: Path, vectors: dict[str, Any]) -> None:
    path = tmp_path / "snap.json"
    path.write_text(json.dumps(vectors["snapshots"]["main"]), encoding="utf-8")
    with Client(path, refresh_interval=0.02) as client:
        before = client.assign("checkout_copy", units={"user_id": "0"})
        path.write_text("{not json", encoding="utf-8")
        os.utime(path, (time.time() + 5, time.time() + 5))
        time.sleep(0.2)
        assert client.assign("checkout_copy", units={"user_id": "0"}) == before


@pytest.mark.parametrize(
    ("units", "attributes"),
    [
        (None, None),
        ({"user_id": 7}, {"age": 30, "vip": True, "ratio": 0.5}),
        ({"user_id": None}, {"x": object()}),
        ({"user_id": "\ud800"}, {"country": "\udfff"}),
        ("not a mapping", ["nor", "this"]),
        ({1: 2}, {3: 4}),
    ],
)
def test_nothing_raises_on_bad_input(
    main_snapshot: config_pb2.ConfigSnapshot, sink: RecordingSink, units: Any, attributes: Any
) -> None:
    with Client(main_snapshot, event_sink=sink) as client:
        for key in ("checkout_v2", "search_rank", "nope", None, 5):
            a = client.get_variant(key, units=units, attributes=attributes)
            assert isinstance(a, UnitAssignment)
            client.assign(key, units, attributes)
            client.expose(a)
        assert isinstance(client.assign_all(units, attributes), list)
        client.track("purchase", units, value=1.0, properties=attributes)
        client.track(None, units, value="x", properties=attributes)  # type: ignore[arg-type]
        client.expose("not an assignment")  # type: ignore[arg-type]
        assert client.flush(5)


def test_integer_unit_ids_are_strings(main_snapshot: config_pb2.ConfigSnapshot) -> None:
    with Client(main_snapshot) as client:
        for uid in assigned_ids(main_snapshot, "checkout_copy", 3):
            as_int = client.assign("checkout_copy", units={"user_id": int(uid)})  # type: ignore[dict-item]
            assert as_int == client.assign("checkout_copy", units={"user_id": uid})
            assert as_int.reason is Reason.ASSIGNED


def test_configuration_errors_raise_at_construction() -> None:
    with pytest.raises(ValueError, match="mode"):
        Client(mode="sideways")
    with pytest.raises(ValueError, match="fast socket"):
        Client(mode="remote")
