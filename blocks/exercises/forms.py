"""Exercises 1 and 2: write form (a) and form (b) of the block as your own ``nn.Module``.

The answer is a class (or any function) called as ``answer(in_channels, out_channels,
cardinality, width, stride)`` that returns a module. The check builds it for three specs
(an identity shortcut, a projection with stride 2, a projection without stride; C and d
not powers of two) and judges each block by what it computes, never by its names:

1. it runs it once (a NotImplementedError means "not attempted yet"; the caller's input
   tensor must not change);
2. :func:`blocks.recognise` reads its dataflow: the bottleneck, C, d, stride, layout, and
   every deviation from the paper's block, each a catalogue mistake with its measured symptom;
3. an INDEPENDENT reference, ``blocks.build(spec, "c")`` holding the student's own tensors
   (mapped onto form (c) by the recogniser), must give the same output in eval and in
   train mode, in float64, on a fresh input.

The student's BatchNorms get random statistics first (on a copy), so that no mistake hides
behind a BN that is still the identity.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
from torch import Tensor, nn

from blocks.core.build import build, set_eps
from blocks.core.forms import BlockPath, ResNeXtBlock
from blocks.core.spec import BlockSpec
from blocks.dataflow.recognise import Deviation, RecognisedBlock, recognise
from blocks.exercises.feedback import (
    FORMS_READING,
    HintedBlock,
    Result,
    Stop,
    call,
    error_text,
    hint,
    judge,
    mistake_hint,
)
from blocks.exercises.symptoms import Shapes, Unregistered, Watch, explain, parameters_and_buffers, unregistered
from blocks.util.numerics import ANSWER_FP64_RTOL, CANONICAL_RTOL, randomise_batchnorm, relative_error

TITLES = {"a": "1 · form (a): C summed paths", "b": "2 · form (b): C paths concatenated, then one 1x1"}
SPECS = (
    BlockSpec(32, 32, cardinality=4, width=4),  # identity shortcut
    BlockSpec(24, 48, cardinality=3, width=5, stride=2),  # projection with the stride
    BlockSpec(16, 40, cardinality=2, width=6),  # projection without stride
)
BATCH, SIZE = 4, 8  # 4 images of 8x8: enough values per channel for train-mode BN
_SEED = 0

# Where to look, per kind of deviation the recogniser reports (blocks.dataflow.recognise).
LOOK: dict[str, str] = {
    "shared-weights": "where your paths are made: a layer made once and called C times is ONE path",
    "input-in-place": "the line that adds the shortcut: does it write into a tensor the caller still holds?",
    "per-path-bn-relu": "the end of each path: what follows its last 1x1?",
    "per-path-bn": "the end of each path, and what follows the sum of the paths",
    "grouped-first-conv": "the first 1x1 of each path: which input channels does it read?",
    "stride-first-conv": "which convolution carries the stride",
    "conv-bias": "the bias argument of your convolutions and linears (nn.Conv2d and nn.Linear default to bias=True)",
    "shortcut": "the shortcut: when must it be a projection, and which layers make one?",
    "no-relu-after-add": "the last lines of forward: what comes after the add?",
    "relu-before-add": "the last lines of forward: is the ReLU before or after the add?",
    "cross-group": "how each path picks its channels (a loop variable captured by a lambda keeps its LAST value)",
}
_BRANCH = "your block's branch: 1x1 -> BN -> ReLU -> 3x3 -> BN -> ReLU -> 1x1 -> BN, then the add, then ReLU"


def grade_form_a(answer: Callable[..., nn.Module]) -> Result:
    """Exercise 1: check a student's form (a), C distinct paths 1x1 -> 3x3 -> 1x1 whose outputs are summed.

    Args:
        answer: a class or function; ``answer(in_channels, out_channels, cardinality, width, stride)``
            returns the block.

    Returns:
        The :class:`Result`, also printed: passed, not attempted yet, or hints.

    Example:
        >>> grade_form_a(MyFormA).passed
        True
    """
    hinted: list[HintedBlock] = []  # the blocks its hints are about, drawn in a notebook
    return judge(TITLES["a"], lambda: _grade_answer(answer, "a", hinted), hinted)


def grade_form_b(answer: Callable[..., nn.Module]) -> Result:
    """Exercise 2: check a student's form (b), C paths 1x1 -> 3x3, concatenated, then one shared 1x1.

    Args:
        answer: as for :func:`grade_form_a`.

    Returns:
        The :class:`Result`, also printed.
    """
    hinted: list[HintedBlock] = []
    return judge(TITLES["b"], lambda: _grade_answer(answer, "b", hinted), hinted)


def _grade_answer(
    answer: Callable[..., nn.Module], form: str, hinted: list[HintedBlock]
) -> tuple[list[str], list[str]]:
    """The hints and measured lines of the answer's block for every spec; ``hinted`` gets each block a hint is from."""
    if isinstance(answer, nn.Module):
        raise Stop(
            f"you passed a block, {type(answer).__name__}(...); pass the class itself (without brackets):"
            " the check builds it for several shapes."
        )
    hints: dict[str, str] = {}  # one hint per kind of mistake: the first block it was found in
    measured: list[str] = []
    name = getattr(answer, "__name__", "answer")
    for spec in SPECS:
        args = (spec.in_channels, spec.out_channels, spec.cardinality, spec.width, spec.stride)
        what = f"your {name}{args}"
        module = call(answer, *args, what=what)
        found, line, block = judge_block(module, spec, form, what=what)
        new = {kind: text for kind, text in found.items() if kind not in hints}
        hints.update(new)
        if new and block is not None:
            hinted.append(HintedBlock(block, spec, form))
        measured += [line] if line else []
    return list(hints.values()), measured


