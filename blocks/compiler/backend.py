"""The pass as a ``torch.compile`` backend: Dynamo's graph, rewritten, then compiled by TorchInductor.

``torch.compile(model)`` hands Dynamo's torch-level graph to TorchInductor (``compile_fx``).
The backend here puts :func:`blocks.compiler.merge.merge_convolutions` in between: the
graph TorchInductor compiles (and AOTAutograd differentiates) is the rewritten one, with
form (c)'s three convolutions where form (a) had 3·C.

What runs the rewritten graph (its *lowering*, :data:`LOWERINGS`) is TorchInductor, with one
exception under ``"auto"``: a graph that autograd will differentiate on a CPU runs as it is,
eagerly, one library call per operation (the merged graph is form (c)'s, so that is eager
form (c) plus the concatenation of the weights). The reason is measured, not assumed: on the
2-core CPU of our benchmarks TorchInductor's training code for form (c) itself ran 1.41-1.44x
eager form (c) forward+backward at C ≤ 4 (its joint forward-backward graph: the convolutions are
the same library calls, the loops it writes for BatchNorm's batch statistics and their gradients
are slower than ATen's), and form (a) with the pass and TorchInductor followed it (1.40-1.53x);
run eagerly, the rewritten graph was within 9% of eager form (c) at every C, and compiled in
seconds. For the forward TorchInductor is as fast as eager or faster (0.86-1.01x eager (c)). The
merge, not the code generation, is what removes form (a)'s cost, so on a CPU that trains the
backend keeps the merge and leaves the rest to ATen; ``lowering="inductor"`` compiles every graph
with TorchInductor (on a GPU, ``"auto"`` does). ``benchmarks/README.md`` ("The compiler pass")
has both measured.

Two ways to use it:

    >>> fast = blocks.compile(block)                       # torch.compile with the pass
    >>> fast = torch.compile(block, backend="blocks")      # the same, by the backend's name

The name is registered by :func:`register_backend` (which :func:`compile` calls), and for an
installed package also by its ``torch_dynamo_backends`` entry point, which Dynamo reads when it
meets a backend name it does not know.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, cast, get_args

import torch
from torch import Tensor, fx

from blocks.compiler.merge import MergeReport, merge_convolutions

BACKEND = "blocks"  # the backend's name: torch.compile(model, backend="blocks")

Lowering = Literal["auto", "inductor", "eager"]
LOWERINGS: tuple[Lowering, ...] = get_args(Lowering)  # what runs the rewritten graph (module docstring)


@dataclass(frozen=True)
class CompiledGraph:
    """One graph the backend compiled: what the pass did to it, and what runs it.

    Attributes:
        report: the pass's :class:`MergeReport` (convolutions before and after, merges by rule).
        lowering: ``"inductor"`` (TorchInductor's generated code) or ``"eager"`` (the rewritten
            graph run as it is), as :func:`lowering_of` chose.
    """

    report: MergeReport
    lowering: Lowering


# What the backend did to each graph it compiled, latest last (one entry per graph Dynamo traced).
graphs: list[CompiledGraph] = []


def _checked(lowering: Lowering) -> Lowering:
    """``lowering``, if it is one of :data:`LOWERINGS`; else ValueError naming it."""
    if lowering not in LOWERINGS:
        raise ValueError(f"lowering must be one of {LOWERINGS}, got lowering={lowering!r}")
    return lowering


def lowering_of(example_inputs: Sequence[object], lowering: Lowering = "auto") -> Lowering:
    """What runs a rewritten graph: ``lowering`` itself, or for ``"auto"`` the choice of the module docstring.

    ``"auto"`` is ``"eager"`` where autograd will differentiate the graph (grad mode on and an
    input, parameters included, that requires grad: AOTAutograd's own test) and every tensor
    input is on a CPU; ``"inductor"`` otherwise.

    Raises:
        ValueError: ``lowering`` is not one of :data:`LOWERINGS`.
    """
    if _checked(lowering) != "auto":
        return lowering
    tensors = [t for t in example_inputs if isinstance(t, Tensor)]
    differentiated = torch.is_grad_enabled() and any(t.requires_grad for t in tensors)
    on_cpu = all(t.device.type == "cpu" for t in tensors)
    return "eager" if differentiated and on_cpu else "inductor"


def blocks_backend(
    gm: fx.GraphModule,
    example_inputs: list[Tensor],
    mode: str | None = None,
    options: dict[str, Any] | None = None,
    lowering: Lowering = "auto",
) -> Callable[..., Any]:
    """A ``torch.compile`` backend: merge parallel convolutions, then compile with TorchInductor.

    Args:
        gm: the graph Dynamo traced (rewritten in place).
        example_inputs: its inputs.
        mode: ``torch.compile``'s ``mode`` ("default", "reduce-overhead", "max-autotune", ...), for TorchInductor.
        options: ``torch.compile``'s ``options``: TorchInductor settings.
        lowering: what runs the rewritten graph, one of :data:`LOWERINGS` (:func:`lowering_of`);
            ``mode`` and ``options`` apply where it is TorchInductor.

    Returns:
        The compiled function, as TorchInductor's own backend returns it; or, lowered eagerly,
        the rewritten graph's ``forward``.

    Raises:
        ValueError: ``lowering`` is not one of :data:`LOWERINGS`.

    Example:
        >>> fast = torch.compile(block, backend=blocks_backend)
    """
    chosen = lowering_of(example_inputs, lowering)
    graphs.append(CompiledGraph(merge_convolutions(gm, example_inputs), chosen))
    if chosen == "eager":
        return gm.forward

    from torch._inductor import list_mode_options
    from torch._inductor.compile_fx import compile_fx

    from blocks.compiler._concat import concatenate_inputs_once  # registers its operator on first use

    concatenate_inputs_once(gm)  # the merged weights: one library call each (see _concat.py)
    patches = {**(list_mode_options(mode) if mode else {}), **(options or {})}
    return cast(Callable[..., Any], compile_fx(gm, example_inputs, config_patches=patches))


def _backend_lowered_by(lowering: Lowering) -> Callable[..., Any]:
    """:func:`blocks_backend` with ``lowering`` fixed (the function itself for ``"auto"``)."""
    if lowering == "auto":
        return blocks_backend

    def backend(
        gm: fx.GraphModule, example_inputs: list[Tensor], mode: str | None = None, options: dict[str, Any] | None = None
    ) -> Callable[..., Any]:
        return blocks_backend(gm, example_inputs, mode, options, lowering)

    backend.__name__ = f"{BACKEND}_{lowering}"
    return backend


def register_backend() -> None:
    """Register :func:`blocks_backend` under the name :data:`BACKEND` (once; later calls do nothing)."""
    from torch._dynamo.backends.registry import _BACKENDS, register_backend

    if BACKEND not in _BACKENDS:
        register_backend(blocks_backend, name=BACKEND)


def compile(  # blocks.compile, as torch.compile
    model: Callable[..., Any], *, lowering: Lowering = "auto", **options: Any
) -> Callable[..., Any]:
    """``torch.compile(model, backend=blocks_backend, **options)``: compiled, with parallel convolutions merged.

    Args:
        model: a module or a function of tensors.
        lowering: what runs each rewritten graph, one of :data:`LOWERINGS`: ``"auto"`` (TorchInductor,
            but eagerly where autograd differentiates it on a CPU: see the module docstring),
            ``"inductor"`` or ``"eager"``.
        options: any keyword argument of ``torch.compile`` but ``backend`` (``fullgraph``, ``dynamic``,
            ``mode``, ``options``, ``disable``).

    Returns:
        What ``torch.compile`` returns: the model, compiled on its first call.

    Raises:
        ValueError: ``options`` names a backend, or ``lowering`` is not one of :data:`LOWERINGS`.

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
    return torch.compile(model, backend=_backend_lowered_by(_checked(lowering)), **options)
