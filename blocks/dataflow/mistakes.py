"""The catalogue of WRONG ResNeXt blocks and networks, as course material often writes them.

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
    8 convolution bias before a BN            WrongConvBiasBlock             bias=False: the BN's shift is the bias
    9 shortcut: pooling, or 1x1 without BN    WrongPoolingShortcutBlock      1x1 conv with the stride, then BN
   10 ReLU before the add, none after it      WrongReluBeforeAddBlock        ReLU(BN3(F(x)) + shortcut(x))
   11 a path reads another group's channels   WrongLateBindingPathsBlock     path i reads channels i·d … (i+1)·d
   12 stem, head or blocks unlike the paper's wrong_stem_resnext             the stem and head of Table 1

:data:`CATALOGUE` holds each with its measured symptom and fix (the audit's words);
:func:`wrong_resnext` builds a whole ResNeXt with any one of the twelve mistakes.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, cast

import torch
from torch import Tensor, nn

from blocks.core.build import assemble, build
from blocks.core.canonical import to_canonical
from blocks.core.forms import BlockPath, GroupedConvBlock, ResNeXtBlock
from blocks.core.spec import BlockSpec
from blocks.models.networks import STAGE_BLOCKS, ResNeXt, resnext
from blocks.util.deprecation import renamed_argument


class _CatalogueBlock(nn.Module):
    """What every wrong block of the catalogue says of itself: ``mistake``, its number and name in the catalogue.

    A wrong block is not a block of form a, b or c: ``blocks.transplant`` and ``blocks.form_of``
    refuse it by its class (a form's class is exactly SummedPathsBlock, ConcatenatedPathsBlock or
    GroupedConvBlock), whatever ``form`` it inherits.
    """

    mistake: ClassVar[str]
    spec: BlockSpec

    def extra_repr(self) -> str:
        return f"WRONG ({self.mistake}), spec={self.spec}"


class WrongSharedPathBlock(_CatalogueBlock, ResNeXtBlock):
    """WRONG (mistake 1): ONE path module called C times, added IN PLACE onto the input.

    ``self.path`` is a single 1x1 → 3x3 → 1x1 path; running it C times sums C
    copies of the same function with the same weights, so the block holds about
    1/C of the real block's parameters, and a tool that counts parameters per
    call counts the shared path C times. ``identity += …`` then writes the
    block's output into the caller's tensor whenever the shortcut is the identity.

    Fix: ``nn.ModuleList`` of C distinct paths (:class:`blocks.SummedPathsBlock`),
    and ``out + identity`` on a new tensor.
    """

    mistake = "mistake 1: one shared path"

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


class WrongPerPathBatchNormBlock(_CatalogueBlock, ResNeXtBlock):
    """WRONG (mistake 7): a BatchNorm after each path's last 1x1, none after the sum.

    Some Torch implementations of form (a) do this. In eval mode a BN is an
    affine map per channel, so it folds into the path's 1x1 and the block equals
    a form (c) block (:func:`fold_path_batchnorms`). In train mode each BN
    normalises a partial sum with that partial sum's own batch statistics, which
    no single BN after the sum can reproduce: forms (b) and (c) compute something
    else, and training the two gives different networks.

    Fix: sum the paths' 1x1 outputs first, then one ``BatchNorm2d(out)`` (``bn3``).
    """

    mistake = "mistake 7: per-path BN"
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

    mistake = "mistake 2: per-path BN and ReLU"
    path_relu = True  # WRONG


class WrongGroupedFirstConvBlock(_CatalogueBlock, GroupedConvBlock):
    """WRONG (mistake 3): ``groups=C`` on the first 1x1 convolution as well as on the 3x3.

    Path i then sees only in/C of the input channels instead of all of them:
    conv1 has C times fewer weights and multiply-adds, and the block is a
    different, weaker function. No weights of the paper's block can be moved
    here: its paths read every input channel, these cannot.

    Fix: conv1 dense (``groups=1``); only the 3x3 has C groups.
    """

    mistake = "mistake 3: grouped first 1x1"

    def __init__(self, spec: BlockSpec) -> None:
        super().__init__(spec)
        self.conv1 = nn.Conv2d(  # WRONG: groups=C on a 1x1
            spec.in_channels, spec.grouped_channels, kernel_size=1, groups=spec.cardinality, bias=False
        )


class WrongStrideOnFirstConvBlock(_CatalogueBlock, GroupedConvBlock):
    """WRONG (mistake 5): the stride on the first 1x1 instead of the 3x3 (ResNet v1's placement).

    The weights have the same shapes, so parameter counts and state_dicts match,
    but the 1x1 with stride 2 reads only one input position in four, and the 3x3
    then runs on the smaller map: fewer multiply-adds and a different function.

    Fix: stride on the 3x3 (paper section 4; torchvision's "ResNet v1.5").
    """

    mistake = "mistake 5: stride on the 1x1"

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


class WrongConvBiasBlock(_CatalogueBlock, GroupedConvBlock):
    """WRONG (mistake 8): convolutions with ``bias=True``, each followed by a BN.

    A BN subtracts its input's mean per channel, so a constant added just before
    it is removed again (in train mode by the batch mean, in eval mode it only
    shifts the running mean the BN subtracts). The biases are parameters that
    change nothing: C·d + C·d + out per block, plus the projection's out.

    Fix: ``bias=False`` on every convolution followed by a BN; the BN's own shift is the bias.
    """

    mistake = "mistake 8: conv bias before BN"

    def __init__(self, spec: BlockSpec) -> None:
        super().__init__(spec)
        for name in ("conv1", "conv2", "conv3"):
            conv = getattr(self, name)
            conv.bias = nn.Parameter(torch.empty(conv.out_channels).uniform_(-0.1, 0.1))  # WRONG: BN removes it again


class WrongPoolingShortcutBlock(_CatalogueBlock, GroupedConvBlock):
    """WRONG (mistake 9): a shortcut that averages 2x2 pixels, then a 1x1 conv, with no BN.

    The paper's projection (its option B, section 4) is a 1x1 convolution with the
    stride, followed by BN, and only where the identity does not fit. This one
    pools first and leaves the BN out, so the shortcut's scale is not normalised
    like the branch's and no weights of the paper's block compute it.

    Fix: ``downsample = Sequential(Conv2d(in, out, 1, stride=s, bias=False), BatchNorm2d(out))``.
    """

    mistake = "mistake 9: pooling shortcut"

    def __init__(self, spec: BlockSpec) -> None:
        super().__init__(spec)
        if spec.has_projection:  # where the identity fits, it stays
            self.downsample = nn.Sequential(  # WRONG: pooling, and no BN after the 1x1
                nn.AvgPool2d(spec.stride) if spec.stride > 1 else nn.Identity(),
                nn.Conv2d(spec.in_channels, spec.out_channels, 1, bias=False),
            )


class WrongReluBeforeAddBlock(_CatalogueBlock, GroupedConvBlock):
    """WRONG (mistake 10): the ReLU on the branch before the add, and none after it.

    ``relu(bn3(F(x))) + x``: the branch can then only add to the shortcut, never
    subtract, and the block's output is not rectified, so the next block sees
    negative inputs that the paper's never does.

    Fix: ``relu(bn3(F(x)) + shortcut(x))``, the only ReLU after the add.
    """

    mistake = "mistake 10: ReLU before the add"

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn3(self.aggregate(x)))  # WRONG: ReLU before the add
        return out + (x if self.downsample is None else self.downsample(x))  # WRONG: no ReLU after it


class WrongLateBindingPathsBlock(_CatalogueBlock, ResNeXtBlock):
    """WRONG (mistake 11): the paths are a list of lambdas that all read the LAST group's channels.

    ``[lambda t: t[:, i * d:(i + 1) * d] for i in range(C)]`` binds ``i`` late: every
    lambda uses the value ``i`` has when the loop ends, C - 1. Each path's 3x3 then
    reads group C - 1 of the first 1x1's channels, the other groups are computed and
    thrown away, and the block runs without an error.

    Fix: bind the index when the function is made (``lambda t, i=i: …``), or slice in the loop.
    """

    mistake = "mistake 11: every path reads the last group"

    def __init__(self, spec: BlockSpec) -> None:
        super().__init__(spec)
        d = spec.width
        self.conv1 = nn.Conv2d(spec.in_channels, spec.grouped_channels, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(spec.grouped_channels)
        self.conv2s = nn.ModuleList(
            nn.Conv2d(d, d, 3, stride=spec.stride, padding=1, bias=False) for _ in range(spec.cardinality)
        )
        self.bn2 = nn.BatchNorm2d(spec.grouped_channels)
        self.conv3 = nn.Conv2d(spec.grouped_channels, spec.out_channels, 1, bias=False)
        self.groups = [lambda t: t[:, i * d : (i + 1) * d] for i in range(spec.cardinality)]  # noqa: B023  WRONG
        self._add_tail()

    def aggregate(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))  # (B, C*d, H, W)
        paths = [conv(group(out)) for conv, group in zip(self.conv2s, self.groups)]  # each (B, d, H/s, W/s)
        return self.conv3(self.relu(self.bn2(torch.cat(paths, dim=1))))  # (B, out, H/s, W/s)


def wrong_stem_resnext(depth: int = 50, cardinality: int = 32, width: int = 4) -> ResNeXt:
    """WRONG (mistake 12): an ImageNet ResNeXt with the CIFAR stem (one 3x3 conv, no max pool).

    Table 1's stem is a 7x7 conv with stride 2 and a 3x3 max pool with stride 2:
    the first stage runs on 56x56 for a 224x224 image. With the 3x3 stem it runs on
    224x224: 16 times the multiply-adds of every stage, for the same parameters
    within 9,408 - 1,728 = 7,680.

    Fix: ``blocks.resnext(depth, cardinality, width)`` (``stem="imagenet"``).
    """
    return ResNeXt(STAGE_BLOCKS[depth], cardinality, width, stem="cifar", num_classes=1000)  # WRONG: the CIFAR stem


WRONG_BLOCKS: dict[int, type[ResNeXtBlock]] = {  # the mistakes that live in one block
    1: WrongSharedPathBlock,
    2: WrongPerPathReluBlock,
    3: WrongGroupedFirstConvBlock,
    5: WrongStrideOnFirstConvBlock,
    7: WrongPerPathBatchNormBlock,
    8: WrongConvBiasBlock,
    9: WrongPoolingShortcutBlock,
    10: WrongReluBeforeAddBlock,
    11: WrongLateBindingPathsBlock,
}


@dataclass(frozen=True)
class Mistake:
    """One entry of the catalogue: what is wrong, what it does, how to fix it.

    Attributes:
        number: its number, 1 to 12.
        title: what the code does wrong, in a few words.
        symptom: what it does to ResNeXt-50 32x4d, measured (see docs/usage.md, Common mistakes).
        fix: what to write instead.
        variant: the name of its ``Wrong…`` class or ``wrong_…`` function in this module.
    """

    number: int
    title: str
    symptom: str
    fix: str
    variant: str


CATALOGUE: dict[int, Mistake] = {
    m.number: m
    for m in (
        Mistake(1, "one path module called C times, or += onto the block's input",
                "2,720 unique parameters in a 71,168-parameter block, and the caller's tensor is overwritten",
                "make C distinct paths (an nn.ModuleList), and write out = out + identity", "WrongSharedPathBlock"),
        Mistake(2, "BN and ReLU after each path's last 1x1",
                "the residual branch is never negative, and no form (b)/(c) weights compute the block",
                "sum the paths first, then one BN, and apply the ReLU only after the add", "WrongPerPathReluBlock"),
        Mistake(3, "groups=C on the first 1x1 as well as on the 3x3",
                "an input channel reaches 4 of the 128 first-1x1 channels; ResNeXt-50 has 16.6 M parameters",
                "make the first 1x1 dense (groups=1); only the 3x3 is grouped", "WrongGroupedFirstConvBlock"),
        Mistake(4, "bottleneck width out_channels // 4, split in C groups",
                "the stages are 32x2d ... 32x16d: it is ResNeXt-50 32x2d with 14.6 M parameters",
                "use C·d = C · d · 2^stage, as in Table 1", "wrong_quarter_width_resnext"),
        Mistake(5, "the stride on the first 1x1 instead of the 3x3",
                "the same parameters, 3.77 instead of 4.23 GMACs, and a relative error of ~0.2 with the same weights",
                "put the stride on the 3x3 (paper section 4)", "WrongStrideOnFirstConvBlock"),
        Mistake(6, "a projection block followed by N identity blocks",
                "4-5-7-4 blocks instead of 3-4-6-3, 31.0 M parameters",
                "use N blocks per stage in all, the first of them projecting", "wrong_extra_block_resnext"),
        Mistake(7, "a BN after each path's last 1x1, none after the sum",
                "equal to form (c) in eval mode once the BNs are folded (5e-16), but not in train mode (0.8)",
                "sum the paths first, then one BN", "WrongPerPathBatchNormBlock"),
        Mistake(8, "a convolution bias just before a BN",
                "parameters that change nothing: the BN subtracts the bias again (+21,056 in ResNeXt-50)",
                "use bias=False on every convolution followed by a BN", "WrongConvBiasBlock"),
        Mistake(9, "a shortcut that is neither the identity nor the paper's projection",
                "the shortcut is not normalised like the branch, and no weights of the paper's block compute it",
                "use the identity where it fits, else a 1x1 conv with the stride followed by BN",
                "WrongPoolingShortcutBlock"),
        Mistake(10, "the ReLU on the branch before the add, or none after the add",
                "the branch can only add to the shortcut, or the block's output can be negative",
                "write relu(bn3(F(x)) + shortcut(x))", "WrongReluBeforeAddBlock"),
        Mistake(11, "a path reads other channels than its own group",
                "the paths' 3x3s read one group's channels and the other groups' are computed for nothing",
                "slice path i's channels i·d ... (i+1)·d, binding i when the slice is made",
                "WrongLateBindingPathsBlock"),
        Mistake(12, "blocks per stage, widths, stem or head unlike the network it claims to be",
                "the CIFAR stem on ResNeXt-50: 16x the multiply-adds of every stage at 224x224",
                "build the stages, stem and head of the paper's Table 1", "wrong_stem_resnext"),
    )
}  # fmt: skip
MISTAKES = tuple(CATALOGUE)


@renamed_argument("width", "base_width")
def wrong_resnext(mistake: int, depth: int = 50, cardinality: int = 32, base_width: int = 4) -> ResNeXt:
    """WRONG on purpose: a ResNeXt (ImageNet stem, 1000 classes) with mistake ``mistake``.

    Args:
        mistake: 1 to 12, as numbered in :data:`CATALOGUE`.
        depth: 50, 101 or 152.
        cardinality: C.
        base_width: d of the first stage (ignored by mistake 4, whose base_width is the mistake).

    Returns:
        The network; compare it with ``blocks.resnext(depth, cardinality, base_width)``.

    Raises:
        ValueError: ``mistake`` is not 1 to 12.

    Example:
        >>> blocks.audit(wrong_resnext(3), (1, 3, 64, 64)).problems[0].mistake
        3
    """
    if mistake not in MISTAKES:
        raise ValueError(f"mistake must be one of {list(MISTAKES)}, got {mistake!r}")
    if mistake == 4:
        return wrong_quarter_width_resnext(depth, cardinality)
    if mistake == 6:
        return wrong_extra_block_resnext(depth, cardinality, base_width)
    if mistake == 12:
        return wrong_stem_resnext(depth, cardinality, base_width)
    return _with_blocks(resnext(depth, cardinality, base_width), WRONG_BLOCKS[mistake])


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
