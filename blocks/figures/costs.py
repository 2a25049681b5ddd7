"""``table2_costs``: the paper's Table 2, the same parameters and multiply-adds at every cardinality."""

from __future__ import annotations

from matplotlib.figure import Figure

from blocks.figures.style import PALETTE, SLIDE_FIGSIZE, new_figure, styled, text_pt, title_pt
from blocks.measure.complexity import table2_templates


@styled
def table2_costs(*, slide: bool = False) -> Figure:
    """Parameters and multiply-adds of the paper's Table 2 templates against cardinality.

    The conv2-stage block (256-d in and out, 56x56) at C = 1, 2, 4, 8, 32 with
    d = 64, 40, 24, 14, 4: more paths, each narrower, at about the same cost.
    Counted by :func:`blocks.complexity.table2_templates`. The slide variant has
    18 pt text, 16:9, and shorter labels.

    Args:
        slide: draw the slide variant.

    Returns:
        The figure.
    """
    templates = table2_templates()
    cardinalities = [t.cardinality for t in templates]
    fig, (params_ax, macs_ax) = new_figure(1, 2, figsize=SLIDE_FIGSIZE if slide else (12, 5.4), layout="constrained")
    weights = [t.weight_params / 1e3 for t in templates]
    params = [t.params / 1e3 for t in templates]
    macs = [t.macs / 1e9 for t in templates]
    # The paper's x axis is C on a log scale; a slide's is one step per template, room for 18 pt labels.
    xs = list(range(len(templates))) if slide else cardinalities
    line = {"marker": "o", "linewidth": 2}
    weights_label, params_label = "conv weights (the paper's count)", "all parameters (BN included)"
    if slide:
        weights_label, params_label = "conv weights (paper)", "all parameters"
    params_ax.plot(xs, weights, color=PALETTE[0], label=weights_label, **line)
    params_ax.plot(xs, params, "--", color=PALETTE[1], label=params_label, **line)
    macs_ax.plot(xs, macs, color=PALETTE[0], **line)
    for ax, values, value_format in ((params_ax, weights, "{:.1f}k"), (macs_ax, macs, "{:.3f}")):
        for x, value in zip(xs, values):
            below = {
                "xytext": (0, -28 if slide else -18),
                "textcoords": "offset points",
                "ha": "center",
                "fontsize": text_pt(),
            }
            ax.annotate(value_format.format(value), (x, value), **below)
    for ax, values in ((params_ax, params), (macs_ax, macs)):
        if slide:
            ax.set_xticks(xs, [f"C={t.cardinality}\nd={t.width}" for t in templates])
            ax.set_xlim(-0.5, len(xs) - 0.5)
            ax.set_xlabel("cardinality C, width d")
        else:
            ax.set_xscale("log", base=2)
            ax.set_xticks(xs, [f"{t.cardinality}\n(d={t.width})" for t in templates])
            ax.minorticks_off()
            ax.set_xlim(0.7, 46)
            ax.set_xlabel("cardinality C (paths), with the width d of one path")
        ax.set_ylim(0, max(values) * 1.3)
    params_ax.set_ylabel("parameters per block (thousands)")
    params_ax.legend(loc="lower center" if slide else "upper right")
    macs_ax.set_ylabel("multiply-adds (billions)" if slide else "multiply-adds per image (billions: the paper's FLOPs)")
    title = "Table 2's templates: more, narrower paths at the same cost (block 256\u2192256 on 56x56)"
    if slide:
        title = "Table 2: more, narrower paths, same cost"
    fig.suptitle(title, fontsize=title_pt(), weight="bold")
    return fig
