"""Correct ResNeXt / ResNet bottleneck networks, written the way different authors write them.

Every model follows the paper's bottleneck (Xie et al., CVPR 2017): ``y = ReLU(BN(F(x)) + shortcut(x))``, F being
C paths of 1x1 → BN → ReLU → 3x3 (the stride) → BN → ReLU → 1x1 in one of the three equivalent forms of Figure 3
(paths summed, paths concatenated then one 1x1, or one grouped 3x3), one BN after the aggregation, bias-free convs,
and an identity shortcut or a 1x1-conv-with-stride + BN projection. ResNet (C = 1) and wide ResNet are special cases.

The models are deliberately not shaped to fit any recogniser: containers, names and idioms change from one to the next
(torchvision and timm themselves, a functional model without conv modules, nn.Sequential only, ModuleLists of paths,
chunk / split / narrow slicing, a Keras translation driven by a node list, a grouped conv written by hand...).

``CORRECT`` maps an id to ``(factory, input_size)``. A factory takes no argument, seeds torch itself and returns a
freshly built model whose BatchNorms all carry random, seeded statistics and affine parameters, so that a mistake
cannot hide behind an identity BN. The small models run one forward pass at their input size in a few milliseconds;
torchvision's and timm's full-size networks run at 64x64.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable

import torch
import torch.nn.functional as F
import torchvision
from torch import nn

try:  # timm is not a dependency of the project: its models join the corpus only where it is installed
    import timm
    from timm.models.resnet import Bottleneck as TimmBottleneck
    from timm.models.resnet import ResNet as TimmResNet
except ImportError:  # pragma: no cover - depends on the environment
    timm = None

SMALL = (2, 3, 32, 32)  # every hand-written network: CIFAR-sized images
LARGE = (2, 3, 64, 64)  # torchvision's and timm's full-size ImageNet networks: stages at 16, 8, 4 and 2 pixels


def randomize_batch_norms(model: nn.Module, seed: int) -> nn.Module:
    """Give every BatchNorm of ``model`` random running statistics, scale and shift, from a generator of its own."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                n = module.num_features
                if module.running_mean is not None and module.running_var is not None:
                    module.running_mean.copy_(0.2 * torch.randn(n, generator=generator))
                    module.running_var.copy_(0.5 + 1.5 * torch.rand(n, generator=generator))
                if module.affine:
                    module.weight.copy_(0.6 + 0.8 * torch.rand(n, generator=generator))
                    module.bias.copy_(0.2 * torch.randn(n, generator=generator))
    return model


# ---------------------------------------------------------------------------------------------------------------------
# 1-3. torchvision, exactly as a user gets it (weights=None: nothing is downloaded)
# ---------------------------------------------------------------------------------------------------------------------


def torchvision_resnext50() -> nn.Module:
    torch.manual_seed(0)
    return randomize_batch_norms(torchvision.models.resnext50_32x4d(weights=None), seed=0)


def torchvision_resnet50() -> nn.Module:
    torch.manual_seed(1)
    return randomize_batch_norms(torchvision.models.resnet50(weights=None), seed=1)


def torchvision_wide_resnet50() -> nn.Module:
    torch.manual_seed(2)
    return randomize_batch_norms(torchvision.models.wide_resnet50_2(weights=None), seed=2)


# ---------------------------------------------------------------------------------------------------------------------
# 4. timm: the registered resnext50_32x4d and a small ResNet built from timm's own classes (plain: no SE, no AA)
# ---------------------------------------------------------------------------------------------------------------------


def timm_resnext50() -> nn.Module:
    torch.manual_seed(3)
    return randomize_batch_norms(timm.create_model("resnext50_32x4d", pretrained=False), seed=3)


def timm_small_resnext() -> nn.Module:
    """timm's ResNet class with its Bottleneck: 4x8d, one block per stage, 16-channel 7x7 stem, max pool."""
    torch.manual_seed(4)
    model = TimmResNet(
        block=TimmBottleneck,
        layers=(1, 1, 1, 1),
        cardinality=4,
        base_width=32,  # width = floor(planes · 32 / 64) · 4 = 2 · planes: 32, 64, 128, 256; out = 4 · planes
        stem_width=16,
        channels=(16, 32, 64, 128),
        num_classes=10,
    )
    return randomize_batch_norms(model, seed=4)


# ---------------------------------------------------------------------------------------------------------------------
# 5. Functional: no conv or BN module at all, parameters in a ParameterDict, forward calls F.* directly (form c)
# ---------------------------------------------------------------------------------------------------------------------


