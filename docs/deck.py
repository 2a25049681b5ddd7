"""``make slides``: the lecture deck, one slide per lecture figure, as offline HTML in ``_build/slides``.

reveal.js is vendored from the npm registry (``docs/vendor.py``), never a CDN. The slide
variants of the figures (16:9, text at least 18 pt) are drawn into ``_build/slides/figures``
as SVG, PDF and PNG. Every slide has a one-line takeaway, the figure, and its key number,
computed here from the package (never typed in), in the order of the notebooks.

The deck is 1920 x 1080 px, a 13.33 x 7.5 inch slide at 144 px per inch: 1 pt is 2 px, so
the slide figures (11.2 x 6.3 inches) are shown at 1613 x 907 px, where their 18 pt is 36 px,
and no text of the page itself is smaller than that.

Usage: ``python docs/deck.py [--out _build/slides]``, then open ``_build/slides/index.html``.
"""

from __future__ import annotations

import argparse
import functools
import html
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from vendor import unpack

from blocks.bench import read_csv
from blocks.bench.experiments import GROUPED_3X3
from blocks.bench.roofline import read_roofline_csv
from blocks.core.build import empty_block
from blocks.figures import write_figures
from blocks.figures.style import SLIDE_FIGSIZE
from blocks.figures.three_forms import FORMS_ABC_SPEC
from blocks.measure.complexity import table2_templates
from blocks.measure.proof import compare_forms
from blocks.training.loop import History, train_each_form

REPOSITORY = Path(__file__).resolve().parents[1]
RESULTS = REPOSITORY / "benchmarks" / "results.csv"
PX_PER_INCH = 144  # 1920 px across a 13.33 inch slide: 1 pt = 2 px
REVEAL_PARTS = ["reveal.js", "reveal.css", "reset.css", "theme/white.css", "theme/fonts/source-sans-pro"]


@dataclass(frozen=True)
class Slide:
    """One figure's slide: its file name, the notebook that teaches it, the takeaway, the key number."""

    figure: str
    notebook: str
    takeaway: str
    key_number: Callable[[], str]


def _conv_weights(module: nn.Module) -> int:
    return sum(m.weight.numel() for m in module.modules() if isinstance(m, nn.Conv2d))


def _weights_in_every_form() -> str:
    counts = {form: _conv_weights(empty_block(FORMS_ABC_SPEC, form)) for form in "abc"}
    if len(set(counts.values())) != 1:
        raise RuntimeError(f"the forms must store the same number of conv weights, got {counts}")
    return f"{counts['c']:,} conv weights in every form (256-d in, 32x4d)"


def _largest_differences() -> str:
    rows = compare_forms(FORMS_ABC_SPEC)
    largest = {dtype: max(r.max_rel for r in rows if r.dtype == dtype) for dtype in (torch.float32, torch.float64)}
    return (
        f"largest relative difference, 32x4d block: {largest[torch.float32]:.0e} in float32,"
        f" {largest[torch.float64]:.0e} in float64"
    )


def _table2_costs() -> str:
    templates = table2_templates()
    weights = [t.weight_params for t in templates]
    macs = [t.macs for t in templates]
    return (
        f"C = 1 to 32: {min(weights) / 1e3:.1f}k to {max(weights) / 1e3:.1f}k conv weights,"
        f" {min(macs) / 1e9:.2f} to {max(macs) / 1e9:.2f} billion multiply-adds"
    )


def _grouped_weights() -> str:
    with torch.device("meta"):
        counts = {groups: nn.Conv2d(8, 8, 3, groups=groups, bias=False).weight.numel() for groups in (1, 8)}
    return f"8 channels, 3x3: {counts[1]} weights in one group, {counts[8]} in 8 groups"


def _stored_share() -> str:
    conv2 = empty_block(FORMS_ABC_SPEC, "c").get_submodule("conv2")
    assert isinstance(conv2, nn.Conv2d)
    dense = conv2.in_channels * conv2.out_channels * conv2.kernel_size[0] * conv2.kernel_size[1]
    return f"32x4d: form (c)'s grouped 3x3 stores {conv2.weight.numel():,} of the dense {dense:,} weights"


@functools.cache
def _trained() -> dict[str, History]:
    """The float32 run of notebook 06, once: the training slide's figure and key number both come from it."""
    return train_each_form()


def _accuracies() -> str:
    values = " / ".join(f"{100 * _trained()[form].epochs[-1]['val_accuracy']:.1f}" for form in "abc")
    return f"float32, 4 epochs on the digits: validation accuracy (a) / (b) / (c) {values} %"


def _speed_at_32x4d() -> str:
    rows, shared = read_csv(RESULTS)
    ratio = {
        r.variant: r.ratio_median for r in rows if (r.experiment, r.case, r.pass_) == ("blocks", "32x4d", "forward")
    }
    return (
        f"32x4d forward: (a) {ratio['a']:.1f}x, (b) {ratio['b']:.1f}x, a-fused {ratio['a-fused']:.2f}x"
        f" the time of (c) ({shared['threads']} threads)"
    )


