"""More students' answers: for each kind of answer the checks judged badly (issue 29), right ones and wrong ones.

Written the way different students write (their own names, containers and idioms), beside the
corpus of ``exercise_answers.py``:

* paths (or their weights) kept in a plain Python list, tuple or dict, not registered with PyTorch;
* exercise 3: an off-by-one slice, ``conv3`` cut along the wrong dimension, a ``to_form_a`` that
  raises, so that the hints about ``path_tensors`` must survive it;
* PyTorch's shape errors: a shortcut without the stride, ``torch.cat`` along the batch, split
  sizes of C where d is meant, a weight block in (in, out) order;
* exercise 4: the BNs counted as multiply-adds, the grouped 3x3 counted with groups = d;
* one path module called C times with ``+=`` onto the input, as a widely copied tutorial writes form (a).

Each wrong answer is listed with the catalogue mistake its hint must name (None where the catalogue
has no number for it) and words its hint must hold. Every constructor takes ``(in_channels,
out_channels, cardinality, width, stride)``, as the exercises ask.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

import blocks


def conv_bn(cin, cout, k=1, stride=1, relu=True):
    layers = [nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2, bias=False), nn.BatchNorm2d(cout)]
    return [*layers, nn.ReLU()] if relu else layers


def projection(cin, cout, stride):
    if stride == 1 and cin == cout:
        return nn.Identity()
    return nn.Sequential(*conv_bn(cin, cout, 1, stride, relu=False))


def one_path(cin, cout, d, stride):
    return nn.Sequential(*conv_bn(cin, d), *conv_bn(d, d, 3, stride), nn.Conv2d(d, cout, 1, bias=False))


# ------------------------------------------------------------------------------------------ paths not registered


class PlainListFormA(nn.Module):
    """Wrong: the paths in a list comprehension, assigned as a plain list."""

    def __init__(self, in_channels, out_channels, cardinality, width, stride=1):
        super().__init__()
        self.paths = [one_path(in_channels, out_channels, width, stride) for _ in range(cardinality)]
        self.bn = nn.BatchNorm2d(out_channels)
        self.shortcut = projection(in_channels, out_channels, stride)

    def forward(self, x):
        return F.relu(self.bn(sum(path(x) for path in self.paths)) + self.shortcut(x))


class Branch(nn.Module):
    def __init__(self, cin, cout, d, stride):
        super().__init__()
        self.a, self.b, self.c = (
            nn.Conv2d(cin, d, 1, bias=False),
            nn.BatchNorm2d(d),
            nn.Conv2d(d, d, 3, stride, 1, bias=False),
        )
        self.e, self.f = nn.BatchNorm2d(d), nn.Conv2d(d, cout, 1, bias=False)

    def forward(self, x):
        return self.f(F.relu(self.e(self.c(F.relu(self.b(self.a(x)))))))


class AppendedListFormA(nn.Module):
    """Wrong: an empty list, one Branch module appended per path in a loop."""

    def __init__(self, cin, cout, C, d, stride=1):
        super().__init__()
        self.branches = []
        for _ in range(C):
            self.branches.append(Branch(cin, cout, d, stride))
        self.after_sum = nn.BatchNorm2d(cout)
        self.down = projection(cin, cout, stride)

    def forward(self, x):
        y = self.branches[0](x)
        for branch in self.branches[1:]:
            y = y + branch(x)
        return torch.relu(self.after_sum(y) + self.down(x))


class TupleFormA(PlainListFormA):
    """Wrong: the paths in a tuple."""

    def __init__(self, in_channels, out_channels, cardinality, width, stride=1):
        super().__init__(in_channels, out_channels, cardinality, width, stride)
        self.paths = tuple(one_path(in_channels, out_channels, width, stride) for _ in range(cardinality))


class DictOfGroupsFormB(nn.Module):
    """Wrong: form (b) with the groups' 3x3s in a plain dict keyed by name."""

    def __init__(self, in_channels, out_channels, cardinality, width, stride=1):
        super().__init__()
        self.C, self.d = cardinality, width
        self.reduce = nn.Sequential(*conv_bn(in_channels, cardinality * width))
        self.group_convs = {}
        for g in range(cardinality):
            self.group_convs[f"g{g}"] = nn.Sequential(*conv_bn(width, width, 3, stride))
        self.merge = nn.Sequential(*conv_bn(cardinality * width, out_channels, relu=False))
        self.shortcut = projection(in_channels, out_channels, stride)

    def forward(self, x):
        h = self.reduce(x)
        outs = [self.group_convs[f"g{g}"](h[:, g * self.d : (g + 1) * self.d]) for g in range(self.C)]
        return F.relu(self.merge(torch.cat(outs, 1)) + self.shortcut(x))


