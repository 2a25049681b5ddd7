"""Saving matplotlib figures byte-for-byte reproducibly, and the house look of every figure.

Reproducible means: the same code and library versions write the same bytes.
Matplotlib otherwise stamps files with the date and its own version and salts
SVG element ids randomly, so we fix the SVG hash salt, drop every metadata
field it would write (SVG, PDF, PNG), and use DejaVu Sans, the font that ships
with matplotlib, so no system font can change the glyphs.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, ParamSpec

import matplotlib
from matplotlib.figure import Figure
from matplotlib.rcsetup import cycler  # the validating cycler that ``matplotlib.cycler`` also names

if TYPE_CHECKING:
    from matplotlib.typing import RcKeyType

FIGURE_FORMATS = ("svg", "pdf", "png")
DPI = 200
MIN_FONT_PT = 10  # readable on a projector at the saved size

# Okabe & Ito (2008), a palette that colour-blind viewers can tell apart.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")
FORM_COLOURS = {"a": PALETTE[0], "b": PALETTE[1], "c": PALETTE[2]}

STYLE: dict[RcKeyType, Any] = {
    "font.family": "DejaVu Sans",
    "font.size": 11,
    "axes.titlesize": 12,
    "axes.labelsize": 11,
    "xtick.labelsize": MIN_FONT_PT,
    "ytick.labelsize": MIN_FONT_PT,
    "legend.fontsize": MIN_FONT_PT,
    "axes.prop_cycle": cycler(color=PALETTE),
    "svg.hashsalt": "blocks",
    "svg.fonttype": "path",
    "pdf.fonttype": 42,
    "savefig.dpi": DPI,
}

_METADATA = {
    "svg": {"Date": None, "Creator": None, "Format": None, "Type": None},
    "pdf": {"CreationDate": None, "ModDate": None, "Producer": None, "Creator": None},
    "png": {"Software": None},
}


@contextmanager
def house_style() -> Iterator[None]:
    """Temporarily apply the package's figure style (fonts, palette, reproducibility settings)."""
    with matplotlib.rc_context(STYLE):
        yield


_P = ParamSpec("_P")


def styled(draw: Callable[_P, Figure]) -> Callable[_P, Figure]:
    """Decorate a function that draws a figure so that all of it runs in :func:`house_style`.

    Text and lines take their font and colours from rcParams when they are made,
    so the style must hold for the whole drawing, not only for the figure's creation.
    """

    @functools.wraps(draw)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> Figure:
        with house_style():
            return draw(*args, **kwargs)

    return wrapper


def new_figure(
    nrows: int = 1,
    ncols: int = 1,
    *,
    figsize: tuple[float, float] | None = None,
    layout: Literal["constrained", "compressed", "tight"] | None = None,
    **subplots: Any,
) -> tuple[Figure, Any]:
    """Like ``plt.subplots``, but a plain Figure: no pyplot state, no backend switch, nothing to close."""
    with house_style():
        fig = Figure(figsize=figsize, layout=layout)
        axes = fig.subplots(nrows, ncols, **subplots)
    return fig, axes


def save_figure(fig: Figure, out_dir: str | Path, name: str, formats: Iterable[str] = FIGURE_FORMATS) -> list[Path]:
    """Write ``fig`` as ``out_dir/name.<format>`` for each format, reproducibly; returns the paths.

    Raises:
        ValueError: a format other than svg, pdf or png.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for fmt in formats:
        if fmt not in FIGURE_FORMATS:
            raise ValueError(f"formats must be among {list(FIGURE_FORMATS)}, got {fmt!r}")
        path = out_dir / f"{name}.{fmt}"
        with house_style():
            fig.savefig(path, format=fmt, dpi=DPI, metadata=_METADATA[fmt])
        written.append(path)
    return written
