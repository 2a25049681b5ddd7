"""The paper's three equivalences as rewrite rules on a graph: C parallel convolutions become one.

ResNeXt's Figure 3 draws one block three ways, and section 3.3 says why they are one
function. Read as rules about convolutions, each is a rewrite a compiler can apply:

    rule 1  shared input   C convolutions reading the same tensor X, with the same kernel,
                           stride and padding, are ONE convolution of X whose weight is
                           their weights concatenated along the output channels; each
                           original output is a channel slice of its output.
                           (Form (a)'s and (b)'s first 1x1s.)
    rule 2  grouped        C convolutions, convolution i reading channel slice i of one
                           tensor Y (the slices side by side), are ONE grouped convolution
                           of Y with C groups, weights concatenated. (The 3x3s.)
    rule 3  summed         a sum of C convolutions over C tensors is ONE convolution over
                           their concatenation, weights concatenated along the input
                           channels: Σ_i W_i · x_i = [W_1 … W_C] · concat_i x_i.
                           (Form (a)'s last 1x1s, summed: form (b)'s one 1x1.)

Between the convolutions of a path sit BatchNorm and ReLU. After rule 1, path i's BN reads
channel slice i of the merged output; rule 2 needs ONE tensor whose slices the 3x3s read.
Two more rules move the slices past what lies between, and are exact for the same reason
the forms are equal in train mode (``blocks/core/forms.py``): these operations act on every
channel by itself.

    per channel            an operation that treats each channel alone (BatchNorm, ReLU and
                           other elementwise functions), applied to the C slices of one
                           tensor with the same settings, is the operation applied ONCE to
                           the tensor, its per-channel tensors (BN's scale, shift and
                           running statistics) concatenated; each result is a slice. In
                           train mode BN's batch statistics are per channel too, and the
                           updated running statistics are copied back into each path's own.
    concatenation          concatenating slices of one tensor that lie side by side is the
                           slice they cover (form (b)'s torch.cat of the paths).

Every merged weight is a ``torch.cat`` of the original parameters made INSIDE the graph, so
the parameters stay the model's own: autograd differentiates through the concatenation, the
gradient of each original parameter is its slice of the merged one, and training works. The
rules are applied until none applies (each one removes operations, so that comes soon).

The graph is Dynamo's torch-level FX graph (what a ``torch.compile`` backend receives), not
ATen after AOTAutograd: there a convolution is a call of ``torch.conv2d`` with its weight as
an input (a parameter placeholder, a slice of one, or any tensor computed in the graph),
BatchNorm is ``F.batch_norm`` on its parameters and running statistics, and the sums,
slices and concatenations are the model's own ``+``, ``x[:, a:b]``, ``torch.chunk`` and
``torch.cat``, before autograd and functionalization multiply and rename them. Rewriting
here, autograd is derived afterwards from the rewritten graph: the backward of the merged
graph is the backward of form (c) plus the slices of the weight gradients. On the ATen
graph (Inductor's pattern matcher) each rule would also have to be written for the backward's
convolution gradients, and BN's running-statistic updates are there already split into
copies of functional results. Nothing here depends on ResNeXt: the rules look at what the
graph computes, whatever the model's modules are called.

Example:
    >>> block = blocks.build(blocks.BlockSpec(64, 64, cardinality=8, width=4), "a").eval()
    >>> rewrite = trace_and_merge(block, torch.randn(1, 64, 8, 8))
    >>> rewrite.report.convolutions_before, rewrite.report.convolutions_after
    (24, 3)
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any, TypeVar

import torch
import torch.nn.functional as F
from torch import Tensor, fx, nn
from torch.fx.node import Argument, Node, Target, map_arg

_T = TypeVar("_T")

# ---------------------------------------------------------------------------------------------- reading the graph

_CONV_NAMES = ("input", "weight", "bias", "stride", "padding", "dilation", "groups")
_CONV_DEFAULTS: dict[str, Any] = {"bias": None, "stride": 1, "padding": 0, "dilation": 1, "groups": 1}


@dataclass(frozen=True)
class _Conv:
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
        return tuple(_value(self.weight).shape)  # (out, in / groups, kh, kw)

    def settings(self) -> tuple[object, ...]:
        """What two convolutions must share to be merged: everything but their tensors."""
        value = _value(self.node)
        return (self.stride, self.padding, self.dilation, self.bias is None, value.dtype, value.device)


def _pair(value: object) -> tuple[int, int] | None:
    if isinstance(value, int):
        return (value, value)
    if isinstance(value, (tuple, list)) and len(value) == 2 and all(isinstance(v, int) for v in value):
        return (value[0], value[1])
    return None


def _bind(node: Node, names: Sequence[str], defaults: dict[str, Any]) -> dict[str, Any] | None:
    """``node``'s arguments by parameter name, defaults filled in; None if they do not fit ``names``."""
    if len(node.args) > len(names) or any(key not in names for key in node.kwargs):
        return None
    bound = {**defaults, **dict(zip(names, node.args)), **node.kwargs}
    return bound if all(name in bound for name in names) else None


