"""``python -m blocks figures``: draw the lecture figures into a folder (:mod:`blocks.figures`)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from blocks.cli._common import add_block_arguments, usage_errors

if TYPE_CHECKING:
    from blocks.bench.harness import Measurement
    from blocks.bench.roofline import RooflinePoint
    from blocks.training.loop import History

NAME = "figures"
HELP = "draw the lecture figures into OUT/<name>.{svg,pdf,png} (default OUT: figures; --slides: figures/slides)"
DESCRIPTION = (
    "Draw the lecture figures from the real modules and weights and write each as"
    " OUT/<name>.<format>, byte-for-byte reproducibly: forms_abc (paper Figure 3), group_conv,"
    " block_diagonal, equivalence_error, table2_costs. 'make figures' regenerates the committed ones."
    " With --slides, the slide variants (16:9, text at least 18 pt on a 1920x1080 slide) of those and of"
    " speed_vs_cardinality (drawn from --results), roofline (from roofline.csv beside --results) and"
    " training_curves (trains the three forms on the digits, ~25 s). --only may name those three without"
    " --slides as well."
)
SPEC_FIELDS = ("in_channels", "out_channels", "cardinality", "width", "stride")  # the options of the block group


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Where, which formats, which figures, and the block that forms_abc and block_diagonal draw."""
    parser.add_argument("--out", help="folder to write into (default figures, or figures/slides with --slides)")
    parser.add_argument("--formats", default="svg,pdf,png", help="comma-separated, among svg, pdf, png (default all)")
    parser.add_argument("--only", action="append", metavar="NAME", help="draw only this figure (repeatable)")
    parser.add_argument("--slides", action="store_true", help="draw the slide variants, all eight by default")
    parser.add_argument(
        "--results",
        default="benchmarks/results.csv",
        help="benchmark CSV that speed_vs_cardinality is drawn from, and roofline from the roofline.csv beside it"
        " (default benchmarks/results.csv)",
    )
    block = parser.add_argument_group(
        "the block drawn by forms_abc and block_diagonal",
        "each option given changes that field of the block both figures draw; the others keep"
        " each figure's own default (forms_abc: 256->256, 32x4d; block_diagonal: 32->32, 8x4d, on slides"
        " 16->16, 4x4d; stride 1)",
    )
    add_block_arguments(block)
    block.add_argument("--stride", type=int, help="1 or 2")


def run(args: argparse.Namespace) -> int:
    """Check every argument, read or make the data figures' data, draw, print the path of each file written.

    The figures of blocks.figures.DATA_FIGURES are drawn from what this command reads (--results and
    the roofline.csv beside it) or trains (the three forms on the digits), and only when named.
    """
    from blocks.figures import DATA_FIGURES, FIGURES, check_figure_arguments, write_figures
    from blocks.util.checks import writable_folder

    changes = {name: getattr(args, name) for name in SPEC_FIELDS if getattr(args, name) is not None}
    out = args.out or ("figures/slides" if args.slides else "figures")
    names = args.only or [*FIGURES, *(DATA_FIGURES if args.slides else ())]
    formats = args.formats.split(",")
    # A bad name, format or field (ValueError), a missing or malformed --results (FileNotFoundError,
    # ValueError): one line, before any training or drawing
    with usage_errors(args.parser, FileNotFoundError):
        writable_folder("--out", out)
        check_figure_arguments(names, formats, changes)
        rows, environment = _read_results(Path(args.results)) if "speed_vs_cardinality" in names else (None, None)
        points = _read_roofline(Path(args.results)) if "roofline" in names else None
    histories = _train() if "training_curves" in names else None
    with usage_errors(args.parser):  # write_figures raises ValueError only for its arguments (a block too big)
        paths = write_figures(
            out,
            formats,
            names,
            changes,
            slide=args.slides,
            rows=rows,
            environment=environment,
            points=points,
            histories=histories,
        )
    for path in paths:
        print(path)
    return 0


def _read_results(results: Path) -> tuple[list[Measurement], dict[str, str]]:
    """The measurements of a benchmark run and the columns they share, from its results CSV."""
    from blocks.bench.report import read_csv

    return read_csv(results)


def _read_roofline(results: Path) -> list[RooflinePoint]:
    """The roofline points of the benchmark run that wrote ``results``: the roofline.csv beside it."""
    from blocks.bench.roofline import ROOFLINE_CSV, read_roofline_csv

    return read_roofline_csv(results.with_name(ROOFLINE_CSV.name))


def _train() -> dict[str, History]:
    """The three forms trained side by side on the digits (~25 s), as notebook 06 trains them."""
    from blocks.training.loop import train_each_form

    return train_each_form()