class ParameterListInPlainListFormA(nn.Module):
    """Wrong: functional form (a) whose 3x3 weights are nn.Parameters in a plain list (the rest registered)."""

    def __init__(self, cin, cout, C, d, stride=1):
        super().__init__()
        self.C, self.stride = C, stride
        self.reduce = nn.ModuleList(nn.Sequential(*conv_bn(cin, d)) for _ in range(C))
        self.w3 = [nn.Parameter(torch.randn(d, d, 3, 3) * 0.1) for _ in range(C)]
        self.bn3 = nn.ModuleList(nn.BatchNorm2d(d) for _ in range(C))
        self.expand = nn.ModuleList(nn.Conv2d(d, cout, 1, bias=False) for _ in range(C))
        self.bn = nn.BatchNorm2d(cout)
        self.shortcut = projection(cin, cout, stride)

    def forward(self, x):
        total = 0
        for i in range(self.C):
            h = F.relu(self.bn3[i](F.conv2d(self.reduce[i](x), self.w3[i], stride=self.stride, padding=1)))
            total = total + self.expand[i](h)
        return F.relu(self.bn(total) + self.shortcut(x))


class ModuleDictFormA(nn.Module):
    """Right: the paths in an nn.ModuleDict keyed by name."""

    def __init__(self, in_channels, out_channels, cardinality, width, stride=1):
        super().__init__()
        self.paths = nn.ModuleDict({f"path_{i}": one_path(in_channels, out_channels, width, stride)
                                    for i in range(cardinality)})  # fmt: skip
        self.bn = nn.BatchNorm2d(out_channels)
        self.shortcut = projection(in_channels, out_channels, stride)

    def forward(self, x):
        return F.relu(self.bn(sum(p(x) for p in self.paths.values())) + self.shortcut(x))


class SetattrFormA(nn.Module):
    """Right: each path set as an attribute of its own; a plain list keeps only their names."""

    def __init__(self, in_channels, out_channels, cardinality, width, stride=1):
        super().__init__()
        self.names = []
        for i in range(cardinality):
            setattr(self, f"t{i}", one_path(in_channels, out_channels, width, stride))
            self.names.append(f"t{i}")
        self.bn = nn.BatchNorm2d(out_channels)
        self.shortcut = projection(in_channels, out_channels, stride)

    def forward(self, x):
        return F.relu(self.bn(sum(getattr(self, n)(x) for n in self.names)) + self.shortcut(x))


class AliasListFormA(ModuleDictFormA):
    """Right: registered paths, and a plain list of the same modules for the forward pass."""

    def __init__(self, in_channels, out_channels, cardinality, width, stride=1):
        super().__init__(in_channels, out_channels, cardinality, width, stride)
        self.in_order = list(self.paths.values())

    def forward(self, x):
        return F.relu(self.bn(sum(p(x) for p in self.in_order)) + self.shortcut(x))


