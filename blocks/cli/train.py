"""``python -m blocks train``: train a small ResNeXt or ResNeXt-29 in one form (:mod:`blocks.training`)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from blocks.cli._common import usage_errors

if TYPE_CHECKING:
    from collections.abc import Callable

    from torch import nn

    from blocks.training.loop import History, SGDRecipe

RESNEXT29 = {"resnext29-8x64d": (8, 64), "resnext29-16x64d": (16, 64)}  # the paper's CIFAR networks, (C, d)

NAME = "train"
HELP = "train a small ResNeXt or ResNeXt-29 in form a, b or c on digits (offline) or CIFAR-10"
DESCRIPTION = (
    "Train blocks.small_resnext (3 stages of one 4x4d block, 64-128-256 channels) or the"
    " paper's CIFAR ResNeXt-29 with SGD, momentum and weight decay, and print the loss and accuracy of"
    " every epoch. 'digits' is scikit-learn's bundled 8x8 handwritten digits (no download); 'cifar10' is"
    " read from DATA_ROOT/cifar-10-batches-py and downloaded there only with --download. With --csv the"
    " per-epoch metrics are written to that file. Under 'torchrun --nproc_per_node N -m blocks train ...'"
    " N processes train one model with DistributedDataParallel (gloo on CPU, nccl on CUDA, one GPU each),"
    " each on 1/N of every batch; rank 0 alone prints and writes the CSV."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The model, the data, SGD and its schedule, the run: one argument group each."""
    _add_model(parser.add_argument_group("the model"))
    _add_data(parser.add_argument_group("the data"))
    _add_optimiser(parser.add_argument_group("SGD and its schedule"))
    _add_run(parser.add_argument_group("the run, and what it writes"))


def _add_model(group: argparse._ArgumentGroup) -> None:
    """--form and --network."""
    group.add_argument("--form", choices=("a", "b", "c"), default="c", help="form of every block (default c)")
    group.add_argument(
        "--network",
        choices=("small", *RESNEXT29),
        default="small",
        help="small: blocks.small_resnext (92k parameters); resnext29-*: the paper's CIFAR networks (default small)",
    )


def _add_data(group: argparse._ArgumentGroup) -> None:
    """--data, --data-root, --download, --batch-size."""
    group.add_argument("--data", choices=("digits", "cifar10"), default="digits", help="data set (default digits)")
    group.add_argument("--data-root", default="data", help="folder holding cifar-10-batches-py (default data)")
    group.add_argument("--download", action="store_true", help="download CIFAR-10 (163 MB) into --data-root if missing")
    group.add_argument(
        "--batch-size", type=int, default=64, help="images per step, over all processes together (default 64)"
    )


def _add_optimiser(group: argparse._ArgumentGroup) -> None:
    """--epochs, --lr, --momentum, --weight-decay, --cosine."""
    group.add_argument("--epochs", type=int, default=3, help="passes over the training set (default 3)")
    group.add_argument("--lr", type=float, default=0.05, help="learning rate (default 0.05)")
    group.add_argument("--momentum", type=float, default=0.9, help="SGD momentum (default 0.9)")
    group.add_argument("--weight-decay", type=float, default=5e-4, help="L2 weight decay (default 5e-4)")
    group.add_argument("--cosine", action="store_true", help="decay the learning rate to 0 along a half cosine")


def _add_run(group: argparse._ArgumentGroup) -> None:
    """--device, --seed, --csv, --no-progress."""
    group.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="where to train (default cpu)")
    group.add_argument("--seed", type=int, default=0, help="seeds weights, split, batch order (default 0)")
    group.add_argument("--csv", help="write the per-epoch metrics to this CSV file")
    group.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def _silent(*args: object) -> None:
    """Print nothing: what processes other than rank 0 print."""


def run(args: argparse.Namespace) -> int:
    """Check every argument, load the data, train (on every process under torchrun), print each epoch."""
    from collections.abc import Sized
    from typing import cast

    import torch
    import torch.distributed as dist

    from blocks.training.data import data_loaders
    from blocks.training.distributed import join_processes
    from blocks.training.loop import train

    recipe = _recipe(args)
    # CIFAR-10 missing (FileNotFoundError), not downloaded (ConnectionError) or corrupted (ValueError):
    # one line that says how to get it, no traceback
    with usage_errors(args.parser, FileNotFoundError, ConnectionError):
        train_loader, val_loader = data_loaders(
            args.data, batch_size=args.batch_size, seed=args.seed, root=args.data_root, download=args.download
        )
    if args.device == "cuda" and not torch.cuda.is_available():
        args.parser.error("--device cuda, but torch.cuda.is_available() is False on this machine")
    processes = join_processes(torch.device(args.device))  # under torchrun: this process's rank and GPU
    torch.manual_seed(args.seed)  # every process draws the same weights (DDP would copy rank 0's anyway)
    net = _network(args.network, args.form).to(processes.device)
    train_images = len(cast(Sized, train_loader.dataset))  # TensorDataset and CIFAR10 both have a length
    val_images = len(cast(Sized, val_loader.dataset))
    say = print if processes.is_main else _silent
    on = f", {processes.world_size} processes" if processes.world_size > 1 else ""
    say(
        f"form ({args.form}), {args.data}: {train_images} training and"
        f" {val_images} validation images, {args.epochs} epochs{on}"
    )
    history = train(
        net,
        train_loader,
        val_loader,
        args.epochs,
        recipe=recipe,
        cosine=args.cosine,
        seed=args.seed,
        progress=not args.no_progress,
        csv_path=args.csv,
    )
    _print_epochs(history, say)
    if args.csv:
        say(f"wrote {args.csv}")
    if dist.is_initialized():
        dist.destroy_process_group()
    return 0


def _recipe(args: argparse.Namespace) -> SGDRecipe:
    """The SGD recipe of ``--lr``, ``--momentum`` and ``--weight-decay``, once every number and ``--csv`` is checked."""
    from blocks.core.spec import check_positive_int
    from blocks.training.loop import SGDRecipe
    from blocks.util.checks import check_seed, writable_file

    with usage_errors(args.parser):
        recipe = SGDRecipe(args.lr, args.momentum, args.weight_decay)
        check_positive_int("--epochs", args.epochs)
        check_positive_int("--batch-size", args.batch_size)
        check_seed("--seed", args.seed)
        if args.csv is not None:
            writable_file("--csv", args.csv)
    return recipe


def _network(network: str, form: str) -> nn.Module:
    """The network ``--network`` names, every block in ``form``, its weights drawn from torch's current seed."""
    from blocks.models.networks import resnext29
    from blocks.training.loop import small_resnext

    return small_resnext(form) if network == "small" else resnext29(*RESNEXT29[network], form=form)


def _print_epochs(history: History, say: Callable[..., None]) -> None:
    """One line per epoch: learning rate, training and validation loss and accuracy, seconds."""
    for row in history.epochs:
        say(
            f"epoch {row['epoch']:>3}  lr {row['lr']:.4f}  train loss {row['train_loss']:.4f}"
            f"  train acc {row['train_accuracy']:6.2%}  val loss {row['val_loss']:.4f}"
            f"  val acc {row['val_accuracy']:6.2%}  ({row['seconds']:.1f} s)"
        )
