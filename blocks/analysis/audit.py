# mypy: ignore-errors
# (this module is rebuilt on blocks.analysis.recognise in the next change; its old internals are not worth typing)
"""``audit``: run a network once and check it is the ResNeXt (or ResNet) it claims to be.

A parameter table hides most ways to get the block wrong (see
:mod:`blocks.analysis.mistakes`). The audit therefore runs one forward pass with hooks
on every module and measures:

* parameters counted once (unique tensors) and counted per call, as a naive
  summary tool does; they differ exactly when a module with weights runs more
  than once, i.e. when "C paths" share one set of weights;
* every convolution's in/out channels, kernel, stride and groups;
* every bottleneck (a module with a ``conv3``, ``paths`` or ``path`` child, as
  in torchvision and in :mod:`blocks.core.forms`): its channels, stride, C and d,
  and whether its tensors, gathered into form (c)'s layout
  (:mod:`blocks.core.canonical`), make a canonical form (c) block that computes the
  same output from the same input;
* whether a module changed its input tensor in place;
* given ``expected``, stage by stage: block counts, widths (C x d) and parameters.

Everything runs in eval mode under ``torch.no_grad()``; the model's modes are
restored afterwards and nothing in it changes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from blocks.analysis.proof import relative_error
from blocks.core._fast import empty_block
from blocks.core.canonical import to_canonical
from blocks.core.spec import BlockSpec, check_input_size

# A canonical form (c) block rebuilt from a block's own tensors must reproduce its
# output to rounding: the forms add the same products in another order (float32
# ulp 1.2e-7, see blocks.analysis.proof.TOLERANCES); a layout mistake gives errors of order 1.
CANONICAL_RTOL = 1e-4
_BLOCK_CHILDREN = ("conv3", "paths", "path")  # a module with one of these children is a bottleneck
_SEED = 0


@dataclass(frozen=True)
class ConvRow:
    """One convolution module, as it ran."""

    name: str
    in_channels: int
    out_channels: int
    kernel: int
    stride: int
    groups: int
    calls: int


@dataclass(frozen=True)
class BlockRow:
    """One bottleneck block, as it ran.

    ``form`` is "a", "b" or "c" when the block matches that canonical form, else
    None and ``mismatch`` says why. ``cardinality`` and ``width`` are read from
    its 3x3 convolutions (C = their groups, summed over calls; C·d = their outputs).
    """

    name: str
    stage: str
    in_channels: int
    out_channels: int
    stride: int
    cardinality: int
    width: int
    parameters: int
    form: str | None
    mismatch: str | None

    @property
    def widths(self) -> str:
        return f"{self.cardinality}x{self.width}d"


@dataclass(frozen=True)
class StageRow:
    """One stage (a top-level child holding bottlenecks, e.g. ``layer1``)."""

    name: str
    blocks: int
    widths: tuple[str, ...]
    parameters: int


@dataclass(frozen=True)
class AuditReport:
    """What :func:`audit` measured; ``problems`` is empty for a correct ResNeXt/ResNet.

    Attributes:
        model: the model's class name.
        input_size: the shape of the random input it ran on.
        unique_parameters: every parameter tensor counted once (what an optimiser trains).
        per_call_parameters: each module's own parameters counted once per call, as a
            naive summary tool does; larger exactly when weights are shared between calls.
        multiply_adds: of the convolutions and linear layers, per image of the input.
        repeated: the outermost modules with weights that ran more than once.
        convs: every convolution that ran, in the order they first ran.
        blocks: every bottleneck, in the order they ran.
        stages: the top-level children holding bottlenecks (``layer1`` …), with their totals.
        expected_stages: the same for ``expected``, or None without it.
        problems: one readable sentence per kind of mistake found, naming the modules;
            a list, so that ``report.problems == []`` reads as "nothing wrong".
    """

    model: str
    input_size: tuple[int, ...]
    unique_parameters: int
    per_call_parameters: int
    multiply_adds: int
    repeated: tuple[tuple[str, str, int, int], ...]  # (module, type, calls, parameters)
    convs: tuple[ConvRow, ...]
    blocks: tuple[BlockRow, ...]
    stages: tuple[StageRow, ...]
    expected_stages: tuple[StageRow, ...] | None
    problems: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        lines = [
            f"Audit of {self.model} on an input of size {self.input_size}",
            f"  parameters, unique:            {self.unique_parameters:>14,}",
            f"  parameters, counted per call:  {self.per_call_parameters:>14,}",
            f"  multiply-adds per image:       {self.multiply_adds:>14,}",
            "",
            "Modules with weights that ran more than once per forward pass:" + ("" if self.repeated else " none"),
        ]
        lines += [
            f"  {name} ({kind}, {weights:,} parameters): {calls} calls" for name, kind, calls, weights in self.repeated
        ]
        lines += ["", f"Convolutions ({len(self.convs)} modules; rows merge modules that differ only in one index):"]
        lines += _table(
            ("name", "modules", "in", "out", "kernel", "stride", "groups", "calls each"),
            [
                (name, n, *attrs)
                for name, n, attrs in _merge_rows(
                    (c.name, (c.in_channels, c.out_channels, f"{c.kernel}x{c.kernel}", c.stride, c.groups, c.calls))
                    for c in self.convs
                )
            ],
        )
        lines += ["", f"Bottlenecks ({len(self.blocks)}):"]
        lines += _table(
            ("name", "in", "out", "stride", "C x d", "parameters", "canonical"),
            [
                (
                    b.name or "(model)",
                    b.in_channels,
                    b.out_channels,
                    b.stride,
                    b.widths,
                    f"{b.parameters:,}",
                    f"form ({b.form})" if b.form else "NO",
                )
                for b in self.blocks
            ],
        )
        if self.expected_stages is not None:
            lines += ["", "Stages, this model against the expected one:"]
            expected = {s.name: s for s in self.expected_stages}
            rows = []
            for stage in self.stages:
                other = expected.get(stage.name, StageRow(stage.name, 0, (), 0))
                rows.append(
                    (
                        stage.name,
                        stage.blocks,
                        other.blocks,
                        " ".join(stage.widths),
                        " ".join(other.widths),
                        f"{stage.parameters:,}",
                        f"{other.parameters:,}",
                    )
                )
            lines += _table(("stage", "blocks", "expected", "C x d", "expected", "parameters", "expected"), rows)
        lines += ["", "Problems:" + ("" if self.problems else " none")]
        lines += [f"  - {problem}" for problem in self.problems]
        return "\n".join(lines)


def audit(model: nn.Module, input_size: tuple[int, ...], expected: nn.Module | None = None) -> AuditReport:
    """Run ``model`` once on a random input and report whether it is a correct ResNeXt/ResNet.

    Args:
        model: a network or a single block (ours in any form, torchvision's, or anyone's).
        input_size: the input's shape, e.g. ``(1, 3, 64, 64)`` for an ImageNet network
            or ``(1, 256, 8, 8)`` for a block; small sizes keep the audit fast.
        expected: a reference network of the shape ``model`` claims, e.g.
            ``blocks.resnext(50, 32, 4)``; its stages are compared with ``model``'s.

    Returns:
        An :class:`AuditReport`; ``report.problems`` lists each mistake found as a
        readable sentence, ``str(report)`` is the full table.

    Raises:
        ValueError: ``input_size`` is not a tuple of positive ints starting with the batch size.

    Example:
        >>> blocks.audit(blocks.resnext(50, 32, 4), (1, 3, 64, 64)).problems
        []
    """
    check_input_size(input_size)
    recorder = _Recorder(model)
    recorder.run(input_size)
    problems = recorder.problems()
    stages = _stages(model, recorder.blocks)
    expected_stages = None
    if expected is not None:
        reference = audit(expected, input_size)
        expected_stages = reference.stages
        problems += _compare(stages, expected_stages, recorder.unique, reference.unique_parameters)
    return AuditReport(
        model=type(model).__name__,
        input_size=input_size,
        unique_parameters=recorder.unique,
        per_call_parameters=recorder.per_call,
        multiply_adds=recorder.multiply_adds // input_size[0],
        repeated=recorder.repeated(),
        convs=tuple(ConvRow(**row, calls=recorder.calls[row["name"]]) for row in recorder.convs.values()),
        blocks=tuple(recorder.blocks),
        stages=stages,
        expected_stages=expected_stages,
        problems=problems,
    )


def _own_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters(recurse=False))


class _Recorder:
    """The forward hooks of one audit and what they saw."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.names = {module: name for name, module in model.named_modules()}
        self.unique = sum(p.numel() for p in model.parameters())
        self.calls: Counter[str] = Counter()
        self.per_call = 0
        self.multiply_adds = 0
        self.convs: dict[str, dict] = {}
        self.mutated: list[str] = []
        self.blocks: list[BlockRow] = []
        self.block_names = _bottlenecks(model)
        self._inputs: dict[str, list[Tensor]] = {}

    def run(self, input_size: tuple[int, ...]) -> None:
        first = next(self.model.parameters(), None)
        dtype = first.dtype if first is not None else torch.get_default_dtype()
        device = first.device if first is not None else None
        x = torch.randn(input_size, generator=torch.Generator().manual_seed(_SEED), dtype=dtype).to(device)
        modes = {module: module.training for module in self.model.modules()}
        handles = []
        for module in self.model.modules():
            handles.append(module.register_forward_pre_hook(self._before))
            handles.append(module.register_forward_hook(self._after))
        try:
            self.model.eval()
            with torch.no_grad():
                self.model(x)
        finally:
            for handle in handles:
                handle.remove()
            for module, training in modes.items():
                module.training = training

    def _before(self, module: nn.Module, inputs: tuple) -> None:
        name = self.names[module]
        self.calls[name] += 1
        self.per_call += _own_parameters(module)
        if next(module.children(), None) is not None:  # containers: keep the input, to spot in-place changes
            self._inputs[name] = [t.clone() for t in inputs if isinstance(t, Tensor)]

    def _after(self, module: nn.Module, inputs: tuple, output: object) -> None:
        name = self.names[module]
        if isinstance(module, nn.Conv2d):
            self._conv(name, module, output)
        elif isinstance(module, nn.Linear):
            self.multiply_adds += output.numel() * module.in_features
        saved = self._inputs.pop(name, None)
        if saved is None:
            return
        now = [t for t in inputs if isinstance(t, Tensor)]
        if any(not torch.equal(a, b) for a, b in zip(saved, now)) and name not in self.mutated:
            self.mutated.append(name)
        if name in self.block_names and isinstance(output, Tensor) and saved:
            self.blocks.append(self._block(name, module, saved[0], output))

    def _conv(self, name: str, conv: nn.Conv2d, output: Tensor) -> None:
        kernel = conv.kernel_size[0] * conv.kernel_size[1]
        self.multiply_adds += output.numel() * conv.in_channels // conv.groups * kernel
        self.convs.setdefault(
            name,
            dict(
                name=name,
                in_channels=conv.in_channels,
                out_channels=conv.out_channels,
                kernel=conv.kernel_size[0],
                stride=conv.stride[0],
                groups=conv.groups,
            ),
        )

    def _block(self, name: str, block: nn.Module, x: Tensor, y: Tensor) -> BlockRow:
        inside = [c for c in self.convs.values() if c["name"].startswith(f"{name}." if name else "")]
        threes = [c for c in inside for _ in range(self.calls[c["name"]]) if c["kernel"] == 3]
        cardinality = sum(c["groups"] for c in threes)
        width = sum(c["out_channels"] for c in threes) // max(cardinality, 1)
        stride = max(1, round(x.shape[-1] / y.shape[-1]))
        form, mismatch = None, None
        try:
            spec = BlockSpec(x.shape[1], y.shape[1], cardinality, width, stride)
        except ValueError as error:
            mismatch = f"cannot be read as a bottleneck ({error})"
        else:
            form, mismatch = _match_canonical(block, spec, x, y)
        return BlockRow(
            name=name,
            stage=name.split(".")[0],
            in_channels=x.shape[1],
            out_channels=y.shape[1],
            stride=stride,
            cardinality=cardinality,
            width=width,
            parameters=sum(p.numel() for p in block.parameters()),
            form=form,
            mismatch=mismatch,
        )

    def repeated(self) -> tuple[tuple[str, str, int, int], ...]:
        """(name, type, calls, parameters) of the outermost modules with weights that ran more than once."""
        found = []
        for module, name in self.names.items():
            if self.calls[name] < 2 or any(_inside(name, other) for other, *_ in found):
                continue
            weights = sum(p.numel() for p in module.parameters())
            if weights:
                found.append((name, type(module).__name__, self.calls[name], weights))
        return tuple(found)

    def problems(self) -> list[str]:
        """One sentence per kind of finding, naming every module it concerns."""
        findings: list[tuple[str, str]] = []  # (module name, what is wrong with it)
        for name, _, calls, _ in self.repeated():
            findings.append(
                (
                    name,
                    f"ran {calls} times in one forward pass: ONE set of weights called {calls} times,"
                    " not distinct paths, so counting parameters per call inflates the total"
                    " (mistake 1; fix: a ModuleList of distinct paths)",
                )
            )
        for module, name in self.names.items():
            if self.calls[name] == 0 and _own_parameters(module):
                findings.append((name, "holds parameters but never ran"))
        for name in self.mutated:
            findings.append(
                (
                    name,
                    "changed its input tensor in place, so the caller's tensor now holds something"
                    " else (mistake 1; fix: out = out + identity, not identity += out)",
                )
            )
        flagged = set()
        for conv in self.convs.values():
            if conv["kernel"] == 1 and conv["groups"] > 1:
                flagged.add(conv["name"])
                findings.append(
                    (
                        conv["name"],
                        f"a 1x1 convolution with groups={conv['groups']}; ResNeXt groups only"
                        " the 3x3 (mistake 3; fix: groups=1 on the 1x1s)",
                    )
                )
        for block in self.blocks:
            findings += self._block_findings(block, flagged)
        return _merge_findings(findings)

    def _block_findings(self, block: BlockRow, flagged: set[str]) -> list[tuple[str, str]]:
        prefix = f"{block.name}." if block.name else ""
        inside = [c for c in self.convs.values() if c["name"].startswith(prefix)]
        if block.stride > 1 and any(c["kernel"] == 3 and c["stride"] != block.stride for c in inside):
            strided = [
                c["name"][len(prefix) :]
                for c in inside
                if c["kernel"] == 1 and c["stride"] > 1 and "downsample" not in c["name"]
            ]
            return [
                (
                    block.name,
                    f"stride {block.stride} on a 1x1 ({', '.join(strided)}) while the 3x3 has"
                    " stride 1, so the 1x1 skips 3 of every 4 positions (mistake 5; fix: the stride on the"
                    " 3x3, paper section 4)",
                )
            ]
        if block.mismatch is None or any(c["name"] in flagged for c in inside):
            return []
        return [(block.name, f"not a canonical bottleneck: {block.mismatch}")]


