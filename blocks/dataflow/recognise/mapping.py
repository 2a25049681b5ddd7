"""Pass 5: the block's tensors mapped onto form (c), and a form (c) block rebuilt from them run against it.

Cut out per path, the tensors ARE a form (c) block (:mod:`blocks.core.canonical`):
rebuilt as one and run on the block's own input, it must give the block's own output.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from blocks.core.build import block_shapes, empty_block, set_eps
from blocks.core.spec import BlockSpec
from blocks.dataflow.recognise.reading import Piece, Prov, Reading, group_of
from blocks.dataflow.trace import Op
from blocks.util.numerics import relative_error


# Over 60 lines: the mapping onto form (c) is one slicing rule per level, kept side by side so
# that the three read alike.
def map_onto_form_c(
    r: Reading,
    components: list[tuple[list[int], list[int]]],
    bns: list[tuple[Op, Prov]],
    by_level: dict[int, list[Piece]],
    projection: tuple[Op, Op] | None,
    counts: dict[int, int],
    in_channels: int,
    out_channels: int,
) -> tuple[dict[str, Tensor], tuple[float, ...]] | tuple[None, tuple[float, ...]]:
    """The block's tensors in form (c)'s layout, with each BN's eps (levels 1, 2, 3, projection).

    Path p of the canonical block is component p; inside it, channels keep their order.
    """
    like = by_level[1][0].weight
    if like.device.type == "meta":
        return None, ()
    order1 = [c for ins, _ in components for c in sorted(ins)]  # canonical level-1 index -> id
    order2 = [c for _, outs in components for c in sorted(outs)]
    rank1 = {c: i for i, c in enumerate(order1)}
    rank2 = {c: i for i, c in enumerate(order2)}
    width = counts[2] // len(components)
    in_order = order1 == list(range(counts[1])) and order2 == list(range(counts[2]))
    shapes = {1: (counts[1], in_channels, 1, 1), 2: (counts[2], width, 3, 3), 3: (out_channels, counts[2], 1, 1)}
    groups = {1: 1, 2: len(components), 3: 1}
    weights = {}
    for level, shape in shapes.items():
        (piece, *more) = by_level[level]
        if in_order and not more and piece.groups == groups[level] and tuple(piece.weight.shape) == shape:
            weights[level] = piece.weight.detach()  # form (c)'s own layout already: the usual case, not copied
            continue
        target = weights[level] = like.new_zeros(shape)
        for piece in by_level[level]:
            for group in range(piece.groups):
                outs, ins = group_of(piece, group)
                rows = [rank1[o] if level == 1 else rank2[o] if level == 2 else o for o in outs]
                if level == 1:
                    cols = list(ins)
                else:
                    cols = [rank1[i] % width for i in ins] if level == 2 else [rank2[i] for i in ins]
                per = len(outs)
                _place(target, rows, cols, piece.weight[group * per : (group + 1) * per])  # (out_g, in_g, k, k)
    conv1, conv2, conv3 = weights[1], weights[2], weights[3]
    canonical = {"conv1.weight": conv1, "conv2.weight": conv2, "conv3.weight": conv3}
    biases = {level: summed_bias(r, by_level[level], counts.get(level, out_channels)) for level in (1, 2, 3)}
    eps = []
    orders = {1: _index(order1, like), 2: _index(order2, like), 3: None}
    for level, name in ((1, "bn1"), (2, "bn2"), (3, "bn3")):
        order = orders[level]
        norm = norm_tensors(r, [(op, p) for op, p in bns if p.level == level], level, counts.get(level, out_channels))
        if norm is None:
            return None, ()
        tensors, epsilon = norm
        tensors["running_mean"] = tensors["running_mean"] - biases[level]  # a conv bias before a BN folds here
        eps.append(epsilon)
        for key, tensor in tensors.items():
            canonical[f"{name}.{key}"] = (
                tensor if order is None or tensor.ndim == 0 else tensor[order.to(tensor.device)]
            )
    if projection is not None:
        conv, bn = projection
        weight = r.weight_of(conv)
        assert weight is not None
        norm = norm_tensors(r, [(bn, Prov(4, tuple(range(weight.shape[0]))))], 4, weight.shape[0])
        if norm is None:
            return None, ()
        tensors, epsilon = norm
        bias = r.bias_of(conv)
        if bias is not None:
            tensors["running_mean"] = tensors["running_mean"] - bias
        eps.append(epsilon)
        canonical["downsample.0.weight"] = weight.detach()  # not copied
        canonical.update({f"downsample.1.{key}": tensor for key, tensor in tensors.items()})
    return canonical, tuple(eps)


def summed_bias(r: Reading, pieces: list[Piece], channels: int) -> Tensor | float:
    """Each output channel's conv bias (summed over the pieces that make it), or 0."""
    if all(p.bias is None for p in pieces):
        return 0.0
    like = next(p.bias for p in pieces if p.bias is not None)
    assert like is not None
    total = torch.zeros(channels, dtype=like.dtype, device=like.device)
    for piece in pieces:
        if piece.bias is not None:
            total[torch.tensor(piece.outputs, device=like.device)] += piece.bias
    return total


