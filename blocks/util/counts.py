"""The two counts every cost in the package is made of: parameters per use, and multiply-adds.

:mod:`blocks.measure.complexity` and :mod:`blocks.dataflow.audit` both count the operators of one
dispatch-level pass (a layer called through ``.forward()`` or written with ``F.conv2d`` counts too)
with these, so the two cannot drift apart.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

# A BatchNorm's running statistics are buffers a forward pass reads, not parameters it learns.
STATISTICS = ("running_mean", "running_var", "num_batches_tracked")

# The operators whose multiply-adds the paper counts, each with the position of its weight among its arguments:
# convolution(input, weight (out, in/g, k, ...), ...), addmm(bias, input, weight (in, out)),
# mm(input, weight (in, out)). F.linear reaches the dispatcher as addmm or mm on a view of its weight, transposed.
WEIGHT_ARGUMENT = {"convolution": 1, "addmm": 2, "mm": 1}


def is_statistic(name: str) -> bool:
    """True for a BatchNorm's running statistic (``bn1.running_mean``, ``…num_batches_tracked``)."""
    return name.endswith(STATISTICS)


def multiply_adds(weight_numel: int, output_shape: Sequence[int], out_channels: int, batch: int = 1) -> int:
    """Multiply-adds of one convolution or linear layer for one image: each weight once per output position.

    A convolution's weight (out, in/groups, k, k) makes one dot product of (in/groups)·k·k per output
    channel and position, and a linear layer's (out, in) one of ``in`` per output row.

    Args:
        weight_numel: the number of values of its weight.
        output_shape: its output's shape, with or without the batch dimension.
        out_channels: its output channels (``out_features`` for a linear layer).
        batch: the images in ``output_shape`` (1 if it has no batch dimension).

    Example:
        >>> multiply_adds(256 * 64 * 1 * 1, (1, 256, 56, 56), 256)   # a 1x1 from 64 to 256 channels at 56x56
        51380224
    """
    positions = math.prod(output_shape) // (out_channels * batch)  # H_out · W_out, or the rows of a linear layer
    return weight_numel * positions


def operator_multiply_adds(name: str, weight_shape: Sequence[int], output_shape: Sequence[int], batch: int) -> int:
    """Multiply-adds per image of one operator of :data:`WEIGHT_ARGUMENT`, from its weight's and output's shapes.

    Example:
        >>> operator_multiply_adds("addmm", (2048, 1000), (4, 1000), batch=4)   # a linear layer 2048 -> 1000
        2048000
    """
    out_channels = weight_shape[0] if name == "convolution" else weight_shape[-1]
    return multiply_adds(math.prod(weight_shape), output_shape, out_channels, batch)
