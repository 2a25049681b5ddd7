"""The diagram kit: text, boxes, sums and arrows on an axes measured in inches.

The diagrams are laid out in inches (one axes fills the figure and one data unit is
one inch), so their boxes and text keep their sizes whatever the block.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import matplotlib.colors
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Circle, FancyBboxPatch

from blocks.core.spec import BlockSpec
from blocks.figures.style import new_figure, text_pt, title_pt

INK = "#000000"
GREY = "#BBBBBB"  # BN, ReLU, input and output boxes
NO_WEIGHT = "#A0A0A0"  # matrix entries that no tensor stores: mid-grey, apart from the colour map's near-white 0
ELLIPSIS = "\u22ef"  # ⋯
BOX_H = 0.34  # inches: the height of every box of the diagrams
ADD_RADIUS = 0.15  # inches: the circle of a sum


def canvas(width: float, height: float) -> tuple[Figure, Axes]:
    """A figure of ``width`` x ``height`` inches whose one axes measures in inches, no frame."""
    fig, ax = new_figure(figsize=(width, height))
    ax.set_position((0, 0, 1, 1))
    ax.set_xlim(0, width)
    ax.set_ylim(0, height)
    ax.set_axis_off()
    return fig, ax


def write(ax: Axes, x: float, y: float, text: str, **style: Any) -> None:
    """``text`` centred on (x, y) at the style's smallest size, unless ``style`` says otherwise."""
    ax.text(x, y, text, **{"ha": "center", "va": "center", "fontsize": text_pt(), **style})


def tint(colour: str, amount: float = 0.25) -> tuple[float, float, float]:
    """``colour`` mixed with white: ``amount`` of the colour, the rest white (a light fill)."""
    rgb = amount * np.array(matplotlib.colors.to_rgb(colour)) + (1 - amount)
    return (float(rgb[0]), float(rgb[1]), float(rgb[2]))


def box(
    ax: Axes,
    x: float,
    y: float,
    width: float,
    text: str,
    colour: str,
    height: float = BOX_H,
    *,
    edge: str | None = None,
    dashed: bool = False,
) -> None:
    """A rounded box centred on (x, y) with ``text`` inside, filled with a tint of ``colour``; sizes in inches.

    Its edge is ``colour``, or ``edge`` (thicker: a box singled out); ``dashed`` for a layer that is not there.
    """
    corner = (x - width / 2, y - height / 2)
    style = "round,pad=0,rounding_size=0.06"
    patch = FancyBboxPatch(
        corner,
        width,
        height,
        boxstyle=style,
        facecolor=tint(colour),
        edgecolor=edge or colour,
        linewidth=1.2 if edge is None else 2.2,
        linestyle="--" if dashed else "-",
    )
    ax.add_patch(patch)
    write(ax, x, y, text)


def plus(ax: Axes, x: float, y: float, radius: float = ADD_RADIUS) -> None:
    """The ⊕ of a sum: a circle of ``radius`` inches with a plus."""
    ax.add_patch(Circle((x, y), radius, facecolor="white", edgecolor=INK, linewidth=1.0))
    write(ax, x, y, "+", fontsize=title_pt())


def line(ax: Axes, xs: Sequence[float], ys: Sequence[float]) -> None:
    ax.plot(xs, ys, color=INK, linewidth=1.0, solid_capstyle="butt")


def arrow(ax: Axes, start: tuple[float, float], end: tuple[float, float], label: str = "") -> None:
    """An arrow from ``start`` to ``end``; ``label`` (a channel count) right of its middle."""
    style = {"arrowstyle": "-|>", "color": INK, "linewidth": 1.0, "shrinkA": 0, "shrinkB": 0}
    ax.annotate("", xy=end, xytext=start, arrowprops=style)
    if label:
        write(ax, (start[0] + end[0]) / 2 + 0.06, (start[1] + end[1]) / 2, label, ha="left")


def check_spec(spec: object) -> BlockSpec:
    """Return ``spec`` if it is a :class:`BlockSpec`, else raise TypeError naming the argument."""
    if not isinstance(spec, BlockSpec):
        raise TypeError(f"spec must be a blocks.BlockSpec, got {type(spec).__name__}")
    return spec
