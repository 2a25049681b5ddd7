"""``load_weights``: a checkpoint of any form (torchvision's or ours) into a network of any form."""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Collection, Mapping

import torch
from torch import Tensor, nn

from blocks.core.canonical import from_canonical, to_canonical
from blocks.core.forms import named_blocks
from blocks.util.checks import check_module, file_kind

# A training checkpoint keeps the weights under one of these keys, beside others (epoch, optimizer, …).
WRAPPERS = ("state_dict", "model", "model_state_dict")
# Prefixes that wrappers add to every key: DataParallel / DistributedDataParallel, torch.compile.
PREFIXES = ("module.", "_orig_mod.")
_ZIP_MAGIC = b"PK\x03\x04"  # torch.save writes a zip archive
_UNSUPPORTED_GLOBAL = re.compile(r"Unsupported global: GLOBAL (\S+)")
_HEAD_BYTES = 64  # what a file that torch.load cannot read is judged by: text or binary
_SHOWN_KEYS = 10  # top-level keys listed when a checkpoint holds no state_dict


def load_weights(net: nn.Module, path: str | os.PathLike[str]) -> nn.Module:
    """Load a state_dict file into ``net``, converting between block forms as needed.

    The file may come from ``torch.save(model.state_dict(), path)`` of a
    torchvision ResNet/ResNeXt, or of a network or block of this package in any
    form. Each block's tensors are gathered into the canonical layout (see
    :mod:`blocks.core.canonical`) and cut for ``net``'s form; other tensors load by name.
    The file is read with ``torch.load(..., weights_only=True)``: it cannot run code.

    Checkpoints as training scripts save them are unwrapped: a dict holding the
    state_dict under ``"state_dict"``, ``"model"`` or ``"model_state_dict"`` beside
    other entries (epoch, optimizer, …), whose other entries are ignored; and keys
    prefixed ``module.`` (``DataParallel``, ``DistributedDataParallel``) or
    ``_orig_mod.`` (``torch.compile``), prefixes that ``net``'s own keys lack.

    Everything is checked before the first tensor is copied, so a failure leaves
    ``net`` as it was: every key and shape, and every tensor is dense, holds values
    (not on the meta device), is finite, and is of the same kind as ``net``'s
    (floating point, integer, …; a float64 file loads into a float32 net, cast).
    ``net`` may be on the meta device (built under ``with torch.device("meta"):``):
    its tensors are then replaced by the file's, on the CPU, in ``net``'s dtypes.

    Args:
        net: the network (or block) to fill; changed in place only if everything fits.
        path: the checkpoint file.

    Returns:
        ``net``, with the checkpoint's weights.

    Raises:
        TypeError: ``net`` is not a module, or ``path`` is not a str or ``os.PathLike``.
        ValueError: ``path`` is missing, not a regular file, empty or not a checkpoint
            that ``torch.load`` reads safely (the message says what was found); it holds
            no state_dict (the message lists its top-level keys); or a key is missing,
            unexpected, of the wrong shape or holds an unusable tensor. The message
            names the path or the first such key (with both shapes); ``net`` is left untouched.

    Example:
        >>> torch.save(torchvision.models.resnext50_32x4d().state_dict(), "r50.pth")
        >>> net = load_weights(resnext(50, 32, 4, form="a"), "r50.pth")
    """
    check_module("net", net)
    file = _checked_path(path)
    state = _unwrapped(_read(file), file, net.state_dict().keys())
    converted = convert_state_dict(state, net)
    target = net.state_dict()
    if any(tensor.is_meta for tensor in target.values()):  # nothing to copy into: put the file's tensors in place
        for key, tensor in converted.items():
            like = target[key]
            converted[key] = tensor.to(device="cpu" if like.is_meta else like.device, dtype=like.dtype)
        net.load_state_dict(converted, strict=True, assign=True)
    else:
        net.load_state_dict(converted, strict=True)  # everything was checked: this copy cannot fail half-way
    return net


