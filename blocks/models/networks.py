"""Whole ResNeXt networks built from blocks of any form (paper Table 1 and section 5.3).

A network is a stem, stages of blocks, global average pooling and a linear
classifier. Stage i (from 0) outputs 256·2^i channels (``base_channels``·2^i
for smaller networks) and its paths have width
d·2^i (the paper doubles the bottleneck width whenever it halves the spatial
size, Table 1); the first block of every stage but the first has stride 2.

Form (c) networks use torchvision's names (``conv1 bn1 layer1.0.conv2 … fc``),
so torchvision checkpoints load into them with ``strict=True``.
"""

from __future__ import annotations

import copy
from typing import cast

import torch
from torch import nn

from blocks.core.build import build
from blocks.core.forms import check_form
from blocks.core.guards import Footprint, footprint, guard_footprint, guard_memory
from blocks.core.spec import BlockSpec, check_positive_int
from blocks.util.checks import check_module
from blocks.util.deprecation import renamed_argument

STAGE_BLOCKS: dict[int, tuple[int, ...]] = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3), 152: (3, 8, 36, 3)}
STEMS = ("imagenet", "cifar")
STEM_CHANNELS = 64


class ResNeXt(nn.Module):
    """A ResNeXt: stem → stages of blocks → global average pool → fc.

    Build one with :func:`resnext` or :func:`resnext29`.

    Args:
        stage_blocks: number of blocks in each stage, e.g. (3, 4, 6, 3).
        cardinality: C, paths per block (the same in every stage).
        base_width: d of the first stage (timm's name; torchvision's is ``width_per_group``); it doubles
            in every following stage, as Table 1 has it. (``width`` of a :class:`BlockSpec` is d of one block.)
        form: "a", "b" or "c", the form of every block.
        num_classes: outputs of the classifier.
        stem: "imagenet" (7x7 conv stride 2 + 3x3 max-pool, for 224x224 inputs)
            or "cifar" (3x3 conv stride 1, no pooling, for 32x32 inputs).
        base_channels: output channels of the first stage; stage i outputs
            base_channels·2^i. The paper's 256 by default; smaller values give the
            small networks that train on a laptop CPU (see :mod:`blocks.training.loop`).
    """

    @renamed_argument("width", "base_width")
    def __init__(
        self,
        stage_blocks: tuple[int, ...],
        cardinality: int,
        base_width: int,
        form: str = "c",
        num_classes: int = 1000,
        stem: str = "imagenet",
        base_channels: int = 256,
    ) -> None:
        super().__init__()
        check_positive_int("cardinality", cardinality)
        check_positive_int("base_width", base_width)
        check_positive_int("num_classes", num_classes)
        check_positive_int("base_channels", base_channels)
        if not isinstance(stage_blocks, tuple) or not stage_blocks:
            raise ValueError(f"stage_blocks must be a non-empty tuple of block counts, got {stage_blocks!r}")
        for i, count in enumerate(stage_blocks):
            check_positive_int(f"stage_blocks[{i}]", count)
        check_form(form)
        if stem not in STEMS:
            raise ValueError(f"stem must be one of {list(STEMS)}, got {stem!r}")
        needed = network_footprint(stage_blocks, cardinality, base_width, form, num_classes, stem, base_channels)
        guard_footprint(
            f"ResNeXt: {sum(stage_blocks):,} blocks of {cardinality}x{base_width}d in form {form!r}"
            f" with {num_classes:,} classes",
            needed,
        )
        self.stem = stem
        if stem == "imagenet":
            self.conv1 = nn.Conv2d(3, STEM_CHANNELS, kernel_size=7, stride=2, padding=3, bias=False)
            self.maxpool: nn.Module = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        else:
            self.conv1 = nn.Conv2d(3, STEM_CHANNELS, kernel_size=3, stride=1, padding=1, bias=False)
            self.maxpool = nn.Identity()
        nn.init.kaiming_normal_(self.conv1.weight, mode="fan_out", nonlinearity="relu")
        self.bn1 = nn.BatchNorm2d(STEM_CHANNELS)
        self.relu = nn.ReLU(inplace=True)
        for i, (first, rest, count) in enumerate(_stage_specs(stage_blocks, cardinality, base_width, base_channels)):
            stage = [build(first, form)] + [build(rest, form) for _ in range(count - 1)]
            self.add_module(f"layer{i + 1}", nn.Sequential(*stage))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc: nn.Module = nn.Linear(base_channels * 2 ** (len(stage_blocks) - 1), num_classes)

    @property
    def stages(self) -> list[nn.Sequential]:
        """The stages layer1, layer2, … in order."""
        return [cast(nn.Sequential, module) for name, module in self.named_children() if name.startswith("layer")]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (B, 3, H, W)
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))  # (B, 64, H/4, W/4); cifar: (B, 64, H, W)
        for stage in self.stages:
            x = stage(x)  # each stage after the first halves H and W and doubles the channels
        x = torch.flatten(self.avgpool(x), 1)  # (B, base_channels·2^(stages-1))
        return self.fc(x)  # (B, num_classes)


