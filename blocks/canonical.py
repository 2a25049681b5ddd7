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

import gc
import re
from collections.abc import Collection, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache

import torch
from torch import Tensor, nn

from blocks.forms import FORMS, ResNeXtBlock
from blocks.spec import BlockSpec

_PATH_KEY = re.compile(r"paths\.(\d+)\.(.+)")


@lru_cache(maxsize=None)  # the same few hundred keys recur in every block of a network
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
        if sorted(by_path) != list(range(len(by_path))):
            raise ValueError(f"{where}: the paths holding {name!r} are {sorted(by_path)}, not 0 … {len(by_path) - 1}")
        ordered = [by_path[path] for path in range(len(by_path))]
        dim, first = ordered[0]
        if first.ndim == 0:  # num_batches_tracked: one copy per path
            if any(not torch.equal(t, first) for _, t in ordered):
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
            if name not in slices:  # one call makes all C copies, in under half the time of C clones
                slices[name] = torch.split_copy(tensor, width, dim)
            state[key] = slices[name][path]
    return state


def state_of(module: nn.Module) -> dict[str, Tensor]:
    """``module.state_dict(keep_vars=True)``: its own Parameters and buffers, not detached, read directly.

    The same keys and tensors in the same order, without state_dict's
    per-module machinery (hooks, extra state), which none of the forms uses.
    For form (a)'s ~230 layers a block that machinery is half the time.

    Example:
        >>> list(state_of(build(BlockSpec(64, 256, 32, 4), "c")))[:2]
        ['conv1.weight', 'bn1.weight']
    """
    state: dict[str, Tensor] = {}
    _collect_state(module, "", state)
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


def _collect_state(module: nn.Module, prefix: str, state: dict[str, Tensor]) -> None:
    for name, parameter in module._parameters.items():
        if parameter is not None:
            state[prefix + name] = parameter
    for name, buffer in module._buffers.items():
        if buffer is not None and name not in module._non_persistent_buffers_set:
            state[prefix + name] = buffer
    for name, child in module._modules.items():
        if child is not None:
            _collect_state(child, f"{prefix}{name}.", state)


@lru_cache(maxsize=None)
def _template(spec: BlockSpec, form: str) -> ResNeXtBlock:
    """One block of each (spec, form) on the meta device, remembered; never handed out."""
    with torch.device("meta"):
        return FORMS[form](spec)


@lru_cache(maxsize=None)
def layout(spec: BlockSpec, form: str) -> tuple[tuple[str, torch.Size], ...]:
    """The state_dict keys of a ``form`` block of ``spec`` with their shapes, in order.

    Example:
        >>> layout(BlockSpec(64, 256, 32, 4), "a")[0]
        ('paths.0.conv1.weight', torch.Size([4, 64, 1, 1]))
    """
    return tuple((key, tensor.shape) for key, tensor in _template(spec, form).state_dict().items())


def assemble(
    spec: BlockSpec,
    form: str,
    canonical: Mapping[str, Tensor],
    *,
    owned: Collection[str] = (),
    training: bool = True,
    modes: Mapping[str, bool] | None = None,
) -> ResNeXtBlock:
    """A new ``form`` block of ``spec`` holding the canonical weights, cut for its form.

    Args:
        spec: the block's spec.
        form: ``"a"``, ``"b"`` or ``"c"``.
        canonical: a complete set of canonical tensors (form (c)'s state_dict).
        owned: names of canonical tensors the caller hands over: the block may
            hold them without a copy (see :func:`from_canonical`).
        training: the block's mode, and that of every layer not in ``modes``.
        modes: train/eval modes of layers, by form (c) name (see :func:`layer_modes`).

    Returns:
        The block; every other tensor is a new copy.
    """
    keys = (key for key, _ in layout(spec, form))
    state = from_canonical(canonical, keys, spec.width, owned)
    with collector_paused():
        return _instantiate(spec, form, state, training, modes or {})


def empty_block(
    spec: BlockSpec, form: str, training: bool = True, modes: Mapping[str, bool] | None = None
) -> ResNeXtBlock:
    """A new block of ``form`` whose parameters and buffers are new meta tensors (shapes, no values).

    ``training`` and ``modes`` set the modes of the block and its layers, as in :func:`assemble`.
    """
    state = {key: torch.empty_like(t) for key, t in _template(spec, form).state_dict().items()}
    return _instantiate(spec, form, state, training, modes or {})


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector inside ``with`` (reference counting still frees everything).

    A form (a) block of C = 32 is ~230 layers of ~15 containers each (parameter,
    buffer and hook dicts). Making that many objects triggers collections, and
    the full ones walk every object alive in the process (importing torch alone
    makes hundreds of thousands), though a new module tree holds no garbage: in
    a ResNeXt-101 transplant that was a third of the time. The new objects are
    still looked at once the collector runs again, but once, not at every burst.
    The caller's setting (enabled or not) is restored, also on an exception.

    Example:
        >>> with collector_paused():
        ...     many = [build(BlockSpec(256, 256, 32, 4), "a") for _ in range(10)]
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


_MADE_PER_COPY = ("training", "_parameters", "_buffers", "_modules")  # set by _instantiate itself


