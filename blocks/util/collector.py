"""Python's cyclic garbage collector, paused while many objects are made or while a timer runs."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector inside ``with`` (reference counting still frees everything).

    A form (a) block of C = 32 is ~230 layers of ~15 containers each (parameter,
    buffer and hook dicts). Making that many objects triggers collections, and
    the full ones walk every object alive in the process (importing torch alone
    makes hundreds of thousands), though a new module tree holds no garbage: in
    a ResNeXt-101 transplant that was a large share of the time (benchmarks/README.md). The new objects are
    still looked at once the collector runs again, but once, not at every burst.
    The caller's setting (enabled or not) is restored, also on an exception.

    Example:
        >>> with collector_paused():
        ...     many = [blocks.build(blocks.BlockSpec(256, 256, 32, 4), "a") for _ in range(10)]
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
