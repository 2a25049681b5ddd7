"""blocks.training.data: digits and CIFAR-10, offline, with every failure named and nothing downloaded."""

from __future__ import annotations

import pickle
import urllib.error
from pathlib import Path

import numpy as np
import pytest
import torch

import blocks
from blocks import data_loaders
from blocks.training.data import CIFAR10_FILES, CIFAR10_FOLDER, CIFAR10_MEAN, CIFAR10_STD, CIFAR10_URL, digits_datasets

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


# Bad input, nothing lost (issue 19's hostile-user list, one row per test): a clear error naming the
# argument and the value, never a raw internal, and where the call would change something, nothing changed.


@pytest.mark.mutation  # a hostile-user row: in make mutants' selection as all of them are
@pytest.mark.parametrize("seed", [2**64, -(2**63) - 1, 1.5, "0", None], ids=repr)
def test_data_loaders_seed_must_be_an_int_in_range(seed: object) -> None:
    with pytest.raises(ValueError, match=r"seed must be an int from -2\*\*63 to 2\*\*64 - 1"):
        blocks.data_loaders("digits", seed=seed)  # type: ignore[arg-type]


@pytest.mark.mutation  # a hostile-user row: in make mutants' selection as all of them are
@pytest.mark.parametrize("seed", [-(2**63), 2**64 - 1], ids=["lowest", "highest"])
def test_data_loaders_seed_at_the_ends_of_the_range(seed: int) -> None:
    train_loader, val_loader = blocks.data_loaders("digits", seed=seed)
    assert len(train_loader.dataset) + len(val_loader.dataset) == 1797  # scikit-learn's digits


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"root": None}, r"^root must be a folder's path \(a str or os.PathLike\), got NoneType None$"),
        ({"root": 3}, r"^root must be a folder's path \(a str or os.PathLike\), got int 3$"),
        ({"download": "yes"}, r"^download must be True or False, got str 'yes'$"),
    ],
    ids=["root-None", "root-int", "download-str"],
)
def test_a_root_or_download_that_is_not_one_is_named(arguments: dict, message: str) -> None:
    with pytest.raises(TypeError, match=message):
        data_loaders("cifar10", **arguments)
