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
from blocks.bench import read_csv
from blocks.bench.roofline import read_roofline_csv
from blocks.cli import main
from blocks.figures import (
    DATA_FIGURES,
    FIGURES,
    block_diagonal,
    equivalence_error,
    forms_abc,
    group_conv,
    roofline,
    speed_figure,
    write_figures,
)
from blocks.figures.style import DPI, FIGURE_FORMATS, MIN_FONT_PT, MIN_SLIDE_FONT_PT, SLIDE_FIGSIZE, save_figure
from blocks.training.loop import History

from tests.helpers import REPOSITORY

COMMITTED = REPOSITORY / "figures"
RESULTS = REPOSITORY / "benchmarks" / "results.csv"
EDGE_PX = 1.0  # a text may touch the figure's edge by this much: rounding of the extents, not a cut
SLIDE_INCHES = (13.333, 7.5)  # a 16:9 slide, 1920 x 1080 px: a figure bigger than this shrinks, and so its text
ASPECT_RTOL = 0.01  # 16:9 up to the rounding of a figure's size in inches
VARIANTS = {"paper": MIN_FONT_PT, "slide": MIN_SLIDE_FONT_PT}  # variant: its smallest text in pt


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
def slide_figures() -> dict[str, Figure]:
    """The slide variant of every figure of blocks.figures, and of the speed figure (from the committed CSV)."""
    figures = {name: draw(slide=True) for name, draw in FIGURES.items()}
    rows, shared = read_csv(RESULTS)
    return {**figures, "speed_vs_cardinality": speed_figure(rows, shared, slide=True)}


@pytest.fixture(scope="module")
def slides_drawn(tmp_path_factory: pytest.TempPathFactory, slide_figures: dict[str, Figure]) -> Path:
    out = tmp_path_factory.mktemp("slides_drawn")
    for name in FIGURES:
        save_figure(slide_figures[name], out, name)
    return out


