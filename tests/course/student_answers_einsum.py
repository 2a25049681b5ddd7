"""Students' blocks whose 1x1 convolutions are products over the channels (issue 29): right ones and wrong ones.

A 1x1 convolution is a weight (out, in) applied to every pixel's channels, and students write it
as one: ``torch.einsum`` in either index order, ``@``/``torch.matmul`` of a weight with the input
flattened or permuted, ``F.linear`` (an ``nn.Linear``) on the input permuted to channels-last,
``torch.tensordot``; the weight kept (out, in), (in, out) or (out, in, 1, 1). Each is written the
way a different student would (their own names, containers and idioms), beside the corpus of
``exercise_answers.py``.

Each right answer is listed with its form (the exercises take (a) and (b); form (c) is read by the
audit and the transplant alone); each wrong one with the form it is for, the catalogue mistake its
hint must name (None where the catalogue has no number for it) and words its hint must hold. Every
constructor takes ``(in_channels, out_channels, cardinality, width, stride)``, as the exercises ask.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _conv_bn(cin, cout, k=1, stride=1):
    return [nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]


def _projection(cin, cout, stride):
    if stride == 1 and cin == cout:
        return nn.Identity()
    return nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))


def _weight(*shape):
    return nn.Parameter(torch.randn(*shape) / shape[-1] ** 0.5)


# ------------------------------------------------------------------------------------------ right


class EinsumLastFormA(nn.Module):
    """Form (a), each path's last 1x1 an einsum 'oc,bchw->bohw' over a weight (out, in): the issue's answer."""

    def __init__(self, in_channels, out_channels, cardinality, width, stride=1):
        super().__init__()
        self.paths = nn.ModuleList(
            nn.Sequential(*_conv_bn(in_channels, width), *_conv_bn(width, width, 3, stride)) for _ in range(cardinality)
        )
        self.last = nn.ParameterList(_weight(out_channels, width) for _ in range(cardinality))
        self.bn = nn.BatchNorm2d(out_channels)
        self.shortcut = _projection(in_channels, out_channels, stride)

    def forward(self, x):
        out = sum(torch.einsum("oc,bchw->bohw", w, path(x)) for path, w in zip(self.paths, self.last))
        return F.relu(self.bn(out) + self.shortcut(x))


class LinearLayersFormA(nn.Module):
    """Form (a) with nn.Linear(bias=False) for every 1x1, run on the input permuted to channels-last and back."""

    def __init__(self, cin, cout, C, d, stride=1):
        super().__init__()
        self.reduce = nn.ModuleList(nn.Linear(cin, d, bias=False) for _ in range(C))
        self.middle = nn.ModuleList(
            nn.Sequential(nn.BatchNorm2d(d), nn.ReLU(), *_conv_bn(d, d, 3, stride)) for _ in range(C)
        )
        self.expand = nn.ModuleList(nn.Linear(d, cout, bias=False) for _ in range(C))
        self.bn = nn.BatchNorm2d(cout)
        self.skip = _projection(cin, cout, stride)

    @staticmethod
    def channels_last(layer, t):
        return layer(t.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)

    def forward(self, x):
        y = 0
        for reduce, middle, expand in zip(self.reduce, self.middle, self.expand):
            y = y + self.channels_last(expand, middle(self.channels_last(reduce, x)))
        return torch.relu(self.bn(y) + self.skip(x))


class TensordotFormA(nn.Module):
    """Form (a), the last 1x1s as torch.tensordot over dim 1 of the input and dim 1 of a weight (out, in)."""

    def __init__(self, in_channels, out_channels, cardinality, width, stride=1):
        super().__init__()
        self.paths = nn.ModuleList(
            nn.Sequential(*_conv_bn(in_channels, width), *_conv_bn(width, width, 3, stride)) for _ in range(cardinality)
        )
        self.w_out = nn.ParameterList(_weight(out_channels, width) for _ in range(cardinality))
        self.bn = nn.BatchNorm2d(out_channels)
        self.shortcut = _projection(in_channels, out_channels, stride)

    def forward(self, x):
        parts = [torch.tensordot(p(x), w, dims=([1], [1])).permute(0, 3, 1, 2) for p, w in zip(self.paths, self.w_out)]
        return F.relu(self.bn(torch.stack(parts).sum(0)) + self.shortcut(x))


class EinsumEverywhereFormB(nn.Module):
    """Form (b), every 1x1 an einsum 'bchw,oc->bohw', the projection's too, its stride a slice x[:, :, ::s, ::s]."""

    def __init__(self, cin, cout, C, d, stride=1):
        super().__init__()
        self.C, self.stride = C, stride
        self.w1 = nn.ParameterList(_weight(d, cin) for _ in range(C))
        self.bn1 = nn.ModuleList(nn.BatchNorm2d(d) for _ in range(C))
        self.threes = nn.ModuleList(nn.Sequential(*_conv_bn(d, d, 3, stride)) for _ in range(C))
        self.w3 = _weight(cout, C * d)
        self.bn3 = nn.BatchNorm2d(cout)
        self.projects = stride != 1 or cin != cout
        if self.projects:
            self.w_proj = _weight(cout, cin)
            self.bn_proj = nn.BatchNorm2d(cout)

    def forward(self, x):
        outs = []
        for i in range(self.C):
            h = F.relu(self.bn1[i](torch.einsum("bchw,oc->bohw", x, self.w1[i])))
            outs.append(self.threes[i](h))
        y = self.bn3(torch.einsum("bchw,oc->bohw", torch.cat(outs, dim=1), self.w3))
        if self.projects:
            s = self.stride
            shortcut = self.bn_proj(torch.einsum("bchw,oc->bohw", x[:, :, ::s, ::s], self.w_proj))
        else:
            shortcut = x
        return F.relu(y + shortcut)