def _conv(node: Node) -> _Conv | None:
    """``node`` read as a 2-d convolution with constant settings and known shapes, else None."""
    if node.op != "call_function" or node.target is not torch.conv2d:
        return None
    bound = _bind(node, _CONV_NAMES, _CONV_DEFAULTS)
    if bound is None:
        return None
    tensors = (bound["input"], bound["weight"], node)
    if not all(isinstance(t, Node) and _has_value(t) for t in tensors) or _value(node).dim() != 4:
        return None
    stride, dilation = _pair(bound["stride"]), _pair(bound["dilation"])
    padding = bound["padding"] if isinstance(bound["padding"], str) else _pair(bound["padding"])
    bias = bound["bias"]
    if stride is None or dilation is None or padding is None or not isinstance(bound["groups"], int):
        return None
    if bias is not None and not (isinstance(bias, Node) and _has_value(bias)):
        return None
    return _Conv(node, bound["input"], bound["weight"], bias, stride, padding, dilation, bound["groups"])


@dataclass(frozen=True)
class _Slice:
    """``node`` is ``base`` sliced to ``start:stop`` along ``dim``, a view of it."""

    node: Node
    base: Node
    dim: int
    start: int
    stop: int


def _slice(node: Node) -> _Slice | None:
    """``node`` read as a contiguous slice of another tensor along one dimension, else None.

    Recognised: ``x[:, a:b]`` (any one dimension, step 1), ``x.narrow(dim, start, length)`` and
    ``torch.narrow``, and the pieces of ``torch.split`` / ``torch.chunk`` (functions or methods).
    """
    if not _has_value(node) or not isinstance(_value(node), Tensor):
        return None
    if node.op == "call_function" and node.target is operator.getitem and isinstance(node.args[0], Node):
        source, index = node.args[0], node.args[1]
        if isinstance(index, int):
            return _piece_of_split(node, source, index)
        if _has_value(source) and isinstance(_value(source), Tensor):
            return _indexing_slice(node, source, index)
        return None
    if (node.op == "call_method" and node.target == "narrow") or (
        node.op == "call_function" and node.target is torch.narrow
    ):
        bound = _bind(node, ("input", "dim", "start", "length"), {})
        if bound is None or not isinstance(bound["input"], Node) or not _has_value(bound["input"]):
            return None
        base, dim, start, length = bound["input"], bound["dim"], bound["start"], bound["length"]
        if not all(isinstance(v, int) for v in (dim, start, length)):
            return None
        dim = _dim(dim, _value(base).dim())
        size = _value(base).shape[dim]
        start = start + size if start < 0 else start
        return _Slice(node, base, dim, start, start + length)
    return None


def _dim(dim: int, ndim: int) -> int:
    return dim + ndim if dim < 0 else dim


def _indexing_slice(node: Node, base: Node, index: object) -> _Slice | None:
    """``base[index]`` where ``index`` keeps every dimension whole but one, which it slices with step 1."""
    index = index if isinstance(index, tuple) else (index,)
    shape = _value(base).shape
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
    return _Slice(node, base, dim, start, max(start, stop))


_SPLITS = {torch.split: "split_size_or_sections", torch.chunk: "chunks"}


def _piece_of_split(node: Node, source: Node, index: int) -> _Slice | None:
    """Piece ``index`` of ``torch.split(x, sizes, dim)`` or ``torch.chunk(x, chunks, dim)``."""
    if source.op == "call_function" and source.target in _SPLITS:
        kind = "split" if source.target is torch.split else "chunk"
    elif source.op == "call_method" and source.target in ("split", "chunk"):
        kind = str(source.target)
    else:
        return None
    bound = _bind(source, ("tensor", "sizes", "dim"), {"dim": 0})
    if bound is None and source.kwargs:  # the functions' and the methods' keyword names differ
        names = {"split_size_or_sections": "sizes", "split_size": "sizes", "chunks": "sizes"}
        renamed = {names.get(key, key): value for key, value in source.kwargs.items()}
        bound = {"dim": 0, **dict(zip(("tensor", "sizes", "dim"), source.args)), **renamed}
    if bound is None or not isinstance(bound.get("tensor"), Node) or not _has_value(bound["tensor"]):
        return None
    base, sizes, dim = bound["tensor"], bound.get("sizes"), bound["dim"]
    if not isinstance(dim, int):
        return None
    dim = _dim(dim, _value(base).dim())
    total = _value(base).shape[dim]
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
    return _Slice(node, base, dim, start, start + sizes[index])


