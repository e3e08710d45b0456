"""Retrying: the backoff every retry loop of the program waits by, and a loop that retries one operation.

`backoff_delay` is the one formula (a first wait, multiplied after each failure in a row, up to a longest wait); the
downloader, the RTSP reconnects, the login throttle, the SQLite lock retries and supervised threads each take their
waits from it. `call_with_retries` is the loop for an operation that may simply be run again.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import TypeVar

_T = TypeVar("_T")


def backoff_delay(failures: int, *, first_s: float, max_s: float = math.inf, factor: float = 2.0) -> float:
    """The wait after `failures` failures in a row (1 for the first): `first_s * factor ** (failures - 1)`, at most
    `max_s` (a factor of 1 waits `first_s` every time)."""
    return min(first_s * factor ** max(failures - 1, 0), max_s)


def call_with_retries(operation: Callable[[], _T], *, retries: int, retryable: Callable[[Exception], bool],
                      wait_s: Callable[[int], float], on_retry: Callable[[Exception], None] | None = None,
                      sleep: Callable[[float], None] = time.sleep) -> _T:
    """`operation()`, run again after `wait_s(failures)` seconds each time it raises an error `retryable` accepts,
    at most `retries` times; the last error (or one not retryable) is raised as it is."""
    failures = 0
    while True:
        try:
            return operation()
        except Exception as error:
            if failures >= retries or not retryable(error):
                raise
            failures += 1
            if on_retry is not None:
                on_retry(error)
            sleep(wait_s(failures))
