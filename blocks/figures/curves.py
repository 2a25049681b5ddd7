"""``training_curves``: the forms' training losses step by step, and how far they drift apart."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from matplotlib.figure import Figure

from blocks.core.forms import FORMS
from blocks.core.spec import check_positive_int
from blocks.figures.style import FORM_COLOURS, SLIDE_FIGSIZE, new_figure, styled, text_pt

if TYPE_CHECKING:
    from blocks.training.loop import History


def _steps_text(steps: list[int]) -> str:
    """E.g. "step 1", "steps 1, 2, 5", "12 steps from step 1 on": short enough for a figure's footnote."""
    if len(steps) == 1:
        return f"step {steps[0]}"
    if len(steps) <= 4:
        return "steps " + ", ".join(str(step) for step in steps)
    return f"{len(steps)} steps from step {steps[0]} on"


@styled
def learning_curves_figure(histories: Mapping[str, History], smoothing: int = 5, *, slide: bool = False) -> Figure:
    """The forms' training losses step by step, overlaid, and how far they drift apart.

    Left: each form's loss per step (a moving average over ``smoothing`` steps, so
    the curves are readable), which starts at step ``smoothing``, the first full
    window; the lines lie on top of each other. Right: the relative difference of
    each form's raw loss from form (c)'s, on a log scale; steps where it is exactly 0
    (the first steps, from the same weights) have no place on a log scale, so the
    curves start later, and a footnote names those steps.

    Args:
        histories: a :class:`History` per form, from runs on the same batches; must include ``"c"``.
        smoothing: the width, in steps, of the moving average on the left.
        slide: the slide variant: 18 pt text, 16:9.

    Returns:
        The figure (two panels, 10 x 4.4 inches; slide 11.2 x 6.3).

    Raises:
        ValueError: no form (c) history, a form other than a, b, c, histories of
            different lengths, or ``smoothing`` not a positive int at most that length.
    """
    if "c" not in histories or not set(histories) <= set(FORMS):
        raise ValueError(f"histories must be keyed by forms among a, b, c and include 'c', got {sorted(histories)}")
    steps_run = {form: len(history.step_losses) for form, history in histories.items()}
    if len(set(steps_run.values())) != 1:
        raise ValueError(f"histories must have run the same number of steps, got {steps_run}")
    check_positive_int("smoothing", smoothing)
    if smoothing > steps_run["c"]:
        raise ValueError(f"smoothing must be at most the {steps_run['c']} steps run, got {smoothing}")
    fig, (left, right) = new_figure(1, 2, figsize=SLIDE_FIGSIZE if slide else (10, 4.4), layout="constrained")
    equal_steps = {}  # per form: the steps at which its loss equals (c)'s exactly
    reference = torch.tensor(histories["c"].step_losses, dtype=torch.float64)
    styles = {"a": ("-", 3.0), "b": ("--", 2.0), "c": (":", 2.0)}
    for form, history in histories.items():
        losses = torch.tensor(history.step_losses, dtype=torch.float64)
        steps = torch.arange(1, len(losses) + 1)
        kernel = torch.ones(1, 1, smoothing, dtype=torch.float64) / smoothing
        smooth = F.conv1d(losses.view(1, 1, -1), kernel).flatten()  # (steps - smoothing + 1,)
        style, linewidth = styles[form]
        left.plot(steps[smoothing - 1 :], smooth, style, lw=linewidth, color=FORM_COLOURS[form], label=f"form ({form})")
        if form != "c":
            relative = (losses - reference).abs() / reference.abs()
            shown = relative > 0
            equal_steps[form] = steps[~shown].tolist()
            right.plot(steps[shown], relative[shown], style, lw=1.5, color=FORM_COLOURS[form], label=f"({form}) vs (c)")
    left.set(
        xlabel="optimisation step",
        ylabel="training loss (nats)" if slide else "training loss (cross-entropy, nats)",
        yscale="log",
        title=f"Loss, mean of {smoothing} steps" if slide else f"Training loss, moving average of {smoothing} steps",
    )
    right.set(
        xlabel="optimisation step",
        ylabel="relative difference" if slide else "|loss − loss of (c)| / loss of (c)",
        yscale="log",
        title="Difference from form (c)" if slide else "Relative difference from form (c)",
    )
    equal = "; ".join(f"({form}) {_steps_text(steps)}" for form, steps in equal_steps.items() if steps)
    note = f"left starts at step {smoothing}, the first full window of {smoothing} steps"
    if equal:
        note += f".\nRight: loss exactly equal to (c)'s, a difference of 0 that a log scale cannot show, at {equal}"
    if slide:
        note = f"right: exactly equal to (c) at {equal}" if equal else ""
    fig.supxlabel(note[0].upper() + note[1:] if note else "", fontsize=text_pt(), color="#444444")
    for ax in (left, right):
        ax.legend()
        ax.grid(True, which="major", alpha=0.3)
    return fig
