"""Waiting in tests: poll a condition until it holds, with a time bound that is a limit, never a speed requirement."""
from __future__ import annotations

import time
from collections.abc import Callable

POLL_INTERVAL_S = 0.02
DEFAULT_TIMEOUT_S = 15.0


def seconds_until(condition: Callable[[], object], timeout: float) -> float | None:
    """How many seconds `condition` took to hold (0.0 if it held at once), or None if not within `timeout`."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            return None
        time.sleep(POLL_INTERVAL_S)
    return time.monotonic() - started


def wait_for(condition: Callable[[], object], timeout: float = DEFAULT_TIMEOUT_S) -> bool:
    """Whether `condition` held within `timeout` seconds."""
    return seconds_until(condition, timeout) is not None


def wait_until(condition: Callable[[], object], timeout: float, what: str) -> None:
    """Poll `condition` until it holds; fail saying `what` did not happen within `timeout` s."""
    if not wait_for(condition, timeout):
        raise AssertionError(f"{what}: not within {timeout:.0f} s")
