"""``audit``: run any model once and check it is the ResNeXt (or ResNet) it claims to be.

A parameter table hides most ways to get the block wrong (see
:mod:`blocks.dataflow.mistakes`). The audit therefore reads what the model
COMPUTES, with :func:`blocks.dataflow.recognise.recognise`: every residual
bottleneck in its dataflow, whatever its author called things, with its shape,
C and d, its shortcut, and its tensors mapped onto a form (c) block whose output
is compared with the block's own. Each deviation from the paper's block is a
:class:`Problem` naming the catalogue mistake, the blocks, the measured symptom
and the fix; given ``expected`` (the network the model claims to be), the stem,
the head and every stage (blocks, C x d, parameters) are compared as well.
``report.figure()`` draws one of its blocks as recognised, beside the paper's, each
mistake tagged where it sits (:func:`blocks.figures.found.block_figure`).

Everything runs in eval mode under ``torch.no_grad()``; the model's modes are
restored afterwards and nothing in it changes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from torch import nn

from blocks.core.spec import check_input_size
from blocks.dataflow.mistakes import CATALOGUE
from blocks.dataflow.recognise import (
    CONVENTIONS,
    DeviationKind,
    RecognisedBlock,
    Recognition,
    Variant,
    common_prefix,
    recognise,
)
from blocks.dataflow.recognise.network import layer_kind
from blocks.util.counts import WEIGHT_ARGUMENT, operator_multiply_adds
from blocks.util.numerics import CANONICAL_RTOL
from blocks.util.text import render_table

if TYPE_CHECKING:
    from matplotlib.figure import Figure


@dataclass(frozen=True)
class Problem:
    """One kind of mistake found in a model, with the blocks it was found in.

    Attributes:
        mistake: its number in :data:`blocks.dataflow.mistakes.CATALOGUE`, or None for a
            deviation the catalogue does not name.
        where: the blocks (or "the model", "the stem", a stage) it was found in.
        message: what was measured, in plain words: one or more whole sentences.
        fix: what to write instead, a whole sentence.
    """

    mistake: int | None
    where: str
    message: str
    fix: str

    def __str__(self) -> str:
        label = f"Mistake {self.mistake} ({CATALOGUE[self.mistake].title})" if self.mistake else "Not the paper's block"
        return f"{label}, in {self.where}: {self.message} Fix: {self.fix}"


@dataclass(frozen=True)
class StageRow:
    """One stage: consecutive blocks at one resolution and width (a new stage starts where either changes).

    ``stride`` is the stage's first block's: how much the stage shrinks the map.
    """

    name: str
    blocks: int
    widths: tuple[str, ...]
    out_channels: int
    parameters: int
    stride: int = 1


@dataclass(frozen=True)
class AuditReport:
    """What :func:`audit` measured; ``problems`` is empty for a correct ResNeXt/ResNet.

    Attributes:
        model: the model's class name.
        input_size: the shape of the random input it ran on.
        unique_parameters: every parameter tensor of the model counted once.
        per_call_parameters: the parameters the forward pass used, counted once per use,
            as a naive summary tool counts them; larger exactly when weights are shared.
        multiply_adds: of the convolutions and linear layers, per image of the input.
        repeated: the outermost modules with weights that ran more than once per forward
            pass, as (name, class, calls, parameters).
        blocks: every residual bottleneck found, in the order they ran.
        stages: the blocks grouped into stages.
        stem, head: the layers before the first and after the last block, in words.
        total_stride: the input's width over the last block's output's (32 for the paper's
            networks), or None when no block was found.
        expected_stages: the stages of ``expected``, or None without it.
        problems: one :class:`Problem` per kind of mistake, naming its blocks; a list,
            so that ``report.problems == []`` reads as "nothing wrong".
        variants: one sentence per kind of variant (what a documented member of the family adds to
            the paper's block: an SE gate, another activation, ResNet-D's shortcut), naming its
            blocks and its origin. Variants are not mistakes.
    """

    model: str
    input_size: tuple[int, ...]
    unique_parameters: int
    per_call_parameters: int
    multiply_adds: int
    repeated: tuple[tuple[str, str, int, int], ...]
    blocks: tuple[RecognisedBlock, ...]
    stages: tuple[StageRow, ...]
    stem: tuple[str, ...]
    head: tuple[str, ...]
    expected_stages: tuple[StageRow, ...] | None
    problems: list[Problem] = field(default_factory=list)
    variants: list[str] = field(default_factory=list)
    total_stride: int | None = None

    def __str__(self) -> str:
        lines = [
            f"Audit of {self.model} on an input of size {self.input_size}",
            f"  parameters, unique:            {self.unique_parameters:>14,}",
            f"  parameters, counted per use:   {self.per_call_parameters:>14,}",
            f"  multiply-adds per image:       {self.multiply_adds:>14,}",
            f"  stem: {', '.join(self.stem) or '-'}",
            f"  head: {', '.join(self.head) or '-'}",
            f"  total stride:                  {'-' if self.total_stride is None else self.total_stride:>14}",
            "",
            "Modules with weights that ran more than once per forward pass:" + ("" if self.repeated else " none"),
            *(
                f"  {name} ({kind}, {weights:,} parameters): {calls} calls"
                for name, kind, calls, weights in self.repeated
            ),
            "",
            f"Bottlenecks ({len(self.blocks)}):",
        ]
        rows = [
            (b.where, b.source, b.in_channels, b.out_channels, b.stride, b.widths, b.layout or "-", b.shortcut,
             "-" if b.error is None else f"{b.error:.1e}",
             "yes" if b.equivalent else "variant" if b.variants and not b.deviations else "NO")
            for b in self.blocks
        ]  # fmt: skip
        block_columns = ("block", "source", "in", "out", "stride", "C x d", "layout", "shortcut", "error", "paper's")
        lines += _indent(render_table(block_columns, rows, style="plain"))
        lines += ["", "Stages:"]
        expected = list(self.expected_stages or ())
        stage_rows: list[tuple[str | int, ...]] = []
        for i, stage in enumerate(self.stages):
            row: tuple[str | int, ...] = (
                stage.name, stage.blocks, stage.stride, " ".join(stage.widths), f"{stage.parameters:,}"
            )  # fmt: skip
            if self.expected_stages is not None:
                other = expected[i] if i < len(expected) else None
                row += (
                    (other.blocks, other.stride, " ".join(other.widths), f"{other.parameters:,}")
                    if other
                    else ("-", "-", "-", "-")
                )
            stage_rows.append(row)
        columns: tuple[str, ...] = ("stage", "blocks", "stride", "C x d", "parameters")
        if self.expected_stages is not None:
            columns += ("expected blocks", "expected stride", "expected C x d", "expected parameters")
        lines += _indent(render_table(columns, stage_rows, style="plain"))
        lines += ["", "Variants (what members of the family add to the paper's block; not mistakes):"
                  + ("" if self.variants else " none")]  # fmt: skip
        lines += [f"  - {variant}" for variant in self.variants]
        lines += ["", "Problems:" + ("" if self.problems else " none")]
        lines += [f"  - {problem}" for problem in self.problems]
        return "\n".join(lines)

    def figure(self, block: int | str | None = None) -> Figure:
        """One of its blocks drawn as recognised, beside the paper's block, each mistake and variant marked.

        The drawing is :func:`blocks.figures.found.block_figure`, in the figures' layer above this
        one: this method only hands the report over, importing the figures when it is called (the
        one import of a higher layer, named in pyproject.toml's import contracts), so that a report
        draws itself in a notebook (``display(report.figure())``) while an audit never loads matplotlib.

        Args:
            block: which block, by index into :attr:`blocks` or by name (``"layer1.0"``); default the
                first with a deviation, else the first with a variant, else the first.

        Returns:
            The matplotlib figure.

        Raises:
            ValueError: the report holds no block, or ``block`` is none of its blocks.

        Example:
            >>> blocks.audit(mistakes.WrongConvBiasBlock(spec), (2, 256, 8, 8)).figure()
            <Figure size ... with 1 Axes>
        """
        from blocks.figures.found import block_figure  # the one upward import (pyproject.toml: importlinter)

        return block_figure(self, block)


def audit(model: nn.Module, input_size: tuple[int, ...], expected: nn.Module | None = None) -> AuditReport:
    """Run ``model`` once on a random input and report whether it is a correct ResNeXt/ResNet.

    Args:
        model: a network or a single block, written in any style (ours in any form,
            torchvision's, timm's, a student's, a functional one).
        input_size: the input's shape, e.g. ``(1, 3, 64, 64)`` for an ImageNet network
            or ``(2, 256, 8, 8)`` for a block; small sizes keep the audit fast.
        expected: the network ``model`` claims to be, e.g. ``blocks.resnext(50, 32, 4)``;
            its stem, head and stages are compared with ``model``'s.

    Returns:
        An :class:`AuditReport`; ``report.problems`` lists each mistake found as a
        :class:`Problem` (``str(problem)`` is its sentence), ``str(report)`` the tables.

    Raises:
        TypeError: ``model`` or ``expected`` is not an ``nn.Module``.
        ValueError: ``input_size`` is not a tuple of positive ints starting with the
            batch size, or ``model`` or ``expected`` fails on an input of that size (the message names which).

    Example:
        >>> blocks.audit(blocks.resnext(50, 32, 4), (1, 3, 64, 64)).problems
        []
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if expected is not None and not isinstance(expected, nn.Module):
        raise TypeError(f"expected must be a torch.nn.Module or None, got {type(expected).__name__}")
    check_input_size(input_size)
    found = recognise(model, input_size)
    stages = _stages(found.blocks)
    problems = _block_problems(found) + _stem_problems(found) + _shared_weights_problems(found)
    expected_stages = None
    if expected is not None and found.blocks:  # no block: the comparison would say nothing true
        try:
            reference = recognise(expected, input_size)
        except ValueError as error:  # recognise's "the model fails on ...": here the model is `expected`
            failure = str(error).removeprefix("the model ")  # "fails on an input of input_size=...: ..."
            raise ValueError(f"audit: expected (a {type(expected).__name__}) {failure}") from error
        expected_stages = _stages(reference.blocks)
        problems += _compare(found, stages, reference, expected_stages)
    return AuditReport(
        model=found.model,
        input_size=input_size,
        unique_parameters=sum(p.numel() for p in model.parameters()),
        per_call_parameters=found.trace.parameter_counts()[1],
        multiply_adds=_multiply_adds(found),
        repeated=_repeated(found),
        blocks=found.blocks,
        stages=stages,
        stem=found.stem,
        head=found.head,
        expected_stages=expected_stages,
        problems=problems,
        variants=_variants(found),
        total_stride=_total_stride(found),
    )


def _variants(found: Recognition) -> list[str]:
    """One sentence per kind and place of variant, naming every block it was found in."""
    kinds: dict[tuple[str, str], tuple[Variant, list[str]]] = {}
    for block in found.blocks:
        for variant in block.variants:
            kinds.setdefault((variant.kind, variant.where), (variant, []))[1].append(block.where)
    sentences = []
    for variant in found.stem_variants:
        sentences.append(f"{_capital(variant.kind.label)} ({variant.kind.origin}), {variant.where}: {variant.detail}.")
    for variant, names in kinds.values():
        what = f"{_capital(variant.kind.label)} ({variant.kind.origin})"
        sentences.append(f"{what}, in {_name_blocks(names)}, {variant.where}: {variant.detail}.")
    return sentences


def _capital(text: str) -> str:
    return text[0].upper() + text[1:]


def _block_problems(found: Recognition) -> list[Problem]:
    """One Problem per kind of deviation, naming every block it was found in."""
    if not found.blocks:
        why = f" ({found.others[0]})" if found.others else ""
        return [
            Problem(
                None,
                "the model",
                f"No residual bottleneck was found in its forward pass{why}.",
                "Write the paper's block: y = ReLU(BN(F(x)) + shortcut(x)) with F = 1x1 -> 3x3 -> 1x1 over C paths.",
            )
        ]
    kinds: dict[tuple[int | None, str], tuple[str, list[str]]] = {}
    for block in found.blocks:
        for deviation in block.deviations:
            if deviation.kind in CONVENTIONS:
                continue
            symptom, names = kinds.setdefault((deviation.mistake, deviation.kind), (deviation.symptom, []))
            names.append(block.where)
        if not block.deviations and block.error is not None and block.error > CANONICAL_RTOL:
            symptom, names = kinds.setdefault(
                (None, "error"),
                (f"a form (c) block rebuilt from its tensors differs from it by {block.error:.1e} (relative)", []),
            )
            names.append(block.where)
    for other in found.others:  # a residual add found beside the bottlenecks that is none: never a silent miss
        symptom, names = kinds.setdefault((None, other), (other.partition(": ")[2], []))
        names.append(other.partition(" (")[0])
    problems = []
    for (mistake, _), (symptom, names) in kinds.items():
        where = _name_blocks(names)
        count = f"In {len(names)} blocks" if len(names) > 1 else "In this block"
        message = f"{count}, {symptom}." if len(names) > 1 else f"{symptom[0].upper()}{symptom[1:]}."
        fix = (
            CATALOGUE[mistake].fix[0].upper() + CATALOGUE[mistake].fix[1:] + "."
            if mistake
            else "Write the paper's bottleneck: 1x1 -> BN -> ReLU -> grouped 3x3 -> BN -> ReLU -> 1x1 -> BN."
        )
        problems.append(Problem(mistake, where, message, fix))
    if found.mutated_input and not any(p.mistake == 1 and "in place" in p.message for p in problems):
        problems.append(
            Problem(1, "the model", "Its forward pass writes into the caller's input tensor in place.",
                    CATALOGUE[1].fix[0].upper() + CATALOGUE[1].fix[1:] + ".")
        )  # fmt: skip
    return problems


def _compare(
    found: Recognition, stages: tuple[StageRow, ...], reference: Recognition, expected: tuple[StageRow, ...]
) -> list[Problem]:
    """Problems where ``found`` differs from ``reference``: blocks per stage (6), widths (4), the rest (12)."""
    problems = []
    ours = [s.blocks for s in stages]
    theirs = [s.blocks for s in expected]
    if ours != theirs:
        one_more = len(ours) == len(theirs) and all(a == b + 1 for a, b in zip(ours, theirs))
        problems.append(
            Problem(
                6 if one_more else 12,
                "the stages",
                f"Its stages have {'-'.join(map(str, ours)) or 'no'} blocks where the expected network has"
                f" {'-'.join(map(str, theirs)) or 'none'}.",
                _fix(6 if one_more else 12),
            )
        )
    if len(stages) == len(expected) and [s.widths for s in stages] != [s.widths for s in expected]:
        quarter = all(b.cardinality * b.width == b.out_channels // 4 for b in found.blocks) and not all(
            b.cardinality * b.width == b.out_channels // 4 for b in reference.blocks
        )
        widths = "; ".join(" ".join(s.widths) for s in stages)
        wanted = "; ".join(" ".join(s.widths) for s in expected)
        problems.append(
            Problem(
                4 if quarter else 12,
                "the stages",
                f"Its stages' blocks are {widths} where the expected network's are {wanted}"
                + (" (C·d is out_channels // 4 in every block)." if quarter else "."),
                _fix(4 if quarter else 12),
            )
        )
    strides = "-".join(str(s.stride) for s in stages)
    wanted_strides = "-".join(str(s.stride) for s in expected)
    total, wanted_total = _total_stride(found), _total_stride(reference)
    if (len(stages) == len(expected) and strides != wanted_strides) or total != wanted_total:
        problems.append(
            Problem(12, "the stages", f"Its stages have strides {strides} (total stride {total}) where the expected"
                    f" network's have {wanted_strides} (total stride {wanted_total}).", _fix(12))
        )  # fmt: skip
    for part, mine, other in (("stem", found.stem, reference.stem), ("head", found.head, reference.head)):
        if [layer_kind(words) for words in mine] != [layer_kind(words) for words in other]:
            problems.append(
                Problem(12, f"the {part}", f"Its {part} is {', '.join(mine) or 'empty'} where the expected"
                        f" network's is {', '.join(other) or 'empty'}.", _fix(12))
            )  # fmt: skip
    if not problems and [s.out_channels for s in stages] != [s.out_channels for s in expected]:
        problems.append(
            Problem(12, "the stages", f"Its stages output {[s.out_channels for s in stages]} channels where the"
                    f" expected network's output {[s.out_channels for s in expected]}.", _fix(12))
        )  # fmt: skip
    return problems


def _fix(mistake: int) -> str:
    return CATALOGUE[mistake].fix[0].upper() + CATALOGUE[mistake].fix[1:] + "."


def _stages(found: tuple[RecognisedBlock, ...]) -> tuple[StageRow, ...]:
    """Consecutive blocks grouped into stages: a new stage begins where the resolution or the width changes.

    Not at every projection: a network with a projection in every block (where the identity fits)
    has the stages of the network it means, and its shortcuts are reported as what they are.
    """
    groups: list[list[RecognisedBlock]] = []
    for block in found:
        if not groups or block.stride != 1 or groups[-1][-1].out_channels != block.out_channels:
            groups.append([])
        groups[-1].append(block)
    rows = []
    for number, members in enumerate(groups, start=1):
        prefix = common_prefix([b.where for b in members])
        rows.append(
            StageRow(
                name=prefix if prefix and len(members) > 1 else f"stage {number}",
                blocks=len(members),
                widths=tuple(dict.fromkeys(b.widths for b in members)),
                out_channels=members[-1].out_channels,
                parameters=sum(b.parameters for b in members),
                stride=members[0].stride,
            )
        )
    return tuple(rows)


# Operators that read a part of a tensor: a weight read by several of them is cut, not used more than once.
_PARTIAL_READS = frozenset(
    {"slice", "narrow", "select", "split", "split_with_sizes", "chunk", "unbind", "index_select"}
)


def _total_stride(found: Recognition) -> int | None:
    """The input's width over the last block's output's: the stem's stride times every stage's."""
    if not found.blocks:
        return None
    last = found.blocks[-1]
    return found.input_size[-1] // max(1, -(-last.input_shape[-1] // last.stride))


def _stem_problems(found: Recognition) -> list[Problem]:
    """One Problem per mistake of the stem (a convolution bias before its BN: mistake 8)."""
    return [
        Problem(d.mistake, "the stem", f"{d.symptom[0].upper()}{d.symptom[1:]}.", _fix(d.mistake))
        for d in found.stem_deviations
        if d.mistake is not None
    ]


def _shared_weights_problems(found: Recognition) -> list[Problem]:
    """Mistake 1 where weights are used more than once per forward pass, in any dataflow, with the count.

    A path module called C times, each call adding onto the block's input (``x += path(x)``), is C
    chained residual steps as dataflow, each on its own the paper's block: only the uses of its
    weights show that they are one set. Not repeated where a block already names its shared weights.
    """
    if any(d.kind is DeviationKind.SHARED_WEIGHTS for b in found.blocks for d in b.deviations):
        return []
    trace = found.trace
    # a slice of a weight per path (a hand-written grouped conv) is no reuse
    uses = trace.parameter_uses(op.index for op in trace.ops if op.name not in _PARTIAL_READS)
    by_count: dict[int, list[int]] = {}
    for value, count in uses.items():
        if count > 1 and trace.values[value].tensor.ndim > 1:  # a weight (not a BN's scale): a layer reused
            by_count.setdefault(count, []).append(value)
    problems = []
    for count, values in sorted(by_count.items()):
        names = [trace.values[v].name for v in values]
        modules = [n.rpartition(".")[0] or "(model)" for n in names]
        owner = common_prefix(modules) or _name_blocks(modules)
        weights = sum(trace.values[v].tensor.numel() for v in values)
        problems.append(
            Problem(1, owner, f"The weights of {owner} ({weights:,} weights in {len(values)} tensors) are used"
                    f" {count} times per forward pass: {count} paths or blocks share one set of weights, which an"
                    " optimizer trains as one.", _fix(1))
        )  # fmt: skip
    return problems


def _multiply_adds(found: Recognition) -> int:
    """Multiply-adds of every convolution and linear operator that ran, per image (the closed form)."""
    trace, batch, total = found.trace, found.input_size[0], 0
    for op in trace.ops:
        if op.name in WEIGHT_ARGUMENT:
            weight = trace.values[op.inputs[WEIGHT_ARGUMENT[op.name]]].tensor
            total += operator_multiply_adds(op.name, weight.shape, trace.values[op.outputs[0]].tensor.shape, batch)
    return total


def _repeated(found: Recognition) -> tuple[tuple[str, str, int, int], ...]:
    """The outermost modules holding parameters that ran more than once, with their call counts."""
    calls: dict[str, tuple[nn.Module, int]] = {}
    for call in found.trace.calls:
        module, count = calls.get(call.name, (call.module, 0))
        calls[call.name] = (module, count + 1)
    repeated = {
        name: (module, count)
        for name, (module, count) in calls.items()
        if count > 1 and name and any(True for _ in module.parameters())
    }
    outermost = [name for name in repeated if not any(name.startswith(other + ".") for other in repeated)]
    return tuple(
        (
            name,
            type(repeated[name][0]).__name__,
            repeated[name][1],
            sum(p.numel() for p in repeated[name][0].parameters()),
        )
        for name in outermost
    )


def _name_blocks(names: list[str]) -> str:
    """Block names, merged where they differ only in their last index: ``layer1.{0-2}, layer2.0``."""
    names = list(dict.fromkeys(names))
    merged: dict[str, list[int]] = {}
    others = []
    for name in names:
        match = re.fullmatch(r"(.*)\.(\d+)", name)
        if match:
            merged.setdefault(match[1], []).append(int(match[2]))
        else:
            others.append(name)
    parts = []
    for prefix, indices in merged.items():
        indices.sort()
        runs = []
        start = previous = indices[0]
        for index in [*indices[1:], None]:
            if index is not None and index == previous + 1:
                previous = index
                continue
            runs.append(f"{start}" if start == previous else f"{start}-{previous}")
            if index is not None:
                start = previous = index
        parts.append(
            f"{prefix}.{runs[0]}" if len(runs) == 1 and "-" not in runs[0] else f"{prefix}.{{{','.join(runs)}}}"
        )
    return ", ".join([*parts, *("the model" if name == "(model)" else name for name in others)])


def _indent(text: str) -> list[str]:
    return ["  " + line for line in text.splitlines()]
