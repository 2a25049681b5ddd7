"""Training a ResNeXt, and the proof that forms (a), (b) and (c) learn the same thing.

The forms compute one function (see :mod:`blocks.core.forms`); this module shows
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
on two CPU cores. Under ``torchrun --nproc_per_node N`` it trains on N processes
with DistributedDataParallel, taking the steps one process would take on the same
global batches (:mod:`blocks.training.distributed`).
"""

from __future__ import annotations

import csv
import math
import os
import time
from collections.abc import Sized
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader
from tqdm import tqdm

from blocks.core.forms import FORMS
from blocks.core.spec import check_positive_int
from blocks.models.networks import ResNeXt
from blocks.training.data import data_loaders
from blocks.training.distributed import Processes, distribute, global_batch_norms, join_processes, start_epoch
from blocks.util.checks import check_module, check_seed, writable_file

# Upper bounds of SGDRecipe. No recipe for these networks comes near them: the paper uses lr 0.1
# and weight decay 5e-4 (section 5.3). Above them SGD diverges at once ("train loss nan"), and the
# value is most likely a typo (1e2 for 1e-2), so it is refused before any work.
MAX_LR = 10.0
MAX_WEIGHT_DECAY = 1.0
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
    return ResNeXt(
        (1, 1, 1), cardinality=4, base_width=4, form=form, num_classes=num_classes, stem="cifar", base_channels=64
    )


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
        ValueError: a value that is not a finite number, or outside its range: ``lr`` in
            (0, MAX_LR], ``momentum`` in [0, 1), ``weight_decay`` in [0, MAX_WEIGHT_DECAY].
    """

    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4

    def __post_init__(self) -> None:
        ranges = (
            ("lr", f"in (0, {MAX_LR:g}]", lambda v: 0 < v <= MAX_LR),
            ("momentum", "in [0, 1)", lambda v: 0 <= v < 1),
            ("weight_decay", f"in [0, {MAX_WEIGHT_DECAY:g}]", lambda v: 0 <= v <= MAX_WEIGHT_DECAY),
        )
        for name, text, inside in ranges:
            value = getattr(self, name)
            number = not isinstance(value, bool) and isinstance(value, (int, float))
            if not number or not math.isfinite(value) or not inside(value):
                raise ValueError(f"{name} must be a finite number {text}, got {value!r}")

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

    Under ``torchrun --nproc_per_node N`` (or in a process group the caller made),
    the N processes train one model with DistributedDataParallel: each takes 1/N of
    every batch of ``train_loader``, BatchNorms use the statistics of the whole
    batch, metrics are summed over the processes, and only rank 0 shows progress
    and writes the CSV; every process returns the same History
    (:mod:`blocks.training.distributed`). On CUDA each process trains on its own GPU
    (``LOCAL_RANK``), ``net`` moved there.

    Args:
        net: the classifier to train (any dtype; images are cast to it).
        train_loader: yields (images, labels) batches; reshuffled every epoch. Under
            ``torchrun`` these are the global batches, whose ``batch_size`` the number of
            processes must divide, dealt by a ``DistributedSampler`` seeded with ``seed``.
        val_loader: if given, the loss and accuracy on it are measured after every epoch.
        epochs: passes over ``train_loader``.
        recipe: learning rate, momentum and weight decay.
        cosine: decay the learning rate to 0 along a half cosine over all steps
            (else it stays constant).
        seed: seeds the batch order and any augmentation (process r draws its augmentation
            from ``seed + r``); PyTorch's global random state is restored afterwards, so the
            caller's random stream is unchanged.
        progress: show a tqdm progress bar per epoch.
        csv_path: if given, the per-epoch metrics are (re)written there after every epoch.

    Returns:
        The per-epoch metrics and the loss of every step.

    Raises:
        TypeError: ``net`` is not a module, ``recipe`` not an :class:`SGDRecipe`, or a loader
            has no length (a DataLoader has one).
        ValueError: ``epochs`` is not a positive int, ``seed`` not an int torch can seed with,
            ``net`` has no parameters, ``train_loader`` no batches or a batch size the processes
            do not divide, or ``csv_path`` cannot be written (a folder, a FIFO, a file under a
            file, …). All are checked before any work, so a bad argument leaves ``net`` untouched
            (the CSV's folder is made, if missing, when the first epoch is written).

    Example:
        >>> train_loader, val_loader = blocks.data_loaders("digits")
        >>> torch.manual_seed(0); net = blocks.small_resnext("a")
        >>> history = blocks.train(net, train_loader, val_loader, epochs=3)
        >>> history.epochs[-1]["val_accuracy"] > 0.9
        True
    """
    _check_arguments(net, train_loader, val_loader, epochs, recipe, seed, csv_path)
    processes = join_processes(next(net.parameters()).device)
    model, train_loader, val_loader = distribute(net, train_loader, val_loader, processes, seed)
    optimiser = recipe.optimiser(net)
    schedule = _schedule(optimiser, epochs * len(train_loader), cosine=cosine)
    history = History()
    with torch.random.fork_rng(devices=[]), global_batch_norms(net, processes):
        torch.manual_seed(seed + processes.rank)
        for epoch in range(1, epochs + 1):
            start, lr = time.perf_counter(), optimiser.param_groups[0]["lr"]
            start_epoch(train_loader, epoch)
            net.train()
            show = progress and processes.is_main
            bar = tqdm(train_loader, desc=f"epoch {epoch}/{epochs}", disable=not show, leave=False)
            all_correct, all_seen = _train_epoch(model, optimiser, schedule, bar, processes, history.step_losses)
            metrics = {
                "epoch": epoch,
                "lr": lr,
                "train_loss": _mean_of_epoch(history.step_losses, len(train_loader)),
                "train_accuracy": all_correct / all_seen,
            }
            if val_loader is not None:
                loss_sum, val_correct, val_seen = processes.sum(*_evaluation_sums(net, val_loader))
                metrics["val_loss"], metrics["val_accuracy"] = loss_sum / val_seen, val_correct / val_seen
            metrics["seconds"] = time.perf_counter() - start
            history.epochs.append(metrics)
            if csv_path is not None and processes.is_main:
                _write_csv(csv_path, history.epochs)
    return history


