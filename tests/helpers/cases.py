"""The inputs many tests share: the specs every proof runs over, the transplant directions, bad arguments."""

from __future__ import annotations

import itertools

import torch
from torch import nn

import blocks
from blocks import BlockSpec, resnext
from blocks.util.numerics import randomise_batchnorm

# Specs every equivalence proof runs over: cardinality 1 (plain ResNet bottleneck),
# widths that are not powers of two, stride 1 and 2, identity and projection shortcuts.
SPECS = [
    BlockSpec(256, 256, cardinality=32, width=4),  # ResNeXt-50 conv2 block, identity
    BlockSpec(64, 256, cardinality=32, width=4),  # first block of conv2: projection, stride 1
    BlockSpec(256, 512, cardinality=32, width=8, stride=2),  # first block of conv3
    BlockSpec(16, 16, cardinality=1, width=7),  # cardinality 1: ResNet's bottleneck
    BlockSpec(12, 20, cardinality=3, width=5, stride=2),
    BlockSpec(24, 24, cardinality=6, width=3, stride=2),  # stride 2 with equal channels
]


def spec_id(spec: BlockSpec) -> str:
    return f"{spec.in_channels}-{spec.out_channels}_{spec.cardinality}x{spec.width}d_s{spec.stride}"


# Every direction a transplant can go between two forms, source -> target: a->b, a->c, b->a, b->c, c->a, c->b.
DIRECTIONS = list(itertools.permutations("abc", 2))


def direction_id(direction: tuple[str, str]) -> str:
    return "->".join(direction)


# The non-modules of the hostile-user list (issue 19), given where a module belongs.
NOT_MODULES = [None, torch.ones(2), "resnext50", BlockSpec(8, 8, 2, 2)]
NOT_MODULE_IDS = ["None", "tensor", "str", "BlockSpec"]


def random_input(spec: BlockSpec, dtype: torch.dtype = torch.float64, seed: int = 1) -> torch.Tensor:
    """A batch of 4 random 8x8 images: enough values per channel for train-mode BN."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(4, spec.in_channels, 8, 8, generator=generator).to(dtype)


def freeze_batch_norms(module: nn.Module) -> nn.Module:
    """Put every BN of ``module`` in eval mode, as fine-tuning does: they normalise with their running statistics."""
    for layer in module.modules():
        if isinstance(layer, nn.BatchNorm2d):
            layer.eval()
    return module


def small_net(form: str = "c") -> blocks.ResNeXt:
    """A ResNeXt-50 2x4d, 10 classes, CIFAR stem, its BNs randomised, in eval mode: a whole network, but small."""
    torch.manual_seed(0)
    net = resnext(50, 2, 4, form=form, num_classes=10, stem="cifar")
    return randomise_batchnorm(net, torch.Generator().manual_seed(0)).eval()
