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

A merge reads a tensor once where C calls read it at C places, and may make a view where
there was a copy: no rule merges where an in-place write could tell the difference
(``blocks.compiler.graph.channels_written``), nor C train-mode BNs that share one running
statistic. Not rewritten: 1-d and 3-d or transposed convolutions, grouped convolutions under
rules 1 and 3 (their output channels interleave by group), and ``nn.Conv2d`` left as a module
call (Dynamo inlines built-in modules since torch 2.5: their parameters are graph inputs).

Example:
    >>> block = blocks.build(blocks.BlockSpec(64, 64, cardinality=8, width=4), "a").eval()
    >>> rewrite = trace_and_merge(block, torch.randn(1, 64, 8, 8))
    >>> rewrite.report.convolutions_before, rewrite.report.convolutions_after
    (24, 3)
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, fx, nn
from torch.fx.node import Argument, Node

from blocks.compiler.graph import (
    BATCH_NORM,
    ChannelCall,
    Conv,
    Editor,
    Slice,
    bind_arguments,
    channels_written,
    group_by,
    has_value,
    is_add,
    is_fresh,
    is_written,
    only_read_through,
    positive_dim,
    read_channel_call,
    read_conv,
    read_slice,
    side_by_side,
    side_by_side_runs,
    sum_inner_nodes,
    sum_terms,
    value_of,
)

# ------------------------------------------------------------------------------------------------- the rules


def _merge_shared_input(editor: Editor) -> int:
    """Rule 1: C convolutions of one tensor → one convolution, weights concatenated along the outputs.

    Returns:
        How many convolutions were merged away (C - 1 for each group of C), 0 if none.
    """
    convs = [c for c in map(read_conv, editor.graph.nodes) if c is not None and c.groups == 1]
    groups = group_by(((c.input, c.weight_shape[1:], c.settings()), c) for c in convs)
    for members in groups.values():
        if len(members) < 2:
            continue
        order = editor.order()
        members.sort(key=lambda c: order[c.node])
        first, x = members[0].node, members[0].input
        needed = [m.weight for m in members] + [m.bias for m in members if m.bias is not None]
        if channels_written(x, 0, value_of(x).shape[1]) or not editor.can_place_before(first, needed):
            continue  # the merged convolution reads x where the first one did: nothing may write into x between
        editor.place_before(first, needed)
        with editor.graph.inserting_before(first):
            merged = _convolution(editor, members[0], x, members, groups=1)
            start = 0
            outputs = []
            for member in members:
                outputs.append(editor.slice(merged, start, start + member.weight_shape[0]))  # (B, out_i, H', W')
                start += member.weight_shape[0]
        for member, output in zip(members, outputs):
            editor.replace(member.node, output)
        return len(members) - 1
    return 0


def _convolution(editor: Editor, like: Conv, x: Node, members: Sequence[Conv], groups: int) -> Node:
    """``torch.conv2d(x, cat(weights), cat(biases))`` with ``like``'s stride, padding and dilation."""
    weight = editor.cat([m.weight for m in members], dim=0)  # (Σ out_i, in / groups, kh, kw)
    bias = None if like.bias is None else editor.cat([m.bias for m in members if m.bias is not None], dim=0)
    return editor.call(torch.conv2d, (x, weight, bias, like.stride, like.padding, like.dilation, groups))


def _merge_grouped(editor: Editor) -> int:
    """Rule 2: C convolutions of C side-by-side channel slices → one grouped convolution of C groups.

    Returns:
        How many convolutions were merged away, 0 if none.
    """
    pieces = []
    for conv in filter(None, map(read_conv, editor.graph.nodes)):
        piece = read_slice(conv.input)
        if piece is not None and piece.dim == 1:
            pieces.append(((piece.base, conv.weight_shape, conv.groups, conv.settings()), (piece, conv)))
    for candidates in group_by(pieces).values():
        for run in side_by_side_runs(candidates):
            members = [conv for _, conv in run]
            first = min((m.node for m in members), key=editor.order().__getitem__)
            needed = [m.weight for m in members] + [m.bias for m in members if m.bias is not None]
            if channels_written(run[0][0].base, run[0][0].start, run[-1][0].stop):
                continue
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


