"""A grouped convolution is an ordinary convolution with a block-diagonal weight (blocks/grouped.py)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from blocks.models.grouped import block_diagonal_mask, dense_weight, grouped_weight

# The dense conv also adds the zero products and may order its sums differently from
# the grouped kernel: a few float64 ulps (2.2e-16) of sums of at most 8·9 = 72 terms.
FP64_ATOL = 1e-12

# (channels, cardinality): ordinary conv, depthwise conv, and a group size that is no power of two
SHAPES = [(8, 1), (8, 2), (8, 8), (12, 4), (15, 5)]


def shape_id(shape: tuple[int, int]) -> str:
    return f"{shape[0]}ch_{shape[1]}groups"


@pytest.mark.parametrize("channels, cardinality", SHAPES, ids=map(shape_id, SHAPES))
def test_zeroing_off_diagonal_blocks_gives_the_grouped_conv(channels: int, cardinality: int) -> None:
    generator = torch.Generator().manual_seed(0)
    weight = torch.randn(channels, channels, 3, 3, generator=generator, dtype=torch.float64)
    x = torch.randn(2, channels, 6, 6, generator=generator, dtype=torch.float64)
    zeroed = weight * block_diagonal_mask(channels, channels, cardinality)[:, :, None, None]
    diagonal = grouped_weight(weight, cardinality)
    assert diagonal.shape == (channels, channels // cardinality, 3, 3)
    assert torch.equal(dense_weight(diagonal, cardinality), zeroed)
    as_dense = F.conv2d(x, zeroed, padding=1)
    as_grouped = F.conv2d(x, diagonal, padding=1, groups=cardinality)
    assert (as_dense - as_grouped).abs().max().item() <= FP64_ATOL


def test_mask_marks_exactly_the_diagonal_blocks() -> None:
    expected = torch.tensor([[1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 1, 1], [0, 0, 1, 1]], dtype=torch.bool)
    assert torch.equal(block_diagonal_mask(4, 4, 2), expected)
    # Unequal in and out channels: blocks of 3 rows by 1 column.
    assert block_diagonal_mask(6, 2, 2).int().tolist() == [[1, 0]] * 3 + [[0, 1]] * 3


def test_dense_weight_of_a_real_grouped_conv() -> None:
    conv = torch.nn.Conv2d(8, 8, kernel_size=3, groups=4, bias=False)
    dense = dense_weight(conv.weight.detach(), 4)
    assert dense.shape == (8, 8, 3, 3)
    assert torch.equal(dense[2:4, 2:4], conv.weight.detach()[2:4])  # group 1's block
    assert int((dense != 0).sum()) == conv.weight.numel()  # nothing else


BAD_CALLS = {
    "mask zero channels": (lambda: block_diagonal_mask(0, 4, 1), "out_channels must be a positive int, got 0"),
    "mask zero in": (lambda: block_diagonal_mask(4, 0, 1), "in_channels must be a positive int, got 0"),
    "mask out not dividing": (
        lambda: block_diagonal_mask(6, 8, 4),
        r"cardinality must divide out_channels \(6\), got 4",
    ),
    "mask not dividing": (lambda: block_diagonal_mask(8, 6, 4), r"cardinality must divide in_channels \(6\), got 4"),
    "mask zero groups": (lambda: block_diagonal_mask(8, 8, 0), "cardinality must be a positive int, got 0"),
    "dense from 2-d": (lambda: dense_weight(torch.zeros(8, 2), 4), r"4-d conv weight .* got shape \(8, 2\)"),
    "dense not dividing": (lambda: dense_weight(torch.zeros(6, 2, 3, 3), 4), r"divide the weight's output channels"),
    "grouped from 3-d": (lambda: grouped_weight(torch.zeros(8, 8, 3), 2), r"got shape \(8, 8, 3\)"),
}


@pytest.mark.parametrize("call, message", BAD_CALLS.values(), ids=BAD_CALLS.keys())
def test_bad_arguments_are_named(call: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()