def _stage_specs(
    stage_blocks: tuple[int, ...], cardinality: int, width: int, base_channels: int
) -> list[tuple[BlockSpec, BlockSpec, int]]:
    """Per stage: its first block (stride 2 after stage 0, a projection), the spec of the others, and the count."""
    stages = []
    for i, count in enumerate(stage_blocks):
        in_channels = STEM_CHANNELS if i == 0 else base_channels * 2 ** (i - 1)
        out_channels = base_channels * 2**i
        first = BlockSpec(in_channels, out_channels, cardinality, width * 2**i, stride=2 if i > 0 else 1)
        stages.append((first, BlockSpec(out_channels, out_channels, cardinality, width * 2**i), count))
    return stages


def network_footprint(
    stage_blocks: tuple[int, ...],
    cardinality: int,
    width: int,
    form: str = "c",
    num_classes: int = 1000,
    stem: str = "imagenet",
    base_channels: int = 256,
) -> Footprint:
    """The parameter and buffer values and the modules of a :class:`ResNeXt`, by closed form, before building it.

    The arguments are :class:`ResNeXt`'s (checked by it, not here). ``ResNeXt`` refuses
    a network over the limits of :func:`blocks.core.build.guard_footprint` with this estimate.

    Example:
        >>> network_footprint((3, 4, 6, 3), 32, 4).values   # parameters 25,028,904, plus BN statistics
        25098173
    """
    kernel = 7 if stem == "imagenet" else 3
    stem_values = 3 * STEM_CHANNELS * kernel * kernel + 4 * STEM_CHANNELS + 1  # conv1, bn1 (and its counter)
    features = base_channels * 2 ** (len(stage_blocks) - 1)
    # modules: the network, conv1, bn1, relu, maxpool, avgpool, fc, and one Sequential per stage
    needed = Footprint(stem_values + features * num_classes + num_classes, 7 + len(stage_blocks))
    for first, rest, count in _stage_specs(stage_blocks, cardinality, width, base_channels):
        needed += footprint(first, form) + footprint(rest, form) * (count - 1)
    return needed


@renamed_argument("width", "base_width")
def resnext(
    depth: int,
    cardinality: int,
    base_width: int,
    form: str = "c",
    num_classes: int = 1000,
    stem: str = "imagenet",
) -> ResNeXt:
    """ResNeXt-50/101/152 (paper Table 1); cardinality 1 with base width 64 is ResNet.

    Args:
        depth: 50, 101 or 152 (3-4-6-3, 3-4-23-3 or 3-8-36-3 blocks per stage).
        cardinality: C, paths per block.
        base_width: d in the first stage (4 for "32x4d"); doubles per stage.
        form: "a", "b" or "c" (torchvision's layout and names).
        num_classes: classifier outputs.
        stem: "imagenet" or "cifar".

    Raises:
        TypeError: ``depth`` is not a number.
        ValueError: an argument outside the values above (``depth`` 50.0 too: it must be an int);
            the message names it.

    Example:
        >>> net = resnext(50, 32, 4)   # torchvision.models.resnext50_32x4d's shape
        >>> sum(p.numel() for p in net.parameters())
        25028904
    """
    if not isinstance(depth, (int, float)):  # a list or a str: not a number at all (and maybe unhashable)
        raise TypeError(f"depth must be an int, one of {sorted(STAGE_BLOCKS)}, got {type(depth).__name__} {depth!r}")
    if type(depth) is not int or depth not in STAGE_BLOCKS:  # 50.0 == 50 and True == 1: the type decides
        raise ValueError(f"depth must be one of {sorted(STAGE_BLOCKS)}, got {depth!r}")
    return ResNeXt(STAGE_BLOCKS[depth], cardinality, base_width, form, num_classes, stem)