def _merge_per_channel(editor: Editor) -> int:
    """Per channel: the same channel-by-channel call on side-by-side slices → one call on the tensor.

    Returns:
        How many calls were merged away, 0 if none.
    """
    calls = [c for c in map(read_channel_call, editor.graph.nodes) if c is not None]
    groups = group_by(((c.input.base, c.settings()), (c.input, c)) for c in calls)
    for candidates in groups.values():
        for run in side_by_side_runs(candidates):
            members: list[ChannelCall] = [call for _, call in run]
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


def _may_merge_calls(members: Sequence[ChannelCall]) -> bool:
    """Whether merging these calls keeps what every other node of the graph sees."""
    rule, low, high = members[0].rule, members[0].input, members[-1].input
    if not members[0].writes_input and channels_written(low.base, low.start, high.stop):
        return False  # the merged call reads the channels where the first call did: nothing may write them between
    if members[0].writes_input and not (
        is_fresh(low.base) and only_read_through(low.base, {m.input.node for m in members}, low.start, high.stop)
    ):
        # C calls writing into C slices: the merged call writes nothing (it makes a new tensor), which is only
        # the same when no one else can see those channels, through the tensor or anything it is a view of.
        return False
    if rule is BATCH_NORM and members[0].arguments["training"] and members[0].arguments["running_mean"] is not None:
        # Each BN updates its own running statistics: C calls on one shared buffer update it C times in a row,
        # which one update of the concatenation does not reproduce.
        buffers = [m.arguments[name] for m in members for name in ("running_mean", "running_var")]
        if len(set(buffers)) != len(buffers):
            return False
    return True


def _replace_calls(editor: Editor, first: Node, low: Slice, high: Slice, members: Sequence[ChannelCall]) -> None:
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
        if rule is BATCH_NORM and arguments["training"] and arguments["running_mean"] is not None:
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


