"""The assignment walk-through: the first part of `make demo` (the pure core alone).

Today: an assignment walk-through on the sample snapshot (examples/snapshot.yaml):
load and validate it, assign a few users, explain one decision step by step,
show that 100,000 users split as the weights say, and that a ramp moves nobody
who was already in. Later stages (control plane, sidecar, analytics) extend it.
"""

from __future__ import annotations

import copy
from collections import Counter
from pathlib import Path

from splitline.core import Reason, compile_snapshot, explain
from splitline.snapshot_file import load_snapshot
from splitline.v1 import config_pb2

SAMPLE = Path(__file__).resolve().parents[2] / "examples" / "snapshot.yaml"


def _title(text: str) -> None:
    print(f"\n== {text} " + "=" * max(0, 70 - len(text)))


def assignment_walkthrough(path: Path = SAMPLE) -> None:
    snapshot = load_snapshot(path)
    compiled = compile_snapshot(snapshot)
    _title(f"snapshot {path.name}: revision {compiled.revision}, {len(compiled.experiments)} experiments")
    for key, exp in sorted(compiled.experiments.items()):
        status = config_pb2.ExperimentStatus.Name(exp.source.status).removeprefix("EXPERIMENT_STATUS_")
        print(f"  {key:<16} layer={exp.layer.id:<9} unit={exp.unit_type:<8} status={status} "
              f"variants={[v.key for v in exp.source.variants]}")

    _title("assign_all for a few users (country=US, app_version=2.4.0)")
    attrs = {"country": "US", "app_version": "2.4.0"}
    for uid in ("42", "1001", "qa-alice", "7"):
        results = compiled.assign_all({"user_id": uid}, attrs)
        shown = ", ".join(f"{a.experiment_key}={a.variant} ({a.reason.value})" for a in results) or "none"
        print(f"  user {uid:<9} -> {shown}")

    _title("explain: why does user 7 get no variant of checkout_v2?")
    for i, step in enumerate(explain(compiled, "checkout_v2", {"user_id": "7"}, attrs).steps, 1):
        print(f"  {i}. {step}")

    _title("100,000 users through checkout_v2 (50% of its layer, 5% global holdout)")
    reasons: Counter[str] = Counter()
    for i in range(100_000):
        result = compiled.assign("checkout_v2", {"user_id": f"user-{i}"}, attrs)
        reasons[result.variant or result.reason.value] += 1
    for name, count in reasons.most_common():
        print(f"  {name:<16} {count:>6}  {count / 1000:5.1f}%")

    _title("ramp checkout_v2 from [0,5000) to [0,5000)+[5000,8000): nobody already in moves")
    ramped = copy.deepcopy(snapshot)
    target = next(e for e in ramped.experiments if e.key == "checkout_v2")
    target.ranges.add(start=5000, end=8000)
    after = compile_snapshot(ramped)
    moved = joined = 0
    for i in range(100_000):
        units = {"user_id": f"user-{i}"}
        old = compiled.assign("checkout_v2", units, attrs)
        new = after.assign("checkout_v2", units, attrs)
        if old.reason is Reason.ASSIGNED and new != old:
            moved += 1
        if old.reason is not Reason.ASSIGNED and new.reason is Reason.ASSIGNED:
            joined += 1
    print(f"  joined: {joined}, moved: {moved}")


