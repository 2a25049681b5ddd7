"""One description of a block's weights, shared by all three forms.

The canonical layout is form (c)'s state_dict (torchvision's names). Every
tensor of forms (a) and (b) is a slice of a canonical tensor, by two rules:

    canonical tensor       shape            path i of forms (a)/(b) holds
    conv1.weight           (C·d, in, 1, 1)  rows    i·d … (i+1)·d   -> paths.i.conv1.weight
    bn1.*, bn2.*           (C·d,)           entries i·d … (i+1)·d   -> paths.i.bn1.* …
    conv2.weight           (C·d, d, 3, 3)   rows    i·d … (i+1)·d   -> paths.i.conv2.weight
    conv3.weight           (out, C·d, 1, 1) COLUMNS i·d … (i+1)·d   -> paths.i.conv3.weight (form a)

    Rule 1: a tensor under ``paths.i.`` is slice i (of width d) of the canonical
            tensor of the same name, along dim 0, except ``conv3`` (dim 1).
    Rule 2: every other tensor (bn3, downsample, form (b)'s conv3) is the same
            in every form.

The BN counters ``num_batches_tracked`` are scalars: every path holds a copy.
Moving weights between forms is then: gather the pieces into the canonical
tensors, and cut them again for the other form, nothing else.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from functools import cache

import torch
from torch import Tensor, nn

_PATH_KEY = re.compile(r"paths\.(\d+)\.(.+)")


@cache  # the same few hundred keys recur in every block of a network
def _locate(key: str) -> tuple[str, int | None, int]:
    """Where a form's state_dict key lives: (canonical key, path index or None, slice dim)."""
    match = _PATH_KEY.fullmatch(key)
    if match is None:
        return key, None, 0  # rule 2
    name = match[2]
    return name, int(match[1]), 1 if name.startswith("conv3.") else 0  # rule 1


def canonical_name(key: str) -> str:
    """The canonical tensor that a form's state_dict ``key`` is (a slice of)."""
    return _locate(key)[0]


def to_canonical(state: Mapping[str, Tensor], where: str = "block") -> dict[str, Tensor]:
    """Gather a state_dict (or any dict keyed like one, e.g. of gradients) of any form.

    Args:
        state: tensors keyed by a block's state_dict names, of a complete block.
        where: the block's name, for error messages.

    Returns:
        Tensors keyed by form (c)'s names. Tensors of rule 2 are the source's own
        (not copied); gathered ones (the keys not in ``state``) are new.

    Raises:
        ValueError: the path copies of a BN counter disagree, the path indices are
            not 0 … C-1, or a tensor is given both whole and per path.
    """
    pieces: dict[str, dict[int | None, tuple[int, Tensor]]] = {}
    for key, tensor in state.items():
        name, path, dim = _locate(key)
        pieces.setdefault(name, {})[path] = (dim, tensor)
    canonical = {}
    for name, by_path in pieces.items():
        if None in by_path:
            if len(by_path) > 1:
                raise ValueError(f"{where}: {name!r} is given both whole and per path")
            canonical[name] = by_path[None][1]
            continue
        indices = sorted(path for path in by_path if path is not None)  # all of them: None was handled above
        if indices != list(range(len(by_path))):
            raise ValueError(f"{where}: the paths holding {name!r} are {indices}, not 0 … {len(by_path) - 1}")
        ordered = [by_path[path] for path in indices]
        dim, first = ordered[0]
        if first.ndim == 0:  # num_batches_tracked: one copy per path
            if first.device.type != "meta" and any(not torch.equal(t, first) for _, t in ordered):  # meta: no values
                raise ValueError(f"{where}: the paths' copies of {name} disagree")
            canonical[name] = first.clone()
        else:
            canonical[name] = torch.cat([t for _, t in ordered], dim=dim)
    return canonical


def from_canonical(
    canonical: Mapping[str, Tensor], keys: Iterable[str], width: int, owned: Collection[str] = ()
) -> dict[str, Tensor]:
    """Cut canonical tensors into the state_dict ``keys`` of some form.

    Args:
        canonical: tensors keyed by form (c)'s names (see :func:`to_canonical`).
        keys: the state_dict keys wanted, of a block whose paths have ``width`` channels.
        width: d, the channels of one path: the size of every slice.
        owned: names of canonical tensors the caller hands over.

    Returns:
        A tensor per key. Every one is contiguous and shares storage neither with
        another returned tensor nor with ``canonical``, except a tensor named in
        ``owned`` and used whole, which is returned as it is (if contiguous).
    """
    state = {}
    slices: dict[str, tuple[Tensor, ...]] = {}  # canonical name -> its C slices of width d, copied
    for key in keys:
        name, path, dim = _locate(key)
        tensor = canonical[name]
        if path is None and name in owned:  # used whole, by this key alone: a copy only to make it contiguous
            state[key] = tensor.contiguous()
        elif path is None or tensor.ndim == 0:  # scalars: one copy per path
            state[key] = tensor.clone(memory_format=torch.contiguous_format)
        else:
            if name not in slices:  # one call makes all C copies, faster than C clones
                # torch's stub types split_copy as returning None; it returns the C slices.
                slices[name] = torch.split_copy(tensor, width, dim)  # type: ignore[func-returns-value,assignment]
            state[key] = slices[name][path]
    return state


def layer_modes(block: nn.Module, where: str = "block") -> dict[str, bool]:
    """The train/eval mode of every layer of ``block`` that holds tensors, by its form (c) name.

    A path's layer is a slice of a form (c) layer (``paths.i.bn1`` of ``bn1``, see
    the module docstring), so it is listed under that name, once for all C paths.
    This is what lets a BN set apart with ``.eval()`` (frozen, as when fine-tuning)
    stay apart in another form. Layers without tensors (ReLUs, containers) are not
    listed: their mode changes nothing.

    Raises:
        ValueError: the paths' pieces of one layer are not all in the same mode:
            form (c) has one such layer, with one mode.

    Example:
        >>> c = build(BlockSpec(64, 256, 32, 4), "c"); c.bn1.eval()
        >>> layer_modes(transplant(c, "a"))["bn1"]
        False
    """
    modes: dict[str, set[bool]] = {}
    _collect_modes(block, "", modes)
    for layer, found in modes.items():
        if len(found) > 1:
            raise ValueError(f"{where}: the paths' {layer} layers are not all in the same train/eval mode")
    return {layer: found.pop() for layer, found in modes.items()}


def _collect_modes(module: nn.Module, prefix: str, modes: dict[str, set[bool]]) -> None:
    if module._parameters or module._buffers:
        modes.setdefault(canonical_name(prefix[:-1]), set()).add(module.training)
    for name, child in module._modules.items():
        if child is not None:
            _collect_modes(child, f"{prefix}{name}.", modes)
