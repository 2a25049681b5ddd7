"""The data for the training lesson: handwritten digits offline, or CIFAR-10 from a folder.

``digits`` (the default) is scikit-learn's bundled copy of the UCI handwritten
digits: 1,797 real 8x8 grey images of the digits 0-9, shipped inside the
scikit-learn package, so it needs no network. Pixels are scaled from 0…16 to
[0, 1] and the grey channel is repeated three times, because the CIFAR stem of
:class:`blocks.ResNeXt` takes RGB input; 8x8 is small but the CIFAR stem has no
pooling, so the three stages see 8x8, 4x4 and 2x2 maps. A seeded permutation
splits the images into training and validation sets.

``cifar10`` is read by ``torchvision.datasets.CIFAR10`` from ``root/cifar-10-batches-py``
(the unpacked ``cifar-10-python.tar.gz``). Nothing is downloaded unless the caller
asks (``download=True``, ``--download`` on the command line). Training images get
the standard augmentation of the ResNet/ResNeXt CIFAR experiments (a random 32x32
crop of the image padded by 4, a random horizontal flip), all images the per-channel
normalisation; the 10,000 test images serve as the validation set.

scikit-learn and torchvision are optional dependencies (``pip install -e ".[dev]"``),
imported only by the functions that need them.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset, TensorDataset

from blocks.core.spec import check_positive_int
from blocks.util.checks import check_seed

DATASETS = ("digits", "cifar10")
DIGITS_SIZE = 8  # the digits' native height and width
DIGITS_LEVELS = 16  # digit pixels are integers 0 … 16

# Per-channel mean and standard deviation of CIFAR-10's 50,000 training images.
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)
CIFAR10_FOLDER = "cifar-10-batches-py"  # what cifar-10-python.tar.gz unpacks to
CIFAR10_FILES = (
    "data_batch_1",
    "data_batch_2",
    "data_batch_3",
    "data_batch_4",
    "data_batch_5",
    "test_batch",
    "batches.meta",
)
CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar.html"


def digits_datasets(
    size: int = DIGITS_SIZE, validation_fraction: float = 0.2, seed: int = 0
) -> tuple[TensorDataset, TensorDataset]:
    """scikit-learn's handwritten digits as (training, validation) image datasets.

    Args:
        size: height and width of the images; 8 keeps the native pixels, a larger
            size repeats each pixel (nearest-neighbour upsampling, no invented values).
        validation_fraction: share of the 1,797 images held out for validation.
        seed: seeds the permutation that splits the images; the same seed gives the same split.

    Returns:
        Two ``TensorDataset`` of (image, label): images (3, size, size) float32 in
        [0, 1], labels int64 in 0 … 9.

    Raises:
        ValueError: ``size`` below 8, ``validation_fraction`` outside (0, 1), or ``seed``
            not an int that torch can seed with (see :data:`blocks.util.checks.SEED_RANGE`).

    Example:
        >>> train, val = digits_datasets()
        >>> len(train), len(val), tuple(train[0][0].shape)
        (1438, 359, (3, 8, 8))
    """
    from sklearn.datasets import load_digits  # optional dependency, bundled data: no download

    if type(size) is not int or size < DIGITS_SIZE:
        raise ValueError(f"size must be an int of at least {DIGITS_SIZE}, got {size!r}")
    check_seed("seed", seed)
    if isinstance(validation_fraction, bool) or not isinstance(validation_fraction, (int, float)):
        raise ValueError(f"validation_fraction must be in (0, 1), got {validation_fraction!r}")
    if not 0.0 < validation_fraction < 1.0:
        raise ValueError(f"validation_fraction must be in (0, 1), got {validation_fraction!r}")
    digits = load_digits()
    images = torch.tensor(digits.images, dtype=torch.float32) / DIGITS_LEVELS  # (N, 8, 8) in [0, 1]
    images = images.unsqueeze(1).expand(-1, 3, -1, -1)  # (N, 3, 8, 8): grey as RGB for the stem
    images = F.interpolate(images, size=size, mode="nearest")  # (N, 3, size, size)
    labels = torch.tensor(digits.target, dtype=torch.int64)  # (N,)
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))
    held_out = round(validation_fraction * len(labels))
    val, train = order[:held_out], order[held_out:]
    return TensorDataset(images[train], labels[train]), TensorDataset(images[val], labels[val])


def cifar10_datasets(root: str | os.PathLike[str], download: bool = False) -> tuple[Dataset, Dataset]:
    """CIFAR-10 as (training, validation) datasets, read from ``root/cifar-10-batches-py``.

    Args:
        root: the folder that holds (or, with ``download``, will hold) ``cifar-10-batches-py``.
        download: fetch the 163 MB archive from the authors' site first if it is missing.

    Returns:
        The 50,000 training images (random crop with padding 4, random horizontal
        flip, normalisation) and the 10,000 test images (normalisation only), each
        item an image (3, 32, 32) float32 and an int label.

    Raises:
        FileNotFoundError: ``download`` is False and a file of the data set is missing;
            the message names the folder and how to get the data.
        ConnectionError: ``download`` is True and the download failed (no network, …);
            the message says how to get the data by hand.
        ValueError: the folder's files are there but damaged (a checksum or their format).
    """
    from torchvision import datasets, transforms  # optional dependency

    folder = Path(root) / CIFAR10_FOLDER
    by_hand = f"unpack cifar-10-python.tar.gz from {CIFAR10_URL} into {os.fspath(root)!r}"
    missing = [name for name in CIFAR10_FILES if not (folder / name).is_file()]
    if missing and not download:
        raise FileNotFoundError(
            f"CIFAR-10 is not in {str(folder)!r} (missing {', '.join(missing)}). Download it with"
            f" `python -m blocks train --data cifar10 --data-root {os.fspath(root)} --download`"
            f" (download=True in Python), or {by_hand}."
        )
    if download:  # fetches and unpacks the archive unless every file is there with its checksum
        try:
            datasets.CIFAR10(root, train=False, download=True)
        except (OSError, RuntimeError) as error:  # no network (URLError), a full disk, a corrupted download
            reason = getattr(error, "reason", None) or error
            raise ConnectionError(
                f"could not download CIFAR-10 into {os.fspath(root)!r} ({reason}); to get it by hand, {by_hand}"
            ) from error
    normalise = [transforms.ToTensor(), transforms.Normalize(CIFAR10_MEAN, CIFAR10_STD)]
    augment = [transforms.RandomCrop(32, padding=4), transforms.RandomHorizontalFlip()]
    try:
        train = datasets.CIFAR10(root, train=True, transform=transforms.Compose(augment + normalise))
        val = datasets.CIFAR10(root, train=False, transform=transforms.Compose(normalise))
    except Exception as error:  # a checksum, or pickle.load of a damaged file (UnpicklingError, EOFError, KeyError, …)
        raise ValueError(
            f"CIFAR-10 in {str(folder)!r} is corrupted ({_what_is_wrong(folder, error)}); delete the folder"
            f" and download it again with --download (download=True in Python), or {by_hand}"
        ) from error
    return train, val


def _what_is_wrong(folder: Path, error: Exception) -> str:
    """Which files of a CIFAR-10 folder fail torchvision's checksum, or else the error, in a few words."""
    from torchvision.datasets import cifar

    listed = cifar.CIFAR10.train_list + cifar.CIFAR10.test_list
    bad = [name for name, md5 in listed if not cifar.check_integrity(str(folder / name), md5)]
    if bad:
        return f"{', '.join(bad)} fail{'s' if len(bad) == 1 else ''} the data set's MD5 checksum"
    first_line = str(error).splitlines()[0] if str(error) else ""
    return f"{type(error).__name__}: {first_line}" if first_line else type(error).__name__


