"""What :func:`blocks.dataflow.recognise.recognise` reports: deviations, variants, blocks, and the whole model.

A :class:`Deviation` is a way a block differs from the paper's bottleneck; its kind is a
:class:`DeviationKind`, whose catalogue number (:data:`blocks.dataflow.mistakes.CATALOGUE`)
and layer of the block (a :class:`BlockLayer`) travel with it, so that no other module
matches symptoms by hand.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum

from torch import Tensor

from blocks.core.spec import BlockSpec
from blocks.dataflow.trace import Trace
from blocks.util.numerics import CANONICAL_RTOL


class DeviationKind(str, Enum):
    """The kinds of deviation from the paper's block, each equal to its old string key (``"conv-bias"``).

    ``mistake`` is its number in :data:`blocks.dataflow.mistakes.CATALOGUE`, or None for a
    deviation the catalogue does not name.
    """

    SHARED_WEIGHTS = "shared-weights"
    INPUT_IN_PLACE = "input-in-place"
    PER_PATH_BN_RELU = "per-path-bn-relu"
    GROUPED_FIRST_CONV = "grouped-first-conv"
    STRIDE_FIRST_CONV = "stride-first-conv"
    PER_PATH_BN = "per-path-bn"
    CONV_BIAS = "conv-bias"
    SHORTCUT = "shortcut"
    NO_RELU_AFTER_ADD = "no-relu-after-add"
    RELU_BEFORE_ADD = "relu-before-add"
    CROSS_GROUP = "cross-group"
    WIDTH_CHANGING_3X3 = "width-changing-3x3"
    KERNELS = "kernels"
    SAME_PADDING = "same-padding"
    PADDING = "padding"
    STRIDE_LAST_CONV = "stride-last-conv"
    BN3 = "bn3"
    BN_RELU_1 = "bn-relu-1"
    BN_RELU_2 = "bn-relu-2"

    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self.value), spec)

    @property
    def mistake(self) -> int | None:
        """Its number in the catalogue of mistakes, or None."""
        return _MISTAKES.get(self)

    @property
    def layer(self) -> BlockLayer:
        """The layer of the block where a deviation of this kind sits (:data:`_LAYERS`)."""
        return _LAYERS[self]


class BlockLayer(str, Enum):
    """Where in a bottleneck a deviation sits, in the order the block runs; each value says it in words.

    The words are a place, as :attr:`Variant.where` says one ("on its first 1x1"); a figure marks the
    deviation there (:func:`blocks.figures.block_figure`).
    """

    PATHS = "in its paths"
    FIRST_CONV = "on its first 1x1"
    FIRST_BN_RELU = "in the BN and ReLU after its first 1x1"
    GROUPED_CONV = "on its 3x3"
    SECOND_BN_RELU = "in the BN and ReLU after its 3x3"
    LAST_CONV = "on its last 1x1"
    PATH_ENDS = "at the end of each path, after its last 1x1"
    CONVOLUTIONS = "on the convolutions of its branch"
    AFTER_SUM = "in the BN after the sum of its paths"
    BEFORE_ADD = "between its last BN and the add"
    ADD = "at its add"
    AFTER_ADD = "after its add"
    SHORTCUT = "on its shortcut"

    def __str__(self) -> str:
        return str(self.value)


# Each kind of deviation -> the layer where it sits: the one place that says so.
_LAYERS: dict[DeviationKind, BlockLayer] = {
    DeviationKind.SHARED_WEIGHTS: BlockLayer.PATHS,  # the C paths are one
    DeviationKind.INPUT_IN_PLACE: BlockLayer.ADD,  # the add writes into the input
    DeviationKind.PER_PATH_BN_RELU: BlockLayer.PATH_ENDS,
    DeviationKind.GROUPED_FIRST_CONV: BlockLayer.FIRST_CONV,
    DeviationKind.STRIDE_FIRST_CONV: BlockLayer.FIRST_CONV,
    DeviationKind.PER_PATH_BN: BlockLayer.PATH_ENDS,
    DeviationKind.CONV_BIAS: BlockLayer.CONVOLUTIONS,  # the projection's own bias says BlockLayer.SHORTCUT
    DeviationKind.SHORTCUT: BlockLayer.SHORTCUT,
    DeviationKind.NO_RELU_AFTER_ADD: BlockLayer.AFTER_ADD,
    DeviationKind.RELU_BEFORE_ADD: BlockLayer.BEFORE_ADD,
    DeviationKind.CROSS_GROUP: BlockLayer.GROUPED_CONV,  # each 3x3 reads another group's channels
    DeviationKind.WIDTH_CHANGING_3X3: BlockLayer.GROUPED_CONV,  # its 3x3 makes more or fewer channels than it reads
    DeviationKind.KERNELS: BlockLayer.CONVOLUTIONS,
    DeviationKind.SAME_PADDING: BlockLayer.GROUPED_CONV,  # the 3x3 pads one side more
    DeviationKind.PADDING: BlockLayer.CONVOLUTIONS,
    DeviationKind.STRIDE_LAST_CONV: BlockLayer.LAST_CONV,
    DeviationKind.BN3: BlockLayer.AFTER_SUM,
    DeviationKind.BN_RELU_1: BlockLayer.FIRST_BN_RELU,
    DeviationKind.BN_RELU_2: BlockLayer.SECOND_BN_RELU,
}

_MISTAKES: dict[DeviationKind, int] = {
    DeviationKind.SHARED_WEIGHTS: 1,
    DeviationKind.INPUT_IN_PLACE: 1,
    DeviationKind.PER_PATH_BN_RELU: 2,
    DeviationKind.GROUPED_FIRST_CONV: 3,
    DeviationKind.STRIDE_FIRST_CONV: 5,
    DeviationKind.PER_PATH_BN: 7,
    DeviationKind.CONV_BIAS: 8,
    DeviationKind.SHORTCUT: 9,
    DeviationKind.NO_RELU_AFTER_ADD: 10,
    DeviationKind.RELU_BEFORE_ADD: 10,
    DeviationKind.CROSS_GROUP: 11,
}
# A convention, not a mistake: reported with the block, never as a problem; the block cannot be transplanted.
CONVENTIONS = frozenset({DeviationKind.SAME_PADDING})
# Deviations after which a block's tensors do not make a form (c) block at all.
NO_CANONICAL = frozenset(
    {DeviationKind.SAME_PADDING, DeviationKind.PER_PATH_BN, DeviationKind.PER_PATH_BN_RELU,
     DeviationKind.GROUPED_FIRST_CONV, DeviationKind.CROSS_GROUP, DeviationKind.WIDTH_CHANGING_3X3,
     DeviationKind.KERNELS, DeviationKind.PADDING,
     DeviationKind.STRIDE_LAST_CONV, DeviationKind.BN3, DeviationKind.BN_RELU_1, DeviationKind.BN_RELU_2,
     DeviationKind.STRIDE_FIRST_CONV, DeviationKind.RELU_BEFORE_ADD}
)  # fmt: skip


class VariantKind(str, Enum):
    """What a documented member of the ResNeXt family adds to the paper's block (not a mistake).

    ``title`` names it, ``origin`` gives its paper (or the code it comes from).
    """

    SQUEEZE_EXCITATION = "squeeze-excitation"
    ECA = "eca"
    GLOBAL_CONTEXT = "global-context"
    GATE = "gate"
    ACTIVATION = "activation"
    AVG_POOL_SHORTCUT = "avg-pool-shortcut"
    CONV_DIMS = "conv-dims"
    PRE_ACTIVATION = "pre-activation"
    ANTI_ALIASING = "anti-aliasing"
    DEEP_STEM = "deep-stem"

    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self.value), spec)

    @property
    def label(self) -> str:
        return _VARIANTS[self][0]

    @property
    def origin(self) -> str:
        return _VARIANTS[self][1]


_VARIANTS: dict[VariantKind, tuple[str, str]] = {
    VariantKind.SQUEEZE_EXCITATION: ("a squeeze-and-excitation gate", "Hu et al. 2018"),
    VariantKind.ECA: ("an efficient channel attention (ECA) gate", "Wang et al. 2020"),
    VariantKind.GLOBAL_CONTEXT: ("a global-context block", "Cao et al. 2019"),
    VariantKind.GATE: ("a per-channel gate computed from the branch", "attention variants of the family"),
    VariantKind.ACTIVATION: ("an activation other than ReLU", "e.g. SiLU, Elfwing et al. 2018; timm's 'ts' models"),
    VariantKind.AVG_POOL_SHORTCUT: (
        "an average-pool shortcut (average pool, then 1x1 conv and BN)",
        "ResNet-D, He et al. 2019, 'Bag of tricks'",
    ),
    VariantKind.CONV_DIMS: ("convolutions over other than two spatial dimensions", "video and signal ResNeXts"),
    VariantKind.PRE_ACTIVATION: (
        "pre-activation (BN and ReLU before each convolution, nothing after the add)",
        "He et al. 2016, 'Identity mappings in deep residual networks'; timm's resnetv2",
    ),
    VariantKind.ANTI_ALIASING: (
        "anti-aliased downsampling (a blur or average pool, then the stride)",
        "Zhang 2019, 'Making convolutional networks shift-invariant again'; timm's resnetaa and resnetblur",
    ),
    VariantKind.DEEP_STEM: (
        "a deep stem (3x3 convolutions in place of the 7x7)",
        "ResNet-C, He et al. 2019, 'Bag of tricks'; timm's deep ('d') and tiered ('t') stems",
    ),
}


@dataclass(frozen=True)
class Variant:
    """One variant found in a block: what it is, where it sits, and whether it mixes the paths.

    Attributes:
        kind: the :class:`VariantKind`.
        where: where in the block it sits, a clause ("after its last BN", "on its shortcut").
        detail: what was measured, a clause (no final stop).
        mixes_paths: True where it reads channels of every path to change each path's channels
            (a gate inside the paths): the block then has forms (b) and (c) but no form (a).
        module: the module whose one call computes exactly the variant ("" if none), for carrying it.
        level: for a module inside the branch, the channels it reads: 1 (after the first 1x1s),
            2 (after the grouped 3x3, where forms (b) and (c) hold all C·d channels in one tensor before
            their last 1x1), 3 (the sum of the paths); None for one outside the branch.
    """

    kind: VariantKind
    where: str
    detail: str
    mixes_paths: bool = False
    module: str = ""
    level: int | None = None

    def __str__(self) -> str:
        return f"{self.kind.label} ({self.kind.origin}) {self.where}: {self.detail}"


@dataclass(frozen=True)
class Deviation:
    """One way a recognised block differs from the paper's bottleneck.

    Attributes:
        kind: the :class:`DeviationKind` naming the symptom (two symptoms of one mistake have two kinds).
        symptom: what was measured in this block, in plain words (a clause, no final stop).
        at: the layer where it sits when that is not its kind's (a bias on the projection's 1x1 rather
            than on the branch's convolutions), else None; :attr:`layer` says where it sits either way.
    """

    # Always a DeviationKind (made one at construction); annotated as its base, str, so that code keying one
    # dict by catalogue numbers and kinds together (blocks/exercises/forms.py) type-checks.
    kind: str
    symptom: str
    at: BlockLayer | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", DeviationKind(self.kind))  # ValueError names an unknown kind

    @property
    def mistake(self) -> int | None:
        """Its number in :data:`blocks.dataflow.mistakes.CATALOGUE`, or None."""
        return DeviationKind(self.kind).mistake

    @property
    def layer(self) -> BlockLayer:
        """The layer of the block where it sits: :attr:`at`, or else its kind's."""
        return self.at if self.at is not None else DeviationKind(self.kind).layer


