"""Training a ResNeXt, and the proof that forms (a), (b) and (c) learn the same thing.

The forms compute one function (see :mod:`blocks.forms`); this module shows
they are also one MODEL: trained from the same weights on the same batches,
they take the same steps. The reason is that every step is made of pieces
that do not care how the weights are laid out in modules:

* the loss is the same function of the same weights, so its gradient is the
  same, only cut into other tensors (the paper's eq. 3 written three ways);
* SGD with momentum and weight decay updates every weight from its own
  gradient, momentum and value alone, element by element:
  ``v ← μ·v + g + λ·w``,  ``w ← w − η·v``;
* BatchNorm's batch statistics and running averages are per channel, and every
  channel sits in the same place of the canonical layout in every form.

:func:`train_in_lockstep` runs the three forms side by side and reports how far
their losses and final weights drift apart: in float64 by ~1e-13, rounding
only; in float32 the drift grows with every step through rounding, not through
any difference in the model. :func:`train` is the plain training loop, the
paper's recipe (SGD, momentum 0.9, weight decay; section 5.3 for CIFAR) scaled
down to :func:`small_resnext`, which reaches ~97% on the digits in about a minute
on two CPU cores.
"""

from __future__ import annotations

import csv
import math
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from torch import Tensor, nn
from torch.utils.data import DataLoader
from tqdm import tqdm

from blocks.forms import FORMS, check_form
from blocks.networks import ResNeXt
from blocks.plotting import FORM_COLOURS, new_figure, styled
from blocks.spec import check_positive_int
from blocks.transplant import transplant

METRICS = ("epoch", "lr", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "seconds")


def small_resnext(form: str = "c", num_classes: int = 10) -> ResNeXt:
    """A ResNeXt small enough to train on a laptop CPU: 3 stages of one 4x4d block, 64-128-256.

    The CIFAR stem (3x3 conv, no pooling), then one block per stage with C = 4
    paths of width d = 4·2^i, stage outputs 64, 128 and 256 channels: 11 layers
    with weights, 92k parameters. Under the same ``torch.manual_seed`` every form
    starts as the same function (see :func:`blocks.build`).

    Args:
        form: ``"a"``, ``"b"`` or ``"c"``, the form of every block.
        num_classes: outputs of the classifier.

    Example:
        >>> sum(p.numel() for p in small_resnext().parameters())
        92362
    """
    return ResNeXt((1, 1, 1), cardinality=4, width=4, form=form, num_classes=num_classes, stem="cifar",
                   base_channels=64)


