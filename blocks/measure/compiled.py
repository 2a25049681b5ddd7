"""What ``torch.compile`` makes of a block: the calls of the code it generates, counted.

The compiler (TorchInductor) traces one forward into a graph of ATen operators and
writes a Python function ``call`` that runs it. Convolutions stay calls of the
library's convolution (``extern_kernels.convolution``), one per convolution of the
graph; everything between them (BatchNorm, ReLU, additions, changes of memory
layout) is FUSED into loops it generates (C++ on a CPU, Triton on a GPU), each
named after the operators it fuses, e.g. ``cpp_fused__native_batch_norm_legit_no_training_add_relu_3``.

So the compiler removes most of form (a)'s calls and its full-size partial sums
(the C path outputs are added inside one generated loop), but it does not find
that C thin convolutions side by side are one grouped convolution: form (a)
compiled still makes 3·C convolution calls, form (c) three.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

_LIBRARY_CALL = re.compile(r"\bextern_kernels\.(\w+)\(")
_OPERATOR_CALL = re.compile(r"=\s*torch\.ops\.(\w+\.\w+)\.\w+\(")  # an operator called as it is: buf3 = torch.ops.…(
_GENERATED_CALL = re.compile(r"^\s*(\w+_fused_\w+?)(?:\.run)?\(", re.MULTILINE)  # cpp_fused_…( or triton_…_fused_….run(


@dataclass(frozen=True)
class CompiledCalls:
    """The calls that one forward of a compiled module makes.

    Attributes:
        library: library kernel -> calls (``convolution``, ``mm``, …), in the generated ``call``; and
            operators it calls as they are, by ``namespace.name`` (``blocks.concatenate_inputs``).
        generated: the names of the generated (fused) kernels, in the order ``call`` runs them.
    """

    library: Counter[str]
    generated: tuple[str, ...]

    @property
    def convolutions(self) -> int:
        """Convolution calls per forward."""
        return self.library["convolution"]

    @property
    def total_calls(self) -> int:
        """Every kernel call per forward: library and generated."""
        return sum(self.library.values()) + len(self.generated)


def compiled_calls(
    run: Callable[[Tensor], Tensor], x: Tensor, backend: str | Callable[..., Any] = "inductor"
) -> CompiledCalls:
    """Compile ``run`` with ``torch.compile`` (default settings), call it once on ``x``, count its generated calls.

    It compiles without the compiler's caches of whole graphs (so the code is generated, and
    can be read, every time), reusing the kernels it compiled before from the same source (the
    C++ compiler is the slow part: form (c)'s kernels serve form (a) with the pass), and forgets
    the compiled code afterwards (``torch.compiler.reset``). On a CPU the compiler needs a C++ compiler.

    Args:
        run: a module (or a function of one tensor), e.g. a block in eval mode.
        x: its input; no gradients are recorded.
        backend: ``torch.compile``'s backend: TorchInductor, or one that ends in it, such as
            :func:`blocks.compiler.blocks_backend` (the pass that merges parallel convolutions).

    Returns:
        The library and generated kernel calls of one forward.

    Example:
        >>> a = build(BlockSpec(64, 64, cardinality=8, width=4), "a").eval()
        >>> calls = compiled_calls(a, torch.randn(1, 64, 8, 8))
        >>> calls.convolutions           # 3 per path: no grouped convolution found
        24
        >>> compiled_calls(a, torch.randn(1, 64, 8, 8), backend=blocks.compiler.blocks_backend).convolutions
        3
    """
    from torch._functorch import config as aot_config
    from torch._inductor import config as inductor_config
    from torch._inductor.utils import run_and_get_code  # the compiler's own test helper

    with torch.no_grad(), inductor_config.patch(fx_graph_cache=False), aot_config.patch(enable_autograd_cache=False):
        _, sources = run_and_get_code(torch.compile(run, backend=backend), x)
    torch.compiler.reset()
    body = _call_body(sources[-1])
    library = Counter(_LIBRARY_CALL.findall(body)) + Counter(_OPERATOR_CALL.findall(body))
    return CompiledCalls(library, tuple(_GENERATED_CALL.findall(body)))


def _call_body(source: str) -> str:
    """The body of the generated ``def call(...)``: the code that runs on every forward."""
    header = re.search(r"^( *)def call\(", source, re.MULTILINE)  # a method of the generated Runner, or a function
    if header is None:
        raise ValueError("the generated code has no 'def call(': a compiler version this module does not know")
    indent = len(header.group(1))
    end = re.compile(rf"^ {{0,{indent}}}\S", re.MULTILINE).search(source, header.end())  # the next def at its level
    return source[header.end() : end.start() if end else len(source)]
