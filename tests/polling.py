"""Waiting in tests: poll a condition until it holds, with a time bound that is a limit, never a speed requirement.

`interval` is the pause between two looks; 0 suits a condition that blocks by itself (reading a frame with a
timeout, say).
"""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

POLL_INTERVAL_S = 0.02
DEFAULT_TIMEOUT_S = 15.0
_T = TypeVar("_T")


def _poll(condition: Callable[[], _T], timeout: float, interval: float) -> tuple[_T, float | None]:
    """The last value of `condition` and how many seconds it took to be truthy (None if not within `timeout`)."""
    started = time.monotonic()
    while not (value := condition()):
        if time.monotonic() - started > timeout:
            return value, None
        time.sleep(interval)
    return value, time.monotonic() - started


def seconds_until(condition: Callable[[], object], timeout: float, interval: float = POLL_INTERVAL_S) -> float | None:
    """How many seconds `condition` took to hold (0.0 if it held at once), or None if not within `timeout`."""
    return _poll(condition, timeout, interval)[1]


def wait_for(condition: Callable[[], object], timeout: float = DEFAULT_TIMEOUT_S,
             interval: float = POLL_INTERVAL_S) -> bool:
    """Whether `condition` held within `timeout` seconds."""
    return seconds_until(condition, timeout, interval) is not None


def wait_until(condition: Callable[[], object], timeout: float, what: str, interval: float = POLL_INTERVAL_S) -> None:
    """Poll `condition` until it holds; fail saying `what` did not happen within `timeout` s."""
    if not wait_for(condition, timeout, interval):
        raise AssertionError(f"{what}: not within {timeout:.0f} s")


def first_value(produce: Callable[[], _T | None], timeout: float, interval: float = POLL_INTERVAL_S) -> _T | None:
    """The first truthy value `produce` returns within `timeout` seconds, or None."""
    value, seconds = _poll(produce, timeout, interval)
    return value if seconds is not None else None
