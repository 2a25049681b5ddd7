"""What one call of a module asks of the hardware: operator calls and bytes written.

Forms (a), (b) and (c) do the same multiply-adds (:mod:`blocks.analysis.complexity`),
but not the same work: form (a) of a 32x4d block makes ~7 operator calls per path
and writes a full-size partial sum for each. :func:`census` counts that, at the
ATen operator level, under a dispatch mode.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.utils._python_dispatch import TorchDispatchMode


@dataclass(frozen=True)
class Census:
    """What one call of a module asks of the hardware, counted at the ATen operator level.

    Attributes:
        calls: operator name -> times run (each is at least one kernel launch).
        bytes_written: the size of every NEW tensor the operators return (views and
            in-place updates such as ``ReLU(inplace=True)`` return aliases and write no
            new memory): a lower bound on the memory traffic of the intermediate results.
    """

    calls: Counter[str]
    bytes_written: int

    @property
    def total_calls(self) -> int:
        return sum(self.calls.values())


class OperatorCounter(TorchDispatchMode):
    """Counts every operator that runs under it, and the bytes of the new tensors they return."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: Counter[str] = Counter()
        self.bytes_written = 0

    def __torch_dispatch__(
        self, func: torch._ops.OpOverload, types: tuple[type, ...], args: tuple = (), kwargs: dict | None = None
    ) -> object:
        out = func(*args, **(kwargs or {}))
        self.calls[func.overloadpacket.__name__] += 1
        if not any(ret.alias_info is not None for ret in func._schema.returns):  # a view or in-place: no new memory
            outputs = out if isinstance(out, (tuple, list)) else (out,)
            self.bytes_written += sum(t.numel() * t.element_size() for t in outputs if isinstance(t, Tensor))
        return out

    def census(self) -> Census:
        return Census(self.calls, self.bytes_written)


def census(run: Callable[[Tensor], Tensor], x: Tensor) -> Census:
    """Count the operators and the bytes of new tensors they write during ``run(x)`` (no gradients).

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
