"""``equivalence_error``: how far apart the forms' outputs are, in float32 and float64."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence

import numpy as np
import torch
from matplotlib.figure import Figure
from torch import nn

from blocks.core.spec import BlockSpec
from blocks.core.transplant import transplant
from blocks.figures.style import PALETTE, SLIDE_FIGSIZE, new_figure, styled, text_pt, title_pt
from blocks.measure.proof import random_block
from blocks.models.networks import ResNeXt
from blocks.util.numerics import TOLERANCES, randomise_batchnorm, relative_error

EQUIVALENCE_SPECS = (
    BlockSpec(64, 64, cardinality=8, width=4),
    BlockSpec(64, 128, cardinality=8, width=8, stride=2),  # projection shortcut
    BlockSpec(64, 64, cardinality=32, width=2),
    BlockSpec(16, 16, cardinality=1, width=7),  # one path: every form does the same arithmetic
)


_ZERO_ERROR_AT = 1e-18  # where an exactly-zero error is drawn on the log axis


def _small_network(cardinality: int, width: int, seed: int) -> ResNeXt:
    """A seeded ResNeXt of three one-block stages with a CIFAR stem and randomised BatchNorms."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        network = ResNeXt((1, 1, 1), cardinality, width, form="c", num_classes=10, stem="cifar")
    return randomise_batchnorm(network, torch.Generator().manual_seed(seed))


def _max_errors(module: nn.Module, x: torch.Tensor) -> dict[torch.dtype, float]:
    """The largest relative error between any two forms of ``module`` on ``x``, per dtype (eval mode)."""
    errors = {}
    for dtype in TOLERANCES:
        with torch.no_grad():
            outputs = [transplant(module, form).to(dtype).eval()(x.to(dtype)) for form in "abc"]
        errors[dtype] = max(relative_error(p, q) for p, q in itertools.combinations(outputs, 2))
    return errors


def _measure_errors(specs: tuple[BlockSpec, ...], seed: int) -> list[tuple[BlockSpec | None, dict[torch.dtype, float]]]:
    """(block, max error per dtype) for each block, then (None, ...) for the small network, on one thread."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # how a kernel splits its sums across threads changes the rounding
    try:
        rows: list[tuple[BlockSpec | None, dict[torch.dtype, float]]] = []
        for spec in specs:
            x = torch.randn(2, spec.in_channels, 8, 8, generator=torch.Generator().manual_seed(seed))
            rows.append((spec, _max_errors(random_block(spec, "c", seed), x)))
        x = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(seed))
        rows.append((None, _max_errors(_small_network(4, 4, seed), x)))
    finally:
        torch.set_num_threads(threads)
    return rows


def _tick_label(spec: BlockSpec | None) -> str:
    """E.g. "block\n64→128\n8x8d\nstride 2"; the small network for None."""
    if spec is None:
        return "ResNeXt\n3 stages\n4x4d"
    stride = f"\nstride {spec.stride}" if spec.stride != 1 else ""
    return f"block\n{spec.in_channels}\u2192{spec.out_channels}\n{spec.cardinality}x{spec.width}d{stride}"


@styled
def equivalence_error(specs: Sequence[BlockSpec] = EQUIVALENCE_SPECS, seed: int = 0, *, slide: bool = False) -> Figure:
    """The largest relative error between forms (a), (b), (c), per block and for a network.

    Each block is a seeded random block with randomised BatchNorms
    (:func:`blocks.measure.proof.random_block`), transplanted into the three forms and
    run in eval mode on one seeded input in float32 and float64; a bar is the
    largest :func:`blocks.measure.proof.relative_error` over the three pairs of forms.
    The last bars are a small ResNeXt (three one-block stages, 16x16 input)
    transplanted as a whole. Dashed lines are the tolerances the proofs use,
    dotted lines the machine epsilon. It runs on one thread, so the rounding,
    and the figure, do not depend on the number of CPU cores. The slide variant
    has 18 pt text, 16:9, and its legend beside the axes.

    Args:
        specs: the blocks to measure.
        seed: seeds the weights and inputs.
        slide: draw the slide variant.

    Returns:
        The figure.

    Raises:
        ValueError: ``specs`` is empty or holds something other than a BlockSpec.

    Example:
        >>> fig = equivalence_error([BlockSpec(16, 16, cardinality=4, width=2)])
    """
    if isinstance(specs, BlockSpec) or not isinstance(specs, Iterable):
        raise ValueError(f"specs must be a sequence of BlockSpec, got {specs!r}")
    specs = tuple(specs)
    if not specs or not all(isinstance(spec, BlockSpec) for spec in specs):
        raise ValueError(f"specs must be a non-empty sequence of BlockSpec, got {specs!r}")
    rows = _measure_errors(specs, seed)

    fig, ax = new_figure(figsize=SLIDE_FIGSIZE if slide else (10, 5.6), layout="constrained")
    positions, bar = np.arange(len(rows)), 0.36
    handles = []  # float32's three entries, then float64's: one legend column each
    for k, (dtype, colour) in enumerate(((torch.float32, PALETTE[1]), (torch.float64, PALETTE[0]))):
        name, eps, tolerance = str(dtype).removeprefix("torch."), torch.finfo(dtype).eps, TOLERANCES[dtype]
        xs = positions + (k - 0.5) * bar
        values = [errors[dtype] for _, errors in rows]
        heights = [max(value, _ZERO_ERROR_AT) for value in values]
        handles.append(ax.bar(xs, heights, bar, color=colour, label=f"{name}: {'' if slide else 'max relative '}error"))
        for x, value in zip(xs, values):
            if value == 0:
                zero = "0" if slide else "0\n(exact)"
                ax.text(x, _ZERO_ERROR_AT * 1.5, zero, ha="center", va="bottom", fontsize=text_pt())
        tolerance_label, eps_label = f"{name}: tolerance {tolerance:.0e}", f"{name}: machine epsilon {eps:.1e}"
        if slide:
            tolerance_label, eps_label = f"tolerance {tolerance:.0e}", f"epsilon {eps:.1e}"
        handles += [
            ax.axhline(tolerance, color=colour, linestyle="--", linewidth=1.2, label=tolerance_label),
            ax.axhline(eps, color=colour, linestyle=":", linewidth=1.2, label=eps_label),
        ]
    ax.set_yscale("log")
    ax.set_ylim(_ZERO_ERROR_AT, 1e-2)
    labels = [_tick_label(spec) for spec, _ in rows]
    title = "Forms (a), (b), (c) differ only by rounding"
    if slide:
        ax.set_xticks(positions, [label.removeprefix("block\n").replace("3 stages\n", "") for label in labels])
        ax.set_ylabel("relative error (max over pairs)")
        ax.legend(handles=handles, loc="center left", bbox_to_anchor=(1.02, 0.5))
        fig.suptitle(title, fontsize=title_pt(), weight="bold")
    else:
        ax.set_xticks(positions, labels)
        ax.set_ylabel("max |form \u2212 form| / max |output| (relative, unitless)")
        ax.set_xlabel("what is compared (eval mode, max over the pairs a\u2013b, a\u2013c, b\u2013c)")
        ax.legend(handles=handles, loc="upper right", ncols=2)
        ax.set_title(title, fontsize=title_pt(), weight="bold")
    return fig
