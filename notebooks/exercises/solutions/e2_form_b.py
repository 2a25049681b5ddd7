"""Solution of exercise 2: form (b), C paths 1x1 -> 3x3 whose outputs are concatenated, then ONE shared 1x1."""

import torch
from torch import nn


def bn_relu(channels):
    return [nn.BatchNorm2d(channels), nn.ReLU()]


class FormB(nn.Module):
    """y = ReLU(BN(W3 · concat_i T'_i(x)) + shortcut(x)): T'_i is path i up to its 3x3, W3 one 1x1 over C·d channels."""

    def __init__(self, in_channels, out_channels, cardinality, width, stride=1):
        super().__init__()
        self.paths = nn.ModuleList(
            nn.Sequential(
                nn.Conv2d(in_channels, width, 1, bias=False),
                *bn_relu(width),
                nn.Conv2d(width, width, 3, stride=stride, padding=1, bias=False),
                *bn_relu(width),
            )
            for _ in range(cardinality)
        )
        self.merge = nn.Sequential(
            nn.Conv2d(cardinality * width, out_channels, 1, bias=False), nn.BatchNorm2d(out_channels)
        )
        self.shortcut = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False), nn.BatchNorm2d(out_channels)
            )

    def forward(self, x):
        joined = torch.cat([path(x) for path in self.paths], dim=1)  # (B, C·d, H/s, W/s)
        return torch.relu(self.merge(joined) + self.shortcut(x))
