"""A time limit for code the package runs but did not write: a student's answer, a foreign model.

A forward pass that never returns (``while`` whose condition never changes, a recursion
through ``__getattr__``) must end in a sentence, not a frozen notebook. :func:`time_limit`
interrupts the code inside it once its seconds are up, with :class:`TimeLimitExceeded`.

It uses the operating system's interval timer (``SIGALRM``), so it works where that exists
(Linux, macOS) and in the main thread, where Jupyter and pytest run their code. Elsewhere
(Windows, a worker thread) the code runs without a limit. A single long operator (one huge
convolution) is interrupted only once it returns; the memory guards refuse those before.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType


class TimeLimitExceeded(BaseException):
    """The code under :func:`time_limit` ran past its seconds.

    A ``BaseException``, as ``KeyboardInterrupt`` is: a student's ``except Exception:`` inside
    the loop that never ends does not swallow it.
    """


def can_limit_time() -> bool:
    """True where :func:`time_limit` can interrupt: an interval timer exists and this is the main thread."""
    return hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Interrupt the code inside ``with`` after ``seconds``, with :class:`TimeLimitExceeded`.

    The interruption is repeated every second after that until the code stops, in case it
    catches the first one. The caller's own alarm handler and timer are restored afterwards.

    Raises:
        ValueError: ``seconds`` is not a positive number.

    Example:
        >>> with time_limit(0.1):
        ...     while True:
        ...         pass
        Traceback (most recent call last):
        TimeLimitExceeded: ...
    """
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not seconds > 0:
        raise ValueError(f"seconds must be a positive number, got {seconds!r}")
    if not can_limit_time():
        yield
        return

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise TimeLimitExceeded(f"did not return within {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, seconds, 1.0)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
