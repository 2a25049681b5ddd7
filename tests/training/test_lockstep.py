"""Training: the data loaders, the training loop, and the proof that the forms train in lock-step."""

from __future__ import annotations

import copy
import csv
import functools
import itertools
import os
import pickle
import re
import urllib.error
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, Subset

import blocks
from blocks import (
    BlockSpec,
    ResNeXt,
    ResNeXtBlock,
    SGDRecipe,
    build,
    data_loaders,
    form_of,
    small_resnext,
    train,
    train_in_lockstep,
    transplant,
)
from blocks.cli import main
from blocks.figures import learning_curves_figure
from blocks.measure.proof import relative_error
from blocks.training.data import (
    CIFAR10_FILES,
    CIFAR10_FOLDER,
    CIFAR10_MEAN,
    CIFAR10_STD,
    CIFAR10_URL,
    digits_datasets,
)
from blocks.training.loop import METRICS, History, sgd_step

from tests.helpers.cases import DIRECTIONS, NOT_MODULE_IDS, NOT_MODULES, direction_id
from tests.helpers.reference import assert_agree, in_mode, tensors_by_path

# The bounds for 20 float64 steps. Every operation is the same sum in another
# order, so each step adds ~1e-16 of rounding; measured: ~1e-13 after 20 steps.
FP64_LOSS_RTOL = 1e-9
FP64_WEIGHT_RTOL = 1e-8
DIGITS = 1797  # images in scikit-learn's load_digits


# ---------------------------------------------------------------- digits


@pytest.mark.parametrize("size", [8, 16], ids=["native-8x8", "upsampled-16x16"])
def test_digits_shapes_and_range(size: int) -> None:
    train_set, val_set = digits_datasets(size=size)
    assert len(train_set) + len(val_set) == DIGITS
    assert len(val_set) == round(0.2 * DIGITS)
    images, labels = train_set.tensors
    assert images.shape == (len(train_set), 3, size, size) and images.dtype == torch.float32
    assert images.min() == 0 and images.max() == 1  # pixels 0 … 16 scaled to [0, 1]
    assert torch.equal(images[:, 0], images[:, 2])  # grey repeated as RGB
    assert labels.dtype == torch.int64 and set(labels.tolist()) == set(range(10))


def test_digits_loader_batches() -> None:
    train_loader, val_loader = data_loaders("digits", batch_size=32)
    images, labels = next(iter(train_loader))
    assert images.shape == (32, 3, 8, 8) and labels.shape == (32,)
    assert sum(len(y) for _, y in val_loader) == len(val_loader.dataset)


