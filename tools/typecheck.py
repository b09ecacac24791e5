"""Run `mypy --strict` over the whole `splitline` namespace.

The namespace is assembled from several folders by setuptools' package-dir map
(DESIGN.md section 1), which mypy cannot follow; so we build a throwaway tree of
symlinks under build/typecheck that has the installed shape, and check that.
Extra arguments are passed to mypy.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VIEW = ROOT / "build" / "typecheck"
MOUNTS = {"sidecar": ROOT / "sidecar", "control_plane": ROOT / "control_plane", "analytics": ROOT / "analytics"}


def build_view() -> Path:
    if VIEW.exists():
        shutil.rmtree(VIEW)
    package = VIEW / "splitline"
    package.mkdir(parents=True)
    for entry in (ROOT / "sdk_python" / "splitline").iterdir():
        if entry.name in ("__pycache__",) or entry.name in MOUNTS:
            continue
        os.symlink(entry, package / entry.name)
    for name, folder in MOUNTS.items():
        os.symlink(folder, package / name)
    return VIEW


def main() -> int:
    view = build_view()
    env = {**os.environ, "MYPYPATH": str(view)}
    cmd = [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"),
           "-p", "splitline", *sys.argv[1:]]
    return subprocess.run(cmd, cwd=view, env=env, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
