"""The orchestrator: one forward pass recorded, then every residual add read pass by pass into a block.

:func:`recognise` runs the model once (:func:`blocks.dataflow.trace.record`); for each
residual add (:mod:`.residuals`) :func:`read_block` follows the branch's channels
(:mod:`.channels`), finds its paths (:mod:`.paths`), its deviations (:mod:`.deviations`),
maps its tensors onto form (c) and measures them (:mod:`.mapping`), and names its module
(:mod:`.network`), which also describes the stem and the head.
"""

from __future__ import annotations

import dataclasses
import math

import torch
from torch import nn

from blocks.core.guards import guard_forward, memory_limit
from blocks.core.spec import check_input_size
from blocks.dataflow.recognise.channels import follow_channels
from blocks.dataflow.recognise.deviations import (
    find_conv_deviations,
    find_norm_deviations,
    read_shortcut,
    shared_weights,
)
from blocks.dataflow.recognise.mapping import map_onto_form_c, measure
from blocks.dataflow.recognise.network import block_module, describe, stem_deviations, stem_variants
from blocks.dataflow.recognise.paths import paths
from blocks.dataflow.recognise.reading import (
    ACTIVATIONS,
    ADDS,
    RELUS,
    NotABottleneck,
    Piece,
    Prov,
    Reading,
    changes_nothing,
    group_of,
)
from blocks.dataflow.recognise.records import (
    NO_CANONICAL,
    Deviation,
    DeviationKind,
    RecognisedBlock,
    Recognition,
    Variant,
    VariantKind,
)
from blocks.dataflow.recognise.residuals import branch_ops, residual_add
from blocks.dataflow.recognise.variants import (
    PRE_ACTIVATION_SYMPTOMS,
    Gate,
    activation_variant,
    find_gates,
    gate_variant,
    pre_activation_variant,
    shortcut_variant,
    smoothing_variant,
)
from blocks.dataflow.trace import Op, PassTooLarge, Trace, record
from blocks.util.numerics import evaluating

_SEED = 0
# What reading one block's dataflow may raise where the model does something no pass foresaw. The block is then
# reported as not read (with the error), and the other blocks are read: an audit never crashes on a model that runs.
_READING_FAILURES = (NotImplementedError, AssertionError, KeyError, IndexError, TypeError, ValueError, RuntimeError)
# How many times its input's bytes one layer's output may hold, at most, before the recorder sees it: a 1x1
# from 3 to 4,096 channels at full resolution makes 1,365 times. Inputs within this of the limit skip the fake pass.
_LAYER_GROWTH = 10_000


