"""blocks.train: the training loop, its recipe, its CSV and its command, and every argument checked first."""

from __future__ import annotations

import csv
import os
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, Subset

import blocks
from blocks import ResNeXt, SGDRecipe, small_resnext, train
from blocks.cli import main
from blocks.training.data import digits_datasets
from blocks.training.loop import METRICS

from tests.helpers.cases import NOT_MODULE_IDS, NOT_MODULES

# ---------------------------------------------------------------- the training loop


def _tiny_run(tmp_path: Path, cosine: bool = False) -> tuple[object, Path]:
    train_set, val_set = digits_datasets()
    train_loader = DataLoader(Subset(train_set, range(96)), batch_size=32, shuffle=True)
    val_loader = DataLoader(Subset(val_set, range(64)), batch_size=64)
    torch.manual_seed(0)
    net = ResNeXt((1,), cardinality=2, base_width=2, num_classes=10, stem="cifar", base_channels=8)
    csv_path = tmp_path / "metrics.csv"
    history = train(net, train_loader, val_loader, 2, cosine=cosine, progress=False, csv_path=csv_path)
    return history, csv_path


def test_train_reports_every_epoch_and_writes_csv(tmp_path: Path) -> None:
    history, csv_path = _tiny_run(tmp_path)
    assert [row["epoch"] for row in history.epochs] == [1, 2]
    assert all(list(row) == list(METRICS) for row in history.epochs)
    assert len(history.step_losses) == 2 * 3  # 2 epochs of 96 / 32 batches
    assert all(0 <= row["val_accuracy"] <= 1 for row in history.epochs)
    with open(csv_path, newline="") as file:
        rows = list(csv.DictReader(file))
    assert [float(row["train_loss"]) for row in rows] == [row["train_loss"] for row in history.epochs]


def test_train_is_reproducible_and_keeps_the_global_random_state(tmp_path: Path) -> None:
    state = torch.random.get_rng_state()
    first, _ = _tiny_run(tmp_path)
    torch.random.set_rng_state(state)
    second, _ = _tiny_run(tmp_path)
    assert first.step_losses == second.step_losses


def test_cosine_schedule_halves_the_rate_at_mid_run(tmp_path: Path) -> None:
    history, _ = _tiny_run(tmp_path, cosine=True)
    lr = SGDRecipe().lr
    assert [row["lr"] for row in history.epochs] == pytest.approx([lr, lr / 2])  # cos(π/2) = 0


