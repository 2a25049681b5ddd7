"""A grouped convolution is an ordinary convolution whose weight is block-diagonal.

A convolution with C groups (PyTorch's ``groups=C``, the paper's cardinality)
splits its input channels into C consecutive groups and lets output group i see
input group i only. Its weight therefore stores just the diagonal blocks::

    grouped weight  (out, in/C, k, k)     row o holds the weights of output o
                                          over the in/C channels of its own group
    dense weight    (out, in, k, k)       the same numbers in an ordinary conv's
                                          weight, zeros outside the diagonal blocks

so ``conv2d(x, dense_weight(w, C)) == conv2d(x, w, groups=C)`` up to the order
in which the (zero) terms are added. This is the step from form (b) to form
(c) in the paper's Figure 3: C separate 3x3 convs side by side ARE one grouped
3x3 conv. The figures ``group_conv`` and ``block_diagonal`` draw these matrices.
"""

from __future__ import annotations

import torch
from torch import Tensor

from blocks.core.spec import check_positive_int


def _check_divides(cardinality: object, channels: int, name: str) -> int:
    groups = check_positive_int("cardinality", cardinality)
    if channels % groups:
        raise ValueError(f"cardinality must divide {name} ({channels}), got {groups}")
    return groups


def block_diagonal_mask(out_channels: int, in_channels: int, cardinality: int) -> Tensor:
    """Which (output, input) channel pairs a grouped conv connects.

    Args:
        out_channels: output channels of the conv.
        in_channels: input channels of the conv.
        cardinality: the number of groups C; must divide both channel counts.

    Returns:
        A bool tensor of shape (out_channels, in_channels), True exactly on the C
        diagonal blocks of shape (out/C, in/C).

    Raises:
        ValueError: a channel count is not a positive int, or C does not divide it.

    Example:
        >>> block_diagonal_mask(4, 4, 2).int()
        tensor([[1, 1, 0, 0],
                [1, 1, 0, 0],
                [0, 0, 1, 1],
                [0, 0, 1, 1]], dtype=torch.int32)
    """
    for name, value in (("out_channels", out_channels), ("in_channels", in_channels)):
        check_positive_int(name, value)
    _check_divides(cardinality, out_channels, "out_channels")
    _check_divides(cardinality, in_channels, "in_channels")
    out_group = torch.arange(out_channels) // (out_channels // cardinality)  # (out,)
    in_group = torch.arange(in_channels) // (in_channels // cardinality)  # (in,)
    return out_group[:, None] == in_group[None, :]  # (out, in)


def dense_weight(weight: Tensor, cardinality: int) -> Tensor:
    """The ordinary conv weight that computes what ``weight`` computes with C groups.

    Args:
        weight: a grouped conv's weight, shape (out, in/C, k, k).
        cardinality: the number of groups C it is used with; must divide ``out``.

    Returns:
        A new tensor of shape (out, in, k, k): block (i, i) holds group i's
        weights, every other entry is exactly zero.

    Raises:
        ValueError: ``weight`` is not 4-d, or C does not divide its output channels.

    Example:
        >>> w = torch.randn(8, 2, 3, 3)           # 8 channels in 4 groups
        >>> dense_weight(w, 4).shape
        torch.Size([8, 8, 3, 3])
    """
    if weight.ndim != 4:
        raise ValueError(f"weight must be a 4-d conv weight (out, in/C, k, k), got shape {tuple(weight.shape)}")
    out_channels, group_in = weight.shape[:2]
    _check_divides(cardinality, out_channels, "the weight's output channels")
    group_out = out_channels // cardinality
    dense = weight.new_zeros(out_channels, group_in * cardinality, *weight.shape[2:])  # (out, in, k, k)
    for i in range(cardinality):
        rows, columns = slice(i * group_out, (i + 1) * group_out), slice(i * group_in, (i + 1) * group_in)
        dense[rows, columns] = weight[rows]
    return dense


def grouped_weight(dense: Tensor, cardinality: int) -> Tensor:
    """The diagonal blocks of an ordinary conv weight: the weight of a conv with C groups.

    The inverse of :func:`dense_weight` on block-diagonal weights; on any other
    weight it drops the off-diagonal blocks, which is what zeroing them does.

    Args:
        dense: an ordinary conv's weight, shape (out, in, k, k).
        cardinality: the number of groups C; must divide ``out`` and ``in``.

    Returns:
        A new tensor of shape (out, in/C, k, k).

    Raises:
        ValueError: ``dense`` is not 4-d, or C does not divide its channel counts.
    """
    if dense.ndim != 4:
        raise ValueError(f"dense must be a 4-d conv weight (out, in, k, k), got shape {tuple(dense.shape)}")
    out_channels, in_channels = dense.shape[:2]
    mask = block_diagonal_mask(out_channels, in_channels, cardinality)  # (out, in)
    group_in = in_channels // cardinality
    # Each row keeps exactly its group's in/C columns, in order.
    return dense[mask].reshape(out_channels, group_in, *dense.shape[2:])
