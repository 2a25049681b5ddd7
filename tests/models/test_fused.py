"""fused_forward: form (a) or (b) run through form (c)'s kernels computes what the block computes."""

from __future__ import annotations

import copy

import pytest
import torch

from blocks import BlockSpec, transplant
from blocks.measure.proof import random_block
from blocks.models.fused import fused_forward
from blocks.util.numerics import FP64_RTOL, relative_error

from tests.helpers.cases import freeze_batch_norms, spec_id

# The fused forward adds the paths' products in another order than the sum of C path outputs does,
# so it differs by rounding only (FP64_RTOL).
pytestmark = pytest.mark.usefixtures("one_thread")  # see tests/conftest.py

FUSED_SPECS = [
    BlockSpec(32, 32, cardinality=8, width=4),  # identity shortcut
    BlockSpec(16, 24, cardinality=3, width=5, stride=2),  # projection shortcut, stride 2
    BlockSpec(8, 8, cardinality=1, width=6),  # one path: ResNet's bottleneck
]


@pytest.mark.parametrize("spec", FUSED_SPECS, ids=spec_id)
@pytest.mark.parametrize("form", ["a", "b", "c"])  # (c): simply called
def test_fused_forward_equals_the_plain_forward(spec: BlockSpec, form: str) -> None:
    """Outputs, gradients of every path's parameters, and BN running statistics all agree."""
    plain = transplant(random_block(spec), form).double()
    fused = copy.deepcopy(plain)
    x = torch.randn(4, spec.in_channels, 6, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    for train in (False, True):  # eval: running statistics used; train: batch statistics, stats updated
        plain.train(train)
        fused.train(train)
        out_plain, out_fused = plain(x), fused_forward(fused, x)
        assert relative_error(out_fused, out_plain) <= FP64_RTOL
        out_plain.square().sum().backward()
        out_fused.square().sum().backward()
    for (name, p), q in zip(plain.named_parameters(), fused.parameters()):
        assert relative_error(q.grad, p.grad) <= FP64_RTOL, name
    for (name, b), f in zip(plain.named_buffers(), fused.buffers()):
        if b.is_floating_point():
            assert relative_error(f, b) <= FP64_RTOL, name
        else:  # num_batches_tracked: one train step counted once in every BN
            assert torch.equal(f, b), name
    assert int(fused.bn3.num_batches_tracked) == 8  # random_block sets 7


@pytest.mark.parametrize("form", ["a", "b"])
def test_fused_forward_keeps_batch_norms_in_eval_mode_in_a_training_block(form: str) -> None:
    spec = FUSED_SPECS[0]
    plain = freeze_batch_norms(transplant(random_block(spec), form).double().train())
    fused = copy.deepcopy(plain)
    x = torch.randn(4, spec.in_channels, 6, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    # BNs run in train mode would normalise with the batch's statistics and update their running ones.
    assert relative_error(fused_forward(fused, x), plain(x)) <= FP64_RTOL
    for (name, b), f in zip(plain.named_buffers(), fused.buffers()):
        assert torch.equal(f, b), name


def test_fused_forward_names_what_it_cannot_run() -> None:
    with pytest.raises(TypeError, match=r"^fused_forward: block is a Linear, not a block of form a, b or c$"):
        fused_forward(torch.nn.Linear(2, 2), torch.zeros(1, 2))
    block = random_block(BlockSpec(8, 8, 2, 4), "a")
    block.paths[1].bn2.eval()  # form (c) has one bn2, in one mode
    with pytest.raises(ValueError, match=r"^fused_forward: block: the paths' bn2 layers are not all in the same"):
        fused_forward(block, torch.zeros(2, 8, 4, 4))
