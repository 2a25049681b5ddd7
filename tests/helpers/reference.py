"""What the proofs compare against: the paper's block, read from a SOURCE block's own tensors.

A proof of the transplant is only as good as its reference. Comparing the forms
that ``transplant`` made with each other cannot see a bug that the transplant
makes the same way in every form (scale one channel of the 3x3 by 1.5, and every
target agrees with every other). So nothing here uses the package's weight
layout (``blocks.core.canonical``), ``build`` or ``transplant``:

- :func:`independent_block` makes a block with its class's constructor and draws
  every tensor itself, layer by layer;
- :func:`tensors_by_path` reads each form's tensors from its module attributes by
  hand: path i of form (a) is ``block.paths[i]``, of form (c) rows i·d … (i+1)·d
  of ``block.conv1`` … and columns i·d … (i+1)·d of ``block.conv3``;
- :func:`paper_block` is the paper's equation (3) with the block's last BN and
  shortcut, written with ``torch.nn.functional`` over those tensors.

A transplanted block must then hold the source's tensors, compute the source's
function (its own forward and :func:`paper_block`), update the same running
statistics and get the same gradients, whatever form it was moved from or to.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from blocks import FORMS, BlockSpec, ResNeXtBlock
from blocks.util.numerics import relative_error

PATH_LAYERS = ("conv1", "bn1", "conv2", "bn2", "conv3")  # one path: 1x1 -> BN -> 3x3 -> BN -> 1x1
BN_TENSORS = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")
# A distinct counter per layer (the same in every path of it): a counter moved to the wrong layer shows.
COUNTERS = {"bn1": 3, "bn2": 5, "bn3": 7, "downsample.1": 11}


def independent_block(spec: BlockSpec, form: str, seed: int = 0) -> ResNeXtBlock:
    """A float64 ``form`` block whose every tensor is drawn here, layer by layer, from ``seed``.

    Made by the form's class on the meta device (no initialisation run) and then
    filled: each conv weight ~ N(0, 2 / its own fan-in); each BN weight ~ U(0.5, 1.5),
    bias and running mean ~ N(0, 0.2), running var ~ U(0.5, 1.5), and a counter
    per layer (:data:`COUNTERS`). Paths get different numbers, and forms (a), (b),
    (c) of one seed are different functions: each is only ever compared with itself.
    """
    generator = torch.Generator().manual_seed(seed)

    def draw(shape: torch.Size, low: float | None = None, scale: float = 1.0) -> Tensor:
        if low is not None:
            return low + torch.rand(shape, generator=generator, dtype=torch.float64)
        return scale * torch.randn(shape, generator=generator, dtype=torch.float64)

    with torch.device("meta"):
        block = FORMS[form](spec)
    block = block.to_empty(device="cpu").double()
    with torch.no_grad():
        for name, layer in block.named_modules():
            if isinstance(layer, nn.Conv2d):
                layer.weight.copy_(draw(layer.weight.shape, scale=(2 / layer.weight[0].numel()) ** 0.5))
            elif isinstance(layer, nn.BatchNorm2d):
                layer.weight.copy_(draw(layer.weight.shape, low=0.5))
                layer.bias.copy_(draw(layer.bias.shape, scale=0.2))
                layer.running_mean.copy_(draw(layer.running_mean.shape, scale=0.2))
                layer.running_var.copy_(draw(layer.running_var.shape, low=0.5))
                layer.num_batches_tracked.fill_(COUNTERS[re.sub(r"^paths\.\d+\.", "", name)])
    return block


def _layer_tensors(layer: nn.Module, grad: bool) -> dict[str, Tensor | None]:
    """A conv's weight or a BN's five tensors; with ``grad``, the parameters' gradients instead."""
    names = ("weight",) if isinstance(layer, nn.Conv2d) else BN_TENSORS
    if grad:
        return {name: getattr(layer, name).grad for name in names if name in ("weight", "bias")}
    return {name: getattr(layer, name) for name in names}


def tensors_by_path(block: ResNeXtBlock, grad: bool = False) -> dict[str, Tensor | None]:
    """Every tensor of ``block`` under its name in the paper: path i's as ``path{i}.conv1.weight`` etc.

    Path i's 1x1s, 3x3 and BNs are read from the block's own attributes, as each
    form lays them out; views, not copies, so writing into one changes the block.
    The last 1x1 is per path in every form (W3 = [W3_1 … W3_C], column blocks);
    bn3 and the projection shortcut are under their own names.

    Args:
        block: a block of form a, b or c.
        grad: give each parameter's ``.grad`` (None if it has none) instead, and no buffers.

    Returns:
        The tensors by name, the same names for every form of one spec.
    """
    spec = block.spec
    found: dict[str, Tensor | None] = {}
    for i in range(spec.cardinality):
        rows = slice(i * spec.width, (i + 1) * spec.width)
        for layer_name in PATH_LAYERS:
            if block.form == "c":  # one layer for all paths: path i's rows, or conv3's columns
                layer, index = getattr(block, layer_name), ((slice(None), rows) if layer_name == "conv3" else rows)
            elif block.form == "b" and layer_name == "conv3":  # the shared 1x1 after the concat
                layer, index = block.conv3, (slice(None), rows)
            else:  # path i's own layer
                layer, index = getattr(block.paths[i], layer_name), slice(None)
            for name, tensor in _layer_tensors(layer, grad).items():
                whole = tensor is None or tensor.ndim == 0  # no gradient, or a BN counter: one per path
                found[f"path{i}.{layer_name}.{name}"] = tensor if whole else tensor[index]
    for layer_name in ("bn3", "downsample.0", "downsample.1") if spec.has_projection else ("bn3",):
        for name, tensor in _layer_tensors(block.get_submodule(layer_name), grad).items():
            found[f"{layer_name}.{name}"] = tensor
    return found


