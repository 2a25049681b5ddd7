"""``group_conv``: which input channels each output channel of a grouped convolution sees."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.patches import Circle
from torch import nn

from blocks.figures.kit import (
    INK,
    canvas,
    write,
)
from blocks.figures.style import PALETTE, SLIDE_FIGSIZE, styled, title_pt
from blocks.models.grouped import dense_weight

GROUP_CONV_CHANNELS = 8
GROUP_CONV_CARDINALITIES = (1, 2, 4, 8)


def _check_cardinalities(channels: object, cardinalities: object) -> tuple[int, ...]:
    if type(channels) is not int or not 1 <= channels <= 32:
        raise ValueError(f"channels must be an int from 1 to 32 (so every line is visible), got {channels!r}")
    if isinstance(cardinalities, int) or not isinstance(cardinalities, Iterable):
        raise ValueError(f"cardinalities must be a sequence of group counts, got {cardinalities!r}")
    cardinalities = tuple(cardinalities)
    if not cardinalities:
        raise ValueError("cardinalities must name at least one group count, got ()")
    for cardinality in cardinalities:
        if type(cardinality) is not int or cardinality <= 0 or channels % cardinality:
            raise ValueError(f"cardinalities must be positive ints dividing channels ({channels}), got {cardinality!r}")
    return cardinalities


@styled
def group_conv(
    channels: int = GROUP_CONV_CHANNELS,
    cardinalities: Sequence[int] = GROUP_CONV_CARDINALITIES,
    *,
    slide: bool = False,
) -> Figure:
    """Which input channels every output channel of a 3x3 conv sees, for several group counts.

    One panel per group count: input channels on top, output channels below, a
    line for every (input, output) pair the conv's weight connects, coloured by
    group. The connections are read from a real ``nn.Conv2d``'s weight shape,
    expanded to the dense (out, in) layout by :func:`blocks.models.grouped.dense_weight`.
    One group is the ordinary convolution, drawn for contrast. The slide variant
    (18 pt text, 16:9) has shorter titles and a one-line caption.

    Args:
        channels: input (and output) channels, 1 to 32.
        cardinalities: the group counts (PyTorch's ``groups``), one panel each;
            each must divide ``channels``.
        slide: draw the slide variant.

    Returns:
        The figure.

    Raises:
        ValueError: ``channels`` outside 1-32, or a group count that does not divide it.

    Example:
        >>> fig = group_conv(8, (1, 4))
    """
    cardinalities = _check_cardinalities(channels, cardinalities)
    gap, height = (0.3, SLIDE_FIGSIZE[1]) if slide else (0.5, 4.6)
    panel_width = max(2.1, 0.27 * channels) if slide else max(2.8, 0.34 * channels)
    margin = 1.4 if slide else 1.15  # left of the panels: the "input/output channels" labels
    width = margin - 0.25 + len(cardinalities) * (panel_width + gap)
    if slide:  # 16:9, at least the slide figure's size, the panels centred
        width = max(width, SLIDE_FIGSIZE[0], height * 16 / 9)
        height = max(height, width * 9 / 16)
    fig, ax = canvas(width, height)
    top, bottom, radius = (height - 1.55, 1.9, 0.13) if slide else (3.25, 1.25, 0.1)
    write(ax, 0.1, top, "input\nchannels", ha="left")
    write(ax, 0.1, bottom, "output\nchannels", ha="left")
    for panel, cardinality in enumerate(cardinalities):
        left = margin + panel * (panel_width + gap)
        middle = left + panel_width / 2
        with torch.device("meta"):
            conv = nn.Conv2d(channels, channels, kernel_size=3, padding=1, groups=cardinality, bias=False)
        # Ones in the conv's own weight layout, expanded: nonzero exactly where it connects.
        connects = dense_weight(torch.ones(conv.weight.shape), cardinality).sum(dim=(2, 3)) != 0  # (out, in)
        xs = left + (np.arange(channels) + 0.5) * panel_width / channels
        colours = [PALETTE[(c * cardinality // channels) % len(PALETTE)] for c in range(channels)]
        for out, inp in zip(*np.nonzero(connects.numpy())):
            ax.plot([xs[inp], xs[out]], [top - radius, bottom + radius], color=colours[out], linewidth=1.4)
        for x, colour in zip(xs, colours):
            for level in (top, bottom):
                ax.add_patch(Circle((x, level), radius, facecolor=colour, edgecolor=INK, linewidth=0.8))
        per_group = channels // cardinality
        title = f"{cardinality} groups of {per_group} channel{'s' if per_group > 1 else ''}"
        if slide:
            title = f"{cardinality} group{'s' if cardinality > 1 else ''}"
        elif cardinality == 1:
            title = "ordinary conv (1 group)"
        write(ax, middle, top + (0.75 if slide else 0.95), title, fontsize=title_pt(), weight="bold")
        weights = f"{int(connects.sum())} connections \u00d7 9 = {conv.weight.numel()} weights"
        if slide:
            weights = f"{conv.weight.numel()} weights"
        write(ax, middle, bottom - (0.55 if slide else 0.5), weights)
    caption = (
        f"{channels} channels in, {channels} out; each line is one 3x3 kernel (9 weights), coloured by group:\n"
        "an output channel sees only the input channels of its own group"
    )
    if slide:
        caption = "each line: one 3x3 kernel (9 weights); a channel sees only its own group"
    write(ax, width / 2, 0.45 if slide else 0.3, caption)
    return fig