def convert_state_dict(checkpoint: Mapping[str, Tensor], net: nn.Module) -> dict[str, Tensor]:
    """``checkpoint``'s tensors, keyed and cut as ``net.state_dict()`` is (see :func:`load_weights`).

    Keys are checked in ``net.state_dict()`` order, so an error names the first bad one.

    Raises:
        ValueError: a key is missing, unexpected or of the wrong shape, or a tensor
            is sparse, on the meta device, not finite, or of another kind than ``net``'s.
    """
    target = net.state_dict()
    # Before any tensor is read or cut: a checkpoint tensor can be an expanded view (stride 0) whose
    # shape asks for terabytes. None can hold more values than the whole network; then its values.
    room = sum(t.numel() for t in target.values())
    for key, tensor in checkpoint.items():
        if tensor.numel() > room:
            raise ValueError(
                f"load_weights: {key!r} has shape {tuple(tensor.shape)} in the checkpoint ({tensor.numel():,} values),"
                f" more than the whole network holds ({room:,}); it cannot be one of its tensors"
            )
    for key, tensor in checkpoint.items():
        _check_values(key, tensor)
    blocks = dict(named_blocks(net))
    converted: dict[str, Tensor] = {}
    used: set[str] = set()
    for key, like in target.items():
        if key in converted:
            continue
        prefix = next((p for p in blocks if _owns(p, key)), None)
        if prefix is None:  # not in a block: the same name in every form
            _check(checkpoint, {key: like}, "")
            converted[key] = checkpoint[key]
            used.add(key)
            continue
        needed = _under(target, prefix)
        given = _under(checkpoint, prefix)
        try:
            have = to_canonical(given, where=prefix or "block")
        except RuntimeError as error:  # torch.cat of per-path pieces that do not fit together
            raise ValueError(f"load_weights: the checkpoint's paths of block {prefix!r} do not fit together") from error
        _check(have, to_canonical(needed), prefix, exhaustive=True)
        for name, tensor in from_canonical(have, list(needed), blocks[prefix].spec.width).items():
            converted[_join(prefix, name)] = tensor
        used.update(_join(prefix, name) for name in given)
    for key in checkpoint:
        if key not in used:
            raise ValueError(f"load_weights: the checkpoint has {key!r}, which the network does not")
    for key, tensor in converted.items():
        if tensor.shape != target[key].shape:  # a block changed after it was built: cut differently than it holds
            raise ValueError(
                f"load_weights: {key!r} comes out of the checkpoint as {tuple(tensor.shape)},"
                f" but the network holds {tuple(target[key].shape)}"
            )
    return converted


def _checked_path(path: object) -> str:
    """``path`` as a str, if it names a regular, non-empty file; else TypeError or ValueError."""
    if isinstance(path, os.PathLike):
        path = os.fspath(path)
    if not isinstance(path, str):  # an int would be read as an open file descriptor, bytes are not a name we print
        raise TypeError(f"load_weights: path must be a str or os.PathLike, got {type(path).__name__} {path!r}")
    try:
        status = os.stat(path)
    except FileNotFoundError as error:
        raise ValueError(f"load_weights: {path!r} is not there: no such file") from error
    except OSError as error:
        raise ValueError(f"load_weights: cannot read {path!r} ({error.strerror})") from error
    if not stat.S_ISREG(status.st_mode):  # checked before opening: reading a FIFO would wait for a writer
        raise ValueError(f"load_weights: {path!r} is {file_kind(status.st_mode)}, not a checkpoint file")
    if status.st_size == 0:
        raise ValueError(f"load_weights: {path!r} is an empty file, not a checkpoint")
    return path


