"""Speed device: the merged weights concatenated by one library call each, not by C generated loops.

The pass writes every merged weight as ``torch.cat`` of the original parameters (see
:mod:`blocks.compiler.merge`: the plain version). TorchInductor compiles a ``torch.cat`` into
one copy loop per input, in the same generated function as the work around it; on a CPU each
loop of more than ~1000 numbers runs on all threads and ends in a barrier where every thread
waits for the others. Form (a) at C = 32 gets ~100 such loops per forward, for a few
kilobytes of weights. On a quiet machine a barrier costs microseconds; on a busy one, where
a waiting thread may lose its core, it can cost milliseconds, and the block ran 2.6x slower
than form (c) compiled (benchmark of 2026-12-03, 2 threads, load ~5).

So the backend hands TorchInductor each concatenation of graph inputs (parameters and
buffers) as a call of :func:`concatenate_inputs`, an operator that TorchInductor cannot look
into: it calls it as a library function, which is ``torch.cat`` (one call, on one thread for
tensors this small). Its gradient is the gradient of ``torch.cat``: the incoming gradient cut
back into the pieces. Concatenations of activations (rule 3 over a ``torch.cat``) stay
``torch.cat``: they are large, and there TorchInductor's loops are the right tool.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, fx


@torch.library.custom_op("blocks::concatenate_inputs", mutates_args=())
def concatenate_inputs(tensors: list[Tensor], dim: int) -> Tensor:
    """``torch.cat(tensors, dim)``, as one operator that the compiler calls and does not generate code for."""
    return torch.cat(tensors, dim)


@concatenate_inputs.register_fake
def _(tensors: list[Tensor], dim: int) -> Tensor:
    return torch.cat(tensors, dim)  # on fake tensors: only the shape is computed


def _setup_context(ctx: Any, inputs: tuple[list[Tensor], int], output: Tensor) -> None:
    tensors, dim = inputs
    ctx.sizes, ctx.dim = [t.shape[dim] for t in tensors], dim


def _backward(ctx: Any, grad: Tensor) -> tuple[list[Tensor], None]:
    return list(torch.split(grad, ctx.sizes, ctx.dim)), None  # each input's gradient is its piece


concatenate_inputs.register_autograd(_backward, setup_context=_setup_context)


def concatenate_inputs_once(gm: fx.GraphModule) -> int:
    """Replace every ``torch.cat`` of ``gm`` whose tensors are all graph inputs by :func:`concatenate_inputs`.

    Returns:
        How many concatenations were replaced.
    """
    replaced = 0
    for node in gm.graph.nodes:
        if node.op != "call_function" or node.target is not torch.cat:
            continue
        tensors = node.args[0] if node.args else node.kwargs.get("tensors")
        dim = node.args[1] if len(node.args) > 1 else node.kwargs.get("dim", 0)
        if (
            isinstance(tensors, (list, tuple))
            and isinstance(dim, int)
            and all(isinstance(t, fx.Node) and t.op in ("placeholder", "get_attr") for t in tensors)
        ):
            node.target, node.args, node.kwargs = torch.ops.blocks.concatenate_inputs.default, (list(tensors), dim), {}
            replaced += 1
    if replaced:
        gm.recompile()
    return replaced