def _match_canonical(block: nn.Module, spec: BlockSpec, x: Tensor, y: Tensor) -> tuple[str | None, str | None]:
    """(form, None) if ``block``'s tensors make a form (c) block computing ``y`` from ``x``; else (None, why)."""
    state = block.state_dict()
    paths = [key for key in state if key.startswith("paths.")]
    form = "c" if not paths else "a" if any(".conv3." in key for key in paths) else "b"
    try:
        canonical = to_canonical(state)
    except ValueError as error:
        return None, str(error)
    reference = empty_block(spec, "c")
    needed = reference.state_dict()
    extra, missing = sorted(canonical.keys() - needed.keys()), sorted(needed.keys() - canonical.keys())
    if extra or missing:
        return None, f"tensors {extra[:2]} have no place in form (c), which needs {missing[:2]}"
    for key, like in needed.items():
        have = canonical[key]
        if have.shape != like.shape:
            ratio = have.numel() / like.numel()
            if ratio.is_integer() and ratio > 1:  # e.g. a BN per path where form (c) has one
                return None, f"the paths' tensors gather to {key} with {ratio:.0f}x the entries form (c) has"
            return None, f"{key} has shape {tuple(have.shape)}, form (c) has {tuple(like.shape)}"
    reference.load_state_dict(canonical, assign=True)
    output = reference.eval()(x)
    if output.shape != y.shape:
        return None, f"form (c) with the same weights outputs shape {tuple(output.shape)}, not {tuple(y.shape)}"
    error = relative_error(y, output)
    if error > CANONICAL_RTOL:
        return None, f"form (c) with the same weights computes something else (relative error {error:.2g})"
    return form, None