def recognise(model: nn.Module, input_size: tuple[int, ...]) -> Recognition:
    """Run ``model`` once on a random input and find every residual bottleneck by its dataflow.

    The model runs in eval mode under ``torch.no_grad()`` (its modes are restored, and
    nothing in it changes), on ``torch.randn(input_size)`` drawn from a fixed seed in
    the dtype and on the device of its first parameter.

    Args:
        model: any ``nn.Module``: a network or one block, written in any style.
        input_size: its input's shape, batch first, e.g. ``(2, 3, 64, 64)``.

    Returns:
        A :class:`Recognition`: the blocks with their shapes, C, d, shortcut, layout and
        form (c) tensors, the stem and the head.

    Raises:
        TypeError: ``model`` is not an ``nn.Module``.
        ValueError: ``input_size`` is not a tuple of positive ints starting with the
            batch size, the input alone would not fit in memory (the message gives the
            estimate), or the model fails on an input of that size.

    Example:
        >>> found = recognise(blocks.resnext(50, 32, 4), (1, 3, 64, 64))
        >>> len(found.blocks), found.blocks[0].widths, found.layouts
        (16, '32x4d', {'c'})
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    check_input_size(input_size)
    trace = _run(model, input_size)
    reader = Reading(trace)
    blocks, others = find_blocks(reader)
    first = blocks[0] if blocks else None
    return Recognition(
        model=type(model).__name__,
        input_size=input_size,
        blocks=tuple(blocks),
        others=tuple(others),
        stem=describe(reader, 0, reader.block_start[0]) if first else (),
        head=describe(reader, reader.block_end[-1] + 1, len(trace.ops)) if first else (),
        mutated_input=bool(trace.mutated_inputs),
        trace=trace,
        stem_deviations=stem_deviations(reader, reader.block_start[0]) if first else (),
        stem_variants=stem_variants(reader, reader.block_start[0]) if first else (),
    )


def _run(model: nn.Module, input_size: tuple[int, ...]) -> Trace:
    """Record one eval-mode forward pass of ``model`` on a seeded random input; restore its modes."""
    like = next(iter(model.parameters()), None)
    dtype = like.dtype if like is not None and like.is_floating_point() else torch.get_default_dtype()
    device = like.device if like is not None else torch.device("cpu")
    # The recorded pass keeps every value it makes. The recorder stops it at the memory limit; an input so large
    # that one layer alone could pass the limit is first estimated by a pass under fake tensors (as long as a
    # forward), so that nothing is allocated at all.
    limit = memory_limit() if device.type != "meta" else None
    if limit is not None and math.prod(input_size) * dtype.itemsize * _LAYER_GROWTH > limit:
        guard_forward("recognise", model, input_size, dtype, device)
    generator = torch.Generator().manual_seed(_SEED)
    x = torch.randn(input_size, generator=generator, dtype=dtype).to(device)
    try:
        with evaluating(model):
            return record(model, x, budget=limit)
    except PassTooLarge as stopped:
        assert limit is not None  # a budget stops the pass only where one was given
        raise ValueError(
            f"recognise: one forward pass on an input of input_size={input_size} in {dtype} would need more than"
            f" the limit of {limit / 2**30:,.1f} GiB (the recorded pass held {stopped.held / 2**30:,.1f} GiB after"
            f" {stopped.ops:,} operators); a smaller input_size reads the same blocks"
        ) from None
    except (RuntimeError, ValueError, TypeError, IndexError) as error:
        raise ValueError(
            f"the model fails on an input of input_size={input_size}:"
            f" {type(error).__name__}: {str(error).splitlines()[0]}"
        ) from error


def find_blocks(r: Reading) -> tuple[list[RecognisedBlock], list[str]]:
    found: list[RecognisedBlock] = []
    others: list[str] = []
    for op in r.ops:
        if op.name not in ADDS or len(op.args) < 2 or not all(r.arg_value(op, i) is not None for i in (0, 1)):
            continue
        a, b = r.arg_value(op, 0), r.arg_value(op, 1)
        assert a is not None and b is not None
        if not (r.is_data(a) and r.is_data(b)) or a == b or r.values[a].tensor.shape != r.values[b].tensor.shape:
            continue  # a residual adds two tensors of one shape; a broadcast add is a gate's (global context)
        residual = residual_add(r, a, b)
        if residual is None:
            continue
        x, shortcut_ops, branch_end = residual
        try:
            block = read_block(r, op, x, shortcut_ops, branch_end)
        except NotABottleneck as why:
            others.append(f"{op.module or '(model)'} ({op.source}): {why}")
            continue
        except _READING_FAILURES as failure:  # a dataflow no pass foresaw: named, never a crash of the audit
            first = (str(failure).splitlines() or [""])[0]
            others.append(f"{op.module or '(model)'} ({op.source}): this package could not read its branch"
                          f" ({type(failure).__name__}: {first}); please report the model")  # fmt: skip
            continue
        found.append(block)
    return found, others


# Over 60 lines: one block read pass by pass (branch, levels, paths, deviations, mapping), in the
# order a reader follows it, each pass a function of its own module.
def read_block(r: Reading, add: Op, x: int, shortcut_ops: list[Op], branch_end: int) -> RecognisedBlock:
    deviations: list[Deviation] = []
    variants: list[Variant] = []
    branch = branch_ops(r, x, branch_end)
    assert branch is not None
    out_value = add.outputs[0]
    relu_after = [i for i in r.readers[out_value] if r.ops[i].name in RELUS or r.ops[i].name in ACTIVATIONS]
    block_output = r.ops[relu_after[0]].outputs[0] if relu_after else out_value
    if not relu_after:
        deviations.append(
            Deviation(DeviationKind.NO_RELU_AFTER_ADD, "no ReLU follows the add: the block's output can be negative")
        )
    if add.name == "add_" and r.arg_value(add, 0) == x:
        deviations.append(
            Deviation(
                DeviationKind.INPUT_IN_PLACE, "the add writes the block's output into its input tensor in place (+=)"
            )
        )
    in_channels = r.values[x].channels
    out_channels = r.values[out_value].channels

    gates = find_gates(r, branch)
    skip = frozenset(i for gate in gates for i in gate.ops)
    pieces, bns, relus, gated = follow_channels(r, x, branch, branch_end, {g.mul: g.value for g in gates}, skip)
    by_level = {level: [p for p in pieces if p.level == level] for level in (1, 2, 3)}
    if not by_level[3] or not by_level[2] or not by_level[1]:
        kinds = sorted({p.kernel for p in pieces})
        raise NotABottleneck(
            f"a residual block with {len(pieces)} convolutions in a row of kernel sizes {kinds},"
            " not a 1x1 -> 3x3 -> 1x1 bottleneck"
        )
    counts = {level: (max((max(p.outputs) for p in by_level[level]), default=-1) + 1) for level in (1, 2)}
    shared = shared_weights(r, pieces)
    if shared:
        deviations.append(Deviation(DeviationKind.SHARED_WEIGHTS, shared))
    deviations += find_conv_deviations(r, by_level)
    deviations += find_norm_deviations(r, bns, relus, pieces, counts)
    smoothing, smoothing_stride = smoothing_variant(r, [(r.ops[i], r.smoothing[i]) for i in branch if i in r.smoothing])
    stride = max(p.stride for p in by_level[1]) * max(p.stride for p in by_level[2]) * smoothing_stride
    if smoothing is not None:
        variants.append(smoothing)
    projection: tuple[Op, Op] | None
    variants += _branch_variants(r, gates, gated, pieces, [op for op, _ in relus] + [r.ops[i] for i in relu_after])
    shortcut_path = [op for op in reversed(shortcut_ops) if not changes_nothing(op)]  # from X to the add
    resnet_d = shortcut_variant(r, shortcut_path, stride)
    if resnet_d is not None:
        conv, bn = (op for op in reversed(shortcut_ops) if op.name not in ("avg_pool2d",) and not changes_nothing(op))
        shortcut, projection = "average pool -> 1x1 conv -> BN (ResNet-D)", (conv, bn)
        variants.append(dataclasses.replace(resnet_d, module=_shortcut_module(r, x, add)))
    else:
        shortcut, shortcut_deviation, projection = read_shortcut(r, shortcut_ops, x, add, stride)
        deviations += shortcut_deviation
    pre_activation = pre_activation_variant(r, pieces, bns, deviations, shortcut_ops)
    if pre_activation is not None:
        variants.append(pre_activation)
        deviations = [d for d in deviations if d.kind not in PRE_ACTIVATION_SYMPTOMS]
        shortcut = shortcut.partition(" (")[0]
        pooled = shortcut_variant(r, shortcut_path, stride, normalised=False)  # ResNet-D's, in a pre-activation block
        if pooled is not None:
            variants.append(dataclasses.replace(pooled, module=_shortcut_module(r, x, add)))
    components, path_deviation = paths(r, by_level[2], counts[1])
    deviations += path_deviation
    cardinality = len(components)
    width = counts[2] // cardinality if cardinality else 0
    narrowest = min(len(set(group_of(p, g)[1])) for p in by_level[1] for g in range(p.groups))
    if narrowest < in_channels:
        deviations.append(
            Deviation(DeviationKind.GROUPED_FIRST_CONV,
                      f"its first 1x1 is grouped: each of its {counts[1]} output channels reads only {narrowest}"
                      f" of the {in_channels} input channels")
        )  # fmt: skip
    layout = "a" if len(by_level[3]) > 1 else "b" if len(by_level[2]) > 1 else "c"
    parameters, per_call = r.trace.parameter_counts(r.with_weights([*branch, *(o.index for o in shortcut_ops)]))
    canonical = None
    eps: tuple[float, ...] = ()
    structural = not any(d.kind in NO_CANONICAL for d in deviations)
    flat = all(p.weight.ndim == 4 for p in pieces)  # 1-D and 3-D convolutions have no form (c) block here
    if structural and flat and cardinality and counts[1] == counts[2] and (projection or shortcut == "identity"):
        canonical, eps = map_onto_form_c(r, components, bns, by_level, projection, counts, in_channels, out_channels)
    where, replace = block_module(r, x, block_output, out_value, branch, add)
    canonical, error = measure(
        r, canonical, eps, in_channels, out_channels, cardinality, width, stride, x, block_output
    )
    if variants:
        error = None  # form (c) alone does not compute a block with variants: carried, they are checked whole
    r.block_start.append(min([*branch, *(o.index for o in shortcut_ops)]))
    r.block_end.append(relu_after[0] if relu_after else add.index)
    return RecognisedBlock(
        where=where, source=add.source, in_channels=in_channels, out_channels=out_channels, stride=stride,
        cardinality=cardinality, width=width, shortcut=shortcut, layout=layout, canonical=canonical,
        error=error, deviations=tuple(deviations), replace=replace, parameters=parameters,
        per_call_parameters=per_call, eps=eps, variants=tuple(variants),
        input_shape=tuple(r.values[x].tensor.shape),
    )  # fmt: skip


def _branch_variants(
    r: Reading, gates: list[Gate], gated: dict[int, Prov], pieces: list[Piece], activations: list[Op]
) -> list[Variant]:
    """The gates, the activations other than ReLU, and the convolutions of other dimensions of one block."""
    found = []
    last = frozenset(i for i, piece in enumerate(pieces) if piece.level == 3)
    for gate in gates:
        prov = gated[gate.mul]
        found.append(gate_variant(gate, prov.level, prov.level == 3 and prov.pieces == last))
    activation = activation_variant(r, activations)
    if activation is not None:
        leaf = next((op.module for op in activations if op.name in ACTIVATIONS and op.module), "")
        module = r.trace.model.get_submodule(leaf) if leaf else None
        carried = module is not None and not list(module.children()) and not list(module.parameters(recurse=False))
        found.append(dataclasses.replace(activation, module=leaf if carried else ""))
    dims = sorted({p.weight.ndim - 2 for p in pieces} - {2})
    if dims:
        found.append(Variant(VariantKind.CONV_DIMS, "in its branch",
                             f"its convolutions are {'-D, '.join(map(str, dims))}-D, not 2-D"))  # fmt: skip
    return found


def _shortcut_module(r: Reading, x: int, add: Op) -> str:
    """The module whose one call is the whole shortcut (X in, the add's other input out), or ""."""
    ends = set(r.data_inputs(add))
    calls = [c for c in r.trace.calls if c.input == x and c.output in ends and c.name]
    once = [c for c in calls if r.modules_called[id(c.module)] == 1]
    return once[-1].name if once else ""
