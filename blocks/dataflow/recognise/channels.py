"""Pass 2: every channel of a branch followed from the block's input X through its convolutions.

A convolution's output channels are level 1 (the first 1x1s), 2 (the 3x3s) or 3 (the
last 1x1s, whose outputs are partial sums over the paths); a 1x1 written as a product
over the channels (:mod:`.contractions`) is one convolution. Slicing, ``split``/``chunk``,
``cat``, sums, BN and ReLU move channels along unchanged (see :class:`Prov`). An
operator of any other kind ends the reading, naming the call that made it.
"""

from __future__ import annotations

from collections.abc import Sequence

from blocks.dataflow.recognise.contractions import Contraction
from blocks.dataflow.recognise.reading import (
    ACTIVATIONS,
    ADDS,
    BATCH_NORMS,
    CHANNEL_PRESERVING,
    RELUS,
    SMOOTHING,
    NotABottleneck,
    Piece,
    Prov,
    Reading,
    channel_dim,
    first_int,
    pad_sides,
)
from blocks.dataflow.trace import Op


# Over 60 lines: one dispatch on the operator's name, a branch per kind of op (convolution, product over the
# channels, BN and ReLU, slicing, padding, cat, stack, sum, add), so that every op a branch may hold is read
# in one place.
def follow_channels(
    r: Reading, x: int, branch: list[int], end: int, gates: dict[int, int], skip: frozenset[int]
) -> tuple[list[Piece], list[tuple[Op, Prov]], list[tuple[Op, Prov]], dict[int, Prov]]:
    """Follow every channel from X through the branch's ops (see :class:`Prov`).

    ``gates`` maps each gate's ``mul`` (op index) to the value V it scales, ``skip`` holds the
    ops that make the gates' factors (:mod:`.variants`): a gate moves V's channels along
    unchanged. Returns the convolutions, the BNs and activations with what they read, and
    what each gate scaled.
    """
    gated: dict[int, Prov] = {}
    provs: dict[int, Prov | list[Prov]] = {x: Prov(0, tuple(range(r.values[x].channels)))}
    pieces: list[Piece] = []
    bns: list[tuple[Op, Prov]] = []
    relus: list[tuple[Op, Prov]] = []
    counts = [r.values[x].channels, 0, 0, 0]
    for index in branch:
        if index in skip:
            continue
        op = r.ops[index]
        if index in gates:
            scaled = provs.get(gates[index])
            if not isinstance(scaled, Prov):
                raise NotABottleneck(f"its {op.called} gates a tensor that does not come from the block's input")
            gated[index] = scaled
            for value in op.outputs:
                provs[value] = scaled
            continue
        contraction = r.contraction_of.get(index)
        if contraction is not None and index == contraction.anchor:
            provs[contraction.output] = _contract(r, contraction, provs.get(contraction.input), pieces, counts)
            continue
        if contraction is not None and not _copies(r, op, provs):
            continue  # an axis move inside a product over the channels: the product makes its output
        if index in r.refused:
            raise NotABottleneck(r.refused[index])
        inputs = [provs.get(v) for v in r.data_inputs(op)]
        if any(p is None for p in inputs):
            raise NotABottleneck(f"its {op.called} reads a tensor that does not come from the block's input")
        first = inputs[0]
        name = op.name
        if (name in SMOOTHING or (name == "convolution" and is_blur(r, op))) and isinstance(first, Prov):
            r.smoothing[index] = first  # anti-aliasing: each channel filtered on its own, moved along
            out = first
        elif name == "convolution":
            if not isinstance(first, Prov) or first.level >= 3:
                raise NotABottleneck("it has more than three convolutions in a row")
            piece = make_piece(r, op, first, counts)
            pieces.append(piece)
            out = Prov(3, pieces=frozenset({len(pieces) - 1})) if piece.level == 3 else Prov(piece.level, piece.outputs)
        elif name in BATCH_NORMS or name in RELUS or name in ACTIVATIONS or name in CHANNEL_PRESERVING:
            out = first  # type: ignore[assignment]
            if name in BATCH_NORMS:
                bns.append((op, first))  # type: ignore[arg-type]
            elif name in RELUS or name in ACTIVATIONS:
                relus.append((op, first))  # type: ignore[arg-type]
        elif name in ("slice", "split", "split_with_sizes", "narrow", "chunk", "unbind"):
            for value, prov in zip(op.outputs, cut(r, op, first)):  # type: ignore[arg-type]
                provs[value] = prov
            continue
        elif name == "constant_pad_nd" and (len(op.args) < 3 or op.args[2] == 0) and pad_sides(op) is not None:
            r.explicit_padding[op.outputs[0]] = pad_sides(op) or ()  # zeros around: (left, right, top, bottom)
            out = first  # type: ignore[assignment]
        elif name == "cat":
            out = concatenate(r, op, inputs)  # type: ignore[arg-type]
        elif name == "stack":
            provs[op.outputs[0]] = list(inputs)  # type: ignore[arg-type]
            continue
        elif name == "sum" and isinstance(first, list):
            out = add_pieces(r, first)
        elif name in ADDS:
            out = add_pieces(r, inputs)  # type: ignore[arg-type]
        else:
            raise NotABottleneck(f"its branch runs {op.called}, which no bottleneck of the paper has")
        for value in op.outputs:
            provs[value] = out
    final = provs.get(end)
    if not isinstance(final, Prov) or final.level != 3:
        raise NotABottleneck("its branch does not end in a last 1x1 convolution")
    return pieces, bns, relus, gated


