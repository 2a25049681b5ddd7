"""The pages that ``make site`` and ``make slides`` generate: every figure in the gallery and in the deck.

The site and the deck themselves are built and checked in a browser by ``make site``,
``make slides`` and ``make site-check``; here only what they are made from.
"""

from __future__ import annotations

import re
import sys

import pytest

from blocks.figures import DATA_FIGURES, FIGURES
from blocks.figures.style import FIGURE_FORMATS

from tests.helpers import REPOSITORY

sys.path.insert(0, str(REPOSITORY / "docs"))

import build_site
import deck

ALL_FIGURES = [*FIGURES, *DATA_FIGURES]


def test_figures_readme_lists_every_file_in_figures() -> None:
    readme = (REPOSITORY / "figures" / "README.md").read_text()
    listed = {f"{name}.{fmt}" for name in re.findall(r"`(\w+)\.\{svg,pdf,png\}`", readme) for fmt in FIGURE_FORMATS}
    committed = {path.name for path in (REPOSITORY / "figures").iterdir() if path.is_file()} - {"README.md"}
    assert committed == listed


def test_gallery_shows_every_figure_with_its_caption_and_three_downloads() -> None:
    page = build_site.gallery_page((REPOSITORY / "figures" / "README.md").read_text())
    for name in ALL_FIGURES:
        assert f"## {name}\n" in page and f"```{{figure}} figures/{name}.png" in page
        for fmt in FIGURE_FORMATS:
            assert f"<figures/{name}.{fmt}>`" in page
    assert "The paper's Figure 3" in page  # a caption, from figures/README.md


def test_gallery_of_a_readme_without_figures_is_an_error() -> None:
    with pytest.raises(ValueError, match="found none"):
        build_site.gallery_page("# Figures\n\nnothing here\n")


def test_benchmarks_page_says_where_it_ran_and_lists_every_measurement() -> None:
    page = build_site.benchmarks_page(REPOSITORY / "benchmarks" / "results.csv")
    rows = (REPOSITORY / "benchmarks" / "results.csv").read_text().strip().splitlines()[1:]
    assert "2 threads" in page and "batch 8" in page
    assert page.count("\n| blocks ") + page.count("\n| networks ") >= sum(
        row.startswith(("blocks,", "networks,")) for row in rows
    )


def test_deck_has_one_slide_per_figure_in_the_order_of_the_notebooks() -> None:
    assert sorted(slide.figure for slide in deck.SLIDES) == sorted(ALL_FIGURES)
    notebooks = [slide.notebook for slide in deck.SLIDES]
    assert notebooks == sorted(notebooks)
    for slide in deck.SLIDES:
        assert any((REPOSITORY / "notebooks").glob(f"{slide.notebook}_*.ipynb")), slide


def test_key_numbers_come_from_the_package() -> None:
    assert deck._weights_in_every_form() == "70,144 conv weights in every form (256-d in, 32x4d)"
    assert deck._grouped_weights() == "8 channels, 3x3: 576 weights in one group, 72 in 8 groups"
    assert "4,608 of the dense 147,456" in deck._stored_share()


def test_slide_html_escapes_its_text() -> None:
    slide = deck.Slide("forms_abc", "01", "a < b & c", lambda: "x > y")
    section = deck.slide_html(slide, slide.key_number())
    assert "a &lt; b &amp; c" in section and "x &gt; y" in section and 'src="figures/forms_abc.svg"' in section
