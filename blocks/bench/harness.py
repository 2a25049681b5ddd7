"""How ``python -m blocks bench`` times things: interleaved rounds, per-round ratios, fresh weight placements.

A shared machine has slow spells. Timing candidates INTERLEAVED (A B C, C B A,
… after warm-up rounds) lets a slow spell hit every candidate alike, and the
ratio to a reference is taken per round, so it cancels out. See
``benchmarks/README.md`` for what each device here was measured to change.
"""

from __future__ import annotations

import itertools
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from blocks.util.collector import collector_paused

PASSES = ("forward", "forward+backward")


@dataclass(frozen=True)
class Measurement:
    """One candidate's times in one interleaved comparison, in milliseconds.

    ``ratio_*`` are over the per-round ratios (this candidate / the reference
    in the same round), so a slow spell of the machine cancels out.
    """

    experiment: str
    case: str
    pass_: str
    variant: str
    reference: str
    median_ms: float
    min_ms: float
    max_ms: float
    ratio_median: float
    ratio_min: float
    ratio_max: float
    repeats: int


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":  # kernels run asynchronously: wait before reading the clock
        torch.cuda.synchronize(device)


def time_interleaved(
    candidates: dict[str, Callable[[], object]],
    repeats: int,
    warmup: int,
    device: torch.device,
    before_round: Callable[[], None] | None = None,
) -> dict[str, list[float]]:
    """Seconds per call of each candidate, timed in rounds A B C, C B A, A B C, … after warm-up rounds.

    Every other round runs the candidates in reverse order, so that none always
    follows the same one (whose caches, allocations and pending work it would inherit).

    Args:
        candidates: name -> a function with no arguments doing one unit of work.
        repeats: timed rounds.
        warmup: untimed rounds first.
        device: where the work runs (on CUDA the clock is read after a synchronize).
        before_round: called, untimed, before every round (e.g. :func:`move_weights`).

    Returns:
        name -> ``repeats`` durations in seconds, in round order.
    """
    times: dict[str, list[float]] = {name: [] for name in candidates}
    order = list(candidates.items())
    for round_ in range(warmup + repeats):
        if before_round is not None:
            before_round()
        for name, run in order if round_ % 2 == 0 else reversed(order):
            _synchronize(device)
            # Python's cyclic GC is paused while a call is timed, as timeit and torch.utils.benchmark do:
            # a full collection walks every object of the process, and would land on whichever candidate
            # runs when it is due, often the one after the candidate that made the objects.
            with collector_paused():
                start = time.perf_counter()
                run()
                _synchronize(device)
                elapsed = time.perf_counter() - start
            if round_ >= warmup:
                times[name].append(elapsed)
    return times


def summarise(
    times: dict[str, list[float]], reference: str, experiment: str, case: str, pass_: str
) -> list[Measurement]:
    """One :class:`Measurement` per candidate of ``times``, with ratios to ``reference`` per round."""
    rows = []
    for name, seconds in times.items():
        ratios = [t / r for t, r in zip(seconds, times[reference])]
        rows.append(
            Measurement(
                experiment, case, pass_, name, reference,
                median_ms=1e3 * statistics.median(seconds), min_ms=1e3 * min(seconds),
                max_ms=1e3 * max(seconds), ratio_median=statistics.median(ratios),
                ratio_min=min(ratios), ratio_max=max(ratios), repeats=len(seconds),
            )
        )  # fmt: skip
    return rows


@contextmanager
def fixed_threads(threads: int) -> Iterator[None]:
    """Run the body with ``torch.set_num_threads(threads)``, restoring the old count after."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def timed_call(run: Callable[[Tensor], Tensor], x: Tensor, pass_: str) -> Callable[[], object]:
    """One unit of work for ``run`` (a block or network): a forward without autograd, or forward and backward."""
    if pass_ == "forward":

        def forward() -> object:
            with torch.no_grad():
                return run(x)

        return forward

    def forward_backward() -> object:
        run(x).sum().backward()  # gradients accumulate; their values do not matter here
        return None

    return forward_backward


def move_weights(*modules: nn.Module) -> None:
    """Give every parameter and buffer of ``modules`` a fresh copy of itself, at a new address.

    Where a network's weights happen to lie in memory (their alignment, pages and
    cache sets) moves its forward time on a CPU by several per cent, for as long
    as they lie there: two copies of torchvision's own ResNeXt-50 differ by up to
    ±10% in one process. Moving the weights before every round gives each round
    another placement (the allocator may hand back blocks freed earlier, so not a
    fully independent one), instead of one placement for the whole run.

    Args:
        modules: the networks (or any modules) whose tensors to move; values,
            dtypes, devices and strides are kept.
    """
    with torch.no_grad():
        for module in modules:
            for tensor in itertools.chain(module.parameters(), module.buffers()):
                tensor.data = tensor.data.clone()
