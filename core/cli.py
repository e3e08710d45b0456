"""The one `python -m core` command line; each subcommand lives in its own module under core.commands."""
from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence
from typing import NoReturn

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
    "core.commands.send_receive",
    "core.commands.stream_setup",
    "core.commands.train",
    "core.commands.report",
)


class _Parser(argparse.ArgumentParser):
    """An argparse parser whose input errors are `UserError`s: one line and exit 2, like every other input error
    (argparse's own would print the usage block first); subcommand parsers are of this class too."""

    def error(self, message: str) -> NoReturn:
        raise UserError(f"{self.prog}: {message} (see {self.prog} --help)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m core", description="edge detector studio command line")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                            format="%(levelname)s %(name)s: %(message)s")
        return int(args.func(args) or 0)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
