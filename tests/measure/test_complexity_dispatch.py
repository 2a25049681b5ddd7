"""``complexity`` counts at the dispatch level, as ``audit`` does: every layer that ran, however it was called.

Module hooks (torchinfo's, FlopCounterMode's per-module counts) miss a layer called as ``layer.forward(x)``
and a weight no Conv2d holds; the closed form sees the operators themselves, so it counts them, counts a
layer once per call, and gives the same multiply-adds as :func:`blocks.audit` on any model.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

import blocks
from blocks import complexity

from tests.dataflow.foreign.correct import CORRECT


class DirectForwardCalls(nn.Module):
    """Layers called through ``.forward()``: no module hook runs."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.fc = nn.Linear(8, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem.forward(x)  # (B, 8, H, W)
        return self.fc.forward(x.mean((2, 3)))  # (B, 4)


class ConvTwice(nn.Module):
    """One convolution run twice: each call's multiply-adds are counted."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.conv(x))


class FunctionalConv(nn.Module):
    """``F.conv2d`` over a parameter of the model itself: a layer no Conv2d holds."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(8, 4, 3, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.conv2d(x, self.weight)


class WeightNormStem(nn.Module):
    """A weight-normalised stem: its Conv2d has a child (the parametrization), and its weight is made per pass."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.utils.parametrizations.weight_norm(nn.Conv2d(3, 8, 3))
        self.fc = nn.Linear(8, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.stem(x).mean((2, 3)))


SMALL = (2, 3, 8, 8)
CASES = {
    "direct-forward-calls": (DirectForwardCalls, SMALL, 3 * 3 * 3 * 8 * 8 * 8 + 8 * 4),
    "conv-run-twice": (ConvTwice, SMALL, 2 * 3 * 3 * 8 * 8),
    "functional-conv": (FunctionalConv, (1, 4, 6, 6), 3 * 3 * 4 * 8 * 4 * 4),
    "weight-norm-stem": (WeightNormStem, SMALL, 3 * 3 * 3 * 8 * 6 * 6 + 8 * 2),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_layer_that_ran_is_counted_and_the_methods_agree(name: str) -> None:
    make, size, macs = CASES[name]
    cost = complexity(make(), size)
    assert cost.macs == macs  # the closed form, by hand above
    assert cost.agree, cost.disagreements


def test_a_layer_no_hook_saw_is_named() -> None:
    cost = complexity(DirectForwardCalls(), SMALL)
    assert cost.hookless == ("stem", "fc")
    assert all(layer.torchinfo_macs is None and layer.flop_counter_macs is None for layer in cost.layers)


def test_a_layer_run_twice_counts_each_call() -> None:
    (layer,) = complexity(ConvTwice(), SMALL).layers
    assert (layer.name, layer.calls, layer.macs, layer.params) == ("conv", 2, 2 * 9 * 64, 12)


@pytest.mark.parametrize("name", [*sorted(CASES), "resnext-50", *sorted(CORRECT)])
def test_complexity_and_audit_count_the_same_multiply_adds(name: str) -> None:
    if name in CASES:
        make, size, _ = CASES[name]
        model = make()
    elif name == "resnext-50":
        model, size = blocks.resnext(50, 32, 4), (1, 3, 64, 64)
    else:
        factory, size = CORRECT[name]
        model = factory()
    assert complexity(model, size).macs == blocks.audit(model, size).multiply_adds