UNREGISTERED_RIGHT = {"module-dict": ModuleDictFormA, "setattr-names": SetattrFormA, "alias-list": AliasListFormA}
UNREGISTERED_WRONG = {  # name -> (answer, the form it is for, what the hint must say)
    "list-comprehension": (PlainListFormA, "a", "holds 64 of the 1,728 parameters its forward pass uses"),
    "appended-list": (AppendedListFormA, "a", "self.branches (a plain list)"),
    "tuple": (TupleFormA, "a", "self.paths (a plain tuple)"),
    "dict-of-groups": (DictOfGroupsFormB, "b", "self.group_convs (a plain dict)"),
    "parameters-in-a-list": (ParameterListInPlainListFormA, "a", "the other 576 are kept where PyTorch"),
}


# ------------------------------------------------------------------------------------------ exercise 3


def _cut(state, rows, columns):
    """Every path tensor's rows ``rows`` (conv3: columns ``columns``), under the state_dict's own keys."""
    pieces = {k: t[rows] for k, t in state.items() if t.ndim and k.split(".")[0] in ("conv1", "bn1", "conv2", "bn2")}
    pieces["conv3.weight"] = state["conv3.weight"][:, columns]
    return pieces


def shifted_by_one(state, i, cardinality):
    """Mistake 11: every slice starts one channel late, i·d + 1 … (i+1)·d."""
    d = state["conv2.weight"].shape[1]
    return _cut(state, slice(i * d + 1, (i + 1) * d + 1), slice(i * d + 1, (i + 1) * d + 1))


def one_too_many(state, i, cardinality):
    """Wrong (no number): slices of d + 1 channels, i·d … (i+1)·d inclusive."""
    d = state["conv2.weight"].shape[1]
    return _cut(state, slice(i * d, (i + 1) * d + 1), slice(i * d, (i + 1) * d + 1))


def conv3_by_rows(state, i, cardinality):
    """Wrong (no number): the last 1x1 cut like the others, by rows."""
    width = state["bn2.weight"].numel() // cardinality
    pieces = _cut(state, slice(i * width, (i + 1) * width), slice(None))
    pieces["conv3.weight"] = state["conv3.weight"][i * width : (i + 1) * width]
    return pieces


def last_path_raises(state, i, cardinality):
    """Wrong: a table of slices one entry short, so the last path raises IndexError."""
    d = state["conv2.weight"].shape[1]
    slices = [slice(j * d, (j + 1) * d) for j in range(cardinality - 1)]
    return _cut(state, slices[i], slices[i])


def right_by_chunk(state, i, cardinality):
    """Right: torch.chunk into C pieces, keys of its own."""
    out = {}
    for key, tensor in state.items():
        if tensor.ndim and key.split(".")[0] in ("conv1", "bn1", "conv2", "bn2"):
            out["path." + key] = tensor.chunk(cardinality, dim=0)[i]
    out["path.conv3"] = state["conv3.weight"].chunk(cardinality, dim=1)[i]
    return out


def loaded_into_form_a(pieces):
    """A to_form_a that fills blocks.SummedPathsBlock with ``pieces``'s tensors by load_state_dict."""

    def to_form_a(block):
        spec, state = block.spec, block.state_dict()
        new = {k: v.clone() for k, v in state.items() if k.startswith(("bn3.", "downsample."))}
        for i in range(spec.cardinality):
            for key, tensor in pieces(state, i, spec.cardinality).items():
                new[f"paths.{i}.{key}"] = tensor.clone()
            for name in ("bn1", "bn2"):
                new[f"paths.{i}.{name}.num_batches_tracked"] = state[f"{name}.num_batches_tracked"].clone()
        form_a = blocks.SummedPathsBlock(spec)
        form_a.load_state_dict(new)
        return form_a.eval()

    return to_form_a


def to_form_a_by_copy(block):
    """Right, other style: blocks.SummedPathsBlock's tensors written in place with copy_, path by path."""
    spec = block.spec
    d = spec.width
    new = blocks.SummedPathsBlock(spec).eval()
    with torch.no_grad():
        for i, path in enumerate(new.paths):
            rows = slice(i * d, (i + 1) * d)
            for key, tensor in path.state_dict().items():
                source = block.state_dict()[key]
                tensor.copy_(source[:, rows] if key == "conv3.weight" else source if source.ndim == 0 else source[rows])
        for name in ("bn3", "downsample"):
            getattr(new, name).load_state_dict(getattr(block, name).state_dict())
    return new


