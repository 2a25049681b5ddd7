"""Wrong ResNeXt / ResNet bottleneck implementations, each with mistakes of a numbered catalogue.

The catalogue (the paper's bottleneck is the reference: see ``correct.py``):

 1  one path module called C times (shared weights), and/or ``x += out`` writing onto the block's input in place
 2  BN and ReLU after each path's last 1x1, before the sum (form a)
 3  groups=C on the first 1x1 too, or each path's first 1x1 reading only its slice of the input
 4  C·d per stage = out/4 instead of out/2 (32x2d for 32x4d): visible only against an expected network
 5  stride on the first 1x1 instead of the 3x3
 6  a projection block followed by N identity blocks (N + 1 per stage): visible only against an expected network
 7  BN (no ReLU) after each path's last 1x1, before the sum (form a)
 8  a convolution with bias=True before a BN
 9  a shortcut that is neither identity nor 1x1 conv with the stride + BN (pooling first, no BN, a 3x3 conv...)
10  ReLU missing after the add, or ReLU applied to the branch before the add
11  a path reading other channels than its own group (late-binding lambdas, an off-by-one, every path on group 0)
12  blocks per stage, widths, stem or head differing from an expected network

``WRONG`` maps an id to ``(factory, input_size, mistakes, expected)``: ``mistakes`` is the frozenset of catalogue
numbers the model has, ``expected`` a factory of the correct network to compare with (required for 4, 6 and 12),
or None when the mistakes show without one. Every factory seeds torch, randomises its BatchNorms like the correct
corpus does, and returns a model that runs forward at its input size. Some entries are single blocks, whose input
size has the block's input channels.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.resnet import Bottleneck as TvBottleneck
from torchvision.models.resnet import ResNet as TvResNet

from .correct import (
    LARGE,
    SMALL,
    keras_cifar_resnext29,
    paper_table1_form_c,
    randomize_batch_norms,
    timm_small_resnext,
    torchvision_resnext50,
)

try:  # timm is optional, as in correct.py
    from timm.models.resnet import Bottleneck as TimmBottleneck
    from timm.models.resnet import ResNet as TimmResNet
except ImportError:  # pragma: no cover - depends on the environment
    TimmResNet = None

BLOCK_16 = (2, 16, 16, 16)  # single blocks fed by a 16-channel feature map
BLOCK_32 = (2, 32, 16, 16)  # single blocks fed by a 32-channel feature map


def _head(cin, num_classes=10):
    return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, num_classes))


# ---------------------------------------------------------------------------------------------------------------------
# Mistake 1
# ---------------------------------------------------------------------------------------------------------------------


class RepeatedPathBlock(nn.Module):
    def __init__(self, cin, cout, cardinality, d, stride):
        super().__init__()
        path = nn.Sequential(
            nn.Conv2d(cin, d, 1, bias=False),
            nn.BatchNorm2d(d),
            nn.ReLU(inplace=True),
            nn.Conv2d(d, d, 3, stride, 1, bias=False),
            nn.BatchNorm2d(d),
            nn.ReLU(inplace=True),
            nn.Conv2d(d, cout, 1, bias=False),
        )
        self.paths = nn.ModuleList([path] * cardinality)
        self.bn = nn.BatchNorm2d(cout)
        self.shortcut = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = self.paths[0](x)
        for path in self.paths[1:]:
            out = out + path(x)
        return F.relu(self.bn(out) + self.shortcut(x))


# Mistake 1 (form a): `nn.ModuleList([path] * C)` repeats ONE path module C times, so the paths share their weights.
def repeated_path_modulelist_form_a() -> nn.Module:
    torch.manual_seed(101)
    model = nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1, bias=False),
        nn.BatchNorm2d(16),
        nn.ReLU(inplace=True),
        RepeatedPathBlock(16, 32, 4, 4, 1),
        RepeatedPathBlock(32, 64, 4, 8, 2),
        _head(64),
    )
    return randomize_batch_norms(model, seed=101)


class SharedGroupConvBlock(nn.Module):
    def __init__(self, in_planes, planes, cardinality, stride=1):
        super().__init__()
        self.d = planes // cardinality
        self.reduce = nn.Conv2d(in_planes, planes, 1, bias=False)
        self.reduce_bn = nn.BatchNorm2d(planes)
        self.group_conv = nn.Conv2d(self.d, self.d, 3, stride, 1, bias=False)
        self.group_bn = nn.BatchNorm2d(planes)
        self.expand = nn.Conv2d(planes, 2 * planes, 1, bias=False)
        self.expand_bn = nn.BatchNorm2d(2 * planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != 2 * planes:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, 2 * planes, 1, stride, bias=False), nn.BatchNorm2d(2 * planes)
            )

    def forward(self, x):
        h = F.relu(self.reduce_bn(self.reduce(x)))
        h = torch.cat([self.group_conv(part) for part in torch.split(h, self.d, dim=1)], dim=1)
        h = F.relu(self.group_bn(h))
        h = self.expand_bn(self.expand(h))
        return F.relu(h + self.shortcut(x))


# Mistake 1 (form b): one nn.Conv2d(d, d, 3) is applied to every torch.split chunk: the C paths share their 3x3 weights.
def shared_3x3_over_chunks_form_b() -> nn.Module:
    torch.manual_seed(102)
    return randomize_batch_norms(SharedGroupConvBlock(32, 32, cardinality=4, stride=2), seed=102)


class InplaceBottleneck(nn.Module):
    def __init__(self, inplanes, outplanes, groups, width, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, groups=groups, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, outplanes, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(outplanes)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or inplanes != outplanes:
            self.downsample = nn.Sequential(
                nn.Conv2d(inplanes, outplanes, 1, stride, bias=False), nn.BatchNorm2d(outplanes)
            )

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.downsample is not None:
            x = self.downsample(x)
        x += out
        return self.relu(x)


# Mistake 1 (form c): `x += out` adds the branch onto the block's own input tensor, in place, in every identity block.
def inplace_add_onto_input_form_c() -> nn.Module:
    torch.manual_seed(103)
    model = nn.Sequential(
        nn.Conv2d(3, 32, 3, padding=1, bias=False),
        nn.BatchNorm2d(32),
        nn.ReLU(inplace=True),
        InplaceBottleneck(32, 32, groups=4, width=16),
        InplaceBottleneck(32, 64, groups=4, width=32, stride=2),
        InplaceBottleneck(64, 64, groups=4, width=32),
        _head(64),
    )
    return randomize_batch_norms(model, seed=103)


# ---------------------------------------------------------------------------------------------------------------------
# Mistakes 2 and 7: a BN (and a ReLU) closing every path of form (a)
# ---------------------------------------------------------------------------------------------------------------------


class PostActivatedPathsBlock(nn.Module):
    def __init__(self, in_channels, out_channels, cardinality=4, d=4, stride=1):
        super().__init__()
        self.branches = nn.ModuleList()
        for _ in range(cardinality):
            branch = nn.Sequential()
            branch.append(nn.Conv2d(in_channels, d, 1, bias=False))
            branch.append(nn.BatchNorm2d(d))
            branch.append(nn.ReLU())
            branch.append(nn.Conv2d(d, d, 3, stride, 1, bias=False))
            branch.append(nn.BatchNorm2d(d))
            branch.append(nn.ReLU())
            branch.append(nn.Conv2d(d, out_channels, 1, bias=False))
            branch.append(nn.BatchNorm2d(out_channels))
            branch.append(nn.ReLU())
            self.branches.append(branch)
        self.bn = nn.BatchNorm2d(out_channels)
        self.projection = None
        if stride != 1 or in_channels != out_channels:
            self.projection = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride, bias=False), nn.BatchNorm2d(out_channels)
            )

    def forward(self, x):
        aggregated = torch.zeros(())
        for branch in self.branches:
            aggregated = aggregated + branch(x)
        residual = x if self.projection is None else self.projection(x)
        return F.relu(self.bn(aggregated) + residual)


# Mistake 2 (form a): each path's Sequential ends 1x1 → BatchNorm2d → ReLU, so the paths are activated before the sum.
def bn_relu_after_each_path_form_a() -> nn.Module:
    torch.manual_seed(104)
    model = nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1, bias=False),
        nn.BatchNorm2d(16),
        nn.ReLU(),
        PostActivatedPathsBlock(16, 32),
        PostActivatedPathsBlock(32, 64, d=8, stride=2),
        _head(64),
    )
    return randomize_batch_norms(model, seed=104)


class NormalisedPathsBlock(nn.Module):
    def __init__(self, cin, cout, cardinality, d, stride):
        super().__init__()
        self.cardinality = cardinality
        for i in range(cardinality):
            setattr(self, f"path{i}_conv1", nn.Conv2d(cin, d, 1, bias=False))
            setattr(self, f"path{i}_bn1", nn.BatchNorm2d(d))
            setattr(self, f"path{i}_conv2", nn.Conv2d(d, d, 3, stride, 1, bias=False))
            setattr(self, f"path{i}_bn2", nn.BatchNorm2d(d))
            setattr(self, f"path{i}_conv3", nn.Conv2d(d, cout, 1, bias=False))
            setattr(self, f"path{i}_bn3", nn.BatchNorm2d(cout))
        self.bn = nn.BatchNorm2d(cout)
        self.proj_conv = nn.Conv2d(cin, cout, 1, stride, bias=False)
        self.proj_bn = nn.BatchNorm2d(cout)

    def forward(self, x):
        total = 0
        for i in range(self.cardinality):
            h = F.relu(getattr(self, f"path{i}_bn1")(getattr(self, f"path{i}_conv1")(x)))
            h = F.relu(getattr(self, f"path{i}_bn2")(getattr(self, f"path{i}_conv2")(h)))
            total = total + getattr(self, f"path{i}_bn3")(getattr(self, f"path{i}_conv3")(h))
        return F.relu(self.bn(total) + self.proj_bn(self.proj_conv(x)))


# Mistake 7 (form a): paths kept as setattr'd attributes, each closed by its own BatchNorm2d (no ReLU) before the sum.
def bn_after_each_path_form_a() -> nn.Module:
    torch.manual_seed(105)
    return randomize_batch_norms(NormalisedPathsBlock(16, 64, cardinality=4, d=8, stride=2), seed=105)


# ---------------------------------------------------------------------------------------------------------------------
# Mistake 3
# ---------------------------------------------------------------------------------------------------------------------


class GroupedReduceBottleneck(nn.Module):
    def __init__(self, in_chs, out_chs, cardinality, base_width, stride=1):
        super().__init__()
        width = cardinality * base_width
        self.conv1 = nn.Conv2d(in_chs, width, kernel_size=1, groups=cardinality, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.act1 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(width, width, kernel_size=3, stride=stride, padding=1, groups=cardinality, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.act2 = nn.ReLU(inplace=True)
        self.conv3 = nn.Conv2d(width, out_chs, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_chs)
        self.act3 = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or in_chs != out_chs:
            self.downsample = nn.Sequential(nn.Conv2d(in_chs, out_chs, 1, stride, bias=False), nn.BatchNorm2d(out_chs))

    def forward(self, x):
        shortcut = x
        x = self.act1(self.bn1(self.conv1(x)))
        x = self.act2(self.bn2(self.conv2(x)))
        x = self.bn3(self.conv3(x))
        if self.downsample is not None:
            shortcut = self.downsample(shortcut)
        x = x + shortcut
        return self.act3(x)


# Mistake 3 (form c): the author copied `groups=cardinality` onto conv1, so the first 1x1 is grouped as well.
def grouped_first_1x1_form_c() -> nn.Module:
    torch.manual_seed(106)
    model = nn.Sequential(
        OrderedDict(
            conv1=nn.Conv2d(3, 16, 3, padding=1, bias=False),
            bn1=nn.BatchNorm2d(16),
            act1=nn.ReLU(inplace=True),
            layer1=nn.Sequential(GroupedReduceBottleneck(16, 32, 4, 4)),
            layer2=nn.Sequential(
                GroupedReduceBottleneck(32, 64, 4, 8, stride=2), GroupedReduceBottleneck(64, 64, 4, 8)
            ),
            head=_head(64),
        )
    )
    return randomize_batch_norms(model, seed=106)


class SlicedInputPathsBlock(nn.Module):
    def __init__(self, cin, cout, cardinality, d, stride):
        super().__init__()
        self.cardinality = cardinality
        self.paths = nn.ModuleList(
            nn.Sequential(
                nn.Conv2d(cin // cardinality, d, 1, bias=False),
                nn.BatchNorm2d(d),
                nn.ReLU(inplace=True),
                nn.Conv2d(d, d, 3, stride, 1, bias=False),
                nn.BatchNorm2d(d),
                nn.ReLU(inplace=True),
                nn.Conv2d(d, cout, 1, bias=False),
            )
            for _ in range(cardinality)
        )
        self.bn = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        pieces = x.chunk(self.cardinality, dim=1)
        out = sum(path(piece) for path, piece in zip(self.paths, pieces))
        return F.relu(self.bn(out) + self.shortcut(x))


# Mistake 3 (form a): x.chunk(C) of the block's INPUT feeds path i its slice, so each first 1x1 sees cin/C channels.
def paths_read_input_slices_form_a() -> nn.Module:
    torch.manual_seed(107)
    return randomize_batch_norms(SlicedInputPathsBlock(32, 64, cardinality=4, d=8, stride=2), seed=107)


# ---------------------------------------------------------------------------------------------------------------------
# Mistake 4 (against an expected network)
# ---------------------------------------------------------------------------------------------------------------------


# Mistake 4: torchvision's ResNet class, width_per_group=2: C·d = 64 = out/4 in conv2 (32x2d where 32x4d is expected).
def torchvision_resnext50_32x2d() -> nn.Module:
    torch.manual_seed(108)
    return randomize_batch_norms(TvResNet(TvBottleneck, [3, 4, 6, 3], groups=32, width_per_group=2), seed=108)


class QuarterWidthBlock(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        cin, cout, stride, groups = cfg["in"], cfg["out"], cfg["stride"], cfg["groups"]
        width = cout // 4  # "bottleneck = a quarter of the output", as in ResNet-50
        self.body = nn.Sequential(
            nn.Conv2d(cin, width, 1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
            nn.Conv2d(width, width, 3, stride, 1, groups=groups, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
            nn.Conv2d(width, cout, 1, bias=False),
            nn.BatchNorm2d(cout),
        )
        projection = stride != 1 or cin != cout
        self.skip = (
            nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)) if projection else None
        )

    def forward(self, x):
        return F.relu(self.body(x) + (x if self.skip is None else self.skip(x)))


TABLE1_STAGES = [  # the expected network's stages (correct.paper_table1_form_c): outputs and blocks
    {"out": 32, "blocks": 1, "stride": 1},
    {"out": 64, "blocks": 2, "stride": 2},
    {"out": 128, "blocks": 2, "stride": 2},
    {"out": 256, "blocks": 1, "stride": 2},
]


# Mistake 4: a config-driven Table-1 ResNeXt whose block computes width = out // 4, i.e. 4x2d where 4x4d is expected.
def table1_quarter_width() -> nn.Module:
    torch.manual_seed(109)
    layers: list[nn.Module] = [
        nn.Conv2d(3, 16, 7, 2, 3, bias=False),
        nn.BatchNorm2d(16),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(3, 2, 1),
    ]
    cin = 16
    for stage in TABLE1_STAGES:
        for i in range(stage["blocks"]):
            cfg = {"in": cin, "out": stage["out"], "stride": stage["stride"] if i == 0 else 1, "groups": 4}
            layers.append(QuarterWidthBlock(cfg))
            cin = stage["out"]
    layers.append(_head(cin))
    return randomize_batch_norms(nn.Sequential(*layers), seed=109)


# ---------------------------------------------------------------------------------------------------------------------
# Mistake 5
# ---------------------------------------------------------------------------------------------------------------------


class CaffeResUnit(nn.Module):
    """Caffe-converted names: resXy_branch2a/b/c, bnXy_branch2a/b/c, resXy_branch1 for the projection."""

    def __init__(self, tag, cin, cout, groups, width, stride):
        super().__init__()
        self.tag = tag
        self.add_module(f"res{tag}_branch2a", nn.Conv2d(cin, width, 1, stride, bias=False))
        self.add_module(f"bn{tag}_branch2a", nn.BatchNorm2d(width))
        self.add_module(f"res{tag}_branch2b", nn.Conv2d(width, width, 3, 1, 1, groups=groups, bias=False))
        self.add_module(f"bn{tag}_branch2b", nn.BatchNorm2d(width))
        self.add_module(f"res{tag}_branch2c", nn.Conv2d(width, cout, 1, bias=False))
        self.add_module(f"bn{tag}_branch2c", nn.BatchNorm2d(cout))
        self.has_branch1 = stride != 1 or cin != cout
        if self.has_branch1:
            self.add_module(f"res{tag}_branch1", nn.Conv2d(cin, cout, 1, stride, bias=False))
            self.add_module(f"bn{tag}_branch1", nn.BatchNorm2d(cout))

    def forward(self, x):
        m, t = self._modules, self.tag
        h = F.relu(m[f"bn{t}_branch2a"](m[f"res{t}_branch2a"](x)))
        h = F.relu(m[f"bn{t}_branch2b"](m[f"res{t}_branch2b"](h)))
        h = m[f"bn{t}_branch2c"](m[f"res{t}_branch2c"](h))
        s = m[f"bn{t}_branch1"](m[f"res{t}_branch1"](x)) if self.has_branch1 else x
        return F.relu(h + s)


# Mistake 5 (form c): a Caffe-style conversion that keeps the original ResNet's stride on branch2a, the first 1x1.
def stride_on_first_1x1_caffe_form_c() -> nn.Module:
    torch.manual_seed(110)
    model = nn.Sequential(
        OrderedDict(
            conv1=nn.Conv2d(3, 16, 3, 1, 1, bias=False),
            bn_conv1=nn.BatchNorm2d(16),
            conv1_relu=nn.ReLU(),
            res2a=CaffeResUnit("2a", 16, 32, 4, 16, 1),
            res3a=CaffeResUnit("3a", 32, 64, 4, 32, 2),
            res3b=CaffeResUnit("3b", 64, 64, 4, 32, 1),
            res4a=CaffeResUnit("4a", 64, 128, 4, 64, 2),
            pool5=nn.AdaptiveAvgPool2d(1),
            flatten=nn.Flatten(),
            fc=nn.Linear(128, 10),
        )
    )
    return randomize_batch_norms(model, seed=110)


class StridedReducePath(nn.Module):
    def __init__(self, cin, d, cout, stride):
        super().__init__()
        self.a = nn.Conv2d(cin, d, 1, stride=stride, bias=False)
        self.a_bn = nn.BatchNorm2d(d)
        self.b = nn.Conv2d(d, d, 3, padding=1, bias=False)
        self.b_bn = nn.BatchNorm2d(d)
        self.c = nn.Conv2d(d, cout, 1, bias=False)

    def forward(self, x):
        return self.c(F.relu(self.b_bn(self.b(F.relu(self.a_bn(self.a(x)))))))


class StridedReduceBlock(nn.Module):
    def __init__(self, cin, cout, cardinality, d, stride):
        super().__init__()
        self.paths = nn.ModuleList([StridedReducePath(cin, d, cout, stride) for _ in range(cardinality)])
        self.bn = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        return F.relu(self.bn(torch.stack([p(x) for p in self.paths], dim=0).sum(dim=0)) + self.shortcut(x))


# Mistake 5 (form a): every path's first 1x1 carries stride=2 and its 3x3 has stride 1.
def stride_on_path_1x1_form_a() -> nn.Module:
    torch.manual_seed(111)
    return randomize_batch_norms(StridedReduceBlock(32, 64, cardinality=4, d=8, stride=2), seed=111)


# ---------------------------------------------------------------------------------------------------------------------
# Mistake 6 (against an expected network): Keras-applications style conv_block / identity_block
# ---------------------------------------------------------------------------------------------------------------------


class SamePadConv(nn.Module):
    """Keras padding='same': symmetric at stride 1, one extra row and column at the bottom right at stride 2."""

    def __init__(self, cin, cout, k, stride=1, groups=1):
        super().__init__()
        self.pad = (0, 1, 0, 1) if (stride == 2 and k == 3) else (k // 2,) * 4
        self.conv = nn.Conv2d(cin, cout, k, stride, 0, groups=groups, bias=False)

    def forward(self, x):
        return self.conv(F.pad(x, self.pad))


def keras_bn(n):
    return nn.BatchNorm2d(n, eps=1e-3, momentum=0.01)


class ConvBlock(nn.Module):
    """keras.applications' conv_block: projection shortcut."""

    def __init__(self, cin, filters, cardinality, strides):
        super().__init__()
        self.branch = nn.Sequential(
            SamePadConv(cin, filters, 1),
            keras_bn(filters),
            nn.ReLU(),
            SamePadConv(filters, filters, 3, strides, groups=cardinality),
            keras_bn(filters),
            nn.ReLU(),
            SamePadConv(filters, 2 * filters, 1),
            keras_bn(2 * filters),
        )
        self.shortcut = nn.Sequential(SamePadConv(cin, 2 * filters, 1, strides), keras_bn(2 * filters))

    def forward(self, x):
        return F.relu(self.branch(x) + self.shortcut(x))


