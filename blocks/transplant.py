"""``transplant``: the same function in another form, for a block or a whole network."""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn

from blocks.canonical import (
    assemble,
    canonical_name,
    collector_paused,
    layer_modes,
    layout,
    state_of,
    to_canonical,
)
from blocks.forms import ResNeXtBlock, check_block, check_form, named_blocks


def transplant(module: nn.Module, form: str) -> nn.Module:
    """Return a NEW module computing the same function, with every block in ``form``.

    Each block's parameters and buffers (BN running statistics and counters)
    are gathered into the canonical layout and cut for the new form (see
    :mod:`blocks.canonical`); everything that is not a block is deep-copied.
    The result keeps the source's dtype and device and every layer's train/eval
    mode (a BN set apart with ``.eval()`` stays apart, see
    :func:`blocks.canonical.layer_modes`), and frozen
    parameters stay frozen (a tensor gathered from several paths is frozen if
    any of its pieces was). Hooks are not copied. The source is never changed
    and shares no storage with the result. Round trips (a→c→a, …) give back
    bitwise identical tensors. Python's cyclic garbage collector is paused
    during the call (and restored): form (a) means thousands of new modules.

    Args:
        module: a block from :func:`blocks.build`, or any module containing such blocks.
        form: ``"a"``, ``"b"`` or ``"c"``.

    Returns:
        The converted copy (a block if ``module`` is a block).

    Raises:
        ValueError: unknown ``form``; or a block whose tensors do not have the
            shapes its spec and form require, or whose paths' pieces of one layer
            are not all in the same mode (the message names the submodule).
        TypeError: ``module`` neither is nor contains a block of a known form,
            or contains a subclass of ResNeXtBlock that is not one of the three forms.

    Example:
        >>> c = build(BlockSpec(256, 256, 32, 4), "c")
        >>> a = transplant(c, "a"); form_of(a)
        'a'
    """
    check_form(form)
    found = named_blocks(module)
    if not found:
        raise TypeError(
            f"transplant: {type(module).__name__} is not and does not contain a ResNeXt block"
            " of form a, b or c (build one with blocks.build)"
        )
    # Largest blocks first: their big tensors then take memory the process already holds. Made
    # last, after thousands of small ones have cut that memory up, they would extend the heap, whose
    # new pages are handed back at the end and page-faulted in again on every call (~12,000 faults
    # and ~6% of the time of a ResNeXt-101 round trip). Stable: blocks of one size keep their order.
    largest_first = sorted(found, key=lambda item: _size(item[1]), reverse=True)
    # Paused for the whole call, not per block: otherwise collections would keep walking the
    # process's objects while thousands of modules are made (see collector_paused).
    with collector_paused():
        converted = {
            id(block): _transplant_block(block, form, f"submodule {name!r}" if name else "block")
            for name, block in largest_first
        }
        if isinstance(module, ResNeXtBlock):
            return converted[id(module)]
        # deepcopy's memo maps an object's id to its copy: blocks are "copied" to their transplants.
        return copy.deepcopy(module, memo=dict(converted))


def _size(block: ResNeXtBlock) -> int:
    """The weights of a block's 1x1 convolutions, in·C·d + C·d·out: the bulk of its memory."""
    spec = block.spec
    return (spec.in_channels + spec.out_channels) * spec.grouped_channels


def _transplant_block(block: ResNeXtBlock, form: str, where: str) -> ResNeXtBlock:
    check_block(block, f"transplant: {where}")
    with torch.no_grad():  # the source's own Parameters (to see which are frozen), copied without a graph
        state = state_of(block)
        _check_layout(state, block, where)
        canonical = to_canonical(state, where)
        gathered = canonical.keys() - state.keys()  # new tensors (the source's own ones are copied)
        modes = layer_modes(block, where)
        target = assemble(block.spec, form, canonical, owned=gathered, training=block.training, modes=modes)
    frozen = {canonical_name(key) for key, t in state.items() if not t.requires_grad and isinstance(t, nn.Parameter)}
    if frozen:
        for key, parameter in target.named_parameters():
            parameter.requires_grad_(canonical_name(key) not in frozen)
    return target


def _check_layout(state: dict[str, Tensor], block: ResNeXtBlock, where: str) -> None:
    """Raise ValueError unless ``state`` has exactly the keys and shapes of ``block``'s spec and form."""
    expected = layout(block.spec, block.form)
    if tuple((key, tensor.shape) for key, tensor in state.items()) == expected:  # the usual case, in one pass
        return
    shapes = dict(expected)
    described = f"a form ({block.form}) block of spec {block.spec}"
    for key in state.keys() - shapes.keys():
        raise ValueError(f"transplant: {where} has {key!r}, which {described} does not have")
    for key, shape in shapes.items():
        if key not in state:
            raise ValueError(f"transplant: {where} lacks {key!r}, which {described} needs")
        if state[key].shape != shape:
            raise ValueError(
                f"transplant: {where} has {key!r} of shape {tuple(state[key].shape)},"
                f" but {described} needs {tuple(shape)}"
            )