@pytest.fixture(scope="module")
def redrawn(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same figures, paper and slide, drawn again by ``python -m blocks figures`` in a new process."""
    out = tmp_path_factory.mktemp("redrawn")
    subprocess.run([sys.executable, "-m", "blocks", "figures", "--out", str(out)], check=True, capture_output=True)
    only = [arg for name in FIGURES for arg in ("--only", name)]  # not the figures drawn from measurements
    slides = [sys.executable, "-m", "blocks", "figures", "--slides", "--out", str(out / "slides"), *only]
    subprocess.run(slides, check=True, capture_output=True)
    return out


@pytest.mark.slow  # redrawn: every figure drawn again by two new processes
@pytest.mark.parametrize("fmt", FIGURE_FORMATS)
@pytest.mark.parametrize("name", list(FIGURES))
def test_two_runs_write_the_same_bytes(drawn: Path, slides_drawn: Path, redrawn: Path, name: str, fmt: str) -> None:
    for first_dir, second_dir in ((drawn, redrawn), (slides_drawn, redrawn / "slides")):
        first, second = (first_dir / f"{name}.{fmt}").read_bytes(), (second_dir / f"{name}.{fmt}").read_bytes()
        assert first == second, f"{name}.{fmt} differs between two runs: something unseeded or dated is in it"


# Drawn from float32 errors measured on the CPU that draws it: its kernels' rounding (AVX2 and AVX-512 sum in
# other orders) is in the bars. Byte-reproducible on one machine (test_two_runs_write_the_same_bytes); across
# machines the committed file is compared with every number left out.
MEASURED_ON_THE_CPU = frozenset({"equivalence_error"})
NUMBERS = re.compile(rb"-?\d+(\.\d+)?(e[-+]?\d+)?")


@pytest.mark.slow  # drawn: every figure saved in every format first
@pytest.mark.parametrize("name", list(FIGURES))
def test_committed_figure_is_current(drawn: Path, name: str) -> None:
    for fmt in FIGURE_FORMATS:
        assert (COMMITTED / f"{name}.{fmt}").is_file(), f"figures/{name}.{fmt} is missing: run `make figures`"
    committed, current = (COMMITTED / f"{name}.svg").read_bytes(), (drawn / f"{name}.svg").read_bytes()
    if name in MEASURED_ON_THE_CPU:  # the same drawing, with this CPU's numbers: every element and word alike
        committed, current = NUMBERS.sub(b"", committed), NUMBERS.sub(b"", current)
    assert committed == current, f"figures/{name}.svg is stale: run `make figures`"


@pytest.mark.slow  # drawn: every figure saved in every format first
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


FIGURE_CASES = [(name, "paper") for name in FIGURES] + [(name, "slide") for name in [*FIGURES, "speed_vs_cardinality"]]


@pytest.fixture(scope="module", params=FIGURE_CASES, ids=[f"{name}-{variant}" for name, variant in FIGURE_CASES])
def figure_case(
    request: pytest.FixtureRequest, figures: dict[str, Figure], drawn: Path, slide_figures: dict[str, Figure]
) -> tuple[Figure, str]:
    """(one figure, its variant), drawn at its saved resolution (so text extents are final), after it was saved."""
    name, variant = request.param
    fig = (slide_figures if variant == "slide" else figures)[name]
    fig.set_dpi(DPI)
    FigureCanvasAgg(fig).draw()
    return fig, variant


@pytest.fixture
def figure(figure_case: tuple[Figure, str]) -> Figure:
    return figure_case[0]


@pytest.mark.slow  # drawn: every figure saved in every format first
def test_all_text_at_least_min_font_size(figure_case: tuple[Figure, str]) -> None:
    figure, variant = figure_case
    texts = [t for t in figure.findobj(Text) if t.get_text().strip()]
    assert texts, "the figure has no text at all"
    small = [(t.get_text(), t.get_fontsize()) for t in texts if t.get_fontsize() < VARIANTS[variant]]
    assert not small, f"text below {VARIANTS[variant]} pt: {small}"


@pytest.mark.parametrize("name", [*FIGURES, "speed_vs_cardinality"])
def test_slide_variant_is_16_9_and_fits_a_slide(slide_figures: dict[str, Figure], name: str) -> None:
    width, height = slide_figures[name].get_size_inches()
    assert width / height == pytest.approx(16 / 9, rel=ASPECT_RTOL), f"{width} x {height} inches is not 16:9"
    # at most a slide's size, so that on the slide its text keeps at least its size in pt
    assert width <= SLIDE_INCHES[0] and height <= SLIDE_INCHES[1], f"{width} x {height} inches is bigger than a slide"
    assert (width, height) == pytest.approx(SLIDE_FIGSIZE)


@pytest.mark.slow  # drawn: every figure saved in every format first
def test_no_text_cut_off(figure: Figure) -> None:
    renderer = figure.canvas.get_renderer()
    width, height = figure.bbox.width, figure.bbox.height
    # An axes' tight box holds its drawn tick labels, axis labels, title, texts and legend.
    boxes = [(f"axes {i}", ax.get_tightbbox(renderer)) for i, ax in enumerate(figure.axes)]
    boxes += [(repr(t.get_text()), t.get_window_extent(renderer)) for t in figure.texts if t.get_text()]
    for what, box in boxes:
        inside = box.x0 >= -EDGE_PX and box.x1 <= width + EDGE_PX and box.y0 >= -EDGE_PX and box.y1 <= height + EDGE_PX
        assert inside, f"{what} reaches outside the {width:.0f}x{height:.0f} px figure: {box}"


def _texts(figure: Figure) -> list[str]:
    return [t.get_text() for t in figure.findobj(Text) if t.get_text()]


@pytest.mark.parametrize("slide", [False, True], ids=["paper", "slide"])
def test_forms_abc_calls_form_a_summed_paths_as_the_readme_does(slide: bool) -> None:
    assert "(a) summed paths" in _texts(forms_abc(slide=slide))
    assert "(a) | C summed paths |" in (REPOSITORY / "README.md").read_text()


@pytest.mark.parametrize("slide", [False, True], ids=["paper", "slide"])
def test_block_diagonal_greys_what_no_tensor_stores_alike_in_forms_a_and_c(slide: bool) -> None:
    fig = block_diagonal(slide=slide)
    grouped, per_path = (ax.images[0].get_array() for ax in fig.axes[:2])
    assert grouped.mask.any(), "form (c)'s off-diagonal blocks must be drawn as not stored"
    assert (grouped.mask == per_path.mask).all()
    assert all(
        ax.images[0].get_cmap().get_bad().tolist() == fig.axes[0].images[0].get_cmap().get_bad().tolist()
        for ax in fig.axes[:4]
    )
    # every panel marks the paths' boundaries, and channels and paths are both counted from 0
    assert all(len(ax.lines) >= 1 for ax in fig.axes[:4])
    assert fig.axes[0].get_xticklabels()[0].get_text() == "0"


def test_equivalence_error_says_stride_2_in_words() -> None:
    texts = _texts(equivalence_error([BlockSpec(8, 16, cardinality=2, width=2, stride=2)]))
    assert any("stride 2" in text for text in texts)
    assert not any("/2" in text for text in texts)


@pytest.mark.parametrize("slide", [False, True], ids=["paper", "slide"])
def test_speed_figure_says_what_produced_it(slide: bool) -> None:
    rows, shared = read_csv(RESULTS)
    footer = speed_figure(rows, shared, slide=slide).get_supxlabel()
    assert "median" in footer and f"batch {shared['batch']}" in footer and f"{shared['threads']} threads" in footer
    if not slide:
        assert shared["machine"] in footer and "python -m blocks bench" in footer


def test_training_curves_footnote_names_the_steps_left_off_the_log_scale() -> None:
    from blocks.figures import learning_curves_figure

    losses = [2.0 - 0.1 * step for step in range(12)]
    histories = {
        "c": History(step_losses=losses),
        "a": History(step_losses=[loss * (1 + 1e-6 * (step > 2)) for step, loss in enumerate(losses)]),
        "b": History(step_losses=[loss * (1 + 1e-6 * (step > 0)) for step, loss in enumerate(losses)]),
    }
    footnote = learning_curves_figure(histories).get_supxlabel()
    assert "(a) steps 1, 2, 3" in footnote and "(b) step 1" in footnote and "starts at step 5" in footnote


def _trained() -> dict[str, History]:
    """Histories as a training run gives them, without the run (training itself: test_training.py)."""
    losses = [2.0 - 0.1 * step for step in range(12)]
    return {form: History(step_losses=losses) for form in "abc"}


@pytest.mark.slow  # a full-size network or a new process: seconds on 2 cores
def test_data_figures_are_drawn_from_the_data_they_are_given(tmp_path: Path) -> None:
    rows, environment = read_csv(RESULTS)
    points = read_roofline_csv(RESULTS.with_name("roofline.csv"))
    histories = _trained()
    paths = write_figures(
        tmp_path, ["png"], slide=True, rows=rows, environment=environment, points=points, histories=histories
    )
    assert [path.name for path in paths] == [f"{name}.png" for name in [*FIGURES, *DATA_FIGURES]]
    assert [p.name for p in write_figures(tmp_path / "two", ["png"], points=points)] == [
        *(f"{name}.png" for name in FIGURES),
        "roofline.png",
    ]  # by default, each data figure whose data is given


@pytest.mark.slow  # a full-size network or a new process: seconds on 2 cores
def test_importing_the_figures_imports_no_training_and_no_roofline_reader() -> None:
    code = "import sys, blocks.figures; print(' '.join(sys.modules))"
    imported = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert "blocks.figures.roofline" in imported  # the report was read
    assert [m for m in imported if m.startswith(("blocks.training", "blocks.bench.roofline"))] == []


def test_cli_reads_and_trains_only_for_the_data_figures_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    trainings: list[str] = []
    monkeypatch.setattr("blocks.training.loop.train_each_form", lambda: trainings.append("trained") or _trained())
    argv = ["figures", "--out", str(tmp_path / "out"), "--formats", "png"]
    assert main([*argv, "--only", "roofline", "--only", "training_curves", "--results", str(RESULTS)]) == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["roofline.png", "training_curves.png"]
    assert trainings == ["trained"]
    alone = tmp_path / "alone" / "results.csv"  # no roofline.csv beside it: fine, roofline is not drawn
    alone.parent.mkdir()
    alone.write_bytes(RESULTS.read_bytes())
    assert main([*argv, "--only", "speed_vs_cardinality", "--results", str(alone)]) == 0
    assert trainings == ["trained"]  # not trained again
    assert capsys.readouterr().out.count(".png") == 3


def test_forms_abc_draws_the_spec_it_is_given() -> None:
    texts = {t.get_text() for t in forms_abc(BlockSpec(64, 128, cardinality=5, width=3, stride=2)).findobj(Text)}
    assert {"path 1", "path 2", "path 5", "input, 64 ch", "output, 128 ch"} <= texts
    assert "path 3" not in texts  # elided
    assert "grouped 3x3, stride 2, 15\u219215, 5 groups" in texts


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
    "write_figures data figure without its data": (
        lambda: write_figures("unused", names=["training_curves"]),
        ValueError,
        "histories must be given to draw 'training_curves', got None",
    ),
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


def test_cli_slides_without_the_results_file_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["figures", "--slides", "--out", str(tmp_path), "--only", "speed_vs_cardinality"]
    with pytest.raises(SystemExit) as exit_info:
        main([*argv, "--results", str(tmp_path / "missing.csv")])
    assert exit_info.value.code == 2
    assert "missing.csv" in capsys.readouterr().err


def test_cli_unknown_figure_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["figures", "--out", str(tmp_path), "--only", "nope"])
    assert exit_info.value.code == 2
    assert "names must be among" in capsys.readouterr().err


def test_forms_abc_refuses_a_cardinality_it_cannot_draw_before_building_anything() -> None:
    from blocks.figures.three_forms import FORMS_ABC_MAX_CARDINALITY, forms_abc

    with pytest.raises(ValueError, match=r"^spec's cardinality must be at most 256 to be drawn .* got 100000 "):
        forms_abc(BlockSpec(64, 64, cardinality=100_000, width=4))  # 700,000 modules if it built form (a)
    assert FORMS_ABC_MAX_CARDINALITY == 256


def test_the_figures_command_refuses_that_cardinality_by_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        main(["figures", "--only", "forms_abc", "-C", "100000", "--out", str(tmp_path / "figures")])
    assert "cardinality must be at most 256" in capsys.readouterr().err
    assert not (tmp_path / "figures").exists()
