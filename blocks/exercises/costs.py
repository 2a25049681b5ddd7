"""Exercise 4: a block's parameters and multiply-adds in closed form, for any C, d and stride.

The answer is a function ``cost(spec, size)`` returning ``(parameters, multiply_adds)`` of a
block of ``spec`` (a :class:`blocks.BlockSpec`) on one ``size`` x ``size`` image: every
parameter (BN weights and biases included, as torchvision counts them), and the
multiply-adds of its convolutions (the paper's "FLOPs"). The check compares it with
:func:`blocks.complexity`, which counts the real module three ways, on fixed and on random
specs: C from 1 to 32, strides 1 and 2, identity and projection shortcuts, odd sizes.

A wrong count is matched against the counts that common slips give (the 3x3 counted
dense or with groups = d, the BNs forgotten or counted as multiply-adds, the stride on the
wrong layer, ...): a slip, or two together, that explains the difference on EVERY spec is
named, with the numbers measured.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

from blocks.core.spec import BlockSpec
from blocks.exercises.feedback import Result, Stop, call, hint, judge, mistake_hint
from blocks.measure.complexity import complexity

TITLE = "4 · parameters and multiply-adds in closed form"
COSTS_READING = "notebooks/03_params_flops.ipynb"
FIXED: tuple[tuple[BlockSpec, int], ...] = (
    (BlockSpec(256, 256, cardinality=32, width=4), 56),  # paper Table 2's 32x4d conv2 block
    (BlockSpec(64, 256, cardinality=32, width=4), 56),  # the first block of conv2: projection, stride 1
    (BlockSpec(256, 512, cardinality=32, width=8, stride=2), 56),  # the first block of conv3
    (BlockSpec(16, 16, cardinality=1, width=7, stride=2), 9),  # ResNet's bottleneck, odd size, stride 2
)
RANDOM_CASES = 6
_SEED = 20


def cases() -> list[tuple[BlockSpec, int]]:
    """The specs and sizes the check counts: :data:`FIXED` and :data:`RANDOM_CASES` drawn from a fixed seed."""
    draw = random.Random(_SEED)
    drawn = []
    for _ in range(RANDOM_CASES):
        cardinality = draw.choice((1, 2, 3, 4, 8, 32))
        in_channels = draw.choice((8, 24, 64, 96))
        out_channels = draw.choice((in_channels, 2 * in_channels, 48))
        stride = draw.choice((1, 2))
        spec = BlockSpec(in_channels, out_channels, cardinality, draw.randint(1, 12), stride)
        drawn.append((spec, draw.choice((5, 7, 8, 14, 15))))
    return [*FIXED, *drawn]


@cache
def measured(spec: BlockSpec, size: int) -> tuple[int, int]:
    """(parameters, multiply-adds) of a real block of ``spec`` on one ``size`` x ``size`` image: blocks.complexity."""
    counted = complexity(spec, (1, spec.in_channels, size, size))
    return counted.params, counted.macs


@dataclass(frozen=True)
class Slip:
    """A common way to miscount a block: its name, its catalogue mistake (or None), and what it changes.

    Attributes:
        name: what the count does, in words ("the 3x3 counted as a dense convolution").
        mistake: the catalogue mistake a block built that way would make, or None.
        look: where in the count to look.
        change: (extra parameters, extra multiply-adds) of the slip for a spec and size.
    """

    name: str
    mistake: int | None
    look: str
    change: Callable[[BlockSpec, int], tuple[int, int]]


def _positions(spec: BlockSpec, size: int) -> int:
    """H_out·W_out after the stride (3x3 padding 1, or 1x1): ceil(size / stride) squared."""
    return ((size - 1) // spec.stride + 1) ** 2


def _terms(spec: BlockSpec, size: int) -> dict[str, tuple[int, int]]:
    """Each part of a block: (its parameters, the output positions its MACs are counted over)."""
    cd, d, out = spec.grouped_channels, spec.width, spec.out_channels
    small = _positions(spec, size)
    return {
        "conv1": (spec.in_channels * cd, size * size),
        "conv2": (9 * d * cd, small),
        "conv3": (cd * out, small),
        "projection": (spec.in_channels * out if spec.has_projection else 0, small),
        "bn": (2 * (2 * cd + out + (out if spec.has_projection else 0)), 0),
    }


def _after_stride(spec: BlockSpec, size: int, positions: int) -> int:
    """MACs of the convolutions after the stride (3x3, last 1x1, projection) over ``positions`` output positions."""
    terms = _terms(spec, size)
    return sum(terms[name][0] for name in ("conv2", "conv3", "projection")) * positions


def _slips() -> tuple[Slip, ...]:
    """Every slip the check knows, in the order it tries them: the first that explains the counts is named."""
    flops = Slip("FLOPs counted, two per multiply-add", None, "what one multiply-add is", _flops)
    return (*_grouping_slips(), *_parameter_slips(), *_stride_slips(), *_shortcut_slips(), flops)


def _grouping_slips() -> tuple[Slip, ...]:
    """Slips in which convolutions are grouped: the 3x3 counted dense or as one path, a 1x1 counted grouped."""

    def grouped(name: str, spec: BlockSpec, size: int) -> tuple[int, int]:
        weights, positions = _terms(spec, size)[name]
        fewer = weights - weights // spec.cardinality
        return -fewer, -fewer * positions

    def dense(spec: BlockSpec, size: int) -> tuple[int, int]:
        weights, positions = _terms(spec, size)["conv2"]
        extra = weights * spec.cardinality - weights
        return extra, extra * positions

    def groups_d(spec: BlockSpec, size: int) -> tuple[int, int]:
        weights, positions = _terms(spec, size)["conv2"]  # 9·d·C·d; with groups = d: 9·(C·d / d)·C·d = 9·C·C·d
        extra = 9 * spec.cardinality * spec.grouped_channels - weights
        return extra, extra * positions

    the_3x3 = "the 3x3's term: how many input channels does each of its output channels read?"
    return (
        Slip("the 3x3 counted as a dense convolution over all C·d channels", None, the_3x3, dense),
        Slip("the grouped 3x3 counted with groups = d instead of C (each output channel reading C channels, not d)",
             None, "the 3x3's term: groups is the number of paths, C; each group holds d channels", groups_d),
        # one path's 3x3 holds 1/C of the grouped 3x3's weights, as if it were grouped once more
        Slip("the 3x3 of one path counted, not of all C", None, the_3x3,
             lambda spec, size: grouped("conv2", spec, size)),
        Slip("the first 1x1 counted as grouped (C groups)", 3, "the first 1x1's term",
             lambda spec, size: grouped("conv1", spec, size)),
        Slip("the last 1x1 counted as grouped (C groups)", None, "the last 1x1's term",
             lambda spec, size: grouped("conv3", spec, size)),
    )  # fmt: skip


def _parameter_slips() -> tuple[Slip, ...]:
    """Slips in what is counted: BNs as multiply-adds, the BNs' weights and biases, their statistics, biases."""

    def bias(spec: BlockSpec, size: int) -> tuple[int, int]:
        return _terms(spec, size)["bn"][0] // 2, 0  # a convolution's bias per channel that a BN normalises

    def bn(sign: int, spec: BlockSpec, size: int) -> tuple[int, int]:
        return sign * _terms(spec, size)["bn"][0], 0

    def bn_macs(per_value: int, spec: BlockSpec, size: int) -> tuple[int, int]:
        cd, out, small = spec.grouped_channels, spec.out_channels, _positions(spec, size)
        values = cd * size * size + cd * small + out * small + (out * small if spec.has_projection else 0)
        return 0, per_value * values

    where_bn = "which layers the paper counts: the multiply-adds of the convolutions only, not the BNs"
    return (
        Slip("the BNs counted as multiply-adds, one per value they normalise", None, where_bn,
             lambda spec, size: bn_macs(1, spec, size)),
        Slip("the BNs counted as multiply-adds, two per value they normalise", None, where_bn,
             lambda spec, size: bn_macs(2, spec, size)),
        Slip("the BNs' weights and biases left out", None, "the BNs: 2 parameters per channel",
             lambda spec, size: bn(-1, spec, size)),
        Slip("the BNs' running statistics counted as parameters", None,
             "the BNs: their running mean and variance are buffers, not parameters",
             lambda spec, size: bn(1, spec, size)),
        Slip("a bias counted in every convolution", 8, "the convolutions' terms: they have no bias", bias),
    )  # fmt: skip


