"""compiled_calls: what torch.compile makes of a block (its kernels, counted against the census)."""

from __future__ import annotations

import pytest
import torch

from blocks import BlockSpec, build
from blocks.measure.census import census
from blocks.measure.compiled import compiled_calls

pytestmark = pytest.mark.usefixtures("one_thread")  # see tests/conftest.py


@pytest.mark.slow  # torch.compile
@pytest.mark.parametrize("form, convolutions", [("a", 3 * 2), ("c", 3)], ids=["form-a", "form-c"])
def test_the_compiler_keeps_every_convolution_and_fuses_the_rest(form: str, convolutions: int) -> None:
    block = build(BlockSpec(16, 16, cardinality=2, width=2), form).eval()
    x = torch.randn(1, 16, 4, 4)
    calls = compiled_calls(block, x)
    assert calls.convolutions == convolutions  # 3 per path in (a): no grouped convolution is made
    assert {"add", "relu"} <= set(calls.generated[-1].split("_"))  # the sum, BN, shortcut and ReLU: one loop
    assert calls.total_calls < census(block, x).total_calls