def _has_value(node: object) -> bool:
    return isinstance(node, Node) and ("example_value" in node.meta or "val" in node.meta)


def _value(node: Node) -> Any:
    """The fake tensor (shape, dtype, device) the graph's tracer recorded for ``node``."""
    return node.meta["example_value"] if "example_value" in node.meta else node.meta["val"]


# ------------------------------------------------------------------------- operations that act channel by channel


@dataclass(frozen=True)
class _PerChannel:
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


_BATCH_NORM = _PerChannel(
    ("input", "running_mean", "running_var", "weight", "bias", "training", "momentum", "eps"),
    {"weight": None, "bias": None, "training": False, "momentum": 0.1, "eps": 1e-5},
    vectors=("running_mean", "running_var", "weight", "bias"),
)
_UNARY = _PerChannel(("input",))
_PER_CHANNEL_FUNCTIONS: dict[Target, _PerChannel] = {
    F.batch_norm: _BATCH_NORM,
    F.relu: _PerChannel(("input", "inplace"), {"inplace": False}, inplace="inplace"),
    F.relu6: _PerChannel(("input", "inplace"), {"inplace": False}, inplace="inplace"),
    F.silu: _PerChannel(("input", "inplace"), {"inplace": False}, inplace="inplace"),
    F.leaky_relu: _PerChannel(
        ("input", "negative_slope", "inplace"), {"negative_slope": 0.01, "inplace": False}, inplace="inplace"
    ),
    F.hardtanh: _PerChannel(
        ("input", "min_val", "max_val", "inplace"),
        {"min_val": -1.0, "max_val": 1.0, "inplace": False},
        inplace="inplace",
    ),
    F.gelu: _PerChannel(("input", "approximate"), {"approximate": "none"}),
    torch.relu: _UNARY,
    torch.sigmoid: _UNARY,
    torch.tanh: _UNARY,
}
_PER_CHANNEL_METHODS: dict[Target, _PerChannel] = {"relu": _UNARY, "sigmoid": _UNARY, "tanh": _UNARY}
_IN_PLACE_METHODS: dict[Target, _PerChannel] = {"relu_": _UNARY}
_METHODS = {**_PER_CHANNEL_METHODS, **_IN_PLACE_METHODS}


@dataclass(frozen=True)
class _ChannelCall:
    """A per-channel call of the graph whose input is a channel slice."""

    node: Node
    rule: _PerChannel
    arguments: dict[str, Any]
    input: _Slice

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
        return (self.node.op, self.node.target, constants, given, _value(self.node).dtype)


def _channel_call_arguments(node: Node) -> tuple[_PerChannel, dict[str, Any]] | None:
    """How to read ``node`` if it acts channel by channel, and its arguments by name; else None."""
    if node.op == "call_function" and node.target in _PER_CHANNEL_FUNCTIONS:
        rule = _PER_CHANNEL_FUNCTIONS[node.target]
    elif node.op == "call_method" and node.target in _METHODS:
        rule = _METHODS[node.target]
    else:
        return None
    arguments = _bind(node, rule.names, rule.defaults)
    if arguments is None or not isinstance(arguments["input"], Node):
        return None
    return rule, arguments


def _channel_call(node: Node) -> _ChannelCall | None:
    read = _channel_call_arguments(node)
    if read is None:
        return None
    rule, arguments = read
    piece = _slice(arguments["input"])
    if piece is None or piece.dim != 1 or not _has_value(node):
        return None
    for name in rule.vectors:  # one number per channel of the piece, or absent
        vector = arguments[name]
        if vector is not None and not (
            isinstance(vector, Node)
            and _has_value(vector)
            and tuple(_value(vector).shape) == (piece.stop - piece.start,)
        ):
            return None
    if rule is _BATCH_NORM and not isinstance(arguments["training"], bool):
        return None
    return _ChannelCall(node, rule, arguments, piece)


# ------------------------------------------------------------------------------------------ editing the graph


