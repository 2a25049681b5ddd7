"""Training on 2 processes (DistributedDataParallel over gloo) takes the steps of 1 process on the same global batches.

Each test starts 2 CPU processes as ``torchrun`` would (its environment variables,
127.0.0.1, a free port); they call ``blocks.train`` or ``python -m blocks train``,
which join the group from the environment. Rank 0 leaves what it measured in a file.
"""

from __future__ import annotations

import csv
import os
import socket
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import Tensor
from torch.utils.data import DataLoader, DistributedSampler, Subset

from blocks import small_resnext, train
from blocks.cli import main
from blocks.training.data import digits_datasets
from blocks.util.numerics import TRAINING_LOSS_FP64_RTOL, TRAINING_WEIGHT_FP64_RTOL

pytestmark = pytest.mark.slow  # new processes, each importing torch, and a run of torchrun

PROCESSES = 2
FORMS = ("a", "c")
# The processes sum the same numbers in another order than one process does (per-shard
# sums added over processes, gradients averaged), so every step adds ~1e-16 of rounding:
# the bounds of the single-process lock-step proof (tests/training/test_lockstep.py).
GLOBAL_BATCH = 16
TRAIN_IMAGES = 64  # 4 steps per epoch
VAL_IMAGES = 45  # not a multiple of the processes: each image must still be measured once
EPOCHS = 2
SEED = 3


def _free_port() -> int:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        return listener.getsockname()[1]


def _as_torchrun(rank: int, port: int) -> None:
    """The environment torchrun gives process ``rank``."""
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        WORLD_SIZE=str(PROCESSES),
    )
    torch.set_num_threads(1)  # two processes on a shared machine


def _digits(sampler_seed: int | None) -> tuple[DataLoader, DataLoader]:
    """Digits loaders of GLOBAL_BATCH; with ``sampler_seed``, one process dealt as DistributedSampler deals."""
    train_set, val_set = digits_datasets()
    train_set, val_set = Subset(train_set, range(TRAIN_IMAGES)), Subset(val_set, range(VAL_IMAGES))
    if sampler_seed is None:
        train_loader = DataLoader(train_set, GLOBAL_BATCH, shuffle=True)
    else:  # the permutation the processes share, in one piece
        sampler = DistributedSampler(train_set, num_replicas=1, rank=0, shuffle=True, seed=sampler_seed)
        train_loader = DataLoader(train_set, GLOBAL_BATCH, sampler=sampler)
    return train_loader, DataLoader(val_set, 8)


def _train_form(form: str, sampler_seed: int | None) -> tuple[list[float], list[dict[str, float]], dict[str, Tensor]]:
    train_loader, val_loader = _digits(sampler_seed)
    torch.manual_seed(0)
    net = small_resnext(form).double()
    history = train(net, train_loader, val_loader, EPOCHS, seed=SEED, progress=False)
    return history.step_losses, history.epochs, net.state_dict()


def _train_worker(rank: int, port: int, out: Path) -> None:
    _as_torchrun(rank, port)
    runs = {form: _train_form(form, None) for form in FORMS}  # blocks.train joins the group itself
    if rank == 0:
        torch.save(runs, out / "runs.pt")
    dist.destroy_process_group()


def _cli_worker(rank: int, port: int, out: Path) -> None:
    _as_torchrun(rank, port)
    argv = ["train", "--form", "a", "--epochs", "1", "--batch-size", "32", "--no-progress"]
    main([*argv, "--csv", str(out / f"rank{rank}.csv")])


@pytest.fixture(scope="module")
def two_process_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple]:
    out = tmp_path_factory.mktemp("ddp")
    mp.spawn(_train_worker, args=(_free_port(), out), nprocs=PROCESSES)
    return torch.load(out / "runs.pt", weights_only=False)


def _relative(value: Tensor | float, reference: Tensor | float) -> float:
    difference, scale = torch.as_tensor(value - reference).abs().max(), torch.as_tensor(reference).abs().max()
    return float(difference / scale) if scale > 0 else float(difference)


@pytest.mark.parametrize("form", FORMS, ids=lambda form: f"form-{form}")
def test_two_processes_take_the_steps_of_one(two_process_runs: dict[str, tuple], form: str) -> None:
    losses, epochs, state = two_process_runs[form]
    with torch.random.fork_rng(devices=[]):
        one_losses, one_epochs, one_state = _train_form(form, sampler_seed=SEED)
    assert len(losses) == len(one_losses) == EPOCHS * TRAIN_IMAGES // GLOBAL_BATCH
    assert max(_relative(mine, one) for mine, one in zip(losses, one_losses)) <= TRAINING_LOSS_FP64_RTOL
    assert one_losses[-1] < one_losses[0]  # it is learning
    for key, value in one_state.items():  # weights and BN statistics (over the global batch)
        if value.is_floating_point():
            assert _relative(state[key], value) <= TRAINING_WEIGHT_FP64_RTOL, key
        else:  # BN's num_batches_tracked: one per step
            assert torch.equal(state[key], value), key
    for mine, one in zip(epochs, one_epochs):  # metrics summed over the processes: every image once
        for name in ("train_loss", "val_loss"):
            assert _relative(mine[name], one[name]) <= TRAINING_LOSS_FP64_RTOL, name
        assert mine["train_accuracy"] == one["train_accuracy"] and mine["val_accuracy"] == one["val_accuracy"]


def test_cli_under_torchrun_writes_the_csv_on_rank_0_only(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    mp.spawn(_cli_worker, args=(_free_port(), tmp_path), nprocs=PROCESSES)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["rank0.csv"]
    with open(tmp_path / "rank0.csv", newline="") as file:
        assert [row["epoch"] for row in csv.DictReader(file)] == ["1"]
    out = capfd.readouterr().out
    assert out.count("val acc") == 1 and "2 processes" in out
