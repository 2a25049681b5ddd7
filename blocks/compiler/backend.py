"""The pass as a ``torch.compile`` backend: Dynamo's graph, rewritten, then compiled by TorchInductor.

``torch.compile(model)`` hands Dynamo's torch-level graph to TorchInductor (``compile_fx``).
The backend here puts :func:`blocks.compiler.merge.merge_convolutions` in between: the
graph TorchInductor compiles (and AOTAutograd differentiates) is the rewritten one, with
form (c)'s three convolutions where form (a) had 3·C.

Two ways to use it:

    >>> fast = blocks.compile(block)                       # torch.compile with the pass
    >>> fast = torch.compile(block, backend="blocks")      # the same, by the backend's name

The name is registered by :func:`register_backend` (which :func:`compile` calls), and for an
installed package also by its ``torch_dynamo_backends`` entry point, which Dynamo reads when it
meets a backend name it does not know.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import torch
from torch import Tensor, fx

from blocks.compiler.merge import MergeReport, merge_convolutions

BACKEND = "blocks"  # the backend's name: torch.compile(model, backend="blocks")

# What the backend did to each graph it compiled, latest last (one entry per graph Dynamo traced).
reports: list[MergeReport] = []


def blocks_backend(
    gm: fx.GraphModule, example_inputs: list[Tensor], mode: str | None = None, options: dict[str, Any] | None = None
) -> Callable[..., Any]:
    """A ``torch.compile`` backend: merge parallel convolutions, then compile with TorchInductor.

    Args:
        gm: the graph Dynamo traced (rewritten in place).
        example_inputs: its inputs.
        mode: ``torch.compile``'s ``mode`` ("default", "reduce-overhead", "max-autotune", ...), for TorchInductor.
        options: ``torch.compile``'s ``options``: TorchInductor settings.

    Returns:
        The compiled function, as TorchInductor's own backend returns it.

    Example:
        >>> fast = torch.compile(block, backend=blocks_backend)
    """
    from torch._inductor import list_mode_options
    from torch._inductor.compile_fx import compile_fx

    from blocks.compiler._concat import concatenate_inputs_once  # registers its operator on first use

    reports.append(merge_convolutions(gm, example_inputs))
    concatenate_inputs_once(gm)  # the merged weights: one library call each (see _concat.py)
    patches = {**(list_mode_options(mode) if mode else {}), **(options or {})}
    return cast(Callable[..., Any], compile_fx(gm, example_inputs, config_patches=patches))


def register_backend() -> None:
    """Register :func:`blocks_backend` under the name :data:`BACKEND` (once; later calls do nothing)."""
    from torch._dynamo.backends.registry import _BACKENDS, register_backend

    if BACKEND not in _BACKENDS:
        register_backend(blocks_backend, name=BACKEND)


def compile(model: Callable[..., Any], **options: Any) -> Callable[..., Any]:  # blocks.compile, as torch.compile
    """``torch.compile(model, backend=blocks_backend, **options)``: compiled, with parallel convolutions merged.

    Args:
        model: a module or a function of tensors.
        options: any keyword argument of ``torch.compile`` but ``backend`` (``fullgraph``, ``dynamic``,
            ``mode``, ``options``, ``disable``).

    Returns:
        What ``torch.compile`` returns: the model, compiled on its first call.

    Raises:
        ValueError: ``options`` names a backend.

    Example:
        >>> block = blocks.build(blocks.BlockSpec(256, 256, cardinality=32, width=4), "a").eval()
        >>> fast = blocks.compile(block)        # compiles on the first call, to form (c)'s 3 convolutions
        >>> y = fast(torch.randn(8, 256, 56, 56))
    """
    if "backend" in options:
        raise ValueError(
            f"options must not name a backend (blocks.compile is its own), got backend={options['backend']!r}"
        )
    register_backend()
    return torch.compile(model, backend=blocks_backend, **options)