class _Editor:
    """Makes nodes with their fake values recorded, and keeps new nodes in a valid order."""

    def __init__(self, graph: fx.Graph) -> None:
        self.graph = graph
        values = [_value(n) for n in graph.nodes if _has_value(n)]
        self.fake_mode = next((v.fake_mode for v in values if hasattr(v, "fake_mode")), None)

    def call(self, target: Target, args: tuple[Argument, ...], kwargs: dict[str, Argument] | None = None) -> Node:
        """A new ``call_function`` (or ``call_method`` for a ``str`` target) node, with its fake value."""
        op = "call_method" if isinstance(target, str) else "call_function"
        node = self.graph.create_node(op, target, args, kwargs or {})
        fake_args = map_arg(args, _value)
        fake_kwargs = map_arg(kwargs or {}, _value)
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
        if start == 0 and stop == _value(base).shape[dim]:
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
        arguments = _bind(node, _BATCH_NORM.names, _BATCH_NORM.defaults)
        return arguments is None or arguments["training"] is not False
    return _written_input(node) is not None or node.kwargs.get("inplace") is True


def _runs(pieces: Iterable[tuple[_Slice, _T]]) -> list[list[tuple[_Slice, _T]]]:
    """Maximal runs of ≥ 2 pieces lying side by side (each starts where the previous stops), in channel order."""
    runs: list[list[tuple[_Slice, _T]]] = []
    current: list[tuple[_Slice, _T]] = []
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


def _group(items: Iterable[tuple[object, Any]]) -> dict[object, list[Any]]:
    groups: dict[object, list[Any]] = {}
    for key, item in items:
        groups.setdefault(key, []).append(item)
    return groups


# ------------------------------------------------------------------------------------------------- the rules


def _merge_shared_input(editor: _Editor) -> int:
    """Rule 1: C convolutions of one tensor → one convolution, weights concatenated along the outputs.

    Returns:
        How many convolutions were merged away (C - 1 for each group of C), 0 if none.
    """
    convs = [c for c in map(_conv, editor.graph.nodes) if c is not None and c.groups == 1]
    groups = _group(((c.input, c.weight_shape[1:], c.settings()), c) for c in convs)
    for members in groups.values():
        if len(members) < 2:
            continue
        order = editor.order()
        members.sort(key=lambda c: order[c.node])
        first = members[0].node
        needed = [m.weight for m in members] + [m.bias for m in members if m.bias is not None]
        if not editor.can_place_before(first, needed):
            continue
        editor.place_before(first, needed)
        with editor.graph.inserting_before(first):
            merged = _convolution(editor, members[0], members[0].input, members, groups=1)
            start = 0
            outputs = []
            for member in members:
                outputs.append(editor.slice(merged, start, start + member.weight_shape[0]))  # (B, out_i, H', W')
                start += member.weight_shape[0]
        for member, output in zip(members, outputs):
            editor.replace(member.node, output)
        return len(members) - 1
    return 0


def _convolution(editor: _Editor, like: _Conv, x: Node, members: Sequence[_Conv], groups: int) -> Node:
    """``torch.conv2d(x, cat(weights), cat(biases))`` with ``like``'s stride, padding and dilation."""
    weight = editor.cat([m.weight for m in members], dim=0)  # (Σ out_i, in / groups, kh, kw)
    bias = None if like.bias is None else editor.cat([m.bias for m in members if m.bias is not None], dim=0)
    return editor.call(torch.conv2d, (x, weight, bias, like.stride, like.padding, like.dilation, groups))


def _merge_grouped(editor: _Editor) -> int:
    """Rule 2: C convolutions of C side-by-side channel slices → one grouped convolution of C groups.

    Returns:
        How many convolutions were merged away, 0 if none.
    """
    pieces = []
    for conv in filter(None, map(_conv, editor.graph.nodes)):
        piece = _slice(conv.input)
        if piece is not None and piece.dim == 1:
            pieces.append(((piece.base, conv.weight_shape, conv.groups, conv.settings()), (piece, conv)))
    for candidates in _group(pieces).values():
        for run in _runs(candidates):
            members = [conv for _, conv in run]
            first = min((m.node for m in members), key=editor.order().__getitem__)
            needed = [m.weight for m in members] + [m.bias for m in members if m.bias is not None]
            if not editor.can_place_before(first, needed):
                continue
            editor.place_before(first, needed)
            base, out = run[0][0].base, members[0].weight_shape[0]
            with editor.graph.inserting_before(first):
                x = editor.slice(base, run[0][0].start, run[-1][0].stop)  # (B, C·d, H, W)
                merged = _convolution(editor, members[0], x, members, groups=members[0].groups * len(members))
                outputs = [editor.slice(merged, i * out, (i + 1) * out) for i in range(len(members))]
            for member, output in zip(members, outputs):
                editor.replace(member.node, output)
            editor.drop_unused(m.input for m in members)
            return len(members) - 1
    return 0


