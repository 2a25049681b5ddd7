"""The lecture figures, each drawn from the real modules and weights, never typed in.

One module per figure, each with one function returning a matplotlib ``Figure``
(the notebooks call them); :func:`write_figures` saves them reproducibly with
:func:`blocks.figures.style.save_figure` (``python -m blocks figures``, ``make figures``).
The figures drawn from measurements take them as arguments (a benchmark run's rows and
roofline points, a training run's histories): reading a CSV or training is the caller's
work (``python -m blocks figures``, ``docs/deck.py``), never this package's::

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
    found.py        block_figure       a model's block as its dataflow reads, beside the paper's, each mistake
                                       marked (AuditReport.figure(), the exercises' hints; drawn from a model,
                                       so not among the figures written here)

Every lecture figure has a slide variant (``slide=True``): 16:9, every text at least 18 pt
on a 1920 x 1080 slide (``python -m blocks figures --slides``); ``block_figure`` is a notebook's, without one.

``style.py`` is the house style (fonts, colours, deterministic saving) and
``kit.py`` the diagram kit (boxes, sums, arrows on an axes measured in inches).
Channel counts, groups and weights are read from modules built by
:func:`blocks.build` / :func:`blocks.transplant` (the diagrams read shapes from
blocks on the meta device, which allocates nothing), so a change of cardinality
or width redraws every figure correctly.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from matplotlib.figure import Figure

from blocks.core.spec import BlockSpec
from blocks.figures.connections import group_conv
from blocks.figures.costs import table2_costs
from blocks.figures.curves import learning_curves_figure
from blocks.figures.errors import equivalence_error
from blocks.figures.found import block_figure
from blocks.figures.matrices import BLOCK_DIAGONAL_SLIDE_SPEC, BLOCK_DIAGONAL_SPEC, block_diagonal
from blocks.figures.roofline import roofline
from blocks.figures.speed import speed_figure
from blocks.figures.style import FIGURE_FORMATS, save_figure
from blocks.figures.three_forms import FORMS_ABC_SPEC, forms_abc
from blocks.util.checks import writable_folder

if TYPE_CHECKING:
    from blocks.bench.harness import Measurement
    from blocks.bench.roofline import RooflinePoint
    from blocks.training.loop import History

__all__ = [
    "DATA_FIGURES",
    "FIGURES",
    "SPEC_FIGURES",
    "block_diagonal",
    "block_figure",
    "check_figure_arguments",
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

# The figures drawn from measurements: a benchmark run's rows and roofline points, a training run (~25 s).
# They depend on the machine that measured, so the tests do not compare their bytes with the committed ones.
DATA_FIGURES: dict[str, Callable[..., Figure]] = {
    "speed_vs_cardinality": speed_figure,
    "roofline": roofline,
    "training_curves": learning_curves_figure,
}
# Each figure of DATA_FIGURES -> the argument of write_figures it is drawn from.
_DRAWN_FROM = {"speed_vs_cardinality": "rows", "roofline": "points", "training_curves": "histories"}


def check_figure_arguments(
    names: Iterable[str], formats: Iterable[str], spec_changes: Mapping[str, int] | None = None
) -> None:
    """Check what :func:`write_figures` checks of its names, formats and spec changes, drawing nothing.

    For a caller that must measure before it draws (read a CSV, train): a typo fails before that work.

    Args:
        names: keys of :data:`FIGURES` or :data:`DATA_FIGURES`.
        formats: among "svg", "pdf", "png".
        spec_changes: BlockSpec fields and their new values.

    Raises:
        ValueError: an unknown figure name, format or BlockSpec field (the message names it).

    Example:
        >>> check_figure_arguments(["forms_abc"], ["svg"], {"cardinality": 8})
    """
    known = [*FIGURES, *DATA_FIGURES]
    for name in names:
        if name not in known:
            raise ValueError(f"names must be among {known}, got {name!r}")
    for fmt in formats:
        if fmt not in FIGURE_FORMATS:
            raise ValueError(f"formats must be among {list(FIGURE_FORMATS)}, got {fmt!r}")
    fields = [field.name for field in dataclasses.fields(BlockSpec)]
    for field in spec_changes or ():
        if field not in fields:
            raise ValueError(f"spec_changes must name BlockSpec fields {fields}, got {field!r}")


def write_figures(
    out_dir: str | Path,
    formats: Iterable[str] = FIGURE_FORMATS,
    names: Iterable[str] | None = None,
    spec_changes: Mapping[str, int] | None = None,
    *,
    slide: bool = False,
    rows: Sequence[Measurement] | None = None,
    environment: Mapping[str, str] | None = None,
    points: Sequence[RooflinePoint] | None = None,
    histories: Mapping[str, History] | None = None,
) -> list[Path]:
    """Draw figures and save each as ``out_dir/<name>.<format>``, reproducibly.

    The figures of :data:`DATA_FIGURES` are drawn from what the caller measured:
    ``speed_vs_cardinality`` from ``rows`` (and ``environment``), ``roofline`` from
    ``points``, ``training_curves`` from ``histories``.

    Args:
        out_dir: the folder to write (created if missing).
        formats: among "svg", "pdf", "png".
        names: the figures to draw, keys of :data:`FIGURES` or :data:`DATA_FIGURES`; default all
            of :data:`FIGURES`, then each of :data:`DATA_FIGURES` whose data is given.
        spec_changes: BlockSpec fields (e.g. ``{"cardinality": 8}``) to change in the
            block that each figure of :data:`SPEC_FIGURES` draws by default.
        slide: draw the slide variants (16:9, text at least 18 pt).
        rows: a benchmark run's measurements (:func:`blocks.bench.read_csv` of its ``results.csv``).
        environment: the columns its rows share (the second value of that ``read_csv``), for the footer.
        points: a benchmark run's roofline points (:func:`blocks.bench.roofline.read_roofline_csv`).
        histories: a training run's :class:`~blocks.training.loop.History` per form
            (:func:`blocks.training.loop.train_each_form`).

    Returns:
        The paths written, in order.

    Raises:
        ValueError: an unknown figure name, format or BlockSpec field, a figure of
            :data:`DATA_FIGURES` named without its data, an ``out_dir`` that cannot be made or
            written into (all checked before any drawing), or a changed spec that is invalid
            or too big for a figure (the message names the field).

    Example:
        >>> write_figures("figures", ["svg"], ["forms_abc"], {"cardinality": 8})
        [PosixPath('figures/forms_abc.svg')]
    """
    drawn_from: dict[str, Callable[[], Figure]] = {}  # the data figures whose data is given
    if rows is not None:
        drawn_from["speed_vs_cardinality"] = functools.partial(speed_figure, list(rows), environment, slide=slide)
    if points is not None:
        drawn_from["roofline"] = functools.partial(roofline, points, slide=slide)
    if histories is not None:
        drawn_from["training_curves"] = functools.partial(learning_curves_figure, histories, slide=slide)
    names = [*FIGURES, *drawn_from] if names is None else list(names)
    formats = list(formats)
    check_figure_arguments(names, formats, spec_changes)
    for name in names:
        if name in DATA_FIGURES and name not in drawn_from:
            raise ValueError(f"{_DRAWN_FROM[name]} must be given to draw {name!r}, got None")
    writable_folder("out_dir", out_dir)  # before drawing: a bad folder costs nothing
    written = []
    for name in names:
        if name in drawn_from:
            fig = drawn_from[name]()
        else:
            kwargs: dict[str, object] = {"slide": slide}
            if spec_changes and name in SPEC_FIGURES:
                kwargs["spec"] = dataclasses.replace((_SLIDE_SPECS if slide else SPEC_FIGURES)[name], **spec_changes)
            fig = FIGURES[name](**kwargs)
        written += save_figure(fig, out_dir, name, formats)
    return written
