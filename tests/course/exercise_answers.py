"""Students' answers to the exercises of notebooks/exercises/: right ones in several styles, and wrong ones.

Each wrong answer makes ONE mistake, written the way a student writes it (a default ``bias=True``, a
path made once and called C times, a lambda that captures its loop variable, ...), and is listed with
the catalogue mistake its hint must name (None where the catalogue has no number for it). Nothing
here is shaped to fit the checks: names, containers and idioms change from one answer to the next.

Every constructor takes ``(in_channels, out_channels, cardinality, width, stride)``, as the
exercises ask.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

import blocks


def _projects(cin, cout, stride):
    return stride != 1 or cin != cout


def _shortcut(cin, cout, stride):
    if not _projects(cin, cout, stride):
        return nn.Identity()
    return nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))


def _path_to_3x3(cin, d, stride, *, bias=False, reduce_stride=1):
    return [
        nn.Conv2d(cin, d, 1, stride=reduce_stride, bias=bias),
        nn.BatchNorm2d(d),
        nn.ReLU(inplace=True),
        nn.Conv2d(d, d, 3, stride=stride, padding=1, bias=bias),
        nn.BatchNorm2d(d),
        nn.ReLU(inplace=True),
    ]


# ------------------------------------------------------------------------------------------ exercise 1: right


class GeneratorSumFormA(nn.Module):
    """Paths in a ModuleList of Sequentials, summed by a generator; the shortcut is None where it is the identity."""

    def __init__(self, in_channels, out_channels, cardinality, width, stride=1):
        super().__init__()
        self.branches = nn.ModuleList(
            nn.Sequential(*_path_to_3x3(in_channels, width, stride), nn.Conv2d(width, out_channels, 1, bias=False))
            for _ in range(cardinality)
        )
        self.norm = nn.BatchNorm2d(out_channels)
        self.proj = (
            _shortcut(in_channels, out_channels, stride) if _projects(in_channels, out_channels, stride) else None
        )

    def forward(self, x):
        total = sum(branch(x) for branch in self.branches)
        skip = x if self.proj is None else self.proj(x)
        return F.relu(self.norm(total) + skip)


class StackedFormA(nn.Module):
    """Paths registered one by one with add_module, stacked and summed over the new dimension."""

    def __init__(self, cin, cout, groups, group_width, stride=1):
        super().__init__()
        self.groups = groups
        for g in range(groups):
            layers = [*_path_to_3x3(cin, group_width, stride), nn.Conv2d(group_width, cout, 1, bias=False)]
            self.add_module(f"split_transform_{g}", nn.Sequential(*layers))
        self.post = nn.BatchNorm2d(cout)
        self.skip = _shortcut(cin, cout, stride)

    def forward(self, inputs):
        outs = torch.stack([getattr(self, f"split_transform_{g}")(inputs) for g in range(self.groups)])
        return torch.relu(self.post(outs.sum(0)) + self.skip(inputs))


class FunctionalFormA(nn.Module):
    """No conv or BN modules: weights in ParameterLists, BN statistics as buffers, F.conv2d / F.batch_norm calls."""

    def __init__(self, in_channels, out_channels, cardinality, width, stride=1):
        super().__init__()
        self.stride, self.cardinality = stride, cardinality

        def weight(cout, cin, k):
            return nn.Parameter(torch.randn(cout, cin, k, k) * math.sqrt(2 / (cin * k * k)))

        self.reduce = nn.ParameterList(weight(width, in_channels, 1) for _ in range(cardinality))
        self.spatial = nn.ParameterList(weight(width, width, 3) for _ in range(cardinality))
        self.expand = nn.ParameterList(weight(out_channels, width, 1) for _ in range(cardinality))
        for i in range(cardinality):
            self._norm(f"reduce{i}", width)
            self._norm(f"spatial{i}", width)
        self._norm("sum", out_channels)
        self.project = _projects(in_channels, out_channels, stride)
        if self.project:
            self.project_weight = weight(out_channels, in_channels, 1)
            self._norm("project", out_channels)

    def _norm(self, name, channels):
        self.register_parameter(f"{name}_gamma", nn.Parameter(torch.ones(channels)))
        self.register_parameter(f"{name}_beta", nn.Parameter(torch.zeros(channels)))
        self.register_buffer(f"{name}_mean", torch.zeros(channels))
        self.register_buffer(f"{name}_var", torch.ones(channels))

    def _bn(self, x, name):
        return F.batch_norm(x, getattr(self, f"{name}_mean"), getattr(self, f"{name}_var"),
                            getattr(self, f"{name}_gamma"), getattr(self, f"{name}_beta"), self.training)  # fmt: skip

    def forward(self, x):
        total = 0
        for i in range(self.cardinality):
            h = F.relu(self._bn(F.conv2d(x, self.reduce[i]), f"reduce{i}"))
            h = F.relu(self._bn(F.conv2d(h, self.spatial[i], stride=self.stride, padding=1), f"spatial{i}"))
            total = total + F.conv2d(h, self.expand[i])
        skip = self._bn(F.conv2d(x, self.project_weight, stride=self.stride), "project") if self.project else x
        return F.relu(self._bn(total, "sum") + skip)


# ------------------------------------------------------------------------------------------ exercise 1: wrong


class SharedPathFormA(nn.Module):
    """Mistake 1: ONE path, called C times."""

    def __init__(self, in_channels, out_channels, cardinality, width, stride=1):
        super().__init__()
        self.cardinality = cardinality
        self.path = nn.Sequential(
            *_path_to_3x3(in_channels, width, stride), nn.Conv2d(width, out_channels, 1, bias=False)
        )
        self.bn = nn.BatchNorm2d(out_channels)
        self.shortcut = _shortcut(in_channels, out_channels, stride)

    def forward(self, x):
        out = 0
        for _ in range(self.cardinality):
            out = out + self.path(x)
        return F.relu(self.bn(out) + self.shortcut(x))


class InPlaceShortcutFormA(GeneratorSumFormA):
    """Mistake 1: the branch added INTO the shortcut, which is the caller's x where the identity fits."""

    def forward(self, x):
        identity = x if self.proj is None else self.proj(x)
        identity += self.norm(sum(branch(x) for branch in self.branches))
        return F.relu(identity)


