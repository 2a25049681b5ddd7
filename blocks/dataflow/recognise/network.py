"""Pass 6: the network around the blocks. Which module is each block, and the stem and head in words."""

from __future__ import annotations

from blocks.dataflow.recognise.reading import Reading, first_int
from blocks.dataflow.recognise.records import common_prefix
from blocks.dataflow.trace import Op


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
            weight = r.tensor(r.arg_value(op, 1))
            assert weight is not None
            stride = first_int(op.args[3])
            in_channels = weight.shape[1] * first_int(op.args[8])
            words.append(f"conv {weight.shape[-2]}x{weight.shape[-1]}/{stride} {in_channels}->{weight.shape[0]}")
        elif op.name in ("max_pool2d_with_indices", "max_pool2d"):
            kernel = first_int(op.args[1])
            stride = first_int(op.args[2]) if len(op.args) > 2 and op.args[2] else kernel  # stride=[] means the kernel
            words.append(f"max pool {kernel}x{kernel}/{stride}")
        elif op.name in ("avg_pool2d",):
            words.append(f"average pool {first_int(op.args[1])}x{first_int(op.args[1])}")
        elif op.name in ("mean", "adaptive_avg_pool2d", "_adaptive_avg_pool2d"):
            words.append("global average pool")
        elif op.name in ("addmm", "mm", "linear"):
            weight = r.tensor(r.arg_value(op, 2 if op.name == "addmm" else 1))
            assert weight is not None
            inner, outer = weight.shape if op.name != "linear" else weight.shape[::-1]
            words.append(f"linear {inner}->{outer}")
    return tuple(words)
