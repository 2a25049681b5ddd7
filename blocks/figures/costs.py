"""``table2_costs``: the paper's Table 2, the same parameters and multiply-adds at every cardinality."""

from __future__ import annotations

from matplotlib.figure import Figure

from blocks.analysis.complexity import table2_templates
from blocks.figures.kit import (
    FONT_PT,
    TITLE_PT,
)
from blocks.figures.style import PALETTE, new_figure, styled


@styled
def table2_costs() -> Figure:
    """Parameters and multiply-adds of the paper's Table 2 templates against cardinality.

    The conv2-stage block (256-d in and out, 56x56) at C = 1, 2, 4, 8, 32 with
    d = 64, 40, 24, 14, 4: more paths, each narrower, at about the same cost.
    Counted by :func:`blocks.complexity.table2_templates`.

    Returns:
        The figure.
    """
    templates = table2_templates()
    cardinalities = [t.cardinality for t in templates]
    fig, (params_ax, macs_ax) = new_figure(1, 2, figsize=(12, 5.4), layout="constrained")
    weights = [t.weight_params / 1e3 for t in templates]
    params = [t.params / 1e3 for t in templates]
    macs = [t.macs / 1e9 for t in templates]
    line = {"marker": "o", "linewidth": 2}
    params_ax.plot(cardinalities, weights, color=PALETTE[0], label="conv weights (the paper's count)", **line)
    params_ax.plot(cardinalities, params, "--", color=PALETTE[1], label="all parameters (BN included)", **line)
    macs_ax.plot(cardinalities, macs, color=PALETTE[0], **line)
    for ax, values, value_format in ((params_ax, weights, "{:.1f}k"), (macs_ax, macs, "{:.3f}")):
        for c, value in zip(cardinalities, values):
            below = {"xytext": (0, -18), "textcoords": "offset points", "ha": "center", "fontsize": FONT_PT}
            ax.annotate(value_format.format(value), (c, value), **below)
    for ax, values in ((params_ax, params), (macs_ax, macs)):
        ax.set_xscale("log", base=2)
        ax.set_xticks(cardinalities, [f"{t.cardinality}\n(d={t.width})" for t in templates])
        ax.minorticks_off()
        ax.set_xlim(0.7, 46)
        ax.set_ylim(0, max(values) * 1.3)
        ax.set_xlabel("cardinality C (paths), with the width d of one path")
    params_ax.set_ylabel("parameters per block (thousands)")
    params_ax.legend(loc="upper right")
    macs_ax.set_ylabel("multiply-adds per image (billions: the paper's FLOPs)")
    title = "Table 2's templates: more, narrower paths at the same cost (block 256\u2192256 on 56x56)"
    fig.suptitle(title, fontsize=TITLE_PT, weight="bold")
    return fig