def _merge_per_channel(editor: _Editor) -> int:
    """Per channel: the same channel-by-channel call on side-by-side slices → one call on the tensor.

    Returns:
        How many calls were merged away, 0 if none.
    """
    calls = [c for c in map(_channel_call, editor.graph.nodes) if c is not None]
    groups = _group(((c.input.base, c.settings()), (c.input, c)) for c in calls)
    for candidates in groups.values():
        for run in _runs(candidates):
            members: list[_ChannelCall] = [call for _, call in run]
            if not _may_merge_calls(members):
                continue
            first = min((m.node for m in members), key=editor.order().__getitem__)
            needed = [m.arguments[name] for m in members for name in m.rule.vectors]
            if not editor.can_place_before(first, needed):
                continue
            editor.place_before(first, needed)
            _replace_calls(editor, first, run[0][0], run[-1][0], members)
            return len(members) - 1
    return 0


def _may_merge_calls(members: Sequence[_ChannelCall]) -> bool:
    """Whether merging these calls keeps what every other node of the graph sees."""
    rule, low, high = members[0].rule, members[0].input, members[-1].input
    if members[0].writes_input and not (
        _fresh(low.base) and _private(low.base, {m.input.node for m in members}, low.start, high.stop)
    ):
        # C calls writing into C slices: the merged call writes nothing (it makes a new tensor), which is only
        # the same when no one else can see those channels, through the tensor or anything it is a view of.
        return False
    if rule is _BATCH_NORM and members[0].arguments["training"] and members[0].arguments["running_mean"] is not None:
        # Each BN updates its own running statistics: C calls on one shared buffer update it C times in a row,
        # which one update of the concatenation does not reproduce.
        buffers = [m.arguments[name] for m in members for name in ("running_mean", "running_var")]
        if len(set(buffers)) != len(buffers):
            return False
    return True


def _replace_calls(editor: _Editor, first: Node, low: _Slice, high: _Slice, members: Sequence[_ChannelCall]) -> None:
    rule, arguments = members[0].rule, dict(members[0].arguments)
    with editor.graph.inserting_before(first):
        arguments["input"] = editor.slice(low.base, low.start, high.stop)  # (B, Σ channels, H, W)
        for name in rule.vectors:
            if arguments[name] is not None:
                arguments[name] = editor.cat([m.arguments[name] for m in members], dim=0)  # (Σ channels,)
        if rule.inplace is not None:
            arguments[rule.inplace] = False  # the merged input is a new view: nothing else reads it
        node = members[0].node
        target = str(node.target).rstrip("_") if node.op == "call_method" else node.target
        if node.op == "call_method":
            merged = editor.call(target, (arguments["input"],))
        else:
            merged = editor.call(target, tuple(arguments[name] for name in rule.names))
        outputs, start = [], 0
        for member in members:
            size = member.input.stop - member.input.start
            outputs.append(editor.slice(merged, start, start + size))
            start += size
        if rule is _BATCH_NORM and arguments["training"] and arguments["running_mean"] is not None:
            # The merged BN updated the concatenated statistics; each path's own buffers get their part back.
            start = 0
            for member in members:
                size = member.input.stop - member.input.start
                for name in ("running_mean", "running_var"):
                    part = editor.call(operator.getitem, (arguments[name], slice(start, start + size)))
                    editor.call("copy_", (member.arguments[name], part))
                start += size
    for member, output in zip(members, outputs):
        editor.replace(member.node, output)
    editor.drop_unused(m.input.node for m in members)


