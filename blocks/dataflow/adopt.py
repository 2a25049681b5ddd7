"""Adopting a model this package did not build: every recognised block swapped for ours, weights and all.

:func:`blocks.transplant` calls :func:`adopt` when its model holds no block of this
package: a student's network, a blog post's, torchvision's or timm's. Their blocks
are found by their dataflow (:func:`blocks.dataflow.recognise.recognise`), each
block's tensors are already mapped onto form (c)'s layout there, and the same two
steps as for our own blocks follow: cut them for the wanted form
(:func:`blocks.core.build.assemble`), and copy everything else. One forward pass of
the result is then checked against the source's.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from blocks.core.build import assemble, set_eps
from blocks.core.forms import ResNeXtBlock
from blocks.dataflow.mistakes import CATALOGUE
from blocks.dataflow.recognise import RecognisedBlock, Recognition, recognise
from blocks.util.numerics import CANONICAL_RTOL, evaluating, relative_error


def adopt(model: nn.Module, form: str, input_size: tuple[int, ...]) -> nn.Module:
    """A copy of ``model`` with every recognised bottleneck replaced by this package's block of ``form``.

    Args:
        model: a network or a block that this package did not build.
        form: ``"a"``, ``"b"`` or ``"c"``.
        input_size: the input's shape, batch first, for the one forward pass that finds
            the blocks and the one that checks the result.

    Returns:
        The new model (a :class:`blocks.ResNeXtBlock` if ``model`` is one block). It holds
        the source's weights, dtype and device and each block's train/eval mode, and
        computes the same function; the source is not changed.

    Raises:
        TypeError: no residual bottleneck was found in ``model``'s forward pass.
        ValueError: a block that is not the paper's (naming the block and the mistake), a
            block that is not one module of its own (a functional model), or a result whose
            output differs from the source's by more than rounding.
    """
    found = recognise(model, input_size)
    if not found.blocks:
        why = f": {found.others[0]}" if found.others else ""
        raise TypeError(f"transplant: no residual bottleneck was found in {type(model).__name__}'s forward pass{why}")
    for block in found.blocks:
        _check_adoptable(block)
    new = copy.deepcopy(model)
    for block in found.blocks:
        replacement = _our_block(model, block, form)
        target, *rest = block.replace
        if target == "(model)":
            return _checked(model, replacement, found)
        new.set_submodule(target, replacement)
        for name in rest:  # the block's own ReLU, now inside our block
            new.set_submodule(name, nn.Identity())
    return _checked(model, new, found)


def _check_adoptable(block: RecognisedBlock) -> None:
    name = "the model's block" if block.where == "(model)" else f"block {block.where}"
    where = f"transplant: {name} ({block.source or 'no source line'})"
    for deviation in block.deviations:
        name = f"mistake {deviation.mistake} ({CATALOGUE[deviation.mistake].title})" if deviation.mistake else "it"
        raise ValueError(
            f"{where} is not the paper's block, so no block of this package computes it: {name}: {deviation.symptom}"
        )
    if block.canonical is None or block.spec is None:
        raise ValueError(f"{where}: its tensors do not make a form (c) block")
    if block.error is not None and block.error > CANONICAL_RTOL:
        raise ValueError(f"{where}: a form (c) block rebuilt from its tensors differs from it by {block.error:.1e}")
    if not block.replaceable:
        raise ValueError(
            f"{where} is not one module whose single call computes exactly the block (the model is written"
            " functionally, or the module is called more than once), so there is no module to replace"
        )


def _our_block(model: nn.Module, block: RecognisedBlock, form: str) -> ResNeXtBlock:
    """Our block of ``form`` holding ``block``'s tensors, in the replaced module's mode, with its BNs' eps."""
    assert block.canonical is not None and block.spec is not None
    source = model if block.replace[0] == "(model)" else model.get_submodule(block.replace[0])
    ours = set_eps(assemble(block.spec, form, block.canonical, training=source.training), block.eps)
    frozen = not any(p.requires_grad for p in source.parameters())
    if frozen:
        ours.requires_grad_(False)
    return ours


def _checked(source: nn.Module, result: nn.Module, found: Recognition) -> nn.Module:
    """``result``, once one eval-mode forward pass shows it computes what ``source`` computes."""
    x = found.trace.values[found.trace.input].tensor
    with evaluating(source, result), torch.no_grad():
        expected, got = source(x), result(x)
    if expected.device.type != "meta":
        error = relative_error(got, expected)
        if error > CANONICAL_RTOL:
            raise ValueError(
                f"transplant: the model with this package's blocks differs from the source by {error:.1e} (relative)"
                f" on a random input of size {found.input_size}, more than rounding ({CANONICAL_RTOL:g})"
            )
    return result