def _stride_slips() -> tuple[Slip, ...]:
    """Slips of the stride: on the first 1x1, ignored, or the output size rounded down."""

    def stride_first(spec: BlockSpec, size: int) -> tuple[int, int]:
        weights, positions = _terms(spec, size)["conv1"]
        return 0, weights * (_positions(spec, size) - positions)

    def no_stride(spec: BlockSpec, size: int) -> tuple[int, int]:
        return 0, _after_stride(spec, size, size * size) - _after_stride(spec, size, _positions(spec, size))

    def floor_size(spec: BlockSpec, size: int) -> tuple[int, int]:
        floor = (size // spec.stride) ** 2
        return 0, _after_stride(spec, size, floor) - _after_stride(spec, size, _positions(spec, size))

    return (
        Slip("the first 1x1 counted after the stride", 5, "which layer's output is smaller when the stride is 2",
             stride_first),
        Slip("the stride ignored", None, "the output size after a stride of 2", no_stride),
        Slip("size // stride taken as the output size", None,
             "the output size of a strided convolution when the size is odd", floor_size),
    )  # fmt: skip


def _shortcut_slips() -> tuple[Slip, ...]:
    """Slips of the shortcut: a projection where the identity fits, none where one is needed, one without its BN."""

    def projection(sign: int, spec: BlockSpec, size: int) -> tuple[int, int]:
        if spec.has_projection != (sign < 0):
            return 0, 0
        weights = spec.in_channels * spec.out_channels
        return sign * (weights + 2 * spec.out_channels), sign * weights * _positions(spec, size)

    def projection_without_bn(spec: BlockSpec, size: int) -> tuple[int, int]:
        return (-2 * spec.out_channels if spec.has_projection else 0), 0

    return (
        Slip("a projection counted where the identity fits", 9, "when the shortcut needs a projection",
             lambda spec, size: projection(1, spec, size)),
        Slip("the projection shortcut left out", None, "when the shortcut needs a projection",
             lambda spec, size: projection(-1, spec, size)),
        Slip("the projection counted without its BN", 9, "what the projection shortcut is made of",
             projection_without_bn),
    )  # fmt: skip


def _flops(spec: BlockSpec, size: int) -> tuple[int, int]:
    """The slip of counting FLOPs: every multiply-add once more, as a multiply and an add."""
    return 0, sum(weights * positions for weights, positions in _terms(spec, size).values())


SLIPS = _slips()


def grade_costs(cost: Callable[[BlockSpec, int], tuple[int, int]]) -> Result:
    """Exercise 4: check a closed-form count of a block's parameters and multiply-adds against blocks.complexity.

    Args:
        cost: ``cost(spec, size)`` returns ``(parameters, multiply_adds)`` of a block of ``spec`` on one
            ``size`` x ``size`` image.

    Returns:
        The :class:`Result`, also printed.
    """
    return judge(TITLE, lambda: _check(cost))


def _check(cost: Callable[[BlockSpec, int], tuple[int, int]]) -> tuple[list[str], list[str]]:
    name = getattr(cost, "__name__", "cost")
    wrong: list[tuple[BlockSpec, int, tuple[int, int], tuple[int, int]]] = []
    for spec, size in cases():
        what = f"your {name}(BlockSpec{_arguments(spec)}, {size})"
        answer = call(cost, spec, size, what=what)
        counts = _as_counts(answer, what)
        truth = measured(spec, size)
        if counts != truth:
            wrong.append((spec, size, counts, truth))
    if not wrong:
        spec, size = FIXED[0]
        params, macs = measured(spec, size)
        return [], [
            f"{len(cases())} blocks, C from 1 to 32, strides 1 and 2, sizes 5 to 56: parameters and multiply-adds"
            f" equal blocks.complexity's (the {spec} block at {size}x{size}: {params:,} and {macs:,})"
        ]
    return _explain(wrong, name), []


def _arguments(spec: BlockSpec) -> str:
    return f"({spec.in_channels}, {spec.out_channels}, {spec.cardinality}, {spec.width}, {spec.stride})"


def _as_counts(answer: object, what: str) -> tuple[int, int]:
    """The answer as two ints, or Stop saying what it is instead."""
    if not isinstance(answer, (tuple, list)) or len(answer) != 2:
        raise Stop(f"{what} returned {answer!r}; return two numbers, (parameters, multiply_adds).")
    counts = []
    for value in answer:
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise Stop(f"{what} returned {answer!r}; both counts must be numbers.") from None
        if number != value:
            raise Stop(f"{what} returned {answer!r}: counts of parameters and multiply-adds are whole numbers.")
        counts.append(number)
    return counts[0], counts[1]


def _explain(wrong: list[tuple[BlockSpec, int, tuple[int, int], tuple[int, int]]], name: str) -> list[str]:
    """Hints for the wrong counts: the slips (one or two) that explain every difference, or the first difference."""
    spec, size, counts, truth = wrong[0]
    example = (
        f"for the {spec} block on a {size}x{size} image, your {name} counts {counts[0]:,} parameters and"
        f" {counts[1]:,} multiply-adds, blocks.complexity {truth[0]:,} and {truth[1]:,}"
    )
    explained = _slips_explaining(wrong)
    if explained is None:
        right = [what for what, i in (("parameters", 0), ("multiply-adds", 1)) if counts[i] == truth[i]]
        look = (
            f"each layer's term on its own: blocks.complexity(spec, (1, in_channels, size, size)).layers lists"
            f" them ({len(wrong)} of {len(cases())} blocks are counted wrong"
            + (f"; the {right[0]} are right" if len(right) == 1 else "")
            + ")"
        )
        return [hint(example, look, COSTS_READING)]
    hints = []
    for slip in explained:
        spec, size, counts, truth = next(w for w in wrong if slip.change(w[0], w[1]) != (0, 0))
        measured_text = (
            f"for the {spec} block on a {size}x{size} image, your {name} counts {counts[0]:,} parameters and"
            f" {counts[1]:,} multiply-adds, blocks.complexity {truth[0]:,} and {truth[1]:,}: exactly the count"
            f" with {slip.name}"
        )
        if slip.mistake is None:
            hints.append(hint(measured_text, slip.look, COSTS_READING))
        else:
            hints.append(mistake_hint(slip.mistake, measured_text, slip.look))
    return hints


def _slips_explaining(wrong: list[tuple[BlockSpec, int, tuple[int, int], tuple[int, int]]]) -> tuple[Slip, ...] | None:
    """The one slip, or else the two, whose changes give every wrong count; None if none do."""
    singles = [(slip,) for slip in SLIPS]
    pairs = [(first, second) for i, first in enumerate(SLIPS) for second in SLIPS[i + 1 :]]
    for slips in (*singles, *pairs):
        if all(_with(slips, spec, size, truth) == counts for spec, size, counts, truth in wrong) and all(
            _with(slips, spec, size, measured(spec, size)) == measured(spec, size)
            for spec, size in cases()
            if not any(spec == w[0] and size == w[1] for w in wrong)
        ):
            return slips
    return None


def _with(slips: tuple[Slip, ...], spec: BlockSpec, size: int, truth: tuple[int, int]) -> tuple[int, int]:
    params, macs = truth
    for slip in slips:
        extra_params, extra_macs = slip.change(spec, size)
        params, macs = params + extra_params, macs + extra_macs
    return params, macs