def _merge_concatenation(editor: Editor) -> int:
    """Concatenation: ``torch.cat`` of slices of one tensor that lie side by side → the slice they cover.

    Only where nothing else reads that tensor: the concatenation was a copy, the slice is a view,
    and what the graph later writes into it would otherwise reach the tensor's other readers.

    Returns:
        How many tensors left a concatenation, 0 if none changed.
    """
    for node in list(editor.graph.nodes):
        if node.op != "call_function" or node.target is not torch.cat or not has_value(node):
            continue
        bound = bind_arguments(node, ("tensors", "dim"), {"dim": 0})
        if bound is None or not isinstance(bound["tensors"], (list, tuple)) or not isinstance(bound["dim"], int):
            continue
        tensors, dim = list(bound["tensors"]), positive_dim(bound["dim"], value_of(node).dim())
        pieces = [read_slice(t) if isinstance(t, Node) else None for t in tensors]
        i = 0
        while i < len(tensors):
            j = i + 1
            while j < len(tensors) and side_by_side(pieces[j - 1], pieces[j], dim):
                j += 1
            run = pieces[i:j]
            first, last = run[0], run[-1]
            if (
                j - i > 1
                and first is not None
                and last is not None
                and only_read_through(first.base, {p.node for p in run if p is not None}, first.start, last.stop)
                and (is_fresh(first.base) or not is_written(node))  # what is written into the view reaches the base
                and not channels_written(first.base, first.start, last.stop)  # the view sees later writes, a copy not
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


def _merge_summed(editor: Editor) -> int:
    """Rule 3, on slices: a sum of C convolutions of C side-by-side slices → one convolution of the tensor.

    The tensor the slices cover IS their concatenation, so nothing is copied: form (a) after
    rules 1 and 2, whose last 1x1s read the C slices of one grouped 3x3's output.

    Returns:
        How many convolutions were merged away, 0 if none.
    """
    for root, terms, members in _sums_of_convolutions(editor):
        pieces = [(piece, conv) for conv in members if (piece := read_slice(conv.input)) is not None and piece.dim == 1]
        for candidates in group_by((piece.base, (piece, conv)) for piece, conv in pieces).values():
            for run in side_by_side_runs(candidates):
                low, high = run[0][0], run[-1][0]
                if channels_written(low.base, low.start, high.stop):
                    continue  # the merged convolution reads the slices at the sum, after the C convolutions did
                with editor.graph.inserting_before(root):
                    x = editor.slice(low.base, low.start, high.stop)  # (B, Σ in_i, H, W)
                _replace_sum(editor, root, terms, [conv for _, conv in run], x)
                return len(run) - 1
    return 0


def _merge_summed_concatenated(editor: Editor) -> int:
    """Rule 3: a sum of C convolutions over C tensors → one convolution over their ``torch.cat``.

    Tried after every other rule: where the C inputs can still become slices of one tensor
    (by the rules that merge what lies before them), :func:`_merge_summed` needs no copy.

    Returns:
        How many convolutions were merged away, 0 if none.
    """
    for root, terms, members in _sums_of_convolutions(editor):
        if any(_written_before_the_sum(conv.input) for conv in members):
            continue  # the concatenation reads the inputs at the sum, after the C convolutions did
        with editor.graph.inserting_before(root):
            x = editor.cat([conv.input for conv in members], dim=1)  # (B, Σ in_i, H, W)
        _replace_sum(editor, root, terms, members, x)
        return len(members) - 1
    return 0


def _written_before_the_sum(x: Node) -> bool:
    """Whether something may write into ``x`` in place (into its channels of its base, if it is a slice)."""
    piece = read_slice(x)
    if piece is not None and piece.dim == 1:
        return channels_written(piece.base, piece.start, piece.stop)
    return channels_written(x, 0, value_of(x).shape[1])


def _sums_of_convolutions(editor: Editor) -> Iterator[tuple[Node, list[Argument], list[Conv]]]:
    """Every sum of the graph (its root node and terms) with ≥ 2 terms that are convolutions alike.

    Alike: the same output channels, kernel, stride, padding and dilation, no groups, inputs of
    the same batch and size (their channels may differ), and each read by the sum alone.
    """
    for root in list(editor.graph.nodes):
        if len(root.users) == 1 and is_add(next(iter(root.users))) and sum_terms(root) is not None:
            continue  # an inner node of a larger sum: the sum's root is handled instead
        terms = sum_terms(root)
        if terms is None or len(terms) < 2:
            continue
        convs = []
        for term in terms:
            conv = read_conv(term) if isinstance(term, Node) and len(term.users) == 1 else None
            if conv is not None and conv.groups == 1:
                x = value_of(conv.input)
                key = (conv.weight_shape[0], conv.weight_shape[2:], conv.settings(), x.shape[0], x.shape[2:])
                convs.append((key, conv))
        for members in group_by(convs).values():
            if len(members) > 1:
                yield root, terms, members


def _replace_sum(editor: Editor, root: Node, terms: Sequence[Argument], members: Sequence[Conv], x: Node) -> None:
    """Replace the sum at ``root``: its terms ``members`` by one convolution of ``x``, the rest added as they were."""
    with editor.graph.inserting_before(root):
        weight = editor.cat([m.weight for m in members], dim=1)  # (out, Σ in_i, kh, kw): W = [W_1 … W_C]
        like = members[0]
        bias = None if like.bias is None else editor.total([m.bias for m in members if m.bias is not None])  # Σ b_i
        merged = editor.call(torch.conv2d, (x, weight, bias, like.stride, like.padding, like.dilation, 1))
        merged_nodes = {m.node for m in members}
        rest = [t for t in terms if t not in merged_nodes and not (type(t) in (int, float) and t == 0)]
        total = editor.total([merged, *rest])
    old = [root, *sum_inner_nodes(root)]
    assert isinstance(total, Node)  # merged is its first term
    root.replace_all_uses_with(total)
    for node in old:  # the old sum, root first: each is then read by nothing
        if not node.users:
            editor.graph.erase_node(node)
    for member in members:
        if not member.node.users:
            editor.graph.erase_node(member.node)
    editor.drop_unused(m.input for m in members)


# ---------------------------------------------------------------------------------------------------- the pass

# In the order they are tried: after every merge, the first rule that applies goes next. Rule 3 on slices
# comes before rule 2, which would otherwise take summed convolutions of slices for a grouped one
# (C·out channels, then summed: correct, but C times the output); rule 3 with a copy comes last.
RULES: dict[str, Callable[[Editor], int]] = {
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
    if not any(has_value(node) for node in gm.graph.nodes if node.op == "placeholder"):  # not from Dynamo
        if example_inputs is None:
            raise ValueError("example_inputs must be given for a graph whose nodes carry no fake values, got None")
        from torch._subclasses.fake_tensor import FakeTensorMode
        from torch.fx.passes.fake_tensor_prop import FakeTensorProp

        FakeTensorProp(gm, FakeTensorMode(allow_non_fake_inputs=True)).propagate(*example_inputs)
    before = count_convolutions(gm.graph)
    editor = Editor(gm.graph)
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
    """One graph that Dynamo traced, before and after :func:`merge_convolutions`, and what it computed.

    Attributes:
        before: the graph as Dynamo handed it to the backend.
        after: the same graph rewritten (it runs eagerly: call it with the graph's inputs).
        report: what the rules did.
        output: what ``model(*inputs)`` returned, computed by the rewritten graph.
    """

    before: fx.GraphModule
    after: fx.GraphModule
    report: MergeReport
    output: Any


def _copy(gm: fx.GraphModule) -> fx.GraphModule:
    """A copy of ``gm`` with a graph of its own (the nodes' recorded values are shared, not copied)."""
    graph = fx.Graph()
    graph.output(graph.graph_copy(gm.graph, {}))
    return fx.GraphModule(gm, graph)


def trace_and_merge(model: nn.Module | Callable[..., Any], *inputs: object) -> Rewrite:
    """Trace ``model(*inputs)`` with Dynamo, rewrite its graph, run it; return both graphs (nothing is compiled).

    The rewritten graph runs eagerly, so this is also how one compares it with the model. A model
    that Dynamo traces into several graphs (graph breaks) gives its first one. Dynamo's caches
    are emptied before and after (``torch._dynamo.reset``): code compiled earlier is compiled again.
    ``model`` runs once: in train mode, its BNs' running statistics are updated.

    Args:
        model: a module or a function of tensors.
        inputs: its inputs.

    Returns:
        The graph before and after, the report, and the output.

    Raises:
        RuntimeError: Dynamo traced no graph (nothing of ``model`` runs torch operations).

    Example:
        >>> block = blocks.build(blocks.BlockSpec(16, 16, cardinality=4, width=2), "b").eval()
        >>> trace_and_merge(block, torch.randn(1, 16, 4, 4)).report.convolutions_after
        3
    """
    import torch._dynamo

    graphs: list[tuple[fx.GraphModule, fx.GraphModule, MergeReport]] = []

    def backend(gm: fx.GraphModule, example_inputs: list[Tensor]) -> Callable[..., Any]:
        before = _copy(gm)
        graphs.append((before, gm, merge_convolutions(gm, example_inputs)))
        return gm.forward

    torch._dynamo.reset()  # a fresh trace, not a cached one
    try:
        output = torch.compile(model, backend=backend)(*inputs)
    finally:
        torch._dynamo.reset()
    if not graphs:
        raise RuntimeError(f"trace_and_merge: Dynamo traced no graph of {type(model).__name__}")
    return Rewrite(*graphs[0], output)


def convolution_table(gm: fx.GraphModule) -> str:
    """The convolutions of ``gm``, one row each, as a Markdown table: channels in and out, kernel, stride, groups.

    Example:
        >>> print(convolution_table(trace_and_merge(block_a, x).after))   # form (a), 8 paths of 14 channels
        | # | in → out | kernel | stride | groups |
        |---|---|---|---|---|
        | 1 | 256 → 112 | 1x1 | 1 | 1 |
        | 2 | 112 → 112 | 3x3 | 1 | 8 |
        | 3 | 112 → 256 | 1x1 | 1 | 1 |
    """
    rows = ["| # | in → out | kernel | stride | groups |", "|---|---|---|---|---|"]
    for node in gm.graph.nodes:
        conv = read_conv(node)
        if conv is not None:
            out, per_group, kh, kw = conv.weight_shape
            stride = conv.stride[0] if conv.stride[0] == conv.stride[1] else "x".join(map(str, conv.stride))
            rows.append(
                f"| {len(rows) - 1} | {per_group * conv.groups} → {out} | {kh}x{kw} | {stride} | {conv.groups} |"
            )
    return "\n".join(rows)