class IdentityBlock(nn.Module):
    """keras.applications' identity_block."""

    def __init__(self, filters, cardinality):
        super().__init__()
        self.branch = nn.Sequential(
            SamePadConv(2 * filters, filters, 1),
            keras_bn(filters),
            nn.ReLU(),
            SamePadConv(filters, filters, 3, groups=cardinality),
            keras_bn(filters),
            nn.ReLU(),
            SamePadConv(filters, 2 * filters, 1),
            keras_bn(2 * filters),
        )

    def forward(self, x):
        return F.relu(self.branch(x) + x)


# Mistake 6: ResNeXt-29 read as "conv_block, then 3 x identity_block" per stage: 4 blocks a stage where 3 are expected.
def keras_projection_plus_identity_blocks() -> nn.Module:
    torch.manual_seed(112)
    layers: list[nn.Module] = [SamePadConv(3, 16, 3), keras_bn(16), nn.ReLU()]
    cin = 16
    for stage, filters in enumerate((16, 32, 64)):
        layers.append(ConvBlock(cin, filters, 4, strides=1 if stage == 0 else 2))
        for _ in range(3):
            layers.append(IdentityBlock(filters, 4))
        cin = 2 * filters
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, 10)]
    return randomize_batch_norms(nn.Sequential(*layers), seed=112)


