"""The `units` stage's integer `unit_key`: one per (experiment, period, unit type, unit id), never shared.

Every join after `units` is on that key alone (sql.py), so two units that
differ in any one of the four columns must never get the same key, whatever
the number of experiments and periods.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from splitline.analytics.metrics import parse_metrics
from splitline.analytics.pipeline.duckdb_engine import DuckDBEngine
from splitline.analytics.pipeline.engine import run_pipeline
from splitline.analytics.pipeline.tables import Period

from tests.analytics.events import DAY1, DAY2, at, exposure, outcome, write_events

REVENUE = parse_metrics([{"name": "revenue", "kind": "mean", "event": "purchase"}])


def test_unit_key_is_one_to_one_with_experiment_period_and_unit(tmp_path: Path) -> None:
    exposures = []
    outcomes = []
    for experiment in ("a", "b", "c"):
        for unit in ("u1", "u2", "u10"):
            for unit_type in ("user_id", "session_id"):
                for day in (DAY1, DAY2):
                    exposures.append(exposure(f"{experiment}-{unit}-{unit_type}-{day}", unit, "control",
                                              at(day, 10), experiment=experiment, unit_type=unit_type))
        outcomes.append(outcome(f"o-{experiment}", "u1", "purchase", 1.0, at(DAY2, 12)))
    write_events(tmp_path, exposures, outcomes)
    split = dt.datetime.combine(DAY2, dt.time())
    end = dt.datetime.combine(DAY2, dt.time(23))
    periods = [Period(e, p, start, stop) for e in ("a", "b", "c")
               for p, (start, stop) in enumerate([(dt.datetime(2000, 1, 1), split), (split, end)])]

    engine = DuckDBEngine()
    engine.bind_parquet(tmp_path)
    run_pipeline(engine, REVENUE, end=end, periods=periods)
    units = engine.query("SELECT experiment_key, analysis_period, unit_type, unit_id, unit_key FROM units").to_pylist()
    engine.close()

    assert len(units) == 3 * 2 * 3 * 2  # experiments x periods x unit ids x unit types
    keys = {r["unit_key"] for r in units}
    assert len(keys) == len(units)
    assert all(isinstance(k, int) and k > 0 for k in keys)


def test_same_unit_id_of_another_type_keeps_its_own_outcomes(tmp_path: Path) -> None:
    # u1 as a user and u1 as a session in one experiment: each sees only its own unit type's outcomes.
    exposures = [exposure("e1", "u1", "control", at(DAY1, 10)),
                 exposure("e2", "u1", "treatment", at(DAY1, 10), unit_type="session_id")]
    outcomes = [outcome("o1", "u1", "purchase", 3.0, at(DAY1, 11)),
                outcome("o2", "u1", "purchase", 5.0, at(DAY1, 11), unit_type="session_id")]
    write_events(tmp_path, exposures, outcomes)
    engine = DuckDBEngine()
    engine.bind_parquet(tmp_path)
    result = run_pipeline(engine, REVENUE)
    engine.close()
    got = {r["variant"]: (r["n"], r["sum_y"]) for r in result.stats.to_pylist()}
    assert got == {"control": (1, 3.0), "treatment": (1, 5.0)}
