"""Form (a) written without layers: ``F.conv2d`` and ``F.batch_norm`` over ``ParameterList``\\ s.

Some authors write a network as functions of tensors they keep themselves: no ``nn.Conv2d``,
no ``nn.BatchNorm2d``, a ``ParameterList`` per kind of weight, running statistics as loose
buffers. :func:`blocks.transplant` reads modules and refuses such a model; a compiler pass
that reads the dataflow (:mod:`blocks.compiler`) does not care. This is the model the
benchmark times as ``a functional compiled+pass``: the same function as the form (a) block
it is built from, with that block's weights copied into it.
"""

from __future__ import annotations

from typing import cast

import torch.nn.functional as F
from torch import Tensor, nn

from blocks.core.forms import BlockPath, SummedPathsBlock


class FunctionalSummedPaths(nn.Module):
    """A form (a) block as functions of its own tensors: Σ_i W3_i · ReLU(BN(W2_i ⋆ ReLU(BN(W1_i · x)))).

    Args:
        block: the form (a) block whose weights, BN parameters and running statistics it copies
            (and whose BN eps and momentum it uses).

    Raises:
        TypeError: ``block`` is not a form (a) block.
        ValueError: its BNs have ``momentum=None`` (a cumulative average, which ``F.batch_norm`` has not).

    Example:
        >>> a = blocks.build(blocks.BlockSpec(64, 64, cardinality=4, width=8), "a").eval()
        >>> f = FunctionalSummedPaths(a).eval()
        >>> x = torch.randn(2, 64, 8, 8)
        >>> torch.allclose(f(x), a(x))
        True
    """

    def __init__(self, block: SummedPathsBlock) -> None:
        super().__init__()
        if type(block) is not SummedPathsBlock:
            raise TypeError(f"block must be a form (a) block (SummedPathsBlock), got {type(block).__name__}")
        if block.bn3.momentum is None:
            raise ValueError("block's BNs must have a momentum (F.batch_norm has no cumulative average), got None")
        self.stride = block.spec.stride
        self.eps, self.momentum = block.bn3.eps, block.bn3.momentum
        paths = [cast(BlockPath, path) for path in block.paths]
        self.reduce = nn.ParameterList(_copy(p.conv1.weight) for p in paths)  # (d, in, 1, 1) each
        self.spatial = nn.ParameterList(_copy(p.conv2.weight) for p in paths)  # (d, d, 3, 3) each
        self.expand = nn.ParameterList(_copy(cast(nn.Conv2d, p.conv3).weight) for p in paths)  # (out, d, 1, 1) each
        for i, path in enumerate(paths):
            self._keep_norm(f"reduce{i}", path.bn1)
            self._keep_norm(f"spatial{i}", path.bn2)
        self._keep_norm("sum", block.bn3)
        self.project: nn.Parameter | None = None
        if block.downsample is not None:
            conv = block.downsample[0]
            assert isinstance(conv, nn.Conv2d)  # forms.py: a 1x1 convolution, then a BN
            self.project = _copy(conv.weight)  # (out, in, 1, 1)
            self._keep_norm("project", block.downsample[1])

    def _keep_norm(self, name: str, bn: nn.Module) -> None:
        assert isinstance(bn, nn.BatchNorm2d)  # the blocks of this package use nothing else
        self.register_parameter(f"{name}_gamma", _copy(bn.weight))
        self.register_parameter(f"{name}_beta", _copy(bn.bias))
        self.register_buffer(f"{name}_mean", bn.running_mean.detach().clone())  # type: ignore[union-attr]
        self.register_buffer(f"{name}_var", bn.running_var.detach().clone())  # type: ignore[union-attr]

    def _bn(self, x: Tensor, name: str) -> Tensor:
        mean, var = getattr(self, f"{name}_mean"), getattr(self, f"{name}_var")
        gamma, beta = getattr(self, f"{name}_gamma"), getattr(self, f"{name}_beta")
        return F.batch_norm(x, mean, var, gamma, beta, self.training, self.momentum, self.eps)

    def forward(self, x: Tensor) -> Tensor:
        # x: (B, in, H, W); s = stride
        total: Tensor | None = None
        for i in range(len(self.reduce)):
            h = F.relu(self._bn(F.conv2d(x, self.reduce[i]), f"reduce{i}"))  # (B, d, H, W)
            h = F.conv2d(h, self.spatial[i], stride=self.stride, padding=1)  # (B, d, H/s, W/s)
            h = F.relu(self._bn(h, f"spatial{i}"))
            out = F.conv2d(h, self.expand[i])  # (B, out, H/s, W/s)
            total = out if total is None else total + out  # Σ_i
        assert total is not None  # a block has at least one path
        shortcut = x if self.project is None else self._bn(F.conv2d(x, self.project, stride=self.stride), "project")
        return F.relu(self._bn(total, "sum") + shortcut)


def _copy(weight: Tensor | None) -> nn.Parameter:
    assert weight is not None  # convolutions and affine BNs of this package all have their weights
    return nn.Parameter(weight.detach().clone())
