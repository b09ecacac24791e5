"""The `splitline` command: one entry point, sub-commands contributed by components.

Each module in COMMAND_MODULES exposes `register(subparsers)`, which adds its
sub-commands and sets `handler` (a function taking the parsed args and
returning an exit code). Registration must stay cheap: heavy imports (grpc
servers, DuckDB, Kafka clients) happen inside handlers. A component whose
module is not present in this installation simply contributes nothing.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

COMMAND_MODULES: tuple[str, ...] = (
    "splitline.cli.assign",
    "splitline.control_plane.cli",
    "splitline.sidecar.cli",
    "splitline.analytics.cli",
    "splitline.analytics.stats.cli",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="splitline", description="Splitline experimentation platform")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name is not None and name.startswith(exc.name):
                continue  # component not part of this installation
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    try:
        return int(handler(args))
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
