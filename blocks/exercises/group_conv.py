"""Exercise 6: grouped convolution two ways, C separate convolutions and one dense one with a block-diagonal mask.

Two answers, each ``f(x, weight, cardinality)`` for a grouped convolution's ``weight`` of shape
(out, in/C, k, k), stride 1 and padding k // 2:

* ``by_paths``: split the channels into C groups and run one ordinary convolution per group;
* ``by_mask``: build the ordinary (out, in, k, k) weight that is zero off the C diagonal blocks,
  and run ONE ordinary convolution.

Both are run against ``torch.nn.functional.conv2d(x, weight, padding=k // 2, groups=C)`` in
float64 on several shapes (C from 1 to 8, in ≠ out, 1x1 and 3x3), and watched at the ATen
operator level (whatever Python made the call): how many convolutions ran, with how many
groups, and, for the mask, whether the dense weight really is zero off the diagonal. A wrong
output is measured channel group by channel group: nudge input group j and see which output
groups move; output group i must move with input group i alone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import torch
import torch.nn.functional as F
from torch import Tensor

from blocks.exercises.feedback import Result, Stop, call, error_text, hint, judge, mistake_hint
from blocks.exercises.symptoms import Shapes, Watch, explain
from blocks.util.dispatch import Call, Recorder
from blocks.util.numerics import FP64_RTOL, relative_error

TITLE = "6 · grouped convolution two ways: C separate convolutions, and a dense one with a block-diagonal mask"
GROUPED_READING = "notebooks/04_group_conv_diagrams.ipynb"
CASES: tuple[tuple[int, int, int, int], ...] = (  # (cardinality, in_channels, out_channels, kernel)
    (4, 8, 8, 3),
    (2, 6, 10, 3),  # more outputs than inputs
    (3, 9, 6, 3),  # fewer outputs than inputs
    (8, 16, 32, 1),  # a grouped 1x1
    (1, 4, 4, 3),  # one group: an ordinary convolution
)


@dataclass(frozen=True)
class _Convolution:
    """One convolution the answer ran: its weight and its groups."""

    weight: Tensor
    groups: int


class _Convolutions(Recorder):
    """Records every convolution that runs under it: its weight (a copy) and its groups."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[_Convolution] = []

    def on_call(self, call: Call) -> object:
        if call.name == "convolution":
            weight, groups = call.args[1], call.args[8]  # (input, weight, bias, stride, padding, …, groups)
            assert isinstance(weight, Tensor) and isinstance(groups, int)
            self.seen.append(_Convolution(weight.detach().clone(), groups))
        return call.run()


def grade_grouped_conv(
    by_paths: Callable[[Tensor, Tensor, int], Tensor], by_mask: Callable[[Tensor, Tensor, int], Tensor]
) -> Result:
    """Exercise 6: check a grouped convolution written as C separate convolutions and as one masked dense one.

    Args:
        by_paths: ``by_paths(x, weight, cardinality)``, C ordinary convolutions, one per group.
        by_mask: ``by_mask(x, weight, cardinality)``, one ordinary convolution with a block-diagonal weight.

    Returns:
        The :class:`Result`, also printed.
    """

    def both() -> tuple[list[str], list[str]]:
        hints, measured = _check(by_paths, "paths")
        more, line = _check(by_mask, "mask")
        return hints + more, measured + line

    return judge(TITLE, both)


