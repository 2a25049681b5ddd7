"""Seven WRONG ResNeXt blocks and networks, as course material often writes them.

Every class and function here is deliberately mistaken and named ``Wrong…`` or
``wrong_…``; each docstring says what is wrong, what it breaks and the fix. They
exist to be measured (see ``notebooks/07_common_mistakes.ipynb`` and
:func:`blocks.audit`); never train one.

    mistake                                   variant                        fix
    1 one path called C times, += onto input  WrongSharedPathBlock           C distinct paths; out + identity
    2 BN + ReLU after each path's last 1x1    WrongPerPathReluBlock          one BN after the sum, ReLU after the add
    3 groups=C on the first 1x1 too           WrongGroupedFirstConvBlock     only the 3x3 is grouped
    4 width = out_channels // 4, C groups     wrong_quarter_width_resnext    C·d = C · d·2^stage (Table 1)
    5 stride on the first 1x1                 WrongStrideOnFirstConvBlock    stride on the 3x3 (paper section 4)
    6 projection block + N identity blocks    wrong_extra_block_resnext      N blocks in all, the first projecting
    7 BN after each path's last 1x1           WrongPerPathBatchNormBlock     one BN after the sum (fold_path_batchnorms)

:func:`wrong_resnext` builds a whole ResNeXt with any one of the seven mistakes.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import cast

import torch
from torch import Tensor, nn

from blocks.core.build import assemble, build
from blocks.core.canonical import to_canonical
from blocks.core.forms import BlockPath, GroupedConvBlock, ResNeXtBlock
from blocks.core.spec import BlockSpec
from blocks.models.networks import STAGE_BLOCKS, ResNeXt, resnext


class WrongSharedPathBlock(ResNeXtBlock):
    """WRONG (mistake 1): ONE path module called C times, added IN PLACE onto the input.

    ``self.path`` is a single 1x1 → 3x3 → 1x1 path; running it C times sums C
    copies of the same function with the same weights, so the block holds about
    1/C of the real block's parameters, and a tool that counts parameters per
    call counts the shared path C times. ``identity += …`` then writes the
    block's output into the caller's tensor whenever the shortcut is the identity.

    Fix: ``nn.ModuleList`` of C distinct paths (:class:`blocks.SummedPathsBlock`),
    and ``out + identity`` on a new tensor.
    """

    form = "WRONG (mistake 1: one shared path)"

    def __init__(self, spec: BlockSpec) -> None:
        super().__init__(spec)
        self.path = BlockPath(spec.in_channels, spec.width, spec.stride, spec.out_channels)  # WRONG: 1, not C
        self._add_tail()

    def aggregate(self, x: Tensor) -> Tensor:
        out = self.path(x)  # (B, out, H/s, W/s)
        for _ in range(self.spec.cardinality - 1):
            out = out + self.path(x)  # WRONG: the same weights again, C times in all
        return out

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)  # (B, out, H/s, W/s)
        identity += self.bn3(self.aggregate(x))  # WRONG: in place; with an identity shortcut, x changes
        return self.relu(identity)


class _WrongPathEndingInBatchNorm(BlockPath):
    """WRONG: a form (a) path whose last 1x1 is followed by its own BN (and, optionally, a ReLU)."""

    conv3: nn.Conv2d  # a form (a) path: it always ends in its 1x1 (BlockPath's conv3 is None only in form b)

    def __init__(self, spec: BlockSpec, relu: bool) -> None:
        super().__init__(spec.in_channels, spec.width, spec.stride, spec.out_channels)
        self.bn3 = nn.BatchNorm2d(spec.out_channels)  # WRONG: one BN per path, on a partial sum
        self.relu_last = relu

    def forward(self, x: Tensor) -> Tensor:
        out = self.bn3(super().forward(x))  # (B, out, H/s, W/s), normalised on its own
        return self.relu(out) if self.relu_last else out


class WrongPerPathBatchNormBlock(ResNeXtBlock):
    """WRONG (mistake 7): a BatchNorm after each path's last 1x1, none after the sum.

    Some Torch implementations of form (a) do this. In eval mode a BN is an
    affine map per channel, so it folds into the path's 1x1 and the block equals
    a form (c) block (:func:`fold_path_batchnorms`). In train mode each BN
    normalises a partial sum with that partial sum's own batch statistics, which
    no single BN after the sum can reproduce: forms (b) and (c) compute something
    else, and training the two gives different networks.

    Fix: sum the paths' 1x1 outputs first, then one ``BatchNorm2d(out)`` (``bn3``).
    """

    form = "WRONG (mistake 7: per-path BN)"
    path_relu = False

    def __init__(self, spec: BlockSpec) -> None:
        super().__init__(spec)
        self.paths = nn.ModuleList(_WrongPathEndingInBatchNorm(spec, self.path_relu) for _ in range(spec.cardinality))
        self._add_tail()
        # WRONG: no BN after the sum; it moved into the paths. add_module registers it as `self.bn3 = …`
        # would, without the assignment's clash with ResNeXtBlock's `bn3: BatchNorm2d` (broken on purpose here).
        self.add_module("bn3", nn.Identity())

    def aggregate(self, x: Tensor) -> Tensor:
        return sum(path(x) for path in self.paths)  # (B, out, H/s, W/s)


class WrongPerPathReluBlock(WrongPerPathBatchNormBlock):
    """WRONG (mistake 2): each path's last 1x1 followed by its own BN AND ReLU, before the sum.

    Every path's output is then non-negative, so the residual branch can only
    add to the shortcut, and ReLU(Σ) ≠ Σ ReLU: no weights of forms (b)/(c)
    compute this block, in train or eval mode. The paper (and ResNet) apply the
    only ReLU on this path AFTER the shortcut add.

    Fix: no ReLU inside the paths after the last 1x1; one BN after the sum, the
    ReLU after the add (:class:`blocks.SummedPathsBlock`).
    """

    form = "WRONG (mistake 2: per-path BN and ReLU)"
    path_relu = True  # WRONG


class WrongGroupedFirstConvBlock(GroupedConvBlock):
    """WRONG (mistake 3): ``groups=C`` on the first 1x1 convolution as well as on the 3x3.

    Path i then sees only in/C of the input channels instead of all of them:
    conv1 has C times fewer weights and multiply-adds, and the block is a
    different, weaker function. No weights of the paper's block can be moved
    here: its paths read every input channel, these cannot.

    Fix: conv1 dense (``groups=1``); only the 3x3 has C groups.
    """

    form = "WRONG (mistake 3: grouped first 1x1)"

    def __init__(self, spec: BlockSpec) -> None:
        super().__init__(spec)
        self.conv1 = nn.Conv2d(  # WRONG: groups=C on a 1x1
            spec.in_channels, spec.grouped_channels, kernel_size=1, groups=spec.cardinality, bias=False
        )


class WrongStrideOnFirstConvBlock(GroupedConvBlock):
    """WRONG (mistake 5): the stride on the first 1x1 instead of the 3x3 (ResNet v1's placement).

    The weights have the same shapes, so parameter counts and state_dicts match,
    but the 1x1 with stride 2 reads only one input position in four, and the 3x3
    then runs on the smaller map: fewer multiply-adds and a different function.

    Fix: stride on the 3x3 (paper section 4; torchvision's "ResNet v1.5").
    """

    form = "WRONG (mistake 5: stride on the 1x1)"

    def __init__(self, spec: BlockSpec) -> None:
        super().__init__(spec)
        channels = spec.grouped_channels
        self.conv1 = nn.Conv2d(spec.in_channels, channels, 1, stride=spec.stride, bias=False)  # WRONG
        self.conv2 = nn.Conv2d(  # WRONG: stride 1 here
            channels, channels, 3, padding=1, groups=spec.cardinality, bias=False
        )


def _with_blocks(net: ResNeXt, make_block: Callable[[BlockSpec], nn.Module]) -> ResNeXt:
    """``net`` with every block replaced by ``make_block(block.spec)``; returns ``net``."""
    for stage in net.stages:
        for j, block in enumerate(stage):
            stage[j] = make_block(cast(ResNeXtBlock, block).spec)  # a stage holds only blocks
    return net


def wrong_quarter_width_resnext(depth: int = 50, cardinality: int = 32) -> ResNeXt:
    """WRONG (mistake 4): a "32x4d" whose bottleneck width is ``out_channels // 4``, cut in C groups.

    ``out_channels // 4`` is ResNet's bottleneck width (64 for 256 outputs).
    Split into 32 groups it gives d = 2 in the first stage: the network is
    really 32x2d (C·d = 64, 128, 256, 512 instead of 128, 256, 512, 1024).

    Fix: C·d = C · d · 2^stage (paper Table 1), i.e. ``blocks.resnext(depth, 32, 4)``.
    """

    def quarter_width(spec: BlockSpec) -> nn.Module:
        width = spec.out_channels // 4 // spec.cardinality  # WRONG: ResNet's planes, split in C
        return build(dataclasses.replace(spec, width=width), "c")

    return _with_blocks(resnext(depth, cardinality, 4), quarter_width)


def wrong_extra_block_resnext(depth: int = 50, cardinality: int = 32, width: int = 4) -> ResNeXt:
    """WRONG (mistake 6): each stage is one projection block PLUS the paper's N blocks.

    Table 1's "×3" counts the projection block: conv2 has 3 blocks in all. Adding
    N identity blocks after it gives N + 1 per stage (4-5-7-4 for ResNeXt-50).

    Fix: N blocks per stage, the first of which projects.
    """
    counts = tuple(1 + n for n in STAGE_BLOCKS[depth])  # WRONG: 1 projection + N identity blocks
    return ResNeXt(counts, cardinality, width)


WRONG_BLOCKS: dict[int, type[ResNeXtBlock]] = {  # the mistakes that live in one block
    1: WrongSharedPathBlock,
    2: WrongPerPathReluBlock,
    3: WrongGroupedFirstConvBlock,
    5: WrongStrideOnFirstConvBlock,
    7: WrongPerPathBatchNormBlock,
}
MISTAKES = tuple(range(1, 8))


def wrong_resnext(mistake: int, depth: int = 50, cardinality: int = 32, width: int = 4) -> ResNeXt:
    """WRONG on purpose: a ResNeXt (ImageNet stem, 1000 classes) with mistake ``mistake``.

    Args:
        mistake: 1 to 7, as numbered in this module's docstring.
        depth: 50, 101 or 152.
        cardinality: C.
        width: d of the first stage (ignored by mistake 4, whose width is the mistake).

    Returns:
        The network; compare it with ``blocks.resnext(depth, cardinality, width)``.

    Raises:
        ValueError: ``mistake`` is not 1 to 7.

    Example:
        >>> blocks.audit(wrong_resnext(3), (1, 3, 64, 64)).problems[0]
        'layer1.{0-2}.conv1, …, layer4.{0-2}.conv1 (16 modules): a 1x1 convolution with groups=32; …'
    """
    if mistake not in MISTAKES:
        raise ValueError(f"mistake must be one of {list(MISTAKES)}, got {mistake!r}")
    if mistake == 4:
        return wrong_quarter_width_resnext(depth, cardinality)
    if mistake == 6:
        return wrong_extra_block_resnext(depth, cardinality, width)
    return _with_blocks(resnext(depth, cardinality, width), WRONG_BLOCKS[mistake])


def fold_path_batchnorms(block: WrongPerPathBatchNormBlock) -> GroupedConvBlock:
    """The eval-mode fix of mistake 7: a form (c) block computing the same function in eval mode.

    In eval mode path i's BN is y = s_i ⊙ z + b_i with s_i = γ_i / √(σ²_i + ε)
    and b_i = β_i − s_i ⊙ μ_i. Folded into the path's 1x1 (W3_i ← diag(s_i) W3_i)
    the block's branch is Σ_i diag(s_i) W3_i T'_i(x) + Σ_i b_i: form (a) with one
    BN after the sum that adds Σ_i b_i and scales by 1 (weight √(1 + ε),
    running mean 0, running variance 1). In train mode the two differ.

    Args:
        block: a :class:`WrongPerPathBatchNormBlock` (for a :class:`WrongPerPathReluBlock`
            the result is the block without its per-path ReLUs, i.e. NOT the same function).

    Returns:
        A new form (c) block, in eval mode, with the block's dtype.

    Raises:
        TypeError: ``block`` is not a :class:`WrongPerPathBatchNormBlock`.
    """
    if not isinstance(block, WrongPerPathBatchNormBlock):
        raise TypeError(f"block must be a WrongPerPathBatchNormBlock, got {type(block).__name__}")
    paths = [cast(_WrongPathEndingInBatchNorm, path) for path in block.paths]
    state = {k: v for k, v in block.state_dict().items() if ".bn3." not in k}
    like = paths[0].bn3
    shift = torch.zeros_like(like.bias)  # Σ_i b_i: (out,)
    for i, path in enumerate(paths):
        bn = path.bn3
        assert bn.running_mean is not None and bn.running_var is not None  # BatchNorm2d tracks them by default
        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)  # (out,)
        state[f"paths.{i}.conv3.weight"] = scale[:, None, None, None] * path.conv3.weight  # (out, d, 1, 1)
        shift = shift + bn.bias - scale * bn.running_mean
    assert like.running_mean is not None and like.running_var is not None and like.num_batches_tracked is not None
    state["bn3.weight"] = torch.full_like(like.weight, math.sqrt(1 + like.eps))
    state["bn3.bias"] = shift
    state["bn3.running_mean"] = torch.zeros_like(like.running_mean)
    state["bn3.running_var"] = torch.ones_like(like.running_var)
    state["bn3.num_batches_tracked"] = like.num_batches_tracked
    with torch.no_grad():
        canonical = {k: v.detach() for k, v in to_canonical(state).items()}
        return cast(GroupedConvBlock, assemble(block.spec, "c", canonical, training=False))
