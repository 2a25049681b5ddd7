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
import dataclasses

import torch
from torch import nn
from torch.utils._pytree import tree_flatten

from blocks.core.build import assemble, set_eps
from blocks.core.forms import ResNeXtBlock
from blocks.dataflow.mistakes import CATALOGUE
from blocks.dataflow.recognise import RecognisedBlock, Recognition, VariantKind, recognise
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
        _check_variants(block, form)  # first: a variant no form carries is named before what it breaks
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


# A gate after the grouped 3x3 (RegNetY's SE) reads all C·d channels: forms (b) and (c) have them in one tensor,
# the input of their last 1x1 (``conv3``), where the gate is carried.
_BEFORE_LAST_1X1 = 2


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


def _check_variants(block: RecognisedBlock, form: str) -> None:
    """Refuse, naming it and where, a variant that no block of this package can carry in ``form``."""
    name = "the model's block" if block.where == "(model)" else block.where
    for variant in block.variants:
        what = f"{name} has {variant.kind.label} ({variant.kind.origin}) {variant.where}"
        if variant.kind is VariantKind.CONV_DIMS:
            raise ValueError(f"transplant: {what}: {variant.detail}; this package's blocks are 2-D only")
        if variant.kind is VariantKind.PRE_ACTIVATION:
            raise ValueError(
                f"transplant: {what}: {variant.detail}; this package's blocks are the paper's, post-activation"
                " (BN and ReLU after each convolution, ReLU after the add), so none computes it"
            )
        if variant.kind is VariantKind.ANTI_ALIASING:
            raise ValueError(
                f"transplant: {what}: {variant.detail}; this package's blocks have no place for a module inside"
                " the paths"
            )
        if variant.mixes_paths and form == "a":
            raise ValueError(
                f"transplant: {what}: it reads the channels of every path, so the block has forms (b) and (c)"
                " but no form (a), whose paths are independent until their sum"
            )
        if variant.mixes_paths and variant.level != _BEFORE_LAST_1X1:
            raise ValueError(
                f"transplant: {what}: it mixes the paths before their 3x3s, and this package's blocks of form"
                f" {form!r} hold the C·d channels in one tensor only after the grouped 3x3"
            )
        if not variant.module:
            raise ValueError(
                f"transplant: {what}: it is not one module of its own that could be carried as it is ({variant.detail})"
            )


def _carry(model: nn.Module, block: RecognisedBlock, ours: ResNeXtBlock) -> None:
    """Put ``block``'s variants (each one module outside the paths) into ``ours``, as they are."""
    for variant in block.variants:
        module = copy.deepcopy(model.get_submodule(variant.module))
        if variant.kind is VariantKind.ACTIVATION:  # every ReLU of ours becomes the block's activation
            for name, relu in list(ours.named_modules()):
                if isinstance(relu, nn.ReLU):
                    ours.set_submodule(name, copy.deepcopy(module))
        elif variant.kind is VariantKind.AVG_POOL_SHORTCUT:
            ours.set_submodule("downsample", module)
        elif variant.level == _BEFORE_LAST_1X1:  # forms (b), (c): the C·d channels, before the last 1x1 reads them
            ours.set_submodule("conv3", nn.Sequential(module, ours.get_submodule("conv3")))
        else:  # a gate on the sum of the paths, after the last BN
            ours.set_submodule("bn3", nn.Sequential(ours.bn3, module))


def _our_block(model: nn.Module, block: RecognisedBlock, form: str) -> ResNeXtBlock:
    """Our block of ``form`` holding ``block``'s tensors and its variants, in the replaced module's mode."""
    assert block.canonical is not None and block.spec is not None
    source = model if block.replace[0] == "(model)" else model.get_submodule(block.replace[0])
    ours = set_eps(assemble(block.spec, form, block.canonical, training=source.training), block.eps)
    _carry(model, block, ours)
    ours.train(source.training)
    frozen = not any(p.requires_grad for p in source.parameters())
    if frozen:
        ours.requires_grad_(False)
    return ours


def _checked(source: nn.Module, result: nn.Module, found: Recognition) -> nn.Module:
    """``result``, once one eval-mode forward pass shows it computes what ``source`` computes."""
    x = found.trace.values[found.trace.input].tensor
    with evaluating(source, result), torch.no_grad():
        expected, got = _tensors(source(x)), _tensors(result(x))
    pairs = [(a, b) for a, b in zip(expected, got) if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor)]
    if len(expected) != len(got) or len(pairs) != len(expected) or not pairs:
        raise ValueError(
            f"transplant: the model with this package's blocks returns {len(got)} values where the source returns"
            f" {len(expected)}, or no tensor to compare"
        )
    if pairs[0][0].device.type != "meta":
        error = max(relative_error(b, a) for a, b in pairs)
        if error > CANONICAL_RTOL:
            raise ValueError(
                f"transplant: the model with this package's blocks differs from the source by {error:.1e} (relative)"
                f" on a random input of size {found.input_size}, more than rounding ({CANONICAL_RTOL:g})"
            )
    return result


def _tensors(output: object) -> list[object]:
    """Every leaf of a model's output: tensors in tuples, lists, dicts and dataclasses, in order."""
    if dataclasses.is_dataclass(output) and not isinstance(output, type):
        return [leaf for f in dataclasses.fields(output) for leaf in _tensors(getattr(output, f.name))]
    leaves = tree_flatten(output)[0]
    return leaves if len(leaves) != 1 or leaves[0] is output else _tensors(leaves[0])
