"""Pass 4: the deviations, every way a branch or shortcut differs from the paper's block, measured.

Each is a :class:`~blocks.dataflow.recognise.records.Deviation` whose kind carries its
number in :data:`blocks.dataflow.mistakes.CATALOGUE`.
"""

from __future__ import annotations

from blocks.dataflow.recognise.reading import BATCH_NORMS, Piece, Prov, Reading, changes_nothing
from blocks.dataflow.recognise.records import BlockLayer, Deviation, DeviationKind
from blocks.dataflow.trace import Op


def shared_weights(r: Reading, pieces: list[Piece]) -> str:
    uses: dict[object, int] = {}
    for piece in pieces:
        uses[piece.weight_key] = uses.get(piece.weight_key, 0) + 1
    repeated = max(uses.values(), default=1)
    if repeated <= 1:
        return ""
    unique = sum(p.weight.numel() for p in {p.weight_key: p for p in pieces}.values())
    total = sum(p.weight.numel() for p in pieces)
    return (
        f"{len(pieces)} convolutions use only {len(uses)} distinct weight tensors (one is used {repeated} times):"
        f" {unique:,} unique convolution weights where the paths need {total:,}"
    )


def find_conv_deviations(r: Reading, by_level: dict[int, list[Piece]]) -> list[Deviation]:
    found = []
    strides = {level: {p.stride for p in by_level[level]} for level in (1, 2, 3)}
    if strides[1] != {1}:
        found.append(Deviation(DeviationKind.STRIDE_FIRST_CONV,
                               f"its first 1x1 has stride {max(strides[1])}, and its 3x3 stride {max(strides[2])}:"
                               " the 1x1 skips 3 of every 4 pixels before any 3x3 sees them (the placement of"
                               " the original Caffe ResNet, MSRA 2015, and of torchvision's ResNet before"
                               " v1.5: a convention of that code, a mistake against the ResNeXt paper,"
                               " section 4)"))  # fmt: skip
    kernels = {level: {p.kernel for p in by_level[level]} for level in (1, 2, 3)}
    if kernels[1] != {1} or kernels[2] != {3} or kernels[3] != {1}:
        found.append(Deviation(DeviationKind.KERNELS, f"its convolutions have kernel sizes {kernels[1]}, {kernels[2]},"
                               f" {kernels[3]} instead of 1x1, 3x3, 1x1"))  # fmt: skip
    if any(p.padding == -1 for level in (1, 2, 3) for p in by_level[level]):
        found.append(Deviation(DeviationKind.SAME_PADDING, "its 3x3 pads one side more than the other (TensorFlow's"
                               " 'same' at stride 2): the paper's architecture, but the pixels it samples are"
                               " shifted by one from what PyTorch's padding=1 samples, so no form (c) block of"
                               " this package computes it"))  # fmt: skip
    elif any(p.padding != p.kernel // 2 or p.dilation != 1 for level in (1, 2, 3) for p in by_level[level]):
        found.append(Deviation(DeviationKind.PADDING, "a convolution of its branch changes the size by its padding"))
    if strides[3] != {1}:
        found.append(Deviation(DeviationKind.STRIDE_LAST_CONV, f"its last 1x1 has stride {max(strides[3])}"))
    biased = [p for level in (1, 2, 3) for p in by_level[level] if p.bias is not None]
    if biased:
        extra = sum(p.bias.numel() for p in biased if p.bias is not None)
        written = list(dict.fromkeys(p.op.called for p in biased if p.op.name != "convolution"))  # products
        among = f" (among them {', '.join(written)})" if written else ""
        found.append(Deviation(DeviationKind.CONV_BIAS, f"{len(biased)} of its convolutions{among} have a bias"
                               f" that the BN after them subtracts again: {extra:,} parameters that change"
                               " nothing"))  # fmt: skip
    return found


def find_norm_deviations(
    r: Reading,
    bns: list[tuple[Op, Prov]],
    relus: list[tuple[Op, Prov]],
    pieces: list[Piece],
    counts: dict[int, int],
) -> list[Deviation]:
    found = []
    every_piece = frozenset(i for i, piece in enumerate(pieces) if piece.level == 3)
    per_path_bn = [p for _, p in bns if p.level == 3 and p.pieces != every_piece]
    per_path_relu = [p for _, p in relus if p.level == 3 and p.pieces != every_piece]
    whole_relu = [p for _, p in relus if p.level == 3 and p.pieces == every_piece]
    if per_path_relu:
        symptom = (
            f"each of its {len(every_piece)} paths has its own BN and ReLU after its last 1x1, so every"
            " path's contribution is >= 0 and the sum over the paths is never negative"
        )
        found.append(Deviation(DeviationKind.PER_PATH_BN_RELU, symptom))
    elif per_path_bn:
        found.append(Deviation(DeviationKind.PER_PATH_BN,
                               f"each of its {len(every_piece)} paths has its own BN after its last 1x1, before the"
                               " sum: in train mode each partial sum is normalised by its own batch statistics,"
                               " which one BN after the sum cannot reproduce"))  # fmt: skip
    elif whole_relu:
        found.append(Deviation(DeviationKind.RELU_BEFORE_ADD,
                               "a ReLU is applied to the branch before the add, so the branch can only add, never"
                               " subtract, from the shortcut"))  # fmt: skip
    whole_bn = [p for _, p in bns if p.level == 3 and p.pieces == every_piece]
    if not per_path_bn and len(whole_bn) != 1:
        found.append(
            Deviation(DeviationKind.BN3, f"its branch has {len(whole_bn)} BNs after the sum of its paths, not 1")
        )
    for level in (1, 2):
        normed = [c for _, p in bns if p.level == level for c in p.channels]
        rectified = [c for _, p in relus if p.level == level for c in p.channels]
        if sorted(normed) != list(range(counts[level])) or sorted(rectified) != list(range(counts[level])):
            stage = "first 1x1" if level == 1 else "3x3"
            symptom = f"not every channel of its {stage} goes through exactly one BN and one ReLU"
            found.append(Deviation(DeviationKind.BN_RELU_1 if level == 1 else DeviationKind.BN_RELU_2, symptom))
    return found


def read_shortcut(
    r: Reading, ops: list[Op], x: int, add: Op, expected_stride: int
) -> tuple[str, list[Deviation], tuple[Op, Op] | None]:
    """The shortcut's kind, its deviations, and (conv, BN) if it is the paper's projection."""
    ops = [op for op in ops if not changes_nothing(op)]
    if not ops:
        return "identity", [], None
    names = [op.name for op in reversed(ops)]  # from X to the add
    in_shape = r.values[x].tensor.shape
    out_shape = r.values[add.outputs[0]].tensor.shape
    fits = in_shape == out_shape
    if len(ops) == 2 and r.is_convolution(ops[1]) and names[1] in BATCH_NORMS:
        conv = ops[1]
        weight = r.weight_of(conv)
        assert weight is not None
        stride = r.stride_of(conv)
        if weight.shape[-1] == 1 and r.groups_of(conv) == 1 and stride == expected_stride and not fits:
            deviations = []
            if r.bias_of(conv) is not None:
                deviations.append(
                    Deviation(
                        DeviationKind.CONV_BIAS,
                        "its projection's 1x1 has a bias that its BN subtracts again",
                        BlockLayer.SHORTCUT,
                    )
                )
            return "projection", deviations, (conv, ops[0])
    words = {"convolution": "conv", "avg_pool2d": "average pool", "max_pool2d_with_indices": "max pool"}
    described = " -> ".join(
        f"{kernel_of(r, op)} conv" if r.is_convolution(op) else words.get(op.name, op.name) for op in reversed(ops)
    )
    convolutions = [r.is_convolution(op) for op in reversed(ops)]
    if fits and names and all(n in BATCH_NORMS or conv for n, conv in zip(names, convolutions)):
        why = "a projection where the identity fits"
    elif any(convolutions) and not any(n in BATCH_NORMS for n in names):
        why = "a convolution without a BN after it"
    else:
        why = "not the paper's projection (a 1x1 convolution with the stride, then BN)"
    shortcut = f"{described} ({why})"
    return shortcut, [Deviation(DeviationKind.SHORTCUT, f"its shortcut is {described}: {why}")], None


def kernel_of(r: Reading, op: Op) -> str:
    weight = r.weight_of(op)
    return f"{weight.shape[-2]}x{weight.shape[-1]}" if weight is not None else "?"
