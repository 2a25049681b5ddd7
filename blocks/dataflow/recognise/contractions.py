"""Pass 0: 1x1 convolutions written as a product over the channels, read as the convolutions they are.

A 1x1 convolution is a matrix product: at every pixel, a weight (out, in) times the pixel's
in channels. Authors write it so: ``torch.einsum("oc,bchw->bohw", w, x)``,
``w @ x.flatten(2)``, ``F.linear(x.permute(0, 2, 3, 1), w).permute(0, 3, 1, 2)``,
``torch.tensordot(x, w, dims=([1], [1]))``. PyTorch runs each as a few operators that only
move axes (``permute``, ``view``, ``unsqueeze``, ...) around one ``mm``, ``bmm`` or ``addmm``,
which is all the trace sees. So this pass follows every AXIS of the value such a product
starts from, (batch, channels, height, width), through those operators (a :data:`Layout`),
and reads the product as a 1x1 convolution when

1. it sums over the channels and nothing else, and its other operand (the weight) is a
   tensor of the model, not data: its two axes are (out, in) or (in, out) (then transposed);
2. the value it ends in has the axes (batch, out channels, height, width) again; a bias
   added along the out channels on the way joins it, and ``x[:, :, ::s, ::s]`` before it
   is its stride;
3. ``F.conv2d`` with that weight, run on the start value, gives the end value (measured).

Any other product of a branch value by a weight is refused, with the reason in words and
the call the author wrote (``torch.einsum at block.py:14``), never the operators PyTorch
made of it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from blocks.dataflow.trace import Op, Trace
from blocks.util.numerics import CANONICAL_RTOL

# One axis of a tensor, (name, size); a dimension is the axes merged into it, in order (size 1: none);
# a layout is every dimension's axes. (B, C, H, W) is (("b", B),), (("c", C),), (("h", H),), (("w", W),).
Axis = tuple[str, int]
Layout = tuple[tuple[Axis, ...], ...]

PRODUCTS = frozenset({"mm", "bmm", "addmm"})
# Operators that move, merge or split axes and change no value.
_MOVES = frozenset(
    {"view", "_unsafe_view", "reshape", "permute", "transpose", "t", "unsqueeze", "squeeze", "clone",
     "contiguous", "alias", "flatten", "unflatten", "detach"}
)  # fmt: skip
_ADDS = frozenset({"add", "add_"})
_WORDS = {"b": "batch", "c": "channels", "h": "height", "w": "width", "o": "out channels"}
_CONVOLUTION = "(batch, channels, height, width)"


@dataclass(frozen=True)
class Contraction:
    """A 1x1 convolution written as a product over the channels (see the module docstring).

    Attributes:
        anchor: the index of its ``mm``/``bmm``/``addmm``.
        ops: the indices of every operator it is made of on the data's side (the axis moves, the
            product, the bias add), in execution order.
        input: the value it reads, (B, in, H, W).
        output: the value it makes, (B, out, H / stride, W / stride).
        weight: its weight as a convolution's, (out, in, 1, 1).
        bias: its bias, (out,), or None.
        stride: how many pixels it steps (``x[:, :, ::2, ::2]`` before it: 2).
        weight_key: equal for two contractions that read the same weight tensor.
        weight_ops: the operators that make its weight and bias from the model's tensors (they read
            the parameters).
        called: the call its author wrote, and where: ``torch.einsum at block.py:14``.
    """

    anchor: int
    ops: tuple[int, ...]
    input: int
    output: int
    weight: Tensor
    bias: Tensor | None
    stride: int
    weight_key: object
    weight_ops: tuple[int, ...]
    called: str


class _Refused(Exception):
    """A product of a branch value by a weight that is not a 1x1 convolution; the message says why."""


def read_contractions(trace: Trace, readers: Sequence[Sequence[int]]) -> tuple[list[Contraction], dict[int, str]]:
    """Every product of a 4-D value by a weight in ``trace``, read as a 1x1 convolution or refused.

    Args:
        trace: the recorded forward pass.
        readers: for every value, the operators that read it (:meth:`Trace.consumers`).

    Returns:
        The contractions in execution order, and for the operators of every refused product the
        reason, in words, naming the call its author wrote.
    """
    found: list[Contraction] = []
    refused: dict[int, str] = {}
    ends: set[int] = set()  # the values earlier contractions make: a later one starts there
    for op in trace.ops:
        if op.name not in PRODUCTS:
            continue
        operands = (1, 2) if op.name == "addmm" else (0, 1)
        values = [_value(op, i) for i in operands]
        data = [i for i, v in enumerate(values) if v is not None and trace.values[v].kind in ("data", "input")]
        if len(data) != 1 or values[1 - data[0]] is None:
            continue  # a product of two data values (attention), or of two weights: not a convolution
        start, chain = _walk_back(trace, values[data[0]], ends)  # type: ignore[arg-type]
        if trace.values[start].tensor.ndim != 4:
            continue  # a product of pooled or flattened features (a linear layer, a gate's): not a 1x1 here
        try:
            contraction = _read(trace, readers, op, data[0], values, start, chain)
        except _Refused as why:
            refused.update(dict.fromkeys([*chain, op.index, *_onwards(trace, readers, op)], str(why)))
            continue
        found.append(contraction)
        ends.add(contraction.output)
    return found, refused


# Over 60 lines: the three readings of the module docstring, the start's axes, the weight's and the
# end's, then the measurement, in the order they are checked, so that each refusal says the first wrong.
def _read(
    trace: Trace,
    readers: Sequence[Sequence[int]],
    product: Op,
    data: int,
    values: list[int | None],
    start: int,
    chain: list[int],
) -> Contraction:
    """The contraction ``product`` makes from ``start`` through ``chain``; raises :class:`_Refused` if none."""
    called = product.called
    shape = trace.values[start].tensor.shape
    layout = first = _named(shape, "bchw")
    strides: dict[str, int] = {}
    walked = chain
    for position, index in enumerate(walked):
        layout = _moved(trace, trace.ops[index], layout, strides)
        if layout == first:  # a copy or a view that changes nothing (the block's input, say): start after it
            start, chain = trace.ops[index].outputs[0], walked[position + 1 :]
    if len(set(strides.values())) > 1:
        raise _Refused(f"{called} steps over its input's height and width by different strides {strides}")
    weight_value = values[1 - data]
    assert weight_value is not None
    root, weight_chain = _walk_back(trace, weight_value, set())
    root_shape = trace.values[root].tensor.shape
    weight_layout = _named(root_shape, _weight_names(len(root_shape)))
    for index in weight_chain:
        weight_layout = _moved(trace, trace.ops[index], weight_layout, {})
    left, right = (layout, weight_layout) if data == 0 else (weight_layout, layout)
    summed, summed_weight = (left[-1], right[-2]) if data == 0 else (right[-2], left[-1])
    free_weight = right[-1] if data == 0 else left[-2]
    if summed != (("c", shape[1]),):
        what = " and the ".join(_WORDS[name] for name, _ in summed) or "nothing"
        raise _Refused(
            f"{called} sums over the {what} of its input, where a 1x1 convolution sums over its channels alone,"
            " at every pixel"
        )
    batched_weight = product.name == "bmm" and (right if data == 0 else left)[0] != ()
    if len(summed_weight) != 1 or len(free_weight) != 1 or batched_weight:
        raise _Refused(f"{called} reads its weight, of shape {tuple(root_shape)}, as no matrix (out, in) or (in, out)")
    out_channels = free_weight[0][1]
    out = (("o", out_channels),)
    result: Layout = (left[-2], out) if data == 0 else (out, right[-1])
    if product.name == "bmm":
        result = (left[0] + right[0], *result)
    bias = _value(product, 0) if product.name == "addmm" else None
    if bias is not None and not _along_out_channels(trace.values[bias].tensor.shape, result):
        raise _Refused(f"{called} adds a bias that is not one number per output channel")
    ops, end = [*chain, product.index], None
    for index in _onwards(trace, readers, product):
        op = trace.ops[index]
        if op.name in _ADDS:  # a bias, once, one number per out channel
            other = next((v for v in op.inputs if trace.values[v].kind not in ("data", "input")), None)
            if other is None or bias is not None or not _along_out_channels(trace.values[other].tensor.shape, result):
                break
            bias = other
        else:
            try:
                result = _moved(trace, op, result, {})
            except _Refused:
                if end is not None:
                    break  # it is a convolution's output already: what follows is the next operator's
                raise
        ops.append(index)
        if _is_convolution_output(result, trace.values[op.outputs[0]].tensor.shape, out_channels):
            end = (op.outputs[0], len(ops), bias)
    if end is None:
        raise _Refused(
            f"{called} makes a tensor laid out as ({', '.join(_said(dim) for dim in result)}), where a 1x1"
            f" convolution's output is {_CONVOLUTION}"
        )
    output, taken, bias = end
    weight = _as_matrix(trace.values[root].tensor, free_weight[0][0], summed_weight[0][0])
    stride = next(iter(strides.values()), 1)
    bias_tensor = trace.values[bias].tensor.reshape(out_channels) if bias is not None else None
    _measure(called, trace.values[start].tensor, weight, bias_tensor, stride, trace.values[output].tensor)
    bias_ops = _walk_back(trace, bias, set())[1] if bias is not None else []
    return Contraction(
        anchor=product.index, ops=tuple(ops[:taken]), input=start, output=output, weight=weight, bias=bias_tensor,
        stride=stride, weight_key=_key(trace, root), weight_ops=(*weight_chain, *bias_ops), called=called,
    )  # fmt: skip


def _weight_names(ndim: int) -> list[str]:
    return [f"weight{i}" for i in range(ndim)]


def _value(op: Op, position: int) -> int | None:
    arg = op.args[position] if position < len(op.args) else None
    if isinstance(arg, tuple) and len(arg) == 2 and arg[0] == "value" and isinstance(arg[1], int) and arg[1] >= 0:
        return arg[1]
    return None


def _named(shape: Sequence[int], names: Sequence[str]) -> Layout:
    """The layout of a tensor of ``shape`` whose dimensions are the axes ``names``, one each."""
    return tuple(((name, size),) if size != 1 else () for name, size in zip(names, shape))


def _walk_back(trace: Trace, value: int, ends: set[int]) -> tuple[int, list[int]]:
    """(the value ``value`` is made from by axis moves alone, those moves in execution order).

    ``x[:, :, ::s, ::s]`` on a 4-D value at the start of the moves counts among them (a stride).
    """
    chain: list[int] = []
    stepping = False
    while value not in ends:
        op = trace.producer(value)
        data = list(dict.fromkeys(op.inputs)) if op is not None else []
        if op is None or len(data) != 1:
            break
        if _moves(trace, op) and not stepping:
            chain.insert(0, op.index)
        elif _steps(trace, op):
            chain.insert(0, op.index)
            stepping = True
        else:
            break
        value = data[0]
    return value, chain


def _moves(trace: Trace, op: Op) -> bool:
    """Whether ``op`` only moves axes: one of :data:`_MOVES`, or ``w[:, :, 0, 0]`` of dimensions of size 1."""
    if op.name == "select":
        dim = op.args[1]
        shape = trace.values[op.inputs[0]].tensor.shape
        return isinstance(dim, int) and shape[dim] == 1
    return op.name in _MOVES


def _steps(trace: Trace, op: Op) -> bool:
    """Whether ``op`` is ``x[:, :, ::s]`` or ``x[..., ::s]``: every s-th row or column of a 4-D value."""
    if op.name != "slice" or trace.values[op.inputs[0]].tensor.ndim != 4:
        return False
    dim, start, _, step = (*op.args[1:], *(0, None, None, 1)[len(op.args) - 1 :])[:4]
    return isinstance(dim, int) and dim % 4 in (2, 3) and start in (0, None) and isinstance(step, int) and step > 1


def _moved(trace: Trace, op: Op, layout: Layout, strides: dict[str, int]) -> Layout:
    """``layout`` after ``op``, one of :data:`_MOVES` or a step (:func:`_steps`), which records its stride.

    Raises:
        _Refused: ``op`` reshapes so that an axis is cut apart, naming the call and what it mixes.
    """
    shape = tuple(trace.values[op.outputs[0]].tensor.shape)
    if op.name == "permute":
        order = op.args[1]
        assert isinstance(order, (list, tuple))
        return tuple(layout[d % len(layout)] for d in order)
    if op.name in ("transpose", "t"):
        first, second = (op.args[1], op.args[2]) if op.name == "transpose" else (0, 1)
        if len(layout) < 2:
            return layout
        dims = list(layout)
        i, j = first % len(dims), second % len(dims)  # type: ignore[operator]
        dims[i], dims[j] = dims[j], dims[i]
        return tuple(dims)
    if op.name == "slice":
        dim = op.args[1] % len(layout)  # type: ignore[operator]
        if not layout[dim]:
            return layout  # every row of one
        ((name, _),) = layout[dim]
        strides[name] = int(op.args[4])  # type: ignore[call-overload]  # _steps: a step was given
        return (*layout[:dim], ((name, shape[dim]),) if shape[dim] != 1 else (), *layout[dim + 1 :])
    regrouped, mixed = _regrouped(layout, shape)
    if mixed:
        before = tuple(trace.values[op.inputs[0]].tensor.shape)
        what = " and ".join(_WORDS.get(name, name) for name in mixed)
        raise _Refused(
            f"{op.called} reshapes a tensor of shape {before}, laid out as ({', '.join(_said(d) for d in layout)}),"
            f" into {shape}, which {'mixes its ' + what if len(mixed) > 1 else 'cuts its ' + what + ' apart'}:"
            " a reshape keeps the order of the values in memory, so move the channels with permute first"
        )
    return regrouped


def _regrouped(layout: Layout, shape: Sequence[int]) -> tuple[Layout, tuple[str, ...]]:
    """``layout`` viewed as ``shape``: its axes, in order, merged into the new dimensions.

    Returns:
        The new layout and (); or, where a new dimension would cut an axis apart, () and the names of the
        axes it would hold pieces of.
    """
    axes = [axis for dim in layout for axis in dim]
    dims: list[tuple[Axis, ...]] = []
    taken = 0
    for size in shape:
        dim: list[Axis] = []
        while math.prod(n for _, n in dim) < size and taken < len(axes):
            dim.append(axes[taken])
            taken += 1
        if math.prod(n for _, n in dim) != size:
            return (), tuple(dict.fromkeys(name for name, _ in dim))
        dims.append(tuple(dim))
    return tuple(dims), ()


def _onwards(trace: Trace, readers: Sequence[Sequence[int]], product: Op) -> list[int]:
    """The operators after ``product`` that only move its result's axes or add to it, each the last one's one reader."""
    found = []
    value = product.outputs[0]
    while len(readers[value]) == 1:
        op = trace.ops[readers[value][0]]
        data = [v for v in dict.fromkeys(op.inputs) if trace.values[v].kind in ("data", "input")]
        if data != [value] or not (_moves(trace, op) or (op.name in _ADDS and len(op.inputs) == 2)):
            break
        found.append(op.index)
        value = op.outputs[0]
    return found


def _along_out_channels(shape: Sequence[int], layout: Layout) -> bool:
    """Whether a tensor of ``shape``, broadcast onto ``layout``, holds one number per out channel."""
    if len(shape) > len(layout):
        return False
    aligned = [1] * (len(layout) - len(shape)) + list(shape)
    varying = [i for i, n in enumerate(aligned) if n != 1]
    return len(varying) == 1 and layout[varying[0]] == (("o", aligned[varying[0]]),)


def _is_convolution_output(layout: Layout, shape: Sequence[int], out_channels: int) -> bool:
    if len(shape) != 4 or shape[1] != out_channels:
        return False
    names = [dim[0][0] if len(dim) == 1 else "" for dim in layout]
    return all(dim == () or name == wanted for dim, name, wanted in zip(layout, names, "bohw"))


def _said(dim: tuple[Axis, ...]) -> str:
    """A dimension in words: ``height``, ``height·width``, ``1``."""
    return "·".join(_WORDS.get(name, name) for name, _ in dim) or "1"


def _as_matrix(root: Tensor, out: str, into: str) -> Tensor:
    """The weight ``root`` as a convolution's, (out, in, 1, 1): its axes named ``out`` and ``into`` first."""
    names = _weight_names(root.ndim)
    order = [names.index(out), names.index(into), *(i for i, n in enumerate(names) if n not in (out, into))]
    matrix = root.detach().permute(order).reshape(root.shape[order[0]], root.shape[order[1]])
    return matrix.contiguous()[:, :, None, None]