class MatmulFlattenFormB(nn.Module):
    """Form (b), the last 1x1 as a weight (out, in) @ the paths' output flattened to (B, C·d, H·W), unflattened."""

    def __init__(self, in_channels, out_channels, cardinality, width, stride=1):
        super().__init__()
        self.paths = nn.ModuleList(
            nn.Sequential(*_conv_bn(in_channels, width), *_conv_bn(width, width, 3, stride)) for _ in range(cardinality)
        )
        self.merge = _weight(out_channels, cardinality * width)
        self.bn = nn.BatchNorm2d(out_channels)
        self.shortcut = _projection(in_channels, out_channels, stride)

    def forward(self, x):
        h = torch.cat([p(x) for p in self.paths], 1)
        _, _, rows, cols = h.shape
        merged = torch.matmul(self.merge, h.flatten(2)).unflatten(2, (rows, cols))
        return F.relu(self.bn(merged) + self.shortcut(x))


class ChannelsLastMatmulFormB(nn.Module):
    """Form (b), the last 1x1 as channels-last @ a weight kept (in, out), permuted back."""

    def __init__(self, cin, cout, C, d, stride=1):
        super().__init__()
        self.C = C
        self.first = nn.Sequential(*_conv_bn(cin, C * d))
        self.groups = nn.ModuleList(nn.Sequential(*_conv_bn(d, d, 3, stride)) for _ in range(C))
        self.weight_in_out = _weight(C * d, cout)
        self.norm = nn.BatchNorm2d(cout)
        self.proj = _projection(cin, cout, stride)

    def forward(self, x):
        pieces = self.first(x).chunk(self.C, dim=1)
        h = torch.cat([g(p) for g, p in zip(self.groups, pieces)], dim=1)
        y = (h.permute(0, 2, 3, 1) @ self.weight_in_out).permute(0, 3, 1, 2)
        return F.relu(self.norm(y) + self.proj(x))


class EinsumFormC(nn.Module):
    """Form (c), both 1x1s einsums over weights kept as a convolution's (out, in, 1, 1), squeezed."""

    def __init__(self, in_channels, out_channels, cardinality, width, stride=1):
        super().__init__()
        cd = cardinality * width
        self.conv1 = _weight(cd, in_channels, 1, 1)
        self.bn1 = nn.BatchNorm2d(cd)
        self.conv2 = nn.Conv2d(cd, cd, 3, stride, 1, groups=cardinality, bias=False)
        self.bn2 = nn.BatchNorm2d(cd)
        self.conv3 = _weight(out_channels, cd, 1, 1)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.shortcut = _projection(in_channels, out_channels, stride)

    def forward(self, x):
        h = F.relu(self.bn1(torch.einsum("oi,nihw->nohw", self.conv1.squeeze(-1).squeeze(-1), x)))
        h = F.relu(self.bn2(self.conv2(h)))
        h = self.bn3(torch.einsum("nihw,oi->nohw", h, self.conv3[:, :, 0, 0]))
        return F.relu(h + self.shortcut(x))


class LinearFormC(nn.Module):
    """Form (c), the 1x1s as F.linear on the input flattened to (B·H·W, channels), the projection too."""

    def __init__(self, cin, cout, C, d, stride=1):
        super().__init__()
        self.stride = stride
        self.reduce, self.expand = _weight(C * d, cin), _weight(cout, C * d)
        self.bn_reduce, self.bn_expand = nn.BatchNorm2d(C * d), nn.BatchNorm2d(cout)
        self.grouped = nn.Sequential(*_conv_bn(C * d, C * d, 3, stride)[:2])
        self.grouped[0] = nn.Conv2d(C * d, C * d, 3, stride, 1, groups=C, bias=False)
        self.proj = _weight(cout, cin) if stride != 1 or cin != cout else None
        self.bn_proj = nn.BatchNorm2d(cout) if self.proj is not None else None

    @staticmethod
    def one_by_one(t, weight):
        b, c, h, w = t.shape
        rows = t.permute(0, 2, 3, 1).reshape(b * h * w, c)
        return F.linear(rows, weight).reshape(b, h, w, -1).permute(0, 3, 1, 2)

    def forward(self, x):
        y = F.relu(self.bn_reduce(self.one_by_one(x, self.reduce)))
        y = self.bn_expand(self.one_by_one(F.relu(self.grouped(y)), self.expand))
        if self.proj is None:
            return F.relu(y + x)
        every_other = x[:, :, :: self.stride, :: self.stride]
        return F.relu(y + self.bn_proj(self.one_by_one(every_other, self.proj)))


