"""Speed devices of the transplant, kept apart from the idea: read ``canonical.py`` and ``transplant.py`` first.

Nothing here changes WHAT is computed. Each function is a faster way of doing
something plain PyTorch already does, and its docstring names that plain way:

    state_of(module)                 module.state_dict(keep_vars=True)
    state_shapes(spec, form)         [(k, t.shape) for k, t in FORMS[form](spec).state_dict().items()]
    new_block(spec, form, state, …)  b = FORMS[form](spec); b.load_state_dict(state, assign=True)
    empty_block(spec, form, …)       FORMS[form](spec) on the meta device
    largest_first(blocks)            (module order)

Why they are worth it: form (a) of a ResNeXt-101 32x8d is ~7,500 modules and
~13,700 tensors (and :func:`blocks.util.collector.collector_paused` keeps Python's cyclic
garbage collector from walking them all as they are made). Made the plain way, a c->a->c
round trip costs many deep copies; with these devices, a few (``python -m blocks bench``,
and ``benchmarks/README.md``, "Measurements behind the code", for the numbers).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache

import torch
from torch import Tensor, nn

from blocks.core.canonical import canonical_name
from blocks.core.forms import FORMS, ResNeXtBlock
from blocks.core.spec import BlockSpec


def state_of(module: nn.Module) -> dict[str, Tensor]:
    """``module.state_dict(keep_vars=True)``: its own Parameters and buffers, not detached, read directly.

    The same keys and tensors in the same order, without state_dict's
    per-module machinery (hooks, extra state), which none of the forms uses.
    For form (a)'s ~230 layers a block that machinery is a large share of the time.

    Example:
        >>> list(state_of(build(BlockSpec(64, 256, 32, 4), "c")))[:2]
        ['conv1.weight', 'bn1.weight']
    """
    state: dict[str, Tensor] = {}
    _collect_state(module, "", state)
    return state


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


@cache
def _template(spec: BlockSpec, form: str) -> ResNeXtBlock:
    """One block of each (spec, form) on the meta device, remembered; never handed out."""
    with torch.device("meta"):
        return FORMS[form](spec)


@cache
def state_shapes(spec: BlockSpec, form: str) -> tuple[tuple[str, torch.Size], ...]:
    """The state_dict keys of a ``form`` block of ``spec`` with their shapes, in order.

    Example:
        >>> state_shapes(BlockSpec(64, 256, 32, 4), "a")[0]
        ('paths.0.conv1.weight', torch.Size([4, 64, 1, 1]))
    """
    return tuple((key, tensor.shape) for key, tensor in _template(spec, form).state_dict().items())


def empty_block(
    spec: BlockSpec, form: str, training: bool = True, modes: Mapping[str, bool] | None = None
) -> ResNeXtBlock:
    """A new block of ``form`` whose parameters and buffers are new meta tensors (shapes, no values).

    ``training`` and ``modes`` set the modes of the block and its layers, as in :func:`new_block`.
    """
    state = {key: torch.empty_like(t) for key, t in _template(spec, form).state_dict().items()}
    return new_block(spec, form, state, training, modes or {})


_MADE_PER_COPY = ("training", "_parameters", "_buffers", "_modules")  # set by new_block itself


@dataclass(frozen=True)
class _Recipe:
    """How :func:`new_block` makes one module of a template (the modules are listed parents first)."""

    kind: type[nn.Module]
    shared: dict[str, object]  # immutable attributes (spec, kernel_size, …): the template's own objects
    # mutable attributes (hook dicts, …): a copy per module
    copied: tuple[tuple[str, dict[str, object] | set[object] | list[object]], ...]
    parameters: tuple[tuple[str, str | None], ...]  # (name, state key), key None for a None slot (bias=False)
    buffers: tuple[tuple[str, str | None], ...]
    parent: int  # index of the parent's recipe; -1 for the block itself
    name: str  # the name in the parent
    layer: str  # the form (c) name of the module (paths.i.bn1 -> bn1), which keys its mode


@cache
def _recipes(spec: BlockSpec, form: str) -> tuple[_Recipe, ...]:
    """The recipes of every module of the ``form`` template of ``spec``, parents before children."""
    recipes: list[_Recipe] = []

    def add(module: nn.Module, prefix: str, parent: int, name: str) -> None:
        if module._non_persistent_buffers_set:  # not in a state_dict: new_block would have nothing to put there
            raise TypeError(f"{type(module).__name__} has non-persistent buffers, which new_block cannot copy")
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
            if child is not None:
                add(child, f"{prefix}{child_name}.", index, child_name)

    add(_template(spec, form), "", -1, "")
    return tuple(recipes)


def new_block(
    spec: BlockSpec, form: str, state: Mapping[str, Tensor], training: bool, modes: Mapping[str, bool]
) -> ResNeXtBlock:
    """A new ``form`` block of ``spec`` holding ``state``'s tensors (keyed as its state_dict), not copied.

    Plain PyTorch: ``b = FORMS[form](spec); b.load_state_dict(state, assign=True)``, then set the modes.

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


def largest_first(blocks: Sequence[tuple[str, ResNeXtBlock]]) -> list[tuple[str, ResNeXtBlock]]:
    """``blocks`` sorted by the size of their 1x1 weights, in·C·d + C·d·out, largest first (stable).

    Plain order would be module order. Converted largest first, the big tensors take
    memory the process already holds. Made last, after thousands of small form (a)
    tensors have cut that memory up, they would extend the heap, whose new pages
    are handed back at the end of the call and page-faulted in again on every call
    (~12,000 faults and ~6% of the time of a ResNeXt-101 round trip).
    """

    def size(item: tuple[str, ResNeXtBlock]) -> int:
        spec = item[1].spec
        return (spec.in_channels + spec.out_channels) * spec.grouped_channels

    return sorted(blocks, key=size, reverse=True)