# ---------------------------------------------------------------------------------------------------------------------
# Mistake 8
# ---------------------------------------------------------------------------------------------------------------------


class FunctionalBiasBlock(nn.Module):
    def __init__(self, cin, cout, groups, width, stride):
        super().__init__()
        self.groups, self.stride = groups, stride
        self.p = nn.ParameterDict(
            {
                "w1": nn.Parameter(torch.randn(width, cin, 1, 1) * (2 / cin) ** 0.5),
                "b1": nn.Parameter(0.1 * torch.randn(width)),
                "w2": nn.Parameter(torch.randn(width, width // groups, 3, 3) * (2 / (9 * width // groups)) ** 0.5),
                "b2": nn.Parameter(0.1 * torch.randn(width)),
                "w3": nn.Parameter(torch.randn(cout, width, 1, 1) * (2 / width) ** 0.5),
                "b3": nn.Parameter(0.1 * torch.randn(cout)),
                "ws": nn.Parameter(torch.randn(cout, cin, 1, 1) * (2 / cin) ** 0.5),
                "bs": nn.Parameter(0.1 * torch.randn(cout)),
            }
        )
        self.bns = nn.ModuleList(
            [nn.BatchNorm2d(width), nn.BatchNorm2d(width), nn.BatchNorm2d(cout), nn.BatchNorm2d(cout)]
        )

    def forward(self, x):
        p = self.p
        h = F.relu(self.bns[0](F.conv2d(x, p["w1"], p["b1"])))
        h = F.relu(self.bns[1](F.conv2d(h, p["w2"], p["b2"], stride=self.stride, padding=1, groups=self.groups)))
        h = self.bns[2](F.conv2d(h, p["w3"], p["b3"]))
        s = self.bns[3](F.conv2d(x, p["ws"], p["bs"], stride=self.stride))
        return F.relu(h + s)


# Mistake 8 (form c, functional): every F.conv2d is given a bias vector although a BatchNorm follows each of them.
def functional_conv_bias_form_c() -> nn.Module:
    torch.manual_seed(113)
    return randomize_batch_norms(FunctionalBiasBlock(16, 32, groups=4, width=16, stride=2), seed=113)


class DefaultBiasPathBlock(nn.Module):
    def __init__(self, cin, cout, C, d, stride=1):
        super().__init__()
        self.paths = nn.ModuleList()
        for _ in range(C):
            self.paths.append(
                nn.Sequential(
                    nn.Conv2d(cin, d, 1),
                    nn.BatchNorm2d(d),
                    nn.ReLU(),
                    nn.Conv2d(d, d, 3, stride, 1),
                    nn.BatchNorm2d(d),
                    nn.ReLU(),
                    nn.Conv2d(d, cout, 1),
                )
            )
        self.bn = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = 0
        for path in self.paths:
            out = out + path(x)
        out = self.bn(out)
        return F.relu(out + self.shortcut(x))


# Mistake 8 (form a): a student left nn.Conv2d's default bias=True on every conv, paths and projection alike.
def default_bias_form_a() -> nn.Module:
    torch.manual_seed(114)
    model = nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1),  # the stem conv too has a bias before its BN
        nn.BatchNorm2d(16),
        nn.ReLU(),
        DefaultBiasPathBlock(16, 32, 4, 4),
        DefaultBiasPathBlock(32, 32, 4, 4),
        DefaultBiasPathBlock(32, 64, 4, 8, stride=2),
        _head(64),
    )
    return randomize_batch_norms(model, seed=114)


