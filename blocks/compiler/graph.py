"""How the pass of :mod:`blocks.compiler.merge` reads and edits Dynamo's FX graph.

Reading: a node as a 2-d convolution with its settings (:func:`read_conv`), as a slice of
another tensor along one dimension (:func:`read_slice`: ``x[:, a:b]``, ``narrow``, the pieces of
``split`` and ``chunk``), as a call that acts on every channel alone (:func:`read_channel_call`:
BatchNorm, ReLU and other elementwise functions), as a sum of terms (:func:`sum_terms`: ``+``
chains and trees, ``torch.stack(...).sum(0)``). Each reads the graph's recorded fake values
(shapes, dtypes) and constants, and answers None for anything it does not recognise: a rule
then leaves that node as it is.

Editing: :class:`Editor` makes new nodes with their fake values, and moves what a merged node
needs before it. A merge may move a computation to another place in the graph, and make a
view where there was a copy; :func:`is_fresh`, :func:`only_read_through` and :func:`is_written`
say when that cannot change what any other node sees (in-place writes are the danger).
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Iterator, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any, TypeVar

import torch
import torch.nn.functional as F
from torch import Tensor, fx
from torch.fx.node import Argument, Node, Target, map_arg

_T = TypeVar("_T")

# ---------------------------------------------------------------------------------------------- reading the graph

_CONV_NAMES = ("input", "weight", "bias", "stride", "padding", "dilation", "groups")
_CONV_DEFAULTS: dict[str, Any] = {"bias": None, "stride": 1, "padding": 0, "dilation": 1, "groups": 1}


@dataclass(frozen=True)
class Conv:
    """One ``torch.conv2d`` call of the graph, its arguments by name."""

    node: Node
    input: Node
    weight: Node
    bias: Node | None
    stride: tuple[int, int]
    padding: tuple[int, int] | str
    dilation: tuple[int, int]
    groups: int

    @property
    def weight_shape(self) -> tuple[int, ...]:
        return tuple(value_of(self.weight).shape)  # (out, in / groups, kh, kw)

    def settings(self) -> tuple[object, ...]:
        """What two convolutions must share to be merged: everything but their tensors."""
        value = value_of(self.node)
        return (self.stride, self.padding, self.dilation, self.bias is None, value.dtype, value.device)


def _pair(value: object) -> tuple[int, int] | None:
    if isinstance(value, int):
        return (value, value)
    if isinstance(value, (tuple, list)) and len(value) == 2 and all(isinstance(v, int) for v in value):
        return (value[0], value[1])
    return None


def bind_arguments(node: Node, names: Sequence[str], defaults: dict[str, Any]) -> dict[str, Any] | None:
    """``node``'s arguments by parameter name, defaults filled in; None if they do not fit ``names``."""
    if len(node.args) > len(names) or any(key not in names for key in node.kwargs):
        return None
    bound = {**defaults, **dict(zip(names, node.args)), **node.kwargs}
    return bound if all(name in bound for name in names) else None


def read_conv(node: Node) -> Conv | None:
    """``node`` read as a 2-d convolution with constant settings and known shapes, else None."""
    if node.op != "call_function" or node.target is not torch.conv2d:
        return None
    bound = bind_arguments(node, _CONV_NAMES, _CONV_DEFAULTS)
    if bound is None:
        return None
    tensors = (bound["input"], bound["weight"], node)
    if not all(isinstance(t, Node) and has_value(t) for t in tensors) or value_of(node).dim() != 4:
        return None
    stride, dilation = _pair(bound["stride"]), _pair(bound["dilation"])
    padding = bound["padding"] if isinstance(bound["padding"], str) else _pair(bound["padding"])
    bias = bound["bias"]
    if stride is None or dilation is None or padding is None or not isinstance(bound["groups"], int):
        return None
    if bias is not None and not (isinstance(bias, Node) and has_value(bias)):
        return None
    return Conv(node, bound["input"], bound["weight"], bias, stride, padding, dilation, bound["groups"])


@dataclass(frozen=True)
class Slice:
    """``node`` is ``base`` sliced to ``start:stop`` along ``dim``, a view of it."""

    node: Node
    base: Node
    dim: int
    start: int
    stop: int