class FunctionalResNeXt(nn.Module):
    def __init__(self, stem=16, stages=((32, 1, 1), (64, 2, 2), (128, 1, 2)), cardinality=4, num_classes=10):
        super().__init__()
        self.cardinality = cardinality
        self.weights = nn.ParameterDict()
        self.norms = nn.ParameterDict()
        self.plan: list[tuple[str, int, bool]] = []  # (prefix, stride, projection?)
        self._conv("stem", 3, stem, 3)
        self._norm("stem", stem)
        cin = stem
        for s, (cout, n, stride) in enumerate(stages):
            width = cout // 2  # C·d: half the block's output, as in ResNeXt-50's templates
            for b in range(n):
                prefix = f"s{s}b{b}"
                st = stride if b == 0 else 1
                self._conv(prefix + "_reduce", cin, width, 1)
                self._norm(prefix + "_reduce", width)
                self._conv(prefix + "_group", width, width, 3, groups=cardinality)
                self._norm(prefix + "_group", width)
                self._conv(prefix + "_expand", width, cout, 1)
                self._norm(prefix + "_expand", cout)
                projection = st != 1 or cin != cout
                if projection:
                    self._conv(prefix + "_proj", cin, cout, 1)
                    self._norm(prefix + "_proj", cout)
                self.plan.append((prefix, st, projection))
                cin = cout
        self.classifier = nn.ParameterList(
            [nn.Parameter(torch.randn(num_classes, cin) / math.sqrt(cin)), nn.Parameter(torch.zeros(num_classes))]
        )

    def _conv(self, name, cin, cout, k, groups=1):
        weight = torch.empty(cout, cin // groups, k, k)
        nn.init.kaiming_normal_(weight, mode="fan_out", nonlinearity="relu")
        self.weights[name] = nn.Parameter(weight)

    def _norm(self, name, n):
        self.norms[name + "_gamma"] = nn.Parameter(0.6 + 0.8 * torch.rand(n))
        self.norms[name + "_beta"] = nn.Parameter(0.2 * torch.randn(n))
        self.register_buffer(name + "_mean", 0.2 * torch.randn(n))
        self.register_buffer(name + "_var", 0.5 + 1.5 * torch.rand(n))

    def _bn(self, x, name):
        mean, var = getattr(self, name + "_mean"), getattr(self, name + "_var")
        gamma, beta = self.norms[name + "_gamma"], self.norms[name + "_beta"]
        return F.batch_norm(x, mean, var, gamma, beta, training=self.training, momentum=0.1, eps=1e-5)

    def forward(self, x):
        w = self.weights
        x = F.relu(self._bn(F.conv2d(x, w["stem"], padding=1), "stem"))
        for p, stride, projection in self.plan:
            h = F.relu(self._bn(F.conv2d(x, w[p + "_reduce"]), p + "_reduce"))
            h = F.conv2d(h, w[p + "_group"], stride=stride, padding=1, groups=self.cardinality)
            h = F.relu(self._bn(h, p + "_group"))
            h = self._bn(F.conv2d(h, w[p + "_expand"]), p + "_expand")
            shortcut = self._bn(F.conv2d(x, w[p + "_proj"], stride=stride), p + "_proj") if projection else x
            x = F.relu(h + shortcut)
        x = F.adaptive_avg_pool2d(x, 1).flatten(1)
        return F.linear(x, self.classifier[0], self.classifier[1])


def functional_form_c() -> nn.Module:
    torch.manual_seed(5)
    return FunctionalResNeXt()  # its BN statistics are drawn at construction, under the seed above


# ---------------------------------------------------------------------------------------------------------------------
# 6. nn.Sequential everywhere, and a four-line residual wrapper: every name is 0, 1, 2... (form c)
# ---------------------------------------------------------------------------------------------------------------------


class Residual(nn.Module):
    def __init__(self, fn, sc=None):
        super().__init__()
        self.fn = fn
        self.sc = nn.Identity() if sc is None else sc

    def forward(self, x):
        return self.fn(x) + self.sc(x)


def _sequential_unit(cin, cout, groups, group_width, stride):
    mid = groups * group_width
    fn = nn.Sequential(
        nn.Conv2d(cin, mid, 1, bias=False),
        nn.BatchNorm2d(mid),
        nn.ReLU(inplace=True),
        nn.Conv2d(mid, mid, 3, stride, 1, groups=groups, bias=False),
        nn.BatchNorm2d(mid),
        nn.ReLU(inplace=True),
        nn.Conv2d(mid, cout, 1, bias=False),
        nn.BatchNorm2d(cout),
    )
    sc = None
    if stride != 1 or cin != cout:
        sc = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
    return nn.Sequential(Residual(fn, sc), nn.ReLU(inplace=True))


def sequential_residual() -> nn.Module:
    torch.manual_seed(6)
    model = nn.Sequential(
        nn.Sequential(nn.Conv2d(3, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU(inplace=True)),
        nn.Sequential(_sequential_unit(16, 32, 4, 4, 1), _sequential_unit(32, 32, 4, 4, 1)),
        nn.Sequential(_sequential_unit(32, 64, 4, 8, 2), _sequential_unit(64, 64, 4, 8, 1)),
        nn.Sequential(_sequential_unit(64, 128, 4, 16, 2)),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(128, 10),
    )
    return randomize_batch_norms(model, seed=6)


# ---------------------------------------------------------------------------------------------------------------------
# 7. Form (a), MXNet-flavoured names: a ModuleList of paths summed in a Python loop, `branch1` projection, `unitN`
# ---------------------------------------------------------------------------------------------------------------------


class SplitTransformPath(nn.Module):
    def __init__(self, cin, d, cout, stride):
        super().__init__()
        self.reduce = nn.Conv2d(cin, d, kernel_size=1, bias=False)
        self.reduce_bn = nn.BatchNorm2d(d)
        self.split_transform = nn.Conv2d(d, d, kernel_size=3, stride=stride, padding=1, bias=False)
        self.split_transform_bn = nn.BatchNorm2d(d)
        self.expand = nn.Conv2d(d, cout, kernel_size=1, bias=False)

    def forward(self, x):
        x = F.relu(self.reduce_bn(self.reduce(x)))
        x = F.relu(self.split_transform_bn(self.split_transform(x)))
        return self.expand(x)


class AggregatedUnit(nn.Module):
    def __init__(self, cin, cout, cardinality, d, stride):
        super().__init__()
        self.paths = nn.ModuleList([SplitTransformPath(cin, d, cout, stride) for _ in range(cardinality)])
        self.aggregate_bn = nn.BatchNorm2d(cout)
        self.branch1 = None
        if stride != 1 or cin != cout:
            self.branch1 = nn.Sequential(
                OrderedDict(conv=nn.Conv2d(cin, cout, 1, stride=stride, bias=False), bn=nn.BatchNorm2d(cout))
            )
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        total = None
        for path in self.paths:
            y = path(x)
            total = y if total is None else total + y
        total = self.aggregate_bn(total)
        shortcut = x if self.branch1 is None else self.branch1(x)
        return self.relu(total + shortcut)


class AggregatedResidualNet(nn.Module):
    def __init__(self, cardinality=4, bottleneck_width=4, stage_blocks=(1, 2, 1), base=32, num_classes=10):
        super().__init__()
        self.conv0 = nn.Conv2d(3, 16, 3, padding=1, bias=False)
        self.bn0 = nn.BatchNorm2d(16)
        self.relu0 = nn.ReLU(inplace=True)
        cin = 16
        for i, n in enumerate(stage_blocks):
            cout, d = base * 2**i, bottleneck_width * 2**i
            units = OrderedDict()
            for j in range(n):
                stride = 2 if i > 0 and j == 0 else 1
                units[f"unit{j + 1}"] = AggregatedUnit(cin, cout, cardinality, d, stride)
                cin = cout
            self.add_module(f"stage{i + 1}", nn.Sequential(units))
        self.num_stages = len(stage_blocks)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(cin, num_classes)

    def forward(self, x):
        x = self.relu0(self.bn0(self.conv0(x)))
        for i in range(self.num_stages):
            x = getattr(self, f"stage{i + 1}")(x)
        return self.classifier(torch.flatten(self.pool(x), 1))


def modulelist_loop_form_a() -> nn.Module:
    torch.manual_seed(7)
    return randomize_batch_norms(AggregatedResidualNet(), seed=7)


# ---------------------------------------------------------------------------------------------------------------------
# 8. Form (a) summed with sum(generator); every block in one flat nn.Sequential; `downsample` projection
# ---------------------------------------------------------------------------------------------------------------------


def _path(cin, d, cout, stride):
    return nn.Sequential(
        nn.Conv2d(cin, d, 1, bias=False),
        nn.BatchNorm2d(d),
        nn.ReLU(inplace=True),
        nn.Conv2d(d, d, 3, stride, 1, bias=False),
        nn.BatchNorm2d(d),
        nn.ReLU(inplace=True),
        nn.Conv2d(d, cout, 1, bias=False),
    )


class BlockA(nn.Module):
    def __init__(self, cin, cout, C, d, stride=1):
        super().__init__()
        self.paths = nn.ModuleList(_path(cin, d, cout, stride) for _ in range(C))
        self.bn = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = self.bn(sum(path(x) for path in self.paths))
        identity = x if self.downsample is None else self.downsample(x)
        return F.relu(out + identity)


class ResNeXtA(nn.Module):
    def __init__(self, C=4, num_classes=10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU())
        self.layers = nn.Sequential(
            BlockA(16, 32, C, 4),
            BlockA(32, 64, C, 8, stride=2),
            BlockA(64, 64, C, 8),
            BlockA(64, 128, C, 16, stride=2),
        )
        self.head = nn.Linear(128, num_classes)

    def forward(self, x):
        x = self.layers(self.stem(x))
        return self.head(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def generator_sum_form_a() -> nn.Module:
    torch.manual_seed(8)
    return randomize_batch_norms(ResNeXtA(), seed=8)


# ---------------------------------------------------------------------------------------------------------------------
# 8b. Form (a) with torch.stack(...).sum(0); paths are nested Sequentials built by a list comprehension; C = 3
# ---------------------------------------------------------------------------------------------------------------------


def conv_bn_relu(cin, cout, k, stride=1):
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride, k // 2, bias=False), nn.BatchNorm2d(cout), nn.ReLU(True))


class AggregatedTransform(nn.Module):
    def __init__(self, in_ch, out_ch, cardinality=3, d=4, stride=1):
        super().__init__()
        self.transforms = nn.ModuleList(
            [
                nn.Sequential(
                    conv_bn_relu(in_ch, d, 1), conv_bn_relu(d, d, 3, stride), nn.Conv2d(d, out_ch, 1, bias=False)
                )
                for _ in range(cardinality)
            ]
        )
        self.norm = nn.BatchNorm2d(out_ch)
        if stride == 1 and in_ch == out_ch:
            self.shortcut = nn.Identity()
        else:
            self.shortcut = nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, stride, bias=False), nn.BatchNorm2d(out_ch))

    def forward(self, x):
        branch = self.norm(torch.stack([t(x) for t in self.transforms]).sum(0))
        return torch.relu(branch + self.shortcut(x))


def stack_sum_nested_form_a() -> nn.Module:
    torch.manual_seed(9)
    model = nn.Sequential(
        OrderedDict(
            stem=conv_bn_relu(3, 24, 3),
            block1=AggregatedTransform(24, 24, d=4),
            block2=AggregatedTransform(24, 48, d=8, stride=2),
            block3=AggregatedTransform(48, 96, d=16, stride=2),
            pool=nn.AdaptiveAvgPool2d((1, 1)),
            flatten=nn.Flatten(1),
            fc=nn.Linear(96, 10),
        )
    )
    return randomize_batch_norms(model, seed=9)


# ---------------------------------------------------------------------------------------------------------------------
# 9. Form (b), kuangliu/pytorch-cifar style: ONE 1x1 for all C·d channels, torch.chunk, a 3x3 per chunk, torch.cat,
#    one 1x1; empty nn.Sequential() as the identity shortcut; 1x1 stem; widths doubled by _make_layer
# ---------------------------------------------------------------------------------------------------------------------


class ChunkBlock(nn.Module):
    expansion = 2

    def __init__(self, in_planes, cardinality=4, bottleneck_width=4, stride=1):
        super().__init__()
        group_width = cardinality * bottleneck_width
        self.cardinality = cardinality
        self.conv1 = nn.Conv2d(in_planes, group_width, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm2d(group_width)
        self.conv2 = nn.ModuleList(
            nn.Conv2d(bottleneck_width, bottleneck_width, 3, stride=stride, padding=1, bias=False)
            for _ in range(cardinality)
        )
        self.bn2 = nn.BatchNorm2d(group_width)  # one BN over the concatenation: per-path BNs, side by side
        self.conv3 = nn.Conv2d(group_width, self.expansion * group_width, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm2d(self.expansion * group_width)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != self.expansion * group_width:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, self.expansion * group_width, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(self.expansion * group_width),
            )

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        chunks = torch.chunk(out, self.cardinality, dim=1)
        out = torch.cat([conv(chunk) for conv, chunk in zip(self.conv2, chunks)], dim=1)
        out = F.relu(self.bn2(out))
        out = self.bn3(self.conv3(out))
        out += self.shortcut(x)
        return F.relu(out)


class KuangliuResNeXt(nn.Module):
    def __init__(self, num_blocks=(1, 2, 1), cardinality=4, bottleneck_width=4, num_classes=10):
        super().__init__()
        self.cardinality = cardinality
        self.bottleneck_width = bottleneck_width
        self.in_planes = 32
        self.conv1 = nn.Conv2d(3, 32, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm2d(32)
        self.layer1 = self._make_layer(num_blocks[0], 1)
        self.layer2 = self._make_layer(num_blocks[1], 2)
        self.layer3 = self._make_layer(num_blocks[2], 2)
        self.linear = nn.Linear(cardinality * bottleneck_width * 8, num_classes)

    def _make_layer(self, num_blocks, stride):
        strides = [stride] + [1] * (num_blocks - 1)
        layers = []
        for stride in strides:
            layers.append(ChunkBlock(self.in_planes, self.cardinality, self.bottleneck_width, stride))
            self.in_planes = ChunkBlock.expansion * self.cardinality * self.bottleneck_width
        self.bottleneck_width *= 2
        return nn.Sequential(*layers)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer1(out)
        out = self.layer2(out)
        out = self.layer3(out)
        out = F.avg_pool2d(out, 8)
        out = out.view(out.size(0), -1)
        return self.linear(out)


def chunk_form_b() -> nn.Module:
    torch.manual_seed(10)
    return randomize_batch_norms(KuangliuResNeXt(), seed=10)


# ---------------------------------------------------------------------------------------------------------------------
# 10. Form (b) with fully separate paths (own 1x1 and 3x3 each), torch.cat(outs, dim=1), one 1x1 named `fuse`;
#     projection as two loose attributes; stages as a ModuleList of ModuleLists
# ---------------------------------------------------------------------------------------------------------------------


class SplitConcatBlock(nn.Module):
    def __init__(self, cin, cout, cardinality, d, stride):
        super().__init__()
        self.paths = nn.ModuleList()
        for _ in range(cardinality):
            self.paths.append(
                nn.Sequential(
                    OrderedDict(
                        conv1x1=nn.Conv2d(cin, d, 1, bias=False),
                        bn1=nn.BatchNorm2d(d),
                        relu1=nn.ReLU(inplace=True),
                        conv3x3=nn.Conv2d(d, d, 3, stride=stride, padding=1, bias=False),
                        bn2=nn.BatchNorm2d(d),
                        relu2=nn.ReLU(inplace=True),
                    )
                )
            )
        self.fuse = nn.Conv2d(cardinality * d, cout, 1, bias=False)
        self.fuse_bn = nn.BatchNorm2d(cout)
        self.use_projection = stride != 1 or cin != cout
        if self.use_projection:
            self.shortcut_conv = nn.Conv2d(cin, cout, 1, stride=stride, bias=False)
            self.shortcut_bn = nn.BatchNorm2d(cout)

    def forward(self, x):
        outs = [path(x) for path in self.paths]
        y = self.fuse_bn(self.fuse(torch.cat(outs, dim=1)))
        s = self.shortcut_bn(self.shortcut_conv(x)) if self.use_projection else x
        return F.relu(y + s)


class SplitConcatNet(nn.Module):
    def __init__(self, config=((32, 4, 4, 1, 1), (64, 4, 8, 2, 2)), num_classes=10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, 2, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU(inplace=True))
        self.stages = nn.ModuleList()
        cin = 16
        for cout, cardinality, d, stride, n in config:
            stage = nn.ModuleList()
            for i in range(n):
                stage.append(SplitConcatBlock(cin, cout, cardinality, d, stride if i == 0 else 1))
                cin = cout
            self.stages.append(stage)
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x):
        x = self.stem(x)
        for stage in self.stages:
            for block in stage:
                x = block(x)
        return self.fc(x.mean((2, 3)))


def separate_paths_form_b() -> nn.Module:
    torch.manual_seed(11)
    return randomize_batch_norms(SplitConcatNet(), seed=11)


# ---------------------------------------------------------------------------------------------------------------------
# 11. Form (c) following the paper's Table 1: stages conv2..conv5 (conv2 opens with the max pool), 7x7 stem `conv1`,
#     projection `shortcut` = nn.Sequential(conv, bn)
# ---------------------------------------------------------------------------------------------------------------------


class Table1Block(nn.Module):
    def __init__(self, in_channels, out_channels, cardinality, d, stride):
        super().__init__()
        D = cardinality * d
        self.conv_a = nn.Conv2d(in_channels, D, 1, bias=False)
        self.bn_a = nn.BatchNorm2d(D)
        self.conv_b = nn.Conv2d(D, D, 3, stride=stride, padding=1, groups=cardinality, bias=False)
        self.bn_b = nn.BatchNorm2d(D)
        self.conv_c = nn.Conv2d(D, out_channels, 1, bias=False)
        self.bn_c = nn.BatchNorm2d(out_channels)
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False), nn.BatchNorm2d(out_channels)
            )
        else:
            self.shortcut = nn.Identity()

    def forward(self, x):
        out = F.relu(self.bn_a(self.conv_a(x)), inplace=True)
        out = F.relu(self.bn_b(self.conv_b(out)), inplace=True)
        out = self.bn_c(self.conv_c(out))
        return F.relu(out + self.shortcut(x), inplace=True)