# ---------------------------------------------------------------------------------------------------------------------
# Mistake 9
# ---------------------------------------------------------------------------------------------------------------------


class AvgDownBottleneck(nn.Module):
    def __init__(self, cin, cout, cardinality, d, stride=1):
        super().__init__()
        width = cardinality * d
        self.conv1 = nn.Conv2d(cin, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, groups=cardinality, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, cout, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Identity()
        if stride != 1 or cin != cout:
            pool = (
                nn.AvgPool2d(stride, stride, ceil_mode=True, count_include_pad=False) if stride > 1 else nn.Identity()
            )
            self.shortcut = nn.Sequential(pool, nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return F.relu(out + self.shortcut(x))


# Mistake 9 (form c): a ResNet-D shortcut, AvgPool2d(2) then a stride-1 1x1 conv + BN, in the stride-2 blocks.
def avgpool_shortcut_form_c() -> nn.Module:
    torch.manual_seed(115)
    model = nn.Sequential(
        nn.Conv2d(3, 16, 3, 1, 1, bias=False),
        nn.BatchNorm2d(16),
        nn.ReLU(),
        AvgDownBottleneck(16, 32, 4, 4),
        AvgDownBottleneck(32, 64, 4, 8, stride=2),
        AvgDownBottleneck(64, 128, 4, 16, stride=2),
        _head(128),
    )
    return randomize_batch_norms(model, seed=115)


class ConvOnlyShortcutBlock(nn.Module):
    def __init__(self, cin, cout, cardinality, d, stride):
        super().__init__()
        self.towers = nn.ModuleList(
            nn.Sequential(
                nn.Conv2d(cin, d, 1, bias=False),
                nn.BatchNorm2d(d),
                nn.ReLU(inplace=True),
                nn.Conv2d(d, d, 3, stride, 1, bias=False),
                nn.BatchNorm2d(d),
                nn.ReLU(inplace=True),
            )
            for _ in range(cardinality)
        )
        self.merge = nn.Conv2d(cardinality * d, cout, 1, bias=False)
        self.merge_bn = nn.BatchNorm2d(cout)
        self.shortcut = nn.Conv2d(cin, cout, 1, stride, bias=False)

    def forward(self, x):
        y = self.merge_bn(self.merge(torch.cat([tower(x) for tower in self.towers], dim=1)))
        return F.relu(y + self.shortcut(x))


# Mistake 9 (form b): the projection is a bare strided 1x1 nn.Conv2d, with no BatchNorm after it.
def conv_without_bn_shortcut_form_b() -> nn.Module:
    torch.manual_seed(116)
    return randomize_batch_norms(ConvOnlyShortcutBlock(16, 32, cardinality=4, d=4, stride=2), seed=116)


# ---------------------------------------------------------------------------------------------------------------------
# Mistake 10
# ---------------------------------------------------------------------------------------------------------------------


class Residual(nn.Module):
    def __init__(self, *layers, shortcut=None):
        super().__init__()
        self.layers = nn.Sequential(*layers)
        self.shortcut = shortcut or nn.Identity()

    def forward(self, x):
        return self.layers(x) + self.shortcut(x)


def _unit(cin, cout, groups, width, stride=1):
    shortcut = None
    if stride != 1 or cin != cout:
        shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
    return Residual(
        nn.Conv2d(cin, width, 1, bias=False),
        nn.BatchNorm2d(width),
        nn.ReLU(),
        nn.Conv2d(width, width, 3, stride, 1, groups=groups, bias=False),
        nn.BatchNorm2d(width),
        nn.ReLU(),
        nn.Conv2d(width, cout, 1, bias=False),
        nn.BatchNorm2d(cout),
        shortcut=shortcut,
    )


# Mistake 10 (form c, Sequential + wrapper): the author never put an nn.ReLU after the Residual wrapper's sum.
def no_relu_after_add_sequential() -> nn.Module:
    torch.manual_seed(117)
    model = nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1, bias=False),
        nn.BatchNorm2d(16),
        nn.ReLU(),
        _unit(16, 32, 4, 16),
        _unit(32, 32, 4, 16),
        _unit(32, 64, 4, 32, stride=2),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(64, 10),
    )
    return randomize_batch_norms(model, seed=117)


