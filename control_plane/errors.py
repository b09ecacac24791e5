"""Domain errors, each knowing its gRPC status; one decorator maps them (servicers.py).

ControlPlaneError
├── NotFound              NOT_FOUND
├── AlreadyExists         ALREADY_EXISTS
├── InvalidDefinition     INVALID_ARGUMENT  (field-level errors)
├── StaleVersion          FAILED_PRECONDITION (optimistic concurrency)
├── InvalidTransition     FAILED_PRECONDITION (lifecycle)
├── LayerFull             RESOURCE_EXHAUSTED (says how much is free)
└── Unavailable           UNAVAILABLE (the store is down)
"""

from __future__ import annotations

from collections.abc import Sequence

import grpc
from splitline.core.validate import FieldError


class ControlPlaneError(Exception):
    """An error a caller can act on; `code` is its gRPC status."""

    code: grpc.StatusCode = grpc.StatusCode.INTERNAL


class NotFound(ControlPlaneError):
    code = grpc.StatusCode.NOT_FOUND


class AlreadyExists(ControlPlaneError):
    code = grpc.StatusCode.ALREADY_EXISTS


class InvalidDefinition(ControlPlaneError):
    """A definition that fails validation; `errors` names every bad field."""

    code = grpc.StatusCode.INVALID_ARGUMENT

    def __init__(self, errors: Sequence[FieldError]) -> None:
        super().__init__("invalid definition: " + "; ".join(str(e) for e in errors))
        self.errors = list(errors)


class StaleVersion(ControlPlaneError):
    code = grpc.StatusCode.FAILED_PRECONDITION


class InvalidTransition(ControlPlaneError):
    code = grpc.StatusCode.FAILED_PRECONDITION


class LayerFull(ControlPlaneError):
    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class Unavailable(ControlPlaneError):
    code = grpc.StatusCode.UNAVAILABLE
