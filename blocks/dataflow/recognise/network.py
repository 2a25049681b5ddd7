"""Pass 6: the network around the blocks. Which module is each block, the stem and head in words, the stem's mistakes.

A layer's words are compared with another network's (:func:`layer_kind`), so what holds only at
the input size the model ran on is a note in parentheses, which the comparison leaves out: an
``AvgPool2d(7)`` over a 7x7 map is a "global average pool (...)".
"""

from __future__ import annotations

import math

from blocks.dataflow.recognise.reading import BATCH_NORMS, NotABottleneck, Reading, first_int
from blocks.dataflow.recognise.records import Deviation, DeviationKind, Variant, VariantKind, common_prefix
from blocks.dataflow.trace import Op

_MAX_POOLS = frozenset({"max_pool2d_with_indices", "max_pool2d", "max_pool3d_with_indices", "max_pool3d"})
_AVERAGE_POOLS = frozenset({"avg_pool2d", "avg_pool3d"})
_GLOBAL_POOLS = frozenset({"mean", "adaptive_avg_pool2d", "_adaptive_avg_pool2d", "adaptive_avg_pool3d",
                           "_adaptive_avg_pool3d", "amax", "adaptive_max_pool2d"})  # fmt: skip


def block_module(
    r: Reading, x: int, output: int, added: int, branch: list[int], add: Op
) -> tuple[str, tuple[str, ...]]:
    """The module whose one call is exactly this block, and the modules a transplant replaces."""
    once = [call for call in r.trace.calls if r.modules_called[id(call.module)] == 1]
    whole = [call for call in r.trace.calls if call.input == x and call.output == output]
    if whole:
        call = whole[-1]  # the innermost: calls are listed as they start
        return call.name or "(model)", (call.name or "(model)",) if call in once else ()
    # The block's module ends at the add, and its ReLU is the next module (nn.Sequential(Residual(…), ReLU())).
    upto_add = [call for call in once if call.input == x and call.output == added]
    relu = [call for call in once if call.input == added and call.output == output and call.name]
    if upto_add and relu and upto_add[-1].name:
        return upto_add[-1].name, (upto_add[-1].name, relu[-1].name)
    names = [r.ops[i].module for i in branch] + [add.module]
    return common_prefix(names) or "(model)", ()


def describe(r: Reading, start: int, end: int) -> tuple[str, ...]:
    """The layers of ops ``start`` … ``end - 1`` that matter for a network's shape, in words."""
    words = []
    for op in r.ops[start:end]:
        if op.name == "convolution":
            words.append(_conv_words(r, op))
        elif op.name in _MAX_POOLS | _AVERAGE_POOLS:
            kind = "max pool" if op.name in _MAX_POOLS else "average pool"
            kernel = _int(op.args[1])
            stride = _int(op.args[2]) if len(op.args) > 2 and op.args[2] else kernel  # stride=[] means the kernel
            if _covers_the_map(r, op):
                words.append(f"global {kind} (a {kernel}x{kernel} {kind}: global only at this input size)")
            else:
                words.append(f"{kind} {kernel}x{kernel}/{stride}")
        elif op.name in _GLOBAL_POOLS:
            kind = "max pool" if "max" in op.name else "average pool"
            size = "x".join(map(str, r.values[op.outputs[0]].tensor.shape[2:]))
            words.append(f"global {kind}" if _covers_the_map(r, op) else f"adaptive {kind} to {size}")
        elif op.name in ("addmm", "mm", "linear"):
            weight = r.tensor(r.arg_value(op, 2 if op.name == "addmm" else 1))
            assert weight is not None
            inner, outer = weight.shape if op.name != "linear" else weight.shape[::-1]
            words.append(f"linear {inner}->{outer}")
    return tuple(words)


def _int(value: object) -> int | str:
    """An operator's int argument (or the first of a list), or "?" where it is not one: words never fail."""
    try:
        return first_int(value)
    except NotABottleneck:
        return "?"


def layer_kind(words: str) -> str:
    """A layer's words without the note that holds only at this input size: what two networks compare."""
    return words.partition(" (")[0]


def stem_deviations(r: Reading, end: int) -> tuple[Deviation, ...]:
    """The stem's mistakes, in ops 0 … ``end - 1``: a convolution whose bias the BN right after it removes."""
    biased = [
        op
        for op in r.ops[:end]
        if op.name == "convolution"
        and r.tensor(r.arg_value(op, 2)) is not None
        and any(r.ops[i].name in BATCH_NORMS for i in r.readers[op.outputs[0]])
    ]
    if not biased:
        return ()
    extra = sum(r.values[op.outputs[0]].channels for op in biased)
    layers = ", ".join(_conv_words(r, op) for op in biased)
    return (Deviation(DeviationKind.CONV_BIAS, f"the stem's {layers} {'has' if len(biased) == 1 else 'have'} a bias"
                      f" that the BN after it subtracts again: {extra:,} parameters that change nothing"),)  # fmt: skip


def stem_variants(r: Reading, end: int) -> tuple[Variant, ...]:
    """The stem's variants, in ops 0 … ``end - 1``: a deep or tiered stem (3x3 convolutions in a row, ResNet-C)."""
    convs = [op for op in r.ops[:end] if op.name == "convolution"]
    kernels = {tuple(r.values[op.inputs[1]].tensor.shape[2:]) for op in convs}
    if len(convs) < 2 or kernels != {(3, 3)}:
        return ()
    widths = [r.values[op.inputs[1]].tensor.shape[0] for op in convs]
    tiered = len(set(widths)) == len(widths)  # every convolution wider than the last (timm's 't': 24, 32, 64)
    detail = (
        f"its stem is {len(convs)} 3x3 convolutions ({', '.join(_conv_words(r, op) for op in convs)}) where the"
        f" paper's is one 7x7/2 3->64{': a tiered stem, each wider than the last' if tiered else ''}"
    )
    return (Variant(VariantKind.DEEP_STEM, "in the stem", detail),)


def _conv_words(r: Reading, op: Op) -> str:
    weight = r.tensor(r.arg_value(op, 1))
    assert weight is not None
    stride = _int(op.args[3])
    groups = _int(op.args[8])
    in_channels = weight.shape[1] * groups if isinstance(groups, int) else "?"
    kernel = "x".join(map(str, weight.shape[2:]))
    return f"conv {kernel}/{stride} {in_channels}->{weight.shape[0]}"


def _covers_the_map(r: Reading, op: Op) -> bool:
    """Whether a pool's output has one position per channel: it averages (or takes the max of) the whole map."""
    inputs = r.data_inputs(op)
    if not inputs:
        return False
    before, after = r.values[inputs[0]].tensor.shape, r.values[op.outputs[0]].tensor.shape
    return len(before) >= 3 and math.prod(before[2:]) > 1 and math.prod(after[2:]) == 1 and after[:2] == before[:2]