def _grouped_share_of_roof() -> str:
    points = read_roofline_csv(RESULTS.with_name("roofline.csv"))
    share = {p.case: p.compute_fraction for p in points if p.variant == GROUPED_3X3}
    return (
        f"form (c)'s grouped 3x3 alone: {100 * share['1x64d']:.0f}% of the dense convolution's GFLOP/s at C = 1,"
        f" {100 * share['32x4d']:.0f}% at C = 32"
    )


SLIDES = (
    Slide("forms_abc", "01", "Three drawings of one block: the same weights, cut differently", _weights_in_every_form),
    Slide("equivalence_error", "01", "The forms compute one function: they differ by rounding", _largest_differences),
    Slide("table2_costs", "03", "More, narrower paths at the same cost", _table2_costs),
    Slide("group_conv", "04", "A grouped conv connects each channel to its own group only", _grouped_weights),
    Slide("block_diagonal", "04", "Form (c)'s grouped 3x3 is block-diagonal; (a) stores the blocks", _stored_share),
    Slide("speed_vs_cardinality", "05", "Equal FLOPs are not equal time: form (a) pays per path", _speed_at_32x4d),
    Slide("roofline", "05", "Thin groups move more bytes per FLOP and sit below the roof", _grouped_share_of_roof),
    Slide("training_curves", "06", "One model: the forms take the same SGD steps", _accuracies),
)


def draw_figures(out: Path) -> None:
    """Draw every slide figure into ``out`` as SVG, PDF and PNG: the committed run's, and the training run's."""
    rows, environment = read_csv(RESULTS)
    points = read_roofline_csv(RESULTS.with_name("roofline.csv"))
    write_figures(out, slide=True, rows=rows, environment=environment, points=points, histories=_trained())


_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>blocks: lecture figures</title>
<link rel="stylesheet" href="reveal/reset.css">
<link rel="stylesheet" href="reveal/reveal.css">
<link rel="stylesheet" href="reveal/theme/white.css">
<style>
  /* 1920 x 1080, 1 pt = 2 px: no text below 36 px (18 pt) */
  .reveal {{ font-size: 40px; }}
  .reveal .slides section {{ height: 1080px; padding: 14px 0 0 0; box-sizing: border-box; text-align: center; }}
  .reveal h1 {{ font-size: 88px; margin: 300px 0 40px 0; text-transform: none; }}
  .reveal h2 {{ font-size: 48px; margin: 0 0 8px 0; text-transform: none; line-height: 1.15; }}
  .reveal img.figure {{ display: block; margin: 0 auto; width: {width}px; height: {height}px; }}
  .reveal p {{ font-size: 40px; margin: 8px 0 0 0; line-height: 1.15; }}
  .reveal p.key {{ font-size: 38px; font-weight: bold; }}
  .reveal p.key span {{ font-weight: normal; color: #555555; }}
</style>
</head>
<body>
<div class="reveal"><div class="slides">
<section>
  <h1>blocks: ResNeXt's block in three forms</h1>
  <p>The lecture figures, in the order of the notebooks</p>
  <p>Xie et al., Aggregated Residual Transformations for Deep Neural Networks, CVPR 2017</p>
</section>
{slides}
</div></div>
<script src="reveal/reveal.js"></script>
<script>
  Reveal.initialize({{ width: 1920, height: 1080, margin: 0, minScale: 0.1, maxScale: 2, center: false,
                      hash: true, transition: "none", controls: true, progress: true }});
</script>
</body>
</html>
"""


def slide_html(slide: Slide, key_number: str) -> str:
    """One ``<section>``: the takeaway, the figure at 1 pt = 2 px, the key number and its notebook."""
    return (
        f'<section id="{slide.figure}">\n'
        f"  <h2>{html.escape(slide.takeaway)}</h2>\n"
        f'  <img class="figure" src="figures/{slide.figure}.svg" alt="{slide.figure}">\n'
        f'  <p class="key">{html.escape(key_number)} <span>· notebook {slide.notebook}</span></p>\n'
        "</section>"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python docs/deck.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPOSITORY / "_build" / "slides", help="default _build/slides")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    unpack("reveal.js", "dist", REVEAL_PARTS, args.out / "reveal")
    draw_figures(args.out / "figures")
    sections = [slide_html(slide, slide.key_number()) for slide in SLIDES]
    width, height = (round(inches * PX_PER_INCH) for inches in SLIDE_FIGSIZE)
    page = _PAGE.format(width=width, height=height, slides="\n".join(sections))
    (args.out / "index.html").write_text(page)
    print(f"deck: {args.out / 'index.html'} ({len(SLIDES)} figure slides)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
