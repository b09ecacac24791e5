"""OpenFeature provider for Splitline: experiment keys are flag keys (needs `splitline[openfeature]`).

Mapping:
- the flag key is the experiment key; the evaluation context's targeting key is
  the unit id of `unit_type` (default `user_id`); a context attribute `units`
  (a mapping) adds ids of other unit types; every other scalar attribute is a
  targeting attribute, encoded by the contract's rules (`true`, `16`, `0.5`);
- string flags resolve to the variant key; boolean, integer, float and object
  flags read the variant's params: `params[value_param]` (default "value") when
  it has the flag's type, the whole params object for object flags, else the
  variant key when it parses ("true"/"on"/"treatment", "false"/"off"/"control",
  "42"); anything else is TYPE_MISMATCH and the caller's default;
- no variant -> the caller's default with reason DEFAULT (or an error code:
  FLAG_NOT_FOUND, TARGETING_KEY_MISSING, PROVIDER_NOT_READY), and Splitline's
  own reason in `flag_metadata["splitline_reason"]`;
- the exposure is logged by `ExposureHook` after a successful evaluation, which
  the provider registers itself: teams on OpenFeature get correct exposures
  (deduplicated, never for SHIPPED, never when the default was returned)
  without extra code.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final, TypeVar, cast

from openfeature.evaluation_context import EvaluationContext
from openfeature.exception import ErrorCode
from openfeature.flag_evaluation import FlagEvaluationDetails, FlagResolutionDetails, FlagValueType
from openfeature.flag_evaluation import Reason as OFReason
from openfeature.hook import Hook, HookContext, HookHints
from openfeature.provider import AbstractProvider, Metadata

from splitline.client import Client, UnitAssignment
from splitline.core.evaluator import Assignment
from splitline.core.reasons import Reason

T = TypeVar("T")

PROVIDER_NAME: Final = "splitline"
UNITS_ATTRIBUTE: Final = "units"
_META_UNIT_TYPE: Final = "splitline_unit_type"
_META_UNIT_ID: Final = "splitline_unit_id"
_META_REVISION: Final = "splitline_revision"
_META_REASON: Final = "splitline_reason"

_OF_REASONS: Final = {
    Reason.ASSIGNED: OFReason.SPLIT,
    Reason.OVERRIDE: OFReason.TARGETING_MATCH,
    Reason.SHIPPED: OFReason.TARGETING_MATCH,
}
_ERRORS: Final = {
    Reason.UNKNOWN_EXPERIMENT: ErrorCode.FLAG_NOT_FOUND,
    Reason.NO_UNIT: ErrorCode.TARGETING_KEY_MISSING,
}
_TRUE: Final = frozenset({"true", "on", "yes", "enabled", "treatment"})
_FALSE: Final = frozenset({"false", "off", "no", "disabled", "control"})


class ExposureHook(Hook):
    """Logs the exposure after OpenFeature returned a Splitline variant to the caller.

    It runs only after a successful evaluation (OpenFeature skips `after` hooks
    on errors), so a caller that got its default never counts as exposed; the
    client's own rule then decides (ASSIGNED/OVERRIDE only, deduplicated).
    """

    def __init__(self, client: Client) -> None:
        self._client = client

    def after(
        self, hook_context: HookContext, details: FlagEvaluationDetails[FlagValueType], hints: HookHints
    ) -> None:
        meta = details.flag_metadata
        reason_name = meta.get(_META_REASON)
        if not isinstance(reason_name, str) or reason_name not in Reason.__members__:
            return  # not ours: another provider's flag
        decision = Assignment(details.flag_key, details.variant, Reason[reason_name])
        unit_type, unit_id, revision = (
            meta.get(_META_UNIT_TYPE),
            meta.get(_META_UNIT_ID),
            meta.get(_META_REVISION),
        )
        self._client.expose(
            UnitAssignment(
                decision,
                unit_type if isinstance(unit_type, str) else "",
                unit_id if isinstance(unit_id, str) else "",
                revision if isinstance(revision, int) else 0,
            )
        )


class SplitlineProvider(AbstractProvider):
    """An OpenFeature provider backed by a Splitline `Client` (local or remote mode)."""

    def __init__(
        self,
        client: Client,
        *,
        unit_type: str = "user_id",
        value_param: str = "value",
        log_exposures: bool = True,
    ) -> None:
        super().__init__()
        self.client = client
        self.unit_type = unit_type
        self.value_param = value_param
        self._hooks: list[Hook] = [ExposureHook(client)] if log_exposures else []

    def get_metadata(self) -> Metadata:
        return Metadata(name=PROVIDER_NAME)

    def get_provider_hooks(self) -> list[Hook]:
        return list(self._hooks)

    def shutdown(self) -> None:
        self.client.flush()

    # ----------------------------------------------------------------- decide

    def _decide(self, flag_key: str, context: EvaluationContext | None) -> UnitAssignment:
        units: dict[str, str] = {}
        attributes: dict[str, object] = {}
        if context is not None:
            for name, value in context.attributes.items():
                if name == UNITS_ATTRIBUTE and isinstance(value, Mapping):
                    units.update(
                        {k: v for k, v in value.items() if isinstance(k, str) and isinstance(v, str)}
                    )
                else:
                    attributes[name] = value
            if context.targeting_key:
                units[self.unit_type] = context.targeting_key
        return self.client.assign(flag_key, units, attributes)

    def _resolve(
        self, flag_key: str, default: T, context: EvaluationContext | None, convert: Any
    ) -> FlagResolutionDetails[T]:
        try:
            a = self._decide(flag_key, context)
            meta: dict[str, bool | int | float | str] = {
                _META_REASON: a.reason.value,
                _META_UNIT_TYPE: a.unit_type,
                _META_UNIT_ID: a.unit_id,
                _META_REVISION: a.revision,
            }
            if a.variant is None:
                if a.detail:
                    code = ErrorCode.PROVIDER_NOT_READY if "snapshot" in a.detail else ErrorCode.GENERAL
                    return FlagResolutionDetails(default, code, a.detail, OFReason.ERROR, None, meta)
                error = _ERRORS.get(a.reason)
                if error is not None:
                    message = f"{flag_key}: {a.reason.value}"
                    return FlagResolutionDetails(default, error, message, OFReason.ERROR, None, meta)
                return FlagResolutionDetails(default, None, None, OFReason.DEFAULT, None, meta)
            value = convert(a)
            if value is None:
                message = f"variant {a.variant!r} of {flag_key!r} has no value of the requested type"
                return FlagResolutionDetails(
                    default, ErrorCode.TYPE_MISMATCH, message, OFReason.ERROR, None, meta
                )
            return FlagResolutionDetails(cast(T, value), None, None, _OF_REASONS[a.reason], a.variant, meta)
        except Exception as exc:  # a provider must not raise into OpenFeature's caller either
            return FlagResolutionDetails(default, ErrorCode.GENERAL, repr(exc), OFReason.ERROR)

    def _param(self, a: UnitAssignment) -> object:
        return a.params.get(self.value_param)

    def _bool(self, a: UnitAssignment) -> bool | None:
        value = self._param(a)
        if isinstance(value, bool):
            return value
        key = (a.variant or "").lower()
        return True if key in _TRUE else False if key in _FALSE else None

    def _int(self, a: UnitAssignment) -> int | None:
        value = self._param(a)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        try:
            return int(a.variant or "")
        except ValueError:
            return None

    def _float(self, a: UnitAssignment) -> float | None:
        value = self._param(a)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        try:
            return float(a.variant or "")
        except ValueError:
            return None

    def _object(self, a: UnitAssignment) -> Mapping[str, Any] | Sequence[Any] | None:
        value = self._param(a)
        if isinstance(value, (Mapping, tuple)):
            return cast("Mapping[str, Any] | Sequence[Any]", _thaw(value))
        return cast("Mapping[str, Any]", _thaw(a.params))

    # ---------------------------------------------------------------- resolve

    def resolve_boolean_details(
        self, flag_key: str, default_value: bool, evaluation_context: EvaluationContext | None = None
    ) -> FlagResolutionDetails[bool]:
        return self._resolve(flag_key, default_value, evaluation_context, self._bool)

    def resolve_string_details(
        self, flag_key: str, default_value: str, evaluation_context: EvaluationContext | None = None
    ) -> FlagResolutionDetails[str]:
        return self._resolve(flag_key, default_value, evaluation_context, lambda a: a.variant)

    def resolve_integer_details(
        self, flag_key: str, default_value: int, evaluation_context: EvaluationContext | None = None
    ) -> FlagResolutionDetails[int]:
        return self._resolve(flag_key, default_value, evaluation_context, self._int)

    def resolve_float_details(
        self, flag_key: str, default_value: float, evaluation_context: EvaluationContext | None = None
    ) -> FlagResolutionDetails[float]:
        return self._resolve(flag_key, default_value, evaluation_context, self._float)

    def resolve_object_details(
        self,
        flag_key: str,
        default_value: Sequence[FlagValueType] | Mapping[str, FlagValueType],
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[Sequence[FlagValueType] | Mapping[str, FlagValueType]]:
        return self._resolve(flag_key, default_value, evaluation_context, self._object)


def _thaw(value: object) -> object:
    """Plain dicts and lists from the core's read-only params (callers may mutate what they get)."""
    if isinstance(value, Mapping):
        return {k: _thaw(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [_thaw(v) for v in value]
    return value


__all__ = ["ExposureHook", "SplitlineProvider"]
