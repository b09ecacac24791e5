"""Why an assignment came out the way it did, in the order DESIGN.md section 2 decides."""

from __future__ import annotations

import enum


class Reason(enum.Enum):
    """The reason attached to every assignment; the value is the contract's name."""

    UNKNOWN_EXPERIMENT = "UNKNOWN_EXPERIMENT"  # 1. not in the snapshot
    NO_UNIT = "NO_UNIT"  # 2. no (non-empty) id of the experiment's unit type
    OVERRIDE = "OVERRIDE"  # 3. forced by the overrides map (QA)
    NOT_RUNNING = "NOT_RUNNING"  # 4. DRAFT, PAUSED, CONCLUDED, REVERTED
    SHIPPED = "SHIPPED"  # 4. SHIPPED: the shipped variant for eligible units
    NOT_ELIGIBLE = "NOT_ELIGIBLE"  # 5. a targeting rule failed
    HOLDOUT = "HOLDOUT"  # 6. held out by a holdout covering the layer
    NOT_IN_TRAFFIC = "NOT_IN_TRAFFIC"  # 7./8. outside the experiment's ranges
    ASSIGNED = "ASSIGNED"  # 8. hashed into a variant

    @property
    def proto_name(self) -> str:
        """The name of the matching `splitline.v1.Reason` enum value."""
        return "REASON_" + self.value
