"""What one call of a module asks of the hardware: operator calls, bytes written and bytes moved.

Forms (a), (b) and (c) do the same multiply-adds (:mod:`blocks.measure.complexity`),
but not the same work: form (a) of a 32x4d block makes ~7 operator calls per path
and writes a full-size partial sum for each. :func:`census` counts that, at the
ATen operator level, under a dispatch mode. Its bytes moved (every operand an
operator reads and every result it writes) are the memory side of a roofline
(``python -m blocks bench``, :mod:`blocks.bench.roofline`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.utils._pytree import tree_leaves

from blocks.util.dispatch import Call, Recorder


@dataclass(frozen=True)
class Census:
    """What one call of a module asks of the hardware, counted at the ATen operator level.

    Attributes:
        calls: operator name -> times run (each is at least one kernel launch).
        bytes_written: the size of every NEW tensor the operators return (views and
            in-place updates such as ``ReLU(inplace=True)`` return aliases and write no
            new memory): a lower bound on the memory traffic of the intermediate results.
        bytes_moved: every tensor an operator reads (inputs, weights, BN statistics) plus
            every tensor it writes (new or updated in place); views move nothing. It is
            the memory traffic if no operand stayed in a cache from one operator to the
            next, the usual memory model of an operator-level roofline.
    """

    calls: Counter[str]
    bytes_written: int
    bytes_moved: int

    @property
    def total_calls(self) -> int:
        return sum(self.calls.values())


def _bytes(values: object) -> int:
    """The bytes of every tensor in ``values`` (nested tuples, lists and dicts)."""
    return sum(t.numel() * t.element_size() for t in tree_leaves(values) if isinstance(t, Tensor))


class OperatorCounter(Recorder):
    """Counts every operator that runs under it, the bytes of the new tensors they return, and the bytes they move."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: Counter[str] = Counter()
        self.bytes_written = 0
        self.bytes_moved = 0

    def on_call(self, call: Call) -> object:
        out = call.run()
        self.calls[call.name] += 1
        if call.returns_new():  # new tensors: read the operands, write the results
            written = _bytes(out)
            self.bytes_written += written
            self.bytes_moved += _bytes((call.args, call.kwargs)) + written
        elif call.returns_written():  # in place: read, then write back
            self.bytes_moved += _bytes((call.args, call.kwargs)) + _bytes(out)
        return out  # (a view: no memory touched)

    def census(self) -> Census:
        return Census(self.calls, self.bytes_written, self.bytes_moved)


def census(run: Callable[[Tensor], Tensor], x: Tensor) -> Census:
    """Count the operators, the bytes of the new tensors they write and the bytes they move in ``run(x)`` (no grad).

    Args:
        run: a module, or any function of one tensor.
        x: its input.

    Returns:
        The :class:`Census` of that one call.

    Example:
        >>> a = build(BlockSpec(256, 256, 32, 4), "a").eval()
        >>> census(a, torch.randn(1, 256, 8, 8)).calls["convolution"]   # 3 per path
        96
    """
    counting = OperatorCounter()
    with torch.no_grad(), counting:
        run(x)
    return counting.census()
