"""The lecture figures: the same bytes on every run, the committed ones current, all text readable."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import matplotlib
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.text import Text

from blocks import BlockSpec
from blocks.cli import main
from blocks.figures import FIGURES, block_diagonal, equivalence_error, forms_abc, group_conv, roofline, write_figures
from blocks.figures.style import DPI, FIGURE_FORMATS, MIN_FONT_PT, save_figure

COMMITTED = Path(__file__).resolve().parents[1] / "figures"
EDGE_PX = 1.0  # a text may touch the figure's edge by this much: rounding of the extents, not a cut


@pytest.fixture(scope="module")
def figures() -> dict[str, Figure]:
    """Every figure of blocks.figures, drawn once in this process."""
    return {name: draw() for name, draw in FIGURES.items()}


@pytest.fixture(scope="module")
def drawn(tmp_path_factory: pytest.TempPathFactory, figures: dict[str, Figure]) -> Path:
    """Those figures saved in every format, as ``write_figures`` saves them."""
    out = tmp_path_factory.mktemp("drawn")
    for name, fig in figures.items():
        save_figure(fig, out, name)
    return out


@pytest.fixture(scope="module")
def redrawn(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same figures drawn again by ``python -m blocks figures`` in a new process (new hash seeds)."""
    out = tmp_path_factory.mktemp("redrawn")
    subprocess.run([sys.executable, "-m", "blocks", "figures", "--out", str(out)], check=True, capture_output=True)
    return out


@pytest.mark.parametrize("fmt", FIGURE_FORMATS)
@pytest.mark.parametrize("name", list(FIGURES))
def test_two_runs_write_the_same_bytes(drawn: Path, redrawn: Path, name: str, fmt: str) -> None:
    first, second = (drawn / f"{name}.{fmt}").read_bytes(), (redrawn / f"{name}.{fmt}").read_bytes()
    assert first == second, f"{name}.{fmt} differs between two runs: something unseeded or dated is in it"


@pytest.mark.parametrize("name", list(FIGURES))
def test_committed_figure_is_current(drawn: Path, name: str) -> None:
    for fmt in FIGURE_FORMATS:
        assert (COMMITTED / f"{name}.{fmt}").is_file(), f"figures/{name}.{fmt} is missing: run `make figures`"
    committed = (COMMITTED / f"{name}.svg").read_bytes()
    assert committed == (drawn / f"{name}.svg").read_bytes(), f"figures/{name}.svg is stale: run `make figures`"


@pytest.mark.parametrize("fmt", FIGURE_FORMATS)
def test_files_carry_no_date_or_software_name(drawn: Path, fmt: str) -> None:
    for name in FIGURES:
        data = (drawn / f"{name}.{fmt}").read_bytes()
        for stamp in (
            b"CreationDate",
            b"ModDate",
            b"Producer",
            b"Software",
            b"<dc:date",
            matplotlib.__version__.encode(),
        ):
            assert stamp not in data, f"{name}.{fmt} contains {stamp!r}"


@pytest.fixture(scope="module", params=list(FIGURES))
def figure(request: pytest.FixtureRequest, figures: dict[str, Figure], drawn: Path) -> Figure:
    """One figure, drawn at its saved resolution (so text extents are final), after it was saved."""
    fig = figures[request.param]
    fig.set_dpi(DPI)
    FigureCanvasAgg(fig).draw()
    return fig


def test_all_text_at_least_min_font_size(figure: Figure) -> None:
    texts = [t for t in figure.findobj(Text) if t.get_text().strip()]
    assert texts, "the figure has no text at all"
    small = [(t.get_text(), t.get_fontsize()) for t in texts if t.get_fontsize() < MIN_FONT_PT]
    assert not small, f"text below {MIN_FONT_PT} pt: {small}"