def judge_block(
    module: object, spec: BlockSpec, form: str, *, what: str, randomise: bool = True, own: bool = True
) -> tuple[dict[str, str], str, RecognisedBlock | None]:
    """Judge one block a student made for ``spec`` in ``form``.

    Args:
        module: what the student's code returned.
        spec: the block it should be.
        form: "a" or "b", the layout it should have.
        what: the call that made it, in words, for the hints.
        randomise: give its BatchNorms random statistics first (a copy's), so that none hides a mistake;
            False where its statistics are the point (a transplanted trained block).
        own: the student writes the layers: this package's blocks and paths are not allowed in it.

    Returns:
        The hints by kind of mistake (empty when it is right), the measured line (empty unless it is right), and
        the bottleneck the recogniser found in it (None if not exactly one).

    Raises:
        NotAttempted: its forward pass raises NotImplementedError.
        Stop: it is no module, or its forward pass fails.
    """
    if not isinstance(module, nn.Module):
        raise Stop(f"{what} returned a {type(module).__name__}, not a torch.nn.Module.")
    ours = (ResNeXtBlock, BlockPath)
    borrowed = sorted({type(m).__name__ for m in module.modules() if isinstance(m, ours)}) if own else []
    if borrowed:
        return {"borrowed": hint(
            f"{what} is built from this package's {', '.join(borrowed)}: here you write the block yourself",
            "your __init__: use torch.nn layers (Conv2d, BatchNorm2d, ReLU) only", FORMS_READING)
        }, "", None  # fmt: skip
    model = copy.deepcopy(module).double()
    if randomise:
        randomise_batchnorm(model, torch.Generator().manual_seed(_SEED))
    model.eval()
    x = _random_input(spec, seed=1)
    before = x.clone()
    recorded = Watch([x], parameters_and_buffers(model))
    shapes = Shapes(BATCH, spec.cardinality, spec.width, f"the C·d = {spec.grouped_channels} channels", SIZE,
                    spec.in_channels, spec.out_channels, spec.stride)  # fmt: skip
    with torch.no_grad(), recorded:
        out = call(model, x, what=f"the forward pass of {what} on an input of shape {tuple(x.shape)}",
                   explain=lambda: explain(recorded, shapes))  # fmt: skip
    if not isinstance(out, Tensor):
        raise Stop(f"the forward pass of {what} returned a {type(out).__name__}, not a tensor.")
    hidden = unregistered(model, recorded)
    if hidden is not None:
        return {"unregistered": _unregistered_hint(hidden, what)}, "", None
    changed = float((x - before).abs().max())
    try:
        found = recognise(model, tuple(x.shape))
    except ValueError as error:
        raise Stop(f"{what}: {error}.") from error
    repeated = max(recorded.convolutions.values(), default=0)  # a correct block runs each weight once
    if len(found.blocks) != 1:
        if repeated > 1 or changed > 0:  # one path called C times, added onto the input: what mistake 1 does
            return {"1": _one_path_hint(model, spec, what, repeated, changed)}, "", None
        why = found.others[0] if found.others else "no add of the block's input (or its projection) and a branch"
        return {"blocks": hint(
            f"in {what}, {len(found.blocks)} residual bottlenecks were found where one is expected ({why})",
            "your forward: the output is ReLU(branch(x) + shortcut(x))", FORMS_READING)
        }, "", None  # fmt: skip
    block = found.blocks[0]
    hints = _deviation_hints(block, spec, what, changed, out)
    if found.mutated_input and "1" not in hints:
        hints["1"] = mistake_hint(
            1, f"one call of {what} changed its input tensor by up to {changed:.2f}", LOOK["input-in-place"]
        )
    if hints and repeated > 1 and "1" not in hints:
        # a convolution run twice makes the dataflow look like other mistakes (a block ending in an add, no
        # ReLU after it...): it is one path called C times, and what follows from it goes once that is fixed
        return {"1": _one_path_hint(model, spec, what, repeated, changed)}, "", block
    hints = hints or _shape_hints(block, spec, form, what)
    if hints:
        return hints, "", block
    return (*_compare(model, block, spec, what), block)


