"""Value types for command-line options: whole and finite numbers within bounds, lists of them, and output folders.

Each is an argparse `type=`; a value it refuses is an argparse error, which the CLI prints as one line (exit 2).
"""
from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from pathlib import Path


def _bounds_text(minimum: float | None, maximum: float | None, above: float | None) -> str:
    if above is not None:
        return f"more than {above:g}" + (f" and at most {maximum:g}" if maximum is not None else "")
    if maximum is None:
        return f"at least {minimum:g}"
    if minimum is None:
        return f"at most {maximum:g}"
    return f"between {minimum:g} and {maximum:g}"


def _in_bounds(value: float, minimum: float | None, maximum: float | None, above: float | None) -> bool:
    return ((minimum is None or value >= minimum) and (maximum is None or value <= maximum)
            and (above is None or value > above))


def whole(minimum: int | None = None, maximum: int | None = None) -> Callable[[str], int]:
    """A whole number within [minimum, maximum] (either bound may be left out)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
        if not _in_bounds(value, minimum, maximum, None):
            raise argparse.ArgumentTypeError(f"must be {_bounds_text(minimum, maximum, None)}, not {value}")
        return value
    return parse


def number(minimum: float | None = None, maximum: float | None = None, *,
           above: float | None = None) -> Callable[[str], float]:
    """A finite number within [minimum, maximum], or more than `above` (NaN and infinities are refused)."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"must be a finite number, not {text!r}")
        if not _in_bounds(value, minimum, maximum, above):
            raise argparse.ArgumentTypeError(f"must be {_bounds_text(minimum, maximum, above)}, not {text}")
        return value
    return parse


def whole_list(minimum: int = 1) -> Callable[[str], tuple[int, ...]]:
    """Comma-separated whole numbers, each at least `minimum`, e.g. "1,8,32"; at least one."""
    item = whole(minimum)

    def parse(text: str) -> tuple[int, ...]:
        values = tuple(item(part.strip()) for part in text.split(",") if part.strip())
        if not values:
            raise argparse.ArgumentTypeError(f"expected comma-separated whole numbers like 1,8,32, got {text!r}")
        return values
    return parse


def _check_not_below_a_file(path: Path) -> None:
    existing = next((parent for parent in path.parents if parent.exists()), None)
    if existing is not None and not existing.is_dir():
        raise argparse.ArgumentTypeError(f"{existing} is a file, so {path} cannot be made")


def output_folder(text: str) -> Path:
    """A folder to write into: it may not exist yet, but it may not be a file (or lie below one)."""
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a file, not a folder")
    _check_not_below_a_file(path)
    return path


def output_file(text: str) -> Path:
    """A file to write: it may not exist yet, but it may not be a folder (or lie below a file)."""
    path = Path(text)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a folder; give a file name")
    _check_not_below_a_file(path)
    return path


POSITIVE = whole(1)
NON_NEGATIVE = whole(0)
PORT = whole(1, 65535)
SCORE = number(0.0, 1.0)  # a class score threshold
SECONDS = number(above=0.0)
RATE = number(0.0)  # a learning rate, momentum or weight decay
