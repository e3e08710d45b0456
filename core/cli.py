"""The one `python -m core` command line; each subcommand lives in its own module under core.commands."""
from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from core.errors import UserError

# Each module exposes `register(subparsers)` and sets `func(args) -> int` on the parsers it adds.
COMMAND_MODULES: tuple[str, ...] = (
    "core.commands.auth",
    "core.commands.benchmark",
    "core.commands.dataset",
    "core.commands.detect",
    "core.commands.evaluate",
    "core.commands.export",
    "core.commands.export_triton",
    "core.commands.jetson",
    "core.commands.optimize",
    "core.commands.runs",
    "core.commands.serve",
    "core.commands.stream",
    "core.commands.streams",
    "core.commands.train",
    "core.commands.report",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m core", description="edge detector studio command line")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args) or 0)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