def test_small_resnext_is_the_documented_network() -> None:
    net = small_resnext("a")
    assert sum(p.numel() for p in net.parameters()) == 92_362
    assert [stage[0].spec.out_channels for stage in net.stages] == [64, 128, 256]
    assert [stage[0].spec.width for stage in net.stages] == [4, 8, 16]  # d doubles per stage
    with pytest.raises(ValueError, match="base_channels must be a positive int, got 0"):
        ResNeXt((1,), 4, 4, base_channels=0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"lr": 0}, r"lr must be a finite number in \(0, 10\], got 0"),
        ({"lr": float("inf")}, r"lr must be a finite number in \(0, 10\], got inf"),
        ({"lr": float("nan")}, r"lr must be a finite number in \(0, 10\], got nan"),
        ({"lr": 100.0}, r"lr must be a finite number in \(0, 10\], got 100.0"),
        ({"lr": "0.1"}, r"lr must be a finite number in \(0, 10\], got '0.1'"),
        ({"lr": True}, r"lr must be a finite number in \(0, 10\], got True"),
        ({"momentum": 1.0}, r"momentum must be a finite number in \[0, 1\), got 1.0"),
        ({"momentum": -0.1}, r"momentum must be a finite number in \[0, 1\), got -0.1"),
        ({"momentum": float("-inf")}, r"momentum must be a finite number in \[0, 1\), got -inf"),
        ({"weight_decay": -1e-4}, r"weight_decay must be a finite number in \[0, 1\], got -0.0001"),
        ({"weight_decay": float("inf")}, r"weight_decay must be a finite number in \[0, 1\], got inf"),
        ({"weight_decay": 5.0}, r"weight_decay must be a finite number in \[0, 1\], got 5.0"),
    ],
    ids=[
        "zero-lr", "inf-lr", "nan-lr", "absurd-lr", "str-lr", "bool-lr", "momentum-1", "negative-momentum",
        "minus-inf-momentum", "negative-decay", "inf-decay", "absurd-decay",
    ],
)  # fmt: skip
def test_bad_recipe(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SGDRecipe(**kwargs)


def test_train_rejects_zero_epochs() -> None:
    loader = DataLoader(digits_datasets()[1], batch_size=8)
    with pytest.raises(ValueError, match="epochs must be a positive int, got 0"):
        train(small_resnext(), loader, epochs=0)


# ---------------------------------------------------------------- command line


def test_cli_missing_cifar_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--data", "cifar10", "--data-root", str(tmp_path)])
    assert exit_info.value.code == 2
    assert "--download" in capsys.readouterr().err


@pytest.mark.slow
def test_cli_trains_and_writes_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csv_path = tmp_path / "run.csv"
    assert main(["train", "--form", "b", "--epochs", "1", "--no-progress", "--csv", str(csv_path)]) == 0
    out = capsys.readouterr().out
    assert "form (b), digits: 1438 training and 359 validation images" in out and "val acc" in out
    with open(csv_path, newline="") as file:
        assert [row["epoch"] for row in csv.DictReader(file)] == ["1"]


# Bad input, nothing lost (issue 19's hostile-user list, one row per test): a clear error naming the
# argument and the value, never a raw internal, and where the call would change something, nothing changed.


# --- training: every argument checked before the first step ------------------------------------


@pytest.fixture(scope="module")
def loader() -> DataLoader:
    return DataLoader(digits_datasets()[1], batch_size=64)  # 359 validation digits: 6 batches


def _file_under_a_file(tmp_path: Path) -> Path:
    (tmp_path / "notes.txt").write_text("a file")
    return tmp_path / "notes.txt" / "metrics.csv"


def _fifo(tmp_path: Path) -> Path:
    os.mkfifo(tmp_path / "metrics.csv")  # opening it for writing would wait for a reader
    return tmp_path / "metrics.csv"


BAD_CSV_PATHS: dict[str, tuple[Callable[[Path], object], str]] = {
    "folder": (lambda tmp_path: tmp_path, "csv_path must be a file, but '.+' is a folder"),
    "under-a-file": (_file_under_a_file, "csv_path: cannot make the folder '.+notes.txt': '.+notes.txt' is a file"),
    "fifo": (_fifo, "csv_path must be a regular file, but '.+metrics.csv' is a FIFO"),
    "int": (lambda tmp_path: 3, "csv_path must be a str or os.PathLike path, got int"),
}


@pytest.mark.mutation  # a hostile-user row: in make mutants' selection as all of them are
@pytest.mark.parametrize(("make", "message"), BAD_CSV_PATHS.values(), ids=BAD_CSV_PATHS.keys())
def test_train_checks_the_csv_path_before_any_step(
    tmp_path: Path, loader: DataLoader, make: Callable[[Path], object], message: str
) -> None:
    if make is _fifo and not hasattr(os, "mkfifo"):
        pytest.skip("FIFOs are a POSIX thing")
    net = small_resnext()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    with pytest.raises((ValueError, TypeError), match=message):
        blocks.train(net, loader, epochs=1, csv_path=make(tmp_path), progress=False)  # type: ignore[arg-type]
    assert all(torch.equal(v, net.state_dict()[k]) for k, v in before.items())  # not one step was taken


@pytest.mark.mutation  # a hostile-user row: in make mutants' selection as all of them are
def test_train_makes_the_csv_folder(tmp_path: Path, loader: DataLoader) -> None:
    path = tmp_path / "runs" / "a" / "metrics.csv"  # the README's `--csv runs/a.csv`, two folders deep
    blocks.train(small_resnext(), loader, epochs=1, csv_path=path, progress=False)
    assert path.read_text().startswith("epoch,lr,train_loss")


BAD_TRAIN_ARGUMENTS: dict[str, tuple[dict[str, object], type[Exception], str]] = {
    "seed-too-big": ({"seed": 2**64}, ValueError, r"seed must be an int from -2\*\*63 to 2\*\*64 - 1"),
    "seed-str": ({"seed": "0"}, ValueError, r"seed must be an int from -2\*\*63 to 2\*\*64 - 1, got '0'"),
    "recipe-None": ({"recipe": None}, TypeError, "recipe must be a blocks.SGDRecipe, got NoneType"),
    "train_loader-None": ({"train_loader": None}, TypeError, "train_loader must be a DataLoader"),
    "val_loader-int": ({"val_loader": 3}, TypeError, "val_loader must be a DataLoader"),
    "empty-loader": ({"train_loader": []}, ValueError, "train_loader must yield at least one batch"),
    "net-without-parameters": ({"net": nn.ReLU()}, ValueError, "net must have parameters to train"),
}


@pytest.mark.mutation  # a hostile-user row: in make mutants' selection as all of them are
@pytest.mark.parametrize(("change", "error", "message"), BAD_TRAIN_ARGUMENTS.values(), ids=BAD_TRAIN_ARGUMENTS.keys())
def test_train_names_a_bad_argument(
    loader: DataLoader, change: dict[str, object], error: type[Exception], message: str
) -> None:
    arguments = {"net": small_resnext(), "train_loader": loader, "epochs": 1, "progress": False} | change
    with pytest.raises(error, match=message):
        blocks.train(**arguments)  # type: ignore[arg-type]


@pytest.mark.mutation  # a hostile-user row: in make mutants' selection as all of them are
@pytest.mark.parametrize("net", NOT_MODULES, ids=NOT_MODULE_IDS)
def test_train_of_a_non_module_is_a_type_error(loader: DataLoader, net: object) -> None:
    with pytest.raises(TypeError, match=f"net must be a torch.nn.Module, got {type(net).__name__}"):
        blocks.train(net, loader, epochs=1, progress=False)  # type: ignore[arg-type]
