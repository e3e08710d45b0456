"""Supervised background threads: a loop that raises is logged (rate-limited), counted and run again, or, past a
failure budget, ended with a reason its owner can show, so no live thread dies silently.

`ErrorLog` is the rate limit on its own (the first error with its traceback, then at most one summary line per
period), for code that survives an error per item (a model failing on each frame) rather than per thread.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable

from core.timing.retry import backoff_delay

LOG_EVERY_S = 60.0


class ErrorLog:
    """Logs the first error with its traceback, then at most one summary line per `every` seconds (how many errors
    since the last line, and the newest one), never a traceback per error."""

    def __init__(self, logger: logging.Logger, what: str, *, every: float = LOG_EVERY_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.logger, self.what, self.every, self.clock = logger, what, every, clock
        self.count = 0
        self._lock = threading.Lock()
        self._unlogged = 0
        self._logged_at: float | None = None
        self.last_message: str | None = None  # the newest error, one line, and when it came (by `clock`)
        self.last_at: float | None = None

    def report(self, error: BaseException) -> None:
        """Count `error` and log it if the rate limit allows."""
        now = self.clock()
        with self._lock:
            self.count += 1
            self.last_message, self.last_at = " ".join(str(error).split()) or type(error).__name__, now
            first = self._logged_at is None
            due = first or now - self._logged_at >= self.every
            if not due:
                self._unlogged += 1
                return
            unlogged, self._unlogged, self._logged_at = self._unlogged, 0, now
        if first:
            self.logger.error("%s failed: %s", self.what, error, exc_info=error)
        else:
            self.logger.error("%s failed %d more times since the last report (errors so far %d); latest: %s: %s",
                              self.what, unlogged + 1, self.count, type(error).__name__, error)

    def newest(self) -> dict | None:
        """{"message", "age_s"} of the newest error, or None before the first."""
        with self._lock:
            message, at = self.last_message, self.last_at
        return None if at is None else {"message": message, "age_s": round(self.clock() - at, 2)}


class SupervisedThread:
    """A daemon thread running `target` until it returns. When it raises, the error goes to an `ErrorLog`, and
    `target` runs again after `retry_delay` seconds, unless `stop` is set or more than `max_failures` errors came
    within `window` seconds (None: no limit); then the thread ends with `failure` saying why.

    `on_exit(failure)` runs on the thread as it ends (failure is None after a normal return or a stop).
    """

    def __init__(self, target: Callable[[], None], *, name: str, logger: logging.Logger,
                 max_failures: int | None = None, window: float = 60.0, retry_delay: float = 0.0,
                 stop: threading.Event | None = None, on_exit: Callable[[str | None], None] | None = None,
                 log_every: float = LOG_EVERY_S, clock: Callable[[], float] = time.monotonic) -> None:
        self.target, self.name = target, name
        self.max_failures, self.window, self.retry_delay = max_failures, window, retry_delay
        self.clock = clock
        self.error_log = ErrorLog(logger, f"thread {name!r}", every=log_every, clock=clock)
        self.restarts = 0
        self.failure: str | None = None
        self._logger = logger
        self._stop = stop or threading.Event()
        self._on_exit = on_exit
        self._recent: deque[float] = deque()
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> SupervisedThread:
        self.thread.start()
        return self

    @property
    def errors(self) -> int:
        return self.error_log.count

    def is_alive(self) -> bool:
        return self.thread.is_alive()

    def join(self, timeout: float | None = None) -> None:
        self.thread.join(timeout)

    def _run(self) -> None:
        try:
            while True:
                try:
                    self.target()
                    return
                except Exception as error:  # supervision: every error is logged and counted
                    if not self._recover(error):
                        return
        except BaseException as error:  # not recoverable (SystemExit in a thread, say): still never silent
            self.failure = f"{type(error).__name__}: {error}"
            self._logger.error("thread %r ended: %s", self.name, self.failure)
            raise
        finally:
            if self._on_exit is not None:
                self._on_exit(self.failure)

    def _recover(self, error: Exception) -> bool:
        """Log and count `error`; True to run the target again."""
        self.error_log.report(error)
        now = self.clock()
        self._recent.append(now)
        while self._recent and self._recent[0] < now - self.window:
            self._recent.popleft()
        if self.max_failures is not None and len(self._recent) > self.max_failures:
            self.failure = f"{type(error).__name__}: {error} ({len(self._recent)} failures in {self.window:.0f} s)"
            self._logger.error("thread %r gave up: %s", self.name, self.failure)
            return False
        delay = backoff_delay(len(self._recent), first_s=self.retry_delay, factor=1.0)
        stopping = self._stop.wait(delay) if delay > 0 else self._stop.is_set()
        if stopping:
            return False
        self.restarts += 1
        return True