class Table1ResNeXt(nn.Module):
    """Table 1 shrunk: 16-channel 7x7 stem, outputs 32/64/128/256, C = 4, d = 4/8/16/32, blocks (1, 2, 2, 1)."""

    def __init__(self, blocks=(1, 2, 2, 1), cardinality=4, base_d=4, num_classes=10):
        super().__init__()
        self.conv1 = nn.Sequential(nn.Conv2d(3, 16, 7, 2, 3, bias=False), nn.BatchNorm2d(16), nn.ReLU(inplace=True))
        cin = 16
        for i, n in enumerate(blocks):
            cout, d = 32 * 2**i, base_d * 2**i
            layers = [nn.MaxPool2d(3, 2, 1)] if i == 0 else []
            for j in range(n):
                layers.append(Table1Block(cin, cout, cardinality, d, 2 if i > 0 and j == 0 else 1))
                cin = cout
            setattr(self, f"conv{i + 2}", nn.Sequential(*layers))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x):
        x = self.conv1(x)
        x = self.conv2(x)
        x = self.conv3(x)
        x = self.conv4(x)
        x = self.conv5(x)
        return self.fc(self.avgpool(x).flatten(1))


def paper_table1_form_c() -> nn.Module:
    torch.manual_seed(12)
    return randomize_batch_norms(Table1ResNeXt(), seed=12)