def right_by_cut(state, i, cardinality):
    """Right: slices under the state_dict's own keys, the last 1x1 by columns."""
    d = state["conv2.weight"].shape[1]
    return _cut(state, slice(i * d, (i + 1) * d), slice(i * d, (i + 1) * d))


def path_tensors_not_yet(state, i, cardinality):
    raise NotImplementedError("return path i's pieces of the form (c) tensors")


def to_form_a_not_yet(block):
    raise NotImplementedError("return a form (a) block holding the trained block's tensors")


def to_form_a_typo(block):
    """Wrong: a typo in the code, an AttributeError."""
    return blocks.SummedPathsBlock(block.specs)


SLICING_RIGHT = {
    "chunk-and-copy": (right_by_chunk, to_form_a_by_copy),
    "slices-and-load-state-dict": (right_by_cut, loaded_into_form_a(right_by_cut)),
}
SLICING_WRONG = {  # name -> (path_tensors, to_form_a, the mistake named, the words in the hints)
    "shifted-by-one": (shifted_by_one, loaded_into_form_a(shifted_by_one), 11,
                       ("which reach into path 1's channels, where path 0's are 0-2",)),
    "one-too-many": (one_too_many, loaded_into_form_a(one_too_many), None,
                     ("4 channels where a path holds d = 3", "Error(s) in loading state_dict for SummedPathsBlock:\n"
                      "size mismatch for paths.0.conv1.weight")),
    "conv3-by-rows": (conv3_by_rows, loaded_into_form_a(conv3_by_rows), None,
                      ("across its output channels (dim 0)", "size mismatch for paths.0.conv3.weight")),
    "last-path-raises": (last_path_raises, to_form_a_by_copy, None,
                         ("last_path_raises(state, 3, 4) raised IndexError", "list index out of range")),
    "typo-in-to-form-a": (shifted_by_one, to_form_a_typo, 11,
                          ("which reach into path 1's", "raised AttributeError")),
    "to-form-a-not-yet": (shifted_by_one, to_form_a_not_yet, 11,
                          ("which reach into path 1's", "to_form_a_not_yet still raises NotImplementedError")),
}  # fmt: skip


# ------------------------------------------------------------------------------------------ shape errors, said


class StridelessProjectionFormA(nn.Module):
    """Mistake 9: the projection's 1x1 forgets the stride."""

    def __init__(self, in_channels, out_channels, cardinality, width, stride=1):
        super().__init__()
        self.paths = nn.ModuleList(one_path(in_channels, out_channels, width, stride) for _ in range(cardinality))
        self.bn = nn.BatchNorm2d(out_channels)
        self.shortcut = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, bias=False),
                                          nn.BatchNorm2d(out_channels))  # fmt: skip

    def forward(self, x):
        return F.relu(self.bn(sum(p(x) for p in self.paths)) + self.shortcut(x))


class ProjectOnChannelsOnlyFormB(nn.Module):
    """Mistake 9: a projection only where the channels change (stride forgotten in the condition and the conv)."""

    def __init__(self, cin, cout, C, d, stride=1):
        super().__init__()
        self.paths = nn.ModuleList(nn.Sequential(*conv_bn(cin, d), *conv_bn(d, d, 3, stride)) for _ in range(C))
        self.merge = nn.Sequential(*conv_bn(C * d, cout, relu=False))
        self.skip = nn.Sequential(*conv_bn(cin, cout, relu=False)) if cin != cout else None

    def forward(self, x):
        skip = x if self.skip is None else self.skip(x)
        return torch.relu(self.merge(torch.cat([p(x) for p in self.paths], dim=1)) + skip)