def _inside(name: str, ancestor: str) -> bool:
    return ancestor == "" or name.startswith(ancestor + ".")


def _bottlenecks(model: nn.Module) -> set[str]:
    """Names of the outermost modules with a ``conv3``, ``paths`` or ``path`` child."""
    found: list[str] = []
    for name, module in model.named_modules():
        children = dict(module.named_children())
        if any(child in children for child in _BLOCK_CHILDREN) and not any(_inside(name, f) for f in found):
            found.append(name)
    return set(found)


def _stages(model: nn.Module, blocks: list[BlockRow]) -> tuple[StageRow, ...]:
    rows = []
    for stage in dict.fromkeys(block.stage for block in blocks):
        members = [block for block in blocks if block.stage == stage]
        module = model.get_submodule(stage) if members[0].name else model
        rows.append(
            StageRow(
                name=stage,
                blocks=len(members),
                widths=tuple(dict.fromkeys(b.widths for b in members)),
                parameters=sum(p.numel() for p in module.parameters()),
            )
        )
    return tuple(rows)


def _compare(
    stages: tuple[StageRow, ...], expected: tuple[StageRow, ...], total: int, expected_total: int
) -> list[str]:
    """One sentence per quantity (stage names, blocks, widths, parameters) that differs from ``expected``."""
    ours, theirs = [s.name for s in stages], [s.name for s in expected]
    if ours != theirs:
        return [f"stages {', '.join(ours)}, expected {', '.join(theirs)}", *_compare_total(total, expected_total)]
    problems = []
    quantities = (
        ("blocks per stage", lambda s: str(s.blocks), "mistake 6? Table 1 counts the projection block"),
        ("C x d per stage", lambda s: " ".join(s.widths), "mistake 4? C·d is C · d · 2^stage, not out // 4"),
        ("parameters per stage", lambda s: f"{s.parameters:,}", None),
    )
    for what, value, hint in quantities:
        have, want = [value(s) for s in stages], [value(s) for s in expected]
        if have != want:
            problems.append(f"{what}: {', '.join(have)}; expected {', '.join(want)}" + (f" ({hint})" if hint else ""))
    return problems + _compare_total(total, expected_total)