def test_no_text_cut_off(figure: Figure) -> None:
    renderer = figure.canvas.get_renderer()
    width, height = figure.bbox.width, figure.bbox.height
    # An axes' tight box holds its drawn tick labels, axis labels, title, texts and legend.
    boxes = [(f"axes {i}", ax.get_tightbbox(renderer)) for i, ax in enumerate(figure.axes)]
    boxes += [(repr(t.get_text()), t.get_window_extent(renderer)) for t in figure.texts if t.get_text()]
    for what, box in boxes:
        inside = box.x0 >= -EDGE_PX and box.x1 <= width + EDGE_PX and box.y0 >= -EDGE_PX and box.y1 <= height + EDGE_PX
        assert inside, f"{what} reaches outside the {width:.0f}x{height:.0f} px figure: {box}"


def test_forms_abc_draws_the_spec_it_is_given() -> None:
    texts = {t.get_text() for t in forms_abc(BlockSpec(64, 128, cardinality=5, width=3, stride=2)).findobj(Text)}
    assert {"path 1", "path 2", "path 5", "input, 64 ch", "output, 128 ch"} <= texts
    assert "path 3" not in texts  # elided
    assert "grouped 3x3 /2, 15\u219215, 5 groups" in texts


BAD_CALLS = {
    "forms_abc spec not a BlockSpec": (lambda: forms_abc("32x4d"), TypeError, "spec must be a blocks.BlockSpec"),
    "group_conv zero channels": (lambda: group_conv(0), ValueError, "channels must be an int from 1 to 32"),
    "group_conv too many channels": (lambda: group_conv(64), ValueError, "got 64"),
    "group_conv group count not dividing": (lambda: group_conv(8, (1, 3)), ValueError, "dividing channels (8), got 3"),
    "group_conv no group counts": (lambda: group_conv(8, ()), ValueError, "at least one group count"),
    "group_conv bare int": (lambda: group_conv(8, 4), ValueError, "must be a sequence of group counts, got 4"),
    "block_diagonal too wide": (
        lambda: block_diagonal(BlockSpec(64, 64, cardinality=64, width=4)),
        ValueError,
        "C·d must be at most 128",
    ),
    "equivalence_error no specs": (lambda: equivalence_error(()), ValueError, "non-empty sequence of BlockSpec"),
    "equivalence_error bare spec": (
        lambda: equivalence_error(BlockSpec(8, 8, 2, 2)),
        ValueError,
        "must be a sequence of BlockSpec",
    ),
    "roofline no points": (lambda: roofline([]), ValueError, "at least one RooflinePoint"),
    "write_figures unknown name": (lambda: write_figures("unused", names=["nope"]), ValueError, "got 'nope'"),
    "write_figures unknown format": (lambda: write_figures("unused", formats=["jpg"]), ValueError, "got 'jpg'"),
    "write_figures unknown spec field": (
        lambda: write_figures("unused", spec_changes={"groups": 4}),
        ValueError,
        "got 'groups'",
    ),
}


@pytest.mark.parametrize("call, error, message", BAD_CALLS.values(), ids=BAD_CALLS.keys())
def test_bad_arguments_are_named_in_the_error(call: object, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=re.escape(message)):
        call()


def test_cli_draws_the_chosen_figures_for_the_given_block(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    names = ["forms_abc", "block_diagonal"]
    argv = ["figures", "--out", str(tmp_path), "--formats", "svg", "--only", names[0], "--only", names[1], "-C", "4"]
    assert main(argv) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"{name}.svg" for name in names)
    printed = capsys.readouterr().out
    for name in names:
        assert str(tmp_path / f"{name}.svg") in printed
        # C = 4 instead of each figure's default (32 and 8): a different drawing
        assert (tmp_path / f"{name}.svg").read_bytes() != (COMMITTED / f"{name}.svg").read_bytes()


def test_cli_block_too_big_to_draw_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["figures", "--out", str(tmp_path), "--only", "block_diagonal", "--cardinality", "64"])
    assert exit_info.value.code == 2
    assert "C·d must be at most 128" in capsys.readouterr().err


def test_cli_unknown_figure_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["figures", "--out", str(tmp_path), "--only", "nope"])
    assert exit_info.value.code == 2
    assert "names must be among" in capsys.readouterr().err
