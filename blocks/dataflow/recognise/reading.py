"""The recorded forward pass as every pass of :mod:`blocks.dataflow.recognise` reads it.

A :class:`Reading` holds the trace with the indexes the passes share (who reads each
value, how often each module ran, the 1x1 convolutions written as products over the
channels, :mod:`.contractions`), and the small questions they all ask of an operator
(which of its inputs are data, which value is its argument, is it a convolution and
with which weight). :class:`Prov` and :class:`Piece` are the records the channel pass
makes and the later passes read.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

from blocks.dataflow.recognise.contractions import read_contractions
from blocks.dataflow.trace import Op, Trace

ADDS = frozenset({"add", "add_"})
BATCH_NORMS = frozenset({"native_batch_norm", "_native_batch_norm_legit", "_native_batch_norm_legit_no_training"})
RELUS = frozenset({"relu", "relu_"})
# Activations other than ReLU, by ATen operator, as their authors' modules call them.
ACTIVATIONS = {
    "silu": "SiLU", "silu_": "SiLU", "gelu": "GELU", "gelu_": "GELU", "hardswish": "hard swish",
    "hardswish_": "hard swish", "leaky_relu": "leaky ReLU", "leaky_relu_": "leaky ReLU", "elu": "ELU",
    "elu_": "ELU", "mish": "Mish", "mish_": "Mish", "hardtanh": "ReLU6", "hardtanh_": "ReLU6", "celu": "CELU",
    "selu": "SELU", "_prelu_kernel": "PReLU", "prelu": "PReLU",
}  # fmt: skip
# Operators that keep every channel where it is (views, copies, casts, activations we do not judge).
CHANNEL_PRESERVING = frozenset(
    {"clone", "contiguous", "detach", "alias", "_to_copy", "to", "view", "reshape", "_unsafe_view", "dropout",
     "native_dropout", "identity", "lift_fresh", "_assert_tensor_metadata"}
)  # fmt: skip
# Per-channel spatial filters a branch may hold before its stride (anti-aliased downsampling), besides a blur conv.
SMOOTHING = frozenset({"avg_pool2d", "avg_pool3d", "max_pool2d", "max_pool2d_with_indices", "reflection_pad2d",
                       "replication_pad2d"})  # fmt: skip
MAX_SHORTCUT_OPS = 6  # ops between X and the add on the shortcut side (pool, conv, BN, ...)


@dataclass(frozen=True)
class Prov:
    """Where a value's channels come from, inside one block's branch.

    Levels 0 (the block input X), 1 (first 1x1s) and 2 (3x3s): ``channels`` lists,
    per channel, its id at that level. Level 3 (last 1x1s): every channel is output
    channel j summed over the convolutions (``pieces``) that made it.
    """

    level: int
    channels: tuple[int, ...] = ()
    pieces: frozenset[int] = frozenset()


@dataclass
class Piece:
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


class NotABottleneck(Exception):
    """A residual add whose branch is not a bottleneck; the message says why."""


class Reading:
    """A :class:`Trace` with the indexes every pass reads, and what was found so far."""

    def __init__(self, trace: Trace) -> None:
        self.trace = trace
        self.values = trace.values
        self.ops = trace.ops
        self.readers = trace.consumers()
        self.block_start: list[int] = []  # per block: the index of its first op
        self.block_end: list[int] = []  # per block: the index of its last op
        self.names = {id(m): n for n, m in trace.model.named_modules(remove_duplicate=False)}
        self.explicit_padding: dict[int, tuple[int, ...]] = {}  # padded value -> (left, right, top, bottom)
        self.smoothing: dict[int, Prov] = {}  # op index -> what it read: a per-channel blur or pool in a branch
        self.buffers = frozenset(n for n, _ in trace.model.named_buffers(remove_duplicate=False))
        self.modules_called: dict[int, int] = {}
        for call in trace.calls:
            self.modules_called[id(call.module)] = self.modules_called.get(id(call.module), 0) + 1
        contractions, self.refused = read_contractions(trace, self.readers)  # refused: op index -> why, in words
        self.contractions = {c.anchor: c for c in contractions}  # by the index of its product
        self.contraction_of = {i: c for c in contractions for i in c.ops}  # by the index of each of its ops
        self.contraction_into = {c.output: c for c in contractions}  # by the value it makes

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

    # ------------------------------------------------------------ convolutions, as written or as products

    def is_convolution(self, op: Op) -> bool:
        """A convolution operator, or the product of a 1x1 convolution written over the channels."""
        return op.name == "convolution" or op.index in self.contractions

    def weight_of(self, op: Op) -> Tensor | None:
        """A convolution's weight, (out, in/groups, k, k) (a contraction's as a 1x1's)."""
        contraction = self.contractions.get(op.index)
        return contraction.weight if contraction is not None else self.tensor(self.arg_value(op, 1))

    def bias_of(self, op: Op) -> Tensor | None:
        contraction = self.contractions.get(op.index)
        return contraction.bias if contraction is not None else self.tensor(self.arg_value(op, 2))

    def stride_of(self, op: Op) -> int:
        contraction = self.contractions.get(op.index)
        return contraction.stride if contraction is not None else first_int(op.args[3])

    def groups_of(self, op: Op) -> int:
        return 1 if op.index in self.contractions else first_int(op.args[8])

    def with_weights(self, ops: list[int]) -> list[int]:
        """``ops`` and the operators that make the weights of the contractions among them (they read the parameters)."""
        return [*ops, *(i for op in ops if op in self.contractions for i in self.contractions[op].weight_ops)]


def changes_nothing(op: Op) -> bool:
    """Views, copies and zero-width padding: operators that leave every value where it was."""
    if op.name == "constant_pad_nd":
        return not any(pad_sides(op) or (1,))
    return op.name in CHANNEL_PRESERVING


def pad_sides(op: Op) -> tuple[int, ...] | None:
    """The (left, right, top, bottom) of a ``constant_pad_nd`` over height and width, or None."""
    pad = op.args[1]
    if isinstance(pad, (list, tuple)) and len(pad) == 4 and all(isinstance(p, int) for p in pad):
        return tuple(int(p) for p in pad)
    return None


def group_of(piece: Piece, group: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(output ids, input ids) of group ``group`` of a convolution: each output reads every input of its group."""
    per_out, per_in = len(piece.outputs) // piece.groups, len(piece.inputs) // piece.groups
    return piece.outputs[group * per_out : (group + 1) * per_out], piece.inputs[group * per_in : (group + 1) * per_in]


def first_int(value: object) -> int:
    """An operator's int argument, or the first of a list of them (stride, padding, kernel size)."""
    first = value[0] if isinstance(value, (list, tuple)) else value
    if not isinstance(first, int):
        raise NotABottleneck(f"an operator argument {value!r} is not an int")
    return first


def channel_dim(dim: int, ndim: int) -> int:
    """``dim`` counted from the front of a tensor of ``ndim`` dimensions: 1 is the channels of NCL, NCHW, NCDHW."""
    return dim if dim >= 0 else dim + ndim