# ---------------------------------------------------------------------------------------------------------------------
# 12. Form (c), blocks in an nn.ModuleDict, projection `proj` (None when identity), nn.functional.relu; C = 8
# ---------------------------------------------------------------------------------------------------------------------


class GroupedBottleneck(nn.Module):
    def __init__(self, cin, cout, groups, group_width, stride):
        super().__init__()
        mid = groups * group_width
        self.c1 = nn.Conv2d(cin, mid, 1, bias=False)
        self.n1 = nn.BatchNorm2d(mid)
        self.c2 = nn.Conv2d(mid, mid, 3, stride=stride, padding=1, groups=groups, bias=False)
        self.n2 = nn.BatchNorm2d(mid)
        self.c3 = nn.Conv2d(mid, cout, 1, bias=False)
        self.n3 = nn.BatchNorm2d(cout)
        self.proj = None
        if stride > 1 or cin != cout:
            self.proj = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = nn.functional.relu(self.n1(self.c1(x)))
        y = nn.functional.relu(self.n2(self.c2(y)))
        y = self.n3(self.c3(y))
        return nn.functional.relu(y + (x if self.proj is None else self.proj(x)))


class DictResNeXt(nn.Module):
    def __init__(self, groups=8, num_classes=10):
        super().__init__()
        self.stem = nn.ModuleDict(
            {"conv": nn.Conv2d(3, 32, 3, stride=1, padding=1, bias=False), "bn": nn.BatchNorm2d(32)}
        )
        self.blocks = nn.ModuleDict(
            {
                "layer1_0": GroupedBottleneck(32, 32, groups, 2, 1),
                "layer2_0": GroupedBottleneck(32, 64, groups, 4, 2),
                "layer2_1": GroupedBottleneck(64, 64, groups, 4, 1),
                "layer3_0": GroupedBottleneck(64, 128, groups, 8, 2),
            }
        )
        self.head = nn.Linear(128, num_classes)

    def forward(self, x):
        x = nn.functional.relu(self.stem["bn"](self.stem["conv"](x)))
        for block in self.blocks.values():
            x = block(x)
        return self.head(nn.functional.adaptive_avg_pool2d(x, 1).view(x.shape[0], -1))


