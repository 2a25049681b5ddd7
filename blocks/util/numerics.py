"""Numbers every comparison in the package shares: tolerances, relative error, BN statistics, eval mode.

Two forms of one block add the same products in different orders (a sum of C path
outputs against one convolution over C·d channels), so they differ by rounding: a few
ulps of the output's scale, growing slowly with the number of terms. float64's ulp is
2.2e-16, float32's 1.2e-7. Every tolerance below is that rounding with room to spare,
and far below the order-1 errors that a wrong weight or a wrong layout makes.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TypeVar

import torch
from torch import Tensor, nn

_M = TypeVar("_M", bound=nn.Module)

# One block, two forms, relative to the output's scale: measured at ~1e-16 (float64) and ~1e-7 (float32).
FP64_RTOL = 1e-12
FP32_RTOL = 1e-5
TOLERANCES: dict[torch.dtype, float] = {torch.float64: FP64_RTOL, torch.float32: FP32_RTOL}
# A whole network (tens of blocks: rounding compounds through every residual add and BN) in float64.
NETWORK_FP64_RTOL = 1e-10
# A whole network in float32 (ResNeXt-50 against torchvision's: ~1e-6 measured).
NETWORK_FP32_RTOL = 1e-4
# Gradients, a forward and a backward pass of rounding, in float64: of one block, and of a network.
GRAD_FP64_RTOL = 1e-10
NETWORK_GRAD_FP64_RTOL = 1e-8
# Training the forms side by side in float64: every SGD step adds its rounding to the weights, and the
# next step's loss reads them. Over the runs of the tests (tens of steps): losses ~1e-13, weights ~1e-12.
TRAINING_LOSS_FP64_RTOL = 1e-9
TRAINING_WEIGHT_FP64_RTOL = 1e-8
# A student's answer against the paper's block, in float64: any summation order and any split of the
# channels a student may write (einsum, stack().sum(0), reduce) stays under ~1e-14; a mistake is order 1.
ANSWER_FP64_RTOL = 1e-10
# A model read by its dataflow and mapped onto form (c), compared in its own dtype (float32 for most
# models): rounding in float32 is ~1e-6; a mapping mistake gives errors of order 1.
CANONICAL_RTOL = 1e-4


def relative_error(output: Tensor, reference: Tensor) -> float:
    """``max |output - reference| / max |reference|``: the error relative to the output's scale.

    The one rule for a zero reference: it is refused, since any output would be within
    any tolerance of it "relatively", and a comparison against zeros proves nothing.

    Raises:
        ValueError: ``reference`` is all zeros.

    Example:
        >>> relative_error(torch.tensor([1.0, 2.5]), torch.tensor([1.0, 2.0]))
        0.25
    """
    scale = reference.abs().max()
    if scale == 0:
        raise ValueError("relative_error: the reference is all zeros, so the comparison proves nothing")
    return ((output - reference).abs().max() / scale).item()


def randomise_batchnorm(module: _M, generator: torch.Generator) -> _M:
    """Give every BatchNorm in ``module`` random affine parameters and running statistics.

    weight ~ U(0.5, 1.5), bias ~ N(0, 0.2), running_mean ~ N(0, 0.2),
    running_var ~ U(0.5, 1.5), num_batches_tracked = 7: a freshly built BN (ones and
    zeros) would hide a scale or a shift put on the wrong channel. Changes ``module``
    in place and returns it.
    """
    with torch.no_grad():
        for bn in module.modules():
            if isinstance(bn, nn.modules.batchnorm._BatchNorm):
                # None: a BN built with affine=False or track_running_stats=False lacks these tensors
                for tensor, low in ((bn.weight, 0.5), (bn.running_var, 0.5)):
                    if tensor is not None:
                        tensor.copy_(low + torch.rand(tensor.shape, generator=generator))
                for tensor in (bn.bias, bn.running_mean):
                    if tensor is not None:
                        tensor.copy_(0.2 * torch.randn(tensor.shape, generator=generator))
                if bn.num_batches_tracked is not None:
                    bn.num_batches_tracked.fill_(7)
    return module


@contextmanager
def evaluating(*modules: nn.Module) -> Iterator[None]:
    """Put ``modules`` in eval mode inside ``with``, and give every layer back its own mode after.

    Each layer's mode is restored, not just the top module's: a BN that its author froze
    with ``.eval()`` inside a training network is frozen again afterwards. Restored also
    on an exception.

    Example:
        >>> net = nn.Sequential(nn.BatchNorm2d(3))
        >>> with evaluating(net):
        ...     net.training
        False
        >>> net.training
        True
    """
    modes = {layer: layer.training for module in modules for layer in module.modules()}
    try:
        for module in modules:
            module.eval()
        yield
    finally:
        for layer, training in modes.items():
            layer.train(training)