@dataclass(frozen=True)
class SGDRecipe:
    """The optimiser: SGD with momentum and (L2) weight decay on every parameter.

    The paper trains CIFAR with lr 0.1 at batch 128, momentum 0.9 and weight
    decay 5e-4 (section 5.3); we keep momentum and decay, and halve the lr for
    batches of 64.

    Args:
        lr: the learning rate η.
        momentum: μ, the weight of the previous update.
        weight_decay: λ, the L2 penalty added to every gradient.

    Raises:
        ValueError: a negative value, a zero ``lr`` or a ``momentum`` of 1 or more.
    """

    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4

    def __post_init__(self) -> None:
        for name in ("lr", "momentum", "weight_decay"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
                raise ValueError(f"{name} must be a number >= 0, got {value!r}")
        if self.lr == 0:
            raise ValueError("lr must be above 0, got 0")
        if self.momentum >= 1:
            raise ValueError(f"momentum must be below 1, got {self.momentum!r}")

    def optimiser(self, net: nn.Module) -> torch.optim.SGD:
        """A new ``torch.optim.SGD`` over all of ``net``'s parameters."""
        return torch.optim.SGD(net.parameters(), lr=self.lr, momentum=self.momentum, weight_decay=self.weight_decay)


@dataclass(frozen=True)
class History:
    """What :func:`train` measured.

    Attributes:
        epochs: one dict per epoch with the keys of ``METRICS`` (accuracies in
            [0, 1], ``lr`` at the start of the epoch, ``seconds`` of the epoch).
        step_losses: the training loss of every optimisation step, in order.
    """

    epochs: list[dict[str, float]] = field(default_factory=list)
    step_losses: list[float] = field(default_factory=list)


def train(
    net: nn.Module,
    train_loader: DataLoader,
    val_loader: DataLoader | None = None,
    epochs: int = 3,
    *,
    recipe: SGDRecipe = SGDRecipe(),
    cosine: bool = False,
    seed: int = 0,
    progress: bool = True,
    csv_path: str | os.PathLike[str] | None = None,
) -> History:
    """Train ``net`` in place with cross-entropy and SGD; measure every epoch.

    Args:
        net: the classifier to train (any dtype; images are cast to it).
        train_loader: yields (images, labels) batches; reshuffled every epoch.
        val_loader: if given, the loss and accuracy on it are measured after every epoch.
        epochs: passes over ``train_loader``.
        recipe: learning rate, momentum and weight decay.
        cosine: decay the learning rate to 0 along a half cosine over all steps
            (else it stays constant).
        seed: seeds the batch order and any augmentation; PyTorch's global random
            state is restored afterwards, so the caller's random stream is unchanged.
        progress: show a tqdm progress bar per epoch.
        csv_path: if given, the per-epoch metrics are (re)written there after every epoch.

    Returns:
        The per-epoch metrics and the loss of every step.

    Raises:
        ValueError: ``epochs`` is not a positive int.

    Example:
        >>> train_loader, val_loader = blocks.data_loaders("digits")
        >>> torch.manual_seed(0); net = blocks.small_resnext("a")
        >>> history = blocks.train(net, train_loader, val_loader, epochs=3)
        >>> history.epochs[-1]["val_accuracy"] > 0.9
        True
    """
    check_positive_int("epochs", epochs)
    optimiser = recipe.optimiser(net)
    total_steps = epochs * len(train_loader)

    def lr_factor(step: int) -> float:  # the share of recipe.lr used at ``step``
        return 0.5 * (1 + math.cos(math.pi * step / total_steps)) if cosine else 1.0

    schedule = torch.optim.lr_scheduler.LambdaLR(optimiser, lr_factor)
    history = History()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for epoch in range(1, epochs + 1):
            start, lr = time.perf_counter(), optimiser.param_groups[0]["lr"]
            net.train()
            correct = seen = 0
            bar = tqdm(train_loader, desc=f"epoch {epoch}/{epochs}", disable=not progress, leave=False)
            for images, labels in bar:
                logits, loss = _step(net, optimiser, images, labels)
                schedule.step()
                history.step_losses.append(loss)
                correct += (logits.argmax(1).cpu() == labels).sum().item()
                seen += len(labels)
                bar.set_postfix(loss=f"{loss:.3f}")
            metrics = {"epoch": epoch, "lr": lr, "train_loss": _mean_of_epoch(history.step_losses, len(train_loader)),
                       "train_accuracy": correct / seen}
            if val_loader is not None:
                metrics["val_loss"], metrics["val_accuracy"] = evaluate(net, val_loader)
            metrics["seconds"] = time.perf_counter() - start
            history.epochs.append(metrics)
            if csv_path is not None:
                _write_csv(csv_path, history.epochs)
    return history


def evaluate(net: nn.Module, loader: DataLoader) -> tuple[float, float]:
    """Mean cross-entropy and accuracy of ``net`` (in eval mode) over ``loader``.

    ``net`` is left in eval mode.
    """
    net.eval()
    loss_sum, correct, seen = 0.0, 0, 0
    with torch.no_grad():
        for images, labels in loader:
            images, labels = _like_net(net, images, labels)
            logits = net(images)  # (B, classes)
            loss_sum += F.cross_entropy(logits, labels, reduction="sum").item()
            correct += (logits.argmax(1) == labels).sum().item()
            seen += len(labels)
    return loss_sum / seen, correct / seen


def _step(net: nn.Module, optimiser: torch.optim.Optimizer, images: Tensor, labels: Tensor) -> tuple[Tensor, float]:
    """One SGD step on one batch; returns the logits (B, classes) and the loss before the step."""
    images, labels = _like_net(net, images, labels)
    logits = net(images)  # (B, classes)
    loss = F.cross_entropy(logits, labels)
    optimiser.zero_grad()
    loss.backward()
    optimiser.step()
    return logits.detach(), loss.item()


def _like_net(net: nn.Module, images: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
    """The batch on ``net``'s device, the images in its dtype (float64 for the lock-step proofs)."""
    like = next(net.parameters())
    return images.to(like.device, like.dtype), labels.to(like.device)


def _mean_of_epoch(step_losses: list[float], steps: int) -> float:
    # Each batch's mean loss counts once (a smaller last batch counts as much as a full one).
    return sum(step_losses[-steps:]) / steps


def _write_csv(path: str | os.PathLike[str], rows: list[dict[str, float]]) -> None:
    with open(path, "w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=[name for name in METRICS if name in rows[0]])
        writer.writeheader()
        writer.writerows(rows)


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
        """|loss_form − loss_c| / |loss_c| at every step."""
        return [abs(mine - ref) / abs(ref) for mine, ref in zip(self.losses[form], self.losses["c"])]

    def table(self) -> str:
        """The per-step losses of form (c) and the relative differences of the others, as text."""
        others = [form for form in self.losses if form != "c"]
        header = f"{'step':>4}{'loss (c)':>12}" + "".join(f"{f'rel. diff {f} vs c':>18}" for f in others)
        lines = [header, "-" * len(header)]
        errors = {form: self.loss_errors(form) for form in others}
        for step, loss in enumerate(self.losses["c"]):
            lines.append(f"{step + 1:>4}{loss:>12.6f}" + "".join(f"{errors[f][step]:>18.2e}" for f in others))
        lines.append("final weights, transplanted to (c): max relative difference "
                     + ", ".join(f"{f} vs c {self.weight_errors[f]:.2e}" for f in others))
        return "\n".join(lines)


def train_in_lockstep(
    net: nn.Module,
    batches: Sequence[tuple[Tensor, Tensor]],
    recipe: SGDRecipe = SGDRecipe(),
    forms: Iterable[str] = tuple(FORMS),
) -> Lockstep:
    """Train one copy of ``net`` per form, from the same weights, on the same batches.

    Each copy is ``transplant(net, form)``, so all start as the same function
    with the same weights; each takes one SGD step per batch, in train mode
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
    losses, finals = {}, {}
    for form in forms:
        model = transplant(net, form).train()
        optimiser = recipe.optimiser(model)
        losses[form] = [_step(model, optimiser, images, labels)[1] for images, labels in batches]
        finals[form] = transplant(model, "c").state_dict()
    errors = {form: _max_relative_error(finals[form], finals["c"]) for form in forms}
    return Lockstep(losses, errors)


def _max_relative_error(state: Mapping[str, Tensor], reference: Mapping[str, Tensor]) -> float:
    """Largest over tensors of max|state − reference| / max|reference|; integer counters must be equal."""
    worst = 0.0
    for key, ref in reference.items():
        if not ref.is_floating_point():  # BN's num_batches_tracked
            worst = max(worst, 0.0 if torch.equal(state[key], ref) else math.inf)
            continue
        difference = (state[key] - ref).abs().max().item()
        scale = ref.abs().max().item()
        worst = max(worst, difference / scale if scale > 0 else (0.0 if difference == 0 else math.inf))
    return worst


@styled
def learning_curves_figure(histories: Mapping[str, History], smoothing: int = 5) -> Figure:
    """The forms' training losses step by step, overlaid, and how far they drift apart.

    Left: each form's loss per step (a moving average over ``smoothing`` steps, so
    the curves are readable); the lines lie on top of each other. Right: the
    relative difference of each form's raw loss from form (c)'s, on a log scale;
    steps where it is exactly 0 are not drawn.

    Args:
        histories: a :class:`History` per form, from runs on the same batches; must include ``"c"``.
        smoothing: the width, in steps, of the moving average on the left.

    Returns:
        The figure (two panels, 10 x 3.8 inches).

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
    fig, (left, right) = new_figure(1, 2, figsize=(10, 3.8), layout="constrained")
    reference = torch.tensor(histories["c"].step_losses, dtype=torch.float64)
    styles = {"a": ("-", 3.0), "b": ("--", 2.0), "c": (":", 2.0)}
    for form, history in histories.items():
        losses = torch.tensor(history.step_losses, dtype=torch.float64)
        steps = torch.arange(1, len(losses) + 1)
        kernel = torch.ones(1, 1, smoothing, dtype=torch.float64) / smoothing
        smooth = F.conv1d(losses.view(1, 1, -1), kernel).flatten()  # (steps - smoothing + 1,)
        style, linewidth = styles[form]
        left.plot(steps[smoothing - 1:], smooth, style, lw=linewidth, color=FORM_COLOURS[form], label=f"form ({form})")
        if form != "c":
            relative = (losses - reference).abs() / reference.abs()
            shown = relative > 0
            right.plot(steps[shown], relative[shown], style, lw=1.5, color=FORM_COLOURS[form], label=f"({form}) vs (c)")
    left.set(xlabel="optimisation step", ylabel="training loss (cross-entropy, nats)", yscale="log",
             title=f"Training loss, moving average of {smoothing} steps")
    right.set(xlabel="optimisation step", ylabel="|loss − loss of (c)| / loss of (c)", yscale="log",
              title="Relative difference from form (c)")
    for ax in (left, right):
        ax.legend()
        ax.grid(True, which="major", alpha=0.3)
    return fig
