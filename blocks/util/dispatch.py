"""One dispatch-level recorder: every ATen operator a forward pass runs, seen as one :class:`Call`.

PyTorch hands each operator, after every Python layer above it (modules, ``F.conv2d``,
``chunk``, ``+=``), to the active :class:`~torch.utils._python_dispatch.TorchDispatchMode`.
That is the level at which this package reads a model: the dataflow trace
(:mod:`blocks.dataflow.trace`), the operator census (:mod:`blocks.measure.census`), the
complexity counts' shortcut for meta batch norms (:mod:`blocks.measure.complexity`) and the
exercise on grouped convolutions (:mod:`blocks.exercises.group_conv`) are each a
:class:`Recorder` that says what to do with one call.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten


@dataclass(frozen=True)
class Call:
    """One operator call: what runs, on what. ``run()`` runs it (once: a subclass may answer it otherwise)."""

    func: torch._ops.OpOverload
    args: tuple[object, ...]
    kwargs: dict[str, object]

    @property
    def name(self) -> str:
        """The operator's name without its overload: ``convolution``, ``add_``, ``native_batch_norm``."""
        return self.func.overloadpacket.__name__

    def run(self) -> object:
        return self.func(*self.args, **self.kwargs)

    def tensors(self) -> list[Tensor]:
        """Every tensor among the arguments, nested ones included, in order."""
        return [t for t in tree_flatten((self.args, self.kwargs))[0] if isinstance(t, Tensor)]

    def written(self) -> list[Tensor]:
        """The argument tensors the operator writes in place (``relu_``'s input, ``add_``'s first argument)."""
        return [
            arg for arg, schema in zip(self.args, self.func._schema.arguments)
            if isinstance(arg, Tensor) and schema.alias_info is not None and schema.alias_info.is_write
        ]  # fmt: skip

    def returns_new(self) -> bool:
        """True if every result is a new tensor (not a view, not an argument updated in place)."""
        return all(ret.alias_info is None for ret in self.func._schema.returns)

    def returns_written(self) -> bool:
        """True if a result is an argument the operator wrote in place."""
        return any(ret.alias_info is not None and ret.alias_info.is_write for ret in self.func._schema.returns)


class Recorder(TorchDispatchMode):
    """A dispatch mode that hands every operator call to :meth:`on_call`, whose return is the call's result.

    Subclasses override :meth:`on_call`; the default runs the call unchanged.

    Example:
        >>> class Names(Recorder):
        ...     def __init__(self): super().__init__(); self.names = []
        ...     def on_call(self, call): self.names.append(call.name); return call.run()
        >>> with Names() as seen:
        ...     _ = torch.ones(2) + 1
        >>> seen.names
        ['ones', 'add']
    """

    def on_call(self, call: Call) -> object:
        return call.run()

    def __torch_dispatch__(
        self,
        func: torch._ops.OpOverload,
        types: tuple[type, ...],
        args: tuple[object, ...] = (),
        kwargs: dict[str, object] | None = None,
    ) -> object:
        return self.on_call(Call(func, args, kwargs or {}))