def moduledict_proj_form_c() -> nn.Module:
    torch.manual_seed(13)
    return randomize_batch_norms(DictResNeXt(), seed=13)


# ---------------------------------------------------------------------------------------------------------------------
# 13. A Keras translation of a CIFAR ResNeXt-29 (titu1994-style): layers named conv2d_N / batch_normalization_N /
#     activation_N / lambda_N, a node list interpreted by forward, Lambda slices per group, Keras 'same' padding
#     (asymmetric at stride 2) and Keras BN defaults
# ---------------------------------------------------------------------------------------------------------------------


class Conv2D(nn.Module):
    """keras.layers.Conv2D(filters, kernel_size, strides, padding='same', use_bias=False)."""

    def __init__(self, in_channels, filters, kernel_size, strides=1):
        super().__init__()
        self.kernel_size, self.strides = kernel_size, strides
        self.conv = nn.Conv2d(in_channels, filters, kernel_size, strides, padding=0, bias=False)

    def forward(self, x):
        total = max(self.kernel_size - self.strides, 0) if x.shape[-1] % self.strides == 0 else self.kernel_size - 1
        if total:
            x = F.pad(x, (total // 2, total - total // 2, total // 2, total - total // 2))
        return self.conv(x)


def BatchNormalization(n):  # keras: momentum 0.99 (0.01 in torch's convention), epsilon 1e-3
    return nn.BatchNorm2d(n, eps=1e-3, momentum=0.01)


class Activation(nn.Module):
    def __init__(self, kind="relu"):
        super().__init__()
        self.kind = kind

    def forward(self, x):
        return F.relu(x)


class Lambda(nn.Module):
    def __init__(self, function):
        super().__init__()
        self.function = function

    def forward(self, x):
        return self.function(x)


class Concatenate(nn.Module):
    def forward(self, inputs):
        return torch.cat(inputs, dim=1)


class Add(nn.Module):
    def forward(self, inputs):
        return inputs[0] + inputs[1]


class GlobalAveragePooling2D(nn.Module):
    def forward(self, x):
        return x.mean(dim=(2, 3))


class KerasModel(nn.Module):
    """A translated keras.Model: layers are registered under Keras's auto names, forward replays the node list."""

    def __init__(self):
        super().__init__()
        self._counts: dict[str, int] = {}
        self.nodes: list[tuple[str, tuple[str, ...]]] = []
        self.output_name = "input_1"

    def layer(self, kind, module, *inputs):
        self._counts[kind] = self._counts.get(kind, 0) + 1
        name = f"{kind}_{self._counts[kind]}"
        self.add_module(name, module)
        self.nodes.append((name, inputs))
        self.output_name = name
        return name

    def forward(self, input_1):
        tensors = {"input_1": input_1}
        for name, inputs in self.nodes:
            args = [tensors[i] for i in inputs]
            tensors[name] = self._modules[name](args if len(args) > 1 else args[0])
        return tensors[self.output_name]


class KerasCifarResNeXt(KerasModel):
    def __init__(self, depth=(3, 3, 3), cardinality=4, width=4, stem=16, classes=10):
        super().__init__()
        x = self.layer("conv2d", Conv2D(3, stem, 3), "input_1")
        x = self.layer("batch_normalization", BatchNormalization(stem), x)
        x = self.layer("activation", Activation("relu"), x)
        channels = stem
        for stage, n in enumerate(depth):
            filters = cardinality * width * 2**stage
            for block in range(n):
                strides = 2 if stage > 0 and block == 0 else 1
                x = self._bottleneck_block(x, channels, filters, cardinality, strides)
                channels = 2 * filters
        x = self.layer("global_average_pooling2d", GlobalAveragePooling2D(), x)
        self.layer("dense", nn.Linear(channels, classes), x)

    def _grouped_convolution_block(self, x, filters, cardinality, strides):
        grouped_channels = filters // cardinality
        group_list = []
        for c in range(cardinality):
            z = self.layer("lambda", Lambda(lambda z, c=c: z[:, c * grouped_channels : (c + 1) * grouped_channels]), x)
            group_list.append(self.layer("conv2d", Conv2D(grouped_channels, grouped_channels, 3, strides), z))
        x = self.layer("concatenate", Concatenate(), *group_list)
        x = self.layer("batch_normalization", BatchNormalization(filters), x)
        return self.layer("activation", Activation("relu"), x)

    def _bottleneck_block(self, x, channels, filters, cardinality, strides):
        init = x
        if channels != 2 * filters or strides != 1:
            init = self.layer("conv2d", Conv2D(channels, 2 * filters, 1, strides), x)
            init = self.layer("batch_normalization", BatchNormalization(2 * filters), init)
        x = self.layer("conv2d", Conv2D(channels, filters, 1), x)
        x = self.layer("batch_normalization", BatchNormalization(filters), x)
        x = self.layer("activation", Activation("relu"), x)
        x = self._grouped_convolution_block(x, filters, cardinality, strides)
        x = self.layer("conv2d", Conv2D(filters, 2 * filters, 1), x)
        x = self.layer("batch_normalization", BatchNormalization(2 * filters), x)
        x = self.layer("add", Add(), init, x)
        return self.layer("activation", Activation("relu"), x)


def keras_cifar_resnext29() -> nn.Module:
    torch.manual_seed(14)
    return randomize_batch_norms(KerasCifarResNeXt(), seed=14)


# ---------------------------------------------------------------------------------------------------------------------
# 14. The grouped 3x3 written by hand: ONE weight Parameter, sliced per group, one F.conv2d per group, torch.cat;
#     projection named `skip`
# ---------------------------------------------------------------------------------------------------------------------


class HandGroupedConv3x3(nn.Module):
    def __init__(self, channels, groups, stride=1):
        super().__init__()
        self.groups, self.stride = groups, stride
        self.weight = nn.Parameter(torch.empty(channels, channels // groups, 3, 3))
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))

    def forward(self, x):
        k = self.weight.shape[1]  # input channels per group
        n = self.weight.shape[0] // self.groups  # output channels per group
        outs = []
        for g in range(self.groups):
            xg = x[:, g * k : (g + 1) * k]
            wg = self.weight[g * n : (g + 1) * n]
            outs.append(F.conv2d(xg, wg, stride=self.stride, padding=1))
        return torch.cat(outs, dim=1)


class HandGroupedBlock(nn.Module):
    def __init__(self, inp, oup, groups, width, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(inp, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = HandGroupedConv3x3(width, groups, stride)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, oup, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(oup)
        self.skip = nn.Identity()
        if stride != 1 or inp != oup:
            self.skip = nn.Sequential(nn.Conv2d(inp, oup, 1, stride, bias=False), nn.BatchNorm2d(oup))

    def forward(self, x):
        h = torch.relu(self.bn1(self.conv1(x)))
        h = torch.relu(self.bn2(self.conv2(h)))
        h = self.bn3(self.conv3(h))
        return torch.relu(h + self.skip(x))


def sliced_weight_form_c() -> nn.Module:
    torch.manual_seed(15)
    model = nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1, bias=False),
        nn.BatchNorm2d(16),
        nn.ReLU(inplace=True),
        HandGroupedBlock(16, 32, groups=4, width=16, stride=1),
        HandGroupedBlock(32, 64, groups=4, width=32, stride=2),
        HandGroupedBlock(64, 64, groups=4, width=32, stride=1),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(64, 10),
    )
    return randomize_batch_norms(model, seed=15)


# ---------------------------------------------------------------------------------------------------------------------
# 15. Form (b) with self.cardinality and x.narrow: one 1x1, then narrow() per path, per-path 3x3 + BN, cat, one 1x1
# ---------------------------------------------------------------------------------------------------------------------


class NarrowBlock(nn.Module):
    def __init__(self, inplanes, planes, cardinality, stride=1):
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
        if stride != 1 or inplanes != 2 * planes:
            self.shortcut = nn.Sequential(
                nn.Conv2d(inplanes, 2 * planes, 1, stride, bias=False), nn.BatchNorm2d(2 * planes)
            )
        else:
            self.shortcut = nn.Identity()

    def forward(self, x):
        h = F.relu(self.bn_in(self.conv_in(x)))
        outs = []
        for i in range(self.cardinality):
            g = h.narrow(1, i * self.d, self.d)
            outs.append(F.relu(self.group_bns[i](self.group_convs[i](g))))
        h = self.bn_out(self.conv_out(torch.cat(outs, 1)))
        return F.relu(h + self.shortcut(x))


class NarrowNet(nn.Module):
    def __init__(self, cardinality=2, num_classes=10):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 16, 3, 1, 1, bias=False),
            nn.BatchNorm2d(16),
            nn.ReLU(inplace=True),
            NarrowBlock(16, 16, cardinality),
            NarrowBlock(32, 16, cardinality),
            NarrowBlock(32, 32, cardinality, stride=2),
            NarrowBlock(64, 64, cardinality, stride=2),
        )
        self.classifier = nn.Linear(128, num_classes)

    def forward(self, x):
        return self.classifier(F.adaptive_avg_pool2d(self.features(x), 1).flatten(1))


