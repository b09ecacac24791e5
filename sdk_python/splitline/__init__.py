"""Splitline: consistent experiment assignment, exposure logging and analysis.

The bare install is the SDK and the pure assignment core (`splitline.core`);
components live in `splitline.sidecar`, `splitline.control_plane` and
`splitline.analytics`, generated protobuf code in `splitline.v1`.
"""

from splitline.core import Assignment, Reason

__version__ = "0.1.0"

__all__ = ["Assignment", "Reason", "__version__"]