def read_slice(node: Node) -> Slice | None:
    """``node`` read as a contiguous slice of another tensor along one dimension, else None.

    Recognised: ``x[:, a:b]`` (any one dimension, step 1), ``x.narrow(dim, start, length)`` and
    ``torch.narrow``, and the pieces of ``torch.split`` / ``torch.chunk`` (functions or methods).
    """
    if not has_value(node) or not isinstance(value_of(node), Tensor):
        return None
    if node.op == "call_function" and node.target is operator.getitem and isinstance(node.args[0], Node):
        source, index = node.args[0], node.args[1]
        if isinstance(index, int):
            return _piece_of_split(node, source, index)
        if has_value(source) and isinstance(value_of(source), Tensor):
            return _indexing_slice(node, source, index)
        return None
    if (node.op == "call_method" and node.target == "narrow") or (
        node.op == "call_function" and node.target is torch.narrow
    ):
        bound = bind_arguments(node, ("input", "dim", "start", "length"), {})
        if bound is None or not isinstance(bound["input"], Node) or not has_value(bound["input"]):
            return None
        base, dim, start, length = bound["input"], bound["dim"], bound["start"], bound["length"]
        if not all(isinstance(v, int) for v in (dim, start, length)):
            return None
        dim = positive_dim(dim, value_of(base).dim())
        size = value_of(base).shape[dim]
        start = start + size if start < 0 else start
        return Slice(node, base, dim, start, start + length)
    return None


def positive_dim(dim: int, ndim: int) -> int:
    return dim + ndim if dim < 0 else dim


def _indexing_slice(node: Node, base: Node, index: object) -> Slice | None:
    """``base[index]`` where ``index`` keeps every dimension whole but one, which it slices with step 1."""
    index = index if isinstance(index, tuple) else (index,)
    shape = value_of(base).shape
    if len(index) > len(shape) or any(i is Ellipsis for i in index[:-1]):
        return None
    if index and index[-1] is Ellipsis:
        index = index[:-1]
    cut = [(d, i) for d, i in enumerate(index) if i != slice(None)]
    if len(cut) != 1 or not isinstance(cut[0][1], slice):
        return None
    dim, piece = cut[0]
    size = shape[dim]
    if not isinstance(size, int) or piece.step not in (None, 1):
        return None
    if not all(v is None or isinstance(v, int) for v in (piece.start, piece.stop)):
        return None
    start, stop, _ = piece.indices(size)
    return Slice(node, base, dim, start, max(start, stop))


_SPLITS = {torch.split: "split_size_or_sections", torch.chunk: "chunks"}