def _unregistered_hint(hidden: Unregistered, what: str) -> str:
    """The hint for weights the forward pass uses that ``.parameters()`` does not hold: measured, and what it breaks."""
    where = f" ({', '.join(hidden.holders)})" if hidden.holders else ""
    outside = hidden.used - hidden.registered
    return hint(
        f"{what}.parameters() holds {hidden.registered:,} of the {hidden.used:,} parameters its forward pass uses:"
        f" the other {outside:,} are kept where PyTorch does not see them{where}, so an optimizer given"
        " .parameters() would never train them, and .to(), .double() and state_dict() would leave them out",
        "how your __init__ keeps the paths: a module in a plain Python list or dict is not registered;"
        " keep them in an nn.ModuleList (or nn.ModuleDict)",
        FORMS_READING,
    )


def _one_path_hint(model: nn.Module, spec: BlockSpec, what: str, repeated: int, changed: float) -> str:
    """Mistake 1 where the dataflow is no single block: a convolution run several times, and the input written."""
    symptoms = []
    if repeated > 1:
        unique = sum(p.numel() for p in model.parameters())
        needed = sum(p.numel() for p in build(spec, "c").parameters())
        symptoms.append(
            f"its convolutions run up to {repeated} times each with the same weights: {unique:,} distinct parameters"
            f" where the {spec.cardinality} paths of the block need {needed:,}"
        )
    if changed > 0:
        symptoms.append(f"one call changed its input tensor by up to {changed:.2f} (an add in place writes into it)")
    return mistake_hint(
        1, f"in {what}, " + "; and ".join(symptoms), LOOK["shared-weights"] + "; and " + LOOK["input-in-place"]
    )


def _random_input(spec: BlockSpec, seed: int) -> Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(BATCH, spec.in_channels, SIZE, SIZE, generator=generator, dtype=torch.float64)


def _deviation_hints(block: RecognisedBlock, spec: BlockSpec, what: str, changed: float, out: Tensor) -> dict[str, str]:
    """One hint per catalogue mistake the recogniser found (its symptoms together), with numbers measured in it."""
    symptoms: dict[int | str, list[str]] = {}  # mistake number (or the kind, for the catalogue's unnamed) -> symptoms
    looks: dict[int | str, str] = {}
    for deviation in block.deviations:
        key = deviation.mistake if deviation.mistake is not None else deviation.kind
        symptoms.setdefault(key, []).append(_measured(deviation, block, spec, what, changed, out))
        looks.setdefault(key, LOOK.get(deviation.kind, _BRANCH))
    hints = {}
    for key, found in symptoms.items():
        measured = f"in {what}, " + "; and ".join(found)
        if isinstance(key, int):
            hints[str(key)] = mistake_hint(key, measured, looks[key])
        else:
            hints[key] = hint(f"{what} is not the paper's block: " + "; and ".join(found), _BRANCH, FORMS_READING)
    return hints


def _measured(
    deviation: Deviation, block: RecognisedBlock, spec: BlockSpec, what: str, changed: float, out: Tensor
) -> str:
    """The deviation's symptom, with a number measured in the student's block where the recogniser's has none."""
    if deviation.kind == "shared-weights":
        needed = sum(p.numel() for p in build(spec, "c").parameters())  # the same in every form
        return (
            f"the {spec.cardinality} paths share weights: {block.parameters:,} unique parameters are used"
            f" where {needed:,} are needed"
        )
    if deviation.kind == "input-in-place" and changed > 0:
        return f"one call changed its input tensor by up to {changed:.2f}: {deviation.symptom}"
    if deviation.kind == "no-relu-after-add":
        return f"{deviation.symptom}; its output's smallest value is {float(out.min()):.2f}"
    return deviation.symptom


