"""Saving matplotlib figures byte-for-byte reproducibly, and the house look of every figure.

Reproducible means: the same code and library versions write the same bytes.
Matplotlib otherwise stamps files with the date and its own version and salts
SVG element ids randomly, so we fix the SVG hash salt, drop every metadata
field it would write (SVG, PDF, PNG), and use DejaVu Sans, the font that ships
with matplotlib, so no system font can change the glyphs.
"""

from __future__ import annotations

import functools
import io
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
# A slide is 13.33 x 7.5 inches (16:9, 1920 x 1080 px: 1 pt = 2 px); a slide figure fills it but for a
# title line above, and keeps the 16:9 shape, so its text is at least MIN_SLIDE_FONT_PT on the slide.
MIN_SLIDE_FONT_PT = 18  # legible from the back of a lecture room
SLIDE_FIGSIZE = (11.2, 6.3)  # inches, 16:9

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

# The same look, for slides: every text at least MIN_SLIDE_FONT_PT.
SLIDE_STYLE: dict[RcKeyType, Any] = {
    **STYLE,
    "font.size": 20,
    "axes.titlesize": 22,
    "axes.labelsize": 20,
    "xtick.labelsize": MIN_SLIDE_FONT_PT,
    "ytick.labelsize": MIN_SLIDE_FONT_PT,
    "legend.fontsize": MIN_SLIDE_FONT_PT,
}

_METADATA = {
    "svg": {"Date": None, "Creator": None, "Format": None, "Type": None},
    "pdf": {"CreationDate": None, "ModDate": None, "Producer": None, "Creator": None},
    "png": {"Software": None},
}


@contextmanager
def house_style(slide: bool = False) -> Iterator[None]:
    """Temporarily apply the package's figure style (fonts, palette, reproducibility settings).

    Args:
        slide: the slide sizes of text (:data:`SLIDE_STYLE`) instead of the paper's.
    """
    with matplotlib.rc_context(SLIDE_STYLE if slide else STYLE):
        yield


def text_pt() -> float:
    """The size of the smallest text in the style in force (tick labels): 10 pt, or 18 pt on slides."""
    return float(matplotlib.rcParams["xtick.labelsize"])


def title_pt() -> float:
    """The size of titles in the style in force: 12 pt, or 22 pt on slides."""
    return float(matplotlib.rcParams["axes.titlesize"])


_P = ParamSpec("_P")


def styled(draw: Callable[_P, Figure]) -> Callable[_P, Figure]:
    """Decorate a function that draws a figure so that all of it runs in :func:`house_style`.

    Text and lines take their font and colours from rcParams when they are made,
    so the style must hold for the whole drawing, not only for the figure's creation.
    A call with ``slide=True`` runs in the slide style.
    """

    @functools.wraps(draw)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> Figure:
        with house_style(slide=bool(kwargs.get("slide", False))):
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
    """Like ``plt.subplots``, but a plain Figure: no pyplot state, no backend switch, nothing to close.

    Call it inside a :func:`styled` function: the axes take their label sizes from the style in force.
    """
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


def png_bytes(fig: Figure, dpi: float = DPI) -> bytes:
    """``fig`` as the PNG :func:`save_figure` writes (at ``dpi``), in memory: the same bytes on every render.

    For a figure shown inline where no matplotlib backend draws it (an exercise's hint in a notebook).
    """
    buffer = io.BytesIO()
    with house_style():
        fig.savefig(buffer, format="png", dpi=dpi, metadata=_METADATA["png"])
    return buffer.getvalue()
