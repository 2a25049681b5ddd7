"""``block_diagonal``: form (c)'s grouped 3x3 is block-diagonal; forms (a) and (b) hold the same numbers."""

from __future__ import annotations

import matplotlib.colors
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.image import AxesImage

from blocks.core.spec import BlockSpec
from blocks.core.transplant import transplant
from blocks.figures.kit import (
    INK,
    NO_WEIGHT,
    check_spec,
)
from blocks.figures.style import SLIDE_FIGSIZE, new_figure, styled, text_pt, title_pt
from blocks.measure.proof import random_block
from blocks.models.grouped import block_diagonal_mask, dense_weight

BLOCK_DIAGONAL_SPEC = BlockSpec(32, 32, cardinality=8, width=4)  # small enough to see every weight
BLOCK_DIAGONAL_SLIDE_SPEC = BlockSpec(16, 16, cardinality=4, width=4)  # blocks large enough on a slide


# (matrix, title, whether its rows are grouped by path too)
_Panel = tuple[np.ndarray, str, bool]


def _tap_sum(weight: torch.Tensor) -> np.ndarray:
    """A conv weight (out, in, k, k) as its (out, in) channel-mixing matrix: the sum over the k x k taps."""
    return weight.detach().sum(dim=(2, 3)).double().numpy()


@styled
def block_diagonal(spec: BlockSpec | None = None, seed: int = 0, *, slide: bool = False) -> Figure:
    """Form (c)'s grouped 3x3 as a dense matrix, next to the same weights in forms (a) and (b).

    Form (c)'s ``conv2`` placed in the dense (C·d) x (C·d) layout and summed over
    its 3x3 taps: block-diagonal, since the grouped weight stores only the C diagonal
    blocks. Beside it, the C per-path 3x3s of form (a) (``paths.i.conv2``) placed on
    the diagonal: the same blocks. Then form (b)'s ``conv3``, the 1x1 after the
    concatenation, an out x (C·d) matrix whose column slices are the C output 1x1s
    of form (a) (``paths.i.conv3``) side by side. Grey marks entries that no tensor
    stores, in every panel; black lines the paths' boundaries; channels are counted
    from 0, so path i holds channels i·d to i·d + d - 1, as in ``paths.i``.
    All weights come from one seeded random block transplanted into each form.
    The paper variant is 2 x 2 with a colour scale per row; the slide variant (18 pt
    text, 16:9, default a 16->16 4x4d block so every block is large) is one row
    with one colour scale.

    Args:
        spec: the block; C·d and ``out_channels`` at most 128 so every entry is visible.
            Default 32->32 8x4d (slide: 16->16 4x4d).
        seed: seeds the block's weights.
        slide: draw the slide variant.

    Returns:
        The figure.

    Raises:
        TypeError: ``spec`` is not a :class:`BlockSpec`.
        ValueError: C·d or ``out_channels`` above 128.

    Example:
        >>> fig = block_diagonal(BlockSpec(16, 16, cardinality=4, width=4))
    """
    spec = check_spec(spec if spec is not None else (BLOCK_DIAGONAL_SLIDE_SPEC if slide else BLOCK_DIAGONAL_SPEC))
    for name, value in (("grouped channels C·d", spec.grouped_channels), ("out_channels", spec.out_channels)):
        if value > 128:
            raise ValueError(f"spec's {name} must be at most 128 so every weight is visible, got {value} ({spec})")
    panels = list(zip(_matrices(spec, seed), _titles(spec.cardinality, slide=slide), [True, True, False, False]))
    if slide:
        fig, axes = new_figure(1, 4, figsize=SLIDE_FIGSIZE, layout="constrained")
        rows = [list(zip(axes, panels))]
        labels = ["weight"]
    else:
        fig, axes = new_figure(2, 2, figsize=(12.5, 11.5), layout="constrained")
        rows = [list(zip(axes[0], panels[:2])), list(zip(axes[1], panels[2:]))]
        labels = ["weight summed over the 3x3 taps (unitless)", "1x1 weight (unitless)"]
    for row, label in zip(rows, labels):
        _draw_row(fig, row, label, spec, slide=slide)
    d = spec.width
    if slide:
        axes[0].set_ylabel("output channel")
        fig.supxlabel(
            f"input channel (path i: channels {d}i to {d}i+{d - 1}); 3x3s summed over taps", fontsize=text_pt()
        )
        fig.suptitle(
            f"One {spec.cardinality}x{spec.width}d block's weights in every form (grey: not stored)",
            fontsize=title_pt(),
        )
    else:
        title = f"The same weights in three forms: block {spec}, seed {seed}"
        fig.suptitle(f"{title}\n(grey: no weight stored there, in any form)", fontsize=title_pt())
    return fig


