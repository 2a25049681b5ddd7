"""Solution of exercise 1: form (a), C distinct paths 1x1 -> 3x3 -> 1x1 whose outputs are summed."""

from torch import nn


class Path(nn.Module):
    """One path: 1x1 (in -> d) -> BN -> ReLU -> 3x3 (d -> d, the stride) -> BN -> ReLU -> 1x1 (d -> out)."""

    def __init__(self, in_channels, out_channels, width, stride):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Conv2d(in_channels, width, 1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(),
            nn.Conv2d(width, width, 3, stride=stride, padding=1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(),
            nn.Conv2d(width, out_channels, 1, bias=False),
        )

    def forward(self, x):
        return self.layers(x)


class FormA(nn.Module):
    """y = ReLU(BN(sum_i T_i(x)) + shortcut(x)), with C paths T_i of their own."""

    def __init__(self, in_channels, out_channels, cardinality, width, stride=1):
        super().__init__()
        self.paths = nn.ModuleList(Path(in_channels, out_channels, width, stride) for _ in range(cardinality))
        self.bn = nn.BatchNorm2d(out_channels)
        self.shortcut = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False), nn.BatchNorm2d(out_channels)
            )
        self.relu = nn.ReLU()

    def forward(self, x):
        total = self.paths[0](x)
        for path in self.paths[1:]:
            total = total + path(x)
        return self.relu(self.bn(total) + self.shortcut(x))
