"""This package's own blocks with a module swapped (a SiLU for a ReLU): never moved silently as the paper's block.

The core moves tensors; an activation has none, so a block whose ReLU was swapped would come out of a
plain transplant computing something else. The core refuses it naming the module, and with ``input_size``
the block is read by its dataflow, where the activation is a variant, carried into every form.
"""

from __future__ import annotations

import pytest
import torch

import blocks

SIZE = (1, 3, 32, 32)
# The carried network computes the same function: float32 rounding through ResNeXt-29's 29 layers.
FP32_RTOL = 1e-4


def silu_resnext29() -> torch.nn.Module:
    torch.manual_seed(0)
    net = blocks.resnext29(2, 4).eval()
    for name, module in list(net.named_modules()):
        if isinstance(module, torch.nn.ReLU):
            net.set_submodule(name, torch.nn.SiLU())
    return net


def test_the_core_refuses_a_block_with_a_swapped_module_naming_it() -> None:
    with pytest.raises(ValueError, match=r"transplant: submodule 'layer\d\.\d' holds modules .*relu is a SiLU"):
        blocks.transplant(silu_resnext29(), "a")


@pytest.mark.parametrize("form", "abc")
def test_with_input_size_the_swapped_activation_is_carried(form: str) -> None:
    net = silu_resnext29()
    moved = blocks.transplant(net, form, input_size=SIZE).eval()
    assert blocks.form_of(moved) == form
    x = torch.randn(SIZE, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected, got = net(x), moved(x)
    assert float((got - expected).abs().max() / expected.abs().max()) <= FP32_RTOL