def _check(answer: Callable[[Tensor, Tensor, int], Tensor], way: str) -> tuple[list[str], list[str]]:
    name = getattr(answer, "__name__", f"by_{way}")
    hints: dict[str, str] = {}
    worst = 0.0
    for cardinality, in_channels, out_channels, kernel in CASES:
        generator = torch.Generator().manual_seed(cardinality * 100 + in_channels)
        x = torch.randn(2, in_channels, 6, 6, generator=generator, dtype=torch.float64)
        weight = torch.randn(out_channels, in_channels // cardinality, kernel, kernel, generator=generator,
                             dtype=torch.float64)  # fmt: skip
        what = f"your {name}(x, weight, {cardinality}) with x {tuple(x.shape)} and weight {tuple(weight.shape)}"
        given_x, given_weight = x.clone(), weight.clone()
        recorded, watched = _Convolutions(), Watch([given_x, given_weight])
        shapes = Shapes(x.shape[0], cardinality, in_channels // cardinality, f"the {in_channels} input channels")
        with recorded, watched:
            out = call(answer, given_x, given_weight, cardinality, what=what,
                       explain=partial(explain, watched, shapes), read=GROUPED_READING)  # fmt: skip
        if not isinstance(out, Tensor):
            raise Stop(f"{what} returned a {type(out).__name__}, not a tensor.")
        reference = F.conv2d(x, weight, padding=kernel // 2, groups=cardinality)  # (2, out, 6, 6)
        if not (torch.equal(given_x, x) and torch.equal(given_weight, weight)):
            hints.setdefault("changed", hint(f"{what} changed its x or its weight", "every in-place operation",
                                             GROUPED_READING))  # fmt: skip
        structure = _structure(recorded.seen, way, what, cardinality, in_channels)
        for kind, text in structure.items():
            hints.setdefault(kind, text)
        if out.shape != reference.shape:
            story = explain(watched, shapes)
            measured = f"{what} returns shape {tuple(out.shape)} where the grouped convolution gives" + (
                f" {tuple(reference.shape)}" + (f": {story.measured}" if story else "")
            )
            look = story.look if story else "the padding, and the channels of each piece you concatenate"
            hints.setdefault("shape", hint(measured, look, GROUPED_READING))
            continue
        error = relative_error(out, reference)
        worst = max(worst, error)
        if error > FP64_RTOL and not structure:  # a structural hint already says what is wrong
            kind, text = _diagnose(answer, x, weight, cardinality, what, error)
            hints.setdefault(kind, text)
    if hints:
        return list(hints.values()), []
    how = (
        "C ordinary convolutions, one per group"
        if way == "paths"
        else "one ordinary convolution whose weight is zero off the C diagonal blocks"
    )
    return [], [
        f"{name}: {len(CASES)} shapes (C = 1 to 8, in ≠ out, 1x1 and 3x3) equal F.conv2d(..., groups=C) to"
        f" {error_text(worst)} (float64), computed with {how}"
    ]


def _structure(seen: list[_Convolution], way: str, what: str, cardinality: int, in_channels: int) -> dict[str, str]:
    """Hints on HOW the answer computed: the convolutions it ran, and for the mask, the dense weight."""
    grouped = [c.groups for c in seen if c.groups > 1]
    if grouped:
        return {"grouped": hint(f"{what} runs a convolution with groups={grouped[0]}: that is the grouped"
                                " convolution itself", "your convolution calls: each must be an ordinary one"
                                " (groups=1)", GROUPED_READING)}  # fmt: skip
    if way == "paths" and len(seen) != cardinality:
        return {"count": hint(f"{what} runs {len(seen)} convolution(s) where {cardinality} groups need"
                              f" {cardinality}, one per group", "your loop over the groups",
                              GROUPED_READING)}  # fmt: skip
    if way == "mask":
        if len(seen) != 1:
            return {"count": hint(f"{what} runs {len(seen)} convolutions where this way runs one",
                                  "your convolution calls: one dense convolution does all groups at once",
                                  GROUPED_READING)}  # fmt: skip
        dense = seen[0].weight  # (out, in, k, k)
        if dense.shape[1] != in_channels:
            return {"dense": hint(f"{what} convolves with a weight of shape {tuple(dense.shape)}, which reads"
                                  f" {dense.shape[1]} of the {in_channels} input channels", "the shape of the"
                                  " dense weight you build", GROUPED_READING)}  # fmt: skip
        outside = int((dense * ~_diagonal(dense.shape[0], dense.shape[1], cardinality)[:, :, None, None]).ne(0).sum())
        if outside:
            return {"mask": mistake_hint(11, f"the dense weight of {what} has {outside:,} nonzero entries outside"
                                         " its C diagonal blocks: output channels read other groups' input"
                                         " channels", "how you build the mask: which (output, input) channel"
                                         " pairs share a group?", GROUPED_READING)}  # fmt: skip
    return {}


def _diagonal(out_channels: int, in_channels: int, cardinality: int) -> Tensor:
    """(out, in) bool: True where output and input channel are in the same group (written apart from the library's)."""
    rows = torch.arange(out_channels)[:, None] * cardinality // out_channels  # group of each output channel
    columns = torch.arange(in_channels)[None, :] * cardinality // in_channels  # group of each input channel
    return rows == columns


def _diagnose(
    answer: Callable[[Tensor, Tensor, int], Tensor],
    x: Tensor,
    weight: Tensor,
    cardinality: int,
    what: str,
    error: float,
) -> tuple[str, str]:
    """Which output groups move when one input group is nudged: a wrong output, measured group by group."""
    out_group, in_group = weight.shape[0] // cardinality, x.shape[1] // cardinality
    base = answer(x.clone(), weight.clone(), cardinality)
    for j in range(cardinality):
        nudged = x.clone()
        nudged[:, j * in_group : (j + 1) * in_group] += 1.0
        moved = (answer(nudged, weight.clone(), cardinality) - base).abs().amax((0, 2, 3))  # (out,)
        for i in range(cardinality):
            moves = bool(moved[i * out_group : (i + 1) * out_group].max() > 0)
            if moves != (i == j):
                channels = f"channels {j * in_group}-{(j + 1) * in_group - 1}"
                measured = (
                    f"output group {i} of {what} {'moves' if moves else 'does not move'} when input group {j}"
                    f" ({channels}) changes"
                )
                return "group", mistake_hint(11, measured, "which input channels each group's convolution reads",
                                             GROUPED_READING)  # fmt: skip
    return "values", hint(
        f"{what} differs from the grouped convolution by {error:.1e} (relative), though each output group reads"
        " its own input group only",
        "which rows of the weight each group uses, and the padding",
        GROUPED_READING,
    )