def is_blur(r: Reading, op: Op) -> bool:
    """A fixed filter per channel (a depthwise convolution whose weight is a buffer): a BlurPool, not a layer."""
    weight_value = r.arg_value(op, 1)
    weight = r.tensor(weight_value)
    groups = op.args[8]
    return (
        weight is not None
        and weight_value is not None
        and r.values[weight_value].name in r.buffers
        and weight.shape[1] == 1
        and isinstance(groups, int)
        and groups == weight.shape[0]
    )


def _contract(
    r: Reading, contraction: Contraction, source: Prov | list[Prov] | None, pieces: list[Piece], counts: list[int]
) -> Prov:
    """A 1x1 convolution written as a product over the channels, read as the piece it is."""
    if not isinstance(source, Prov):
        raise NotABottleneck(f"its {contraction.called} reads a tensor that does not come from the block's input")
    if source.level >= 3:
        raise NotABottleneck("it has more than three convolutions in a row")
    level, outputs = _level_outputs(source, contraction.weight.shape[0], counts)
    pieces.append(
        Piece(op=r.ops[contraction.anchor], level=level, inputs=source.channels, outputs=outputs,
              weight=contraction.weight, bias=contraction.bias, stride=contraction.stride, padding=0, dilation=1,
              groups=1, kernel=1, weight_key=contraction.weight_key)
    )  # fmt: skip
    return Prov(3, pieces=frozenset({len(pieces) - 1})) if level == 3 else Prov(level, outputs)


def _copies(r: Reading, op: Op, provs: dict[int, Prov | list[Prov]]) -> bool:
    """A copy or view of a branch value that leaves its shape as it is (a product may start from it, others too)."""
    inputs = r.data_inputs(op)
    if op.name not in CHANNEL_PRESERVING or len(inputs) != 1 or inputs[0] not in provs:
        return False
    return all(r.values[out].tensor.shape == r.values[inputs[0]].tensor.shape for out in op.outputs)


def _level_outputs(source: Prov, out_channels: int, counts: list[int]) -> tuple[int, tuple[int, ...]]:
    """A convolution's level (its input's plus one), and the ids of its output channels there (counted on)."""
    level = source.level + 1
    if level == 3:
        return level, tuple(range(out_channels))
    outputs = tuple(range(counts[level], counts[level] + out_channels))
    counts[level] += out_channels
    return level, outputs


def make_piece(r: Reading, op: Op, source: Prov, counts: list[int]) -> Piece:
    weight_value = r.arg_value(op, 1)
    weight = r.tensor(weight_value)
    assert weight is not None
    bias = r.tensor(r.arg_value(op, 2))
    level, outputs = _level_outputs(source, weight.shape[0], counts)
    stride, padding, dilation = (op.args[i] for i in (3, 4, 5))
    padded = r.explicit_padding.get(r.arg_value(op, 0) or -1)
    if padded is not None:  # F.pad before the convolution (TensorFlow's "same"): the two paddings add up
        sides = {side + first_int(padding) for side in padded}
        padding = sides.pop() if len(sides) == 1 else -1  # -1: not the same on every side
    key: object = (
        weight_value
        if weight.device.type == "meta"
        else (weight.untyped_storage().data_ptr(), weight.storage_offset(), tuple(weight.shape), weight.stride())
    )
    return Piece(
        op=op, level=level, inputs=source.channels, outputs=outputs, weight=weight, bias=bias,
        stride=first_int(stride), padding=first_int(padding), dilation=first_int(dilation),
        groups=first_int(op.args[8]), kernel=int(weight.shape[-1]), weight_key=key,
    )  # fmt: skip


def cut(r: Reading, op: Op, source: Prov) -> list[Prov]:
    """The provenances of the outputs of a slice/split of ``source``."""
    if op.name == "slice":
        dim, start, end, step = (*op.args[1:], *(0, None, None, 1)[len(op.args) - 1 :])[:4]
        if channel_dim(dim, _rank(r, op)) != 1:  # type: ignore[arg-type]
            return [source]
        if source.level >= 3:
            raise NotABottleneck("it slices the partial sums of its last 1x1s")
        return [Prov(source.level, source.channels[slice(start, end, step)])]  # type: ignore[arg-type]
    sizes = [r.values[v].tensor.shape for v in op.outputs]
    dim = op.args[2] if len(op.args) > 2 else 0
    if channel_dim(dim, _rank(r, op)) != 1:  # type: ignore[arg-type]
        return [source] * len(sizes)
    if source.level >= 3:
        raise NotABottleneck("it splits the partial sums of its last 1x1s")
    parts, start = [], 0
    for size in sizes:
        parts.append(Prov(source.level, source.channels[start : start + size[1]]))
        start += size[1]
    return parts


def _rank(r: Reading, op: Op) -> int:
    """The number of dimensions of the tensors an operator slices or concatenates (4 for NCHW)."""
    return r.values[r.data_inputs(op)[0]].tensor.ndim


def concatenate(r: Reading, op: Op, inputs: list[Prov]) -> Prov:
    dim = op.args[1] if len(op.args) > 1 else 0
    if channel_dim(dim, _rank(r, op)) != 1:  # type: ignore[arg-type]
        raise NotABottleneck("it concatenates along a dimension other than the channels")
    levels = {p.level for p in inputs}
    if len(levels) != 1 or levels == {3}:
        raise NotABottleneck("it concatenates tensors of different stages")
    return Prov(levels.pop(), tuple(c for p in inputs for c in p.channels))


def add_pieces(r: Reading, inputs: Sequence[Prov]) -> Prov:
    if any(p.level != 3 for p in inputs):
        raise NotABottleneck("it adds tensors inside its branch before the last 1x1")
    pieces: frozenset[int] = frozenset()
    for p in inputs:
        if pieces & p.pieces:
            raise NotABottleneck("it adds one path's output more than once")
        pieces |= p.pieces
    return Prov(3, pieces=pieces)
