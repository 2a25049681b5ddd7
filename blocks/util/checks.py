"""Checks of the tooling's arguments that are not a block's numbers: modules, seeds, output paths.

Each check runs before any work, so that a bad argument costs nothing: a training run
that would fail to write its CSV after an epoch, or a benchmark that would fail to
write its results after five minutes, fails at once with a sentence naming the
argument. (A block's own numbers are checked by :class:`blocks.BlockSpec`.)
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from torch import nn

# The seeds torch.manual_seed and torch.Generator.manual_seed accept (a negative seed
# is mapped to 2**64 + seed by torch).
SEED_RANGE = (-(2**63), 2**64 - 1)


def check_module(name: str, value: object) -> nn.Module:
    """Return ``value`` if it is a ``torch.nn.Module``, else raise TypeError naming ``name`` and the type.

    Example:
        >>> check_module("net", "resnext50")
        Traceback (most recent call last):
        TypeError: net must be a torch.nn.Module, got str
    """
    if not isinstance(value, nn.Module):
        raise TypeError(f"{name} must be a torch.nn.Module, got {type(value).__name__}")
    return value


def check_seed(name: str, value: object) -> int:
    """Return ``value`` if torch can seed with it (an int in :data:`SEED_RANGE`), else raise ValueError.

    Example:
        >>> check_seed("seed", 2**64)
        Traceback (most recent call last):
        ValueError: seed must be an int from -2**63 to 2**64 - 1, got 18446744073709551616
    """
    if type(value) is not int or not SEED_RANGE[0] <= value <= SEED_RANGE[1]:
        raise ValueError(f"{name} must be an int from -2**63 to 2**64 - 1, got {value!r}")
    return value


def writable_folder(name: str, path: object) -> Path:
    """Check that files can be written into the folder ``path``, or that it can be made; nothing is changed.

    The writer makes the folder when it writes (as :func:`blocks.figures.style.save_figure` does).

    Args:
        name: the argument's name, for the error message (e.g. ``"--out"``).
        path: the folder; it may be missing, if a folder above it can be written into.

    Returns:
        ``path`` as a ``Path``.

    Raises:
        TypeError: ``path`` is not a str or ``os.PathLike`` of str.
        ValueError: ``path`` or a folder above it is a file, or the folder (or the nearest
            existing one above it) cannot be written into; the message names ``name``, the
            path and the reason.

    Example:
        >>> writable_folder("--out", "/etc/passwd")
        Traceback (most recent call last):
        ValueError: --out must be a folder to write into, but '/etc/passwd' is a file
    """
    folder = _as_path(name, path)
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"{name} must be a folder to write into, but {str(folder)!r} is a file")
    existing = next(p for p in (folder, *folder.parents) if p.exists())  # the root "/" always exists
    if not existing.is_dir():
        raise ValueError(f"{name}: cannot make the folder {str(folder)!r}: {str(existing)!r} is a file")
    try:  # the real test (root ignores permission bits, a read-only mount does not): a file made and deleted
        with tempfile.NamedTemporaryFile(dir=existing):
            pass
    except OSError as error:
        where = "" if existing == folder else f"; it would be made in {str(existing)!r}"
        raise ValueError(f"{name}: cannot write into the folder {str(folder)!r}{where} ({_reason(error)})") from error
    return folder


def writable_file(name: str, path: object) -> Path:
    """Check that the file ``path`` can be (re)written, its folder made if missing; nothing is changed.

    Args:
        name: the argument's name, for the error message (e.g. ``"csv_path"``).
        path: the file.

    Returns:
        ``path`` as a ``Path``.

    Raises:
        TypeError: ``path`` is not a str or ``os.PathLike`` of str.
        ValueError: ``path`` is a folder or something other than a regular file
            (a FIFO, a device), an existing file that cannot be written, or its folder
            cannot be made or written into (see :func:`writable_folder`); the message
            names ``name``, the path and the reason.

    Example:
        >>> writable_file("--csv", "/tmp")
        Traceback (most recent call last):
        ValueError: --csv must be a file, but '/tmp' is a folder
    """
    file = _as_path(name, path)
    if file.is_dir():
        raise ValueError(f"{name} must be a file, but {str(file)!r} is a folder")
    if file.parent.exists() and not file.parent.is_dir():
        raise ValueError(f"{name}: cannot make the folder {str(file.parent)!r}: {str(file.parent)!r} is a file")
    writable_folder(name, file.parent)
    if file.exists():
        mode = file.stat().st_mode
        if not stat.S_ISREG(mode):  # opening a FIFO for writing would wait for a reader
            raise ValueError(f"{name} must be a regular file, but {str(file)!r} is {file_kind(mode)}")
        if not os.access(file, os.W_OK):
            raise ValueError(f"{name}: cannot write the file {str(file)!r} (permission denied)")
    return file


def _as_path(name: str, path: object) -> Path:
    if isinstance(path, os.PathLike):
        path = os.fspath(path)
    if not isinstance(path, str):
        raise TypeError(f"{name} must be a str or os.PathLike path, got {type(path).__name__}")
    return Path(path)


def _reason(error: OSError) -> str:
    return error.strerror or type(error).__name__


def file_kind(mode: int) -> str:
    """What a file that is not a regular one is, in words, from its ``st_mode`` (e.g. ``"a FIFO"``)."""
    kinds = (
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    )
    return next((text for test, text in kinds if test(mode)), "not a regular file")
