"""ResNeXts as public repositories write them, each with one of the failure classes the audit once got wrong.

Written as other authors write them (a CIFAR repository's ``ResNeXtBottleneck`` with ``F.avg_pool2d(x, 8)``, a
tutorial's one path added C times onto its input, an ImageNet model with ``AvgPool2d(7)``-style pooling), each
is read right now: a fixed-size pool that covers the whole map is global (with a note), a stem convolution's bias
before its BN is mistake 8, the stages are split where the resolution or width changes (not at every projection),
the strides are compared with the expected network's, and weights used more than once are mistake 1 with a count.

``WORLD`` maps an id to ``(factory, input_size, mistakes, expected)`` as ``wrong.WRONG`` does: an empty
``mistakes`` means the model is right, and the audit must say nothing.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models import resnext50_32x4d

import blocks

from .correct import SMALL, randomize_batch_norms

CIFAR = (1, 3, 32, 32)
TUTORIAL_PATHS = 4  # C: the tutorial's block calls its one path this many times


class CifarBottleneck(nn.Module):
    """A CIFAR repository's bottleneck: reduce, grouped conv, expand; a shortcut only where the shape changes."""

    def __init__(self, in_channels, out_channels, stride, cardinality, width, always_project=False):
        super().__init__()
        D = cardinality * width
        self.conv_reduce = nn.Conv2d(in_channels, D, kernel_size=1, bias=False)
        self.bn_reduce = nn.BatchNorm2d(D)
        self.conv_conv = nn.Conv2d(D, D, 3, stride=stride, padding=1, groups=cardinality, bias=False)
        self.bn = nn.BatchNorm2d(D)
        self.conv_expand = nn.Conv2d(D, out_channels, kernel_size=1, bias=False)
        self.bn_expand = nn.BatchNorm2d(out_channels)
        self.shortcut = nn.Sequential()
        if always_project or in_channels != out_channels or stride != 1:
            self.shortcut.add_module("shortcut_conv", nn.Conv2d(in_channels, out_channels, 1, stride, bias=False))
            self.shortcut.add_module("shortcut_bn", nn.BatchNorm2d(out_channels))

    def forward(self, x):
        bottleneck = F.relu(self.bn_reduce(self.conv_reduce(x)), inplace=True)
        bottleneck = F.relu(self.bn(self.conv_conv(bottleneck)), inplace=True)
        bottleneck = self.bn_expand(self.conv_expand(bottleneck))
        return F.relu(self.shortcut(x) + bottleneck, inplace=True)


class CifarResNeXt29(nn.Module):
    """ResNeXt-29 for CIFAR (paper section 5.3) with knobs for the slips such repositories make."""

    def __init__(self, cardinality=2, width=4, stem_bias=False, strides=(1, 2, 2), always_project=False):
        super().__init__()
        self.conv_1_3x3 = nn.Conv2d(3, 64, 3, 1, 1, bias=stem_bias)
        self.bn_1 = nn.BatchNorm2d(64)
        channels, stages = 64, []
        for i, (out_channels, stride) in enumerate(zip((256, 512, 1024), strides)):
            units = []
            for j in range(3):
                units.append(
                    CifarBottleneck(channels, out_channels, stride if j == 0 else 1, cardinality, width * 2**i,
                                    always_project)
                )  # fmt: skip
                channels = out_channels
            stages.append(nn.Sequential(*units))
        self.stage_1, self.stage_2, self.stage_3 = stages
        self.classifier = nn.Linear(1024, 10)
        self.pool = 32 // (strides[0] * strides[1] * strides[2])  # the repository's 8: the last map at 32x32

    def forward(self, x):
        x = F.relu(self.bn_1(self.conv_1_3x3(x)), inplace=True)
        x = self.stage_3(self.stage_2(self.stage_1(x)))
        x = F.avg_pool2d(x, self.pool)
        return self.classifier(x.view(x.size(0), -1))


def _cifar(**knobs) -> nn.Module:
    torch.manual_seed(0)
    return randomize_batch_norms(CifarResNeXt29(**knobs), seed=0)


def expected_resnext29() -> nn.Module:
    return blocks.resnext29(2, 4)


class TutorialSharedPathBlock(nn.Module):
    """A widely copied tutorial's form (a): ONE path module, called C times, each added onto the input with +=."""

    def __init__(self, channels, cardinality, width):
        super().__init__()
        self.cardinality = cardinality
        self.path = nn.Sequential(
            nn.Conv2d(channels, width, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
            nn.Conv2d(width, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
            nn.Conv2d(width, channels, 1, bias=False), nn.BatchNorm2d(channels),
        )  # fmt: skip

    def forward(self, x):
        for _ in range(self.cardinality):
            x += self.path(x)  # WRONG: the same weights each time, and each add reads the previous one's result
        return F.relu(x)


def tutorial_shared_path_chained() -> nn.Module:
    torch.manual_seed(0)
    return randomize_batch_norms(TutorialSharedPathBlock(SMALL[1], TUTORIAL_PATHS, 4), seed=0)


def torchvision_fixed_size_pool() -> nn.Module:
    """torchvision's ResNeXt-50 with the head of older code: ``AvgPool2d(2)``, which is global at 64x64."""
    torch.manual_seed(0)
    model = resnext50_32x4d()
    model.avgpool = nn.AvgPool2d(2)
    return randomize_batch_norms(model, seed=0)


def torchvision_resnext50() -> nn.Module:
    torch.manual_seed(0)
    return resnext50_32x4d()


IMAGENET_64 = (1, 3, 64, 64)  # ResNeXt-50's last map is 2x2 here
Factory = Callable[[], nn.Module]
WORLD: dict[str, tuple[Factory, tuple[int, ...], frozenset[int], Factory | None]] = {
    "cifar-avg-pool2d-8-at-32": (_cifar, CIFAR, frozenset(), expected_resnext29),
    "imagenet-avgpool-covering-the-map": (torchvision_fixed_size_pool, IMAGENET_64, frozenset(), torchvision_resnext50),
    "cifar-stem-bias-before-bn": (lambda: _cifar(stem_bias=True), CIFAR, frozenset({8}), expected_resnext29),
    "cifar-stage-3-stride-4": (lambda: _cifar(strides=(1, 2, 4)), CIFAR, frozenset({12}), expected_resnext29),
    "cifar-projection-in-every-block": (lambda: _cifar(always_project=True), CIFAR, frozenset({9}), expected_resnext29),
    "tutorial-one-path-added-c-times-in-place": (tutorial_shared_path_chained, SMALL, frozenset({1, 10}), None),
}