def data_loaders(
    data: str = "digits",
    *,
    batch_size: int = 64,
    seed: int = 0,
    root: str | os.PathLike[str] = "data",
    download: bool = False,
) -> tuple[DataLoader, DataLoader]:
    """Training and validation loaders for ``"digits"`` or ``"cifar10"``.

    The training loader reshuffles every epoch from PyTorch's global random
    generator (:func:`blocks.train` seeds it), the validation loader keeps its order.

    Args:
        data: ``"digits"`` (offline, the default) or ``"cifar10"`` (from ``root``).
        batch_size: images per batch.
        seed: seeds the digits' training/validation split (CIFAR-10's split is fixed).
        root: the folder that holds CIFAR-10 (ignored for digits).
        download: allow downloading CIFAR-10 into ``root`` (ignored for digits).

    Returns:
        ``(train_loader, val_loader)``, yielding images (B, 3, H, W) float32 and labels (B,) int64.

    Raises:
        ValueError: unknown ``data``, a ``batch_size`` that is not a positive int, a ``seed``
            that is not an int torch can seed with, or a corrupted CIFAR-10 folder.
        TypeError: ``root`` is not a path (``None``, a number), or ``download`` is not a bool.
        FileNotFoundError: CIFAR-10 is missing from ``root`` and ``download`` is False.
        ConnectionError: ``download`` is True and the download failed; the message says
            how to get the data by hand.

    Example:
        >>> train, val = data_loaders("digits", batch_size=32)
        >>> images, labels = next(iter(train)); tuple(images.shape), tuple(labels.shape)
        ((32, 3, 8, 8), (32,))
    """
    if not isinstance(data, str) or data not in DATASETS:
        raise ValueError(f"data must be one of {list(DATASETS)}, got {data!r}")
    check_positive_int("batch_size", batch_size)
    check_seed("seed", seed)
    if not isinstance(root, (str, os.PathLike)):
        raise TypeError(f"root must be a folder's path (a str or os.PathLike), got {type(root).__name__} {root!r}")
    if not isinstance(download, bool):
        raise TypeError(f"download must be True or False, got {type(download).__name__} {download!r}")
    train, val = digits_datasets(seed=seed) if data == "digits" else cifar10_datasets(root, download)
    return DataLoader(train, batch_size, shuffle=True), DataLoader(val, batch_size)
