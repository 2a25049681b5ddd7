"""Pass 1: the residual adds. An add of two tensors from one value X, one side X (or X through one conv), one a branch.

A residual add is an add of two tensors that both come from one value X (the block's
input), where one side (the shortcut) is X itself or X through at most one convolution,
and the other side (the branch) holds convolutions. A 1x1 convolution written as a
product over the channels (:mod:`.contractions`) counts as one, and as one step.
"""

from __future__ import annotations

from blocks.dataflow.recognise.reading import MAX_SHORTCUT_OPS, Reading
from blocks.dataflow.trace import Op


def residual_add(r: Reading, a: int, b: int) -> tuple[int, list[Op], int] | None:
    """(X, shortcut ops from X, branch output) if ``a + b`` is a residual add, else None."""
    walks = [(shortcut_walk(r, side), side, other) for side, other in ((a, b), (b, a))]
    candidates = [(walk, side, other) for walk, side, other in walks if walk is not None]
    # Prefer the side with fewer convolutions as the shortcut (identity before projection).
    candidates.sort(key=lambda c: sum(r.is_convolution(o) for o in c[0][1]) if c[0] else 0)
    for walk, _, other in candidates:
        assert walk is not None
        x, chain = walk
        if convolutions_between(r, x, other) >= 2:
            return x, chain, other
    return None


def shortcut_walk(r: Reading, value: int) -> tuple[int, list[Op]] | None:
    """Follow ``value`` back through single-input ops with at most one convolution to a fork."""
    chain: list[Op] = []
    convolutions = 0
    for _ in range(MAX_SHORTCUT_OPS + 1):
        if len(r.readers[value]) >= 2:
            return value, chain
        op = r.trace.producer(value)
        if op is None:
            return None
        contraction = r.contraction_into.get(value)
        if contraction is not None:  # the product and its axis moves: one convolution
            op = r.ops[contraction.anchor]
        inputs = [contraction.input] if contraction is not None else r.data_inputs(op)
        if len(inputs) != 1:
            return None
        convolutions += r.is_convolution(op)
        if convolutions > 1:
            return None
        chain.append(op)
        value = inputs[0]
    return None


def convolutions_between(r: Reading, x: int, end: int) -> int:
    """How many convolutions lie on the ops from ``x`` to ``end`` (0 if ``end`` does not come from ``x``)."""
    ops = branch_ops(r, x, end)
    return sum(r.is_convolution(r.ops[i]) for i in ops) if ops is not None else 0


def branch_ops(r: Reading, x: int, end: int) -> list[int] | None:
    """The ops that make ``end`` from ``x``, in execution order; None if ``end`` does not come from ``x``."""
    start = r.producer_index(x)
    seen: set[int] = set()
    stack = [end]
    reaches_x = False
    while stack:
        value = stack.pop()
        if value == x:
            reaches_x = True
            continue
        index = r.producer_index(value)
        if index <= start or index in seen:
            if index <= start and r.is_data(value):
                return None  # the branch reads data from before the block: not X's branch
            continue
        seen.add(index)
        stack.extend(r.data_inputs(r.ops[index]))
    return sorted(seen) if reaches_x else None
