"""What a block or a network costs: parameters and multiply-adds, counted three ways.

The paper's "FLOPs" are multiply-adds (MACs) of one image (Xie et al., 2017,
Table 1: ResNet-50 4.1 and ResNeXt-50 4.2 "FLOPs ×10^9"), counted for the
convolutions and the fully-connected layer; BN, ReLU, pooling and the residual
additions are left out, as in the paper and torchvision's model cards. The paper's
parameter counts leave out BN too (``Complexity.weight_params``): ResNet-50's
"25.5M" is 25,503,912, or 25,557,032 with BN as torchvision counts (``params``).

The closed form, for a convolution with kernel k_h×k_w, c_in input and c_out
output channels in g groups (g = C for form (c)'s 3x3, else 1):

    every output value (one of c_out·H_out·W_out) is a dot product over its group's
    c_in/g input channels and the k_h·k_w kernel positions, so

        params = k_h·k_w·(c_in/g)·c_out          (+ c_out if there is a bias)
        MACs   = k_h·k_w·(c_in/g)·c_out · H_out·W_out = (weight params) · H_out·W_out

    and a Linear layer is the case k = 1, H_out = W_out = 1: MACs = in·out.

Grouping divides both by g: form (c)'s 3x3 on C·d channels in C groups costs
9·d·(C·d)·H·W MACs, exactly C paths of 9·d·d·H·W each, as forms (a) and (b) have.

:func:`complexity` measures every convolution and linear layer three independent ways
and reports where they disagree:

1. the closed form above, from each operator's weight and output shapes, seen at the dispatch
   level (below every module): a layer called through ``.forward()`` (which skips module hooks)
   or written as ``F.conv2d`` over a parameter counts as well, as it does in :func:`blocks.audit`;
2. ``torchinfo.summary``, which reports MACs for the whole batch (divided here by the
   batch size), also counts a layer's bias additions (one per output value: added to
   the closed form before comparing; our convolutions have no bias, the fc has 1000),
   and gives each BatchNorm 2 MACs per channel (its weight and bias, not per pixel;
   kept out of the per-layer list, included in the total ``torchinfo_macs``);
3. ``torch.utils.flop_counter.FlopCounterMode``, which counts each MAC as 2 FLOPs
   (one multiply, one add) for the whole batch: divided here by 2 and the batch size.

What makes forms (a), (b) and (c) differ in speed though not in arithmetic
(operator calls, bytes written) is counted by :mod:`blocks.measure.census`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import cast

import torch
import torchinfo
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.utils.flop_counter import FlopCounterMode

from blocks.core.build import build
from blocks.core.guards import META_HINT, guard_forward
from blocks.core.spec import BlockSpec, check_input_size
from blocks.measure.census import OperatorCounter
from blocks.util.counts import WEIGHT_ARGUMENT, operator_multiply_adds
from blocks.util.dispatch import Call, Recorder
from blocks.util.numerics import evaluating

# Paper Table 2: the conv2 block templates at (nearly) the same complexity, (C, d).
TABLE2_TEMPLATES: tuple[tuple[int, int], ...] = ((1, 64), (2, 40), (4, 24), (8, 14), (32, 4))
TABLE2_CHANNELS = 256  # the conv2 stage's block input and output channels
TABLE2_SIZE = 56  # the conv2 stage's feature map, for 224x224 images

_COUNTED = (nn.Conv2d, nn.Linear)  # the layers whose MACs the paper counts


@dataclass(frozen=True)
class LayerCost:
    """One convolution or linear layer, counted three ways (MACs per image, over every call of it).

    Attributes:
        name: the layer's name in the module, e.g. ``"layer1.0.conv2"``: the name of the module that
            holds its weight ("" for the module itself), or ``"(convolution 3)"`` for a weight no module holds.
        kind: ``"Conv2d"``, ``"Linear"`` (its module's class), or ``"convolution"``, ``"linear"``
            for a weight that is not a Conv2d's or Linear's (``F.conv2d`` over a parameter).
        shape: the layer's shape in words, e.g. ``"3x3, 128->128, 32 groups, stride 1"``.
        output_size: the layer's output for ONE image, e.g. ``(128, 56, 56)``.
        params: the layer's parameters, by the closed form.
        bias_adds: additions of the bias, one per output value (0 with ``bias=False``, as all
            our convolutions); not in ``macs``, as in the paper, but torchinfo counts them.
        macs: multiply-adds per image, by the closed form.
        calls: how many times it ran in the pass (each call's MACs are counted).
        torchinfo_params: the parameters torchinfo counts.
        torchinfo_macs: torchinfo's MACs divided by the batch size (``macs + bias_adds``).
        flop_counter_macs: FlopCounterMode's FLOPs divided by 2 and by the batch size.

    The last three are None where that method cannot see the layer: torchinfo and FlopCounterMode's
    per-module counts see a layer through its module's hooks, which a call of ``layer.forward(x)``
    skips and a functional weight has none of (``Complexity.hookless`` lists them).
    """

    name: str
    kind: str
    shape: str
    output_size: tuple[int, ...]
    params: int
    bias_adds: int
    macs: int
    calls: int
    torchinfo_params: int | None
    torchinfo_macs: int | None
    flop_counter_macs: int | None


@dataclass(frozen=True)
class Complexity:
    """The cost of one block or network for one image, see :func:`complexity`.

    Attributes:
        params: every parameter (BN included), as torchvision's model cards count them.
        macs: multiply-adds of all convolution and linear layers per image: the paper's "FLOPs".
        layers: the convolution and linear layers, in the order they first ran.
        torchinfo_params: torchinfo's total parameters.
        torchinfo_macs: torchinfo's total MACs per image: ``macs`` plus its bias and BN terms, less
            what it guesses for a module whose weight runs through no hook of a layer (``hookless``).
        flop_counter_macs: FlopCounterMode's total FLOPs / 2 per image, every op of the pass.
        modules: number of modules (``len(list(module.modules()))``), the module itself included.
        conv_calls: convolutions run per forward pass: one kernel launch each.
        activation_bytes: bytes of the tensors the forward pass writes, per image (every
            op output that is not a view or an in-place update; the input not included).
        disagreements: one sentence per count on which the three methods disagree
            beyond the documented differences; empty when all agree.
        hookless: the layers no module hook saw (called as ``layer.forward(x)``, or functional):
            counted by the closed form and by FlopCounterMode's total, left out of the per-layer
            comparisons and of torchinfo's total, which cannot see them.
    """

    params: int
    macs: int
    layers: tuple[LayerCost, ...]
    torchinfo_params: int
    torchinfo_macs: int
    flop_counter_macs: int
    modules: int
    conv_calls: int
    activation_bytes: int
    disagreements: tuple[str, ...]
    hookless: tuple[str, ...] = ()

    @property
    def agree(self) -> bool:
        """Whether the three counting methods agree on every layer and total."""
        return not self.disagreements

    @property
    def weight_params(self) -> int:
        """Parameters of the Conv2d and Linear layers only (no BN), as the paper counts them."""
        return sum(layer.params for layer in self.layers)


@dataclass(frozen=True)
class Template:
    """One column of the paper's Table 2: a conv2-stage block at about 70k params, 0.22 GFLOPs.

    Attributes:
        cardinality: C, the number of paths.
        width: d, the channels of one path.
        grouped_channels: C·d, the channels of the grouped 3x3 ("width of group conv.").
        params: every parameter of the block, BN included.
        weight_params: the convolutions' parameters only, as the paper counts them (~70k).
        macs: multiply-adds per image on the 56x56 conv2 feature map (~0.22 billion).
    """

    cardinality: int
    width: int
    grouped_channels: int
    params: int
    weight_params: int
    macs: int


def complexity(spec_or_module: BlockSpec | nn.Module, input_size: tuple[int, ...]) -> Complexity:
    """Count parameters and multiply-adds of a block or network, three independent ways.

    See the module docstring for the closed form and the three methods. To count a
    big network without allocating its weights, build it on the meta device:
    ``with torch.device("meta"): net = blocks.resnext(101, 32, 8)``; all three
    methods only need shapes.

    Args:
        spec_or_module: a :class:`BlockSpec` (built as form (c); params and MACs are the
            same in every form), or any module (a block, a network), counted as it is.
            Its BN layers run in eval mode so nothing in it changes.
        input_size: the input's shape INCLUDING the batch dimension, e.g. ``(1, 3, 224, 224)``;
            every count is reported per image.

    Returns:
        A :class:`Complexity`; check ``.agree`` / ``.disagreements``.

    Raises:
        ValueError: ``input_size`` is not a tuple of positive ints with a batch dimension,
            does not fit the spec's ``in_channels``, or the input alone would be over the
            memory limit (see :func:`blocks.core.build.guard_memory`; a meta model needs
            none); or the module fails on the input. The message names the module and the input.
        TypeError: ``spec_or_module`` is neither a BlockSpec nor a module.

    Example:
        >>> cost = complexity(BlockSpec(256, 256, cardinality=32, width=4), (1, 256, 56, 56))
        >>> cost.weight_params, cost.macs
        (70144, 219971584)
    """
    module = _as_module(spec_or_module, input_size)
    batch = input_size[0]
    watched = _watched_pass(module, input_size)
    layers = tuple(_layer_costs(module, watched, batch))
    hookless = tuple(layer.name for layer in layers if layer.torchinfo_macs is None)
    bn_macs = sum(row.macs for row in watched.info.summary_list if isinstance(row.module, _BatchNorm))
    cost = Complexity(
        params=sum(p.numel() for p in module.parameters()),
        macs=sum(layer.macs for layer in layers),
        layers=layers,
        torchinfo_params=watched.info.total_params,
        torchinfo_macs=_torchinfo_total(module, watched, set(hookless)) // batch,
        flop_counter_macs=watched.flops.get_total_flops() // (2 * batch),
        modules=len(list(module.modules())),
        conv_calls=watched.operators.calls["convolution"],
        activation_bytes=watched.operators.bytes_written // batch,
        disagreements=(),
        hookless=hookless,
    )
    return dataclasses.replace(cost, disagreements=_disagreements(cost, bn_macs // batch))


@dataclass
class _Watched:
    """What the three methods saw of one forward pass: the counted operators, torchinfo, FLOPs, all operators."""

    counted: _CountedOperators
    info: torchinfo.ModelStatistics
    flops: FlopCounterMode
    operators: OperatorCounter
    hooked: set[int]  # ids of the modules called through their hooks (``module(x)``, not ``module.forward(x)``)


def _watched_pass(module: nn.Module, input_size: tuple[int, ...]) -> _Watched:
    """One eval-mode forward pass (torchinfo's) on zeros of ``input_size``, watched by the three methods.

    1. each convolution and linear operator is recorded for the closed form, 2. torchinfo counts,
    3. FlopCounterMode counts each op. Modes entered later see an op first: OperatorCounter
    sees every op, FlopCounterMode all but the batch norms, which _MetaBatchNorm answers
    (they have no FLOPs for it anyway). BN uses its running statistics and updates nothing.
    A global forward hook notes which modules ran through their hooks.
    """
    parameter = next(module.parameters(), None)
    like = torch.zeros(()) if parameter is None else parameter  # the input takes the model's dtype and device
    guard_forward("complexity", module, input_size, like.dtype, like.device, META_HINT)
    x = like.new_zeros(input_size)
    try:
        with (
            evaluating(module),
            _hooked_modules() as hooked,
            FlopCounterMode(display=False) as flops,
            _MetaBatchNorm(),
            _CountedOperators(module) as counted,
            OperatorCounter() as operators,
        ):
            info = torchinfo.summary(module, input_data=x, cache_forward_pass=False, mode="eval", verbose=0)
    except RuntimeError as error:  # torchinfo's "Failed to run torchinfo", raised from the model's own error
        cause = error.__cause__ or error
        first_line = (str(cause).splitlines() or [""])[0]
        raise ValueError(
            f"complexity: {type(module).__name__} fails on an input of input_size={input_size}:"
            f" {type(cause).__name__}: {first_line}"
        ) from cause
    return _Watched(counted, info, flops, operators, hooked)


def _torchinfo_total(module: nn.Module, watched: _Watched, hookless: set[str]) -> int:
    """torchinfo's total MACs (for the batch), less its guesses for the modules holding hookless layers' weights."""
    names = {id(m): name for name, m in module.named_modules()}
    guessed = sum(
        row.macs for row in watched.info.summary_list if row.is_leaf_layer and names.get(id(row.module)) in hookless
    )
    return int(watched.info.total_mult_adds) - guessed


def _layer_costs(module: nn.Module, watched: _Watched, batch: int) -> Iterator[LayerCost]:
    """Each layer's closed form over its calls, beside torchinfo's and FlopCounterMode's counts of it (per image)."""
    names = {id(m): name for name, m in module.named_modules()}
    info: dict[str, tuple[int, int]] = {}  # a layer's (params, MACs) over its calls, as torchinfo counts them
    for row in watched.info.summary_list:
        if row.is_leaf_layer and id(row.module) in names:
            params, macs = info.get(names[id(row.module)], (row.num_params, 0))
            info[names[id(row.module)]] = (params, macs + row.macs)
    flops = watched.flops.get_flop_counts()  # keyed "<root class>.<layer name>", or "<root class>" for the root
    root = type(module).__name__
    for name, calls in watched.counted.layers.items():
        first = calls[0]
        layer = module.get_submodule(name) if first.owned else None
        seen = layer is not None and isinstance(layer, _COUNTED) and id(layer) in watched.hooked
        bias = first.output_shape[1] if first.bias else 0  # one bias per output channel
        yield LayerCost(
            name=name,
            kind=type(layer).__name__ if isinstance(layer, _COUNTED) else first.operator_kind,
            shape=first.shape_text,
            output_size=first.output_shape[1:],
            params=math.prod(first.weight_shape) + bias,
            bias_adds=sum(call.bias_adds(batch) for call in calls),
            macs=sum(call.macs(batch) for call in calls),
            calls=len(calls),
            torchinfo_params=info[name][0] if seen and name in info else None,
            torchinfo_macs=info[name][1] // batch if seen and name in info else None,
            flop_counter_macs=(
                sum(flops.get(f"{root}.{name}" if name else root, {}).values()) // (2 * batch) if seen else None
            ),
        )


def table2_templates(size: int = TABLE2_SIZE) -> list[Template]:
    """The paper's Table 2: conv2 block templates of cardinality 1, 2, 4, 8, 32 at ~equal cost.

    Each is a 256 -> 256 block (identity shortcut), widths d = 64, 40, 24, 14, 4,
    counted by :func:`complexity` on a ``size`` x ``size`` input.

    Args:
        size: height and width of the block's input (56: the conv2 stage at 224x224).

    Returns:
        One :class:`Template` per cardinality, in the paper's order.

    Example:
        >>> [(t.cardinality, t.width, t.weight_params) for t in table2_templates()][:2]
        [(1, 64, 69632), (2, 40, 69760)]
    """
    templates = []
    for cardinality, width in TABLE2_TEMPLATES:
        spec = BlockSpec(TABLE2_CHANNELS, TABLE2_CHANNELS, cardinality, width)
        cost = complexity(spec, (1, TABLE2_CHANNELS, size, size))
        templates.append(
            Template(cardinality, width, spec.grouped_channels, cost.params, cost.weight_params, cost.macs)
        )
    return templates


def _as_module(spec_or_module: BlockSpec | nn.Module, input_size: tuple[int, ...]) -> nn.Module:
    """Check ``input_size`` and return the module to count (form (c) for a spec)."""
    check_input_size(input_size)
    if isinstance(spec_or_module, BlockSpec):
        spec = spec_or_module
        if len(input_size) != 4 or input_size[1] != spec.in_channels:
            raise ValueError(
                f"input_size must be (batch, {spec.in_channels}, height, width) for a block with"
                f" in_channels={spec.in_channels}, got {input_size!r}"
            )
        with torch.device("meta"):  # shapes are all we need: no memory, no random draws
            return build(spec, "c")
    if isinstance(spec_or_module, nn.Module):
        return spec_or_module
    raise TypeError(
        f"spec_or_module must be a blocks.BlockSpec or a torch.nn.Module, got {type(spec_or_module).__name__}"
    )


@dataclass(frozen=True)
class _OperatorCall:
    """One call of a convolution or linear operator, as the dispatcher saw it (shapes with the batch)."""

    operator: str  # "convolution", "addmm" or "mm"
    weight_shape: tuple[int, ...]  # convolution: (out, in/g, k_h, k_w); addmm, mm: (in, out)
    output_shape: tuple[int, ...]  # (B, c_out, H_out, W_out), or (rows, out)
    bias: bool
    groups: int
    stride: int
    owned: bool  # its weight is a parameter of the counted module

    @property
    def operator_kind(self) -> str:
        return "convolution" if self.operator == "convolution" else "linear"

    def macs(self, batch: int) -> int:
        return operator_multiply_adds(self.operator, self.weight_shape, self.output_shape, batch)

    def bias_adds(self, batch: int) -> int:
        return math.prod(self.output_shape) // batch if self.bias else 0  # one per output value

    @property
    def shape_text(self) -> str:
        if self.operator != "convolution":
            return f"{self.weight_shape[0]}->{self.weight_shape[1]}"
        out, per_group, *kernel = self.weight_shape
        groups = f", {self.groups} groups" if self.groups > 1 else ""
        size = "x".join(map(str, kernel))
        return f"{size}, {per_group * self.groups}->{out}{groups}, stride {self.stride}"


class _CountedOperators(Recorder):
    """Records every convolution and linear operator, grouped by the layer that holds its weight.

    A weight is found by what it is, not by hooks: the parameter itself (a convolution's weight),
    or the parameter a view was made from (``F.linear``'s transposed weight). A weight no module
    holds is a layer of its own, ``"(convolution 1)"``.
    """

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self._owners = {
            id(parameter): name.rpartition(".")[0] for name, parameter in module.named_parameters()
        }  # "layer1.0.conv1.weight" -> "layer1.0.conv1"; the module's own "weight" -> ""
        self.layers: dict[str, list[_OperatorCall]] = {}

    def on_call(self, call: Call) -> object:
        result = call.run()
        if call.name not in WEIGHT_ARGUMENT or not isinstance(result, Tensor):
            return result
        weight = call.args[WEIGHT_ARGUMENT[call.name]]
        assert isinstance(weight, Tensor)
        base = weight
        while base._base is not None:  # a view of a parameter (linear's weight.t()) counts as that parameter
            base = base._base
        owner = self._owners.get(id(base))
        convolution = call.name == "convolution"
        counted = _OperatorCall(
            operator=call.name,
            weight_shape=tuple(weight.shape),
            output_shape=tuple(result.shape),
            bias=(call.args[2] is not None) if convolution else call.name == "addmm",
            groups=cast("int", call.args[8]) if convolution else 1,
            stride=cast("list[int]", call.args[3])[0] if convolution else 1,
            owned=owner is not None,
        )
        name = owner if owner is not None else f"({counted.operator_kind} {len(self.layers) + 1})"
        self.layers.setdefault(name, []).append(counted)
        return result


@contextlib.contextmanager
def _hooked_modules() -> Iterator[set[int]]:
    """While open, collect the ids of the modules that run through their hooks (``module(x)``)."""
    hooked: set[int] = set()

    def hook(module: nn.Module, inputs: tuple[object, ...], output: object) -> None:
        hooked.add(id(module))

    handle = torch.nn.modules.module.register_module_forward_hook(hook)
    try:
        yield hooked
    finally:
        handle.remove()


class _MetaBatchNorm(Recorder):
    """Answers batch norms on the meta device with their output shapes, skipping the slow way.

    PyTorch finds a meta batch norm's output shape through a Python decomposition
    (many times a convolution's; benchmarks/README.md), which would make counting form (a)
    networks, with their thousands of per-path BNs, take many seconds. A batch
    norm's output has its input's shape, so we give that directly. Real tensors pass.
    """

    def on_call(self, call: Call) -> object:
        x = call.args[0]
        if call.func is torch.ops.aten.native_batch_norm.default and isinstance(x, Tensor) and x.is_meta:
            stats = x.shape[1] if call.args[5] else 0  # saved mean and 1/std: none in eval mode, as on the CPU
            return torch.empty_like(x), x.new_empty(stats), x.new_empty(stats)
        return call.run()


def _disagreements(cost: Complexity, bn_macs: int) -> tuple[str, ...]:
    """One sentence per count on which the methods disagree beyond the documented differences.

    torchinfo also counts the bias additions and 2 MACs per BN channel (``bn_macs`` in all,
    per image); FlopCounterMode's total covers every op, not only the convolution and linear layers.
    A layer no hook saw (``cost.hookless``) is compared by FlopCounterMode's total alone.
    """
    found = []
    for layer in cost.layers:
        checks = (
            ("params", layer.params, "torchinfo", layer.torchinfo_params),
            ("MACs", layer.macs, "FlopCounterMode", layer.flop_counter_macs),
            ("MACs + bias adds", layer.macs + layer.bias_adds, "torchinfo", layer.torchinfo_macs),
        )
        for what, closed, method, measured in checks:
            if measured is not None and closed != measured:
                found.append(
                    f"{layer.name or layer.kind}: {what} by the closed form {closed:,} != {method} {measured:,}"
                )
    seen = [layer for layer in cost.layers if layer.torchinfo_macs is not None]
    totals = (
        ("params", cost.params, "torchinfo", cost.torchinfo_params),
        ("MACs", cost.macs, "FlopCounterMode (all ops)", cost.flop_counter_macs),
        (
            "MACs + bias adds + BN" + (" of the layers torchinfo sees" if len(seen) < len(cost.layers) else ""),
            sum(layer.macs + layer.bias_adds for layer in seen) + bn_macs,
            "torchinfo",
            cost.torchinfo_macs,
        ),
    )
    for what, closed, method, measured in totals:
        if closed != measured:
            found.append(f"total {what}: {closed:,} summed over the layers != {method} {measured:,}")
    return tuple(found)
