"""PNG charts for `splitline results --plot DIR` (matplotlib, Agg backend, no display needed).

Two kinds: per experiment, every metric's relative effect with its fixed-horizon confidence
interval and its (wider) confidence sequence; per metric, the cumulative effect day by day with
its confidence sequence — the chart that shows why peeking at the interval is unsafe and peeking at
the sequence is fine.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from splitline.analytics.stats.report import ExperimentReport


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


def plot_effects(report: ExperimentReport, out_dir: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cells = [c for c in report.cells if c.values["rel_effect"] is not None]
    fig, ax = plt.subplots(figsize=(8, 1.0 + 0.6 * max(1, len(cells))))
    for i, c in enumerate(cells):
        v = c.values
        y = len(cells) - 1 - i
        ax.plot([100 * v["rel_cs_low"], 100 * v["rel_cs_high"]], [y, y], color="0.75", lw=6,
                label="confidence sequence" if i == 0 else None)
        ax.plot([100 * v["rel_ci_low"], 100 * v["rel_ci_high"]], [y, y], color="C0", lw=2,
                label="95% CI (fixed horizon)" if i == 0 else None)
        ax.plot([100 * v["rel_effect"]], [y], "o", color="C3" if c.decision in ("LOSE", "BREACH") else "C0")
    ax.axvline(0, color="k", lw=0.8)
    ax.set_yticks(range(len(cells)), [f"{c.metric} / {c.variant}\n{c.decision}" for c in reversed(cells)])
    ax.set_xlabel("relative effect vs control (%)")
    title = f"{report.key}" + (" — SRM: RESULTS BLOCKED" if report.srm["blocked"] else "")
    ax.set_title(title)
    if cells:
        ax.legend(loc="best", fontsize="small")
    fig.tight_layout()
    path = out_dir / f"{_safe(report.key)}_effects.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_timeline(days: Sequence[ExperimentReport], out_dir: Path) -> list[Path]:
    """One chart per metric × variant: cumulative relative effect and confidence sequence by day."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series: dict[tuple[str, str], list[tuple[str, float, float, float]]] = {}
    for rep in days:
        for c in rep.cells:
            v = c.values
            if v["rel_effect"] is None or v["rel_cs_low"] is None:
                continue
            series.setdefault((c.metric, c.variant), []).append(
                (rep.as_of, 100 * v["rel_effect"], 100 * v["rel_cs_low"], 100 * v["rel_cs_high"]))
    paths = []
    key = days[-1].key if days else "experiment"
    for (metric, variant), pts in series.items():
        pts.sort()
        x = list(range(len(pts)))
        fig, ax = plt.subplots(figsize=(8, 4))
        ax.fill_between(x, [p[2] for p in pts], [p[3] for p in pts], color="0.85", label="confidence sequence")
        ax.plot(x, [p[1] for p in pts], "o-", color="C0", label="cumulative relative effect")
        ax.axhline(0, color="k", lw=0.8)
        ax.set_xticks(x, [p[0] for p in pts], rotation=45, ha="right", fontsize="small")
        ax.set_ylabel("relative effect vs control (%)")
        ax.set_title(f"{key}: {metric} ({variant})")
        ax.legend(loc="best", fontsize="small")
        fig.tight_layout()
        path = out_dir / f"{_safe(key)}_{_safe(metric)}_{_safe(variant)}_timeline.png"
        fig.savefig(path, dpi=100)
        plt.close(fig)
        paths.append(path)
    return paths