class PathEndsInBnReluFormA(nn.Module):
    """Mistake 2 (``relu=True``) or 7 (``relu=False``): each path ends in its own BN (and ReLU), none after the sum."""

    relu = True

    def __init__(self, in_channels, out_channels, cardinality, width, stride=1):
        super().__init__()
        ending = [nn.BatchNorm2d(out_channels), *([nn.ReLU()] if self.relu else [])]
        self.paths = nn.ModuleList(
            nn.Sequential(*_path_to_3x3(in_channels, width, stride), nn.Conv2d(width, out_channels, 1, bias=False),
                          *ending)
            for _ in range(cardinality)
        )  # fmt: skip
        self.shortcut = _shortcut(in_channels, out_channels, stride)

    def forward(self, x):
        return F.relu(sum(p(x) for p in self.paths) + self.shortcut(x))


class PathEndsInBnFormA(PathEndsInBnReluFormA):
    relu = False


class SlicedInputFormA(nn.Module):
    """Mistake 3: path i reads only the i-th C-th of the input channels."""

    def __init__(self, in_channels, out_channels, cardinality, width, stride=1):
        super().__init__()
        self.cardinality = cardinality
        self.paths = nn.ModuleList(
            nn.Sequential(*_path_to_3x3(in_channels // cardinality, width, stride),
                          nn.Conv2d(width, out_channels, 1, bias=False))
            for _ in range(cardinality)
        )  # fmt: skip
        self.bn = nn.BatchNorm2d(out_channels)
        self.shortcut = _shortcut(in_channels, out_channels, stride)

    def forward(self, x):
        pieces = x.chunk(self.cardinality, dim=1)
        return F.relu(self.bn(sum(p(piece) for p, piece in zip(self.paths, pieces))) + self.shortcut(x))


class QuarterWidthFormA(GeneratorSumFormA):
    """Mistake 4: the paths' width taken as ResNet's out_channels // 4, split among the C paths."""

    def __init__(self, in_channels, out_channels, cardinality, width, stride=1):
        super().__init__(in_channels, out_channels, cardinality, out_channels // 4 // cardinality, stride)


class StrideOnReduceFormA(nn.Module):
    """Mistake 5: the stride on each path's first 1x1 (ResNet v1)."""

    def __init__(self, in_channels, out_channels, cardinality, width, stride=1):
        super().__init__()
        self.paths = nn.ModuleList(
            nn.Sequential(*_path_to_3x3(in_channels, width, 1, reduce_stride=stride),
                          nn.Conv2d(width, out_channels, 1, bias=False))
            for _ in range(cardinality)
        )  # fmt: skip
        self.bn = nn.BatchNorm2d(out_channels)
        self.shortcut = _shortcut(in_channels, out_channels, stride)

    def forward(self, x):
        return F.relu(self.bn(sum(p(x) for p in self.paths)) + self.shortcut(x))


class DefaultBiasFormA(nn.Module):
    """Mistake 8: nn.Conv2d's default bias=True everywhere."""

    def __init__(self, in_channels, out_channels, cardinality, width, stride=1):
        super().__init__()
        self.paths = nn.ModuleList(
            nn.Sequential(*_path_to_3x3(in_channels, width, stride, bias=True), nn.Conv2d(width, out_channels, 1))
            for _ in range(cardinality)
        )
        self.bn = nn.BatchNorm2d(out_channels)
        self.shortcut = _shortcut(in_channels, out_channels, stride)

    def forward(self, x):
        return F.relu(self.bn(sum(p(x) for p in self.paths)) + self.shortcut(x))


class PoolingShortcutFormA(GeneratorSumFormA):
    """Mistake 9: a shortcut that pools, then a 1x1 without BN."""

    def __init__(self, in_channels, out_channels, cardinality, width, stride=1):
        super().__init__(in_channels, out_channels, cardinality, width, stride)
        if self.proj is not None:
            self.proj = nn.Sequential(nn.AvgPool2d(stride), nn.Conv2d(in_channels, out_channels, 1, bias=False))


class ReluBeforeAddFormA(GeneratorSumFormA):
    """Mistake 10: the ReLU on the branch, and none after the add."""

    def forward(self, x):
        branch = F.relu(self.norm(sum(b(x) for b in self.branches)))
        return branch + (x if self.proj is None else self.proj(x))


FORM_A_RIGHT = {
    "modulelist-generator-sum": GeneratorSumFormA,
    "add-module-stack-sum": StackedFormA,
    "functional": FunctionalFormA,
}
FORM_A_WRONG = {
    "shared-path": (SharedPathFormA, 1),
    "in-place-onto-input": (InPlaceShortcutFormA, 1),
    "bn-relu-per-path": (PathEndsInBnReluFormA, 2),
    "input-sliced-per-path": (SlicedInputFormA, 3),
    "quarter-width": (QuarterWidthFormA, 4),
    "stride-on-first-1x1": (StrideOnReduceFormA, 5),
    "bn-per-path": (PathEndsInBnFormA, 7),
    "default-bias": (DefaultBiasFormA, 8),
    "pooling-shortcut": (PoolingShortcutFormA, 9),
    "relu-before-add": (ReluBeforeAddFormA, 10),
}


# ------------------------------------------------------------------------------------------ exercise 2: right


class ChunkFormB(nn.Module):
    """One 1x1 for all C·d channels, torch.chunk into C groups, a 3x3 each, torch.cat, one 1x1."""

    def __init__(self, in_channels, out_channels, cardinality, width, stride=1):
        super().__init__()
        inner = cardinality * width
        self.cardinality = cardinality
        self.reduce = nn.Sequential(nn.Conv2d(in_channels, inner, 1, bias=False), nn.BatchNorm2d(inner), nn.ReLU())
        self.convs = nn.ModuleList(
            nn.Conv2d(width, width, 3, stride=stride, padding=1, bias=False) for _ in range(cardinality)
        )
        self.after = nn.Sequential(nn.BatchNorm2d(inner), nn.ReLU())
        self.expand = nn.Sequential(nn.Conv2d(inner, out_channels, 1, bias=False), nn.BatchNorm2d(out_channels))
        self.shortcut = _shortcut(in_channels, out_channels, stride)

    def forward(self, x):
        parts = torch.chunk(self.reduce(x), self.cardinality, dim=1)
        h = torch.cat([conv(p) for conv, p in zip(self.convs, parts)], dim=1)
        return torch.relu(self.expand(self.after(h)) + self.shortcut(x))


class NarrowLoopFormB(ChunkFormB):
    """The same layers, each group cut with narrow() in a loop, the BN and ReLU per group."""

    def __init__(self, in_channels, out_channels, cardinality, width, stride=1):
        super().__init__(in_channels, out_channels, cardinality, width, stride)
        self.width = width
        self.group_norms = nn.ModuleList(nn.BatchNorm2d(width) for _ in range(cardinality))
        del self.after

    def forward(self, x):
        h = self.reduce(x)
        outs = []
        for i, (conv, norm) in enumerate(zip(self.convs, self.group_norms)):
            outs.append(F.relu(norm(conv(h.narrow(1, i * self.width, self.width)))))
        return F.relu(self.expand(torch.cat(outs, 1)) + self.shortcut(x))


FORM_B_RIGHT = {"chunk-cat": ChunkFormB, "narrow-loop-per-group-bn": NarrowLoopFormB}


# ------------------------------------------------------------------------------------------ exercise 2: wrong


class LateBindingFormB(ChunkFormB):
    """Mistake 11: the group slices are lambdas that capture the loop variable, so all read the LAST group."""

    def __init__(self, in_channels, out_channels, cardinality, width, stride=1):
        super().__init__(in_channels, out_channels, cardinality, width, stride)
        self.takes = [lambda t: t[:, i * width : (i + 1) * width] for i in range(cardinality)]  # noqa: B023

    def forward(self, x):
        h = self.reduce(x)
        h = torch.cat([conv(take(h)) for take, conv in zip(self.takes, self.convs)], dim=1)
        return torch.relu(self.expand(self.after(h)) + self.shortcut(x))


class SharedGroupConvFormB(ChunkFormB):
    """Mistake 1: one 3x3 applied to every chunk."""

    def forward(self, x):
        parts = torch.chunk(self.reduce(x), self.cardinality, dim=1)
        h = torch.cat([self.convs[0](p) for p in parts], dim=1)
        return torch.relu(self.expand(self.after(h)) + self.shortcut(x))


class GroupedReduceFormB(ChunkFormB):
    """Mistake 3: the first 1x1 grouped too."""

    def __init__(self, in_channels, out_channels, cardinality, width, stride=1):
        super().__init__(in_channels, out_channels, cardinality, width, stride)
        self.reduce[0] = nn.Conv2d(in_channels, cardinality * width, 1, groups=cardinality, bias=False)


class NoReluAfterAddFormB(ChunkFormB):
    """Mistake 10: no ReLU after the add."""

    def forward(self, x):
        parts = torch.chunk(self.reduce(x), self.cardinality, dim=1)
        h = torch.cat([conv(p) for conv, p in zip(self.convs, parts)], dim=1)
        return self.expand(self.after(h)) + self.shortcut(x)


class GroupedConvFormC(nn.Module):
    """Not wrong, but not form (b): the paper's block as one grouped 3x3 (form c)."""

    def __init__(self, in_channels, out_channels, cardinality, width, stride=1):
        super().__init__()
        inner = cardinality * width
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, inner, 1, bias=False), nn.BatchNorm2d(inner), nn.ReLU(),
            nn.Conv2d(inner, inner, 3, stride, 1, groups=cardinality, bias=False), nn.BatchNorm2d(inner), nn.ReLU(),
            nn.Conv2d(inner, out_channels, 1, bias=False), nn.BatchNorm2d(out_channels),
        )  # fmt: skip
        self.shortcut = _shortcut(in_channels, out_channels, stride)

    def forward(self, x):
        return F.relu(self.body(x) + self.shortcut(x))