@dataclass(frozen=True)
class RecognisedBlock:
    """One residual bottleneck found in a model's dataflow.

    Attributes:
        where: the module whose one call computes exactly this block (``layer1.0``), or,
            when there is none (a functional model), the module its operators ran in.
        source: ``file:line`` of the residual add in the model's code.
        in_channels, out_channels, stride: the block's shape.
        cardinality: C, the number of paths (connected components of its 3x3 stage).
        width: d, the channels of one path.
        shortcut: "identity", "projection" (the paper's: 1x1 conv with the stride, then BN),
            or a description of what else it is.
        layout: "a" (the paths' last 1x1s summed), "b" (paths concatenated, one 1x1) or
            "c" (one convolution per level, the 3x3 grouped).
        canonical: the block's tensors in form (c)'s layout (its state_dict keys), or None
            when they do not make a form (c) block (see ``deviations``). A tensor already in
            form (c)'s layout is the model's own, detached, not a copy: copy before changing it
            (:func:`blocks.transplant` copies them).
        error: max relative error of a form (c) block rebuilt from ``canonical`` against
            the block's own output, on the block's own input; None if not measured.
        deviations: every difference from the paper's block found on the way.
        replace: the modules to swap for this package's block of the same function: the
            module whose single call is this whole block (and, where the block's last ReLU
            is a module of its own right after it, that ReLU, to become ``nn.Identity``);
            empty when the block is not such a module (a functional model).
        parameters: the tensors its operators used, each counted once.
        per_call_parameters: the same, counted once per use.
        variants: what a documented member of the family adds to the paper's block (an SE gate,
            another activation, ...): reported, never a mistake. A block with variants is not the
            paper's block, and its ``error`` is None (form (c) alone does not compute it).
        input_shape: the shape of the block's input, batch first: ``(B, C, H, W)``, or ``(B, C, T, H, W)``.
    """

    where: str
    source: str
    in_channels: int
    out_channels: int
    stride: int
    cardinality: int
    width: int
    shortcut: str
    layout: str | None
    canonical: dict[str, Tensor] | None = field(repr=False)
    error: float | None
    deviations: tuple[Deviation, ...]
    replace: tuple[str, ...]
    parameters: int
    per_call_parameters: int
    eps: tuple[float, ...] = field(default=(), repr=False)  # BN eps of levels 1, 2, 3 and the projection
    variants: tuple[Variant, ...] = ()
    input_shape: tuple[int, ...] = ()

    @property
    def spec(self) -> BlockSpec | None:
        """The block's :class:`BlockSpec`, or None when its shape is not one."""
        try:
            return BlockSpec(self.in_channels, self.out_channels, self.cardinality, self.width, self.stride)
        except ValueError:
            return None

    @property
    def equivalent(self) -> bool:
        """Whether the block is the paper's: no deviation, and its rebuilt form (c) block agrees."""
        return (
            not self.deviations
            and not self.variants
            and self.canonical is not None
            and (self.error is None or self.error <= CANONICAL_RTOL)
        )

    @property
    def widths(self) -> str:
        return f"{self.cardinality}x{self.width}d"

    @property
    def replaceable(self) -> bool:
        return bool(self.replace)