@renamed_argument("width", "base_width")
def resnext29(cardinality: int, base_width: int, form: str = "c", num_classes: int = 10) -> ResNeXt:
    """The paper's CIFAR ResNeXt-29 (section 5.3): 3x3 stem, 3 stages of 3 blocks, 256-512-1024.

    8x64d has 34.4M parameters and 16x64d 68.1M, as the paper's Table 7 lists.

    Example:
        >>> with torch.device("meta"):   # count without allocating
        ...     print(sum(p.numel() for p in resnext29(8, 64).parameters()))
        34426698
    """
    return ResNeXt((3, 3, 3), cardinality, base_width, form, num_classes, stem="cifar")


def replace_head(net: nn.Module, num_classes: int, hidden: int | None = None, dropout: float = 0.0) -> nn.Module:
    """A copy of ``net`` with a new classifier ``fc`` for ``num_classes`` outputs.

    Args:
        net: a network with a final ``fc`` linear layer (ours or torchvision's).
        num_classes: outputs of the new head.
        hidden: if given, the head is Linear → ReLU → Linear with this many hidden units.
        dropout: dropout probability before each linear layer of the head (0 for none).

    Returns:
        A new network; ``net`` itself is not changed. The new head has the old one's
        dtype and device (a float64 or CUDA network gets a float64 or CUDA head).

    Raises:
        TypeError: ``net`` is not a module.
        ValueError: bad ``num_classes``, ``hidden`` or ``dropout``, or no ``fc`` Linear in ``net``.
    """
    check_module("net", net)
    check_positive_int("num_classes", num_classes)
    if hidden is not None:
        check_positive_int("hidden", hidden)
    if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be a float in [0, 1), got {dropout!r}")
    old = _first_linear(net)
    features = old.in_features
    sizes = [features, num_classes] if hidden is None else [features, hidden, num_classes]
    values = sum(sizes[k] * sizes[k + 1] + sizes[k + 1] for k in range(len(sizes) - 1))  # weights and biases
    guard_memory(
        f"replace_head: a head with num_classes={num_classes}"
        + (f" and hidden={hidden}" if hidden else "")
        + f" ({' -> '.join(f'{n:,}' for n in sizes)} features, {values:,} parameters)",
        values * old.weight.dtype.itemsize,
        old.weight.device,
    )
    layers: list[nn.Module] = []
    for k in range(len(sizes) - 1):
        if k > 0:
            layers.append(nn.ReLU(inplace=True))
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        layers.append(nn.Linear(sizes[k], sizes[k + 1]))
    head = (layers[0] if len(layers) == 1 else nn.Sequential(*layers)).to(old.weight.device, old.weight.dtype)
    # deepcopy's memo maps an object's id to its copy: the old head is "copied" to the new one.
    return copy.deepcopy(net, memo={id(net.fc): head})


def _first_linear(net: nn.Module) -> nn.Linear:
    """The first Linear layer of ``net.fc``: the old head's input size, dtype and device."""
    fc = getattr(net, "fc", None)
    first = next((m for m in fc.modules() if isinstance(m, nn.Linear)), None) if isinstance(fc, nn.Module) else None
    if first is None:
        raise ValueError(f"replace_head: {type(net).__name__} has no classifier 'fc' with a Linear layer")
    return first