def _merge_concatenation(editor: _Editor) -> int:
    """Concatenation: ``torch.cat`` of slices of one tensor that lie side by side → the slice they cover.

    Only where nothing else reads that tensor: the concatenation was a copy, the slice is a view,
    and what the graph later writes into it would otherwise reach the tensor's other readers.

    Returns:
        How many tensors left a concatenation, 0 if none changed.
    """
    for node in list(editor.graph.nodes):
        if node.op != "call_function" or node.target is not torch.cat or not _has_value(node):
            continue
        bound = _bind(node, ("tensors", "dim"), {"dim": 0})
        if bound is None or not isinstance(bound["tensors"], (list, tuple)) or not isinstance(bound["dim"], int):
            continue
        tensors, dim = list(bound["tensors"]), _dim(bound["dim"], _value(node).dim())
        pieces = [_slice(t) if isinstance(t, Node) else None for t in tensors]
        i = 0
        while i < len(tensors):
            j = i + 1
            while j < len(tensors) and _side_by_side(pieces[j - 1], pieces[j], dim):
                j += 1
            run = pieces[i:j]
            first, last = run[0], run[-1]
            if (
                j - i > 1
                and first is not None
                and last is not None
                and _private(first.base, {p.node for p in run if p is not None}, first.start, last.stop)
                and (_fresh(first.base) or not _written(node))  # what is written into the view reaches the base
            ):
                with editor.graph.inserting_before(node):
                    covered = editor.slice(first.base, first.start, last.stop, dim)
                if len(tensors) == j - i:
                    node.replace_all_uses_with(covered)
                    editor.graph.erase_node(node)
                else:
                    node.args = ([*tensors[:i], covered, *tensors[j:]], dim)
                    node.kwargs = {}
                editor.drop_unused(piece.node for piece in run if piece is not None)
                return j - i - 1
            i = j
    return 0


def _side_by_side(left: _Slice | None, right: _Slice | None, dim: int) -> bool:
    return (
        left is not None
        and right is not None
        and left.base is right.base
        and left.dim == right.dim == dim
        and right.start == left.stop
    )


def _fresh(node: Node) -> bool:
    """Whether ``node`` is a new tensor of the graph: not an input, not a view, not an input written in place."""
    return node.op in ("call_function", "call_method") and not _is_view(node) and _written_input(node) is None


def _private(base: Node, run: set[Node], low: int, high: int) -> bool:
    """Whether channels ``low:high`` of ``base`` are reached only through the slices ``run``, each read once."""
    if any(len(piece.users) != 1 for piece in run):
        return False
    readers: list[Node] = []
    for user in base.users:  # the pieces of a split or a chunk are its readers
        is_split = user.op in ("call_function", "call_method") and user.target in (*_SPLITS, "split", "chunk")
        readers += list(user.users) if is_split else [user]
    for reader in readers:
        piece = None if reader in run else _slice(reader)
        if reader not in run and (
            piece is None or piece.base is not base or piece.dim != 1 or (piece.start < high and low < piece.stop)
        ):
            return False
    return True


def _written(node: Node) -> bool:
    """Whether some node writes into ``node``, directly or through a view of it."""
    return any(_written_input(user) is node or (_is_view(user) and _written(user)) for user in node.users)


_ADDS = {operator.add, torch.add}


def _is_add(node: Node) -> bool:
    """``a + b`` (also ``a += b`` where ``a`` is read nowhere else), no scaling, both tensors or numbers."""
    if node.op != "call_function" or len(node.args) != 2:
        return False
    if node.target in _ADDS and not node.kwargs:
        return True
    left = node.args[0]
    return node.target is operator.iadd and isinstance(left, Node) and len(left.users) == 1


def _terms(node: Node) -> list[Argument] | None:
    """The terms of the sum that ``node`` computes, through nested additions that nothing else reads; or None.

    Recognised: chains and trees of ``+`` (``sum(...)`` is one), and ``torch.stack(terms).sum(0)``.
    """
    if _is_add(node):
        terms: list[Argument] = []
        for operand in node.args:
            inner = operand if isinstance(operand, Node) and len(operand.users) == 1 else None
            terms += (_terms(inner) if inner is not None else None) or [operand]
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


def _merge_summed(editor: _Editor) -> int:
    """Rule 3, on slices: a sum of C convolutions of C side-by-side slices → one convolution of the tensor.

    The tensor the slices cover IS their concatenation, so nothing is copied: form (a) after
    rules 1 and 2, whose last 1x1s read the C slices of one grouped 3x3's output.

    Returns:
        How many convolutions were merged away, 0 if none.
    """
    for root, terms, members in _sums_of_convolutions(editor):
        pieces = [(piece, conv) for conv in members if (piece := _slice(conv.input)) is not None and piece.dim == 1]
        for candidates in _group((piece.base, (piece, conv)) for piece, conv in pieces).values():
            for run in _runs(candidates):
                low, high = run[0][0], run[-1][0]
                with editor.graph.inserting_before(root):
                    x = editor.slice(low.base, low.start, high.stop)  # (B, Σ in_i, H, W)
                _replace_sum(editor, root, terms, [conv for _, conv in run], x)
                return len(run) - 1
    return 0