class CopyPasteBottleneck(nn.Module):
    def __init__(self, inplanes, planes, stride=1, downsample=None, groups=4, base_width=32):
        super().__init__()
        width = int(planes * (base_width / 64.0)) * groups
        self.conv1 = nn.Conv2d(inplanes, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, groups=groups, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.relu(self.bn3(self.conv3(out)))
        if self.downsample is not None:
            identity = self.downsample(x)
        out = out + identity  # was `out += identity`: autograd refused it once the ReLU above was pasted in
        return self.relu(out)


# Mistake 10 (form c, torchvision layout): `out = self.relu(self.bn3(self.conv3(out)))` pasted: ReLU before the add.
def relu_on_branch_before_add() -> nn.Module:
    torch.manual_seed(118)
    downsample = nn.Sequential(nn.Conv2d(32, 64, 1, 2, bias=False), nn.BatchNorm2d(64))
    model = nn.Sequential(CopyPasteBottleneck(32, 16, stride=2, downsample=downsample), CopyPasteBottleneck(64, 16))
    return randomize_batch_norms(model, seed=118)


# ---------------------------------------------------------------------------------------------------------------------
# Mistake 11
# ---------------------------------------------------------------------------------------------------------------------


class LambdaSliceBlock(nn.Module):
    def __init__(self, cin, cout, cardinality, d, stride):
        super().__init__()
        self.conv_reduce = nn.Conv2d(cin, cardinality * d, 1, bias=False)
        self.bn_reduce = nn.BatchNorm2d(cardinality * d)
        self.slices = [lambda t: t[:, i * d : (i + 1) * d] for i in range(cardinality)]  # noqa: B023
        self.group_convs = nn.ModuleList(nn.Conv2d(d, d, 3, stride, 1, bias=False) for _ in range(cardinality))
        self.bn_group = nn.BatchNorm2d(cardinality * d)
        self.conv_expand = nn.Conv2d(cardinality * d, cout, 1, bias=False)
        self.bn_expand = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        h = F.relu(self.bn_reduce(self.conv_reduce(x)))
        h = torch.cat([conv(take(h)) for take, conv in zip(self.slices, self.group_convs)], dim=1)
        h = F.relu(self.bn_group(h))
        h = self.bn_expand(self.conv_expand(h))
        return F.relu(h + self.shortcut(x))


# Mistake 11 (form b): `[lambda t: t[:, i*d:(i+1)*d] for i in range(C)]` binds i late: every path reads the LAST group.
def late_binding_lambda_form_b() -> nn.Module:
    torch.manual_seed(119)
    return randomize_batch_norms(LambdaSliceBlock(32, 64, cardinality=4, d=8, stride=2), seed=119)


class Group0Conv(nn.Module):
    def __init__(self, channels, groups, stride):
        super().__init__()
        self.groups, self.stride = groups, stride
        self.weight = nn.Parameter(
            torch.randn(channels, channels // groups, 3, 3) * (2 / (9 * channels / groups)) ** 0.5
        )

    def forward(self, x):
        k = x.shape[1] // self.groups
        outs = []
        for g in range(self.groups):
            outs.append(F.conv2d(x[:, :k], self.weight[g * k : (g + 1) * k], stride=self.stride, padding=1))
        return torch.cat(outs, 1)


class Group0Block(nn.Module):
    def __init__(self, cin, cout, groups, width, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = Group0Conv(width, groups, stride)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, cout, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout)
        self.skip = None
        if stride != 1 or cin != cout:
            self.skip = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        h = torch.relu(self.bn1(self.conv1(x)))
        h = torch.relu(self.bn2(self.conv2(h)))
        h = self.bn3(self.conv3(h))
        return torch.relu(h + (x if self.skip is None else self.skip(x)))


# Mistake 11 (form c by hand): per-group F.conv2d slices the weight by g but the input as x[:, :k]: all read group 0.
def every_group_reads_group0_form_c() -> nn.Module:
    torch.manual_seed(120)
    model = nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1, bias=False),
        nn.BatchNorm2d(16),
        nn.ReLU(),
        Group0Block(16, 32, 4, 16, 1),
        Group0Block(32, 64, 4, 32, 2),
        _head(64),
    )
    return randomize_batch_norms(model, seed=120)


