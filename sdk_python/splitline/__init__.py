"""Splitline: consistent experiment assignment, exposure logging and analysis.

The bare install is the SDK and the pure assignment core (`splitline.core`);
components live in `splitline.sidecar`, `splitline.control_plane` and
`splitline.analytics`, generated protobuf code in `splitline.v1`.
"""

from typing import TYPE_CHECKING, Any

from splitline.core import Assignment, Reason

if TYPE_CHECKING:
    from splitline.client import AsyncClient, Client

__version__ = "0.1.0"

__all__ = ["Assignment", "AsyncClient", "Client", "Reason", "__version__"]


def __getattr__(name: str) -> Any:
    """`splitline.Client` and `splitline.AsyncClient`, imported on first use (asyncio, sockets)."""
    if name in ("Client", "AsyncClient"):
        from splitline import client

        return getattr(client, name)
    raise AttributeError(f"module 'splitline' has no attribute {name!r}")
