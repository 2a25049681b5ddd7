"""``transplant``: the same function in another form, for a block or a whole network.

The idea in four steps, for each block: check it, gather its tensors into the
canonical layout (:func:`blocks.core.canonical.to_canonical`), cut them for the
new form (:func:`blocks.core.build.assemble`), and copy everything that is not a
block. The speed devices that make this cheap for thousands of modules live in
:mod:`blocks.core._fast`; each is named where it is used.
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn

from blocks.core import _fast
from blocks.core.build import assemble
from blocks.core.canonical import canonical_name, layer_modes, to_canonical
from blocks.core.forms import ResNeXtBlock, check_block, check_form, foreign_parts, named_blocks, not_a_block
from blocks.util.collector import collector_paused


def transplant(module: nn.Module, form: str) -> nn.Module:
    """Return a NEW module computing the same function, with every block in ``form``.

    Each block's parameters and buffers (BN running statistics and counters)
    are gathered into the canonical layout and cut for the new form (see
    :mod:`blocks.core.canonical`); everything that is not a block is deep-copied.
    The result keeps the source's dtype and device and every layer's train/eval
    mode (a BN set apart with ``.eval()`` stays apart, see
    :func:`blocks.core.canonical.layer_modes`), and frozen
    parameters stay frozen (a tensor gathered from several paths is frozen if
    any of its pieces was). Hooks are not copied. The source is never changed
    and shares no storage with the result. Round trips (a→c→a, …) give back
    bitwise identical tensors. Python's cyclic garbage collector is paused
    during the call (and restored): form (a) means thousands of new modules.

    This moves the blocks this package built. A model it did not build (torchvision's,
    timm's, a student's) is read by its dataflow: :func:`blocks.transplant` with
    ``input_size`` (:mod:`blocks.dataflow.entry`).

    Args:
        module: a block from :func:`blocks.build`, or any module containing such blocks.
        form: ``"a"``, ``"b"`` or ``"c"``.

    Returns:
        The converted copy (a block if ``module`` is a block).

    Raises:
        ValueError: unknown ``form``; or a block whose tensors do not have the
            shapes its spec and form require, or whose paths' pieces of one layer
            are not all in the same mode, or that holds a module of a class the forms
            are not made of (a SiLU for its ReLU), which would be lost (the message names the submodule).
        TypeError: ``module`` is not an ``nn.Module``; or it neither is nor contains a block
            of a known form; or it contains a subclass of ResNeXtBlock that is not one of the three forms.

    Example:
        >>> c = build(BlockSpec(256, 256, 32, 4), "c")
        >>> a = transplant(c, "a"); form_of(a)
        'a'
    """
    if not isinstance(module, nn.Module):
        raise TypeError(f"transplant: module must be a torch.nn.Module, got {type(module).__name__}")
    check_form(form)
    found = named_blocks(module)
    if not found:
        raise TypeError(not_a_block("transplant", module))
    # A layer tied to one outside the blocks (``net.extra = net.layer1[0].bn3``) would silently come apart.
    outside = _outside_tensors(module)
    with collector_paused():  # speed: no GC walks while thousands of modules are made
        converted = {
            id(block): _transplant_block(block, form, f"submodule {name!r}" if name else "block", outside)
            for name, block in _fast.largest_first(found)  # speed: plain module order gives the same result
        }
        if isinstance(module, ResNeXtBlock):
            return converted[id(module)]
        # The rest is copied; deepcopy's memo maps an object's id to its copy, so each block "copies" to its transplant.
        return copy.deepcopy(module, memo=dict(converted))


def _outside_tensors(module: nn.Module, prefix: str = "") -> dict[int, str]:
    """Every parameter and buffer registered outside the blocks of ``module``, by id, with its name."""
    found: dict[int, str] = {}
    if isinstance(module, ResNeXtBlock):
        return found
    for name, tensor in [*module._parameters.items(), *module._buffers.items()]:
        if tensor is not None:
            found[id(tensor)] = prefix + name
    for name, child in module._modules.items():
        if child is not None:
            found.update(_outside_tensors(child, f"{prefix}{name}."))
    return found


def _transplant_block(block: ResNeXtBlock, form: str, where: str, outside: dict[int, str]) -> ResNeXtBlock:
    """Check, gather, cut: one block in ``form``, with the source's modes and frozen parameters."""
    check_block(block, f"transplant: {where}")
    parts = foreign_parts(block)
    if parts:
        raise ValueError(
            f"transplant: {where} holds modules that no block of form a, b or c has ({', '.join(parts[:3])}), which"
            " moving its tensors would drop; give input_size to read it by its dataflow and carry them"
        )
    with torch.no_grad():  # the source's own Parameters (to see which are frozen), copied without a graph
        state = _fast.state_of(block)  # = block.state_dict(keep_vars=True)
        for key, tensor in state.items():
            if id(tensor) in outside:
                raise ValueError(
                    f"transplant: {where}'s {key!r} is also {outside[id(tensor)]!r}, outside every block; the"
                    " transplant makes new layers for each block, so the two would come apart: untie them first"
                )
        _check_shapes(state, block, where)
        canonical = to_canonical(state, where)  # gather: form (c)'s tensors
        gathered = canonical.keys() - state.keys()  # new tensors (the source's own ones are copied)
        modes = layer_modes(block, where)
        target = assemble(block.spec, form, canonical, owned=gathered, training=block.training, modes=modes)  # cut
    frozen = {canonical_name(key) for key, t in state.items() if not t.requires_grad and isinstance(t, nn.Parameter)}
    if frozen:
        for key, parameter in target.named_parameters():
            parameter.requires_grad_(canonical_name(key) not in frozen)
    return target


def _check_shapes(state: dict[str, Tensor], block: ResNeXtBlock, where: str) -> None:
    """Raise ValueError unless ``state`` has exactly the keys and shapes of ``block``'s spec and form."""
    expected = _fast.state_shapes(block.spec, block.form)
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