RIGHT = {  # name -> (answer, form)
    "einsum-oc-bchw-last-1x1": (EinsumLastFormA, "a"),
    "linear-layers-channels-last": (LinearLayersFormA, "a"),
    "tensordot": (TensordotFormA, "a"),
    "einsum-bchw-oc-everywhere": (EinsumEverywhereFormB, "b"),
    "matmul-flatten-unflatten": (MatmulFlattenFormB, "b"),
    "channels-last-matmul-in-out-weight": (ChannelsLastMatmulFormB, "b"),
    "einsum-squeezed-conv-weights": (EinsumFormC, "c"),
    "linear-on-rows": (LinearFormC, "c"),
}


# ------------------------------------------------------------------------------------------ wrong


class ReshapeNotPermuteFormB(MatmulFlattenFormB):
    """Wrong (no number): the last 1x1 on h.reshape(B, H·W, C·d), not channels-last: it mixes channels and pixels."""

    def forward(self, x):
        h = torch.cat([p(x) for p in self.paths], 1)
        n, c, rows, cols = h.shape
        merged = (h.reshape(n, rows * cols, c) @ self.merge.t()).reshape(n, -1, rows, cols)
        return F.relu(self.bn(merged) + self.shortcut(x))


class SwappedAxesEinsumFormA(EinsumLastFormA):
    """Wrong (no number): the einsum's output written 'bowh': every path's output is its image transposed."""

    def forward(self, x):
        out = sum(torch.einsum("oc,bchw->bowh", w, path(x)) for path, w in zip(self.paths, self.last))
        return F.relu(self.bn(out) + self.shortcut(x))


class BiasedLinearFormA(LinearLayersFormA):
    """Mistake 8: nn.Linear's default bias=True on every 1x1, each followed by a BN that subtracts it again."""

    def __init__(self, cin, cout, C, d, stride=1):
        super().__init__(cin, cout, C, d, stride)
        self.reduce = nn.ModuleList(nn.Linear(cin, d) for _ in range(C))
        self.expand = nn.ModuleList(nn.Linear(d, cout) for _ in range(C))


class OneWeightEveryPathFormA(EinsumLastFormA):
    """Mistake 1: one last-1x1 weight made once and used by every path."""

    def __init__(self, in_channels, out_channels, cardinality, width, stride=1):
        super().__init__(in_channels, out_channels, cardinality, width, stride)
        self.last = nn.ParameterList([_weight(out_channels, width)] * cardinality)


class WidthEinsumFormA(EinsumLastFormA):
    """Wrong (no number): the einsum sums over the width 'w' of the input where the channels are meant."""

    def forward(self, x):
        out = sum(torch.einsum("ow,bchw->bcho", w, path(x)) for path, w in zip(self.paths, self.last))
        return F.relu(self.bn(out) + self.shortcut(x))


WRONG = {  # name -> (answer, form, mistake, words its hint must hold)
    "reshape-not-permute": (ReshapeNotPermuteFormB, "b", None,
                            ("Tensor.reshape at student_answers_einsum.py:", "which mixes its channels",
                             "move the channels with permute first")),
    "einsum-output-bowh": (SwappedAxesEinsumFormA, "a", None,
                           ("torch.einsum at student_answers_einsum.py:",
                            "laid out as (batch, out channels, width, height)")),
    "linear-default-bias": (BiasedLinearFormA, "a", 8, ("have a bias that the BN after them subtracts again",)),
    "one-weight-every-path": (OneWeightEveryPathFormA, "a", 1, ("the 4 paths share weights",)),
    "einsum-over-width": (WidthEinsumFormA, "a", None, ("einsum()", "line")),  # PyTorch's size error, on its line
}  # fmt: skip


class SquareBlock(nn.Module):
    """Form (c) on 16 channels at 16x16 with an einsum that sums over the width: it runs, and is wrong."""

    def __init__(self):
        super().__init__()
        self.w1, self.w3 = _weight(16, 16), _weight(16, 16)
        self.bn1, self.bn2, self.bn3 = nn.BatchNorm2d(16), nn.BatchNorm2d(16), nn.BatchNorm2d(16)
        self.conv2 = nn.Conv2d(16, 16, 3, padding=1, groups=4, bias=False)

    def forward(self, x):
        h = F.relu(self.bn1(torch.einsum("ow,bchw->bcho", self.w1, x)))
        h = F.relu(self.bn2(self.conv2(h)))
        return F.relu(self.bn3(torch.einsum("oc,bchw->bohw", self.w3, h)) + x)


SQUARE_SIZE = (2, 16, 16, 16)