def norm_tensors(
    r: Reading, bns: list[tuple[Op, Prov]], level: int, channels: int
) -> tuple[dict[str, Tensor], float] | None:
    """A level's BN tensors laid out by channel id, and their eps; None if they cannot be (mixed eps, no stats)."""
    if not bns:
        return None
    first = bns[0][0]
    sample = r.tensor(r.arg_value(first, 0))
    assert sample is not None
    full = {
        key: torch.zeros(channels, dtype=sample.dtype, device=sample.device)
        for key in ("weight", "bias", "running_mean", "running_var")
    }
    epsilons = set()
    tracked = torch.tensor(0, dtype=torch.long)
    for op, prov in bns:
        weight, bias, mean, var = (r.tensor(r.arg_value(op, i)) for i in (1, 2, 3, 4))
        if mean is None or var is None:
            return None  # no running statistics: eval mode uses the batch's, which no form (c) BN does
        ids = torch.tensor(prov.channels if level != 3 else range(channels), device=sample.device)
        full["weight"][ids] = weight if weight is not None else 1.0
        full["bias"][ids] = bias if bias is not None else 0.0
        full["running_mean"][ids] = mean
        full["running_var"][ids] = var
        epsilons.add(float(op.args[-1]))  # type: ignore[arg-type]
        tracked = torch.maximum(tracked, batches_tracked(r, op))
    if len(epsilons) != 1:
        return None
    full["num_batches_tracked"] = tracked
    return full, epsilons.pop()


def batches_tracked(r: Reading, op: Op) -> Tensor:
    """The num_batches_tracked of the BN module whose weight this op used, or 0."""
    name = r.values[r.arg_value(op, 3) or 0].name
    if name.endswith("running_mean"):
        module = r.trace.model.get_submodule(name.rsplit(".", 1)[0]) if "." in name else r.trace.model
        counter = getattr(module, "num_batches_tracked", None)
        if isinstance(counter, Tensor):
            return counter.detach().cpu().clone()
    return torch.tensor(0, dtype=torch.long)


def measure(
    r: Reading, canonical: dict[str, Tensor] | None, eps: tuple[float, ...], in_channels: int, out_channels: int,
    cardinality: int, width: int, stride: int, x: int, output: int,
) -> tuple[dict[str, Tensor] | None, float | None]:  # fmt: skip
    """``canonical`` in form (c)'s key order, and the max relative error of a form (c) block rebuilt from it.

    (None, None) when the tensors do not make a form (c) block of that shape; the error
    is None on the meta device, where there are no values to compare.
    """
    if canonical is None:
        return None, None
    try:
        spec = BlockSpec(in_channels, out_channels, cardinality, width, stride)
    except ValueError:
        return None, None
    shapes = block_shapes(spec, "c")
    if {k for k, _ in shapes} != set(canonical) or any(canonical[k].shape != shape for k, shape in shapes):
        return None, None
    canonical = {k: canonical[k] for k, _ in shapes}
    reference = r.values[output].tensor
    if reference.device.type == "meta":
        return canonical, None
    template = set_eps(empty_block(spec, "c", training=False), eps)  # meta: the tensors go in at the call
    with torch.no_grad():
        rebuilt = torch.func.functional_call(template, canonical, (r.values[x].tensor,), strict=True)
    if rebuilt.shape != reference.shape:
        return None, None
    return canonical, relative_error(rebuilt, reference) if bool(reference.abs().max() > 0) else 0.0


def _place(target: Tensor, rows: list[int], cols: list[int], weight: Tensor) -> None:
    """``target[rows][:, cols] = weight``; a plain slice copy when both run in order without gaps (the usual case)."""
    if rows == list(range(rows[0], rows[0] + len(rows))) and cols == list(range(cols[0], cols[0] + len(cols))):
        target[rows[0] : rows[0] + len(rows), cols[0] : cols[0] + len(cols)] = weight
    else:
        index = torch.tensor(rows, device=target.device)[:, None], torch.tensor(cols, device=target.device)[None, :]
        target[index] = weight


def _index(ids: Sequence[int], like: Tensor) -> Tensor:
    return torch.tensor(ids, dtype=torch.long, device=like.device)
