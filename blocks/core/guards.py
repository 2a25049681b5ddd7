"""Resource guards: what ``build``, ``resnext`` and every tool that runs a model refuse to make, and why.

A block is allocated when it is built, so a size that cannot fit must be refused before,
with the estimate, not found by the allocator (or by the operating system, which kills the
process). The estimates are closed forms: :func:`footprint` counts a block's values and
modules without making it. Nothing here is part of the ResNeXt idea; it is what keeps a
typo (C = 10^5) from freezing a laptop.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import torch
from torch import nn
from torch._subclasses.fake_tensor import FakeTensorMode
from torch.utils._pytree import tree_leaves

from blocks.core.forms import check_form
from blocks.core.spec import BlockSpec
from blocks.util.dispatch import Call, Recorder
from blocks.util.numerics import evaluating

# What build (and resnext) refuse to make. A block is allocated when it is built, so a size
# that cannot fit must be refused before, with the estimate, not found by the allocator.
MEMORY_CAP = 16 * 2**30  # bytes of parameters and buffers: many times ResNeXt-101 32x8d's 355 MB in float32
# Form (a) makes 7 modules per path; ResNeXt-101 32x8d in form (a) has ~7,500. Each module costs
# ~10 KB of Python objects and its own operator calls: far more modules than that take minutes to
# build and to run (benchmarks/README.md, "Measurements behind the code").
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


def guard_memory(what: str, needed: int, device: torch.device | None = None, hint: str = "") -> None:
    """Raise ValueError, naming ``what`` and the estimate, if ``needed`` bytes are over :func:`memory_limit`.

    Nothing is checked on the meta device (default: the current default device), where tensors
    take no memory. ``hint``, if given, ends the message: what to do instead.

    Example:
        >>> guard_memory("an input of size (1, 3, 100000, 100000)", 120_000_000_000)
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


def guard_footprint(what: str, needed: Footprint) -> None:
    """Raise ValueError, naming ``what`` and the estimate, if ``needed`` is over MODULE_LIMIT or the memory limit.

    Modules are limited on every device (they are Python objects); memory as :func:`guard_memory` does.

    Example:
        >>> guard_footprint("build: 64->64, 100000x4d", footprint(BlockSpec(64, 64, 100_000, 4), "a"))
        Traceback (most recent call last):
        ValueError: build: 64->64, 100000x4d would make 700,004 modules, over the limit of 50,000 (...)
    """
    if needed.modules > MODULE_LIMIT:
        raise ValueError(
            f"{what} would make {needed.modules:,} modules, over the limit of {MODULE_LIMIT:,}"
            " (forms a and b make 6-7 modules per path; form c makes 8 per block)"
        )
    guard_memory(f"{what}, {needed.values:,} parameters and buffers,", needed.bytes, hint=META_HINT)


def forward_bytes(
    model: nn.Module, input_size: tuple[int, ...], dtype: torch.dtype, device: torch.device
) -> int | None:
    """Bytes of every tensor one eval-mode forward pass of ``model`` makes on an input of ``input_size``, or None.

    The pass runs under fake tensors (:class:`~torch._subclasses.fake_tensor.FakeTensorMode`): every
    operator computes its result's shape, dtype and device, and nothing is allocated, so the estimate
    of a pass that would need terabytes costs what a small pass costs. It is the sum of all results
    (the input included), an upper bound of the peak, and what a recorded pass (which keeps every value)
    really holds. The model is not changed: its tensors are read as fakes, its layers' modes are restored.

    Returns None where the model cannot run under fake tensors (an operator that needs values, such
    as ``.item()`` or ``nonzero``, or a model that fails on the input): the caller falls back to an
    estimate of the input alone.
    """
    counter = _NewBytes()
    try:
        with evaluating(model), FakeTensorMode(allow_non_fake_inputs=True), counter, torch.no_grad():
            model(torch.empty(input_size, dtype=dtype, device=device))  # a fake: made under the mode, never allocated
    except Exception:  # anything the model or the fake run raises: the real run will say what, as it always has
        return None
    return counter.total


def guard_forward(
    what: str, model: nn.Module, input_size: tuple[int, ...], dtype: torch.dtype, device: torch.device, hint: str = ""
) -> None:
    """Raise ValueError, naming ``what`` and the estimate, if one forward pass would need more than the limit.

    The estimate is :func:`forward_bytes`: every activation of the pass, found before anything runs.
    Where the model cannot run under fake tensors, the input alone is estimated (a lower bound).
    Nothing is checked on the meta device.

    Example:
        >>> guard_forward("audit", blocks.resnext(50, 32, 4), (64, 3, 2240, 2240), torch.float32, torch.device("cpu"))
        Traceback (most recent call last):
        ValueError: audit: one forward pass on an input of input_size=(64, 3, 2240, 2240) in torch.float32 would ...
    """
    if device.type == "meta":
        return
    needed = forward_bytes(model, input_size, dtype, device)
    if needed is None:  # it cannot run on fakes: the input alone
        guard_memory(
            f"{what}: an input of input_size={input_size} in {dtype}",
            math.prod(input_size) * dtype.itemsize,
            device,
            hint,
        )
    else:
        guard_memory(
            f"{what}: one forward pass on an input of input_size={input_size} in {dtype}", needed, device, hint
        )


class _NewBytes(Recorder):  # type: ignore[no-untyped-call]  # TorchDispatchMode is untyped
    """Sums the bytes of every new tensor the operators return (views and in-place updates make none)."""

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.total = 0

    def on_call(self, call: Call) -> object:
        out = call.run()
        if call.returns_new():
            self.total += sum(t.numel() * t.element_size() for t in tree_leaves(out) if isinstance(t, torch.Tensor))
        return out
