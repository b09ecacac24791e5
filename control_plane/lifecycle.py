"""The experiment state machine (DESIGN.md section 4) as data.

    DRAFT -> RUNNING <-> PAUSED
    RUNNING | PAUSED -> CONCLUDED -> SHIPPED | REVERTED
    DRAFT | CONCLUDED | SHIPPED | REVERTED -> ARCHIVED

Statuses that hold layer ranges are RUNNING and PAUSED (a paused experiment
keeps its units so resuming does not reshuffle them); concluding frees them.
"""

from __future__ import annotations

from typing import Final

from splitline.control_plane.errors import InvalidTransition
from splitline.v1 import config_pb2

S = config_pb2
ACTIONS: Final[dict[str, tuple[frozenset[int], int]]] = {
    "launch": (frozenset({S.EXPERIMENT_STATUS_DRAFT}), S.EXPERIMENT_STATUS_RUNNING),
    "ramp": (frozenset({S.EXPERIMENT_STATUS_RUNNING}), S.EXPERIMENT_STATUS_RUNNING),
    "pause": (frozenset({S.EXPERIMENT_STATUS_RUNNING}), S.EXPERIMENT_STATUS_PAUSED),
    "resume": (frozenset({S.EXPERIMENT_STATUS_PAUSED}), S.EXPERIMENT_STATUS_RUNNING),
    "conclude": (
        frozenset({S.EXPERIMENT_STATUS_RUNNING, S.EXPERIMENT_STATUS_PAUSED}),
        S.EXPERIMENT_STATUS_CONCLUDED,
    ),
    "ship": (frozenset({S.EXPERIMENT_STATUS_CONCLUDED}), S.EXPERIMENT_STATUS_SHIPPED),
    "revert": (frozenset({S.EXPERIMENT_STATUS_CONCLUDED}), S.EXPERIMENT_STATUS_REVERTED),
    "archive": (
        frozenset(
            {
                S.EXPERIMENT_STATUS_DRAFT,
                S.EXPERIMENT_STATUS_CONCLUDED,
                S.EXPERIMENT_STATUS_SHIPPED,
                S.EXPERIMENT_STATUS_REVERTED,
            }
        ),
        S.EXPERIMENT_STATUS_ARCHIVED,
    ),
}
HOLDS_RANGES: Final = frozenset({S.EXPERIMENT_STATUS_RUNNING, S.EXPERIMENT_STATUS_PAUSED})


def status_name(status: int) -> str:
    return config_pb2.ExperimentStatus.Name(status).removeprefix("EXPERIMENT_STATUS_")  # type: ignore[arg-type]


def next_status(action: str, current: int, key: str) -> int:
    """The status after `action`; raises InvalidTransition naming what is allowed."""
    allowed, target = ACTIONS[action]
    if current not in allowed:
        names = " or ".join(sorted(status_name(s) for s in allowed))
        raise InvalidTransition(
            f"cannot {action} experiment {key!r}: it is {status_name(current)}, {action} needs {names}"
        )
    return target
