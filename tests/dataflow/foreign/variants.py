"""ResNeXt VARIANTS, written the way other authors write them: what documented members of the family add.

None of these is a mistake. Each adds to the paper's bottleneck something a published member of the
family adds: a squeeze-and-excitation gate (Hu et al. 2018) after the last BN, as SENet's authors and
timm write it (module or functional, conv or linear excitation); an ECA gate (Wang et al. 2020); a
gate inside the paths, after the grouped 3x3 (RegNetY, Radosavovic et al. 2020); SiLU instead of ReLU;
ResNet-D's average-pool shortcut (He et al. 2019); a 3-D (video) ResNeXt; pre-activation (He et al. 2016,
as kuangliu's CIFAR repository writes PreActBottleneck); anti-aliased downsampling (Zhang 2019: a BlurPool
of a fixed filter, or an average pool, in place of the 3x3's stride); a deep stem of 3x3 convolutions.

``VARIANTS`` maps an id to ``(factory, input_size, kinds, forms)``: the variant kinds the audit must
name, and the forms ``transplant`` carries them into (into any other it must refuse with a ValueError):
"abc", "bc" for a gate that mixes the paths after the grouped 3x3 (RegNetY), or "" for none.
Every factory seeds torch and randomises its BNs' statistics, so nothing hides behind an identity BN.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from tests.dataflow.foreign.correct import randomize_batch_norms
from tests.dataflow.foreign.wrong import avgpool_shortcut_form_c, timm_avg_down_shortcut

SMALL = (2, 3, 32, 32)


class SEModule(nn.Module):
    """Hu et al.'s squeeze-and-excitation, as SENet's code writes it: pool, 1x1 conv, ReLU, 1x1 conv, sigmoid."""

    def __init__(self, channels, reduction=16):
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, channels // reduction, kernel_size=1, padding=0)
        self.relu = nn.ReLU(inplace=True)
        self.fc2 = nn.Conv2d(channels // reduction, channels, kernel_size=1, padding=0)
        self.sigmoid = nn.Sigmoid()

    def forward(self, x):
        module_input = x
        x = self.avg_pool(x)
        x = self.fc1(x)
        x = self.relu(x)
        x = self.fc2(x)
        x = self.sigmoid(x)
        return module_input * x


class LinearSE(nn.Module):
    """A blog post's SE: mean over the pixels, two nn.Linear, a sigmoid, ``x * y.view(b, c, 1, 1)``."""

    def __init__(self, channel, reduction=4):
        super().__init__()
        self.fc = nn.Sequential(
            nn.Linear(channel, channel // reduction, bias=False),
            nn.ReLU(inplace=True),
            nn.Linear(channel // reduction, channel, bias=False),
            nn.Sigmoid(),
        )

    def forward(self, x):
        b, c, _, _ = x.size()
        y = x.mean(dim=(2, 3))
        y = self.fc(y).view(b, c, 1, 1)
        return x * y.expand_as(x)


class ECA(nn.Module):
    """Wang et al.'s ECA: a 1-D convolution of size k across the pooled channels, then a sigmoid."""

    def __init__(self, channels, k_size=3):  # the channels set k in the paper; a fixed k, as timm allows
        super().__init__()
        self.conv = nn.Conv1d(1, 1, kernel_size=k_size, padding=(k_size - 1) // 2, bias=False)

    def forward(self, x):
        y = F.adaptive_avg_pool2d(x, 1)
        y = self.conv(y.squeeze(-1).transpose(-1, -2)).transpose(-1, -2).unsqueeze(-1)
        return x * torch.sigmoid(y).expand_as(x)


class GatedBottleneck(nn.Module):
    """A grouped-conv bottleneck with room for a gate after bn3 (``after``) or after the 3x3 (``inner``)."""

    def __init__(self, cin, cout, groups, width, stride, act=nn.ReLU, after=None, inner=None, avg_down=False):
        super().__init__()
        mid = groups * width
        self.conv1 = nn.Conv2d(cin, mid, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(mid)
        self.act1 = act()
        self.conv2 = nn.Conv2d(mid, mid, 3, stride, 1, groups=groups, bias=False)
        self.bn2 = nn.BatchNorm2d(mid)
        self.act2 = act()
        self.inner = inner(mid) if inner else nn.Identity()
        self.conv3 = nn.Conv2d(mid, cout, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout)
        self.se = after(cout) if after else nn.Identity()
        self.act3 = act()
        self.downsample = None
        if stride != 1 or cin != cout:
            if avg_down:  # ResNet-D: pool first, then a 1x1 of stride 1 reads every pixel
                pool = nn.AvgPool2d(2, stride, ceil_mode=True, count_include_pad=False) if stride > 1 else nn.Identity()
                self.downsample = nn.Sequential(pool, nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout))
            else:
                self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        shortcut = x if self.downsample is None else self.downsample(x)
        x = self.act1(self.bn1(self.conv1(x)))
        x = self.inner(self.act2(self.bn2(self.conv2(x))))
        x = self.se(self.bn3(self.conv3(x)))
        return self.act3(x + shortcut)


def _net(**kw) -> nn.Module:
    torch.manual_seed(0)
    layers = [nn.Conv2d(3, 32, 3, 1, 1, bias=False), nn.BatchNorm2d(32), nn.ReLU(inplace=True)]
    layers += [GatedBottleneck(32, 64, 4, 4, 1, **kw), GatedBottleneck(64, 64, 4, 4, 1, **kw)]
    layers += [GatedBottleneck(64, 128, 4, 8, 2, **kw), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(128, 10)]
    return randomize_batch_norms(nn.Sequential(*layers), 1)


def se_resnext() -> nn.Module:
    return _net(after=SEModule)


def linear_se_resnext() -> nn.Module:
    return _net(after=LinearSE)


def eca_resnext() -> nn.Module:
    return _net(after=ECA)


def silu_resnext() -> nn.Module:
    return _net(act=nn.SiLU)


def resnet_d() -> nn.Module:
    return _net(avg_down=True)


def regnety_style() -> nn.Module:
    return _net(inner=lambda c: SEModule(c, reduction=4))


class FunctionalSEBlock(nn.Module):
    """SE written inline in forward with F.* calls: a functional gate is reported, but is no module to carry."""

    def __init__(self, c=64, groups=4, width=8):
        super().__init__()
        mid = groups * width
        self.w1 = nn.Conv2d(c, mid, 1, bias=False)
        self.w2 = nn.Conv2d(mid, mid, 3, 1, 1, groups=groups, bias=False)
        self.w3 = nn.Conv2d(mid, c, 1, bias=False)
        self.n1, self.n2, self.n3 = nn.BatchNorm2d(mid), nn.BatchNorm2d(mid), nn.BatchNorm2d(c)
        self.squeeze = nn.Linear(c, c // 4)
        self.excite = nn.Linear(c // 4, c)

    def forward(self, x):
        out = F.relu(self.n1(self.w1(x)))
        out = F.relu(self.n2(self.w2(out)))
        out = self.n3(self.w3(out))
        gate = torch.sigmoid(self.excite(F.relu(self.squeeze(out.mean((2, 3))))))
        out = out * gate[:, :, None, None]
        return F.relu(out + x)


def functional_se_block() -> nn.Module:
    torch.manual_seed(0)
    return randomize_batch_norms(FunctionalSEBlock(), 2)


class Bottleneck3d(nn.Module):
    """A video ResNeXt's block (as 3-D ResNeXt repositories write it): Conv3d 1x1x1 -> 3x3x3 grouped -> 1x1x1."""

    def __init__(self, inplanes, planes, cardinality, stride=1, downsample=None):
        super().__init__()
        mid = cardinality * planes // 32
        self.conv1 = nn.Conv3d(inplanes, mid, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm3d(mid)
        self.conv2 = nn.Conv3d(mid, mid, 3, stride=stride, padding=1, groups=cardinality, bias=False)
        self.bn2 = nn.BatchNorm3d(mid)
        self.conv3 = nn.Conv3d(mid, planes * 2, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm3d(planes * 2)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        residual = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.downsample is not None:
            residual = self.downsample(x)
        out += residual
        return self.relu(out)


def video_resnext() -> nn.Module:
    torch.manual_seed(0)
    stem = [nn.Conv3d(3, 64, (3, 7, 7), (1, 2, 2), (1, 3, 3), bias=False), nn.BatchNorm3d(64), nn.ReLU(inplace=True)]
    net = nn.Sequential(*stem, Bottleneck3d(64, 32, 8), Bottleneck3d(64, 32, 8), nn.AdaptiveAvgPool3d(1))
    return randomize_batch_norms(net, 3)


Factory = Callable[[], nn.Module]


class PreActBottleneck(nn.Module):
    """He et al.'s pre-activation bottleneck as a CIFAR repository writes it, grouped (ResNeXt)."""

    expansion = 2

    def __init__(self, in_planes, planes, cardinality, stride=1, avg_down=False):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = nn.Conv2d(in_planes, planes, kernel_size=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, groups=cardinality, bias=False)
        self.bn3 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, self.expansion * planes, kernel_size=1, bias=False)
        if avg_down and stride != 1:  # ResNet-D's shortcut, pre-activated (timm's resnetv2_50d): pool, then a 1x1
            self.shortcut = nn.Sequential(
                nn.AvgPool2d(stride, stride, ceil_mode=True, count_include_pad=False),
                nn.Conv2d(in_planes, self.expansion * planes, 1, bias=False),
            )
        elif stride != 1 or in_planes != self.expansion * planes:
            self.shortcut = nn.Sequential(nn.Conv2d(in_planes, self.expansion * planes, 1, stride, bias=False))

    def forward(self, x):
        out = F.relu(self.bn1(x))
        shortcut = self.shortcut(out) if hasattr(self, "shortcut") else x
        out = self.conv1(out)
        out = self.conv2(F.relu(self.bn2(out)))
        out = self.conv3(F.relu(self.bn3(out)))
        return out + shortcut


def preact_resnext(avg_down: bool = False) -> nn.Module:
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 32, 3, 1, 1, bias=False),
        PreActBottleneck(32, 32, 4), PreActBottleneck(64, 32, 4), PreActBottleneck(64, 64, 4, 2, avg_down),
        nn.BatchNorm2d(128), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(128, 10),
    )  # fmt: skip
    return randomize_batch_norms(model, 1)


def preact_resnext_d() -> nn.Module:
    return preact_resnext(avg_down=True)


class BlurPool(nn.Module):
    """Zhang's BlurPool: reflect-pad, then a fixed binomial filter per channel, with the stride."""

    def __init__(self, channels, stride=2):
        super().__init__()
        row = torch.tensor([1.0, 2.0, 1.0])
        kernel = (row[:, None] * row[None, :]) / 16
        self.register_buffer("filt", kernel[None, None].repeat(channels, 1, 1, 1))
        self.stride, self.channels = stride, channels

    def forward(self, x):
        return F.conv2d(F.pad(x, (1, 1, 1, 1), mode="reflect"), self.filt, stride=self.stride, groups=self.channels)


class AntiAliasedBottleneck(nn.Module):
    """The paper's block with its 3x3 at stride 1, then a blur (or an average pool) that takes the stride."""

    def __init__(self, cin, cout, cardinality, width, stride, smooth):
        super().__init__()
        mid = cardinality * width
        self.conv1, self.bn1 = nn.Conv2d(cin, mid, 1, bias=False), nn.BatchNorm2d(mid)
        self.conv2, self.bn2 = nn.Conv2d(mid, mid, 3, 1, 1, groups=cardinality, bias=False), nn.BatchNorm2d(mid)
        self.aa = smooth(mid) if stride != 1 else nn.Identity()
        self.conv3, self.bn3 = nn.Conv2d(mid, cout, 1, bias=False), nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.aa(F.relu(self.bn2(self.conv2(out))))
        out = self.bn3(self.conv3(out))
        return F.relu(out + (x if self.downsample is None else self.downsample(x)))


def _anti_aliased(smooth) -> nn.Module:
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 32, 3, 1, 1, bias=False), nn.BatchNorm2d(32), nn.ReLU(),
        AntiAliasedBottleneck(32, 64, 4, 4, 1, smooth), AntiAliasedBottleneck(64, 128, 4, 8, 2, smooth),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(128, 10),
    )  # fmt: skip
    return randomize_batch_norms(model, 1)


def blurpool_resnext() -> nn.Module:
    return _anti_aliased(BlurPool)


def avgpool_aa_resnext() -> nn.Module:
    return _anti_aliased(lambda channels: nn.AvgPool2d(2, 2))


class ChunkedBlock3d(nn.Module):
    """A video block of form (b) that counts dimensions from the back: ``chunk(C, dim=-4)`` on NCDHW is channels."""

    def __init__(self, channels=32, cardinality=4, width=4):
        super().__init__()
        mid = cardinality * width
        self.cardinality = cardinality
        self.conv1, self.bn1 = nn.Conv3d(channels, mid, 1, bias=False), nn.BatchNorm3d(mid)
        self.paths = nn.ModuleList(nn.Conv3d(width, width, 3, padding=1, bias=False) for _ in range(cardinality))
        self.bn2 = nn.BatchNorm3d(mid)
        self.conv3, self.bn3 = nn.Conv3d(mid, channels, 1, bias=False), nn.BatchNorm3d(channels)

    def forward(self, x):
        h = F.relu(self.bn1(self.conv1(x)))
        h = torch.cat([path(part) for path, part in zip(self.paths, h.chunk(self.cardinality, dim=-4))], dim=-4)
        h = F.relu(self.bn2(h))
        return F.relu(self.bn3(self.conv3(h)) + x)


def chunked_block_3d() -> nn.Module:
    torch.manual_seed(0)
    return randomize_batch_norms(ChunkedBlock3d(), 1)


def deep_stem_resnext() -> nn.Module:
    """ResNet-C's stem: three 3x3 convolutions (stride 2 on the first), then the max pool; the paper's blocks."""
    torch.manual_seed(0)
    stem = [nn.Conv2d(3, 16, 3, 2, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
            nn.Conv2d(16, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
            nn.Conv2d(16, 32, 3, 1, 1, bias=False), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(3, 2, 1)]  # fmt: skip
    blocks = [GatedBottleneck(32, 64, 4, 4, 1), GatedBottleneck(64, 64, 4, 4, 1)]
    head = [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10)]
    return randomize_batch_norms(nn.Sequential(*stem, *blocks, *head), 1)


VARIANTS: dict[str, tuple[Factory, tuple[int, ...], set[str], str]] = {
    "se-after-bn3": (se_resnext, SMALL, {"squeeze-excitation"}, "abc"),
    "linear-se-after-bn3": (linear_se_resnext, SMALL, {"squeeze-excitation"}, "abc"),
    "eca-after-bn3": (eca_resnext, SMALL, {"eca"}, "abc"),
    "silu": (silu_resnext, SMALL, {"activation"}, "abc"),
    "resnet-d-shortcut": (resnet_d, SMALL, {"avg-pool-shortcut"}, "abc"),
    "se-after-3x3-regnety": (regnety_style, SMALL, {"squeeze-excitation"}, "bc"),
    "functional-se": (functional_se_block, (2, 64, 8, 8), {"squeeze-excitation"}, ""),
    "video-3d": (video_resnext, (1, 3, 4, 16, 16), {"conv-dims"}, ""),
    "avgpool-shortcut-form-c": (avgpool_shortcut_form_c, SMALL, {"avg-pool-shortcut"}, "abc"),
    "video-3d-chunk-from-the-back": (chunked_block_3d, (1, 32, 4, 8, 8), {"conv-dims"}, ""),
    "pre-activation": (preact_resnext, SMALL, {"pre-activation"}, ""),
    "pre-activation-resnet-d-shortcut": (preact_resnext_d, SMALL, {"pre-activation", "avg-pool-shortcut"}, ""),
    "blurpool-anti-aliasing": (blurpool_resnext, SMALL, {"anti-aliasing"}, ""),
    "avgpool-anti-aliasing": (avgpool_aa_resnext, SMALL, {"anti-aliasing"}, ""),
}
# Variants of the network around the blocks: named by the audit, and the blocks carried as the paper's.
NETWORK_VARIANTS: dict[str, tuple[Factory, tuple[int, ...], set[str]]] = {
    "deep-stem": (deep_stem_resnext, SMALL, {"deep-stem"}),
}
try:  # timm's avg_down=True: ResNet-D's shortcut in timm's own code
    import timm  # noqa: F401

    VARIANTS["timm-avg-down-shortcut"] = (timm_avg_down_shortcut, SMALL, {"avg-pool-shortcut"}, "abc")
except ImportError:  # pragma: no cover - depends on the environment
    pass