@dataclass(frozen=True)
class Recognition:
    """What :func:`recognise` found in one forward pass.

    Attributes:
        model: the model's class name.
        input_size: the shape of the random input it ran on.
        blocks: every residual bottleneck, in the order they ran.
        others: residual adds that are not bottlenecks (e.g. ResNet's basic block), described.
        stem: the layers before the first block, in words ("conv 7x7/2 3->64", "max pool 3x3/2").
        head: the layers after the last block, in words ("average pool", "linear 2048->1000").
        mutated_input: whether the model wrote into the caller's input tensor.
        trace: the recorded forward pass.
        stem_deviations: the stem's differences from the paper's (a convolution bias before its BN).
        stem_variants: what a member of the family puts in the stem (a deep stem of 3x3 convolutions).
    """

    model: str
    input_size: tuple[int, ...]
    blocks: tuple[RecognisedBlock, ...]
    others: tuple[str, ...]
    stem: tuple[str, ...]
    head: tuple[str, ...]
    mutated_input: bool
    trace: Trace = field(repr=False)
    stem_deviations: tuple[Deviation, ...] = ()
    stem_variants: tuple[Variant, ...] = ()

    @property
    def layouts(self) -> set[str]:
        return {block.layout for block in self.blocks if block.layout is not None}


def common_prefix(names: Sequence[str]) -> str:
    """The longest dotted prefix that every name shares: ``layer1.0`` for ``layer1.0.conv1``, ``layer1.0.bn3``."""
    parts = [name.split(".") for name in names]
    common: list[str] = []
    for pieces in zip(*parts):
        if len(set(pieces)) != 1:
            break
        common.append(pieces[0])
    return ".".join(p for p in common if p)