@dataclass(frozen=True)
class _Recipe:
    """How :func:`_instantiate` makes one module of a template (the modules are listed parents first)."""

    kind: type[nn.Module]
    shared: dict[str, object]  # immutable attributes (spec, kernel_size, …): the template's own objects
    copied: tuple[tuple[str, dict | set | list], ...]  # mutable ones (hook dicts, …): a copy per module
    parameters: tuple[tuple[str, str | None], ...]  # (name, state key), key None for a None slot (bias=False)
    buffers: tuple[tuple[str, str | None], ...]
    parent: int  # index of the parent's recipe; -1 for the block itself
    name: str  # the name in the parent
    layer: str  # the form (c) name of the module (paths.i.bn1 -> bn1), which keys its mode


@lru_cache(maxsize=None)
def _recipes(spec: BlockSpec, form: str) -> tuple[_Recipe, ...]:
    """The recipes of every module of the ``form`` template of ``spec``, parents before children."""
    recipes: list[_Recipe] = []

    def add(module: nn.Module, prefix: str, parent: int, name: str) -> None:
        if module._non_persistent_buffers_set:  # not in a state_dict: _instantiate would have nothing to put there
            raise TypeError(f"{type(module).__name__} has non-persistent buffers, which _instantiate cannot copy")
        attributes = {k: v for k, v in vars(module).items() if k not in _MADE_PER_COPY}
        recipes.append(
            _Recipe(
                kind=type(module),
                shared={k: v for k, v in attributes.items() if not isinstance(v, (dict, set, list))},
                copied=tuple((k, v) for k, v in attributes.items() if isinstance(v, (dict, set, list))),
                parameters=tuple((k, None if v is None else prefix + k) for k, v in module._parameters.items()),
                buffers=tuple((k, None if v is None else prefix + k) for k, v in module._buffers.items()),
                parent=parent,
                name=name,
                layer=canonical_name(prefix[:-1]),
            )
        )
        index = len(recipes) - 1
        for child_name, child in module._modules.items():
            add(child, f"{prefix}{child_name}.", index, child_name)

    add(_template(spec, form), "", -1, "")
    return tuple(recipes)


def _instantiate(
    spec: BlockSpec, form: str, state: Mapping[str, Tensor], training: bool, modes: Mapping[str, bool]
) -> ResNeXtBlock:
    """A new ``form`` block of ``spec`` holding ``state``'s tensors (keyed as its state_dict), not copied.

    Each module's mode is ``modes[its form (c) name]``, or ``training`` if not there.

    Only the module objects and their containers (parameter, buffer, submodule
    and hook dicts) are made, from the template's recipes, and each tensor is
    put in place, as ``load_state_dict(..., assign=True)`` would without its
    per-module machinery. Building the block anew would run every layer's
    default initialisation, and ``copy.deepcopy`` would copy the template's
    tensors: over ten times the cost for form (a)'s thousands of small layers.
    """
    made: list[nn.Module] = []
    for recipe in _recipes(spec, form):
        module = object.__new__(recipe.kind)
        attributes = vars(module)
        attributes.update(recipe.shared)
        attributes.update({k: v.copy() for k, v in recipe.copied})
        attributes["training"] = modes.get(recipe.layer, training)
        attributes["_parameters"] = {
            name: None if key is None else nn.Parameter(state[key]) for name, key in recipe.parameters
        }
        attributes["_buffers"] = {name: None if key is None else state[key] for name, key in recipe.buffers}
        attributes["_modules"] = {}
        if recipe.parent >= 0:
            made[recipe.parent]._modules[recipe.name] = module
        made.append(module)
    return made[0]  # type: ignore[return-value]


def initial_weights(spec: BlockSpec, zero_init_last_bn: bool = False) -> dict[str, Tensor]:
    """Draw the canonical weights of a new block: the same for every form.

    The scheme is torchvision's ResNet initialisation, applied to form (c)'s
    layout: convolutions Kaiming-normal with mode "fan_out" (std = sqrt(2 /
    (out_channels · k · k))), BN weight 1 and bias 0, running mean 0 and var 1;
    with ``zero_init_last_bn`` the last BN's weight is 0, so the block starts
    as the identity of its shortcut (Goyal et al., 2017).

    Why not let each form initialise itself: PyTorch's defaults (and the
    fan-based schemes) depend on each layer's own fan. Form (a)'s per-path
    output 1x1 has fan-in d, while the grouped form's conv3 has fan-in C·d, so
    per-form defaults would draw weights √C times larger in (a) and give three
    different functions. Drawing once and cutting (see the module docstring)
    gives the same function in every form, under the same ``torch.manual_seed``.
    """
    canonical = {}
    for key, like in _template(spec, "c").state_dict().items():  # meta tensors: the shapes
        # The default dtype now, not the template's (made once, under the default of that time).
        tensor = torch.empty(like.shape, dtype=like.dtype if not like.is_floating_point() else None)
        if key.endswith("running_var") or (key.endswith("weight") and tensor.ndim == 1):
            nn.init.ones_(tensor)
        elif tensor.ndim == 4:
            nn.init.kaiming_normal_(tensor, mode="fan_out", nonlinearity="relu")
        else:  # BN bias, running_mean, num_batches_tracked
            nn.init.zeros_(tensor)
        canonical[key] = tensor
    if zero_init_last_bn:
        nn.init.zeros_(canonical["bn3.weight"])
    return canonical
