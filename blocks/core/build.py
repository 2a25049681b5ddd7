"""``build``: a new block of any form, initialised to the same function in every form.

Two steps, used by :func:`blocks.transplant` too: draw (or gather) the weights in
the canonical layout, then :func:`assemble` a block of the wanted form from them.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

import torch
from torch import Tensor, nn

from blocks.core import _fast
from blocks.core.canonical import canonical_name, from_canonical
from blocks.core.forms import ResNeXtBlock, check_form
from blocks.core.guards import footprint, guard_footprint
from blocks.core.spec import BlockSpec
from blocks.util.collector import collector_paused


def initial_weights(spec: BlockSpec, zero_init_last_bn: bool = False) -> dict[str, Tensor]:
    """Draw the canonical weights of a new block: the same for every form.

    The scheme is torchvision's ResNet initialisation, applied to form (c)'s
    layout: convolutions Kaiming-normal with mode "fan_out" (std = sqrt(2 /
    (out_channels · k · k))), BN weight 1 and bias 0, running mean 0 and var 1;
    with ``zero_init_last_bn`` the last BN's weight is 0, so the block starts
    as the identity of its shortcut (Goyal et al., 2017).

    Why not let each form initialise itself: PyTorch's defaults (and the
    fan-based schemes) depend on each layer's own fan. Form (a)'s per-path
    output 1x1 has fan-in d, while the grouped form's conv3 has fan-in C·d, so
    per-form defaults would draw weights √C times larger in (a) and give three
    different functions. Drawing once and cutting (see the module docstring)
    gives the same function in every form, under the same ``torch.manual_seed``.
    """
    canonical = {}
    for key, shape in _fast.state_shapes(spec, "c"):
        # Floats in the default dtype; num_batches_tracked, the one non-float tensor, is an int64.
        tensor = torch.empty(shape, dtype=torch.long if key.endswith("num_batches_tracked") else None)
        if key.endswith("running_var") or (key.endswith("weight") and tensor.ndim == 1):
            nn.init.ones_(tensor)
        elif tensor.ndim == 4:
            nn.init.kaiming_normal_(tensor, mode="fan_out", nonlinearity="relu")
        else:  # BN bias, running_mean, num_batches_tracked
            nn.init.zeros_(tensor)
        canonical[key] = tensor
    if zero_init_last_bn:
        nn.init.zeros_(canonical["bn3.weight"])
    return canonical


def assemble(
    spec: BlockSpec,
    form: str,
    canonical: Mapping[str, Tensor],
    *,
    owned: Collection[str] = (),
    training: bool = True,
    modes: Mapping[str, bool] | None = None,
) -> ResNeXtBlock:
    """A new ``form`` block of ``spec`` holding the canonical weights, cut for its form.

    Args:
        spec: the block's spec.
        form: ``"a"``, ``"b"`` or ``"c"``.
        canonical: a complete set of canonical tensors (form (c)'s state_dict).
        owned: names of canonical tensors the caller hands over: the block may
            hold them without a copy (see :func:`from_canonical`).
        training: the block's mode, and that of every layer not in ``modes``.
        modes: train/eval modes of layers, by form (c) name (see :func:`layer_modes`).

    Returns:
        The block; every other tensor is a new copy.

    The plain way, which :func:`blocks.core._fast.new_block` does faster::

        block = FORMS[form](spec)
        block.load_state_dict(from_canonical(canonical, block.state_dict(), spec.width), assign=True)
    """
    keys = (key for key, _ in _fast.state_shapes(spec, form))
    state = from_canonical(canonical, keys, spec.width, owned)  # cut: rule 1 and rule 2
    with collector_paused():
        return _fast.new_block(spec, form, state, training, modes or {})


def set_eps(block: ResNeXtBlock, eps: Sequence[float]) -> ResNeXtBlock:
    """Give each BN of ``block`` the eps of its level, in any form; return ``block``.

    Args:
        block: a block of form a, b or c.
        eps: the eps of bn1, bn2, bn3 and, if the block has a projection, of its BN
            (``downsample.1``), in that order; a path's ``paths.i.bn1`` is a slice of bn1 and takes its eps.
            Empty: nothing changes.

    Example:
        >>> set_eps(build(BlockSpec(64, 64, 4, 8), "a"), (1e-3, 1e-3, 1e-5)).paths[0].bn1.eps
        0.001
    """
    levels = dict(zip(("bn1", "bn2", "bn3", "downsample.1"), eps))
    for name, norm in block.named_modules():
        level = canonical_name(f"{name}.weight").removesuffix(".weight")
        if isinstance(norm, nn.BatchNorm2d) and level in levels:
            norm.eps = levels[level]
    return block


# Skeletons for the tools around the core (figures, the dataflow reader, the fused forward): the core's
# speed devices (_fast.py) reached through one door, each with the plain PyTorch it stands for.


def empty_block(
    spec: BlockSpec, form: str, *, training: bool = True, modes: Mapping[str, bool] | None = None
) -> ResNeXtBlock:
    """A new ``form`` block of ``spec`` whose tensors are meta tensors: shapes, no values, nothing allocated.

    The plain way: ``with torch.device("meta"): FORMS[form](spec)``, then ``.train(training)``.
    ``modes`` sets layers' train/eval modes by form (c) name (see :func:`blocks.core.canonical.layer_modes`).

    Example:
        >>> empty_block(BlockSpec(64, 256, 32, 4), "c").conv2.weight.shape
        torch.Size([128, 4, 3, 3])
    """
    return _fast.empty_block(spec, check_form(form), training, modes)


def block_shapes(spec: BlockSpec, form: str) -> tuple[tuple[str, torch.Size], ...]:
    """The state_dict keys of a ``form`` block of ``spec`` with their shapes, in order, without building it.

    The plain way: ``[(k, t.shape) for k, t in FORMS[form](spec).state_dict().items()]``.
    """
    return _fast.state_shapes(spec, check_form(form))


def block_state(block: nn.Module) -> dict[str, Tensor]:
    """``block.state_dict(keep_vars=True)``: its own Parameters and buffers, not detached, read directly."""
    return _fast.state_of(block)


def build(spec: BlockSpec, form: str, *, zero_init_last_bn: bool = False) -> ResNeXtBlock:
    """Build one ResNeXt block of form ``"a"``, ``"b"`` or ``"c"`` (paper Figure 3).

    The weights are drawn once in form (c)'s layout and cut for the requested
    form (see :func:`initial_weights`), so under the same
    ``torch.manual_seed`` all three forms compute the same function.

    Args:
        spec: the block's channels, cardinality C, width d and stride.
        form: ``"a"`` (C summed paths), ``"b"`` (C paths, concat, one 1x1) or
            ``"c"`` (one grouped 3x3).
        zero_init_last_bn: start the last BN's weight at 0 (block = its shortcut).

    Returns:
        The block, in float32 (the default dtype) on the CPU, in train mode.

    Raises:
        TypeError: ``spec`` is not a :class:`BlockSpec`.
        ValueError: ``form`` is not one of "a", "b", "c", or the block would not fit (see
            :func:`blocks.core.guards.guard_footprint`: over MODULE_LIMIT modules, or its tensors over the memory
            limit); the message gives the estimate, and nothing is allocated.

    Example:
        >>> torch.manual_seed(0); a = build(BlockSpec(256, 256, 32, 4), "a")
        >>> torch.manual_seed(0); c = build(BlockSpec(256, 256, 32, 4), "c")
        >>> x = torch.randn(2, 256, 8, 8); torch.allclose(a(x), c(x), atol=1e-5)
        True
    """
    if not isinstance(spec, BlockSpec):
        raise TypeError(f"spec must be a blocks.BlockSpec, got {type(spec).__name__}")
    check_form(form)
    guard_footprint(f"build: the block {spec} in form {form!r}", footprint(spec, form))
    weights = initial_weights(spec, zero_init_last_bn)
    return assemble(spec, form, weights, owned=weights.keys())
