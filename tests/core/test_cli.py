"""The `splitline assign` / `explain` commands, run as a user would."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "snapshot.yaml"


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "splitline", *args], input=stdin, capture_output=True,
                          text=True, check=False)


def test_assign_json_lines_parse() -> None:
    out = run("assign", "--snapshot", str(EXAMPLE), "--unit", "user_id=42", "--attr", "country=US",
              "--attr", "app_version=2.1", "--all-reasons", "--json")
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert {r["experiment"] for r in rows} == {"checkout_v2", "search_rank", "new_onboarding"}
    by_key = {r["experiment"]: r for r in rows}
    assert by_key["new_onboarding"] == {"unit_id": "42", "experiment": "new_onboarding", "variant": "short",
                                        "reason": "SHIPPED", "params": {}}


def test_batch_mode_streams_one_line_per_id(tmp_path: Path) -> None:
    ids = tmp_path / "ids.txt"
    ids.write_text("".join(f"{i}\n" for i in range(2000)) + "qa-alice\n")
    out = run("assign", "--snapshot", str(EXAMPLE), "--units-file", str(ids), "--experiment", "checkout_v2",
              "--attr", "country=US")
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert len(rows) == 2001
    assert set(rows[0]) == {"unit_id", "experiment", "variant", "reason"}
    assert rows[-1] == {"unit_id": "qa-alice", "experiment": "checkout_v2", "variant": "treatment",
                        "reason": "OVERRIDE"}
    reasons = {r["reason"] for r in rows}
    assert {"ASSIGNED", "NOT_IN_TRAFFIC", "HOLDOUT"} <= reasons


def test_explain_names_the_bucket_and_ranges() -> None:
    out = run("explain", "--snapshot", str(EXAMPLE), "--unit", "user_id=7", "--attr", "country=US",
              "--experiment", "checkout_v2")
    assert out.returncode == 0, out.stderr
    assert "layer checkout bucket 9573 is outside checkout_v2's ranges [0,5000)" in out.stdout
    assert out.stdout.strip().endswith("=> no variant (NOT_IN_TRAFFIC)")


def test_invalid_snapshot_is_refused_with_fields(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(EXAMPLE.read_text().replace("{key: control, weight: 3334}", "{key: control, weight: 3000}"))
    out = run("assign", "--snapshot", str(bad), "--unit", "user_id=1")
    assert out.returncode != 0
    assert "experiments[search_rank].variants: weights sum to 9666, want 10000" in out.stderr
