"""splitline.analytics.stats: the statistics engine (DESIGN.md section 6, issue 8).

Pure, vectorised functions from per-variant sufficient statistics to effects, tests and
decisions; the CLI (`splitline analyze|plan|results|guardrails`) and the guardrail worker are thin
layers over them. Only the names in `__all__` are the public API.

Exports load lazily (PEP 562): `splitline` imports every component's CLI module to build its
parser, and that must not pay for numpy and scipy when the command is, say, `splitline assign`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from splitline.analytics.stats.decisions import Decision, Decisions, Role, Rule, decide
    from splitline.analytics.stats.engine import Effects, analyze, mixture_variance, msprt
    from splitline.analytics.stats.errors import ErrorCode, InputError
    from splitline.analytics.stats.multiple import Correction, adjust
    from splitline.analytics.stats.power import Plan, minimum_detectable_effect, proportion_sd, sample_size
    from splitline.analytics.stats.srm import SRM_ALPHA, SrmResult, srm_test
    from splitline.analytics.stats.statistics import MetricKind, SufficientStats

_EXPORTS: dict[str, str] = {
    "Decision": "decisions", "Decisions": "decisions", "Role": "decisions", "Rule": "decisions",
    "decide": "decisions",
    "Effects": "engine", "analyze": "engine", "mixture_variance": "engine", "msprt": "engine",
    "ErrorCode": "errors", "InputError": "errors",
    "Correction": "multiple", "adjust": "multiple",
    "Plan": "power", "minimum_detectable_effect": "power", "proportion_sd": "power", "sample_size": "power",
    "SRM_ALPHA": "srm", "SrmResult": "srm", "srm_test": "srm",
    "MetricKind": "statistics", "SufficientStats": "statistics",
}

__all__ = [
    "SRM_ALPHA",
    "Correction",
    "Decision",
    "Decisions",
    "Effects",
    "ErrorCode",
    "InputError",
    "MetricKind",
    "Plan",
    "Role",
    "Rule",
    "SrmResult",
    "SufficientStats",
    "adjust",
    "analyze",
    "decide",
    "minimum_detectable_effect",
    "mixture_variance",
    "msprt",
    "proportion_sd",
    "sample_size",
    "srm_test",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
