"""``speed_vs_cardinality``: time of forms a, a-fused and b over form (c)'s, per cardinality (from ``blocks bench``)."""

from __future__ import annotations

from matplotlib.figure import Figure
from matplotlib.ticker import FormatStrFormatter, LogLocator

from blocks.bench.experiments import FUSED
from blocks.bench.harness import PASSES, Measurement
from blocks.figures.style import FORM_COLOURS, PALETTE, new_figure, styled

FIGURE_NAME = "speed_vs_cardinality"


@styled
def speed_figure(rows: list[Measurement]) -> Figure:
    """Time of forms a, a-fused and b over form (c)'s, per cardinality: one panel per pass that ``rows`` hold."""
    passes = [pass_ for pass_ in PASSES if any(r.experiment == "blocks" and r.pass_ == pass_ for r in rows)]
    fig, axes = new_figure(
        1, len(passes), figsize=(4.5 * len(passes), 4), sharey=True, layout="constrained", squeeze=False
    )
    axes = axes[0]
    styles = {"a": (FORM_COLOURS["a"], "o", "-"), FUSED: (PALETTE[3], "s", "--"), "b": (FORM_COLOURS["b"], "^", "-")}
    for ax, pass_ in zip(axes, passes):
        mine = [r for r in rows if r.experiment == "blocks" and r.pass_ == pass_]
        cardinalities = sorted({int(r.case.split("x")[0]) for r in mine})
        for variant, (colour, marker, line) in styles.items():
            points = sorted((int(r.case.split("x")[0]), r.ratio_median) for r in mine if r.variant == variant)
            label = "a through (c)'s kernels" if variant == FUSED else f"form ({variant})"
            ax.plot(*zip(*points), marker=marker, linestyle=line, color=colour, label=label)
        ax.axhline(1.0, color=FORM_COLOURS["c"], linewidth=2, label="form (c) = 1")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xticks(cardinalities, [str(c) for c in cardinalities])
        ax.minorticks_off()
        ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(FormatStrFormatter("%g"))
        ax.set_xlabel("cardinality C (Table 2 templates, equal FLOPs)")
        ax.set_title(pass_)
        ax.grid(True, which="major", alpha=0.3)
    axes[0].set_ylabel("time / time of form (c) (ratio, log)")
    axes[0].legend(loc="upper left")
    return fig