def _check_arguments(
    net: nn.Module,
    train_loader: DataLoader,
    val_loader: DataLoader | None,
    epochs: int,
    recipe: SGDRecipe,
    seed: int,
    csv_path: str | os.PathLike[str] | None,
) -> None:
    """Refuse :func:`train`'s arguments before any work, as its Raises section says."""
    check_module("net", net)
    if next(net.parameters(), None) is None:
        raise ValueError(f"net must have parameters to train, but {type(net).__name__} has none")
    for name, loader in (("train_loader", train_loader), ("val_loader", val_loader)):
        if not isinstance(loader, Sized) and (loader is not None or name == "train_loader"):
            raise TypeError(f"{name} must be a DataLoader (with a length), got {type(loader).__name__}")
    if len(train_loader) == 0:
        raise ValueError("train_loader must yield at least one batch, got an empty one")
    check_positive_int("epochs", epochs)
    if not isinstance(recipe, SGDRecipe):
        raise TypeError(f"recipe must be a blocks.SGDRecipe, got {type(recipe).__name__}")
    check_seed("seed", seed)
    if csv_path is not None:
        writable_file("csv_path", csv_path)


def _schedule(optimiser: torch.optim.Optimizer, total_steps: int, *, cosine: bool) -> torch.optim.lr_scheduler.LambdaLR:
    """The learning rate over ``total_steps``: a half cosine from the recipe's down to 0, or constant."""

    def lr_factor(step: int) -> float:  # the share of recipe.lr used at ``step``
        return 0.5 * (1 + math.cos(math.pi * step / total_steps)) if cosine else 1.0

    return torch.optim.lr_scheduler.LambdaLR(optimiser, lr_factor)


def _train_epoch(
    model: nn.Module,
    optimiser: torch.optim.Optimizer,
    schedule: torch.optim.lr_scheduler.LRScheduler,
    bar: tqdm,
    processes: Processes,
    step_losses: list[float],
) -> tuple[float, float]:
    """One pass over the batches of ``bar``: an SGD step and a scheduler step on each.

    Each step's loss, the mean over the whole batch of every process, is appended to
    ``step_losses`` and shown on ``bar``.

    Returns:
        The correct predictions and the images seen, each summed over the processes.
    """
    correct = seen = 0
    for images, labels in bar:
        logits, shard_loss = sgd_step(model, optimiser, images, labels)  # logits (B, classes)
        schedule.step()
        (loss,) = processes.sum(shard_loss / processes.world_size)  # equal shards: the batch's mean loss
        step_losses.append(loss)
        correct += (logits.argmax(1).cpu() == labels).sum().item()
        seen += len(labels)
        bar.set_postfix(loss=f"{loss:.3f}")
    all_correct, all_seen = processes.sum(correct, seen)
    return all_correct, all_seen


def _evaluation_sums(net: nn.Module, loader: DataLoader) -> tuple[float, int, int]:
    """Summed cross-entropy, correct predictions and images over ``loader`` (sums add up over processes)."""
    net.eval()
    loss_sum, correct, seen = 0.0, 0, 0
    with torch.no_grad():
        for images, labels in loader:
            images, labels = _like_net(net, images, labels)
            logits = net(images)  # (B, classes)
            loss_sum += F.cross_entropy(logits, labels, reduction="sum").item()
            correct += (logits.argmax(1) == labels).sum().item()
            seen += len(labels)
    return loss_sum, correct, seen


def sgd_step(net: nn.Module, optimiser: torch.optim.Optimizer, images: Tensor, labels: Tensor) -> tuple[Tensor, float]:
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
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=[name for name in METRICS if name in rows[0]])
        writer.writeheader()
        writer.writerows(rows)


def train_each_form(epochs: int = 4, *, batch_size: int = 64, seed: int = 0, cosine: bool = True) -> dict[str, History]:
    """Train :func:`small_resnext` in each form on the digits, from the same weights on the same batches.

    The float32 run of notebook 06 and of the ``training_curves`` figure: each form is built
    under ``torch.manual_seed(seed)`` (the same weights in every form, by construction) and
    trained by :func:`train` with the same seeded batch order (its time: benchmarks/README.md).

    Args:
        epochs: passes over the 1,437 training digits.
        batch_size: images per batch.
        seed: seeds the weights, the split and the batch order.
        cosine: decay the learning rate along a half cosine.

    Returns:
        A :class:`History` per form, keyed "a", "b", "c".

    Example:
        >>> histories = train_each_form(epochs=1)
        >>> sorted(histories)
        ['a', 'b', 'c']
    """
    train_loader, val_loader = data_loaders("digits", batch_size=batch_size, seed=seed)
    histories = {}
    for form in FORMS:
        torch.manual_seed(seed)
        net = small_resnext(form)
        histories[form] = train(net, train_loader, val_loader, epochs, cosine=cosine, seed=seed, progress=False)
    return histories
