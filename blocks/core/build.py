"""``build``: a new block of any form, initialised to the same function in every form.

Two steps, used by :func:`blocks.transplant` too: draw (or gather) the weights in
the canonical layout, then :func:`assemble` a block of the wanted form from them.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

import torch
from torch import Tensor, nn

from blocks.core import _fast
from blocks.core.canonical import from_canonical
from blocks.core.forms import ResNeXtBlock, check_form
from blocks.core.spec import BlockSpec


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
    with _fast.collector_paused():
        return _fast.new_block(spec, form, state, training, modes or {})


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
        ValueError: ``form`` is not one of "a", "b", "c".

    Example:
        >>> torch.manual_seed(0); a = build(BlockSpec(256, 256, 32, 4), "a")
        >>> torch.manual_seed(0); c = build(BlockSpec(256, 256, 32, 4), "c")
        >>> x = torch.randn(2, 256, 8, 8); torch.allclose(a(x), c(x), atol=1e-5)
        True
    """
    if not isinstance(spec, BlockSpec):
        raise TypeError(f"spec must be a blocks.BlockSpec, got {type(spec).__name__}")
    check_form(form)
    weights = initial_weights(spec, zero_init_last_bn)
    return assemble(spec, form, weights, owned=weights.keys())
