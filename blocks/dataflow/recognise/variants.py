"""Pass 4b: the variants, what documented members of the family add to the paper's block, found by dataflow.

A variant is not a mistake: squeeze-and-excitation (Hu et al. 2018), ECA (Wang et al. 2020)
and global-context (Cao et al. 2019) gates, activations other than ReLU, ResNet-D's
average-pool shortcut (He et al. 2019), convolutions over one or three dimensions,
pre-activation (He et al. 2016), anti-aliased downsampling (Zhang 2019), deep stems.

A GATE is a ``mul`` of a branch value V by a per-channel factor computed from V alone:
the ops that make the factor read no data but V (:func:`~.residuals.branch_ops` from V
ends there), and its shape is V's with every dimension after the channels of size 1.
Which gate it is follows from its ops: a softmax over the positions and a matrix product
(global context, Cao et al.); a 1-D convolution across the channels (ECA); a mean over
the positions, then two 1x1 convolutions or linears and a sigmoid (squeeze-and-excitation).
The channel pass (:mod:`.channels`) skips the factor's ops and treats the ``mul`` as
moving V's channels along unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

from blocks.dataflow.recognise.reading import (
    ACTIVATIONS,
    ADDS,
    BATCH_NORMS,
    RELUS,
    Piece,
    Prov,
    Reading,
    changes_nothing,
    first_int,
)
from blocks.dataflow.recognise.records import Deviation, DeviationKind, Variant, VariantKind
from blocks.dataflow.recognise.residuals import branch_ops
from blocks.dataflow.trace import Op

_MULS = frozenset({"mul", "mul_"})
_SPATIAL_POOLS = frozenset({"mean", "adaptive_avg_pool2d", "_adaptive_avg_pool2d", "avg_pool2d", "sum"})


@dataclass(frozen=True)
class Gate:
    """A per-channel gate in a branch: ``mul`` (op index) of ``value`` V by a factor made by ``ops``."""

    mul: int
    value: int
    ops: frozenset[int]
    kind: VariantKind
    module: str
    additive: bool = False  # the factor is added to V (a global-context block fused by addition)


def find_gates(r: Reading, branch: list[int]) -> list[Gate]:
    """Every gate of a branch (see the module docstring), in the order they run."""
    gates = []
    inside = set(branch)
    for index in branch:
        op = r.ops[index]
        data = r.data_inputs(op)
        if (op.name not in _MULS and op.name not in ADDS) or len(data) != 2:
            continue
        for value, broadcast in (data, data[::-1]):
            factor, expands = _unexpanded(r, broadcast)
            shape, factor_shape = r.values[value].tensor.shape, r.values[factor].tensor.shape
            if len(shape) < 3 or len(factor_shape) != len(shape) or tuple(factor_shape[:2]) != tuple(shape[:2]):
                continue
            if any(size != 1 for size in factor_shape[2:]):
                continue
            ops = branch_ops(r, value, factor)
            if not ops or not set(ops) <= inside:
                continue
            kind = _kind(r, ops)
            module = _module(r, value, op.outputs[0])
            gates.append(Gate(index, value, frozenset([*ops, *expands]), kind, module, op.name in ADDS))
            break
    return gates


def _unexpanded(r: Reading, value: int) -> tuple[int, list[int]]:
    """``value`` before the ``expand``s that only broadcast it (ECA's ``y.expand_as(x)``), and those ops."""
    expands = []
    op = r.trace.producer(value)
    while op is not None and op.name in ("expand", "expand_as") and len(r.data_inputs(op)) == 1:
        expands.append(op.index)
        value = r.data_inputs(op)[0]
        op = r.trace.producer(value)
    return value, expands


def _kind(r: Reading, ops: list[int]) -> VariantKind:
    names = [r.ops[i].name for i in ops]
    if any("softmax" in n for n in names) and any(n in ("bmm", "mm", "matmul", "mul") for n in names):
        return VariantKind.GLOBAL_CONTEXT
    convs = [r.ops[i] for i in ops if r.ops[i].name == "convolution"]
    weights = [r.tensor(r.arg_value(c, 1)) for c in convs]
    if len(convs) == 1 and weights[0] is not None and weights[0].ndim == 3 and weights[0].shape[:2] == (1, 1):
        return VariantKind.ECA
    linear = len(convs) + sum(n in ("addmm", "mm", "linear") for n in names)
    if any(n in _SPATIAL_POOLS for n in names) and linear == 2 and "sigmoid" in names:
        return VariantKind.SQUEEZE_EXCITATION
    return VariantKind.GATE


def _module(r: Reading, value: int, output: int) -> str:
    """The module whose one call turns V into the gated V (timm's ``se``), or ""."""
    calls = [c for c in r.trace.calls if c.input == value and c.output == output and c.name]
    return calls[-1].name if calls and r.modules_called[id(calls[-1].module)] == 1 else ""


def gate_variant(gate: Gate, level: int, whole: bool) -> Variant:
    """The :class:`Variant` of a gate on a value of channel level ``level`` (3: after the last 1x1s).

    ``whole``: at level 3, whether the value is the sum over every path (after the last BN).
    """
    if level == 3 and whole:
        where, mixes = "after its last BN, on the sum of its paths", False
    else:
        stage = {0: "on its input", 1: "after its first 1x1", 2: "after its grouped 3x3"}.get(level, "inside a path")
        where, mixes = stage, level in (1, 2)
    detail = (
        "it adds to each channel a term computed from the whole branch value"
        if gate.additive
        else "it scales each channel by a factor computed from the whole branch value"
    )
    if mixes:
        detail += ", so every path's channels depend on every other path's: the paths are mixed"
    return Variant(gate.kind, where, detail, mixes, gate.module, level)


def activation_variant(r: Reading, ops: list[Op]) -> Variant | None:
    """A variant naming the block's activations, if any is not ReLU."""
    names = sorted({ACTIVATIONS[op.name] for op in ops if op.name in ACTIVATIONS})
    if not names:
        return None
    return Variant(VariantKind.ACTIVATION, "in its branch and after its add",
                   f"its activations are {', '.join(names)} where the paper's block uses ReLU")  # fmt: skip


def shortcut_variant(r: Reading, ops: list[Op], expected_stride: int, normalised: bool = True) -> Variant | None:
    """ResNet-D's shortcut, average pool (with the stride) -> 1x1 conv (stride 1) -> BN, from X to the add.

    ``normalised=False``: the same without the BN, as a pre-activation block writes it (its
    shortcut reads the block's pre-activated input).
    """
    names = [op.name for op in ops]
    if names[:2] != ["avg_pool2d", "convolution"] or len(ops) != (3 if normalised else 2):
        return None
    if normalised and names[2] not in BATCH_NORMS:
        return None
    pool, conv = ops[0], ops[1]
    weight = r.tensor(r.arg_value(conv, 1))
    strides = conv.args[3] if isinstance(conv.args[3], (list, tuple)) else [conv.args[3]]
    if weight is None or weight.shape[-1] != 1 or any(s != 1 for s in strides):
        return None
    pool_stride = pool.args[2] if len(pool.args) > 2 and pool.args[2] else pool.args[1]
    stride = pool_stride[0] if isinstance(pool_stride, (list, tuple)) else pool_stride
    if stride != expected_stride:
        return None
    projection = "a 1x1 conv and a BN" if normalised else "a 1x1 conv (no BN: it reads the pre-activated input)"
    return Variant(VariantKind.AVG_POOL_SHORTCUT, "on its shortcut",
                   f"its shortcut averages {stride}x{stride} pixels, then projects with {projection},"
                   " instead of a 1x1 conv of stride 2 that reads 1 pixel in 4")  # fmt: skip


_LEVELS = {0: "on its input", 1: "after its first 1x1", 2: "after its grouped 3x3"}


def smoothing_variant(r: Reading, ops: list[tuple[Op, Prov]]) -> tuple[Variant | None, int]:
    """The anti-aliasing of a branch (its per-channel blurs and pools, :data:`.reading.SMOOTHING`), and their stride."""
    if not ops:
        return None, 1
    stride, words = 1, []
    for op, _ in ops:
        if op.name == "convolution":
            weight = r.tensor(r.arg_value(op, 1))
            assert weight is not None
            step = first_int(op.args[3])
            words.append(f"a {weight.shape[-2]}x{weight.shape[-1]} blur filter of stride {step}")
        elif "pad" in op.name:
            continue
        else:
            kernel = first_int(op.args[1])
            step = first_int(op.args[2]) if len(op.args) > 2 and op.args[2] else kernel
            words.append(f"a {kernel}x{kernel} {'average' if 'avg' in op.name else 'max'} pool of stride {step}")
        stride *= step
    first, last = ops[0][0], ops[-1][0]
    inputs = r.data_inputs(first)
    module = _module(r, inputs[0], last.outputs[0]) if inputs else ""
    detail = (
        f"it filters each channel on its own with {' and '.join(words)}, where the paper's 3x3 takes the stride"
        " itself; it mixes no paths, so all three forms have a place for it inside each path"
    )
    level = ops[0][1].level
    return Variant(VariantKind.ANTI_ALIASING, _LEVELS.get(level, "after its last 1x1s"), detail,
                   module=module, level=level), stride  # fmt: skip


# What a pre-activation block shows against the paper's block, besides its ordering: read as the variant.
PRE_ACTIVATION_SYMPTOMS = frozenset({DeviationKind.BN3, DeviationKind.NO_RELU_AFTER_ADD, DeviationKind.SHORTCUT})


def pre_activation_variant(
    r: Reading, pieces: list[Piece], bns: list[tuple[Op, Prov]], deviations: list[Deviation], shortcut: list[Op]
) -> Variant | None:
    """He et al.'s pre-activation block (2016), or None.

    Every first 1x1 reads ReLU(BN(.)), no BN follows the last 1x1s and no ReLU the add, and the
    shortcut is X itself or one convolution (it reads the pre-activated input, so it needs no BN).
    """
    kinds = {deviation.kind for deviation in deviations}
    if not {DeviationKind.BN3, DeviationKind.NO_RELU_AFTER_ADD} <= kinds or any(p.level == 3 for _, p in bns):
        return None
    names = [op.name for op in reversed(shortcut) if not changes_nothing(op)]  # from X to the add
    if names not in ([], ["convolution"], ["avg_pool2d", "convolution"]):  # X, a 1x1, or ResNet-D's pool and 1x1
        return None
    if not all(_reads_bn_relu(r, piece.op) for piece in pieces if piece.level == 1):
        return None
    return Variant(VariantKind.PRE_ACTIVATION, "throughout the block",
                   "each convolution reads BN -> ReLU of its input, the last 1x1 has no BN after it, and nothing"
                   " follows the add, so the shortcut carries the identity from block to block")  # fmt: skip


def _reads_bn_relu(r: Reading, conv: Op) -> bool:
    """Whether a convolution's input is ReLU(BN(.)), through views."""
    expected = [RELUS | frozenset(ACTIVATIONS), BATCH_NORMS]
    value = r.arg_value(conv, 0)
    while expected and value is not None:
        op = r.trace.producer(value)
        if op is None:
            return False
        inputs = r.data_inputs(op)
        if not changes_nothing(op) and op.name not in expected.pop(0):
            return False
        value = inputs[0] if inputs else None
    return not expected
