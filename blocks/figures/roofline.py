"""``roofline``: each form of each Table 2 template against the machine's compute and memory roofs.

Drawn from the points of a ``python -m blocks bench`` run (:mod:`blocks.bench.roofline`), which
the caller reads (``read_roofline_csv`` of the committed ``benchmarks/roofline.csv``), so the
figure is the run's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from blocks.bench.experiments import GROUPED_3X3
from blocks.figures.style import FORM_COLOURS, PALETTE, SLIDE_FIGSIZE, new_figure, styled, text_pt

if TYPE_CHECKING:
    from blocks.bench.roofline import RooflinePoint

FIGURE_NAME = "roofline"
# variant -> marker, colour, legend, which cardinalities get a "C=" label (None: all). Form (c)'s
# points lie close together, and (b)'s beside them but for the last: labels there would cover each other.
_SERIES: dict[str, tuple[str, str, str, tuple[int, ...] | None]] = {
    "a": ("o", FORM_COLOURS["a"], "form (a), eager", None),
    "b": ("^", FORM_COLOURS["b"], "form (b), eager", (32,)),
    "c": ("s", FORM_COLOURS["c"], "form (c), eager (C = 1 ... 32 close together)", ()),
    GROUPED_3X3: ("D", PALETTE[3], "form (c)'s grouped 3x3 alone", None),
}
# On a slide the text is twice as big: shorter legends, and fewer C labels (legend, labelled).
_SLIDE_SERIES: dict[str, tuple[str, tuple[int, ...]]] = {
    "a": ("(a)", (32,)),
    "b": ("(b)", (32,)),
    "c": ("(c)", ()),
    GROUPED_3X3: ("(c)'s 3x3 alone", (1, 8)),
}
_SPAN = 4.0  # the roofs are drawn from 1/_SPAN of the lowest intensity to _SPAN times the ridge or the highest


@styled
def roofline(points: Sequence[RooflinePoint], *, slide: bool = False) -> Figure:
    """Achieved GFLOP/s against FLOPs per byte moved, for forms a, b, c of every template, under the roofs.

    Form (c)'s grouped 3x3 alone is a fourth series: inside the block its FLOPs sit
    beside those of the dense 1x1 convolutions, which hide how slow it is.

    Args:
        points: the points of one run (every point carries that run's roofs), e.g.
            :func:`blocks.bench.roofline.read_roofline_csv` of the committed run.
        slide: the slide variant: 18 pt text, 16:9.

    Returns:
        The figure: log-log, the memory roof (bandwidth x intensity) rising to the
        dense convolution's roof, the dense matmul's roof dashed, one marker per point,
        each form's templates joined in order of C and labelled with C.

    Raises:
        ValueError: ``points`` is empty.
    """
    points = list(points)
    if not points:
        raise ValueError("points must hold at least one RooflinePoint, got none")
    roofs = points[0]
    ridge = roofs.conv_gflops / roofs.bandwidth_gbytes  # the intensity where the two roofs meet
    low = min(p.intensity for p in points) / _SPAN
    high = max(ridge, max(p.intensity for p in points)) * _SPAN
    fig, ax = new_figure(figsize=SLIDE_FIGSIZE if slide else (8, 5.2), layout="constrained")
    _draw_roofs(ax, roofs, low, ridge, high, slide=slide)
    for variant in _SERIES:
        _draw_series(ax, [p for p in points if p.variant == variant], variant, slide=slide)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(low, high)
    ax.set_ylim(min(p.gflops for p in points) / _SPAN, max(roofs.matmul_gflops, *(p.gflops for p in points)) * 2)
    ax.set_xlabel("FLOPs per byte moved" if slide else "arithmetic intensity (FLOPs per byte moved, log)")
    ax.set_ylabel("GFLOP/s" if slide else "achieved GFLOP/s (log)")
    ax.set_title(
        "equal FLOPs, not equal bytes or speed"
        if slide
        else "Table 2 blocks, forward: equal FLOPs, not equal bytes or speed"
    )
    ax.grid(True, which="major", alpha=0.3)
    fig.legend(loc="outside lower center", ncols=3 if slide else 2)
    return fig


def _draw_roofs(ax: Axes, roofs: RooflinePoint, low: float, ridge: float, high: float, *, slide: bool) -> None:
    """The roofs of ``roofs``'s run from intensity ``low`` to ``high``.

    The memory roof (bandwidth x intensity) rises to the dense convolution's roof, which
    it meets at ``ridge``; the dense matmul's roof is dashed.
    """
    ax.plot(
        [low, ridge, high],
        [low * roofs.bandwidth_gbytes, roofs.conv_gflops, roofs.conv_gflops],
        color=PALETTE[7],
        linewidth=2,
        label=f"roofs: copy {roofs.bandwidth_gbytes:.0f} GB/s, conv {roofs.conv_gflops:.0f} GFLOP/s"
        if slide
        else f"roof: copy {roofs.bandwidth_gbytes:.1f} GB/s, dense 3x3 conv {roofs.conv_gflops:.0f} GFLOP/s",
    )
    ax.axhline(
        roofs.matmul_gflops,
        color=PALETTE[7],
        linestyle="--",
        linewidth=1,
        label=f"{'' if slide else 'dense '}matmul {roofs.matmul_gflops:.0f} GFLOP/s",
    )


def _draw_series(ax: Axes, mine: list[RooflinePoint], variant: str, *, slide: bool) -> None:
    """``mine``, the points of one ``variant``, joined in their order, labelled "C=..." where its series says.

    The marker, colour, legend and labelled cardinalities come from ``_SERIES`` (on a slide
    the legend and labels from ``_SLIDE_SERIES``); no points, nothing drawn.
    """
    marker, colour, label, labelled = _SERIES[variant]
    if slide:
        label, labelled = _SLIDE_SERIES[variant]
    if not mine:
        return
    ax.plot(
        [p.intensity for p in mine],
        [p.gflops for p in mine],
        marker=marker,
        markersize=7,
        linestyle="-",
        linewidth=1,
        color=colour,
        label=label,
    )
    for point in mine:
        cardinality = int(point.case.split("x")[0])
        if labelled is not None and cardinality not in labelled:
            continue
        ax.annotate(
            f"C={cardinality}",
            (point.intensity, point.gflops),
            xytext=(6, -4 if variant == "a" else 4),
            textcoords="offset points",
            fontsize=text_pt(),
            color=colour,
        )