class OffByOneNarrowBlock(nn.Module):
    def __init__(self, inplanes, planes, cardinality, stride):
        super().__init__()
        self.cardinality = cardinality
        self.d = planes // cardinality
        self.conv_in = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn_in = nn.BatchNorm2d(planes)
        self.group_convs = nn.ModuleList(
            [nn.Conv2d(self.d, self.d, 3, stride, 1, bias=False) for _ in range(cardinality)]
        )
        self.group_bns = nn.ModuleList([nn.BatchNorm2d(self.d) for _ in range(cardinality)])
        self.conv_out = nn.Conv2d(planes, 2 * planes, 1, bias=False)
        self.bn_out = nn.BatchNorm2d(2 * planes)
        self.shortcut = nn.Sequential(
            nn.Conv2d(inplanes, 2 * planes, 1, stride, bias=False), nn.BatchNorm2d(2 * planes)
        )

    def forward(self, x):
        h = F.relu(self.bn_in(self.conv_in(x)))
        outs = []
        for i in range(self.cardinality):
            g = h.narrow(1, max(i * self.d - 1, 0), self.d)
            outs.append(F.relu(self.group_bns[i](self.group_convs[i](g))))
        return F.relu(self.bn_out(self.conv_out(torch.cat(outs, 1))) + self.shortcut(x))


# Mistake 11 (form b): `h.narrow(1, max(i*d - 1, 0), d)`: off-by-one start, paths overlap, the last channel is unread.
def off_by_one_narrow_form_b() -> nn.Module:
    torch.manual_seed(121)
    return randomize_batch_norms(OffByOneNarrowBlock(16, 16, cardinality=4, stride=1), seed=121)


# ---------------------------------------------------------------------------------------------------------------------
# Mistake 12 (against an expected network)
# ---------------------------------------------------------------------------------------------------------------------


