"""Form (c) against torchvision's Bottleneck, the implementation the world's checkpoints use."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torchvision.models.resnet import Bottleneck

from blocks import BlockSpec, build, transplant
from blocks.util.numerics import FP64_RTOL, randomise_batchnorm, relative_error

from tests.helpers.cases import random_input

# torchvision's Bottleneck(inplanes, planes, groups=C, base_width=d) has
# C·d grouped channels and out = 4·planes (expansion 4).
CASES = [
    pytest.param(BlockSpec(256, 256, 32, 4), dict(inplanes=256, planes=64), id="resnext50-conv2"),
    pytest.param(BlockSpec(256, 512, 32, 8, stride=2), dict(inplanes=256, planes=128), id="conv3-first-s2"),
]


def torchvision_block(spec: BlockSpec, inplanes: int, planes: int) -> Bottleneck:
    downsample = None
    if spec.has_projection:
        downsample = nn.Sequential(
            nn.Conv2d(inplanes, planes * 4, 1, stride=spec.stride, bias=False), nn.BatchNorm2d(planes * 4)
        )
    # torchvision's width formula: int(planes * base_width / 64) * groups = C·d
    base_width = spec.width * 64 // planes
    return Bottleneck(inplanes, planes, spec.stride, downsample, groups=spec.cardinality, base_width=base_width)


@pytest.mark.parametrize(("spec", "shape"), CASES)
@pytest.mark.parametrize("form", ["a", "b", "c"])
def test_torchvision_bottleneck_loads_strictly_and_matches(spec: BlockSpec, shape: dict, form: str) -> None:
    torch.manual_seed(0)
    reference = randomise_batchnorm(torchvision_block(spec, **shape), torch.Generator().manual_seed(0))
    reference = reference.double().eval()
    c = build(spec, "c").double()
    c.load_state_dict(reference.state_dict(), strict=True)
    ours = transplant(c.eval(), form)
    x = random_input(spec)
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in reference.parameters())
    with torch.no_grad():
        expected, got = reference(x), ours(x)
    if form == "c":
        assert torch.equal(got, expected)  # same layers, same kernels: bit for bit
    else:
        assert relative_error(got, expected) <= FP64_RTOL  # float64, a different summation order
