"""``recognise``: find every residual bottleneck in ANY model, by what it computes.

The course's real input is code this package did not write: a student's block, a
blog post's ResNeXt, a model zoo's network. Their authors call the paths
``branch1``, ``split_transform`` or nothing at all, write them as loops, lists,
``chunk`` + ``cat`` or functional ``F.conv2d`` calls. So nothing here reads a name.
:func:`recognise` runs the model once (:func:`blocks.dataflow.trace.record`) and
reads the DATAFLOW:

1. A residual add is an add of two tensors that both come from one value X (the
   block's input), where one side (the shortcut) is X itself or X through at most one
   convolution, and the other side (the branch) holds convolutions.
2. Along the branch, every channel is followed from X through the convolutions:
   a convolution's output channels are level 1 (the first 1x1s), 2 (the 3x3s) or
   3 (the last 1x1s, whose outputs are partial sums over the paths). Slicing,
   ``split``/``chunk``, ``cat``, sums, BN and ReLU move channels along unchanged.
3. The convolutions of each level are laid into one dense weight of that level, so
   the 3x3 stage is a (C·d x C·d) matrix of 3x3 kernels. Its connected components
   are the paths: C of them, d channels each, when the block is the paper's.
4. Cut out per path, the tensors ARE a form (c) block (:mod:`blocks.core.canonical`):
   rebuilt as one and run on the block's own input, it must give the block's own
   output. The measured error says so; any deviation from the paper's block on
   the way (a catalogue mistake of :mod:`blocks.dataflow.mistakes`) is recorded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from blocks.core.build import block_shapes, empty_block, set_eps
from blocks.core.guards import guard_forward
from blocks.core.spec import BlockSpec, check_input_size
from blocks.dataflow.trace import Op, Trace, record
from blocks.util.deprecation import renamed
from blocks.util.numerics import CANONICAL_RTOL, evaluating, relative_error

_SEED = 0
_ADDS = frozenset({"add", "add_"})
_BATCH_NORMS = frozenset({"native_batch_norm", "_native_batch_norm_legit", "_native_batch_norm_legit_no_training"})
_RELUS = frozenset({"relu", "relu_"})
# Operators that keep every channel where it is (views, copies, casts, activations we do not judge).
_CHANNEL_PRESERVING = frozenset(
    {"clone", "contiguous", "detach", "alias", "_to_copy", "to", "view", "reshape", "_unsafe_view", "dropout",
     "native_dropout", "identity", "lift_fresh", "_assert_tensor_metadata"}
)  # fmt: skip
_MAX_SHORTCUT_OPS = 6  # ops between X and the add on the shortcut side (pool, conv, BN, ...)


@dataclass(frozen=True)
class Deviation:
    """One way a recognised block differs from the paper's bottleneck.

    Attributes:
        mistake: its number in :data:`blocks.dataflow.mistakes.CATALOGUE`, or None.
        kind: a short key naming the symptom (two symptoms of one mistake have two kinds).
        symptom: what was measured in this block, in plain words (a clause, no final stop).
    """

    mistake: int | None
    kind: str
    symptom: str


@dataclass(frozen=True)
class RecognisedBlock:
    """One residual bottleneck found in a model's dataflow.

    Attributes:
        where: the module whose one call computes exactly this block (``layer1.0``), or,
            when there is none (a functional model), the module its operators ran in.
        source: ``file:line`` of the residual add in the model's code.
        in_channels, out_channels, stride: the block's shape.
        cardinality: C, the number of paths (connected components of its 3x3 stage).
        width: d, the channels of one path.
        shortcut: "identity", "projection" (the paper's: 1x1 conv with the stride, then BN),
            or a description of what else it is.
        layout: "a" (the paths' last 1x1s summed), "b" (paths concatenated, one 1x1) or
            "c" (one convolution per level, the 3x3 grouped).
        canonical: the block's tensors in form (c)'s layout (its state_dict keys), or None
            when they do not make a form (c) block (see ``deviations``). A tensor already in
            form (c)'s layout is the model's own, detached, not a copy: copy before changing it
            (:func:`blocks.transplant` copies them).
        error: max relative error of a form (c) block rebuilt from ``canonical`` against
            the block's own output, on the block's own input; None if not measured.
        deviations: every difference from the paper's block found on the way.
        replace: the modules to swap for this package's block of the same function: the
            module whose single call is this whole block (and, where the block's last ReLU
            is a module of its own right after it, that ReLU, to become ``nn.Identity``);
            empty when the block is not such a module (a functional model).
        parameters: the tensors its operators used, each counted once.
        per_call_parameters: the same, counted once per use.
    """

    where: str
    source: str
    in_channels: int
    out_channels: int
    stride: int
    cardinality: int
    width: int
    shortcut: str
    layout: str | None
    canonical: dict[str, Tensor] | None = field(repr=False)
    error: float | None
    deviations: tuple[Deviation, ...]
    replace: tuple[str, ...]
    parameters: int
    per_call_parameters: int
    eps: tuple[float, ...] = field(default=(), repr=False)  # BN eps of levels 1, 2, 3 and the projection

    @property
    def spec(self) -> BlockSpec | None:
        """The block's :class:`BlockSpec`, or None when its shape is not one."""
        try:
            return BlockSpec(self.in_channels, self.out_channels, self.cardinality, self.width, self.stride)
        except ValueError:
            return None

    @property
    def equivalent(self) -> bool:
        """Whether the block is the paper's: no deviation, and its rebuilt form (c) block agrees."""
        return (
            not self.deviations and self.canonical is not None and (self.error is None or self.error <= CANONICAL_RTOL)
        )

    @property
    def widths(self) -> str:
        return f"{self.cardinality}x{self.width}d"

    @property
    def replaceable(self) -> bool:
        return bool(self.replace)


@dataclass(frozen=True)
class Recognition:
    """What :func:`recognise` found in one forward pass.

    Attributes:
        model: the model's class name.
        input_size: the shape of the random input it ran on.
        blocks: every residual bottleneck, in the order they ran.
        others: residual adds that are not bottlenecks (e.g. ResNet's basic block), described.
        stem: the layers before the first block, in words ("conv 7x7/2 3->64", "max pool 3x3/2").
        head: the layers after the last block, in words ("average pool", "linear 2048->1000").
        mutated_input: whether the model wrote into the caller's input tensor.
        trace: the recorded forward pass.
    """

    model: str
    input_size: tuple[int, ...]
    blocks: tuple[RecognisedBlock, ...]
    others: tuple[str, ...]
    stem: tuple[str, ...]
    head: tuple[str, ...]
    mutated_input: bool
    trace: Trace = field(repr=False)

    @property
    def layouts(self) -> set[str]:
        return {block.layout for block in self.blocks if block.layout is not None}


def recognise(model: nn.Module, input_size: tuple[int, ...]) -> Recognition:
    """Run ``model`` once on a random input and find every residual bottleneck by its dataflow.

    The model runs in eval mode under ``torch.no_grad()`` (its modes are restored, and
    nothing in it changes), on ``torch.randn(input_size)`` drawn from a fixed seed in
    the dtype and on the device of its first parameter.

    Args:
        model: any ``nn.Module``: a network or one block, written in any style.
        input_size: its input's shape, batch first, e.g. ``(2, 3, 64, 64)``.

    Returns:
        A :class:`Recognition`: the blocks with their shapes, C, d, shortcut, layout and
        form (c) tensors, the stem and the head.

    Raises:
        TypeError: ``model`` is not an ``nn.Module``.
        ValueError: ``input_size`` is not a tuple of positive ints starting with the
            batch size, the input alone would not fit in memory (the message gives the
            estimate), or the model fails on an input of that size.

    Example:
        >>> found = recognise(blocks.resnext(50, 32, 4), (1, 3, 64, 64))
        >>> len(found.blocks), found.blocks[0].widths, found.layouts
        (16, '32x4d', {'c'})
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    check_input_size(input_size)
    trace = _run(model, input_size)
    reader = _Reader(trace)
    blocks, others = reader.blocks()
    first = blocks[0] if blocks else None
    return Recognition(
        model=type(model).__name__,
        input_size=input_size,
        blocks=tuple(blocks),
        others=tuple(others),
        stem=reader.describe(0, reader.block_start[0]) if first else (),
        head=reader.describe(reader.block_end[-1] + 1, len(trace.ops)) if first else (),
        mutated_input=bool(trace.mutated_inputs),
        trace=trace,
    )


def _run(model: nn.Module, input_size: tuple[int, ...]) -> Trace:
    """Record one eval-mode forward pass of ``model`` on a seeded random input; restore its modes."""
    like = next(iter(model.parameters()), None)
    dtype = like.dtype if like is not None and like.is_floating_point() else torch.get_default_dtype()
    device = like.device if like is not None else torch.device("cpu")
    guard_forward("recognise", model, input_size, dtype, device)  # the recorded pass keeps every value it makes
    generator = torch.Generator().manual_seed(_SEED)
    x = torch.randn(input_size, generator=generator, dtype=dtype).to(device)
    try:
        with evaluating(model):
            return record(model, x)
    except (RuntimeError, ValueError, TypeError, IndexError) as error:
        raise ValueError(
            f"the model fails on an input of input_size={input_size}:"
            f" {type(error).__name__}: {str(error).splitlines()[0]}"
        ) from error


# ---------------------------------------------------------------- channel provenance


@dataclass(frozen=True)
class _Prov:
    """Where a value's channels come from, inside one block's branch.

    Levels 0 (the block input X), 1 (first 1x1s) and 2 (3x3s): ``channels`` lists,
    per channel, its id at that level. Level 3 (last 1x1s): every channel is output
    channel j summed over the convolutions (``pieces``) that made it.
    """

    level: int
    channels: tuple[int, ...] = ()
    pieces: frozenset[int] = frozenset()


@dataclass
class _Piece:
    """One convolution of a block's branch, as it ran."""

    op: Op
    level: int
    inputs: tuple[int, ...]  # ids of its input channels at level - 1
    outputs: tuple[int, ...]  # ids of its output channels at its level (level 3: 0 … out-1)
    weight: Tensor
    bias: Tensor | None
    stride: int
    padding: int
    dilation: int
    groups: int
    kernel: int
    weight_key: object  # equal for two convolutions that use the same weight tensor


class _NotABottleneck(Exception):
    """A residual add whose branch is not a bottleneck; the message says why."""


class _Reader:
    """Reads a :class:`Trace`: finds the residual adds and turns each into a :class:`RecognisedBlock`."""

    def __init__(self, trace: Trace) -> None:
        self.trace = trace
        self.values = trace.values
        self.ops = trace.ops
        self.readers = trace.consumers()
        self.block_start: list[int] = []  # per block: the index of its first op
        self.block_end: list[int] = []  # per block: the index of its last op
        self.names = {id(m): n for n, m in trace.model.named_modules(remove_duplicate=False)}
        self.explicit_padding: dict[int, tuple[int, ...]] = {}  # padded value -> (left, right, top, bottom)
        self.modules_called: dict[int, int] = {}
        for call in trace.calls:
            self.modules_called[id(call.module)] = self.modules_called.get(id(call.module), 0) + 1

    # ------------------------------------------------------------ small helpers

    def is_data(self, value: int) -> bool:
        return self.values[value].kind in ("data", "input")

    def data_inputs(self, op: Op) -> list[int]:
        return [v for v in dict.fromkeys(op.inputs) if self.is_data(v)]

    def arg_value(self, op: Op, position: int) -> int | None:
        arg = op.args[position] if position < len(op.args) else None
        if isinstance(arg, tuple) and len(arg) == 2 and arg[0] == "value" and isinstance(arg[1], int):
            return arg[1]
        return None

    def tensor(self, value: int | None) -> Tensor | None:
        return None if value is None or value < 0 else self.values[value].tensor

    def producer_index(self, value: int) -> int:
        return self.values[value].producer

    # ------------------------------------------------------------ residual adds

    def blocks(self) -> tuple[list[RecognisedBlock], list[str]]:
        found: list[RecognisedBlock] = []
        others: list[str] = []
        for op in self.ops:
            if op.name not in _ADDS or len(op.args) < 2 or not all(self.arg_value(op, i) is not None for i in (0, 1)):
                continue
            a, b = self.arg_value(op, 0), self.arg_value(op, 1)
            assert a is not None and b is not None
            if not (self.is_data(a) and self.is_data(b)) or a == b:
                continue
            residual = self.residual(a, b)
            if residual is None:
                continue
            x, shortcut_ops, branch_end = residual
            try:
                block = self.read_block(op, x, shortcut_ops, branch_end)
            except _NotABottleneck as why:
                others.append(f"{op.module or '(model)'} ({op.source}): {why}")
                continue
            found.append(block)
        return found, others

    def residual(self, a: int, b: int) -> tuple[int, list[Op], int] | None:
        """(X, shortcut ops from X, branch output) if ``a + b`` is a residual add, else None."""
        walks = [(self.shortcut_walk(side), side, other) for side, other in ((a, b), (b, a))]
        candidates = [(walk, side, other) for walk, side, other in walks if walk is not None]
        # Prefer the side with fewer convolutions as the shortcut (identity before projection).
        candidates.sort(key=lambda c: sum(o.name == "convolution" for o in c[0][1]) if c[0] else 0)
        for walk, _, other in candidates:
            assert walk is not None
            x, chain = walk
            if self.convolutions_between(x, other) >= 2:
                return x, chain, other
        return None

    def shortcut_walk(self, value: int) -> tuple[int, list[Op]] | None:
        """Follow ``value`` back through single-input ops with at most one convolution to a fork."""
        chain: list[Op] = []
        convolutions = 0
        for _ in range(_MAX_SHORTCUT_OPS + 1):
            if len(self.readers[value]) >= 2:
                return value, chain
            op = self.trace.producer(value)
            if op is None:
                return None
            inputs = self.data_inputs(op)
            if len(inputs) != 1:
                return None
            convolutions += op.name == "convolution"
            if convolutions > 1:
                return None
            chain.append(op)
            value = inputs[0]
        return None

    def convolutions_between(self, x: int, end: int) -> int:
        """How many convolutions lie on the ops from ``x`` to ``end`` (0 if ``end`` does not come from ``x``)."""
        ops = self.branch_ops(x, end)
        return sum(self.ops[i].name == "convolution" for i in ops) if ops is not None else 0

    def branch_ops(self, x: int, end: int) -> list[int] | None:
        """The ops that make ``end`` from ``x``, in execution order; None if ``end`` does not come from ``x``."""
        start = self.producer_index(x)
        seen: set[int] = set()
        stack = [end]
        reaches_x = False
        while stack:
            value = stack.pop()
            if value == x:
                reaches_x = True
                continue
            index = self.producer_index(value)
            if index <= start or index in seen:
                if index <= start and self.is_data(value):
                    return None  # the branch reads data from before the block: not X's branch
                continue
            seen.add(index)
            stack.extend(self.data_inputs(self.ops[index]))
        return sorted(seen) if reaches_x else None

    # ------------------------------------------------------------ one block

    # Over 60 lines: one block read pass by pass (branch, levels, paths, deviations, mapping), in the
    # order a reader follows it; issue 28 splits this module into one module per pass.
    def read_block(self, add: Op, x: int, shortcut_ops: list[Op], branch_end: int) -> RecognisedBlock:
        deviations: list[Deviation] = []
        branch = self.branch_ops(x, branch_end)
        assert branch is not None
        out_value = add.outputs[0]
        relu_after = [i for i in self.readers[out_value] if self.ops[i].name in _RELUS]
        block_output = self.ops[relu_after[0]].outputs[0] if relu_after else out_value
        if not relu_after:
            deviations.append(
                Deviation(10, "no-relu-after-add", "no ReLU follows the add: the block's output can be negative")
            )
        if add.name == "add_" and self.arg_value(add, 0) == x:
            deviations.append(
                Deviation(1, "input-in-place", "the add writes the block's output into its input tensor in place (+=)")
            )
        in_channels = self.values[x].channels
        out_channels = self.values[out_value].channels

        pieces, bns, relus = self.follow_channels(x, branch, branch_end)
        by_level = {level: [p for p in pieces if p.level == level] for level in (1, 2, 3)}
        if not by_level[3] or not by_level[2] or not by_level[1]:
            kinds = sorted({p.kernel for p in pieces})
            raise _NotABottleneck(
                f"a residual block with {len(pieces)} convolutions in a row of kernel sizes {kinds},"
                " not a 1x1 -> 3x3 -> 1x1 bottleneck"
            )
        counts = {level: (max((max(p.outputs) for p in by_level[level]), default=-1) + 1) for level in (1, 2)}
        shared = self.shared_weights(pieces)
        if shared:
            deviations.append(Deviation(1, "shared-weights", shared))
        deviations += self.find_conv_deviations(by_level)
        deviations += self.find_norm_deviations(bns, relus, pieces, counts)
        stride = max(p.stride for p in by_level[1]) * max(p.stride for p in by_level[2])
        shortcut, shortcut_deviation, projection = self.read_shortcut(shortcut_ops, x, add, stride)
        deviations += shortcut_deviation
        components, path_deviation = self.paths(by_level[2], counts[1])
        deviations += path_deviation
        cardinality = len(components)
        width = counts[2] // cardinality if cardinality else 0
        narrowest = min(len(set(_group(p, g)[1])) for p in by_level[1] for g in range(p.groups))
        if narrowest < in_channels:
            deviations.append(
                Deviation(3, "grouped-first-conv",
                          f"its first 1x1 is grouped: each of its {counts[1]} output channels reads only {narrowest}"
                          f" of the {in_channels} input channels")
            )  # fmt: skip
        layout = "a" if len(by_level[3]) > 1 else "b" if len(by_level[2]) > 1 else "c"
        parameters, per_call = self.trace.parameter_counts([*branch, *(o.index for o in shortcut_ops)])
        canonical = None
        eps: tuple[float, ...] = ()
        structural = not any(d.kind in _NO_CANONICAL for d in deviations)
        if structural and cardinality and counts[1] == counts[2] and shortcut in ("identity", "projection"):
            canonical, eps = self.canonical(components, bns, by_level, projection, counts, in_channels, out_channels)
        where, replace = self.where(x, block_output, out_value, branch, add)
        canonical, error = self.measure(
            canonical, eps, in_channels, out_channels, cardinality, width, stride, x, block_output
        )
        self.block_start.append(min([*branch, *(o.index for o in shortcut_ops)]))
        self.block_end.append(relu_after[0] if relu_after else add.index)
        return RecognisedBlock(
            where=where, source=add.source, in_channels=in_channels, out_channels=out_channels, stride=stride,
            cardinality=cardinality, width=width, shortcut=shortcut, layout=layout, canonical=canonical,
            error=error, deviations=tuple(deviations), replace=replace, parameters=parameters,
            per_call_parameters=per_call, eps=eps,
        )  # fmt: skip

    # ------------------------------------------------------------ channels through the branch

    def follow_channels(
        self, x: int, branch: list[int], end: int
    ) -> tuple[list[_Piece], list[tuple[Op, _Prov]], list[tuple[Op, _Prov]]]:
        """Follow every channel from X through the branch's ops (see :class:`_Prov`)."""
        provs: dict[int, _Prov | list[_Prov]] = {x: _Prov(0, tuple(range(self.values[x].channels)))}
        pieces: list[_Piece] = []
        bns: list[tuple[Op, _Prov]] = []
        relus: list[tuple[Op, _Prov]] = []
        counts = [self.values[x].channels, 0, 0, 0]
        for index in branch:
            op = self.ops[index]
            inputs = [provs.get(v) for v in self.data_inputs(op)]
            if any(p is None for p in inputs):
                raise _NotABottleneck(f"its {op.name} reads a tensor that does not come from the block's input")
            first = inputs[0]
            name = op.name
            if name == "convolution":
                if not isinstance(first, _Prov) or first.level >= 3:
                    raise _NotABottleneck("it has more than three convolutions in a row")
                piece = self.piece(op, first, counts)
                pieces.append(piece)
                out = (
                    _Prov(3, pieces=frozenset({len(pieces) - 1}))
                    if piece.level == 3
                    else _Prov(piece.level, piece.outputs)
                )
            elif name in _BATCH_NORMS or name in _RELUS or name in _CHANNEL_PRESERVING:
                out = first  # type: ignore[assignment]
                if name in _BATCH_NORMS:
                    bns.append((op, first))  # type: ignore[arg-type]
                elif name in _RELUS:
                    relus.append((op, first))  # type: ignore[arg-type]
            elif name in ("slice", "split", "split_with_sizes", "narrow", "chunk", "unbind"):
                for value, prov in zip(op.outputs, self.cut(op, first)):  # type: ignore[arg-type]
                    provs[value] = prov
                continue
            elif name == "constant_pad_nd" and (len(op.args) < 3 or op.args[2] == 0) and _sides(op) is not None:
                self.explicit_padding[op.outputs[0]] = _sides(op) or ()  # zeros around: (left, right, top, bottom)
                out = first  # type: ignore[assignment]
            elif name == "cat":
                out = self.concatenate(op, inputs)  # type: ignore[arg-type]
            elif name == "stack":
                provs[op.outputs[0]] = list(inputs)  # type: ignore[arg-type]
                continue
            elif name == "sum" and isinstance(first, list):
                out = self.add_pieces(first)
            elif name in _ADDS:
                out = self.add_pieces(inputs)  # type: ignore[arg-type]
            else:
                raise _NotABottleneck(f"its branch runs {name}, which no bottleneck of the paper has")
            for value in op.outputs:
                provs[value] = out
        final = provs.get(end)
        if not isinstance(final, _Prov) or final.level != 3:
            raise _NotABottleneck("its branch does not end in a last 1x1 convolution")
        return pieces, bns, relus

    def piece(self, op: Op, source: _Prov, counts: list[int]) -> _Piece:
        weight_value = self.arg_value(op, 1)
        weight = self.tensor(weight_value)
        assert weight is not None
        bias = self.tensor(self.arg_value(op, 2))
        level = source.level + 1
        out_channels = weight.shape[0]
        if level == 3:
            outputs = tuple(range(out_channels))
        else:
            outputs = tuple(range(counts[level], counts[level] + out_channels))
            counts[level] += out_channels
        stride, padding, dilation = (op.args[i] for i in (3, 4, 5))
        padded = self.explicit_padding.get(self.arg_value(op, 0) or -1)
        if padded is not None:  # F.pad before the convolution (TensorFlow's "same"): the two paddings add up
            sides = {side + _first(padding) for side in padded}
            padding = sides.pop() if len(sides) == 1 else -1  # -1: not the same on every side
        key: object = (
            weight_value
            if weight.device.type == "meta"
            else (weight.untyped_storage().data_ptr(), weight.storage_offset(), tuple(weight.shape), weight.stride())
        )
        return _Piece(
            op=op, level=level, inputs=source.channels, outputs=outputs, weight=weight, bias=bias,
            stride=_first(stride), padding=_first(padding), dilation=_first(dilation), groups=_first(op.args[8]),
            kernel=int(weight.shape[-1]), weight_key=key,
        )  # fmt: skip

    def cut(self, op: Op, source: _Prov) -> list[_Prov]:
        """The provenances of the outputs of a slice/split of ``source``."""
        if op.name == "slice":
            dim, start, end, step = (*op.args[1:], *(0, None, None, 1)[len(op.args) - 1 :])[:4]
            if _dim(dim) != 1:  # type: ignore[arg-type]
                return [source]
            if source.level >= 3:
                raise _NotABottleneck("it slices the partial sums of its last 1x1s")
            return [_Prov(source.level, source.channels[slice(start, end, step)])]  # type: ignore[arg-type]
        sizes = [self.values[v].tensor.shape for v in op.outputs]
        dim = op.args[2] if len(op.args) > 2 else 0
        if _dim(dim) != 1:  # type: ignore[arg-type]
            return [source] * len(sizes)
        if source.level >= 3:
            raise _NotABottleneck("it splits the partial sums of its last 1x1s")
        parts, start = [], 0
        for size in sizes:
            parts.append(_Prov(source.level, source.channels[start : start + size[1]]))
            start += size[1]
        return parts

    def concatenate(self, op: Op, inputs: list[_Prov]) -> _Prov:
        dim = op.args[1] if len(op.args) > 1 else 0
        if _dim(dim) != 1:  # type: ignore[arg-type]
            raise _NotABottleneck("it concatenates along a dimension other than the channels")
        levels = {p.level for p in inputs}
        if len(levels) != 1 or levels == {3}:
            raise _NotABottleneck("it concatenates tensors of different stages")
        return _Prov(levels.pop(), tuple(c for p in inputs for c in p.channels))

    def add_pieces(self, inputs: Sequence[_Prov]) -> _Prov:
        if any(p.level != 3 for p in inputs):
            raise _NotABottleneck("it adds tensors inside its branch before the last 1x1")
        pieces: frozenset[int] = frozenset()
        for p in inputs:
            if pieces & p.pieces:
                raise _NotABottleneck("it adds one path's output more than once")
            pieces |= p.pieces
        return _Prov(3, pieces=pieces)

    # ------------------------------------------------------------ checks

    def shared_weights(self, pieces: list[_Piece]) -> str:
        uses: dict[object, int] = {}
        for piece in pieces:
            uses[piece.weight_key] = uses.get(piece.weight_key, 0) + 1
        repeated = max(uses.values(), default=1)
        if repeated <= 1:
            return ""
        unique = sum(p.weight.numel() for p in {p.weight_key: p for p in pieces}.values())
        total = sum(p.weight.numel() for p in pieces)
        return (
            f"{len(pieces)} convolutions use only {len(uses)} distinct weight tensors (one is used {repeated} times):"
            f" {unique:,} unique convolution weights where the paths need {total:,}"
        )

    def find_conv_deviations(self, by_level: dict[int, list[_Piece]]) -> list[Deviation]:
        found = []
        strides = {level: {p.stride for p in by_level[level]} for level in (1, 2, 3)}
        if strides[1] != {1}:
            found.append(Deviation(5, "stride-first-conv",
                                   f"its first 1x1 has stride {max(strides[1])}, and its 3x3 stride {max(strides[2])}:"
                                   " the 1x1 skips 3 of every 4 pixels before any 3x3 sees them"))  # fmt: skip
        kernels = {level: {p.kernel for p in by_level[level]} for level in (1, 2, 3)}
        if kernels[1] != {1} or kernels[2] != {3} or kernels[3] != {1}:
            found.append(Deviation(None, "kernels", f"its convolutions have kernel sizes {kernels[1]}, {kernels[2]},"
                                   f" {kernels[3]} instead of 1x1, 3x3, 1x1"))  # fmt: skip
        if any(p.padding == -1 for level in (1, 2, 3) for p in by_level[level]):
            found.append(Deviation(None, "same-padding", "its 3x3 pads one side more than the other (TensorFlow's"
                                   " 'same' at stride 2): the paper's architecture, but the pixels it samples are"
                                   " shifted by one from what PyTorch's padding=1 samples, so no form (c) block of"
                                   " this package computes it"))  # fmt: skip
        elif any(p.padding != p.kernel // 2 or p.dilation != 1 for level in (1, 2, 3) for p in by_level[level]):
            found.append(Deviation(None, "padding", "a convolution of its branch changes the size by its padding"))
        if strides[3] != {1}:
            found.append(Deviation(None, "stride-last-conv", f"its last 1x1 has stride {max(strides[3])}"))
        biased = [p for level in (1, 2, 3) for p in by_level[level] if p.bias is not None]
        if biased:
            extra = sum(p.bias.numel() for p in biased if p.bias is not None)
            found.append(Deviation(8, "conv-bias", f"{len(biased)} of its convolutions have a bias that the BN after"
                                   f" them subtracts again: {extra:,} parameters that change nothing"))  # fmt: skip
        return found

    def find_norm_deviations(
        self,
        bns: list[tuple[Op, _Prov]],
        relus: list[tuple[Op, _Prov]],
        pieces: list[_Piece],
        counts: dict[int, int],
    ) -> list[Deviation]:
        found = []
        every_piece = frozenset(i for i, piece in enumerate(pieces) if piece.level == 3)
        per_path_bn = [p for _, p in bns if p.level == 3 and p.pieces != every_piece]
        per_path_relu = [p for _, p in relus if p.level == 3 and p.pieces != every_piece]
        whole_relu = [p for _, p in relus if p.level == 3 and p.pieces == every_piece]
        if per_path_relu:
            symptom = (
                f"each of its {len(every_piece)} paths has its own BN and ReLU after its last 1x1, so every"
                " path's contribution is >= 0 and the sum over the paths is never negative"
            )
            found.append(Deviation(2, "per-path-bn-relu", symptom))
        elif per_path_bn:
            found.append(Deviation(7, "per-path-bn",
                                   f"each of its {len(every_piece)} paths has its own BN after its last 1x1, before the"
                                   " sum: in train mode each partial sum is normalised by its own batch statistics,"
                                   " which one BN after the sum cannot reproduce"))  # fmt: skip
        elif whole_relu:
            found.append(Deviation(10, "relu-before-add",
                                   "a ReLU is applied to the branch before the add, so the branch can only add, never"
                                   " subtract, from the shortcut"))  # fmt: skip
        whole_bn = [p for _, p in bns if p.level == 3 and p.pieces == every_piece]
        if not per_path_bn and len(whole_bn) != 1:
            found.append(
                Deviation(None, "bn3", f"its branch has {len(whole_bn)} BNs after the sum of its paths, not 1")
            )
        for level in (1, 2):
            normed = [c for _, p in bns if p.level == level for c in p.channels]
            rectified = [c for _, p in relus if p.level == level for c in p.channels]
            if sorted(normed) != list(range(counts[level])) or sorted(rectified) != list(range(counts[level])):
                stage = "first 1x1" if level == 1 else "3x3"
                symptom = f"not every channel of its {stage} goes through exactly one BN and one ReLU"
                found.append(Deviation(None, f"bn-relu-{level}", symptom))
        return found

    def read_shortcut(
        self, ops: list[Op], x: int, add: Op, expected_stride: int
    ) -> tuple[str, list[Deviation], tuple[Op, Op] | None]:
        """The shortcut's kind, its deviations, and (conv, BN) if it is the paper's projection."""
        ops = [op for op in ops if not _changes_nothing(op)]
        if not ops:
            return "identity", [], None
        names = [op.name for op in reversed(ops)]  # from X to the add
        in_shape = self.values[x].tensor.shape
        out_shape = self.values[add.outputs[0]].tensor.shape
        fits = in_shape == out_shape
        if len(ops) == 2 and names[0] == "convolution" and names[1] in _BATCH_NORMS:
            conv = ops[1]
            weight = self.tensor(self.arg_value(conv, 1))
            assert weight is not None
            stride = _first(conv.args[3])
            if weight.shape[-1] == 1 and int(conv.args[8]) == 1 and stride == expected_stride and not fits:  # type: ignore[call-overload]
                deviations = []
                if self.tensor(self.arg_value(conv, 2)) is not None:
                    deviations.append(
                        Deviation(8, "conv-bias", "its projection's 1x1 has a bias that its BN subtracts again")
                    )
                return "projection", deviations, (conv, ops[0])
        words = {"convolution": "conv", "avg_pool2d": "average pool", "max_pool2d_with_indices": "max pool"}
        described = " -> ".join(
            f"{self.kernel_of(op)} {words.get(op.name, op.name)}"
            if op.name == "convolution"
            else words.get(op.name, op.name)
            for op in reversed(ops)
        )
        if fits and names and all(n in _BATCH_NORMS or n == "convolution" for n in names):
            why = "a projection where the identity fits"
        elif "convolution" in names and not any(n in _BATCH_NORMS for n in names):
            why = "a convolution without a BN after it"
        else:
            why = "not the paper's projection (a 1x1 convolution with the stride, then BN)"
        shortcut = f"{described} ({why})"
        return shortcut, [Deviation(9, "shortcut", f"its shortcut is {described}: {why}")], None

    def kernel_of(self, op: Op) -> str:
        weight = self.tensor(self.arg_value(op, 1))
        return f"{weight.shape[-2]}x{weight.shape[-1]}" if weight is not None else "?"

    # ------------------------------------------------------------ the canonical tensors

    def paths(self, pieces: list[_Piece], level1: int) -> tuple[list[tuple[list[int], list[int]]], list[Deviation]]:
        """The 3x3 stage's connected components, (level-1 ids, level-2 ids) per path in path order.

        Every group of every 3x3 convolution connects all its inputs to all its outputs;
        groups that share a channel belong to one path. The paper's block has C paths
        of d inputs and d outputs each, every input connected to every output.
        """
        level2 = sum(len(p.outputs) for p in pieces)
        parent = list(range(level1 + level2))

        def find(i: int) -> int:
            while parent[i] != i:
                parent[i] = parent[parent[i]]
                i = parent[i]
            return i

        for piece in pieces:
            for group in range(piece.groups):
                outs, ins = _group(piece, group)
                root = find(level1 + outs[0])
                for node in [*(level1 + o for o in outs[1:]), *ins]:
                    parent[find(node)] = root
        groups: dict[int, tuple[list[int], list[int]]] = {}
        for node in range(level1 + level2):
            ins_list, outs_list = groups.setdefault(find(node), ([], []))
            if node < level1:
                ins_list.append(node)
            else:
                outs_list.append(node - level1)
        connections: dict[int, int] = {}
        for piece in pieces:
            for group in range(piece.groups):
                outs, ins = _group(piece, group)
                root = find(level1 + outs[0])
                connections[root] = connections.get(root, 0) + len(outs) * len(ins)
        components = sorted(groups.values(), key=lambda g: min(g[0] or [level1]))
        read = sum(len(ins) for ins, outs in components if outs)
        sizes = {(len(ins), len(outs)) for ins, outs in components if outs}
        full = all(
            connections.get(find(level1 + outs[0]), 0) == len(ins) * len(outs) for ins, outs in components if outs
        )
        if read < level1 or len(sizes) != 1 or not full or next(iter(sizes))[0] != next(iter(sizes))[1]:
            symptom = (
                f"its 3x3 convolutions do not each read their own path's channels: only {read} of the {level1}"
                " channels of the first 1x1 are read by a 3x3"
                + (f", and the other {level1 - read} are computed for nothing" if read < level1 else "")
                + (", and a path's 3x3 reads channels of another path" if read == level1 else "")
            )
            units = [_group(piece, group) for piece in pieces for group in range(piece.groups)]
            # C and d as the author meant them: one 3x3 (group) per path, each with its own outputs.
            return [(list(ins), list(outs)) for outs, ins in units], [Deviation(11, "cross-group", symptom)]
        return components, []

    # Over 60 lines: the mapping onto form (c) is one slicing rule per level, kept side by side so
    # that the three read alike; issue 28 gives the mapping its own module.
    def canonical(
        self,
        components: list[tuple[list[int], list[int]]],
        bns: list[tuple[Op, _Prov]],
        by_level: dict[int, list[_Piece]],
        projection: tuple[Op, Op] | None,
        counts: dict[int, int],
        in_channels: int,
        out_channels: int,
    ) -> tuple[dict[str, Tensor], tuple[float, ...]] | tuple[None, tuple[float, ...]]:
        """The block's tensors in form (c)'s layout, with each BN's eps (levels 1, 2, 3, projection).

        Path p of the canonical block is component p; inside it, channels keep their order.
        """
        like = by_level[1][0].weight
        if like.device.type == "meta":
            return None, ()
        order1 = [c for ins, _ in components for c in sorted(ins)]  # canonical level-1 index -> id
        order2 = [c for _, outs in components for c in sorted(outs)]
        rank1 = {c: i for i, c in enumerate(order1)}
        rank2 = {c: i for i, c in enumerate(order2)}
        width = counts[2] // len(components)
        in_order = order1 == list(range(counts[1])) and order2 == list(range(counts[2]))
        shapes = {1: (counts[1], in_channels, 1, 1), 2: (counts[2], width, 3, 3), 3: (out_channels, counts[2], 1, 1)}
        groups = {1: 1, 2: len(components), 3: 1}
        weights = {}
        for level, shape in shapes.items():
            (piece, *more) = by_level[level]
            if in_order and not more and piece.groups == groups[level] and tuple(piece.weight.shape) == shape:
                weights[level] = piece.weight.detach()  # form (c)'s own layout already: the usual case, not copied
                continue
            target = weights[level] = like.new_zeros(shape)
            for piece in by_level[level]:
                for group in range(piece.groups):
                    outs, ins = _group(piece, group)
                    rows = [rank1[o] if level == 1 else rank2[o] if level == 2 else o for o in outs]
                    if level == 1:
                        cols = list(ins)
                    else:
                        cols = [rank1[i] % width for i in ins] if level == 2 else [rank2[i] for i in ins]
                    per = len(outs)
                    _place(target, rows, cols, piece.weight[group * per : (group + 1) * per])  # (out_g, in_g, k, k)
        conv1, conv2, conv3 = weights[1], weights[2], weights[3]
        canonical = {"conv1.weight": conv1, "conv2.weight": conv2, "conv3.weight": conv3}
        biases = {level: self.summed_bias(by_level[level], counts.get(level, out_channels)) for level in (1, 2, 3)}
        eps = []
        orders = {1: _index(order1, like), 2: _index(order2, like), 3: None}
        for level, name in ((1, "bn1"), (2, "bn2"), (3, "bn3")):
            order = orders[level]
            norm = self.norm_tensors(
                [(op, p) for op, p in bns if p.level == level], level, counts.get(level, out_channels)
            )
            if norm is None:
                return None, ()
            tensors, epsilon = norm
            tensors["running_mean"] = tensors["running_mean"] - biases[level]  # a conv bias before a BN folds here
            eps.append(epsilon)
            for key, tensor in tensors.items():
                canonical[f"{name}.{key}"] = (
                    tensor if order is None or tensor.ndim == 0 else tensor[order.to(tensor.device)]
                )
        if projection is not None:
            conv, bn = projection
            weight = self.tensor(self.arg_value(conv, 1))
            assert weight is not None
            norm = self.norm_tensors([(bn, _Prov(4, tuple(range(weight.shape[0]))))], 4, weight.shape[0])
            if norm is None:
                return None, ()
            tensors, epsilon = norm
            bias = self.tensor(self.arg_value(conv, 2))
            if bias is not None:
                tensors["running_mean"] = tensors["running_mean"] - bias
            eps.append(epsilon)
            canonical["downsample.0.weight"] = weight.detach()  # not copied
            canonical.update({f"downsample.1.{key}": tensor for key, tensor in tensors.items()})
        return canonical, tuple(eps)

    def summed_bias(self, pieces: list[_Piece], channels: int) -> Tensor | float:
        """Each output channel's conv bias (summed over the pieces that make it), or 0."""
        if all(p.bias is None for p in pieces):
            return 0.0
        like = next(p.bias for p in pieces if p.bias is not None)
        assert like is not None
        total = torch.zeros(channels, dtype=like.dtype, device=like.device)
        for piece in pieces:
            if piece.bias is not None:
                total[torch.tensor(piece.outputs, device=like.device)] += piece.bias
        return total

    def norm_tensors(
        self, bns: list[tuple[Op, _Prov]], level: int, channels: int
    ) -> tuple[dict[str, Tensor], float] | None:
        """A level's BN tensors laid out by channel id, and their eps; None if they cannot be (mixed eps, no stats)."""
        if not bns:
            return None
        first = bns[0][0]
        sample = self.tensor(self.arg_value(first, 0))
        assert sample is not None
        full = {
            key: torch.zeros(channels, dtype=sample.dtype, device=sample.device)
            for key in ("weight", "bias", "running_mean", "running_var")
        }
        epsilons = set()
        tracked = torch.tensor(0, dtype=torch.long)
        for op, prov in bns:
            weight, bias, mean, var = (self.tensor(self.arg_value(op, i)) for i in (1, 2, 3, 4))
            if mean is None or var is None:
                return None  # no running statistics: eval mode uses the batch's, which no form (c) BN does
            ids = torch.tensor(prov.channels if level != 3 else range(channels), device=sample.device)
            full["weight"][ids] = weight if weight is not None else 1.0
            full["bias"][ids] = bias if bias is not None else 0.0
            full["running_mean"][ids] = mean
            full["running_var"][ids] = var
            epsilons.add(float(op.args[-1]))  # type: ignore[arg-type]
            tracked = torch.maximum(tracked, self.batches_tracked(op))
        if len(epsilons) != 1:
            return None
        full["num_batches_tracked"] = tracked
        return full, epsilons.pop()

    def batches_tracked(self, op: Op) -> Tensor:
        """The num_batches_tracked of the BN module whose weight this op used, or 0."""
        name = self.values[self.arg_value(op, 3) or 0].name
        if name.endswith("running_mean"):
            module = self.trace.model.get_submodule(name.rsplit(".", 1)[0]) if "." in name else self.trace.model
            counter = getattr(module, "num_batches_tracked", None)
            if isinstance(counter, Tensor):
                return counter.detach().cpu().clone()
        return torch.tensor(0, dtype=torch.long)

    def measure(
        self, canonical: dict[str, Tensor] | None, eps: tuple[float, ...], in_channels: int, out_channels: int,
        cardinality: int, width: int, stride: int, x: int, output: int,
    ) -> tuple[dict[str, Tensor] | None, float | None]:  # fmt: skip
        """``canonical`` in form (c)'s key order, and the max relative error of a form (c) block rebuilt from it.

        (None, None) when the tensors do not make a form (c) block of that shape; the error
        is None on the meta device, where there are no values to compare.
        """
        if canonical is None:
            return None, None
        try:
            spec = BlockSpec(in_channels, out_channels, cardinality, width, stride)
        except ValueError:
            return None, None
        shapes = block_shapes(spec, "c")
        if {k for k, _ in shapes} != set(canonical) or any(canonical[k].shape != shape for k, shape in shapes):
            return None, None
        canonical = {k: canonical[k] for k, _ in shapes}
        reference = self.values[output].tensor
        if reference.device.type == "meta":
            return canonical, None
        template = set_eps(empty_block(spec, "c", training=False), eps)  # meta: the tensors go in at the call
        with torch.no_grad():
            rebuilt = torch.func.functional_call(template, canonical, (self.values[x].tensor,), strict=True)
        if rebuilt.shape != reference.shape:
            return None, None
        return canonical, relative_error(rebuilt, reference) if bool(reference.abs().max() > 0) else 0.0

    # ------------------------------------------------------------ where, parameters, stem and head

    def where(self, x: int, output: int, added: int, branch: list[int], add: Op) -> tuple[str, tuple[str, ...]]:
        """The module whose one call is exactly this block, and the modules a transplant replaces."""
        once = [call for call in self.trace.calls if self.modules_called[id(call.module)] == 1]
        whole = [call for call in self.trace.calls if call.input == x and call.output == output]
        if whole:
            call = whole[-1]  # the innermost: calls are listed as they start
            return call.name or "(model)", (call.name or "(model)",) if call in once else ()
        # The block's module ends at the add, and its ReLU is the next module (nn.Sequential(Residual(…), ReLU())).
        upto_add = [call for call in once if call.input == x and call.output == added]
        relu = [call for call in once if call.input == added and call.output == output and call.name]
        if upto_add and relu and upto_add[-1].name:
            return upto_add[-1].name, (upto_add[-1].name, relu[-1].name)
        names = [self.ops[i].module for i in branch] + [add.module]
        return common_prefix(names) or "(model)", ()

    def describe(self, start: int, end: int) -> tuple[str, ...]:
        """The layers of ops ``start`` … ``end - 1`` that matter for a network's shape, in words."""
        words = []
        for op in self.ops[start:end]:
            if op.name == "convolution":
                weight = self.tensor(self.arg_value(op, 1))
                assert weight is not None
                stride = _first(op.args[3])
                in_channels = weight.shape[1] * _first(op.args[8])
                words.append(f"conv {weight.shape[-2]}x{weight.shape[-1]}/{stride} {in_channels}->{weight.shape[0]}")
            elif op.name in ("max_pool2d_with_indices", "max_pool2d"):
                kernel = _first(op.args[1])
                stride = _first(op.args[2]) if len(op.args) > 2 and op.args[2] else kernel  # stride=[] means the kernel
                words.append(f"max pool {kernel}x{kernel}/{stride}")
            elif op.name in ("avg_pool2d",):
                words.append(f"average pool {_first(op.args[1])}x{_first(op.args[1])}")
            elif op.name in ("mean", "adaptive_avg_pool2d", "_adaptive_avg_pool2d"):
                words.append("global average pool")
            elif op.name in ("addmm", "mm", "linear"):
                weight = self.tensor(self.arg_value(op, 2 if op.name == "addmm" else 1))
                assert weight is not None
                inner, outer = weight.shape if op.name != "linear" else weight.shape[::-1]
                words.append(f"linear {inner}->{outer}")
        return tuple(words)


# A convention, not a mistake: reported with the block, never as a problem; the block cannot be transplanted.
CONVENTIONS = frozenset({"same-padding"})
# Deviations after which a block's tensors do not make a form (c) block at all.
_NO_CANONICAL = frozenset(
    {"same-padding", "per-path-bn", "per-path-bn-relu", "grouped-first-conv", "cross-group", "kernels", "padding",
     "stride-last-conv", "bn3", "bn-relu-1", "bn-relu-2", "stride-first-conv", "relu-before-add"}
)  # fmt: skip


def common_prefix(names: Sequence[str]) -> str:
    """The longest dotted prefix that every name shares: ``layer1.0`` for ``layer1.0.conv1``, ``layer1.0.bn3``."""
    parts = [name.split(".") for name in names]
    common: list[str] = []
    for pieces in zip(*parts):
        if len(set(pieces)) != 1:
            break
        common.append(pieces[0])
    return ".".join(p for p in common if p)


def _changes_nothing(op: Op) -> bool:
    """Views, copies and zero-width padding: operators that leave every value where it was."""
    if op.name == "constant_pad_nd":
        return not any(_sides(op) or (1,))
    return op.name in _CHANNEL_PRESERVING


def _sides(op: Op) -> tuple[int, ...] | None:
    """The (left, right, top, bottom) of a ``constant_pad_nd`` over height and width, or None."""
    pad = op.args[1]
    if isinstance(pad, (list, tuple)) and len(pad) == 4 and all(isinstance(p, int) for p in pad):
        return tuple(int(p) for p in pad)
    return None


def _group(piece: _Piece, group: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(output ids, input ids) of group ``group`` of a convolution: each output reads every input of its group."""
    per_out, per_in = len(piece.outputs) // piece.groups, len(piece.inputs) // piece.groups
    return piece.outputs[group * per_out : (group + 1) * per_out], piece.inputs[group * per_in : (group + 1) * per_in]


def _place(target: Tensor, rows: list[int], cols: list[int], weight: Tensor) -> None:
    """``target[rows][:, cols] = weight``; a plain slice copy when both run in order without gaps (the usual case)."""
    if rows == list(range(rows[0], rows[0] + len(rows))) and cols == list(range(cols[0], cols[0] + len(cols))):
        target[rows[0] : rows[0] + len(rows), cols[0] : cols[0] + len(cols)] = weight
    else:
        index = torch.tensor(rows, device=target.device)[:, None], torch.tensor(cols, device=target.device)[None, :]
        target[index] = weight


def _index(ids: Sequence[int], like: Tensor) -> Tensor:
    return torch.tensor(ids, dtype=torch.long, device=like.device)


def _first(value: object) -> int:
    """An operator's int argument, or the first of a list of them (stride, padding, kernel size)."""
    first = value[0] if isinstance(value, (list, tuple)) else value
    if not isinstance(first, int):
        raise _NotABottleneck(f"an operator argument {value!r} is not an int")
    return first


def _dim(dim: int) -> int:
    return dim if dim >= 0 else dim + 4  # NCHW tensors


# Its name until 0.1.0, which readers took for torchvision's module of that name: a record is not a module.
__getattr__ = renamed(__name__, {"Bottleneck": ("RecognisedBlock", RecognisedBlock)})
