"""What the client returns: the core's decision, bound to the unit it was made for."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from splitline.core.evaluator import Assignment
from splitline.core.reasons import Reason


class UnitAssignment:
    """A core `Assignment` plus what is needed to log its exposure later.

    `expose(assignment)` must work long after the decision (a page rendered
    now, a variant shown on scroll), so the answer carries its unit and the
    config revision it was made under. `detail` is empty for a normal answer
    and explains a default one ("no snapshot loaded", "sidecar unavailable:
    ..."); the reason is then UNKNOWN_EXPERIMENT, the contract's answer for an
    experiment the client cannot see.

    It wraps the core's prebuilt, immutable `Assignment` instead of
    subclassing it: a frozen dataclass costs ~1 us more per call to build,
    a fifth of the local-mode budget. Treat instances as read-only.
    """

    __slots__ = ("decision", "detail", "revision", "unit_id", "unit_type")

    def __init__(
        self, decision: Assignment, unit_type: str = "", unit_id: str = "", revision: int = 0, detail: str = ""
    ) -> None:
        self.decision = decision
        self.unit_type = unit_type
        self.unit_id = unit_id
        self.revision = revision
        self.detail = detail

    @property
    def experiment_key(self) -> str:
        return self.decision.experiment_key

    @property
    def variant(self) -> str | None:
        """The variant key, or None when the unit sees no variant (the caller's default)."""
        return self.decision.variant

    @property
    def reason(self) -> Reason:
        return self.decision.reason

    @property
    def params(self) -> Mapping[str, Any]:
        """The variant's JSON params (read-only); empty without a variant."""
        return self.decision.params

    @property
    def forced(self) -> bool:
        """True when an override chose the variant (logged as forced, excluded from analysis)."""
        return self.decision.reason is Reason.OVERRIDE

    @property
    def in_experiment(self) -> bool:
        """True when the answer is an exposure to log (ASSIGNED or OVERRIDE)."""
        reason = self.decision.reason
        return reason is Reason.ASSIGNED or reason is Reason.OVERRIDE

    def _key(self) -> tuple[object, ...]:
        return (self.decision, self.unit_type, self.unit_id, self.revision, self.detail)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, UnitAssignment) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash((self.experiment_key, self.variant, self.unit_type, self.unit_id, self.revision))

    def __repr__(self) -> str:
        return (
            f"UnitAssignment(experiment_key={self.experiment_key!r}, variant={self.variant!r}, "
            f"reason={self.reason.value}, params={dict(self.params)!r}, unit_type={self.unit_type!r}, "
            f"unit_id={self.unit_id!r}, revision={self.revision}"
            + (f", detail={self.detail!r})" if self.detail else ")")
        )