def _read(path: str) -> object:
    """``torch.load(path, weights_only=True)``, its many failures turned into one sentence each."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except OSError as error:
        raise ValueError(f"load_weights: cannot read {path!r} ({error.strerror})") from error
    except Exception as error:  # torch.load fails with EOFError, KeyError, RuntimeError, UnpicklingError, …
        raise ValueError(f"load_weights: {path!r} is {_what_is_in(path, error)}") from error


def _what_is_in(path: str, error: Exception) -> str:
    """What a file that ``torch.load`` could not read holds, in words, for the error message."""
    with open(path, "rb") as file:
        head = file.read(_HEAD_BYTES)
    text = head.decode("utf-8", errors="replace")
    if len(head) == _HEAD_BYTES:  # the file goes on: its last character may be cut in two
        text = text[:-1]
    if all(c.isprintable() or c.isspace() for c in text) and "\ufffd" not in text:
        return f"a text file, not a torch.save checkpoint (it begins {text[:20]!r})"
    unsupported = _UNSUPPORTED_GLOBAL.search(str(error))
    if unsupported:
        return (
            f"a pickled {unsupported[1]}, not a state_dict of tensors; a weights-only load does not"
            " run code to rebuild it (save model.state_dict() instead)"
        )
    if head.startswith(_ZIP_MAGIC):
        return "a zip archive that is not a whole torch.save checkpoint (truncated, corrupted, or another program's)"
    return "binary data, not a torch.save checkpoint (truncated, corrupted, or another format)"


def _unwrapped(checkpoint: object, path: str, net_keys: Collection[str]) -> dict[str, Tensor]:
    """The state_dict in ``checkpoint`` (see :func:`load_weights` for the wrappers), keys without wrapper prefixes."""
    if isinstance(checkpoint, Mapping) and not _is_state_dict(checkpoint):
        wrapper = next((w for w in WRAPPERS if _is_state_dict(checkpoint.get(w))), None)
        if wrapper is None:
            keys = [str(key) for key in checkpoint][:_SHOWN_KEYS]
            more = f" and {len(checkpoint) - _SHOWN_KEYS} more" if len(checkpoint) > _SHOWN_KEYS else ""
            raise ValueError(
                f"load_weights: {path!r} holds no state_dict of tensors, nor one under"
                f" {' or '.join(repr(w) for w in WRAPPERS)}; its top-level keys are {keys}{more}"
            )
        checkpoint = checkpoint[wrapper]
    if not isinstance(checkpoint, Mapping) or not _is_state_dict(checkpoint):
        raise ValueError(
            f"load_weights: {path!r} holds a {type(checkpoint).__name__}, not a state_dict"
            " (a dict of tensors keyed by name)"
        )
    state = dict(checkpoint)
    stripped = True
    while stripped:  # DataParallel inside torch.compile gives "_orig_mod.module."
        stripped = False
        for prefix in PREFIXES:
            if state and all(k.startswith(prefix) for k in state) and not all(k.startswith(prefix) for k in net_keys):
                state = {key.removeprefix(prefix): tensor for key, tensor in state.items()}
                stripped = True
    return state


def _is_state_dict(value: object) -> bool:
    return (
        isinstance(value, Mapping)
        and len(value) > 0
        and all(isinstance(k, str) and isinstance(v, Tensor) for k, v in value.items())
    )


def _check_values(key: str, tensor: Tensor) -> None:
    """Raise ValueError unless ``tensor`` is dense, holds values and (if floating point) is finite."""
    if tensor.layout != torch.strided:
        raise ValueError(f"load_weights: {key!r} is a {tensor.layout} tensor in the checkpoint; only dense ones load")
    if tensor.is_meta:
        raise ValueError(f"load_weights: {key!r} is on the meta device in the checkpoint: it holds no values")
    if (tensor.is_floating_point() or tensor.is_complex()) and not torch.isfinite(tensor).all():
        raise ValueError(f"load_weights: {key!r} holds NaN or infinite values in the checkpoint")


def _kind(dtype: torch.dtype) -> str:
    """The kind of values a dtype holds: what a load may convert within, never across."""
    if dtype.is_complex:
        return "complex"
    if dtype.is_floating_point:
        return "floating-point"
    return "boolean" if dtype == torch.bool else "integer"


def _owns(prefix: str, key: str) -> bool:
    return prefix == "" or key.startswith(prefix + ".")


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def _under(state: Mapping[str, Tensor], prefix: str) -> dict[str, Tensor]:
    """The entries of ``state`` below ``prefix``, with the prefix removed."""
    start = len(prefix) + 1 if prefix else 0
    return {key[start:]: tensor for key, tensor in state.items() if _owns(prefix, key)}


def _check(have: Mapping[str, Tensor], needed: Mapping[str, Tensor], prefix: str, exhaustive: bool = False) -> None:
    """Raise ValueError at the first key of ``needed`` that ``have`` lacks or has in another shape or kind of dtype.

    With ``exhaustive``, also at the first key of ``have`` that ``needed`` does not know.
    """
    for key, like in needed.items():
        name = _join(prefix, key)
        if key not in have:
            raise ValueError(f"load_weights: the checkpoint lacks {name!r} (shape {tuple(like.shape)})")
        if have[key].shape != like.shape:
            raise ValueError(
                f"load_weights: {name!r} has shape {tuple(have[key].shape)} in the checkpoint,"
                f" but the network needs {tuple(like.shape)}"
            )
        if _kind(have[key].dtype) != _kind(like.dtype):
            raise ValueError(
                f"load_weights: {name!r} is {have[key].dtype} in the checkpoint, but the network holds"
                f" {like.dtype} there ({_kind(like.dtype)} values)"
            )
    for key in have if exhaustive else ():
        if key not in needed:
            raise ValueError(f"load_weights: the checkpoint has {_join(prefix, key)!r}, which the network does not")