def _piece_of_split(node: Node, source: Node, index: int) -> Slice | None:
    """Piece ``index`` of ``torch.split(x, sizes, dim)`` or ``torch.chunk(x, chunks, dim)``."""
    if source.op == "call_function" and source.target in _SPLITS:
        kind = "split" if source.target is torch.split else "chunk"
    elif source.op == "call_method" and source.target in ("split", "chunk"):
        kind = str(source.target)
    else:
        return None
    bound = bind_arguments(source, ("tensor", "sizes", "dim"), {"dim": 0})
    if bound is None and source.kwargs:  # the functions' and the methods' keyword names differ
        names = {"split_size_or_sections": "sizes", "split_size": "sizes", "chunks": "sizes"}
        renamed = {names.get(key, key): value for key, value in source.kwargs.items()}
        bound = {"dim": 0, **dict(zip(("tensor", "sizes", "dim"), source.args)), **renamed}
    if bound is None or not isinstance(bound.get("tensor"), Node) or not has_value(bound["tensor"]):
        return None
    base, sizes, dim = bound["tensor"], bound.get("sizes"), bound["dim"]
    if not isinstance(dim, int):
        return None
    dim = positive_dim(dim, value_of(base).dim())
    total = value_of(base).shape[dim]
    if not isinstance(total, int):
        return None
    if kind == "chunk" and isinstance(sizes, int):
        step = -(-total // sizes)  # torch.chunk: pieces of ceil(total / chunks)
        sizes = [min(step, total - start) for start in range(0, total, step)]
    elif isinstance(sizes, int):
        sizes = [min(sizes, total - start) for start in range(0, total, sizes)]
    if not isinstance(sizes, (list, tuple)) or not all(isinstance(s, int) for s in sizes) or index >= len(sizes):
        return None
    start = sum(sizes[:index])
    return Slice(node, base, dim, start, start + sizes[index])


def has_value(node: object) -> bool:
    return isinstance(node, Node) and ("example_value" in node.meta or "val" in node.meta)


def value_of(node: Node) -> Any:
    """The fake tensor (shape, dtype, device) the graph's tracer recorded for ``node``."""
    return node.meta["example_value"] if "example_value" in node.meta else node.meta["val"]


# ------------------------------------------------------------------------- operations that act channel by channel


@dataclass(frozen=True)
class PerChannel:
    """How to read a call that treats each channel of its input (argument ``names[0]``) alone.

    Attributes:
        names: its parameters in order, as the graph may pass them.
        defaults: the default of each parameter that has one.
        vectors: parameters holding one number per channel (concatenated when calls merge).
        inplace: the parameter that, when True, makes it write into its input.
    """

    names: tuple[str, ...]
    defaults: dict[str, Any] = field(default_factory=dict)
    vectors: tuple[str, ...] = ()
    inplace: str | None = None


BATCH_NORM = PerChannel(
    ("input", "running_mean", "running_var", "weight", "bias", "training", "momentum", "eps"),
    {"weight": None, "bias": None, "training": False, "momentum": 0.1, "eps": 1e-5},
    vectors=("running_mean", "running_var", "weight", "bias"),
)
_UNARY = PerChannel(("input",))
_PER_CHANNEL_FUNCTIONS: dict[Target, PerChannel] = {
    F.batch_norm: BATCH_NORM,
    F.relu: PerChannel(("input", "inplace"), {"inplace": False}, inplace="inplace"),
    F.relu6: PerChannel(("input", "inplace"), {"inplace": False}, inplace="inplace"),
    F.silu: PerChannel(("input", "inplace"), {"inplace": False}, inplace="inplace"),
    F.leaky_relu: PerChannel(
        ("input", "negative_slope", "inplace"), {"negative_slope": 0.01, "inplace": False}, inplace="inplace"
    ),
    F.hardtanh: PerChannel(
        ("input", "min_val", "max_val", "inplace"),
        {"min_val": -1.0, "max_val": 1.0, "inplace": False},
        inplace="inplace",
    ),
    F.gelu: PerChannel(("input", "approximate"), {"approximate": "none"}),
    torch.relu: _UNARY,
    torch.sigmoid: _UNARY,
    torch.tanh: _UNARY,
}
_PER_CHANNEL_METHODS: dict[Target, PerChannel] = {"relu": _UNARY, "sigmoid": _UNARY, "tanh": _UNARY}
_IN_PLACE_METHODS: dict[Target, PerChannel] = {"relu_": _UNARY}
_METHODS = {**_PER_CHANNEL_METHODS, **_IN_PLACE_METHODS}


@dataclass(frozen=True)
class ChannelCall:
    """A per-channel call of the graph whose input is a channel slice."""

    node: Node
    rule: PerChannel
    arguments: dict[str, Any]
    input: Slice

    @property
    def writes_input(self) -> bool:
        return self.node.target in _IN_PLACE_METHODS or (
            self.rule.inplace is not None and self.arguments.get(self.rule.inplace) is True
        )

    def settings(self) -> tuple[object, ...]:
        """Everything that must agree between merged calls: the target, the constants, which vectors are given."""
        constants = tuple(
            (name, repr(value))
            for name, value in self.arguments.items()
            if name != "input" and name not in self.rule.vectors and name != self.rule.inplace
        )
        given = tuple(self.arguments[name] is not None for name in self.rule.vectors)
        return (self.node.op, self.node.target, constants, given, value_of(self.node).dtype)


def _channel_call_arguments(node: Node) -> tuple[PerChannel, dict[str, Any]] | None:
    """How to read ``node`` if it acts channel by channel, and its arguments by name; else None."""
    if node.op == "call_function" and node.target in _PER_CHANNEL_FUNCTIONS:
        rule = _PER_CHANNEL_FUNCTIONS[node.target]
    elif node.op == "call_method" and node.target in _METHODS:
        rule = _METHODS[node.target]
    else:
        return None
    arguments = bind_arguments(node, rule.names, rule.defaults)
    if arguments is None or not isinstance(arguments["input"], Node):
        return None
    return rule, arguments


def read_channel_call(node: Node) -> ChannelCall | None:
    read = _channel_call_arguments(node)
    if read is None:
        return None
    rule, arguments = read
    piece = read_slice(arguments["input"])
    if piece is None or piece.dim != 1 or not has_value(node):
        return None
    for name in rule.vectors:  # one number per channel of the piece, or absent
        vector = arguments[name]
        if vector is not None and not (
            isinstance(vector, Node)
            and has_value(vector)
            and tuple(value_of(vector).shape) == (piece.stop - piece.start,)
        ):
            return None
    if rule is BATCH_NORM and not isinstance(arguments["training"], bool):
        return None
    return ChannelCall(node, rule, arguments, piece)


# ------------------------------------------------------------------------------------------ editing the graph


class Editor:
    """Makes nodes with their fake values recorded, and keeps new nodes in a valid order."""

    def __init__(self, graph: fx.Graph) -> None:
        self.graph = graph
        values = [value_of(n) for n in graph.nodes if has_value(n)]
        self.fake_mode = next((v.fake_mode for v in values if hasattr(v, "fake_mode")), None)

    def call(self, target: Target, args: tuple[Argument, ...], kwargs: dict[str, Argument] | None = None) -> Node:
        """A new ``call_function`` (or ``call_method`` for a ``str`` target) node, with its fake value."""
        op = "call_method" if isinstance(target, str) else "call_function"
        node = self.graph.create_node(op, target, args, kwargs or {})
        fake_args = map_arg(args, value_of)
        fake_kwargs = map_arg(kwargs or {}, value_of)
        if target == "copy_":
            value = fake_args[0]  # the destination: no need to run the copy on fake tensors
        else:
            with self.fake_mode if self.fake_mode is not None else nullcontext():
                function = getattr(fake_args[0], target) if isinstance(target, str) else target
                value = function(*(fake_args[1:] if isinstance(target, str) else fake_args), **fake_kwargs)
        node.meta["example_value"] = value
        return node

    def slice(self, base: Node, start: int, stop: int, dim: int = 1) -> Node:
        """``base[:, start:stop]`` (along ``dim``), or ``base`` itself when that is all of it."""
        if start == 0 and stop == value_of(base).shape[dim]:
            return base
        index = (*(slice(None),) * dim, slice(start, stop))
        return self.call(operator.getitem, (base, index if dim else index[0]))

    def cat(self, tensors: Sequence[Node], dim: int) -> Node:
        if len(tensors) == 1:
            return tensors[0]
        return self.call(torch.cat, (list(tensors),), {"dim": dim})

    def total(self, terms: Sequence[Argument]) -> Argument:
        """``terms[0] + terms[1] + …``, left to right."""
        result = terms[0]
        for term in terms[1:]:
            result = self.call(operator.add, (result, term))
        return result

    def order(self) -> dict[Node, int]:
        return {node: i for i, node in enumerate(self.graph.nodes)}

    def can_place_before(self, first: Node, needed: Iterable[Argument]) -> bool:
        """Whether ``needed`` (and what it is computed from) can all be moved before ``first``.

        Not if one of them is computed from ``first``, nor if one writes into a tensor: moving a
        write past a reader would change what that reader sees.
        """
        later = self._later(first, needed, self.order())
        return all(not _writes(node) and first not in node.all_input_nodes for node in later)

    def place_before(self, first: Node, needed: Iterable[Argument]) -> None:
        """Move every node of ``needed`` (and its inputs) that comes after ``first`` to just before it."""
        order = self.order()
        for node in sorted(self._later(first, needed, order), key=order.__getitem__):
            first.prepend(node)

    def _later(self, first: Node, needed: Iterable[Argument], order: dict[Node, int]) -> set[Node]:
        later: set[Node] = set()
        stack = [n for n in _nodes(needed) if order[n] > order[first]]
        while stack:
            node = stack.pop()
            if node not in later:
                later.add(node)
                stack += [n for n in node.all_input_nodes if order[n] > order[first]]
        return later

    def drop_unused(self, nodes: Iterable[Node]) -> None:
        """Erase those of ``nodes`` that nothing reads any more and that only view a tensor (slices, splits).

        A left-over slice would still count as a reader of its tensor, which some rules must know has none.
        """
        stack = list(nodes)
        while stack:
            node = stack.pop()
            if not node._erased and not node.users and _is_view(node):
                inputs = node.all_input_nodes
                self.graph.erase_node(node)
                stack += inputs

    def replace(self, old: Node, new: Node) -> None:
        old.replace_all_uses_with(new)
        self.graph.erase_node(old)


def _nodes(arguments: Iterable[Argument]) -> Iterator[Node]:
    for argument in arguments:
        if isinstance(argument, Node):
            yield argument
        elif isinstance(argument, (list, tuple)):
            yield from _nodes(argument)


def _is_view(node: Node) -> bool:
    """Whether ``node`` only views a tensor: a slice of it, or a split or chunk into pieces."""
    if node.op == "call_function" and node.target in _SPLITS:
        return True
    if node.op == "call_method" and node.target in ("split", "chunk", "narrow"):
        return True
    return node.op == "call_function" and node.target in (operator.getitem, torch.narrow)


def _written_input(node: Node) -> Node | None:
    """The input that ``node`` writes into (in place) and returns, if it does."""
    first = node.args[0] if node.args and isinstance(node.args[0], Node) else None
    if node.op == "call_method" and isinstance(node.target, str):
        return first if node.target.endswith("_") and not node.target.startswith("_") else None
    if node.op != "call_function":
        return None
    if node.target in (operator.iadd, operator.isub, operator.imul, operator.itruediv, operator.setitem):
        return first
    call = _channel_call_arguments(node)
    if call is not None and call[0].inplace is not None and call[1].get(call[0].inplace) is True:
        return first
    return first if getattr(node.target, "__name__", "").endswith("_") else None


def _writes(node: Node) -> bool:
    """Whether ``node`` writes into any tensor: one of its inputs, or BN's running statistics in train mode."""
    if node.op == "call_function" and node.target is F.batch_norm:
        arguments = bind_arguments(node, BATCH_NORM.names, BATCH_NORM.defaults)
        return arguments is None or arguments["training"] is not False
    return _written_input(node) is not None or node.kwargs.get("inplace") is True


def side_by_side_runs(pieces: Iterable[tuple[Slice, _T]]) -> list[list[tuple[Slice, _T]]]:
    """Maximal runs of ≥ 2 pieces lying side by side (each starts where the previous stops), in channel order."""
    runs: list[list[tuple[Slice, _T]]] = []
    current: list[tuple[Slice, _T]] = []
    for piece in sorted(pieces, key=lambda p: (p[0].start, p[0].stop)):
        if current and piece[0].start == current[-1][0].stop:
            current.append(piece)
        elif not current or piece[0].start > current[-1][0].stop:
            if len(current) > 1:
                runs.append(current)
            current = [piece]
        # else: it overlaps the run (the same slice read twice): it stays as it is
    if len(current) > 1:
        runs.append(current)
    return runs


def group_by(items: Iterable[tuple[object, Any]]) -> dict[object, list[Any]]:
    groups: dict[object, list[Any]] = {}
    for key, item in items:
        groups.setdefault(key, []).append(item)
    return groups


# ---------------------------------------------------------------------------------- aliasing and sums


def side_by_side(left: Slice | None, right: Slice | None, dim: int) -> bool:
    return (
        left is not None
        and right is not None
        and left.base is right.base
        and left.dim == right.dim == dim
        and right.start == left.stop
    )


def is_fresh(node: Node) -> bool:
    """Whether ``node`` is a new tensor of the graph: not an input, not a view, not an input written in place."""
    return node.op in ("call_function", "call_method") and not _is_view(node) and _written_input(node) is None


def _readers(base: Node) -> list[Node]:
    """The nodes that read ``base``: its users, where the pieces of a split or a chunk stand for the split."""
    readers: list[Node] = []
    for user in base.users:
        is_split = user.op in ("call_function", "call_method") and user.target in (*_SPLITS, "split", "chunk")
        readers += list(user.users) if is_split else [user]
    return readers


def _overlaps(reader: Node, base: Node, low: int, high: int) -> bool:
    """Whether ``reader`` (a reader of ``base``) may see channels ``low:high`` of it: all but a channel slice beside."""
    piece = read_slice(reader)
    return piece is None or piece.base is not base or piece.dim != 1 or (piece.start < high and low < piece.stop)


def only_read_through(base: Node, run: set[Node], low: int, high: int) -> bool:
    """Whether channels ``low:high`` of ``base`` are reached only through the slices ``run``, each read once."""
    if any(len(piece.users) != 1 for piece in run):
        return False
    return not any(reader not in run and _overlaps(reader, base, low, high) for reader in _readers(base))


def channels_written(base: Node, low: int, high: int) -> bool:
    """Whether a node may write into channels ``low:high`` of ``base`` in place: then no read of them may move.

    A rule that merges C reads of slices of ``base`` makes ONE read, at another place in the
    graph: earlier (before the first of them) or later (at the sum they feed). That reads the
    same values only if nothing writes into those channels in between. Writes are seen through
    ``base``'s own readers; where ``base`` may share its memory with another tensor that has
    readers of its own (``base`` is a view, or an in-place call on a tensor read elsewhere), True.
    """
    if base.op not in ("placeholder", "get_attr") and not _owns_memory(base):
        return True
    for reader in _readers(base):
        if _written_input(reader) is base or (
            _is_view(reader) and _overlaps(reader, base, low, high) and is_written(reader)
        ):
            return True
    return False


def _owns_memory(node: Node) -> bool:
    """Whether ``node`` is a new tensor, or in-place calls on one that nothing else reads (``relu_(x += y)``)."""
    while (inner := _written_input(node)) is not None:
        if len(inner.users) != 1:
            return False
        node = inner
    return is_fresh(node)


def is_written(node: Node) -> bool:
    """Whether some node writes into ``node``, directly or through a view of it."""
    return any(_written_input(user) is node or (_is_view(user) and is_written(user)) for user in node.users)


_ADDS = {operator.add, torch.add}


def is_add(node: Node) -> bool:
    """``a + b`` (also ``a += b`` where ``a`` is read nowhere else), no scaling, both tensors or numbers."""
    if node.op != "call_function" or len(node.args) != 2:
        return False
    if node.target in _ADDS and not node.kwargs:
        return True
    left = node.args[0]
    return node.target is operator.iadd and isinstance(left, Node) and len(left.users) == 1


def sum_terms(node: Node) -> list[Argument] | None:
    """The terms of the sum that ``node`` computes, through nested additions that nothing else reads; or None.

    Recognised: chains and trees of ``+`` (``sum(...)`` is one), and ``torch.stack(terms).sum(0)``.
    """
    if is_add(node):
        terms: list[Argument] = []
        for operand in node.args:
            inner = operand if isinstance(operand, Node) and len(operand.users) == 1 else None
            terms += (sum_terms(inner) if inner is not None else None) or [operand]
        return terms
    if node.op == "call_method" and node.target == "sum" and isinstance(node.args[0], Node):
        stack = node.args[0]
        dim = node.args[1] if len(node.args) > 1 else node.kwargs.get("dim")
        if (
            dim == 0
            and len(node.args) <= 2
            and set(node.kwargs) <= {"dim"}
            and stack.op == "call_function"
            and stack.target is torch.stack
            and len(stack.users) == 1
            and isinstance(stack.args[0], (list, tuple))
            and stack.kwargs.get("dim", stack.args[1] if len(stack.args) > 1 else 0) == 0
        ):
            return list(stack.args[0])
    return None


def sum_inner_nodes(root: Node) -> list[Node]:
    """The nodes of the sum at ``root`` below it (nested sums, a stacked tensor), parents before children."""
    if not is_add(root):  # stack(terms).sum(0)
        return [root.args[0]] if isinstance(root.args[0], Node) else []
    inner: list[Node] = []
    for operand in root.args:
        if isinstance(operand, Node) and len(operand.users) == 1 and sum_terms(operand) is not None:
            inner += [operand, *sum_inner_nodes(operand)]
    return inner
