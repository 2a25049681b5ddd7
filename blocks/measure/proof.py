"""Measure how closely the three forms agree: the numbers behind ``python -m blocks``.

A comparison only proves something if it could fail, so the reference block gets
non-trivial BatchNorm parameters and running statistics (not the 1/0 defaults,
under which a BN in eval mode is nearly the identity and hides layout mistakes),
and forms (a) and (b) are separate modules built by :func:`blocks.transplant`
from an untouched form (c) block, which is itself the third form compared: a
transplant that went wrong the same way in every form would still differ from it.
"""

from __future__ import annotations

import copy
import itertools
import math
from dataclasses import dataclass

import torch
from torch import nn

from blocks.core.build import build
from blocks.core.forms import FORMS
from blocks.core.guards import footprint, guard_footprint, guard_memory
from blocks.core.spec import BlockSpec, check_positive_int
from blocks.core.transplant import transplant
from blocks.util.checks import check_seed
from blocks.util.numerics import TOLERANCES, randomise_batchnorm, relative_error
from blocks.util.text import render_table

MODES = ("eval", "train")


def random_block(spec: BlockSpec, form: str = "c", seed: int = 0) -> nn.Module:
    """A block with Kaiming-drawn convolutions and randomised BatchNorms (see above)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        block = build(spec, form)
    return randomise_batchnorm(block, generator)


@dataclass(frozen=True)
class Agreement:
    """How closely form ``first`` reproduces form ``second`` on one input."""

    first: str
    second: str
    dtype: torch.dtype
    mode: str
    max_abs: float
    max_rel: float

    @property
    def tolerance(self) -> float:
        return TOLERANCES[self.dtype]

    @property
    def ok(self) -> bool:
        return self.max_rel <= self.tolerance


def check_comparison(spec: BlockSpec, batch: int, size: int, seed: int = 0) -> None:
    """Raise ValueError, naming the argument, if :func:`compare_forms` cannot run with these arguments.

    Train-mode BN needs more than one value per channel: ``batch`` images of
    ``size`` x ``size`` give batch·⌈size/stride⌉² after the 3x3. The block in three
    forms and float64, and one forward pass, must fit in memory (an estimate: four
    copies of the block's tensors, and the input, the 3x3's and the output's
    activations three times over, 8 bytes each).

    Raises:
        ValueError: ``batch`` or ``size`` not a positive int, too few values per channel,
            ``seed`` not an int torch can seed with, or a block or pass that would not fit.
    """
    check_positive_int("batch", batch)
    check_positive_int("size", size)
    check_seed("seed", seed)
    values = batch * math.ceil(size / spec.stride) ** 2
    if values < 2:
        raise ValueError(
            f"batch {batch} with size {size} leaves 1 value per channel after the stride-{spec.stride} 3x3,"
            " but BatchNorm in train mode needs more than one: use a batch of 2 or more, or a larger size"
        )
    for form in FORMS:
        guard_footprint(f"the block {spec} in form {form!r}", footprint(spec, form))
    activations = batch * size**2 * (spec.in_channels + 2 * spec.grouped_channels + 2 * spec.out_channels)
    needed = 8 * (4 * footprint(spec, "c").values + 3 * activations)
    guard_memory(f"comparing the forms of the block {spec} in float64 (batch {batch}, size {size})", needed)


def compare_forms(spec: BlockSpec, *, batch: int = 4, size: int = 8, seed: int = 0) -> list[Agreement]:
    """Run every form on the same input and compare each pair of outputs.

    One randomised form (c) block is copied as it is and transplanted into forms
    a and b; each then runs in eval mode and in train mode (batch statistics), in
    float32 and float64.

    Args:
        spec: the block to compare.
        batch: images in the input (train-mode BN needs more than one value per channel).
        size: height and width of the input.
        seed: seeds the weights and the input.

    Returns:
        One :class:`Agreement` per pair of forms, dtype and mode.

    Raises:
        ValueError: see :func:`check_comparison`, which runs first.
    """
    check_comparison(spec, batch, size, seed)
    reference = random_block(spec, "c", seed)
    x = torch.randn(batch, spec.in_channels, size, size, generator=torch.Generator().manual_seed(seed))
    rows = []
    for dtype, mode in itertools.product(TOLERANCES, MODES):
        outputs = {}
        for form in FORMS:
            block = copy.deepcopy(reference) if form == "c" else transplant(reference, form)  # (c): the source
            block = block.to(dtype).train(mode == "train")
            outputs[form] = block(x.to(dtype))
        for first, second in itertools.combinations(FORMS, 2):
            difference = (outputs[first] - outputs[second]).abs().max().item()
            error = relative_error(outputs[first], outputs[second])
            rows.append(Agreement(first, second, dtype, mode, difference, error))
    return rows


def format_agreements(rows: list[Agreement]) -> str:
    """The agreements as an aligned text table, one row per pair, dtype and mode."""
    columns = ("forms", "dtype", "mode", "max abs err", "max rel err", "tolerance", "ok")
    cells = [
        (
            f"{row.first} vs {row.second}", str(row.dtype).removeprefix("torch."), row.mode,
            f"{row.max_abs:.2e}", f"{row.max_rel:.2e}", f"{row.tolerance:.0e}", "yes" if row.ok else "NO",
        )
        for row in rows
    ]  # fmt: skip
    return render_table(columns, cells, style="plain")
