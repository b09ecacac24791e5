"""Where things live in the store.

Everything a sidecar needs sits under CONFIG_PREFIX, so one watch on it is the
config stream; audit records, metrics and layer allocation markers sit beside it.
"""

from __future__ import annotations

from typing import Final

ROOT: Final = "/splitline/"
CONFIG_PREFIX: Final = ROOT + "config/"
EXPERIMENTS: Final = CONFIG_PREFIX + "experiments/"
LAYERS: Final = CONFIG_PREFIX + "layers/"
HOLDOUTS: Final = CONFIG_PREFIX + "holdouts/"
METRICS: Final = ROOT + "metrics/"
AUDIT: Final = ROOT + "audit/"
# Touched by every change of a layer's allocation; launches and ramps compare it,
# so two racing launches in one layer cannot both win.
ALLOCATION: Final = ROOT + "allocation/"


def experiment(key: str) -> str:
    return EXPERIMENTS + key


def layer(layer_id: str) -> str:
    return LAYERS + layer_id


def holdout(holdout_id: str) -> str:
    return HOLDOUTS + holdout_id


def metric(name: str) -> str:
    return METRICS + name


def allocation(layer_id: str) -> str:
    return ALLOCATION + layer_id


def audit(time_ns: int, unique: str) -> str:
    """Sortable by time; `unique` keeps two records of one nanosecond apart."""
    return f"{AUDIT}{time_ns:020d}-{unique}"