def _merge_summed_concatenated(editor: _Editor) -> int:
    """Rule 3: a sum of C convolutions over C tensors → one convolution over their ``torch.cat``.

    Tried after every other rule: where the C inputs can still become slices of one tensor
    (by the rules that merge what lies before them), :func:`_merge_summed` needs no copy.

    Returns:
        How many convolutions were merged away, 0 if none.
    """
    for root, terms, members in _sums_of_convolutions(editor):
        with editor.graph.inserting_before(root):
            x = editor.cat([conv.input for conv in members], dim=1)  # (B, Σ in_i, H, W)
        _replace_sum(editor, root, terms, members, x)
        return len(members) - 1
    return 0


def _sums_of_convolutions(editor: _Editor) -> Iterator[tuple[Node, list[Argument], list[_Conv]]]:
    """Every sum of the graph (its root node and terms) with ≥ 2 terms that are convolutions alike.

    Alike: the same output channels, kernel, stride, padding and dilation, no groups, inputs of
    the same batch and size (their channels may differ), and each read by the sum alone.
    """
    for root in list(editor.graph.nodes):
        if len(root.users) == 1 and _is_add(next(iter(root.users))) and _terms(root) is not None:
            continue  # an inner node of a larger sum: the sum's root is handled instead
        terms = _terms(root)
        if terms is None or len(terms) < 2:
            continue
        convs = []
        for term in terms:
            conv = _conv(term) if isinstance(term, Node) and len(term.users) == 1 else None
            if conv is not None and conv.groups == 1:
                x = _value(conv.input)
                key = (conv.weight_shape[0], conv.weight_shape[2:], conv.settings(), x.shape[0], x.shape[2:])
                convs.append((key, conv))
        for members in _group(convs).values():
            if len(members) > 1:
                yield root, terms, members


def _replace_sum(editor: _Editor, root: Node, terms: Sequence[Argument], members: Sequence[_Conv], x: Node) -> None:
    """Replace the sum at ``root``: its terms ``members`` by one convolution of ``x``, the rest added as they were."""
    with editor.graph.inserting_before(root):
        weight = editor.cat([m.weight for m in members], dim=1)  # (out, Σ in_i, kh, kw): W = [W_1 … W_C]
        like = members[0]
        bias = None if like.bias is None else editor.total([m.bias for m in members if m.bias is not None])  # Σ b_i
        merged = editor.call(torch.conv2d, (x, weight, bias, like.stride, like.padding, like.dilation, 1))
        merged_nodes = {m.node for m in members}
        rest = [t for t in terms if t not in merged_nodes and not (type(t) in (int, float) and t == 0)]
        total = editor.total([merged, *rest])
    old = [root, *_inner_nodes(root)]
    assert isinstance(total, Node)  # merged is its first term
    root.replace_all_uses_with(total)
    for node in old:  # the old sum, root first: each is then read by nothing
        if not node.users:
            editor.graph.erase_node(node)
    for member in members:
        if not member.node.users:
            editor.graph.erase_node(member.node)
    editor.drop_unused(m.input for m in members)


def _inner_nodes(root: Node) -> list[Node]:
    """The nodes of the sum at ``root`` below it (nested sums, a stacked tensor), parents before children."""
    if not _is_add(root):  # stack(terms).sum(0)
        return [root.args[0]] if isinstance(root.args[0], Node) else []
    inner: list[Node] = []
    for operand in root.args:
        if isinstance(operand, Node) and len(operand.users) == 1 and _terms(operand) is not None:
            inner += [operand, *_inner_nodes(operand)]
    return inner


# ---------------------------------------------------------------------------------------------------- the pass

# In the order they are tried: after every merge, the first rule that applies goes next. Rule 3 on slices
# comes before rule 2, which would otherwise take summed convolutions of slices for a grouped one
# (C·out channels, then summed: correct, but C times the output); rule 3 with a copy comes last.
RULES: dict[str, Callable[[_Editor], int]] = {
    "shared input": _merge_shared_input,  # rule 1
    "per channel": _merge_per_channel,
    "summed": _merge_summed,  # rule 3, over side-by-side slices
    "grouped": _merge_grouped,  # rule 2
    "concatenation": _merge_concatenation,
    "summed concatenated": _merge_summed_concatenated,  # rule 3, over a torch.cat
}


@dataclass(frozen=True)
class MergeReport:
    """What :func:`merge_convolutions` did to a graph.

    Attributes:
        convolutions_before: ``torch.conv2d`` calls in the graph before the pass.
        convolutions_after: and after it.
        merged: rule name -> how many calls (convolutions, per-channel calls, concatenated
            tensors) that rule merged away, for the rules of :data:`RULES`.
    """

    convolutions_before: int
    convolutions_after: int
    merged: dict[str, int]