# Mistake 12: torchvision's resnext50_32x4d fine-tuned blog-style, `model.fc` replaced by an MLP with a hidden layer.
def torchvision_resnext50_mlp_head() -> nn.Module:
    torch.manual_seed(122)
    from torchvision.models import resnext50_32x4d

    model = resnext50_32x4d(weights=None)
    model.fc = nn.Sequential(nn.Linear(2048, 512), nn.ReLU(inplace=True), nn.Dropout(0.2), nn.Linear(512, 1000))
    return randomize_batch_norms(model, seed=122)


class TableBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        w = cout // 2
        self.f = nn.Sequential(
            nn.Conv2d(cin, w, 1, bias=False),
            nn.BatchNorm2d(w),
            nn.ReLU(True),
            nn.Conv2d(w, w, 3, stride, 1, groups=4, bias=False),
            nn.BatchNorm2d(w),
            nn.ReLU(True),
            nn.Conv2d(w, cout, 1, bias=False),
            nn.BatchNorm2d(cout),
        )
        self.s = (
            nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
            if (stride, cin) != (1, cout)
            else nn.Identity()
        )

    def forward(self, x):
        return F.relu(self.f(x) + self.s(x))


# Mistake 12: the Table-1 network with a CIFAR stem (3x3 stride-1 conv, no max pool) where 7x7/2 + max pool is expected.
def table1_cifar_stem() -> nn.Module:
    torch.manual_seed(123)
    stages, cin = [], 16
    for stage in TABLE1_STAGES:
        blocks = []
        for i in range(stage["blocks"]):
            blocks.append(TableBlock(cin, stage["out"], stage["stride"] if i == 0 else 1))
            cin = stage["out"]
        stages.append(nn.Sequential(*blocks))
    model = nn.Sequential(
        nn.Sequential(nn.Conv2d(3, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU(True)), *stages, _head(cin)
    )
    return randomize_batch_norms(model, seed=123)


# ---------------------------------------------------------------------------------------------------------------------
# Several mistakes at once
# ---------------------------------------------------------------------------------------------------------------------


class StudentBlock(nn.Module):
    def __init__(self, in_planes, planes, stride=1, cardinality=4):
        super().__init__()
        mid = planes // 2
        self.conv1 = nn.Conv2d(in_planes, mid, kernel_size=1, stride=stride)
        self.bn1 = nn.BatchNorm2d(mid)
        self.conv2 = nn.Conv2d(mid, mid, kernel_size=3, padding=1, groups=cardinality)
        self.bn2 = nn.BatchNorm2d(mid)
        self.conv3 = nn.Conv2d(mid, planes, kernel_size=1)
        self.bn3 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Identity()
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Conv2d(in_planes, planes, kernel_size=1, stride=stride)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return out + self.shortcut(x)


# Mistakes 5, 8, 9, 10: stride on conv1, default conv biases, a bare-conv shortcut without BN, no ReLU after the add.
def student_many_mistakes() -> nn.Module:
    torch.manual_seed(124)
    model = nn.Sequential(
        nn.Conv2d(3, 32, 3, padding=1),
        nn.BatchNorm2d(32),
        nn.ReLU(),
        StudentBlock(32, 32),
        StudentBlock(32, 64, stride=2),
        StudentBlock(64, 128, stride=2),
        _head(128),
    )
    return randomize_batch_norms(model, seed=124)


class BlogPath(nn.Module):
    def __init__(self, cin, d, cout):
        super().__init__()
        self.conv_a = nn.Conv2d(cin, d, 1, bias=False)
        self.bn_a = nn.BatchNorm2d(d)
        self.conv_b = nn.Conv2d(d, d, 3, padding=1, bias=False)
        self.bn_b = nn.BatchNorm2d(d)
        self.conv_c = nn.Conv2d(d, cout, 1, bias=False)
        self.bn_c = nn.BatchNorm2d(cout)

    def forward(self, x):
        x = F.relu(self.bn_a(self.conv_a(x)))
        x = F.relu(self.bn_b(self.conv_b(x)))
        return F.relu(self.bn_c(self.conv_c(x)))


class BlogBlock(nn.Module):
    def __init__(self, channels, cardinality=8, d=4):
        super().__init__()
        self.paths = nn.ModuleList([BlogPath(channels, d, channels)] * cardinality)
        self.bn = nn.BatchNorm2d(channels)

    def forward(self, x):
        out = self.bn(sum(p(x) for p in self.paths))
        x += out
        return F.relu(x)


# Mistakes 1 and 2 (form a): `[BlogPath(...)] * C` shares one path, each path ends BN+ReLU, and `x += out` is in place.
def blog_form_a_many_mistakes() -> nn.Module:
    torch.manual_seed(125)
    model = nn.Sequential(
        nn.Conv2d(3, 32, 3, padding=1, bias=False),
        nn.BatchNorm2d(32),
        nn.ReLU(),
        BlogBlock(32),
        BlogBlock(32),
        _head(32),
    )
    return randomize_batch_norms(model, seed=125)


class TangledConcatBlock(nn.Module):
    def __init__(self, cin, cout, cardinality, d, stride):
        super().__init__()
        self.cardinality = cardinality
        self.towers = nn.ModuleList()
        for _ in range(cardinality):
            self.towers.append(
                nn.Sequential(
                    nn.Conv2d(cin // cardinality, d, 1, bias=False),
                    nn.BatchNorm2d(d),
                    nn.ReLU(),
                    nn.Conv2d(d, d, 3, stride, 1, bias=False),
                    nn.BatchNorm2d(d),
                    nn.ReLU(),
                )
            )
        self.fuse = nn.Conv2d(cardinality * d, cout, 1, bias=False)
        self.fuse_bn = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        parts = torch.split(x, x.shape[1] // self.cardinality, dim=1)
        y = torch.cat([tower(part) for tower, part in zip(self.towers, parts)], dim=1)
        y = F.relu(self.fuse_bn(self.fuse(y)))
        return y + self.shortcut(x)


# Mistakes 3, 9, 10 (form b): towers read input slices, a 3x3 conv + BN shortcut, ReLU before the add and none after.
def form_b_many_mistakes() -> nn.Module:
    torch.manual_seed(126)
    return randomize_batch_norms(TangledConcatBlock(32, 64, cardinality=4, d=8, stride=2), seed=126)


# Mistakes 4, 6, 12: the Table-1 network with width = out // 4, a projection + N identity blocks per stage, an MLP head.
def table1_config_many_mistakes() -> nn.Module:
    torch.manual_seed(127)
    layers: list[nn.Module] = [
        nn.Conv2d(3, 16, 7, 2, 3, bias=False),
        nn.BatchNorm2d(16),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(3, 2, 1),
    ]
    cin = 16
    for stage in TABLE1_STAGES:
        layers.append(QuarterWidthBlock({"in": cin, "out": stage["out"], "stride": stage["stride"], "groups": 4}))
        for _ in range(stage["blocks"]):
            layers.append(QuarterWidthBlock({"in": stage["out"], "out": stage["out"], "stride": 1, "groups": 4}))
        cin = stage["out"]
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, 64), nn.ReLU(), nn.Linear(64, 10)]
    return randomize_batch_norms(nn.Sequential(*layers), seed=127)


# ---------------------------------------------------------------------------------------------------------------------
# timm (only where it is installed)
# ---------------------------------------------------------------------------------------------------------------------


# Mistake 9 (timm's own code): avg_down=True gives the stride-2 blocks an AvgPool2d + 1x1 conv + BN shortcut.
def timm_avg_down_shortcut() -> nn.Module:
    torch.manual_seed(128)
    model = TimmResNet(
        block=TimmBottleneck,
        layers=(1, 1, 1, 1),
        cardinality=4,
        base_width=32,
        stem_width=16,
        channels=(16, 32, 64, 128),
        num_classes=10,
        avg_down=True,
    )
    return randomize_batch_norms(model, seed=128)


# Mistake 12 (timm's own code): stem_type="deep", three 3x3 convs (16, 16, 32 channels), where a 7x7 stem is expected.
def timm_deep_stem() -> nn.Module:
    torch.manual_seed(129)
    model = TimmResNet(
        block=TimmBottleneck,
        layers=(1, 1, 1, 1),
        cardinality=4,
        base_width=32,
        stem_width=16,
        stem_type="deep",
        channels=(16, 32, 64, 128),
        num_classes=10,
    )
    return randomize_batch_norms(model, seed=129)


Factory = Callable[[], nn.Module]

WRONG: dict[str, tuple[Factory, tuple[int, ...], frozenset[int], Factory | None]] = {
    "repeated-path-modulelist-form-a": (repeated_path_modulelist_form_a, SMALL, frozenset({1}), None),
    "shared-3x3-over-chunks-form-b": (shared_3x3_over_chunks_form_b, BLOCK_32, frozenset({1}), None),
    "inplace-add-onto-input-form-c": (inplace_add_onto_input_form_c, SMALL, frozenset({1}), None),
    "bn-relu-after-each-path-form-a": (bn_relu_after_each_path_form_a, SMALL, frozenset({2}), None),
    "bn-after-each-path-form-a": (bn_after_each_path_form_a, BLOCK_16, frozenset({7}), None),
    "grouped-first-1x1-form-c": (grouped_first_1x1_form_c, SMALL, frozenset({3}), None),
    "paths-read-input-slices-form-a": (paths_read_input_slices_form_a, BLOCK_32, frozenset({3}), None),
    "torchvision-resnext50_32x2d": (torchvision_resnext50_32x2d, LARGE, frozenset({4}), torchvision_resnext50),
    "table1-quarter-width": (table1_quarter_width, SMALL, frozenset({4}), paper_table1_form_c),
    "stride-on-first-1x1-caffe-form-c": (stride_on_first_1x1_caffe_form_c, SMALL, frozenset({5}), None),
    "stride-on-path-1x1-form-a": (stride_on_path_1x1_form_a, BLOCK_32, frozenset({5}), None),
    "keras-projection-plus-identity-blocks": (
        keras_projection_plus_identity_blocks,
        SMALL,
        frozenset({6}),
        keras_cifar_resnext29,
    ),
    "functional-conv-bias-form-c": (functional_conv_bias_form_c, BLOCK_16, frozenset({8}), None),
    "default-bias-form-a": (default_bias_form_a, SMALL, frozenset({8}), None),
    # "avgpool-shortcut-form-c" (average pool -> 1x1 conv -> BN) is ResNet-D's shortcut, a variant (issue 28):
    # it is in foreign/variants.py.
    "conv-without-bn-shortcut-form-b": (conv_without_bn_shortcut_form_b, BLOCK_16, frozenset({9}), None),
    "no-relu-after-add-sequential": (no_relu_after_add_sequential, SMALL, frozenset({10}), None),
    "relu-on-branch-before-add": (relu_on_branch_before_add, BLOCK_32, frozenset({10}), None),
    "late-binding-lambda-form-b": (late_binding_lambda_form_b, BLOCK_32, frozenset({11}), None),
    "every-group-reads-group0-form-c": (every_group_reads_group0_form_c, SMALL, frozenset({11}), None),
    "off-by-one-narrow-form-b": (off_by_one_narrow_form_b, BLOCK_16, frozenset({11}), None),
    "torchvision-resnext50-mlp-head": (torchvision_resnext50_mlp_head, LARGE, frozenset({12}), torchvision_resnext50),
    "table1-cifar-stem": (table1_cifar_stem, SMALL, frozenset({12}), paper_table1_form_c),
    "student-many-mistakes": (student_many_mistakes, SMALL, frozenset({5, 8, 9, 10}), None),
    "blog-form-a-many-mistakes": (blog_form_a_many_mistakes, SMALL, frozenset({1, 2}), None),
    "form-b-many-mistakes": (form_b_many_mistakes, BLOCK_32, frozenset({3, 9, 10}), None),
    "table1-config-many-mistakes": (
        table1_config_many_mistakes,
        SMALL,
        frozenset({4, 6, 12}),
        paper_table1_form_c,
    ),
}
if TimmResNet is not None:
    # timm's avg_down=True is ResNet-D (He et al. 2019), a variant (issue 28): in foreign/variants.py.
    WRONG["timm-deep-stem"] = (timm_deep_stem, SMALL, frozenset({12}), timm_small_resnext)
