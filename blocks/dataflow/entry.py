"""The public ``transplant`` and ``form_of``: this package's blocks go to the core, any other model to its dataflow.

:func:`blocks.core.transplant.transplant` and :func:`blocks.core.forms.form_of` know the
three forms this package builds, and nothing else: that is the whole idea, and it reads on
its own. A model this package did not build (torchvision's, timm's, a student's) holds no
such block; given ``input_size``, it is read by what it computes instead
(:func:`blocks.dataflow.recognise.recognise`) and adopted (:func:`blocks.dataflow.adopt.adopt`).
This module only sends each model to the one that can read it.
"""

from __future__ import annotations

from torch import nn

from blocks.core import forms as core_forms
from blocks.core.transplant import transplant as core_transplant
from blocks.dataflow.adopt import adopt
from blocks.dataflow.recognise import recognise


def _foreign(module: object, input_size: tuple[int, ...] | None) -> bool:
    """True if ``module`` is a model for the dataflow layer, given a size to run it at: a module without our
    blocks, or whose blocks hold modules the forms are not made of (an activation swapped for ReLU)."""
    if input_size is None or not isinstance(module, nn.Module):
        return False
    found = core_forms.named_blocks(module)
    return not found or any(core_forms.foreign_parts(block) for _, block in found)


def transplant(module: nn.Module, form: str, *, input_size: tuple[int, ...] | None = None) -> nn.Module:
    """Return a NEW module computing the same function, with every block in ``form``.

    A block from :func:`blocks.build`, or any network holding such blocks, is converted by the
    core (:func:`blocks.core.transplant.transplant`, whose docstring says what is kept). A model
    this package did not build is read by its dataflow, given ``input_size``: every recognised
    bottleneck that is the paper's is replaced by this package's block of ``form`` carrying its
    weights (:func:`blocks.dataflow.adopt.adopt`), and one forward pass checks the result.

    Args:
        module: a block from :func:`blocks.build`, or any module containing such blocks;
            or, with ``input_size``, any model holding residual bottlenecks.
        form: ``"a"``, ``"b"`` or ``"c"``.
        input_size: the input shape of a model this package did not build, batch first.

    Returns:
        The converted copy (a block if ``module`` is a block).

    Raises:
        ValueError: unknown ``form``; a block whose tensors do not fit its spec and form; or
            (foreign models) a block that is not the paper's, naming it and the mistake.
        TypeError: ``module`` is not an ``nn.Module``; or it neither is nor contains a block of a
            known form and no ``input_size`` is given (or no bottleneck is found in it).

    Example:
        >>> c = blocks.build(blocks.BlockSpec(256, 256, 32, 4), "c")
        >>> blocks.form_of(blocks.transplant(c, "a"))
        'a'
    """
    if _foreign(module, input_size):
        core_forms.check_form(form)
        return adopt(module, form, input_size)  # type: ignore[arg-type]  # _foreign: input_size is not None
    return core_transplant(module, form)


def form_of(module: nn.Module, *, input_size: tuple[int, ...] | None = None) -> str:
    """The form, ``"a"``, ``"b"`` or ``"c"``, of a block, or of every block in a network.

    With ``input_size``, a model this package did not build is read by its dataflow
    (:func:`blocks.dataflow.recognise.recognise`): the layout its bottlenecks share.

    Raises:
        TypeError: ``module`` is not an ``nn.Module``; it holds no block of this package (and,
            given ``input_size``, no bottleneck), or a block of another class.
        ValueError: ``module`` holds blocks of more than one form.

    Example:
        >>> blocks.form_of(blocks.build(blocks.BlockSpec(64, 64, 4, 8), "b"))
        'b'
    """
    if not _foreign(module, input_size):
        return core_forms.form_of(module)
    layouts = recognise(module, input_size).layouts  # type: ignore[arg-type]  # _foreign: input_size is not None
    if not layouts:
        raise TypeError(core_forms.not_a_block("form_of", module))
    return core_forms.forms_in("form_of", module, set(layouts))