def _measure(called: str, x: Tensor, weight: Tensor, bias: Tensor | None, stride: int, y: Tensor) -> None:
    """Run ``F.conv2d`` with the weight read on the start value: it must give the end value.

    Raises:
        _Refused: it does not (beyond rounding, :data:`CANONICAL_RTOL`), saying by how much.
    """
    if y.device.type == "meta":
        return  # no values to compare: the axes alone say it
    with torch.no_grad():
        convolved = F.conv2d(x, weight.to(x.dtype), None if bias is None else bias.to(x.dtype), stride)
    if convolved.shape != y.shape:
        raise _Refused(f"{called} makes a tensor of shape {tuple(y.shape)}, where its 1x1 convolution makes"
                       f" {tuple(convolved.shape)}")  # fmt: skip
    scale = float(y.abs().max())
    error = float((convolved - y).abs().max()) / (scale or 1.0)
    if error > CANONICAL_RTOL:
        raise _Refused(f"{called} differs from the 1x1 convolution its axes describe by {error:.1e} (relative)")


def _key(trace: Trace, value: int) -> object:
    tensor = trace.values[value].tensor
    if tensor.device.type == "meta":
        return value
    return tensor.untyped_storage().data_ptr(), tensor.storage_offset(), tuple(tensor.shape), tensor.stride()