FORM_B_WRONG = {
    "late-binding-lambda": (LateBindingFormB, 11),
    "shared-3x3": (SharedGroupConvFormB, 1),
    "grouped-first-1x1": (GroupedReduceFormB, 3),
    "no-relu-after-add": (NoReluAfterAddFormB, 10),
    "form-c-instead": (GroupedConvFormC, None),
}


# ------------------------------------------------------------------------------------------ exercise 3


def split_path_tensors(state, i, cardinality):
    """Right, other names and style: torch.split along the paths' dimension, keys of its own."""
    d = state["conv2.weight"].shape[1]
    pick = {}
    for key, tensor in state.items():
        if key.startswith(("conv1", "bn1", "conv2", "bn2")) and tensor.dim() > 0:
            pick[key.replace(".", "_")] = torch.split(tensor, d, dim=0)[i]
    pick["last_1x1"] = torch.split(state["conv3.weight"], d, dim=1)[i]
    return pick


def to_own_form_a(block):
    """Right, other style: exercise 1's GeneratorSumFormA, filled module by module."""
    spec = block.spec
    d = spec.width
    new = GeneratorSumFormA(spec.in_channels, spec.out_channels, spec.cardinality, d, spec.stride)
    with torch.no_grad():
        for i, branch in enumerate(new.branches):
            rows = slice(i * d, (i + 1) * d)
            conv1, bn1, _, conv2, bn2, _, conv3 = branch
            conv1.weight.copy_(block.conv1.weight[rows])
            conv2.weight.copy_(block.conv2.weight[rows])
            conv3.weight.copy_(block.conv3.weight[:, rows])
            for mine, theirs in ((bn1, block.bn1), (bn2, block.bn2)):
                for name in ("weight", "bias", "running_mean", "running_var"):
                    getattr(mine, name).copy_(getattr(theirs, name)[rows])
        new.norm.load_state_dict(block.bn3.state_dict())
        new.proj.load_state_dict(block.downsample.state_dict())
    return new.eval()