def _shape_hints(block: RecognisedBlock, spec: BlockSpec, form: str, what: str) -> dict[str, str]:
    """Hints where the block is a correct bottleneck, but not of ``spec``'s shape or not in ``form``."""
    hints = {}
    found, wanted = (block.in_channels, block.out_channels, block.stride), (
        spec.in_channels, spec.out_channels, spec.stride
    )  # fmt: skip
    if found != wanted:
        hints["shape"] = (
            hint(f"{what} maps {found[0]} to {found[1]} channels with stride {found[2]}, where the spec asks for"
                 f" {wanted[0]} to {wanted[1]} with stride {wanted[2]}",
                 "how your constructor uses its arguments", FORMS_READING)
        )  # fmt: skip
    if (block.cardinality, block.width) != (spec.cardinality, spec.width):
        measured = (
            f"{what} has {block.cardinality} path(s) of {block.width} channels in its 3x3 stage (C·d ="
            f" {block.cardinality * block.width}), where {spec.cardinality}x{spec.width}d needs"
            f" {spec.cardinality} paths of {spec.width} (C·d = {spec.grouped_channels})"
        )
        if block.cardinality * block.width == spec.out_channels // 4 != spec.grouped_channels:
            hints["width"] = mistake_hint(4, measured, "how you compute the paths' width from the arguments")
        else:
            hints["paths"] = hint(
                measured, "how many paths you make, and how many channels each one has", FORMS_READING
            )
    if not hints and spec.cardinality > 1 and block.layout is not None and block.layout != form:
        layouts = {"a": "C paths whose last 1x1s are summed", "b": "C paths concatenated, then one 1x1",
                   "c": "one grouped 3x3"}  # fmt: skip
        hints["layout"] = (
            hint(f"{what} computes the paper's block, but laid out as form ({block.layout}), {layouts[block.layout]};"
                 f" this exercise asks for form ({form}), {layouts[form]}",
                 "how your block's last 1x1 is split between the paths", FORMS_READING)
        )  # fmt: skip
    return hints


def _compare(model: nn.Module, block: RecognisedBlock, spec: BlockSpec, what: str) -> tuple[dict[str, str], str]:
    """Run the student's block against ``blocks.build(spec, "c")`` holding its tensors, in eval and train mode."""
    if block.canonical is None or (block.error is not None and block.error > CANONICAL_RTOL):
        error = "-" if block.error is None else f"{block.error:.1e}"
        return {"canonical": (
            hint(f"the tensors of {what} do not make the paper's block (a form (c) block rebuilt from them differs"
                 f" by {error}, relative)", _BRANCH, FORMS_READING)
        )}, ""  # fmt: skip
    reference = build(spec, "c").double()
    reference.load_state_dict(block.canonical)
    set_eps(reference, block.eps)  # the student's choice of eps is theirs
    x = _random_input(spec, seed=2)
    errors = {}
    for mode in ("eval", "train"):
        mine, paper = copy.deepcopy(model).train(mode == "train"), copy.deepcopy(reference).train(mode == "train")
        with torch.no_grad():
            errors[mode] = relative_error(mine(x.clone()), paper(x.clone()))
    hints = {}
    if max(errors.values()) > ANSWER_FP64_RTOL:
        hints["modes"] = (
            hint(f"{what} differs from the paper's block holding its own weights by {errors['eval']:.1e} in eval"
                 f" mode and {errors['train']:.1e} in train mode (relative, float64)",
                 "where your BatchNorms sit, and what runs differently in train mode", FORMS_READING)
        )  # fmt: skip
    unique = sum(p.numel() for p in model.parameters())
    needed = sum(p.numel() for p in reference.parameters())
    if unique != needed:
        hints["unused"] = (
            hint(f"{what} holds {unique:,} parameters where the block needs {needed:,}: {unique - needed:,}"
                 " of them are never used", "the layers your __init__ makes and your forward never calls",
                 FORMS_READING)
        )  # fmt: skip
    line = (
        f"{spec}: layout ({block.layout}), {block.cardinality} paths of {block.width} channels, {unique:,} parameters;"
        f" equal to the paper's block to {error_text(errors['eval'])} (eval) and {error_text(errors['train'])}"
        " (train), float64"
    )
    return hints, "" if hints else line
