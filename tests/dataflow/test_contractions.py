"""A 1x1 convolution written as a product over the channels is read as one; anything not read is named as written.

The trace names every operator by the call its author wrote (``torch.einsum``, not the ``unsqueeze``,
``permute`` and ``bmm`` PyTorch runs for it) and that call's line; the recogniser reads the products
over the channels as convolutions of their level (their bias and stride included), and what it
cannot read it names by that call. The students' answers of this kind are in tests/course.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from blocks.dataflow.recognise import DeviationKind, recognise
from blocks.dataflow.trace import record

pytestmark = pytest.mark.usefixtures("one_thread")  # see tests/conftest.py

SIZE = (2, 16, 8, 8)  # a 16 -> 16 block, 4x2d


def _line(function: Callable[..., object], text: str) -> int:
    """The line of ``function``'s source that holds ``text``."""
    lines, first = inspect.getsourcelines(function)
    return first + next(i for i, line in enumerate(lines) if text in line)


class ProductBlock(nn.Module):
    """Form (c) on 16 channels, its first 1x1 written by ``first(x, weight)``: a product over the channels or not.

    ``every`` is the shortcut's step: 2 keeps every other pixel of the input (a first 1x1 of stride 2 needs it).
    """

    def __init__(self, first: Callable[[Tensor, Tensor], Tensor], bias: bool = False, every: int = 1) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.first, self.every, self.w1 = first, every, nn.Parameter(torch.randn(8, 16) / 4)
        self.b1 = nn.Parameter(torch.randn(8)) if bias else None
        self.bn1, self.bn2, self.bn3 = nn.BatchNorm2d(8), nn.BatchNorm2d(8), nn.BatchNorm2d(16)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1, groups=4, bias=False)
        self.conv3 = nn.Conv2d(8, 16, 1, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        h = self.first(x, self.w1)
        if self.b1 is not None:
            h = h + self.b1[:, None, None]
        h = F.relu(self.bn1(h))
        shortcut = x[:, :, :: self.every, :: self.every]
        return F.relu(self.bn3(self.conv3(F.relu(self.bn2(self.conv2(h))))) + shortcut)


def einsum(x: Tensor, w: Tensor) -> Tensor:
    return torch.einsum("oc,bchw->bohw", w, x)


def strided_einsum(x: Tensor, w: Tensor) -> Tensor:
    return torch.einsum("oc,bchw->bohw", w, x[:, :, ::2, ::2])


def sigmoid_after_einsum(x: Tensor, w: Tensor) -> Tensor:
    return torch.sigmoid(torch.einsum("oc,bchw->bohw", w, x))


def test_every_operator_of_a_call_names_the_call_and_its_line() -> None:
    trace = record(ProductBlock(einsum), torch.randn(SIZE))
    made = [op for op in trace.ops if op.call == "torch.einsum"]
    assert {"unsqueeze", "permute", "bmm"} <= {op.name for op in made}  # what PyTorch runs for it
    assert {op.called for op in made} == {f"torch.einsum at test_contractions.py:{_line(einsum, 'torch.einsum')}"}
    (conv,) = [op for op in trace.ops if op.name == "convolution" and op.module == "conv2"]
    assert conv.called == f"F.conv2d at test_contractions.py:{_line(ProductBlock.forward, 'self.conv2(h)')}"


def test_a_product_over_the_channels_is_the_first_1x1() -> None:
    model = ProductBlock(einsum).eval()
    (block,) = recognise(model, SIZE).blocks
    assert block.equivalent, block
    assert block.canonical is not None
    assert torch.equal(block.canonical["conv1.weight"], model.w1.detach()[:, :, None, None])


def test_a_product_s_bias_before_a_bn_is_mistake_8_named_by_its_call() -> None:
    (block,) = recognise(ProductBlock(einsum, bias=True).eval(), SIZE).blocks
    (deviation,) = block.deviations
    assert deviation.kind == DeviationKind.CONV_BIAS and deviation.mistake == 8
    assert f"among them torch.einsum at test_contractions.py:{_line(einsum, 'torch.einsum')}" in deviation.symptom
    assert "8 parameters that change nothing" in deviation.symptom


def test_a_product_on_every_other_pixel_is_a_1x1_with_stride_2() -> None:
    (block,) = recognise(ProductBlock(strided_einsum, every=2).eval(), SIZE).blocks
    assert [d.kind for d in block.deviations] == [DeviationKind.STRIDE_FIRST_CONV, DeviationKind.SHORTCUT]
    assert block.stride == 2


def test_an_operator_no_bottleneck_has_is_named_by_its_call_not_by_pytorch_s_operators() -> None:
    found = recognise(ProductBlock(sigmoid_after_einsum).eval(), SIZE)
    assert not found.blocks
    (other,) = found.others
    line = _line(sigmoid_after_einsum, "torch.sigmoid")
    assert f"its branch runs torch.sigmoid at test_contractions.py:{line}, which no bottleneck" in other, other