class StridelessBranchFormA(StridelessProjectionFormA):
    """Wrong (no number): the 3x3s without the stride, the projection with it."""

    def __init__(self, in_channels, out_channels, cardinality, width, stride=1):
        super().__init__(in_channels, out_channels, cardinality, width, stride)
        self.paths = nn.ModuleList(one_path(in_channels, out_channels, width, 1) for _ in range(cardinality))
        self.shortcut = projection(in_channels, out_channels, stride)


class CatDefaultDimFormB(nn.Module):
    """Wrong (no number): torch.cat of the paths without dim, which joins them along the batch."""

    def __init__(self, cin, cout, C, d, stride=1):
        super().__init__()
        self.paths = nn.ModuleList(nn.Sequential(*conv_bn(cin, d), *conv_bn(d, d, 3, stride)) for _ in range(C))
        self.last = nn.Conv2d(C * d, cout, 1, bias=False)
        self.bn = nn.BatchNorm2d(cout)
        self.shortcut = projection(cin, cout, stride)

    def forward(self, x):
        return F.relu(self.bn(self.last(torch.cat([p(x) for p in self.paths]))) + self.shortcut(x))


class SplitByCardinalityFormB(nn.Module):
    """Wrong (no number): one first 1x1, then torch.split with C where the piece size d is meant."""

    def __init__(self, in_channels, out_channels, cardinality, width, stride=1):
        super().__init__()
        self.cardinality = cardinality
        self.first = nn.Sequential(*conv_bn(in_channels, cardinality * width))
        self.threes = nn.ModuleList(nn.Sequential(*conv_bn(width, width, 3, stride)) for _ in range(cardinality))
        self.last = nn.Sequential(*conv_bn(cardinality * width, out_channels, relu=False))
        self.shortcut = projection(in_channels, out_channels, stride)

    def forward(self, x):
        groups = torch.split(self.first(x), self.cardinality, dim=1)
        y = torch.cat([conv(g) for conv, g in zip(self.threes, groups)], dim=1)
        return torch.relu(self.last(y) + self.shortcut(x))


class ChunkByWidthFormB(SplitByCardinalityFormB):
    """Wrong (no number): torch.chunk into d pieces where C pieces are meant."""

    def __init__(self, in_channels, out_channels, cardinality, width, stride=1):
        super().__init__(in_channels, out_channels, cardinality, width, stride)
        self.width = width

    def forward(self, x):
        y = torch.cat([conv(g) for conv, g in zip(self.threes, self.first(x).chunk(self.width, 1))], 1)
        return torch.relu(self.last(y) + self.shortcut(x))


class SwappedWeightsFormA(nn.Module):
    """Wrong (no number): a functional form (a) whose 1x1 weights are made (in, out, 1, 1)."""

    def __init__(self, cin, cout, C, d, stride=1):
        super().__init__()
        self.stride = stride
        self.first = nn.ParameterList(nn.Parameter(torch.randn(cin, d, 1, 1) * 0.1) for _ in range(C))
        self.middle = nn.ModuleList(nn.Sequential(nn.BatchNorm2d(d), nn.ReLU(), *conv_bn(d, d, 3, stride))
                                    for _ in range(C))  # fmt: skip
        self.last = nn.ParameterList(nn.Parameter(torch.randn(d, cout, 1, 1) * 0.1) for _ in range(C))
        self.bn = nn.BatchNorm2d(cout)
        self.shortcut = projection(cin, cout, stride)

    def forward(self, x):
        total = sum(F.conv2d(m(F.conv2d(x, w1)), w3) for w1, m, w3 in zip(self.first, self.middle, self.last))
        return F.relu(self.bn(total) + self.shortcut(x))


class SplitByWidthFormB(SplitByCardinalityFormB):
    """Right: torch.split with the piece size d."""

    def __init__(self, in_channels, out_channels, cardinality, width, stride=1):
        super().__init__(in_channels, out_channels, cardinality, width, stride)
        self.width = width

    def forward(self, x):
        groups = torch.split(self.first(x), self.width, dim=1)
        y = torch.cat([conv(g) for conv, g in zip(self.threes, groups)], dim=-3)
        return torch.relu(self.last(y) + self.shortcut(x))


