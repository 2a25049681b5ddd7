"""Memory known before anything runs: one forward pass measured under fake tensors, nothing allocated."""

from __future__ import annotations

import time

import pytest
import torch
from torch import nn

import blocks
from blocks.core.guards import forward_bytes, guard_forward

CPU = torch.device("cpu")
FAST = 30.0  # seconds: generous on a loaded 2-core machine; the real pass would take hours or never fit


def test_the_estimate_is_every_new_tensor_of_the_pass() -> None:
    conv = nn.Conv2d(3, 4, 3, bias=False)
    # the input (2·3·10·10) and the convolution's output (2·4·8·8), in float32
    assert forward_bytes(conv, (2, 3, 10, 10), torch.float32, CPU) == (600 + 512) * 4


def test_a_pass_whose_input_fits_but_whose_activations_do_not_is_refused_at_once() -> None:
    net = blocks.resnext29(2, 4)
    size = (4000, 3, 64, 64)  # the input: 0.2 GB; ResNeXt-29's activations: hundreds of GB
    assert 4000 * 3 * 64 * 64 * 4 < 2**30
    start = time.perf_counter()
    with pytest.raises(ValueError, match=r"^audit: one forward pass on an input of input_size=\(4000, 3, 64, 64\)"):
        guard_forward("audit", net, size, torch.float32, CPU)
    assert time.perf_counter() - start < FAST


def test_the_model_is_left_as_it_was() -> None:
    net = blocks.resnext29(2, 4).train()
    net.layer1[0].bn1.eval()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    modes = [m.training for m in net.modules()]
    forward_bytes(net, (2, 3, 32, 32), torch.float32, CPU)
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())  # BN statistics included
    assert [m.training for m in net.modules()] == modes


class _NeedsValues(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * x.sum().item()  # a value, which a fake tensor does not have


def test_a_model_that_cannot_run_on_fakes_falls_back_to_the_input() -> None:
    assert forward_bytes(_NeedsValues(), (2, 3), torch.float32, CPU) is None
    with pytest.raises(ValueError, match=r"^x: an input of input_size=\(1, 3, 100000, 100000\) in torch.float32"):
        guard_forward("x", _NeedsValues(), (1, 3, 100_000, 100_000), torch.float32, CPU)
