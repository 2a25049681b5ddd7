"""``build``: a new block of any form, initialised to the same function in every form.

Two steps, used by :func:`blocks.transplant` too: draw (or gather) the weights in
the canonical layout, then :func:`assemble` a block of the wanted form from them.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from blocks.core import _fast
from blocks.core.canonical import from_canonical
from blocks.core.forms import ResNeXtBlock, check_form
from blocks.core.spec import BlockSpec

# What build (and resnext) refuse to make. A block is allocated when it is built, so a size
# that cannot fit must be refused before, with the estimate, not found by the allocator.
MEMORY_CAP = 16 * 2**30  # bytes of parameters and buffers: ~50x ResNeXt-101 32x8d's 355 MB in float32
# Form (a) makes 7 modules per path; ResNeXt-101 32x8d in form (a) has ~7,500. Each module costs
# ~10 KB of Python objects and its own operator calls: 140,000 (one block of C = 20,000) took a
# minute to build and minutes per forward pass on a 2-core VM.
MODULE_LIMIT = 50_000
META_HINT = "; under `with torch.device('meta'):` nothing is allocated, and blocks.complexity counts it there"
_MODULES_PER_PATH = {"a": 7, "b": 6, "c": 0}  # BlockPath and its layers: conv1 bn1 conv2 bn2 relu [conv3]
_MODULES_PER_BLOCK = {"a": 4, "b": 5, "c": 8}  # the block, its paths list or its own layers, bn3, relu
_PROJECTION_MODULES = 3  # downsample: Sequential, conv, BN


@dataclass(frozen=True)
class Footprint:
    """What a block or network holds, by closed form, before anything is allocated.

    Attributes:
        values: parameter and buffer values (the BN counters included, counted as one value each).
        modules: ``len(list(module.modules()))``, the module itself included.
    """

    values: int
    modules: int

    def __add__(self, other: Footprint) -> Footprint:
        return Footprint(self.values + other.values, self.modules + other.modules)

    def __mul__(self, count: int) -> Footprint:
        """The footprint of ``count`` such blocks."""
        return Footprint(self.values * count, self.modules * count)

    @property
    def bytes(self) -> int:
        """The values' bytes in the default dtype (float32: 4 bytes each)."""
        return self.values * torch.get_default_dtype().itemsize


def footprint(spec: BlockSpec, form: str) -> Footprint:
    """The values and modules of a ``form`` block of ``spec``, by closed form (equal to the built block's).

    Example:
        >>> footprint(BlockSpec(256, 256, 32, 4), "a")
        Footprint(values=72257, modules=228)
    """
    check_form(form)
    c_d, out = spec.grouped_channels, spec.out_channels
    weights = spec.in_channels * c_d + c_d * spec.width * 3 * 3 + c_d * out  # conv1, grouped 3x3, conv3
    batch_norms = 4 * (c_d + c_d + out)  # bn1 bn2 bn3: weight, bias, running mean and variance per channel
    counters = 1 + (2 * spec.cardinality if form != "c" else 2)  # num_batches_tracked: bn3's, bn1's and bn2's per path
    modules = _MODULES_PER_BLOCK[form] + _MODULES_PER_PATH[form] * spec.cardinality
    if spec.has_projection:
        weights += spec.in_channels * out
        batch_norms += 4 * out
        counters += 1
        modules += _PROJECTION_MODULES
    return Footprint(weights + batch_norms + counters, modules)


def memory_limit() -> int:
    """Bytes of tensors that build and resnext make at most: the smaller of MEMORY_CAP and half the machine's memory."""
    try:
        physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # not a POSIX system: the fixed cap alone
        return MEMORY_CAP
    return min(MEMORY_CAP, physical // 2)


def check_memory(what: str, needed: int, device: torch.device | None = None, hint: str = "") -> None:
    """Raise ValueError, naming ``what`` and the estimate, if ``needed`` bytes are over :func:`memory_limit`.

    Nothing is checked on the meta device (default: the current default device), where tensors
    take no memory. ``hint``, if given, ends the message: what to do instead.

    Example:
        >>> check_memory("an input of size (1, 3, 100000, 100000)", 120_000_000_000)
        Traceback (most recent call last):
        ValueError: an input of size (1, 3, 100000, 100000) would need about 111.8 GiB, over the limit of ...
    """
    device = torch.get_default_device() if device is None else device
    limit = memory_limit()
    if device.type != "meta" and needed > limit:
        raise ValueError(
            f"{what} would need about {needed / 2**30:,.1f} GiB, over the limit of {limit / 2**30:.1f} GiB"
            f" (the smaller of 16 GiB and half this machine's memory){hint}"
        )


def check_fits(what: str, needed: Footprint) -> None:
    """Raise ValueError, naming ``what`` and the estimate, if ``needed`` is over MODULE_LIMIT or the memory limit.

    Modules are limited on every device (they are Python objects); memory as :func:`check_memory` does.

    Example:
        >>> check_fits("build: 64->64, 100000x4d", footprint(BlockSpec(64, 64, 100_000, 4), "a"))
        Traceback (most recent call last):
        ValueError: build: 64->64, 100000x4d would make 700,004 modules, over the limit of 50,000 (...)
    """
    if needed.modules > MODULE_LIMIT:
        raise ValueError(
            f"{what} would make {needed.modules:,} modules, over the limit of {MODULE_LIMIT:,}"
            " (forms a and b make 6-7 modules per path; form c makes 8 per block)"
        )
    check_memory(f"{what}, {needed.values:,} parameters and buffers,", needed.bytes, hint=META_HINT)


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
        ValueError: ``form`` is not one of "a", "b", "c", or the block would not fit (see
            :func:`check_fits`: over MODULE_LIMIT modules, or its tensors over the memory
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
    check_fits(f"build: the block {spec} in form {form!r}", footprint(spec, form))
    weights = initial_weights(spec, zero_init_last_bn)
    return assemble(spec, form, weights, owned=weights.keys())
