"""The time limit on code the package did not write: it interrupts, it cannot be swallowed, it cleans up."""

from __future__ import annotations

import signal
import time

import pytest

from blocks.util.limits import TimeLimitExceeded, can_limit_time, time_limit

pytestmark = pytest.mark.skipif(not can_limit_time(), reason="needs SIGALRM in the main thread")

SHORT = 0.2  # seconds: long enough for the code inside to start, short enough for the inner loop


def test_a_loop_that_never_ends_is_interrupted() -> None:
    start = time.perf_counter()
    with pytest.raises(TimeLimitExceeded, match=r"did not return within 0.2 s"), time_limit(SHORT):
        while True:
            pass
    assert time.perf_counter() - start < 5 * SHORT


def test_except_exception_does_not_swallow_it() -> None:
    caught = 0
    with pytest.raises(TimeLimitExceeded), time_limit(SHORT):
        while True:
            try:
                time.sleep(0.01)
            except Exception:  # a student's catch-all: TimeLimitExceeded is not an Exception
                caught += 1
    assert caught == 0


def test_code_that_returns_in_time_is_untouched_and_the_alarm_is_restored() -> None:
    before = signal.getsignal(signal.SIGALRM)
    with time_limit(SHORT):
        value = sum(range(1000))
    assert value == 499500
    assert signal.getsignal(signal.SIGALRM) is before
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


@pytest.mark.parametrize("seconds", [0, -1, float("nan"), True, "1", None], ids=repr)
def test_a_bad_limit_is_refused_by_name(seconds: object) -> None:
    with pytest.raises(ValueError, match=r"^seconds must be a positive number, got "), time_limit(seconds):  # type: ignore[arg-type]
        pass