def count_convolutions(graph: fx.Graph) -> int:
    """The ``torch.conv2d`` (``F.conv2d``) calls of ``graph``."""
    return sum(node.op == "call_function" and node.target is torch.conv2d for node in graph.nodes)


def merge_convolutions(gm: fx.GraphModule, example_inputs: Sequence[object] | None = None) -> MergeReport:
    """Apply the rules of this module to ``gm`` in place until none applies; return what changed.

    Args:
        gm: a torch-level FX graph, as Dynamo hands it to a ``torch.compile`` backend (its nodes
            carry their fake values in ``meta["example_value"]``), or any FX graph of torch calls.
        example_inputs: the graph's inputs, needed only when its nodes carry no fake values
            (e.g. from ``torch.fx.symbolic_trace``): the values are then propagated from them.

    Returns:
        The convolutions before and after, and the merges each rule made.

    Raises:
        ValueError: the nodes carry no fake values and no ``example_inputs`` are given.

    Example:
        >>> report = merge_convolutions(gm)          # gm: form (a) at 32x4d, from Dynamo
        >>> report.convolutions_before, report.convolutions_after
        (96, 3)
    """
    if not any(_has_value(node) for node in gm.graph.nodes if node.op == "placeholder"):  # not from Dynamo
        if example_inputs is None:
            raise ValueError("example_inputs must be given for a graph whose nodes carry no fake values, got None")
        from torch._subclasses.fake_tensor import FakeTensorMode
        from torch.fx.passes.fake_tensor_prop import FakeTensorProp

        FakeTensorProp(gm, FakeTensorMode(allow_non_fake_inputs=True)).propagate(*example_inputs)
    before = count_convolutions(gm.graph)
    editor = _Editor(gm.graph)
    merged = dict.fromkeys(RULES, 0)
    while True:  # one merge at a time, always the first rule that applies: each merge removes calls, so this ends
        for name, rule in RULES.items():
            count = rule(editor)
            if count:
                merged[name] += count
                break
        else:
            break
    gm.graph.lint()
    gm.recompile()
    return MergeReport(before, count_convolutions(gm.graph), merged)


@dataclass(frozen=True)
class Rewrite:
    """One graph that Dynamo traced, before and after :func:`merge_convolutions`.

    Attributes:
        before: the graph as Dynamo handed it to the backend.
        after: the same graph rewritten (it runs eagerly: call it with the graph's inputs).
        report: what the rules did.
    """

    before: fx.GraphModule
    after: fx.GraphModule
    report: MergeReport


def _copy(gm: fx.GraphModule) -> fx.GraphModule:
    """A copy of ``gm`` with a graph of its own (the nodes' recorded values are shared, not copied)."""
    graph = fx.Graph()
    graph.output(graph.graph_copy(gm.graph, {}))
    return fx.GraphModule(gm, graph)


def trace_and_merge(model: nn.Module | Callable[..., Any], *inputs: object) -> Rewrite:
    """Trace ``model(*inputs)`` with Dynamo, rewrite its graph, and return both (nothing is compiled to code).

    The rewritten graph runs eagerly, so this is also how the tests compare it with the original.
    A model that Dynamo traces into several graphs (graph breaks) gives its first one.

    Args:
        model: a module or a function of tensors.
        inputs: its inputs.

    Returns:
        The graph before and after, and the report.

    Raises:
        RuntimeError: Dynamo traced no graph (nothing of ``model`` runs torch operations).

    Example:
        >>> block = blocks.build(blocks.BlockSpec(16, 16, cardinality=4, width=2), "b").eval()
        >>> trace_and_merge(block, torch.randn(1, 16, 4, 4)).report.convolutions_after
        3
    """
    import torch._dynamo

    rewrites: list[Rewrite] = []

    def backend(gm: fx.GraphModule, example_inputs: list[Tensor]) -> Callable[..., Any]:
        before = _copy(gm)
        report = merge_convolutions(gm, example_inputs)
        rewrites.append(Rewrite(before, gm, report))
        return gm.forward

    torch._dynamo.reset()  # a fresh trace, not a cached one
    try:
        torch.compile(model, backend=backend)(*inputs)
    finally:
        torch._dynamo.reset()
    if not rewrites:
        raise RuntimeError(f"trace_and_merge: Dynamo traced no graph of {type(model).__name__}")
    return rewrites[0]