def narrow_form_b() -> nn.Module:
    torch.manual_seed(16)
    return randomize_batch_norms(NarrowNet(), seed=16)


# ---------------------------------------------------------------------------------------------------------------------
# 16. A student's ResNet bottleneck (C = 1), torchvision's layout by hand: one shared nn.ReLU module called three
#     times, `downsample`, `_make_layer`, 3x3 CIFAR stem; and the same class widened (wide ResNet, C = 1, larger d)
# ---------------------------------------------------------------------------------------------------------------------


class StudentBottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes, planes, stride=1, downsample=None, widen=1):
        super().__init__()
        width = planes * widen
        self.conv1 = nn.Conv2d(inplanes, width, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, planes * self.expansion, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        out = self.relu(out)
        return out


class StudentResNet(nn.Module):
    def __init__(self, layers=(1, 2, 1), widen=1, num_classes=10):
        super().__init__()
        self.inplanes = 16
        self.widen = widen
        self.conv1 = nn.Conv2d(3, 16, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = self._make_layer(8, layers[0])
        self.layer2 = self._make_layer(16, layers[1], stride=2)
        self.layer3 = self._make_layer(32, layers[2], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(32 * StudentBottleneck.expansion, num_classes)

    def _make_layer(self, planes, blocks, stride=1):
        downsample = None
        if stride != 1 or self.inplanes != planes * StudentBottleneck.expansion:
            downsample = nn.Sequential(
                nn.Conv2d(
                    self.inplanes, planes * StudentBottleneck.expansion, kernel_size=1, stride=stride, bias=False
                ),
                nn.BatchNorm2d(planes * StudentBottleneck.expansion),
            )
        layers = [StudentBottleneck(self.inplanes, planes, stride, downsample, self.widen)]
        self.inplanes = planes * StudentBottleneck.expansion
        for _ in range(1, blocks):
            layers.append(StudentBottleneck(self.inplanes, planes, widen=self.widen))
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        x = torch.flatten(self.avgpool(x), 1)
        return self.fc(x)


def student_resnet() -> nn.Module:
    torch.manual_seed(17)
    return randomize_batch_norms(StudentResNet(), seed=17)


def student_wide_resnet() -> nn.Module:
    torch.manual_seed(18)
    return randomize_batch_norms(StudentResNet(widen=2), seed=18)


# ---------------------------------------------------------------------------------------------------------------------
# 17. prlz77/ResNeXt.pytorch style (CIFAR): width from base_width and widen_factor, shortcut built with add_module,
#     and submodules called through .forward() rather than __call__
# ---------------------------------------------------------------------------------------------------------------------


class ResNeXtBottleneck(nn.Module):
    def __init__(self, in_channels, out_channels, stride, cardinality, base_width, widen_factor):
        super().__init__()
        width_ratio = out_channels / (widen_factor * 64.0)
        D = cardinality * int(base_width * width_ratio)
        self.conv_reduce = nn.Conv2d(in_channels, D, kernel_size=1, stride=1, padding=0, bias=False)
        self.bn_reduce = nn.BatchNorm2d(D)
        self.conv_conv = nn.Conv2d(D, D, kernel_size=3, stride=stride, padding=1, groups=cardinality, bias=False)
        self.bn = nn.BatchNorm2d(D)
        self.conv_expand = nn.Conv2d(D, out_channels, kernel_size=1, stride=1, padding=0, bias=False)
        self.bn_expand = nn.BatchNorm2d(out_channels)
        self.shortcut = nn.Sequential()
        if in_channels != out_channels or stride != 1:
            self.shortcut.add_module(
                "shortcut_conv",
                nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=stride, padding=0, bias=False),
            )
            self.shortcut.add_module("shortcut_bn", nn.BatchNorm2d(out_channels))

    def forward(self, x):
        bottleneck = self.conv_reduce.forward(x)
        bottleneck = F.relu(self.bn_reduce.forward(bottleneck), inplace=True)
        bottleneck = self.conv_conv.forward(bottleneck)
        bottleneck = F.relu(self.bn.forward(bottleneck), inplace=True)
        bottleneck = self.conv_expand.forward(bottleneck)
        bottleneck = self.bn_expand.forward(bottleneck)
        residual = self.shortcut.forward(x)
        return F.relu(residual + bottleneck, inplace=True)


class CifarResNeXt(nn.Module):
    def __init__(self, cardinality=4, depth=11, num_classes=10, base_width=8, widen_factor=1):
        super().__init__()
        self.cardinality = cardinality
        self.depth = depth
        self.block_depth = (self.depth - 2) // 9
        self.base_width = base_width
        self.widen_factor = widen_factor
        self.stages = [16, 16 * self.widen_factor, 32 * self.widen_factor, 64 * self.widen_factor]
        self.conv_1_3x3 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn_1 = nn.BatchNorm2d(16)
        self.stage_1 = self.block("stage_1", self.stages[0], self.stages[1], 1)
        self.stage_2 = self.block("stage_2", self.stages[1], self.stages[2], 2)
        self.stage_3 = self.block("stage_3", self.stages[2], self.stages[3], 2)
        self.classifier = nn.Linear(self.stages[3], num_classes)

    def block(self, name, in_channels, out_channels, pool_stride=2):
        block = nn.Sequential()
        for bottleneck in range(self.block_depth):
            name_ = f"{name}_bottleneck_{bottleneck}"
            if bottleneck == 0:
                unit = ResNeXtBottleneck(
                    in_channels, out_channels, pool_stride, self.cardinality, self.base_width, self.widen_factor
                )
            else:
                unit = ResNeXtBottleneck(
                    out_channels, out_channels, 1, self.cardinality, self.base_width, self.widen_factor
                )
            block.add_module(name_, unit)
        return block

    def forward(self, x):
        x = self.conv_1_3x3.forward(x)
        x = F.relu(self.bn_1.forward(x), inplace=True)
        x = self.stage_1.forward(x)
        x = self.stage_2.forward(x)
        x = self.stage_3.forward(x)
        x = F.avg_pool2d(x, 8, 1)
        x = x.view(-1, self.stages[3])
        return self.classifier(x)


def direct_forward_calls_form_c() -> nn.Module:
    torch.manual_seed(19)
    return randomize_batch_norms(CifarResNeXt(), seed=19)


CORRECT: dict[str, tuple[Callable[[], nn.Module], tuple[int, int, int, int]]] = {
    "torchvision-resnext50_32x4d": (torchvision_resnext50, LARGE),
    "torchvision-resnet50": (torchvision_resnet50, LARGE),
    "torchvision-wide_resnet50_2": (torchvision_wide_resnet50, LARGE),
    "functional-form-c": (functional_form_c, SMALL),
    "sequential-residual-form-c": (sequential_residual, SMALL),
    "modulelist-loop-form-a": (modulelist_loop_form_a, SMALL),
    "generator-sum-form-a": (generator_sum_form_a, SMALL),
    "stack-sum-nested-form-a": (stack_sum_nested_form_a, SMALL),
    "chunk-form-b": (chunk_form_b, SMALL),
    "separate-paths-form-b": (separate_paths_form_b, SMALL),
    "paper-table1-form-c": (paper_table1_form_c, SMALL),
    "moduledict-proj-form-c": (moduledict_proj_form_c, SMALL),
    "keras-cifar-resnext29": (keras_cifar_resnext29, SMALL),
    "sliced-weight-form-c": (sliced_weight_form_c, SMALL),
    "narrow-form-b": (narrow_form_b, SMALL),
    "student-resnet": (student_resnet, SMALL),
    "student-wide-resnet": (student_wide_resnet, SMALL),
    "direct-forward-calls-form-c": (direct_forward_calls_form_c, SMALL),
}
if timm is not None:
    CORRECT["timm-resnext50_32x4d"] = (timm_resnext50, LARGE)
    CORRECT["timm-small-resnext"] = (timm_small_resnext, SMALL)
