"""``block_diagonal``: form (c)'s grouped 3x3 is block-diagonal; forms (a) and (b) hold the same numbers."""

from __future__ import annotations

import matplotlib.colors
import numpy as np
import torch
from matplotlib.figure import Figure

from blocks.analysis.proof import random_block
from blocks.core.spec import BlockSpec
from blocks.core.transplant import transplant
from blocks.figures.kit import (
    INK,
    NO_WEIGHT,
    TITLE_PT,
    check_spec,
)
from blocks.figures.style import new_figure, styled
from blocks.models.grouped import dense_weight

BLOCK_DIAGONAL_SPEC = BlockSpec(32, 32, cardinality=8, width=4)  # small enough to see every weight


def _tap_sum(weight: torch.Tensor) -> np.ndarray:
    """A conv weight (out, in, k, k) as its (out, in) channel-mixing matrix: the sum over the k x k taps."""
    return weight.detach().sum(dim=(2, 3)).double().numpy()


@styled
def block_diagonal(spec: BlockSpec = BLOCK_DIAGONAL_SPEC, seed: int = 0) -> Figure:
    """Form (c)'s grouped 3x3 as a dense matrix, next to the same weights in forms (a) and (b).

    Top row: form (c)'s ``conv2`` expanded to the dense (C·d) x (C·d) weight and
    summed over its 3x3 taps: block-diagonal. Beside it, the C per-path 3x3s of
    form (a) (``paths.i.conv2``) placed on the diagonal: the same blocks.
    Bottom row: form (b)'s ``conv3``, the 1x1 after the concatenation, an
    out x (C·d) matrix cut into C column slices; beside it the C output 1x1s of
    form (a) (``paths.i.conv3``) side by side, which hold exactly those slices.
    All weights come from one seeded random block transplanted into each form.

    Args:
        spec: the block; C·d and ``out_channels`` at most 128 so every entry is visible.
        seed: seeds the block's weights.

    Returns:
        The figure.

    Raises:
        TypeError: ``spec`` is not a :class:`BlockSpec`.
        ValueError: C·d or ``out_channels`` above 128.

    Example:
        >>> fig = block_diagonal(BlockSpec(16, 16, cardinality=4, width=4))
    """
    check_spec(spec)
    for name, value in (("grouped channels C·d", spec.grouped_channels), ("out_channels", spec.out_channels)):
        if value > 128:
            raise ValueError(f"spec's {name} must be at most 128 so every weight is visible, got {value} ({spec})")
    c = random_block(spec, "c", seed)
    a, b = transplant(c, "a"), transplant(c, "b")
    C, d = spec.cardinality, spec.width

    grouped = _tap_sum(dense_weight(c.get_parameter("conv2.weight"), C))  # (C·d, C·d), zero off the diagonal blocks
    per_path = np.full(grouped.shape, np.nan)  # NaN: no tensor stores these entries
    for i in range(C):  # path i's 3x3, a (d, d) block on the diagonal
        per_path[i * d : (i + 1) * d, i * d : (i + 1) * d] = _tap_sum(a.get_parameter(f"paths.{i}.conv2.weight"))
    concat = _tap_sum(b.get_parameter("conv3.weight"))  # (out, C·d)
    path_1x1s = [_tap_sum(a.get_parameter(f"paths.{i}.conv3.weight")) for i in range(C)]  # C of (out, d)
    slices = np.concatenate(path_1x1s, axis=1)  # (out, C·d)

    fig, axes = new_figure(2, 2, figsize=(12.5, 11.5), layout="constrained")
    cmap = matplotlib.colormaps["PuOr"].with_extremes(bad=NO_WEIGHT)  # diverging, colour-blind safe
    # (axes, matrix, title, x label, whether it is C separate tensors rather than one)
    panels = [
        (axes[0, 0], grouped, "form (c): conv2, the grouped 3x3,\nexpanded to a dense matrix", "input channel", False),
        (
            axes[0, 1],
            per_path,
            f"form (a): the {C} paths' 3x3s\n(paths.i.conv2) on the diagonal",
            "input channel",
            True,
        ),
        (axes[1, 0], concat, "form (b): conv3, the one 1x1\nafter the concatenation", "concatenated channel", False),
        (
            axes[1, 1],
            slices,
            f"form (a): the {C} paths' output 1x1s\n(paths.i.conv3) side by side",
            "input channel",
            True,
        ),
    ]
    path_ticks = (np.arange(C) * d + (d - 1) / 2, [f"{i + 1}" for i in range(C)])
    for row in range(2):
        row_panels = panels[2 * row : 2 * row + 2]
        limit = max(np.nanmax(np.abs(matrix)) for _, matrix, *_ in row_panels)
        for ax, matrix, title, xlabel, separate in row_panels:
            image = ax.imshow(np.ma.masked_invalid(matrix), cmap=cmap, vmin=-limit, vmax=limit, interpolation="nearest")
            ax.set_title(title, fontsize=TITLE_PT)
            # Path boundaries: white gaps between separate tensors, thin lines inside one tensor.
            style = {"color": "white", "linewidth": 3} if separate else {"color": INK, "linewidth": 0.6}
            for boundary in np.arange(1, C) * d - 0.5:
                ax.axvline(boundary, **style)
                if row == 0:
                    ax.axhline(boundary, **style)
            ax.set_xticks(*path_ticks)
            ax.set_xlabel(f"{xlabel} (grouped: path 1\u2026{C})")
            if row == 0:
                ax.set_yticks(*path_ticks)
                ax.set_ylabel(f"output channel (grouped: path 1\u2026{C})")
            else:
                ax.set_ylabel("output channel of the block (index)")
            ax.tick_params(length=0)
        label = "weight summed over the 3x3 taps (unitless)" if row == 0 else "1x1 weight (unitless)"
        fig.colorbar(image, ax=[ax for ax, *_ in row_panels], shrink=0.9, label=label)
    title = f"The same weights in three forms: block {spec}, seed {seed}\n(grey: no weight stored there)"
    fig.suptitle(title, fontsize=TITLE_PT)
    return fig
