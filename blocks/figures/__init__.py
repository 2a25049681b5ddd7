"""The lecture figures, each drawn from the real modules and weights, never typed in.

One module per figure, each with one function returning a matplotlib ``Figure``
(the notebooks call them); :func:`write_figures` saves them reproducibly with
:func:`blocks.figures.style.save_figure` (``python -m blocks figures``, ``make figures``)::

    three_forms.py  forms_abc          the paper's Figure 3: forms (a), (b), (c) with every channel count
    connections.py  group_conv         which input channels each output channel of a grouped conv sees
    matrices.py     block_diagonal     form (c)'s grouped 3x3 as a block-diagonal matrix, and the same
                                       numbers in forms (a) and (b)
    errors.py       equivalence_error  how far apart the forms' outputs are: rounding, in float32 and float64
    costs.py        table2_costs       parameters and multiply-adds of the paper's Table 2 templates
    speed.py        speed_figure       time of each form over form (c)'s, from a benchmark run
                                       (speed_vs_cardinality, drawn by ``python -m blocks bench``)
    roofline.py     roofline           each form of each Table 2 template under the machine's compute and
                                       memory roofs, from a benchmark run (drawn by ``python -m blocks bench``)
    curves.py       learning_curves_figure  the forms trained side by side (training_curves, notebook 06)

Every figure has a slide variant (``slide=True``): 16:9, every text at least 18 pt
on a 1920 x 1080 slide (``python -m blocks figures --slides``).

``style.py`` is the house style (fonts, colours, deterministic saving) and
``kit.py`` the diagram kit (boxes, sums, arrows on an axes measured in inches).
Channel counts, groups and weights are read from modules built by
:func:`blocks.build` / :func:`blocks.transplant` (the diagrams read shapes from
blocks on the meta device, which allocates nothing), so a change of cardinality
or width redraws every figure correctly.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from matplotlib.figure import Figure

from blocks.bench.report import read_csv
from blocks.bench.roofline import ROOFLINE_CSV, read_roofline_csv
from blocks.core.spec import BlockSpec
from blocks.figures.connections import group_conv
from blocks.figures.costs import table2_costs
from blocks.figures.curves import learning_curves_figure
from blocks.figures.errors import equivalence_error
from blocks.figures.matrices import BLOCK_DIAGONAL_SLIDE_SPEC, BLOCK_DIAGONAL_SPEC, block_diagonal
from blocks.figures.roofline import roofline
from blocks.figures.speed import speed_figure
from blocks.figures.style import FIGURE_FORMATS, save_figure
from blocks.figures.three_forms import FORMS_ABC_SPEC, forms_abc
from blocks.training.loop import train_each_form
from blocks.util.checks import writable_folder

__all__ = [
    "DATA_FIGURES",
    "FIGURES",
    "SPEC_FIGURES",
    "block_diagonal",
    "equivalence_error",
    "forms_abc",
    "group_conv",
    "learning_curves_figure",
    "roofline",
    "speed_figure",
    "table2_costs",
    "write_figures",
]

FIGURES: dict[str, Callable[..., Figure]] = {
    "forms_abc": forms_abc,
    "group_conv": group_conv,
    "block_diagonal": block_diagonal,
    "equivalence_error": equivalence_error,
    "table2_costs": table2_costs,
}
# The figures that draw one block, and the block each draws unless told otherwise (paper, slide).
SPEC_FIGURES: dict[str, BlockSpec] = {"forms_abc": FORMS_ABC_SPEC, "block_diagonal": BLOCK_DIAGONAL_SPEC}
_SLIDE_SPECS: dict[str, BlockSpec] = {**SPEC_FIGURES, "block_diagonal": BLOCK_DIAGONAL_SLIDE_SPEC}


def _speed_vs_cardinality(results: Path, slide: bool) -> Figure:
    rows, shared = read_csv(results)
    return speed_figure(rows, shared, slide=slide)


def _roofline(results: Path, slide: bool) -> Figure:
    return roofline(read_roofline_csv(results.with_name(ROOFLINE_CSV.name)), slide=slide)


def _training_curves(results: Path, slide: bool) -> Figure:
    return learning_curves_figure(train_each_form(), slide=slide)


# The figures drawn from measurements: a benchmark run's CSV, a training run (~25 s). They depend on the
# machine that measured, so the tests do not compare their bytes with the committed ones.
DATA_FIGURES: dict[str, Callable[[Path, bool], Figure]] = {
    "speed_vs_cardinality": _speed_vs_cardinality,
    "roofline": _roofline,
    "training_curves": _training_curves,
}


def write_figures(
    out_dir: str | Path,
    formats: Iterable[str] = FIGURE_FORMATS,
    names: Iterable[str] | None = None,
    spec_changes: Mapping[str, int] | None = None,
    *,
    slide: bool = False,
    results: str | Path = "benchmarks/results.csv",
) -> list[Path]:
    """Draw figures and save each as ``out_dir/<name>.<format>``, reproducibly.

    Args:
        out_dir: the folder to write (created if missing).
        formats: among "svg", "pdf", "png".
        names: the figures to draw, keys of :data:`FIGURES` or :data:`DATA_FIGURES`; default all
            of :data:`FIGURES`, and with ``slide`` those of :data:`DATA_FIGURES` too.
        spec_changes: BlockSpec fields (e.g. ``{"cardinality": 8}``) to change in the
            block that each figure of :data:`SPEC_FIGURES` draws by default.
        slide: draw the slide variants (16:9, text at least 18 pt).
        results: the benchmark CSV that ``speed_vs_cardinality`` is drawn from; ``roofline`` is drawn
            from the ``roofline.csv`` beside it, written by the same run.

    Returns:
        The paths written, in order.

    Raises:
        ValueError: an unknown figure name, format or BlockSpec field, an ``out_dir`` that cannot
            be made or written into (checked before any drawing), or a changed spec that is invalid
            or too big for a figure (the message names the field).

    Example:
        >>> write_figures("figures", ["svg"], ["forms_abc"], {"cardinality": 8})
        [PosixPath('figures/forms_abc.svg')]
    """
    known = [*FIGURES, *DATA_FIGURES]
    names = (known if slide else list(FIGURES)) if names is None else list(names)
    for name in names:
        if name not in known:
            raise ValueError(f"names must be among {known}, got {name!r}")
    formats = list(formats)
    for fmt in formats:
        if fmt not in FIGURE_FORMATS:
            raise ValueError(f"formats must be among {list(FIGURE_FORMATS)}, got {fmt!r}")
    fields = [field.name for field in dataclasses.fields(BlockSpec)]
    for field in spec_changes or ():
        if field not in fields:
            raise ValueError(f"spec_changes must name BlockSpec fields {fields}, got {field!r}")
    writable_folder("out_dir", out_dir)  # before drawing: a bad folder costs nothing
    written = []
    for name in names:
        if name in DATA_FIGURES:
            fig = DATA_FIGURES[name](Path(results), slide)
        else:
            kwargs: dict[str, object] = {"slide": slide}
            if spec_changes and name in SPEC_FIGURES:
                kwargs["spec"] = dataclasses.replace((_SLIDE_SPECS if slide else SPEC_FIGURES)[name], **spec_changes)
            fig = FIGURES[name](**kwargs)
        written += save_figure(fig, out_dir, name, formats)
    return written
