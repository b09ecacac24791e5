"""Sufficient statistics as an aligned text table, with the mean a reader looks for first."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

COLUMNS: Final = ("experiment_key", "analysis_period", "as_of", "metric", "metric_kind", "variant", "n",
                  "mean", "sum_y", "sum_y2", "sum_x", "sum_d")


def _mean(row: dict[str, Any]) -> float | None:
    if row["metric_kind"] == "ratio":
        return row["sum_y"] / row["sum_d"] if row["sum_d"] else None
    return row["sum_y"] / row["n"] if row["n"] else None


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    """`mean` is Σy/n (Σy/Σd for ratios): a point estimate, not a test result."""
    cells = [[_cell(_mean(r) if c == "mean" else r[c]) for c in COLUMNS] for r in rows]
    header = ["experiment" if c == "experiment_key" else "period" if c == "analysis_period" else
              "kind" if c == "metric_kind" else c for c in COLUMNS]
    widths = [max(len(h), *(len(row[i]) for row in cells)) for i, h in enumerate(header)]
    numeric = {i for i, c in enumerate(COLUMNS) if c in ("n", "mean", "sum_y", "sum_y2", "sum_x", "sum_d",
                                                          "analysis_period")}

    def line(values: list[str]) -> str:
        return "  ".join(v.rjust(w) if i in numeric else v.ljust(w)
                         for i, (v, w) in enumerate(zip(values, widths, strict=True))).rstrip()

    return "\n".join([line(header), line(["-" * w for w in widths]), *(line(r) for r in cells)])
