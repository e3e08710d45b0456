"""The one backoff formula (with the RTSP reconnect's and the login throttle's constants) and the retry loop."""
from __future__ import annotations

import pytest

from core.access.auth import BACKOFF_FIRST_S, BACKOFF_MAX_S
from core.stream.rtsp_source import BACKOFF_INITIAL_S
from core.stream.rtsp_source import BACKOFF_MAX_S as RTSP_BACKOFF_MAX_S
from core.timing.retry import backoff_delay, call_with_retries


def test_backoff_doubles_up_to_its_cap() -> None:
    assert [backoff_delay(n, first_s=BACKOFF_INITIAL_S, max_s=RTSP_BACKOFF_MAX_S) for n in range(1, 8)] == [
        0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    assert backoff_delay(3, first_s=0.1, max_s=0.3) == 0.3
    assert [backoff_delay(n, first_s=BACKOFF_FIRST_S, max_s=BACKOFF_MAX_S) for n in (1, 2, 6, 7, 20)] == [
        1.0, 2.0, 32.0, 60.0, 60.0]


def test_a_factor_of_one_waits_the_same_every_time_and_no_failure_waits_the_first() -> None:
    assert {backoff_delay(n, first_s=0.5, factor=1.0) for n in range(1, 10)} == {0.5}
    assert backoff_delay(0, first_s=0.25) == 0.25


class Flaky:
    def __init__(self, failures: int, error: Exception) -> None:
        self.failures, self.error, self.calls = failures, error, 0

    def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return "done"


def test_retries_wait_by_the_backoff_and_stop_at_the_limit() -> None:
    waits: list[float] = []
    retried: list[Exception] = []
    flaky = Flaky(3, ConnectionError("reset"))
    result = call_with_retries(flaky, retries=3, retryable=lambda error: isinstance(error, ConnectionError),
                               wait_s=lambda failures: backoff_delay(failures, first_s=1.0), on_retry=retried.append,
                               sleep=waits.append)
    assert result == "done" and flaky.calls == 4 and waits == [1.0, 2.0, 4.0] and len(retried) == 3
    with pytest.raises(ConnectionError, match="reset"):
        call_with_retries(Flaky(3, ConnectionError("reset")), retries=2, retryable=lambda error: True,
                          wait_s=lambda failures: 0.0, sleep=waits.append)


def test_an_error_that_is_not_retryable_is_raised_at_once() -> None:
    flaky = Flaky(1, ValueError("permanent"))
    with pytest.raises(ValueError, match="permanent"):
        call_with_retries(flaky, retries=5, retryable=lambda error: isinstance(error, ConnectionError),
                          wait_s=lambda failures: 0.0, sleep=lambda seconds: None)
    assert flaky.calls == 1
