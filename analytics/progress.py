"""A one-line text progress bar on stderr for long pipeline runs (no dependency)."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class ProgressBar:
    """Call with (stage, done, total); redraws in place, only on a terminal unless forced."""

    def __init__(self, stream: TextIO | None = None, enabled: bool | None = None, width: int = 30) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.width = width
        self.started = time.monotonic()

    def __call__(self, stage: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        filled = self.width * done // max(total, 1)
        elapsed = time.monotonic() - self.started
        bar = "#" * filled + "-" * (self.width - filled)
        self.stream.write(f"\r[{bar}] {done}/{total} {stage:<20} {elapsed:6.1f}s")
        if done >= total:
            self.stream.write("\n")
        self.stream.flush()