def rows_of_conv3(state, i, cardinality):
    """Wrong (no catalogue number): conv3 cut along its output channels."""
    pieces = split_path_tensors(state, i, cardinality)
    d = state["conv2.weight"].shape[1]
    pieces["last_1x1"] = state["conv3.weight"][i * d : (i + 1) * d]
    return pieces


def last_path_only(state, i, cardinality):
    """Mistake 11: an off-by-one loop variable, every path gets the last path's pieces."""
    return split_path_tensors(state, cardinality - 1, cardinality)


def without_statistics(state, i, cardinality):
    """Wrong (no number): the BNs' running statistics left out (they are buffers, not parameters)."""
    return {k: v for k, v in split_path_tensors(state, i, cardinality).items() if "running" not in k}


def with_transplant(block):
    """Wrong: blocks.transplant does the exercise."""
    return blocks.transplant(block, "a")


def parameters_only(block):
    """Wrong (no number): only parameters moved, the running statistics left as a new BN's."""
    new = to_own_form_a(block)
    for module in new.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.reset_running_stats()
    return new


# ------------------------------------------------------------------------------------------ exercise 4


def cost_by_layers(spec, size):
    """Right, other style: a table of layers (kernel, c_in, c_out, groups, positions), math.ceil for the stride."""
    cd = spec.cardinality * spec.width
    after = math.ceil(size / spec.stride) ** 2
    layers = [
        (1, spec.in_channels, cd, 1, size**2),
        (3, cd, cd, spec.cardinality, after),
        (1, cd, spec.out_channels, 1, after),
    ]
    bn_channels = 2 * cd + spec.out_channels
    if spec.has_projection:
        layers.append((1, spec.in_channels, spec.out_channels, 1, after))
        bn_channels += spec.out_channels
    weights = [k * k * (cin // g) * cout for k, cin, cout, g, _ in layers]
    return sum(weights) + 2 * bn_channels, sum(w * layer[-1] for w, layer in zip(weights, layers))


def _costs_with(change):
    def cost(spec, size):
        params, macs = cost_by_layers(spec, size)
        extra_params, extra_macs = change(spec, size)
        return params + extra_params, macs + extra_macs

    return cost


def _after(spec, size):
    return math.ceil(size / spec.stride) ** 2


COSTS_WRONG = {  # name -> (answer, mistake)
    "grouped-first-1x1": (_costs_with(lambda s, n: (
        s.in_channels * s.width - s.in_channels * s.cardinality * s.width,
        (s.in_channels * s.width - s.in_channels * s.cardinality * s.width) * n * n)), 3),
    "stride-on-first-1x1": (_costs_with(lambda s, n: (
        0, s.in_channels * s.cardinality * s.width * (_after(s, n) - n * n))), 5),
    "conv-bias": (_costs_with(lambda s, n: (
        2 * s.cardinality * s.width + s.out_channels + (s.out_channels if s.has_projection else 0), 0)), 8),
    "projection-always": (_costs_with(lambda s, n: (0, 0) if s.has_projection else (
        s.in_channels * s.out_channels + 2 * s.out_channels, s.in_channels * s.out_channels * _after(s, n))), 9),
    "dense-3x3": (_costs_with(lambda s, n: (
        9 * s.width * s.cardinality * s.width * (s.cardinality - 1),
        9 * s.width * s.cardinality * s.width * (s.cardinality - 1) * _after(s, n))), None),
    "no-bn": (_costs_with(lambda s, n: (
        -2 * (2 * s.cardinality * s.width + s.out_channels + (s.out_channels if s.has_projection else 0)), 0)), None),
    "size-over-stride-floor": (_costs_with(lambda s, n: (0, (
        9 * s.width * s.cardinality * s.width + s.cardinality * s.width * s.out_channels
        + (s.in_channels * s.out_channels if s.has_projection else 0)) * ((n // s.stride) ** 2 - _after(s, n)))), None),
}  # fmt: skip


# ------------------------------------------------------------------------------------------ exercise 6


def grouped_by_slices(x, weight, cardinality):
    """Right, other style: explicit slicing in a loop, padding from the kernel, outputs collected in a list."""
    cin, cout, k = x.shape[1] // cardinality, weight.shape[0] // cardinality, weight.shape[-1]
    outs = []
    for g in range(cardinality):
        outs.append(F.conv2d(x[:, g * cin : (g + 1) * cin], weight[g * cout : (g + 1) * cout], padding=k // 2))
    return torch.cat(outs, dim=1)


def grouped_by_block_diag(x, weight, cardinality):
    """Right, other style: the dense weight built with torch.block_diag, one kernel position at a time."""
    out_channels, group_in, kh, kw = weight.shape
    pieces = weight.reshape(cardinality, out_channels // cardinality, group_in, kh, kw)
    dense = torch.stack(
        [torch.stack([torch.block_diag(*pieces[:, :, :, r, c]) for c in range(kw)], -1) for r in range(kh)], -2
    )  # (out, in, kh, kw)
    return F.conv2d(x, dense, padding=kh // 2)


def grouped_late_binding(x, weight, cardinality):
    """Mistake 11: every group's convolution reads the last group of the input."""
    cin, cout, k = x.shape[1] // cardinality, weight.shape[0] // cardinality, weight.shape[-1]
    take = [lambda t: t[:, g * cin : (g + 1) * cin] for g in range(cardinality)]  # noqa: B023
    return torch.cat(
        [F.conv2d(take[g](x), weight[g * cout : (g + 1) * cout], padding=k // 2) for g in range(cardinality)], 1
    )


def dense_without_mask(x, weight, cardinality):
    """Mistake 11: the grouped weight tiled across all input channels, no zeros off the diagonal."""
    return F.conv2d(x, weight.repeat(1, cardinality, 1, 1), padding=weight.shape[-1] // 2)


def grouped_conv_itself(x, weight, cardinality):
    """Wrong (no number): the grouped convolution itself."""
    return F.conv2d(x, weight, padding=weight.shape[-1] // 2, groups=cardinality)


def no_padding(x, weight, cardinality):
    """Wrong (no number): padding forgotten, so the output shrinks."""
    cin, cout = x.shape[1] // cardinality, weight.shape[0] // cardinality
    return torch.cat(
        [F.conv2d(x[:, g * cin : (g + 1) * cin], weight[g * cout : (g + 1) * cout]) for g in range(cardinality)], 1
    )