def snapshot(block: ResNeXtBlock) -> dict[str, Tensor]:
    """Copies of :func:`tensors_by_path`: what the block holds now, kept apart from it."""
    return {name: tensor.detach().clone() for name, tensor in tensors_by_path(block).items()}  # type: ignore[union-attr]


def is_parameter(name: str) -> bool:
    """Whether a :func:`tensors_by_path` name is a parameter (a weight or a BN bias), not a buffer."""
    return name.endswith((".weight", ".bias"))


def layer_of(name: str) -> str:
    """The layer a :func:`tensors_by_path` name belongs to, path dropped: ``path3.bn2.bias`` -> ``bn2``."""
    return re.sub(r"^path\d+\.", "", name).rsplit(".", 1)[0]


def paper_block(
    tensors: Mapping[str, Tensor], spec: BlockSpec, x: Tensor, training: bool, frozen: Collection[str] = ()
) -> Tensor:
    """y = ReLU(BN3(Σ_i W3_i · T_i(x)) + shortcut(x)), T_i = ReLU(BN2(3x3(ReLU(BN1(1x1(x)))))): paper eq. (3).

    Args:
        tensors: named as :func:`tensors_by_path` names them.
        spec: the block's spec (stride, projection).
        x: the input, (B, in, H, W).
        training: BNs normalise with the batch's statistics and update their running
            ones and counters in ``tensors`` (in place, momentum 0.1, as nn.BatchNorm2d).
        frozen: BN layers (``bn1``, ``bn2``, ``bn3``, ``downsample.1``) that use their
            running statistics even in training, as a BN in eval mode does.

    Returns:
        The output, (B, out, H/s, W/s).
    """

    def bn(h: Tensor, name: str) -> Tensor:
        batch_statistics = training and layer_of(f"{name}.weight") not in frozen
        if batch_statistics:
            tensors[f"{name}.num_batches_tracked"].add_(1)  # type: ignore[index]
        return F.batch_norm(
            h,
            tensors[f"{name}.running_mean"],
            tensors[f"{name}.running_var"],
            tensors[f"{name}.weight"],
            tensors[f"{name}.bias"],
            training=batch_statistics,
        )

    total: Tensor | int = 0
    for i in range(spec.cardinality):
        path = f"path{i}"
        h = F.relu(bn(F.conv2d(x, tensors[f"{path}.conv1.weight"]), f"{path}.bn1"))  # (B, d, H, W)
        h = F.conv2d(h, tensors[f"{path}.conv2.weight"], stride=spec.stride, padding=1)  # (B, d, H/s, W/s)
        h = F.relu(bn(h, f"{path}.bn2"))
        total = total + F.conv2d(h, tensors[f"{path}.conv3.weight"])  # (B, out, H/s, W/s)
    shortcut = x
    if spec.has_projection:
        shortcut = bn(F.conv2d(x, tensors["downsample.0.weight"], stride=spec.stride), "downsample.1")
    return F.relu(bn(total, "bn3") + shortcut)


def freeze(block: nn.Module, layer: str) -> nn.Module:
    """Freeze ``layer`` (e.g. ``bn2``) in every path and block, as fine-tuning does: eval mode, no gradients."""
    for name, module in block.named_modules():
        if name == layer or name.endswith(f".{layer}"):
            module.eval().requires_grad_(False)
    return block


# The modes every proof runs in: BNs with running statistics, with batch statistics, and a
# training block whose 3x3 BNs are frozen (eval mode, no gradients), as when fine-tuning.
MODES = ("eval", "train", "train-frozen-bn2")
FROZEN_LAYERS = {"eval": (), "train": (), "train-frozen-bn2": ("bn2",)}


def in_mode(block: nn.Module, mode: str) -> nn.Module:
    """Put ``block`` (or a network) in one of :data:`MODES`; returns it."""
    block.train(mode != "eval")
    for layer in FROZEN_LAYERS[mode]:
        freeze(block, layer)
    return block


def assert_agree(found: Mapping[str, Tensor | None], expected: Mapping[str, Tensor | None], rtol: float) -> None:
    """Every tensor of ``found`` equals the one of the same name in ``expected``.

    Floats within ``rtol`` relative (max|x - y| / max|y|); bit for bit and of the same
    dtype if ``rtol`` is 0, or if the expected tensor is all zeros (say, a frozen BN's
    running mean); BN counters exactly; a missing gradient (None) only where the other
    one is missing too.
    """
    assert found.keys() == expected.keys()
    for name, want in expected.items():
        got = found[name]
        if got is None or want is None:
            assert got is None and want is None, name
        elif rtol == 0 or not want.is_floating_point() or not want.any():  # no scale to be relative to
            assert got.dtype == want.dtype and torch.equal(got, want), name
        else:
            assert relative_error(got, want) <= rtol, name
