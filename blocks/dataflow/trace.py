"""One forward pass, recorded as dataflow: every ATen operator with the tensors it read and wrote.

:func:`blocks.dataflow.recognise.recognise` reads a model by what it computes, never
by the names its author chose. This module makes the record it reads: it runs the
model once under a :class:`~torch.utils._python_dispatch.TorchDispatchMode`, so it
sees the same operators whatever the Python around them (modules, loops, lists,
``chunk``/``split``/slicing, functional ``F.conv2d`` calls), and gives every tensor
VALUE a number. An in-place operator (``relu_``, ``out += identity``) makes a new
value of the same tensor; the old value's data is kept (cloned first), so that each
value can be looked at later as it was when it was used.

Module hooks add where each operator ran (the innermost module executing) and
which module calls began and ended on which values. A
:class:`~torch.overrides.TorchFunctionMode` adds which call of the model's code made
each operator, in the words the model's author wrote (``torch.einsum``, ``F.linear``,
``Tensor.permute``: one ``torch.einsum`` runs as a dozen operators, ``unsqueeze``,
``permute``, ``bmm`` …), and its source line, the first frame outside torch and
blocks.dataflow.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn
from torch.overrides import TorchFunctionMode, resolve_name
from torch.utils._pytree import tree_flatten

from blocks.util import dispatch
from blocks.util.counts import is_statistic
from blocks.util.dispatch import Call, Recorder

# Operators that make a tensor from nothing but shapes: their outputs are constants, not data.
_FACTORIES = frozenset(
    {"empty", "zeros", "ones", "full", "zeros_like", "ones_like", "empty_like", "full_like", "new_zeros",
     "new_ones", "new_empty", "new_full", "scalar_tensor", "arange", "empty_strided", "lift_fresh"}
)  # fmt: skip
_DATAFLOW_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep  # this tracer and its callers: not the model's code
_DISPATCH_FILE = os.path.abspath(dispatch.__file__)  # the recorder it builds on
_TORCH_DIR = os.path.dirname(os.path.abspath(torch.__file__)) + os.sep
# torch's module paths, as the model's author writes them (torch.functional.einsum is torch.einsum).
_SPELLED = (("torch.nn.functional.", "F."), ("torch.functional.", "torch."), ("torch.Tensor.", "Tensor."))


@dataclass
class Value:
    """One tensor value: what an operator wrote (or the input, a parameter, a constant).

    Attributes:
        index: its number, in order of appearance.
        kind: "input" (the model's input), "param" (a parameter or buffer of the model),
            "const" (made from shapes alone, or a tensor the trace did not see made),
            or "data" (computed from the input).
        tensor: its data, as it was when it was made.
        producer: the index of the operator that wrote it, or -1.
        name: the parameter's or buffer's name in the model, for kind "param".
    """

    index: int
    kind: str
    tensor: Tensor
    producer: int = -1
    name: str = ""

    @property
    def channels(self) -> int:
        return self.tensor.shape[1] if self.tensor.ndim > 1 else 0


@dataclass
class Op:
    """One ATen operator as it ran.

    Attributes:
        index: its number, in order of execution.
        name: the operator's name without overload, e.g. ``convolution``, ``relu_``, ``cat``.
        args: its positional arguments, tensors replaced by :class:`Value` indices (lists kept).
        inputs: the indices of every value it read, in argument order.
        outputs: the indices of the values it wrote.
        module: the innermost module running when it ran ("" for the model itself).
        source: "file:line" of the model's code that made it.
        call: the call of the model's code that made it, as its author wrote it: ``torch.einsum``,
            ``F.conv2d`` (an ``nn.Conv2d``'s too), ``Tensor.permute``; "" if none was seen.
    """

    index: int
    name: str
    args: tuple[object, ...]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    module: str
    source: str = ""
    call: str = ""

    @property
    def called(self) -> str:
        """The call that made it and where, in the model author's words: ``torch.einsum at block.py:14``."""
        what = self.call or self.name
        return f"{what} at {self.source}" if self.source else what


@dataclass
class ModuleCall:
    """One call of a module: its name, the values it read first and wrote, and the operators it ran."""

    name: str
    module: nn.Module = field(repr=False)
    input: int | None
    output: int | None = None
    first_op: int = 0
    last_op: int = -1


@dataclass
class Trace:
    """The record of one forward pass (see the module docstring)."""

    model: nn.Module
    values: list[Value] = field(default_factory=list)
    ops: list[Op] = field(default_factory=list)
    calls: list[ModuleCall] = field(default_factory=list)
    input: int = -1
    output: int = -1
    mutated_inputs: list[int] = field(default_factory=list)  # ops that wrote into the model's input tensor

    def consumers(self) -> list[list[int]]:
        """For every value, the operators that read it (each listed once)."""
        readers: list[list[int]] = [[] for _ in self.values]
        for op in self.ops:
            for value in dict.fromkeys(op.inputs):
                readers[value].append(op.index)
        return readers

    def parameter_uses(self, ops: Iterable[int] | None = None) -> dict[int, int]:
        """For every parameter that ``ops`` read (default: every op), how many of them read it.

        BN running statistics are buffers, not parameters: they are not counted.
        """
        uses: dict[int, int] = {}
        for index in range(len(self.ops)) if ops is None else ops:
            for value in dict.fromkeys(self.ops[index].inputs):
                v = self.values[value]
                if v.kind == "param" and not is_statistic(v.name):
                    uses[value] = uses.get(value, 0) + 1
        return uses

    def parameter_counts(self, ops: Iterable[int] | None = None) -> tuple[int, int]:
        """(distinct parameters, parameters counted once per use) read by ``ops`` (default: every op).

        A path module called C times reads one set of weights C times: distinct counts it once,
        per use C times (:meth:`parameter_uses`).
        """
        uses = self.parameter_uses(ops)
        sizes = {value: self.values[value].tensor.numel() for value in uses}
        return sum(sizes.values()), sum(sizes[value] * count for value, count in uses.items())

    def producer(self, value: int) -> Op | None:
        index = self.values[value].producer
        return self.ops[index] if index >= 0 else None


class _Calls(TorchFunctionMode):
    """The outermost torch call the model's code is in (torch pops the mode inside it: nested calls go unseen)."""

    def __init__(self) -> None:
        super().__init__()
        self.name = ""
        self.source: str | None = None  # found at its first operator: most calls (``.shape``, ``.size()``) run none

    def __torch_function__(
        self, func: Callable[..., object], types: object, args: Sequence[object] = (), kwargs: object = None
    ) -> object:
        outer = self.name, self.source
        self.name, self.source = _spelled(func), None
        try:
            return func(*args, **(kwargs or {}))  # type: ignore[arg-type]
        finally:
            self.name, self.source = outer


def _spelled(func: Callable[..., object]) -> str:
    name = resolve_name(func) or getattr(func, "__name__", "")
    for path, short in _SPELLED:
        if name.startswith(path):
            return short + name.removeprefix(path)
    return name


class PassTooLarge(Exception):
    """The recorded pass holds more bytes than its budget: stopped before it takes the machine's memory."""

    def __init__(self, held: int, ops: int) -> None:
        super().__init__(f"{held:,} bytes held after {ops:,} operators")
        self.held, self.ops = held, ops


class _Recorder(Recorder):
    def __init__(
        self,
        trace: Trace,
        parameters: dict[int, str],
        where: Callable[[], str],
        calls: _Calls,
        budget: int | None = None,
    ) -> None:
        super().__init__()
        self.budget = budget
        self.held = 0  # bytes of every value the pass made and the trace keeps
        self.trace = trace
        self.parameters = parameters
        self.where = where
        self.calls = calls
        self.current: dict[int, int] = {}  # id(tensor) -> its current value
        self.alive: list[Tensor] = []  # every tensor seen, so that no id is reused during the pass

    def value_of(self, tensor: Tensor) -> int:
        """The current value of ``tensor``: known, a parameter, or a constant seen for the first time."""
        key = id(tensor)
        if key in self.current:
            return self.current[key]
        name = self.parameters.get(key)
        return self.new_value(tensor, "param" if name is not None else "const", -1, name or "")

    def new_value(self, tensor: Tensor, kind: str, producer: int, name: str = "") -> int:
        index = len(self.trace.values)
        self.trace.values.append(Value(index, kind, tensor, producer, name))
        self.current[id(tensor)] = index
        self.alive.append(tensor)
        return index

    def on_call(self, call: Call) -> object:
        name = call.name
        inputs = tuple(self.value_of(t) for t in call.tensors())
        for tensor in call.written():  # keep the value as it was: the write below changes the tensor object
            before = self.current[id(tensor)] if id(tensor) in self.current else self.value_of(tensor)
            self.trace.values[before].tensor = tensor.detach().clone()
            if before == self.trace.input:
                self.trace.mutated_inputs.append(len(self.trace.ops))
        args_by_value = tuple(_replace_tensors(a, self.value_of_known) for a in call.args)  # before an in-place write
        out = call.run()
        index = len(self.trace.ops)
        made_from_data = any(self.trace.values[i].kind in ("input", "data") for i in inputs)
        kind = "data" if made_from_data and name not in _FACTORIES else "const"
        outputs = tuple(self.new_value(t, kind, index) for t in tree_flatten(out)[0] if isinstance(t, Tensor))
        if self.budget is not None and call.returns_new():
            self.held += sum(self.trace.values[v].tensor.nbytes for v in outputs)
            if self.held > self.budget:
                raise PassTooLarge(self.held, index + 1)
        source = self.calls.source if self.calls.source is not None else _user_frame()
        if self.calls.name:  # the same line for every operator of this call
            self.calls.source = source
        op = Op(index, name, args_by_value, inputs, outputs, self.where(), source, self.calls.name)
        self.trace.ops.append(op)
        return out

    def value_of_known(self, tensor: Tensor) -> int:
        return self.current.get(id(tensor), -1)


def _replace_tensors(arg: object, index_of: Callable[[Tensor], int]) -> object:
    if isinstance(arg, Tensor):
        return ("value", index_of(arg))
    if isinstance(arg, (list, tuple)):
        return type(arg)(_replace_tensors(a, index_of) for a in arg)
    return arg


def _user_frame() -> str:
    """``file:line`` of the innermost frame outside torch and blocks.dataflow: the model's own code."""
    frame = sys._getframe(2)
    while frame is not None:
        filename = os.path.abspath(frame.f_code.co_filename)
        if not filename.startswith((_TORCH_DIR, _DATAFLOW_DIR, _DISPATCH_FILE)) and "<frozen" not in filename:
            return f"{os.path.basename(filename)}:{frame.f_lineno}"
        frame = frame.f_back  # type: ignore[assignment]
    return ""


def record(model: nn.Module, x: Tensor, budget: int | None = None) -> Trace:
    """Run ``model(x)`` once under no_grad and record its dataflow (see the module docstring).

    The model runs in the mode it is in; call ``.eval()`` first for BN's running statistics.
    With ``budget``, the pass stops with :class:`PassTooLarge` once the new tensors it keeps
    hold more than that many bytes.
    """
    trace = Trace(model)
    parameters = {id(t): n for n, t in model.named_parameters(remove_duplicate=False)}
    parameters.update({id(t): n for n, t in model.named_buffers(remove_duplicate=False)})
    names = {id(m): n for n, m in model.named_modules(remove_duplicate=False)}
    stack: list[ModuleCall] = []
    calls = _Calls()
    recorder = _Recorder(trace, parameters, lambda: stack[-1].name if stack else "", calls, budget)

    def before(module: nn.Module, args: tuple[object, ...]) -> None:
        first = next((a for a in tree_flatten(args)[0] if isinstance(a, Tensor)), None)
        value = recorder.current.get(id(first)) if first is not None else None
        name = names.get(id(module), f"<{type(module).__name__} not registered in the model>")
        call = ModuleCall(name, module, value, first_op=len(trace.ops))
        stack.append(call)
        trace.calls.append(call)

    def after(module: nn.Module, args: tuple[object, ...], output: object) -> None:
        call = stack.pop()
        first = next((t for t in tree_flatten(output)[0] if isinstance(t, Tensor)), None)
        call.output = recorder.current.get(id(first)) if first is not None else None
        call.last_op = len(trace.ops) - 1

    handles = [
        nn.modules.module.register_module_forward_pre_hook(before),
        nn.modules.module.register_module_forward_hook(after),
    ]
    try:
        with torch.no_grad(), calls, recorder:
            trace.input = recorder.new_value(x, "input", -1)
            out = model(x)
        first = next((t for t in tree_flatten(out)[0] if isinstance(t, Tensor)), None)
        trace.output = recorder.current.get(id(first), -1) if first is not None else -1
    finally:
        for handle in handles:
            handle.remove()
    return trace
