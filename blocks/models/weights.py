"""``load_weights``: a checkpoint of any form (torchvision's or ours) into a network of any form."""

from __future__ import annotations

import os
from collections.abc import Mapping

import torch
from torch import Tensor, nn

from blocks.core.canonical import from_canonical, to_canonical
from blocks.core.forms import named_blocks

_WRAPPERS = ("state_dict", "model")


def load_weights(net: nn.Module, path: str | os.PathLike[str]) -> nn.Module:
    """Load a state_dict file into ``net``, converting between block forms as needed.

    The file may come from ``torch.save(model.state_dict(), path)`` of a
    torchvision ResNet/ResNeXt, or of a network or block of this package in any
    form. Each block's tensors are gathered into the canonical layout (see
    :mod:`blocks.core.canonical`) and cut for ``net``'s form; other tensors load by name.
    The file is read with ``torch.load(..., weights_only=True)``: it cannot run code.

    Args:
        net: the network (or block) to fill; changed in place only if everything fits.
        path: the checkpoint file.

    Returns:
        ``net``, with the checkpoint's weights.

    Raises:
        ValueError: the file holds no state_dict, or a key is missing, unexpected or
            of the wrong shape; the message names the first such key (with both
            shapes), and ``net`` is left untouched.

    Example:
        >>> torch.save(torchvision.models.resnext50_32x4d().state_dict(), "r50.pth")
        >>> net = load_weights(resnext(50, 32, 4, form="a"), "r50.pth")
    """
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    for wrapper in _WRAPPERS:
        if isinstance(checkpoint, Mapping) and set(checkpoint) == {wrapper}:
            checkpoint = checkpoint[wrapper]
    if not isinstance(checkpoint, Mapping) or not all(isinstance(v, Tensor) for v in checkpoint.values()):
        raise ValueError(f"load_weights: {os.fspath(path)!r} does not hold a state_dict of tensors")
    net.load_state_dict(convert_state_dict(checkpoint, net), strict=True)
    return net


def convert_state_dict(checkpoint: Mapping[str, Tensor], net: nn.Module) -> dict[str, Tensor]:
    """``checkpoint``'s tensors, keyed and cut as ``net.state_dict()`` is (see :func:`load_weights`).

    Keys are checked in ``net.state_dict()`` order, so an error names the first bad one.
    """
    target = net.state_dict()
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
        have = to_canonical(given, where=prefix or "block")
        _check(have, to_canonical(needed), prefix, exhaustive=True)
        for name, tensor in from_canonical(have, list(needed), blocks[prefix].spec.width).items():
            converted[_join(prefix, name)] = tensor
        used.update(_join(prefix, name) for name in given)
    for key in checkpoint:
        if key not in used:
            raise ValueError(f"load_weights: the checkpoint has {key!r}, which the network does not")
    return converted


def _owns(prefix: str, key: str) -> bool:
    return prefix == "" or key.startswith(prefix + ".")


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def _under(state: Mapping[str, Tensor], prefix: str) -> dict[str, Tensor]:
    """The entries of ``state`` below ``prefix``, with the prefix removed."""
    start = len(prefix) + 1 if prefix else 0
    return {key[start:]: tensor for key, tensor in state.items() if _owns(prefix, key)}


def _check(have: Mapping[str, Tensor], needed: Mapping[str, Tensor], prefix: str, exhaustive: bool = False) -> None:
    """Raise ValueError at the first key of ``needed`` that ``have`` lacks or has in another shape.

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
    for key in have if exhaustive else ():
        if key not in needed:
            raise ValueError(f"load_weights: the checkpoint has {_join(prefix, key)!r}, which the network does not")
