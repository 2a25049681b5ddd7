"""The proof that forms (a), (b) and (c) learn the same thing: train them side by side, step by step.

Trained from the same weights on the same batches, the forms take the same
steps (see :mod:`blocks.training.loop.loop` for why); :func:`train_in_lockstep`
measures how far their losses and final weights drift apart: in float64 by
~1e-13, rounding only.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from blocks.core.forms import FORMS, check_form, form_of
from blocks.core.transplant import transplant
from blocks.training.loop import SGDRecipe, sgd_step
from blocks.util.text import Cell, render_table


@dataclass(frozen=True)
class Lockstep:
    """What :func:`train_in_lockstep` measured.

    Attributes:
        losses: per form, the training loss of every step.
        weight_errors: per form, the largest relative error over all tensors
            (parameters and BN statistics) of its final weights, transplanted to
            form (c), against the final weights of the form-(c) run.
    """

    losses: dict[str, list[float]]
    weight_errors: dict[str, float]

    def loss_errors(self, form: str) -> list[float]:
        """``|loss_form − loss_c| / |loss_c|`` at every step."""
        return [abs(mine - ref) / abs(ref) for mine, ref in zip(self.losses[form], self.losses["c"])]

    def table(self) -> str:
        """The per-step losses of form (c) and the relative differences of the others, as text."""
        others = [form for form in self.losses if form != "c"]
        errors = {form: self.loss_errors(form) for form in others}
        rows: list[list[Cell]] = [
            [step + 1, f"{loss:.6f}", *(f"{errors[f][step]:.2e}" for f in others)]
            for step, loss in enumerate(self.losses["c"])
        ]
        columns = ["step", "loss (c)", *(f"rel. diff {f} vs c" for f in others)]
        final = "final weights, transplanted to (c): max relative difference " + ", ".join(
            f"{f} vs c {self.weight_errors[f]:.2e}" for f in others
        )
        return render_table(columns, rows, "plain", right=[True] * len(columns)) + "\n" + final


def train_in_lockstep(
    net: nn.Module,
    batches: Sequence[tuple[Tensor, Tensor]],
    recipe: SGDRecipe = SGDRecipe(),
    forms: Iterable[str] = tuple(FORMS),
) -> Lockstep:
    """Train one copy of ``net`` per form, from the same weights, on the same batches.

    The copy in ``net``'s own form is a deep copy, untouched by the transplant,
    and each other one is ``transplant(net, form)``, so all start as the same
    function with the same weights; each takes one SGD step per batch, in train mode
    (batch statistics in every BN), in ``net``'s dtype. ``net`` is not changed.

    Args:
        net: a network (or block) of any form, e.g. ``small_resnext().double()``.
        batches: the (images, labels) batches, the same for every form, in order.
        recipe: learning rate, momentum and weight decay.
        forms: the forms to train; form (c), the reference, is always among them.

    Returns:
        The loss of every step per form, and how far the final weights differ from form (c)'s.

    Raises:
        ValueError: an unknown form.

    Example:
        >>> batches = list(itertools.islice(blocks.data_loaders("digits")[0], 20))
        >>> result = blocks.train_in_lockstep(blocks.small_resnext().double(), batches)
        >>> max(result.loss_errors("a")) < 1e-9
        True
    """
    forms = sorted({check_form(form) for form in forms} | {"c"})
    own_form = form_of(net)
    losses, finals = {}, {}
    for form in forms:
        model = (copy.deepcopy(net) if form == own_form else transplant(net, form)).train()
        optimiser = recipe.optimiser(model)
        losses[form] = [sgd_step(model, optimiser, images, labels)[1] for images, labels in batches]
        finals[form] = transplant(model, "c").state_dict()
    errors = {form: _max_relative_error(finals[form], finals["c"]) for form in forms}
    return Lockstep(losses, errors)


def _max_relative_error(state: Mapping[str, Tensor], reference: Mapping[str, Tensor]) -> float:
    """Largest over tensors of ``max|state − reference| / max|reference|``; integer counters must be equal."""
    worst = 0.0
    for key, ref in reference.items():
        if not ref.is_floating_point():  # BN's num_batches_tracked
            worst = max(worst, 0.0 if torch.equal(state[key], ref) else math.inf)
            continue
        difference = (state[key] - ref).abs().max().item()
        scale = ref.abs().max().item()
        worst = max(worst, difference / scale if scale > 0 else (0.0 if difference == 0 else math.inf))
    return worst
