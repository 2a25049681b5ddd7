"""The learning-curves figure: reproducible, readable, and its bad arguments named."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from blocks.figures import learning_curves_figure
from blocks.training.loop import History


def test_learning_curves_figure_is_reproducible_and_readable(tmp_path: Path) -> None:
    from matplotlib.text import Text

    from blocks.figures.style import MIN_FONT_PT, save_figure

    losses = [2.3 * 0.9**step for step in range(30)]
    histories = {
        form: History(step_losses=[loss * (1 + k * 1e-6 * step) for step, loss in enumerate(losses)])
        for k, form in enumerate("abc")
    }
    first = save_figure(learning_curves_figure(histories), tmp_path / "first", "curves", ["svg"])[0]
    second = save_figure(learning_curves_figure(histories), tmp_path / "second", "curves", ["svg"])[0]
    assert first.read_bytes() == second.read_bytes()
    figure = learning_curves_figure(histories)
    sizes = [text.get_fontsize() for text in figure.findobj(Text) if text.get_text()]
    assert sizes and min(sizes) >= MIN_FONT_PT


def _histories(*forms: str, steps: int = 10) -> dict[str, History]:
    return {form: History(step_losses=[1.0 + 0.1 * step for step in range(steps)]) for form in forms}


BAD_CURVES = {
    "no form c": (_histories("a", "b"), 5, "include 'c'"),
    "unknown form": (_histories("c", "d"), 5, "got ['c', 'd']"),
    "different lengths": ({**_histories("c"), **_histories("a", steps=9)}, 5, "same number of steps"),
    "smoothing 0": (_histories("a", "c"), 0, "smoothing must be a positive int, got 0"),
    "smoothing too wide": (_histories("a", "c"), 11, "at most the 10 steps run, got 11"),
}


@pytest.mark.parametrize("histories, smoothing, message", BAD_CURVES.values(), ids=BAD_CURVES.keys())
def test_learning_curves_figure_names_bad_arguments(histories: dict, smoothing: int, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        learning_curves_figure(histories, smoothing)