def test_split_is_fixed_by_the_seed() -> None:
    first, again, other = digits_datasets(seed=3), digits_datasets(seed=3), digits_datasets(seed=4)
    for a, b in zip(first, again):
        assert all(torch.equal(x, y) for x, y in zip(a.tensors, b.tensors))
    assert not torch.equal(first[1].tensors[1], other[1].tensors[1])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"data": "mnist"}, "data must be one of ['digits', 'cifar10'], got 'mnist'"),
        ({"batch_size": 0}, "batch_size must be a positive int, got 0"),
    ],
    ids=["unknown-data", "zero-batch"],
)
def test_bad_loader_arguments(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        data_loaders(**kwargs)


# ---------------------------------------------------------------- CIFAR-10


def test_missing_cifar_folder_says_where_and_how(tmp_path: Path) -> None:
    root = tmp_path / "nowhere"
    with pytest.raises(FileNotFoundError) as error:
        data_loaders("cifar10", root=root)
    message = str(error.value)
    assert str(root / CIFAR10_FOLDER) in message and "--download" in message and "download=True" in message
    assert not root.exists()  # nothing was downloaded or created


def _write_fake_cifar(root: Path, per_file: int = 2) -> np.ndarray:
    """CIFAR-10's real on-disk format (pickled dicts of uint8 rows), with random pixels; returns the test images."""
    folder = root / CIFAR10_FOLDER
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in CIFAR10_FILES:
        if name == "batches.meta":
            content = {"label_names": [f"class{k}" for k in range(10)]}
        else:
            pixels = rng.integers(0, 256, size=(per_file, 3 * 32 * 32), dtype=np.uint8)  # (N, 3072): R, G, B planes
            content = {"data": pixels, "labels": rng.integers(0, 10, per_file).tolist()}
        with open(folder / name, "wb") as file:
            pickle.dump(content, file)
    with open(folder / "test_batch", "rb") as file:
        return pickle.load(file)["data"].reshape(-1, 3, 32, 32)


@pytest.fixture
def fake_cifar(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, np.ndarray]:
    import torchvision.datasets.cifar

    # torchvision checks the files' MD5 sums against the real data set's; fake files
    # cannot match, so the check is reduced to "the file exists" for this test only.
    monkeypatch.setattr(torchvision.datasets.cifar, "check_integrity", lambda path, md5=None: Path(path).is_file())
    return tmp_path, _write_fake_cifar(tmp_path)


def _offline(*args: object, **kwargs: object) -> None:
    raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")


@pytest.mark.parametrize("folder", ["absent", "damaged"])
def test_download_without_a_network_says_how_to_get_the_data_by_hand(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, folder: str
) -> None:
    import torchvision.datasets.cifar

    if folder == "damaged":  # torchvision downloads again when a checksum fails
        _write_fake_cifar(tmp_path)
    monkeypatch.setattr(torchvision.datasets.cifar, "download_and_extract_archive", _offline)  # nothing downloads
    with pytest.raises(ConnectionError) as error:
        data_loaders("cifar10", root=tmp_path, download=True)
    assert str(error.value) == (
        f"could not download CIFAR-10 into '{tmp_path}' ([Errno -3] Temporary failure in name resolution);"
        f" to get it by hand, unpack cifar-10-python.tar.gz from {CIFAR10_URL} into '{tmp_path}'"
    )


def test_corrupted_cifar_folder_names_the_files_that_fail_their_checksum(tmp_path: Path) -> None:
    _write_fake_cifar(tmp_path)  # the real format, other pixels: every MD5 differs from the data set's
    files = "data_batch_1, data_batch_2, data_batch_3, data_batch_4, data_batch_5, test_batch"
    with pytest.raises(ValueError, match=f"is corrupted \\({files} fail the data set's MD5 checksum\\)"):
        data_loaders("cifar10", root=tmp_path)


def test_unreadable_cifar_file_is_named_as_corrupted(fake_cifar: tuple[Path, np.ndarray]) -> None:
    root, _ = fake_cifar  # checksums reduced to "the file exists"
    (root / CIFAR10_FOLDER / "data_batch_3").write_bytes(b"not a pickle")
    with pytest.raises(ValueError, match=r"CIFAR-10 in '.+' is corrupted \(UnpicklingError: .+\); delete the folder"):
        data_loaders("cifar10", root=root)


def test_cifar_loaders_read_the_folder(fake_cifar: tuple[Path, np.ndarray]) -> None:
    root, test_pixels = fake_cifar
    train_loader, val_loader = data_loaders("cifar10", root=root, batch_size=4)
    assert len(train_loader.dataset) == 10 and len(val_loader.dataset) == 2  # 5 training files of 2, 1 test file
    images, labels = next(iter(train_loader))
    assert images.shape == (4, 3, 32, 32) and images.dtype == torch.float32 and labels.shape == (4,)
    # validation: normalisation only, exactly (pixel / 255 - mean) / std
    mean, std = torch.tensor(CIFAR10_MEAN).view(3, 1, 1), torch.tensor(CIFAR10_STD).view(3, 1, 1)
    expected = (torch.from_numpy(test_pixels).float() / 255 - mean) / std  # (2, 3, 32, 32)
    val_images, _ = next(iter(val_loader))
    torch.testing.assert_close(val_images, expected)


def test_cifar_training_images_are_augmented(fake_cifar: tuple[Path, np.ndarray]) -> None:
    root, _ = fake_cifar
    train_set = data_loaders("cifar10", root=root)[0].dataset
    torch.manual_seed(0)
    draws = [train_set[0][0] for _ in range(8)]  # the same image, cropped and flipped at random
    assert all(draw.shape == (3, 32, 32) for draw in draws)
    assert any(not torch.equal(draws[0], draw) for draw in draws[1:])
    zero = (-torch.tensor(CIFAR10_MEAN) / torch.tensor(CIFAR10_STD)).view(3, 1, 1)  # a padded pixel, normalised
    assert any(bool((draw == zero).all(dim=0).any()) for draw in draws)  # some crop reaches into the padding


# ---------------------------------------------------------------- lock-step equivalence
# The source trains itself: it is the reference, and the transplant made nothing of it.
# Its transplant to another form must take the same steps, and end with the same tensors.


def resnet_1x16d(form: str) -> ResNeXt:
    """small_resnext with one path per block (C = 1, a ResNet): the path is the whole block."""
    return ResNeXt((1, 1, 1), cardinality=1, width=16, form=form, num_classes=10, stem="cifar", base_channels=64)


def one_block(form: str) -> ResNeXtBlock:
    """A single block, trained with a cross-entropy per output pixel (its 32 channels as logits)."""
    return build(BlockSpec(16, 32, cardinality=4, width=4, stride=2), form)


MODELS = {"resnext-4x4d": small_resnext, "resnet-1x16d": resnet_1x16d, "block": one_block}
# Every model in train mode, and small_resnext also with the BNs after the 3x3s frozen (eval mode,
# no gradients) as when fine-tuning: the transplant must keep them frozen, or the target takes other steps.
LOCKSTEP_CASES = [
    ("resnext-4x4d", "train"),
    ("resnext-4x4d", "train-frozen-bn2"),
    ("resnet-1x16d", "train"),
    ("block", "train"),
]


@functools.cache
def six_digit_batches() -> tuple[tuple[torch.Tensor, torch.Tensor], ...]:
    torch.manual_seed(0)
    return tuple((images, labels) for images, labels in itertools.islice(data_loaders("digits", batch_size=16)[0], 6))


@functools.cache
def six_pixel_batches() -> tuple[tuple[torch.Tensor, torch.Tensor], ...]:
    """For :func:`one_block`: random (16, 16, 8, 8) inputs, a class out of 32 for each of the 4x4 output pixels."""
    generator = torch.Generator().manual_seed(0)
    return tuple(
        (torch.randn(16, 16, 8, 8, generator=generator), torch.randint(0, 32, (16, 4, 4), generator=generator))
        for _ in range(6)
    )


@pytest.fixture
def digit_batches() -> tuple[tuple[torch.Tensor, torch.Tensor], ...]:
    return six_digit_batches()


def train_steps(net: torch.nn.Module, batches: tuple) -> list[float]:
    """One SGD step per batch (the default recipe) on ``net`` itself; the loss of every step."""
    optimiser = SGDRecipe().optimiser(net)
    return [sgd_step(net, optimiser, images, labels)[1] for images, labels in batches]


def blocks_of(net: torch.nn.Module) -> list[ResNeXtBlock]:
    return [net] if isinstance(net, ResNeXtBlock) else [block for stage in net.stages for block in stage]


@dataclass(frozen=True)
class Run:
    """A source and its transplant, each trained on the same batches."""

    source: torch.nn.Module
    target: torch.nn.Module
    batches: tuple
    source_losses: list[float]
    target_losses: list[float]


@functools.cache  # each run once, however pytest orders the tests that read it (they do not change it)
def lockstep_run(model: str, mode: str, source_form: str, target_form: str) -> Run:
    batches = six_pixel_batches() if model == "block" else six_digit_batches()
    torch.manual_seed(0)
    source = in_mode(MODELS[model](source_form).double(), mode)
    target = transplant(source, target_form)
    assert form_of(target) == target_form
    return Run(source, target, batches, train_steps(source, batches), train_steps(target, batches))


@pytest.fixture(
    params=[(case, direction) for case in LOCKSTEP_CASES for direction in DIRECTIONS],
    ids=lambda param: f"{'-'.join(param[0])}-{direction_id(param[1])}",
)
def lockstep(request: pytest.FixtureRequest) -> Run:
    (model, mode), (source_form, target_form) = request.param
    return lockstep_run(model, mode, source_form, target_form)


def test_float64_losses_agree_at_every_step(lockstep: Run) -> None:
    errors = [abs(mine - ref) / ref for mine, ref in zip(lockstep.target_losses, lockstep.source_losses)]
    assert len(errors) == 6
    assert max(errors) <= FP64_LOSS_RTOL, errors
    assert lockstep.source_losses[-1] < lockstep.source_losses[0]  # it is learning


def test_float64_final_tensors_agree(lockstep: Run) -> None:
    # Every block's tensors by path (parameters, BN statistics and counters), read from each form by hand,
    # and every tensor outside the blocks (stem, classifier) by name.
    for target_block, source_block in zip(blocks_of(lockstep.target), blocks_of(lockstep.source), strict=True):
        assert_agree(tensors_by_path(target_block), tensors_by_path(source_block), FP64_WEIGHT_RTOL)
    source_state, target_state = lockstep.source.state_dict(), lockstep.target.state_dict()
    outside = (
        {}
        if isinstance(lockstep.source, ResNeXtBlock)
        else {key: tensor for key, tensor in source_state.items() if not key.startswith("layer")}
    )
    assert_agree({key: target_state[key] for key in outside}, outside, FP64_WEIGHT_RTOL)


def test_trained_networks_agree_in_eval_mode(lockstep: Run) -> None:
    # Validation: every BN now normalises with the running statistics that training left.
    images = lockstep.batches[0][0].double()
    source, target = (copy.deepcopy(net).eval() for net in (lockstep.source, lockstep.target))  # the fixture's stay
    with torch.no_grad():
        assert relative_error(target(images), source(images)) <= FP64_WEIGHT_RTOL


def test_train_in_lockstep_reports_the_untouched_network(digit_batches: tuple) -> None:
    torch.manual_seed(0)
    net = small_resnext().double()
    result = train_in_lockstep(net, digit_batches)
    own_losses = train_steps(net, digit_batches)  # the network itself, trained after the lock-step run
    assert result.losses["c"] == own_losses  # its own form: a copy, bit for bit the same steps
    for form in "ab":
        assert max(result.loss_errors(form)) <= FP64_LOSS_RTOL
        assert result.weight_errors[form] <= FP64_WEIGHT_RTOL


def test_float32_rounding_exceeds_the_float64_bound(digit_batches: tuple) -> None:
    # The bounds above are not vacuous: float32 rounding alone already breaks them.
    torch.manual_seed(0)
    result = train_in_lockstep(small_resnext(), digit_batches[:4], forms=("a",))
    assert set(result.losses) == {"a", "c"}
    assert max(result.loss_errors("a")) > FP64_LOSS_RTOL
    assert result.weight_errors["a"] > FP64_WEIGHT_RTOL


def test_lockstep_leaves_the_network_unchanged(digit_batches: tuple) -> None:
    torch.manual_seed(0)
    net = small_resnext("b").double()
    before = {key: value.clone() for key, value in net.state_dict().items()}
    train_in_lockstep(net, digit_batches[:1], forms=("b",))
    assert all(torch.equal(before[key], value) for key, value in net.state_dict().items())


# ---------------------------------------------------------------- the training loop


def _tiny_run(tmp_path: Path, cosine: bool = False) -> tuple[object, Path]:
    train_set, val_set = digits_datasets()
    train_loader = DataLoader(Subset(train_set, range(96)), batch_size=32, shuffle=True)
    val_loader = DataLoader(Subset(val_set, range(64)), batch_size=64)
    torch.manual_seed(0)
    net = ResNeXt((1,), cardinality=2, width=2, num_classes=10, stem="cifar", base_channels=8)
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


def test_cli_trains_and_writes_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csv_path = tmp_path / "run.csv"
    assert main(["train", "--form", "b", "--epochs", "1", "--no-progress", "--csv", str(csv_path)]) == 0
    out = capsys.readouterr().out
    assert "form (b), digits: 1438 training and 359 validation images" in out and "val acc" in out
    with open(csv_path, newline="") as file:
        assert [row["epoch"] for row in csv.DictReader(file)] == ["1"]


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


@pytest.mark.parametrize(("change", "error", "message"), BAD_TRAIN_ARGUMENTS.values(), ids=BAD_TRAIN_ARGUMENTS.keys())
def test_train_names_a_bad_argument(
    loader: DataLoader, change: dict[str, object], error: type[Exception], message: str
) -> None:
    arguments = {"net": small_resnext(), "train_loader": loader, "epochs": 1, "progress": False} | change
    with pytest.raises(error, match=message):
        blocks.train(**arguments)  # type: ignore[arg-type]


@pytest.mark.parametrize("net", NOT_MODULES, ids=NOT_MODULE_IDS)
def test_train_of_a_non_module_is_a_type_error(loader: DataLoader, net: object) -> None:
    with pytest.raises(TypeError, match=f"net must be a torch.nn.Module, got {type(net).__name__}"):
        blocks.train(net, loader, epochs=1, progress=False)  # type: ignore[arg-type]


@pytest.mark.parametrize("seed", [2**64, -(2**63) - 1, 1.5, "0", None], ids=repr)
def test_data_loaders_seed_must_be_an_int_in_range(seed: object) -> None:
    with pytest.raises(ValueError, match=r"seed must be an int from -2\*\*63 to 2\*\*64 - 1"):
        blocks.data_loaders("digits", seed=seed)  # type: ignore[arg-type]


@pytest.mark.parametrize("seed", [-(2**63), 2**64 - 1], ids=["lowest", "highest"])
def test_data_loaders_seed_at_the_ends_of_the_range(seed: int) -> None:
    train_loader, val_loader = blocks.data_loaders("digits", seed=seed)
    assert len(train_loader.dataset) + len(val_loader.dataset) == 1797  # scikit-learn's digits
