"""``speed_vs_cardinality``: time of forms a, a-fused and b over form (c)'s, per cardinality (from ``blocks bench``)."""

from __future__ import annotations

from collections.abc import Mapping

from matplotlib.figure import Figure
from matplotlib.ticker import FormatStrFormatter, LogLocator

from blocks.bench.experiments import FUSED
from blocks.bench.harness import PASSES, Measurement
from blocks.figures.style import FORM_COLOURS, PALETTE, SLIDE_FIGSIZE, new_figure, styled, text_pt, title_pt

FIGURE_NAME = "speed_vs_cardinality"


def _provenance(rows: list[Measurement], environment: Mapping[str, str] | None, short: bool) -> str:
    """What produced the points: the command, the machine, threads, batch, and that they are medians."""
    repeats = sorted({r.repeats for r in rows if r.experiment == "blocks"})
    rounds = "/".join(str(n) for n in repeats)
    if short:
        where = "" if environment is None else f"; batch {environment['batch']}, {environment['threads']} threads"
        return f"medians of {rounds} rounds{where}"
    medians = f"each point: the median over {rounds} interleaved rounds of (time of the form / time of (c))"
    if environment is None:
        return f"{medians}, one 256\u2192256 block per Table 2 template"
    e = environment
    return (
        f"python -m blocks bench on {e['machine']} ({e['device']}), torch {e['torch']}, {e['dtype']}, {e['threads']}"
        f" threads; one 256\u2192256 block, batch {e['batch']} of {e['size']}x{e['size']};\n{medians}"
    )


@styled
def speed_figure(
    rows: list[Measurement], environment: Mapping[str, str] | None = None, *, slide: bool = False
) -> Figure:
    """Time of forms a, a-fused and b over form (c)'s, per cardinality: one panel per pass.

    A footer says what produced the points (machine, threads, batch, that they are medians).

    Args:
        rows: the measurements of ``python -m blocks bench`` (those of the ``blocks`` experiment are drawn).
        environment: the columns the run's rows share (:func:`blocks.bench.environment`, or the second
            value of :func:`blocks.bench.read_csv`): machine, torch, threads, batch, size; without it
            the footer says only how the points were taken.
        slide: the slide variant: 18 pt text, 16:9.

    Returns:
        The figure.

    Example:
        >>> fig = speed_figure(*read_csv("benchmarks/results.csv"))
    """
    passes = [pass_ for pass_ in PASSES if any(r.experiment == "blocks" and r.pass_ == pass_ for r in rows)]
    size = SLIDE_FIGSIZE if slide else (4.5 * len(passes), 4.6)
    fig, axes = new_figure(1, len(passes), figsize=size, sharey=True, layout="constrained", squeeze=False)
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
        ax.set_xlabel("cardinality C (equal FLOPs)" if slide else "cardinality C (Table 2 templates, equal FLOPs)")
        ax.set_title(pass_)
        ax.grid(True, which="major", alpha=0.3)
    axes[0].set_ylabel("time / time of (c)" if slide else "time / time of form (c) (ratio, log)")
    axes[-1 if slide else 0].legend(loc="upper left")
    if slide:
        fig.suptitle("Same FLOPs, not the same time", fontsize=title_pt(), weight="bold")
    fig.supxlabel(_provenance(rows, environment, short=slide), fontsize=text_pt(), color="#444444")
    return fig