def _compare_total(total: int, expected_total: int) -> list[str]:
    if total == expected_total:
        return []
    return [f"{total:,} parameters in all, expected {expected_total:,} ({total / expected_total - 1:+.1%})"]


def _split(name: str) -> tuple[str, int | None]:
    """``layer1.2.conv1`` → (``layer1.{}.conv1``, 2): its last all-digit component; (name, None) if none."""
    parts = name.split(".")
    last = max((i for i, part in enumerate(parts) if part.isdigit()), default=None)
    if last is None:
        return name, None
    index = int(parts[last])
    parts[last] = "{}"
    return ".".join(parts), index


def _indices(indices: list[int]) -> str:
    """[0, 1, 2, 5] → "{0-2,5}"."""
    runs: list[list[int]] = []
    for i in sorted(indices):
        if runs and i == runs[-1][-1] + 1:
            runs[-1].append(i)
        else:
            runs.append([i])
    return "{" + ",".join(f"{r[0]}-{r[-1]}" if len(r) > 1 else str(r[0]) for r in runs) + "}"


def _merge_rows(rows: Iterable[tuple[str, object]]) -> list[tuple[str, int, object]]:
    """Merge (name, value) rows with equal values whose names differ only in their last index."""
    groups: dict[tuple[str, object], list[int | None]] = {}
    for name, value in rows:
        pattern, index = _split(name)
        groups.setdefault((pattern if index is not None else name, value), []).append(index)
    merged = []
    for (pattern, value), indices in groups.items():
        name = pattern if indices == [None] else pattern.format(_indices(indices) if len(indices) > 1 else indices[0])
        merged.append((name, len(indices), value))
    return merged


def _merge_findings(findings: list[tuple[str, str]]) -> list[str]:
    """One sentence per finding, naming all its modules (merged as in the tables), in first-seen order."""
    by_finding: dict[str, list[str]] = {}
    for name, finding in findings:
        by_finding.setdefault(finding, []).append(name)
    sentences = []
    for finding, names in by_finding.items():
        if names == [""]:
            sentences.append(f"the model: {finding}")
            continue
        merged = ", ".join(name for name, _, _ in _merge_rows((name, None) for name in names))
        sentences.append(f"{merged} ({len(names)} modules): {finding}" if len(names) > 1 else f"{merged}: {finding}")
    return sentences


def _table(header: tuple[str, ...], rows: list[tuple]) -> list[str]:
    cells = [tuple(str(c) for c in row) for row in [header, *rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    aligned = [
        "  " + "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))
        for row in cells
    ]
    return [aligned[0], "  " + "-" * (len(aligned[0]) - 2), *aligned[1:]]