def _matrices(spec: BlockSpec, seed: int) -> list[np.ndarray]:
    """The four panels' matrices, from one seeded form (c) block transplanted into forms (a) and (b).

    Returns:
        Form (c)'s grouped 3x3 and form (a)'s per-path 3x3s, each (C·d, C·d); form (b)'s
        ``conv3`` and form (a)'s per-path ``conv3`` side by side, each (out, C·d). NaN
        marks the entries that no tensor stores.
    """
    c = random_block(spec, "c", seed)
    a, b = transplant(c, "a"), transplant(c, "b")
    C, d = spec.cardinality, spec.width
    stored = block_diagonal_mask(spec.grouped_channels, spec.grouped_channels, C).numpy()  # (C·d, C·d)
    grouped = _tap_sum(dense_weight(c.get_parameter("conv2.weight"), C))  # (C·d, C·d), zero off the diagonal blocks
    grouped[~stored] = np.nan  # NaN: no tensor stores these entries (the grouped weight is (C·d, d, 3, 3))
    per_path = np.full(grouped.shape, np.nan)
    for i in range(C):  # path i's 3x3, a (d, d) block on the diagonal
        per_path[i * d : (i + 1) * d, i * d : (i + 1) * d] = _tap_sum(a.get_parameter(f"paths.{i}.conv2.weight"))
    concat = _tap_sum(b.get_parameter("conv3.weight"))  # (out, C·d)
    path_1x1s = [_tap_sum(a.get_parameter(f"paths.{i}.conv3.weight")) for i in range(C)]  # C of (out, d)
    slices = np.concatenate(path_1x1s, axis=1)  # (out, C·d)
    return [grouped, per_path, concat, slices]


def _titles(C: int, *, slide: bool) -> list[str]:
    """The four panels' titles, in the order of :func:`_matrices`; short on a slide."""
    if slide:
        return [
            "(c) conv2:\none grouped 3x3",
            "(a) paths.i.conv2:\nC separate 3x3s",
            "(b) conv3:\none 1x1",
            "(a) paths.i.conv3:\nC separate 1x1s",
        ]
    return [
        "form (c): conv2, the grouped 3x3 (one tensor),\nin the dense layout",
        f"form (a): the {C} paths' 3x3s\n(paths.i.conv2, {C} tensors) on the diagonal",
        "form (b): conv3, the one 1x1\nafter the concatenation",
        f"form (a): the {C} paths' output 1x1s\n(paths.i.conv3, {C} tensors) side by side",
    ]


def _draw_row(fig: Figure, row: list[tuple[Axes, _Panel]], label: str, spec: BlockSpec, *, slide: bool) -> None:
    """One row of panels on one colour scale, symmetric about 0, and its colour bar labelled ``label``."""
    cmap = matplotlib.colormaps["PuOr"].with_extremes(bad=NO_WEIGHT)  # diverging, colour-blind safe
    limit = max(np.nanmax(np.abs(matrix)) for _, (matrix, *_) in row)
    # on a slide the panels share their rows: only the leftmost labels its row ticks
    images = [
        _draw_panel(ax, panel, cmap, limit, spec, slide=slide, row_names=not slide or ax is row[0][0])
        for ax, panel in row
    ]
    colorbar = fig.colorbar(images[-1], ax=[ax for ax, _ in row], shrink=0.9 if not slide else 0.6, label=label)
    if slide:  # three ticks: the colour scale's ends and 0
        ends = np.floor(limit * 10) / 10
        colorbar.set_ticks([-ends, 0, ends], labels=[f"{-ends:g}", "0", f"{ends:g}"])


def _draw_panel(
    ax: Axes,
    panel: _Panel,
    cmap: matplotlib.colors.Colormap,
    limit: float,
    spec: BlockSpec,
    *,
    slide: bool,
    row_names: bool,
) -> AxesImage:
    """One matrix on the colour scale -``limit`` to ``limit``, with black lines between the paths.

    The paths' first channels are ticked on the columns, and on the rows where they are
    grouped by path (or on a slide); ``row_names`` says whether those row ticks are labelled.
    """
    matrix, title, rows_by_path = panel
    C, d = spec.cardinality, spec.width
    path_starts = np.arange(C) * d  # the first channel of each path
    image = ax.imshow(np.ma.masked_invalid(matrix), cmap=cmap, vmin=-limit, vmax=limit, interpolation="nearest")
    ax.set_title(title, fontsize=title_pt() if not slide else text_pt())
    for boundary in path_starts[1:] - 0.5:  # between path i - 1 and path i, in every panel alike
        ax.axvline(boundary, color=INK, linewidth=1.0)
        if rows_by_path:
            ax.axhline(boundary, color=INK, linewidth=1.0)
    ticks = path_starts if C * d <= 16 or not slide else path_starts[::2]
    ax.set_xticks(ticks, [str(t) for t in ticks])
    if rows_by_path or slide:
        ax.set_yticks(ticks, [str(t) for t in ticks] if row_names else [])
    if not slide:
        ax.set_xlabel(f"input channel (path i: channels {d}i to {d}i+{d - 1})")
        ax.set_ylabel("output channel" if rows_by_path else "output channel of the block")
    ax.tick_params(length=0)
    return image