SHAPES_RIGHT = {"split-by-width-cat-dim-minus-3": (SplitByWidthFormB, "b")}
SHAPES_WRONG = {  # name -> (answer, form, mistake, words in its hint)
    "projection-without-stride": (StridelessProjectionFormA, "a", 9,
                                  "your shortcut is a projection that keeps 8x8 while the branch gives 4x4: the"
                                  " projection needs the stride"),
    "projection-on-channels-only": (ProjectOnChannelsOnlyFormB, "b", 9,
                                    "keeps 8x8 while the branch gives 4x4"),
    "3x3-without-stride": (StridelessBranchFormA, "a", None, "your branch keeps 8x8 while the shortcut gives 4x4"),
    "cat-default-dim": (CatDefaultDimFormB, "b", None, "along dim 0, the batch"),
    "split-by-C": (SplitByCardinalityFormB, "b", None, "into pieces of 3 = C channels (5 pieces)"),
    "chunk-by-d": (ChunkByWidthFormB, "b", None, "into pieces of 3 = C channels"),
    "weights-in-out": (SwappedWeightsFormA, "a", None, "that weight is (in, out, k, k)"),
}  # fmt: skip


def grouped_split_by_cardinality(x, weight, cardinality):
    """Wrong (no number): x.split(C) where in/C channels a piece are meant."""
    k = weight.shape[-1]
    pieces = zip(x.split(cardinality, dim=1), weight.chunk(cardinality, dim=0))
    return torch.cat([F.conv2d(p, w, padding=k // 2) for p, w in pieces], dim=1)


def grouped_cat_batch(x, weight, cardinality):
    """Wrong (no number): the groups' outputs joined with torch.cat's default dim, the batch."""
    outs = []
    g_in, g_out = x.shape[1] // cardinality, weight.shape[0] // cardinality
    for g in range(cardinality):
        outs.append(F.conv2d(x[:, g * g_in : (g + 1) * g_in], weight[g * g_out : (g + 1) * g_out], padding=1))
    return torch.cat(outs)


def dense_in_out(x, weight, cardinality):
    """Wrong (no number): the dense weight made (in, out, k, k), each block transposed into it."""
    out_channels, g_in, k, _ = weight.shape
    g_out = out_channels // cardinality
    dense = weight.new_zeros(g_in * cardinality, out_channels, k, k)
    for g in range(cardinality):
        dense[g * g_in : (g + 1) * g_in, g * g_out : (g + 1) * g_out] = weight[g * g_out : (g + 1) * g_out].transpose(
            0, 1
        )
    return F.conv2d(x, dense, padding=k // 2)


def block_into_in_out_place(x, weight, cardinality):
    """Wrong (no number): the right dense shape, but each (out/C, in/C) block written into an (in/C, out/C) place."""
    out_channels, g_in, k, _ = weight.shape
    g_out = out_channels // cardinality
    dense = torch.zeros(out_channels, g_in * cardinality, k, k, dtype=weight.dtype)
    for g in range(cardinality):
        dense[g * g_in : (g + 1) * g_in, g * g_out : (g + 1) * g_out] = weight[g * g_out : (g + 1) * g_out]
    return F.conv2d(x, dense, padding=k // 2)


def grouped_by_split_sizes(x, weight, cardinality):
    """Right: torch.split with in/C and out/C channels a piece."""
    k = weight.shape[-1]
    xs, ws = x.split(x.shape[1] // cardinality, 1), weight.split(weight.shape[0] // cardinality, 0)
    return torch.cat([F.conv2d(a, b, padding=k // 2) for a, b in zip(xs, ws)], 1)


def mask_by_kron(x, weight, cardinality):
    """Right: the block-diagonal mask as a Kronecker product of the identity and a block of ones."""
    out_channels, g_in, k, _ = weight.shape
    mask = torch.kron(torch.eye(cardinality, dtype=weight.dtype),
                      torch.ones(out_channels // cardinality, g_in, dtype=weight.dtype))  # fmt: skip
    return F.conv2d(x, weight.repeat(1, cardinality, 1, 1) * mask[:, :, None, None], padding=k // 2)


GROUPED_RIGHT = {"split-sizes-and-kron": (grouped_by_split_sizes, mask_by_kron)}
GROUPED_WRONG = {  # name -> (by_paths, by_mask, mistake, words in its hint)
    "split-by-C": (grouped_split_by_cardinality, mask_by_kron, None, "into pieces of 4 = C channels (2 pieces)"),
    "cat-batch": (grouped_cat_batch, mask_by_kron, None, "along dim 0, the batch, into (8, 2, 6, 6)"),
    "dense-in-out": (grouped_by_split_sizes, dense_in_out, None, "that weight is (in, out, k, k)"),
    "block-in-out-place": (grouped_by_split_sizes, block_into_in_out_place, None,
                           "a weight block of shape (5, 3, 3, 3) meets a place of shape (3, 5, 3, 3)"),
}  # fmt: skip


# ------------------------------------------------------------------------------------------ exercise 4


def _convs(spec, size, groups):
    """(weights, output positions) of the block's convolutions, the 3x3 with ``groups`` groups."""
    cd = spec.cardinality * spec.width
    after = math.ceil(size / spec.stride) ** 2
    convs = [(spec.in_channels * cd, size * size), (9 * (cd // groups) * cd, after), (cd * spec.out_channels, after)]
    if spec.stride > 1 or spec.in_channels != spec.out_channels:
        convs.append((spec.in_channels * spec.out_channels, after))
    return convs


def _bn_channels(spec):
    cd = spec.cardinality * spec.width
    return 2 * cd + spec.out_channels * (2 if spec.stride > 1 or spec.in_channels != spec.out_channels else 1)


def groups_width(spec, size):
    """Wrong (no number): d2l's naming trap, the 3x3 with groups = d (the channels of a group)."""
    convs = _convs(spec, size, groups=spec.width)
    return sum(w for w, _ in convs) + 2 * _bn_channels(spec), sum(w * n for w, n in convs)


def groups_width_inline(spec, size):
    """Wrong (no number): the same slip in one line: 9 · C · C·d for the 3x3."""
    C, d, cin, cout, s = spec.cardinality, spec.width, spec.in_channels, spec.out_channels, spec.stride
    hw = ((size + s - 1) // s) ** 2
    proj = cin * cout if (s, cin) != (1, cout) else 0
    params = cin * C * d + 9 * C * C * d + C * d * cout + proj + 2 * _bn_channels(spec)
    return params, cin * C * d * size * size + (9 * C * C * d + C * d * cout + proj) * hw


def bn_one_mac_a_value(spec, size):
    """Wrong (no number): every BN counted as one multiply-add per value it normalises."""
    convs = _convs(spec, size, groups=spec.cardinality)
    cd, after = spec.cardinality * spec.width, math.ceil(size / spec.stride) ** 2
    bn_values = cd * size * size + cd * after + spec.out_channels * after
    if len(convs) == 4:
        bn_values += spec.out_channels * after
    return sum(w for w, _ in convs) + 2 * _bn_channels(spec), sum(w * n for w, n in convs) + bn_values


def bn_two_macs_and_biases(spec, size):
    """Wrong, two slips: each BN as two operations a value (normalise, then scale and shift), and a conv bias each."""
    params, macs = bn_one_mac_a_value(spec, size)
    extra = macs - sum(w * n for w, n in _convs(spec, size, groups=spec.cardinality))
    return params + _bn_channels(spec), macs + extra


def costs_by_dict(spec, size):
    """Right: a dict of layers, groups = C written out."""
    after = math.ceil(size / spec.stride) ** 2
    cd = spec.cardinality * spec.width
    layers = {"reduce": (spec.in_channels, cd, 1, 1, size**2), "grouped": (cd, cd, 3, spec.cardinality, after),
              "expand": (cd, spec.out_channels, 1, 1, after)}  # fmt: skip
    if spec.stride != 1 or spec.in_channels != spec.out_channels:
        layers["proj"] = (spec.in_channels, spec.out_channels, 1, 1, after)
    weights = {n: k * k * cin // g * cout for n, (cin, cout, k, g, _) in layers.items()}
    return sum(weights.values()) + 2 * _bn_channels(spec), sum(weights[n] * layers[n][-1] for n in layers)


COSTS_RIGHT = {"dict-of-layers": costs_by_dict}
COSTS_WRONG = {  # name -> (answer, mistake, words in its hint)
    "groups-d": (groups_width, None, "the grouped 3x3 counted with groups = d instead of C"),
    "groups-d-inline": (groups_width_inline, None, "the grouped 3x3 counted with groups = d instead of C"),
    "bn-one-mac": (bn_one_mac_a_value, None, "the BNs counted as multiply-adds, one per value"),
    "bn-two-macs-and-bias": (bn_two_macs_and_biases, 8, "the BNs counted as multiply-adds, two per value"),
}


# ------------------------------------------------------------------------------------------ one path, += onto the input


class TutorialFormA(nn.Module):
    """Mistake 1, the tutorial's way: one path, its output added C times with += onto the shortcut (x itself)."""

    def __init__(self, in_channels, out_channels, cardinality, width, stride=1):
        super().__init__()
        self.cardinality = cardinality
        self.path = one_path(in_channels, out_channels, width, stride)
        self.bn = nn.BatchNorm2d(out_channels)
        self.shortcut = projection(in_channels, out_channels, stride)

    def forward(self, x):
        out = self.shortcut(x)
        for _ in range(self.cardinality):
            out += self.bn(self.path(x))
        return F.relu(out)


class RepeatedBranchFormA(nn.Module):
    """Mistake 1: the same Branch module put C times into a ModuleList, the sum accumulated in place."""

    def __init__(self, cin, cout, C, d, stride=1):
        super().__init__()
        branch = Branch(cin, cout, d, stride)
        self.branches = nn.ModuleList([branch] * C)
        self.bn = nn.BatchNorm2d(cout)
        self.skip = projection(cin, cout, stride)

    def forward(self, x):
        y = self.skip(x)
        for b in self.branches:
            y += b(x)
        return torch.relu(self.bn(y))


class PathsIntoInputFormA(nn.Module):
    """Mistake 1: one path, each call's output added into x itself, the next call reading the x it changed."""

    def __init__(self, in_channels, out_channels, cardinality, width, stride=1):
        super().__init__()
        self.C = cardinality
        self.t = one_path(in_channels, out_channels, width, stride)
        self.bn = nn.BatchNorm2d(out_channels)
        self.proj = projection(in_channels, out_channels, stride)

    def forward(self, x):
        if isinstance(self.proj, nn.Identity):
            for _ in range(self.C):
                x += self.t(x)
            return F.relu(self.bn(x))
        return F.relu(self.bn(sum(self.t(x) for _ in range(self.C))) + self.proj(x))


class ZerosLikeFirstPathFormA(ModuleDictFormA):
    """Right: the first path called once more, only for the shape of the sum (wasteful, but the same function)."""

    def forward(self, x):
        paths = list(self.paths.values())
        total = torch.zeros_like(paths[0](x))
        for path in paths:
            total = total + path(x)
        return F.relu(self.bn(total) + self.shortcut(x))


ONE_PATH_RIGHT = {"zeros-like-first-path": ZerosLikeFirstPathFormA}
ONE_PATH_WRONG = {  # name -> (answer, what its hint must say)
    "tutorial": (TutorialFormA, "its convolutions run up to 4 times each with the same weights"),
    "same-module-in-a-list": (RepeatedBranchFormA, "distinct parameters where the 4 paths of the block need 1,728"),
    "into-the-input": (PathsIntoInputFormA, "one call changed its input tensor by up to"),
}
