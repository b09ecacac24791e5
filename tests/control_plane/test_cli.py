"""The operator CLI end to end against an in-process control plane (embedded store)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from splitline.cli import main
from splitline.control_plane.server import ServerThread

SPEC = """
layers: [{id: checkout}]
metrics:
  - {name: revenue, kind: MEAN, events: [purchase], direction: HIGHER_IS_BETTER}
experiments:
  - key: big_button
    layer_id: checkout
    unit_type: user_id
    traffic_bp: 2000
    primary_metric: revenue
    variants: [{key: control, weight: 5000}, {key: big, weight: 5000}]
    rules: [{attribute: country, operator: IN, values: [DE, FR]}]
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with ServerThread(data_dir=tmp_path_factory.mktemp("cp"), listen="127.0.0.1:0") as srv:
        yield srv.address


def run(capsys: pytest.CaptureFixture[str], server: str, *argv: str) -> tuple[int, str]:
    code = main([*argv, "--server", server])
    out = capsys.readouterr()
    return code, out.out + out.err


def test_apply_is_idempotent_and_lifecycle(server: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "exps"
    spec.mkdir()
    (spec / "checkout.yaml").write_text(SPEC)
    code, out = run(capsys, server, "apply", "-f", str(spec), "--dry-run")
    assert code == 0 and "experiment/big_button: would be created (dry run)" in out and "+key: big_button" in out
    code, out = run(capsys, server, "experiments", "list", "--json")
    assert json.loads(out) == []
    code, out = run(capsys, server, "apply", "-f", str(spec))
    assert code == 0 and "experiment/big_button: created" in out and "layer/checkout: created" in out
    code, out = run(capsys, server, "apply", "-f", str(spec))
    assert code == 0 and out.count("unchanged") == 3 and "---" not in out
    (spec / "checkout.yaml").write_text(SPEC.replace("[DE, FR]", "[DE, FR, NL]"))
    code, out = run(capsys, server, "apply", "-f", str(spec))
    assert code == 0 and "experiment/big_button: updated" in out and "+  - NL" in out

    code, out = run(capsys, server, "experiments", "launch", "big_button", "--traffic", "25%")
    assert code == 0 and "RUNNING" in out and "[0,2500)" in out
    code, out = run(capsys, server, "pause", "big_button", "--reason", "error spike")
    assert code == 0 and "is PAUSED" in out and "committed at 20" in out
    code, out = run(capsys, server, "experiments", "pause", "big_button")
    assert code == 1 and "FAILED_PRECONDITION" in out and "it is PAUSED" in out
    code, out = run(capsys, server, "layers", "list")
    assert code == 0 and "checkout" in out and " 25.0% used" in out and "[AAAAAAAAAAAA" in out
    code, out = run(capsys, server, "layers", "show", "checkout")
    assert "big_button" in out and "free: 7500 buckets" in out
    code, out = run(capsys, server, "audit", "big_button")
    assert code == 0 and "error spike" in out and "pause" in out
    code, out = run(capsys, server, "audit", "big_button", "--json")
    assert [r["action"] for r in json.loads(out)] == ["create", "update", "launch", "pause"]
    code, out = run(capsys, server, "experiments", "get", "big_button", "--json")
    assert json.loads(out)["status"] == "EXPERIMENT_STATUS_PAUSED"
    code, out = run(capsys, server, "experiments", "list", "--status", "paused")
    assert "big_button" in out and "PAUSED" in out


def test_wrong_token_and_bad_file(server: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(capsys, server, "experiments", "list", "--token", "wrong")
    assert code == 1 and "UNAUTHENTICATED" in out
    bad = tmp_path / "bad.yaml"
    bad.write_text("experiments: [{key: x, layer_id: nope, unit_type: user_id, variants: [{key: a, weight: 10}]}]")
    code, out = run(capsys, server, "apply", "-f", str(bad))
    assert code == 1 and "INVALID_ARGUMENT" in out and "experiment.variants" in out
