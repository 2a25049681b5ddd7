"""``block_figure``: a block as :func:`blocks.recognise` read it from a model, beside the paper's block.

The right column is the block as its DATAFLOW shows it: its layout (a, b or c), C paths of d
channels, its stride and shortcut, and every way it differs from the paper's bottleneck drawn
where it is: a BN and ReLU at the end of each path (mistake 2), the stride on the first 1x1
(mistake 5), a missing ReLU after the add (mistake 10, dashed), a squeeze-and-excitation gate
after the last BN (a variant). Each difference is tagged on its layer, with its number in
:data:`blocks.dataflow.mistakes.CATALOGUE` (vermillion) or its variant's name (purple, the
colour of what is no mistake), and said in full under the columns with what was measured. The
left column is the paper's block of the same shape and layout, or the one an exercise asks
for. Where a deviation sits is its :attr:`~blocks.dataflow.recognise.Deviation.layer` (one
table, in :mod:`blocks.dataflow.recognise.records`); where a variant sits, its ``where``.

The kit, colours and house style are :func:`blocks.figures.forms_abc`'s: boxes, sums and arrows
on an axes measured in inches, convolutions in the form's colour, BN and ReLU in grey, the
channels on every arrow, more than three paths elided. Its columns are not: forms_abc draws
blocks this package builds, whose layers are fixed, while a recognised block is a record whose
layers vary (a BN per path is a row more, a missing ReLU a dashed one). So each column here is a
list of rows made from the record, and the two columns' rows are laid out in step: a layer one
block has and the other lacks shows as a gap.

The report of an audit draws itself with this function (``blocks.audit(model, size).figure()``);
so does every exercise hint about a block the student wrote (:mod:`blocks.exercises.feedback`).
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass
from typing import NamedTuple

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.patches import Circle
from matplotlib.textpath import text_to_path

from blocks.core.build import empty_block
from blocks.core.spec import BlockSpec
from blocks.dataflow.audit import AuditReport
from blocks.dataflow.mistakes import CATALOGUE
from blocks.dataflow.recognise import (
    CONVENTIONS,
    BlockLayer,
    Deviation,
    DeviationKind,
    RecognisedBlock,
    Recognition,
    Variant,
    VariantKind,
)
from blocks.figures.kit import (
    ADD_RADIUS,
    BOX_H,
    ELLIPSIS,
    GREY,
    INK,
    arrow,
    box,
    canvas,
    check_spec,
    line,
    plus,
    tint,
    write,
)
from blocks.figures.style import FORM_COLOURS, PALETTE, STYLE, styled, text_pt, title_pt

MISTAKE_COLOUR = PALETTE[3]  # vermillion: a deviation from the paper's block
VARIANT_COLOUR = PALETTE[4]  # reddish purple: what is no mistake (a variant of the family, a convention)

# Inches. A row is one layer; rows of both columns line up.
_ROW = 0.62  # between the centres of two rows
_LINE_H = 0.17  # one more line of text in a box
_TEXT_PAD = 0.24  # a box's width beyond its text
_MIN_BOX_W = 0.8
_PATH_GAP = 0.22  # between the boxes of two drawn paths
_ELLIPSIS_W = 0.5  # the room of the elided paths' "⋯"
_TAG_GAP = 0.16  # between a tag and the layer it marks
_TAG_PAD = 0.08  # a tag's frame beyond its text
_LABEL_GAP = 0.06  # between an arrow and its channels
_SUM_GAP = 0.08  # between the sum's circle and its label, and above it where the paths meet
_SHORTCUT_GAP = 0.35  # between the widest layer and the shortcut's label
_COLUMN_GAP = 0.5
_MARGIN = 0.25  # round the figure
_TITLE_DY, _SUBTITLE_DY = 1.0, 0.55  # above the input's centre
_FOOTER_DY = 0.5  # the parameter count below the output's centre
_LEGEND_DY = 0.4  # from the footer down to the legend
_LEGEND_GAP = 0.06  # between two sentences of the legend
_MAX_DRAWN_PATHS = 3  # more: the first two, "⋯", the last (as forms_abc)
_TAG_CHARS = 24  # a variant's name is wrapped to lines this long in its tag
_SHORTCUT_CHARS = 22  # and a shortcut that is not the paper's, in its label

# The rows a column may have, top to bottom; a column draws those it has, at the height both columns give them.
_ROWS = (
    "input", "input_gate", "bus", "conv1", "bn_relu1", "gate1", "conv2", "bn_relu2", "gate2", "conv3", "path_end",
    "path_gate", "sum", "concat", "merged_conv3", "bn3", "relu_before_add", "gate3", "add", "relu", "output",
)  # fmt: skip
# Drawn once per path in layouts (a) and (b); in (c) the one path is the block.
_PATH_ROWS = frozenset({"conv1", "bn_relu1", "gate1", "conv2", "bn_relu2", "gate2", "conv3", "path_end", "path_gate"})
_SHORTCUT = "shortcut"  # the key of a mark on the shortcut, which is no row
_TITLE = "title"  # the key of a mark whose place no row shows: beside the column's title

# Each layer where a deviation sits -> the rows that show it, its tag beside the first of them the column has
# (in layout b the last 1x1 is the merged one; in layout c the paths are its one path).
_LAYER_ROWS: dict[BlockLayer, tuple[str, ...]] = {
    BlockLayer.PATHS: ("bus", "conv1", "conv2", "conv3"),  # tagged at the bus that feeds them; their convolutions
    BlockLayer.FIRST_CONV: ("conv1",),
    BlockLayer.FIRST_BN_RELU: ("bn_relu1",),
    BlockLayer.GROUPED_CONV: ("conv2",),
    BlockLayer.SECOND_BN_RELU: ("bn_relu2",),
    BlockLayer.LAST_CONV: ("conv3", "merged_conv3"),
    BlockLayer.PATH_ENDS: ("path_end",),
    BlockLayer.CONVOLUTIONS: ("conv1", "conv2", "conv3", "merged_conv3"),
    BlockLayer.AFTER_SUM: ("bn3",),
    BlockLayer.BEFORE_ADD: ("relu_before_add",),
    BlockLayer.ADD: ("add",),
    BlockLayer.AFTER_ADD: ("relu",),
    BlockLayer.SHORTCUT: (_SHORTCUT,),
}
# Each place a variant is found (its ``where``, blocks/dataflow/recognise/variants.py) -> the rows that show it.
_VARIANT_ROWS: dict[str, tuple[str, ...]] = {
    "on its input": ("input_gate",),
    "after its first 1x1": ("gate1",),
    "after its grouped 3x3": ("gate2",),
    "inside a path": ("path_gate",),
    "after its last BN, on the sum of its paths": ("gate3",),
    "on its shortcut": (_SHORTCUT,),
    "in its branch and after its add": ("relu", "bn_relu1", "bn_relu2"),  # another activation: tagged after the add
    "in its branch": ("conv1", "conv2", "conv3", "merged_conv3"),  # convolutions of other dimensions
    "after its last 1x1s": ("path_gate",),
    "throughout the block": ("input_gate", "relu"),  # pre-activation: BN and ReLU before the paths, none after the add
}
_GATE_ROWS = frozenset({"input_gate", "gate1", "gate2", "path_gate", "gate3"})
# The variants that are a layer of their own, and the text of its box.
_LAYER_VARIANTS = {
    VariantKind.SQUEEZE_EXCITATION: "gate",
    VariantKind.ECA: "gate",
    VariantKind.GATE: "gate",
    VariantKind.GLOBAL_CONTEXT: "global context",
    VariantKind.ANTI_ALIASING: "blur or pool{stride}",  # it takes the block's stride
}
_LAYOUTS = {  # C paths (or groups) of d channels, in the words of each layout
    "a": "{C} of {d}, summed",
    "b": "{C} of {d}, concatenated",
    "c": "one grouped 3x3: {groups} of {d}",
}


@dataclass(frozen=True)
class _Shape:
    """What both columns are drawn from: the block's channels, stride, C and d."""

    in_channels: int
    out_channels: int
    stride: int
    cardinality: int
    width: int

    @property
    def inner(self) -> int:
        """C·d, the channels of all the paths together."""
        return self.cardinality * self.width


@dataclass(frozen=True)
class _Row:
    """One layer drawn: its box text, colour and the channels on the arrow that leaves it."""

    key: str  # one of _ROWS
    text: str
    colour: str
    channels: int
    dashed: bool = False  # a layer the paper's block has and this one lacks


@dataclass(frozen=True)
class _Mark:
    """A tag on the rows (keys of _ROWS, or _SHORTCUT) where something differs from the paper's block."""

    keys: tuple[str, ...]
    tag: str
    colour: str


@dataclass(frozen=True)
class _Column:
    """One block to draw: title, rows top to bottom, shortcut, the marks on it and its parameter count."""

    title: str
    subtitle: str
    layout: str
    shape: _Shape
    rows: tuple[_Row, ...]
    shortcut: str  # "identity", or the label of its box
    footer: str
    marks: tuple[_Mark, ...] = ()

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(row.key for row in self.rows)

    def tags(self) -> dict[str, tuple[str, str]]:
        """Each marked row (or _SHORTCUT, _TITLE) -> its tag's text and colour (a mistake's over a variant's)."""
        tags: dict[str, list[_Mark]] = {}
        for mark in self.marks:
            present = [key for key in mark.keys if key in self.keys or key == _SHORTCUT]
            tags.setdefault(present[0] if present else _TITLE, []).append(mark)
        return {
            key: (
                "\n".join(dict.fromkeys(mark.tag for mark in marks)),
                MISTAKE_COLOUR if any(mark.colour == MISTAKE_COLOUR for mark in marks) else VARIANT_COLOUR,
            )
            for key, marks in tags.items()
        }

    def edges(self) -> dict[str, str]:
        """Each row (or _SHORTCUT) a mark is on -> the colour of its edge."""
        edges: dict[str, str] = {}
        for mark in self.marks:
            for key in mark.keys:
                if edges.get(key) != MISTAKE_COLOUR:
                    edges[key] = mark.colour
        return edges


def _text_width(text: str, size: float, bold: bool = False) -> float:
    """Inches across ``text`` (its longest line) at ``size`` pt in the house font, from the font's metrics."""
    font = FontProperties(family=STYLE["font.family"], size=size, weight="bold" if bold else "normal")
    widths = (text_to_path.get_text_width_height_descent(part, font, ismath=False)[0] for part in text.split("\n"))
    return max(widths) / 72


def _box_height(text: str) -> float:
    return BOX_H + _LINE_H * text.count("\n")


def _name(kind: VariantKind) -> str:
    """A variant's name without its article: "squeeze-and-excitation gate"."""
    return re.sub(r"^an? ", "", kind.label)


def _rows(shape: _Shape, layout: str, kinds: frozenset[DeviationKind], variants: tuple[Variant, ...]) -> list[_Row]:
    """The layers of a block of ``shape`` in ``layout``, as the paper's, changed by ``kinds`` and ``variants``."""
    colour, per_path = FORM_COLOURS[layout], layout in "ab"
    inner = shape.width if per_path else shape.inner  # channels of the path (or paths) drawn
    found = {variant.kind for variant in variants}
    activation = "activation" if VariantKind.ACTIVATION in found else "ReLU"
    other_kernels = DeviationKind.KERNELS in kinds or VariantKind.CONV_DIMS in found
    first, grouped, last = ("conv",) * 3 if other_kernels else ("1x1", "3x3", "1x1")
    # The recogniser's stride is the product of the first 1x1's and the 3x3's; the symptom in the legend gives both.
    stride = f", stride {shape.stride}" if shape.stride != 1 else ""
    on_first = DeviationKind.STRIDE_FIRST_CONV in kinds
    smoothed = VariantKind.ANTI_ALIASING in found
    pre_activated = VariantKind.PRE_ACTIVATION in found  # BN, ReLU before each convolution; nothing after the add
    conv1 = f"{'grouped ' if DeviationKind.GROUPED_FIRST_CONV in kinds else ''}{first}{stride if on_first else ''}"
    conv2 = f"{grouped}{'' if on_first or smoothed else stride}, {inner}\u2192{inner}"
    if layout == "c" and shape.cardinality > 1:
        conv2 = f"grouped {conv2}, {shape.cardinality} groups"
    bn_relu = f"BN, {activation}"
    rows = [
        _Row("input", f"input, {shape.in_channels} ch", GREY, shape.in_channels),
        *(_Row("input_gate", bn_relu, GREY, shape.in_channels) for _ in range(pre_activated)),
        *(_Row("bus", "", INK, shape.in_channels) for _ in range(per_path)),
        _Row("conv1", f"{conv1}, {shape.in_channels}\u2192{inner}", colour, inner),
        _Row("bn_relu1", bn_relu, GREY, inner),
        _Row("conv2", conv2, colour, inner),
        _Row("bn_relu2", bn_relu, GREY, inner),
    ]
    if layout == "b":
        concat = f"concatenate: {shape.cardinality} \u00d7 {shape.width} = {shape.inner} ch"
        rows += [_Row("concat", concat, GREY, shape.inner)]
        rows += [_Row("merged_conv3", f"{last}, {shape.inner}\u2192{shape.out_channels}", colour, shape.out_channels)]
    else:
        rows += [_Row("conv3", f"{last}, {inner}\u2192{shape.out_channels}", colour, shape.out_channels)]
    if DeviationKind.PER_PATH_BN_RELU in kinds or DeviationKind.PER_PATH_BN in kinds:  # the BN moved into the paths
        path_end = bn_relu if DeviationKind.PER_PATH_BN_RELU in kinds else "BN"
        rows += [_Row("path_end", path_end, GREY, shape.out_channels)]
    if layout == "a":
        rows += [_Row("sum", "", INK, shape.out_channels)]
    if not {DeviationKind.PER_PATH_BN_RELU, DeviationKind.PER_PATH_BN} & kinds and not pre_activated:
        rows += [_Row("bn3", "BN", GREY, shape.out_channels)]
    if DeviationKind.RELU_BEFORE_ADD in kinds:
        rows += [_Row("relu_before_add", activation, GREY, shape.out_channels)]
    rows += [_Row("add", "", INK, shape.out_channels)]
    if DeviationKind.NO_RELU_AFTER_ADD in kinds or pre_activated:
        rows += [_Row("relu", f"no {activation}", GREY, shape.out_channels, dashed=True)]
    else:
        rows += [_Row("relu", activation, GREY, shape.out_channels)]
    rows += [_Row("output", f"output, {shape.out_channels} ch", GREY, shape.out_channels)]
    for variant in variants:  # a layer of its own, with the channels of the value it reads
        keys = _VARIANT_ROWS.get(variant.where, ())
        if variant.kind in _LAYER_VARIANTS and keys and keys[0] in _GATE_ROWS:
            before = _ROWS[: _ROWS.index(keys[0])]
            at = max(i for i, row in enumerate(rows) if row.key in before) + 1
            text = _LAYER_VARIANTS[variant.kind].format(stride=stride)
            rows.insert(at, _Row(keys[0], text, VARIANT_COLOUR, rows[at - 1].channels))
    return rows


def _paper_column(shape: _Shape, layout: str, spec: BlockSpec | None) -> _Column:
    """The paper's block of ``shape`` in ``layout``; its parameters counted on a block built on the meta device."""
    shortcut = _shortcut(shape, identity=shape.in_channels == shape.out_channels and shape.stride == 1)
    footer = "" if spec is None else f"parameters: {sum(p.numel() for p in empty_block(spec, layout).parameters()):,}"
    return _Column(
        title=f"the paper's block, form ({layout})",
        subtitle=_subtitle(shape, layout),
        layout=layout,
        shape=shape,
        rows=tuple(_rows(shape, layout, frozenset(), ())),
        shortcut=shortcut,
        footer=footer,
    )


def _shortcut(shape: _Shape, identity: bool) -> str:
    """The label of the paper's shortcut: "identity", or its projection (1x1 with the stride, then BN)."""
    stride = f", stride {shape.stride}" if shape.stride != 1 else ""
    return "identity" if identity else f"1x1{stride},\n{shape.in_channels}\u2192{shape.out_channels},\nBN"


def _subtitle(shape: _Shape, layout: str) -> str:
    stride = f", stride {shape.stride}" if shape.stride != 1 else ""
    C, d = shape.cardinality, shape.width
    paths = _LAYOUTS[layout].format(C=_counted(C, "path"), groups=_counted(C, "group"), d=_counted(d, "channel"))
    return f"{paths};\n{shape.in_channels} \u2192 {shape.out_channels} channels{stride}"


def _mark(deviation: Deviation) -> _Mark:
    """A deviation's tag on the rows of its layer: its catalogue number, or what else it is."""
    if deviation.kind in CONVENTIONS:  # reported, never a mistake: the colour of what is not one
        return _Mark(_LAYER_ROWS[deviation.layer], "convention", VARIANT_COLOUR)
    tag = "not the paper's" if deviation.mistake is None else f"mistake {deviation.mistake}"
    return _Mark(_LAYER_ROWS[deviation.layer], tag, MISTAKE_COLOUR)


def _found_column(block: RecognisedBlock) -> _Column:
    """The block as recognised: its layout and shape, every deviation and variant drawn and marked."""
    layout = block.layout or "c"
    shape = _Shape(block.in_channels, block.out_channels, block.stride, max(block.cardinality, 1), block.width)
    kinds = frozenset(DeviationKind(deviation.kind) for deviation in block.deviations)
    marks = [_mark(deviation) for deviation in block.deviations]
    marks += [
        _Mark(
            _VARIANT_ROWS.get(variant.where, (_TITLE,)), textwrap.fill(_name(variant.kind), _TAG_CHARS), VARIANT_COLOUR
        )
        for variant in block.variants
    ]
    if block.shortcut in ("identity", "projection"):
        shortcut = _shortcut(shape, block.shortcut == "identity")
    else:  # what it is, in the recogniser's words
        shortcut = textwrap.fill(block.shortcut.replace("->", "\u2192"), _SHORTCUT_CHARS)
    per_use = (
        f" ({block.per_call_parameters:,} counted per use)" if block.per_call_parameters != block.parameters else ""
    )
    name = "the block" if block.where == "(model)" else f"block {block.where}"  # "(model)": a model that is one block
    return _Column(
        title=f"{name}, as recognised: layout ({layout})",
        subtitle=_subtitle(shape, layout),
        layout=layout,
        shape=shape,
        rows=tuple(_rows(shape, layout, kinds, block.variants)),
        shortcut=shortcut,
        footer=f"parameters: {block.parameters:,}{per_use}",
        marks=tuple(marks),
    )


def _legend(block: RecognisedBlock, mine: _Column, paper: _Column) -> list[str]:
    """What differs from the paper's block beside it, one sentence each: the shape and layout where they differ,
    then each deviation (in the order of its layers) and variant, where it sits and what was measured.

    Empty when nothing differs.
    """
    lines = []
    if mine.shape != paper.shape:
        lines.append(f"Its shape is not the paper's block's beside it: {_in_words(mine.shape)}, where that one is"
                     f" {_in_words(paper.shape)}.")  # fmt: skip
    if mine.layout != paper.layout:
        lines.append(f"It is laid out as form ({mine.layout}), the paper's block beside it as form ({paper.layout}).")
    found: dict[str, list[str]] = {}  # what it is -> where and what was measured, each of its deviations
    for deviation in sorted(block.deviations, key=lambda deviation: list(BlockLayer).index(deviation.layer)):
        if deviation.mistake is not None:
            what = f"Mistake {deviation.mistake} ({CATALOGUE[deviation.mistake].title})"
        else:
            what = "A convention, not a mistake" if deviation.kind in CONVENTIONS else "Not the paper's block"
        found.setdefault(what, []).append(f"{deviation.layer}: {deviation.symptom}")
    lines += [f"{what}, {'; and '.join(places)}." for what, places in found.items()]
    for variant in block.variants:
        lines.append(f"{str(variant)[0].upper()}{str(variant)[1:]}.")
    return [line.replace("->", "\u2192") for line in dict.fromkeys(lines)]


def _in_words(shape: _Shape) -> str:
    """E.g. "32 -> 64 channels, stride 2, 4 paths of 4 channels"."""
    stride = f", stride {shape.stride}" if shape.stride != 1 else ""
    paths = f"{_counted(shape.cardinality, 'path')} of {_counted(shape.width, 'channel')}"
    return f"{shape.in_channels} \u2192 {shape.out_channels} channels{stride}, {paths}"


def _agrees(block: RecognisedBlock) -> str:
    """The legend when nothing differs: and how closely a form (c) block of its tensors computes it."""
    if block.error is None:
        return "Nothing differs from the paper's block: no deviation and no variant."
    to = "exactly" if block.error == 0 else f"to {block.error:.0e} (relative)"
    return f"Nothing differs from the paper's block: a form (c) block rebuilt from its tensors computes it {to}."


class _End(NamedTuple):
    """Where an arrow leaves a drawn row: the point, the channels it carries, and its path (None: elided)."""

    x: float
    y: float
    channels: int
    path: int | None = 0


@dataclass(frozen=True)
class _Geometry:
    """Where one column's parts go, in inches from its centre line: box widths, paths, shortcut."""

    column: _Column
    path_w: float  # every box of a path
    branch_w: float  # the centred boxes before the merge (form c's path, form b's merged 1x1)
    tail_w: float  # the centred boxes after it
    io_w: float  # input and output
    slots: tuple[tuple[float, int | None], ...]  # each drawn path (None: the elided ones) and its x
    shortcut_w: float  # its label's box

    @classmethod
    def of(cls, column: _Column) -> _Geometry:
        """Measure every text of ``column`` and size its boxes to fit."""
        pt, per_path = text_pt(), column.layout in "ab"

        def fit(rows: list[_Row]) -> float:
            return max([_MIN_BOX_W, *(_text_width(row.text, pt) + _TEXT_PAD for row in rows)])

        in_paths = [row for row in column.rows if per_path and row.key in _PATH_ROWS]
        centred = [row for row in column.rows if row not in in_paths and row.key not in ("concat", "sum", "add")]
        path_w = fit(in_paths)
        slots, x = [], 0.0
        for index in _slots(column.shape.cardinality) if per_path else []:
            width = _ELLIPSIS_W if index is None else path_w
            slots.append((x + width / 2, index))
            x += width + _PATH_GAP
        span = x - _PATH_GAP
        shortcut_w = 0.3 if column.shortcut == "identity" else _text_width(column.shortcut, pt) + 2 * _TAG_PAD
        return cls(
            column,
            path_w,
            branch_w=fit([row for row in centred if _before_merge(row.key) and row.key != "input"]),
            tail_w=fit([row for row in centred if not _before_merge(row.key) and row.key != "output"]),
            io_w=fit([row for row in column.rows if row.key in ("input", "output")]),
            slots=tuple((x - span / 2, index) for x, index in slots),
            shortcut_w=shortcut_w,
        )

    def width_of(self, key: str) -> float:
        """The width of row ``key``'s box, or of all its boxes side by side (a row of the paths, the bus)."""
        if key in ("sum", "add"):
            return 2 * ADD_RADIUS
        if key == "bus" or (self.column.layout in "ab" and key in _PATH_ROWS) or key == "concat":
            paths = 2 * max(abs(x) for x, _ in self.slots) + (0 if key == "bus" else self.path_w)
            if key == "concat":
                concat = next(row.text for row in self.column.rows if row.key == "concat")
                return max(paths, _text_width(concat, text_pt()) + _TEXT_PAD)
            return paths
        if key in ("input", "output"):
            return self.io_w
        return self.branch_w if _before_merge(key) else self.tail_w

    @property
    def half(self) -> float:
        """Half the width of the widest row."""
        return max(self.width_of(row.key) for row in self.column.rows) / 2

    @property
    def shortcut_dx(self) -> float:
        """The shortcut's line, right of the centre line."""
        return self.half + _SHORTCUT_GAP + self.shortcut_w / 2

    @property
    def left_room(self) -> float:
        """From the column's left edge to its centre line: the widest row, the sum's label, each tag, the titles."""
        pt, column = text_pt(), self.column
        lefts = [self.half, *(width / 2 for width in self.heads)]
        if "sum" in column.keys:
            lefts.append(ADD_RADIUS + _SUM_GAP + _text_width(_sum_label(column), pt))
        for key, (tag, _) in column.tags().items():
            if key == _TITLE:
                lefts.append(self.heads[0] / 2 + _TAG_GAP + _tag_width(tag))
            elif key != _SHORTCUT:
                lefts.append(self.width_of(key) / 2 + _TAG_GAP + _tag_width(tag))
        return max(lefts)

    @property
    def right_room(self) -> float:
        """From the centre line to the column's right edge: the shortcut's label and its tag, the titles."""
        rights = [self.shortcut_dx + self.shortcut_w / 2, *(width / 2 for width in self.heads)]
        tag = self.column.tags().get(_SHORTCUT)
        if tag:
            rights.append(self.shortcut_dx + self.shortcut_w / 2 + _TAG_GAP + _tag_width(tag[0]))
        return max(rights)

    @property
    def heads(self) -> tuple[float, float, float]:
        """The widths of the title, the subtitle and the footer, centred on the centre line."""
        column, pt = self.column, text_pt()
        title = _text_width(column.title, title_pt(), bold=True)
        return title, _text_width(column.subtitle, pt), _text_width(column.footer, pt)

    @property
    def width(self) -> float:
        return self.left_room + self.right_room


def _before_merge(key: str) -> bool:
    """Whether row ``key`` comes before the paths are merged (and the BN after the merge)."""
    return _ROWS.index(key) < _ROWS.index("bn3")


def _slots(cardinality: int) -> list[int | None]:
    """The paths drawn, None standing for the elided ones."""
    if cardinality <= _MAX_DRAWN_PATHS:
        return list(range(cardinality))
    return [*range(_MAX_DRAWN_PATHS - 1), None, cardinality - 1]


def _sum_label(column: _Column) -> str:
    return f"sum of {_counted(column.shape.cardinality, 'path')}"


def _counted(count: int, thing: str) -> str:
    """``"4 paths"``, ``"1 channel"``."""
    return f"{count} {thing}{'' if count == 1 else 's'}"


def _tag_width(tag: str) -> float:
    """Inches across a tag, its frame included."""
    return _text_width(tag, text_pt(), bold=True) + 2 * _TAG_PAD


class _Drawing:
    """Draws one column on ``ax``: its centre line at ``centre``, row ``key`` at height ``ys[key]``."""

    def __init__(self, ax: Axes, geometry: _Geometry, centre: float, ys: dict[str, float]) -> None:
        self.ax, self.geometry, self.centre, self.ys = ax, geometry, centre, ys
        self.column = geometry.column
        self.edges = self.column.edges()

    def draw(self) -> None:
        """Titles, every row top to bottom with the arrows into it, the footer, the shortcut, the tags."""
        column, ax, centre = self.column, self.ax, self.centre
        input_y = self.ys["input"]
        write(ax, centre, input_y + _TITLE_DY, column.title, fontsize=title_pt(), weight="bold")
        write(ax, centre, input_y + _SUBTITLE_DY, column.subtitle)
        ends: list[_End] = []
        for row in column.rows:
            ends = self.row(row, ends)
        write(ax, centre, self.ys["output"] - _FOOTER_DY, column.footer)
        self.shortcut()
        self.tags()

    def box(self, x: float, row: _Row, width: float) -> _End:
        """Draw ``row``'s box of ``width`` centred on ``x``; return where the arrow below it leaves."""
        y, height = self.ys[row.key], _box_height(row.text)
        box(self.ax, x, y, width, row.text, row.colour, height, edge=self.edges.get(row.key), dashed=row.dashed)
        return _End(x, y - height / 2, row.channels)

    def row(self, row: _Row, ends: list[_End]) -> list[_End]:
        """Draw one row and the arrows into it from ``ends``; return where its own arrows leave."""
        ax, y, centre = self.ax, self.ys[row.key], self.centre
        if row.key == "bus":  # the input handed to every path
            x, top, channels, _ = ends[0]
            line(ax, [x, x], [top, y])
            write(ax, x + _LABEL_GAP, (top + y) / 2, str(channels), ha="left")
            drawn = [centre + dx for dx, index in self.geometry.slots if index is not None]
            line(ax, [min(drawn), max(drawn)], [y, y])
            return [_End(centre + dx, y, channels, index) for dx, index in self.geometry.slots]
        if self.column.layout in "ab" and row.key in _PATH_ROWS:
            return [self.path_row(row, end) for end in ends]
        if row.key in ("sum", "add"):
            top = y + ADD_RADIUS
            if row.key == "sum":
                self.sum(ends, y)
            else:
                self.into(ends[0], top)
            plus(ax, centre, y)
            if row.key in self.edges:  # a mark on the add: its circle edged in the mark's colour
                ring = Circle((centre, y), ADD_RADIUS, facecolor="none", edgecolor=self.edges[row.key], linewidth=2.2)
                ax.add_patch(ring)
            return [_End(centre, y - ADD_RADIUS, row.channels)]
        if row.key == "concat":
            for end in ends:
                if end.path is not None:
                    arrow(ax, (end.x, end.y), (end.x, y + BOX_H / 2), str(end.channels))
            return [self.box(centre, row, self.geometry.width_of(row.key))]
        if ends:  # every row but the input
            self.into(ends[0], y + _box_height(row.text) / 2)
        return [self.box(centre, row, self.geometry.width_of(row.key))]

    def path_row(self, row: _Row, end: _End) -> _End:
        """One path's box of ``row`` and the arrow into it (named after the path below the bus), or "⋯"."""
        y = self.ys[row.key]
        if end.path is None:
            write(self.ax, end.x, y, ELLIPSIS, fontsize=title_pt(), backgroundcolor="white")
            return _End(end.x, y, row.channels, None)
        target = (end.x, y + _box_height(row.text) / 2)
        if end.y == self.ys.get("bus"):
            arrow(self.ax, (end.x, end.y), target)
            label = {"facecolor": "white", "edgecolor": "none", "pad": 0.5}
            write(self.ax, end.x, (end.y + target[1]) / 2, f"path {end.path + 1}", bbox=label)
        else:
            arrow(self.ax, (end.x, end.y), target, str(end.channels))
        return self.box(end.x, row, self.geometry.path_w)._replace(path=end.path)

    def sum(self, ends: list[_End], y: float) -> None:
        """Form (a)'s sum: every path's line into the circle at height ``y``, and its label."""
        ax, centre = self.ax, self.centre
        knee = y + ADD_RADIUS + _SUM_GAP
        for end in ends:
            if end.path is not None:
                line(ax, [end.x, end.x, centre], [end.y, knee, y + ADD_RADIUS])
        last = ends[-1]
        write(ax, last.x + _LABEL_GAP, (last.y + knee) / 2, str(last.channels), ha="left")
        write(ax, centre - ADD_RADIUS - _SUM_GAP, y, _sum_label(self.column), ha="right")

    def into(self, end: _End, top: float) -> None:
        """The arrow from the centred row above down to ``top``, with its channels."""
        arrow(self.ax, (end.x, end.y), (self.centre, top), str(end.channels))

    def shortcut(self) -> None:
        """From the input, round the right of the layers, into the add: identity, projection, or what it is."""
        ax, column = self.ax, self.column
        x, input_y, add_y = self.centre + self.geometry.shortcut_dx, self.ys["input"], self.ys["add"]
        line(ax, [self.centre + self.geometry.io_w / 2, x, x], [input_y, input_y, add_y])
        arrow(ax, (x, add_y), (self.centre + ADD_RADIUS, add_y))
        marked = _SHORTCUT in self.edges
        frame = {"facecolor": "white", "pad": 2, "linewidth": 2.2 if marked else 1.0}
        if column.shortcut == "identity":
            frame["edgecolor"] = self.edges.get(_SHORTCUT, GREY)
            write(ax, x, (input_y + add_y) / 2, "identity", rotation=90, bbox=frame)
        else:
            frame["edgecolor"] = self.edges.get(_SHORTCUT, FORM_COLOURS[column.layout])
            write(ax, x, (input_y + add_y) / 2, column.shortcut, bbox=frame)

    def tags(self) -> None:
        """Each mark's tag: left of the row it marks, right of the shortcut's label, or left of the title."""
        ax, geometry, centre = self.ax, self.geometry, self.centre
        for key, (tag, colour) in self.column.tags().items():
            frame = {"boxstyle": f"round,pad={_TAG_PAD * 72 / text_pt():.2f}", "facecolor": tint(colour, 0.15),
                     "edgecolor": colour, "linewidth": 1.8}  # fmt: skip
            style = {"weight": "bold", "multialignment": "left", "bbox": frame}
            if key == _SHORTCUT:
                x = centre + geometry.shortcut_dx + geometry.shortcut_w / 2 + _TAG_GAP + _TAG_PAD
                write(ax, x, (self.ys["input"] + self.ys["add"]) / 2, tag, ha="left", **style)
            elif key == _TITLE:
                x = centre - geometry.heads[0] / 2 - _TAG_GAP - _TAG_PAD
                write(ax, x, self.ys["input"] + _TITLE_DY, tag, ha="right", **style)
            else:
                x = centre - geometry.width_of(key) / 2 - _TAG_GAP - _TAG_PAD
                write(ax, x, self.ys[key], tag, ha="right", **style)


def _chosen(found: object, block: int | str | None) -> RecognisedBlock:
    """The block of ``found`` to draw: ``block`` (an index or a name), else the first one not the paper's."""
    if isinstance(found, RecognisedBlock):
        if block is not None:
            raise ValueError(f"block must be None when found is one RecognisedBlock, got {block!r}")
        return found
    if not isinstance(found, (AuditReport, Recognition)):
        raise TypeError(f"found must be an AuditReport, a Recognition or a RecognisedBlock, got {type(found).__name__}")
    blocks = found.blocks
    if not blocks:
        raise ValueError(f"no bottleneck was found in the forward pass of {found.model}: there is no block to draw")
    if block is None:
        return next((b for b in blocks if b.deviations), next((b for b in blocks if b.variants), blocks[0]))
    names = [b.where for b in blocks]
    if type(block) is int and 0 <= block < len(blocks):  # type(...) is int: True is no index
        return blocks[block]
    if isinstance(block, str) and block in names:
        return blocks[names.index(block)]
    shown = ", ".join(repr(name) for name in names[:6]) + (f", ... ({len(names)} in all)" if len(names) > 6 else "")
    raise ValueError(f"block must be an index from 0 to {len(blocks) - 1} or a block's name ({shown}), got {block!r}")


def _wrapped(text: str, width: float, size: float) -> str:
    """``text`` broken into lines no wider than ``width`` inches at ``size`` pt."""
    chars = max(20, int(len(text) * width / max(_text_width(text, size), 1e-9)))
    while True:
        lines = textwrap.wrap(text, chars)
        if chars <= 20 or all(_text_width(part, size) <= width for part in lines):
            return "\n".join(lines)
        chars -= 4


@styled
def block_figure(
    found: AuditReport | Recognition | RecognisedBlock,
    block: int | str | None = None,
    *,
    paper_spec: BlockSpec | None = None,
    paper_form: str | None = None,
) -> Figure:
    """A block as recognised from a model's dataflow, beside the paper's block, every difference marked.

    The right column draws the block as :func:`blocks.recognise` read it: its layout, C, d,
    stride and shortcut, the channels on every arrow, and each deviation (tagged with its
    catalogue number) and variant (tagged with its name) on the layer where it sits; the
    sentences under the columns say what was measured. The left column is the paper's
    block of the same shape and layout (or ``paper_spec`` in ``paper_form``, the block an
    exercise asks for). A report or recognition of many blocks draws one: ``block``, else
    the first with a deviation, else the first with a variant, else the first.

    :meth:`blocks.dataflow.audit.AuditReport.figure` calls this function: the drawing lives
    here, in the figures' layer, and an audit imports matplotlib only when asked for a figure.

    Args:
        found: what :func:`blocks.audit` or :func:`blocks.recognise` returned, or one of their blocks.
        block: which block of ``found`` to draw, by index or by name (``"layer1.0"``); None for one block.
        paper_spec: the paper's block to draw beside it; default the recognised block's shape.
        paper_form: its form, "a", "b" or "c"; default the recognised block's layout.

    Returns:
        The figure, the same bytes on every render (:func:`blocks.figures.style.save_figure`).

    Raises:
        TypeError: ``found`` is none of those, or ``paper_spec`` is not a :class:`BlockSpec`.
        ValueError: ``found`` holds no block, ``block`` names none of its blocks (or is given
            with one block), or ``paper_form`` is not "a", "b" or "c".

    Example:
        >>> from blocks.dataflow.mistakes import WrongReluBeforeAddBlock
        >>> fig = block_figure(blocks.audit(WrongReluBeforeAddBlock(BlockSpec(32, 32, 4, 4)), (2, 32, 8, 8)))
    """
    chosen = _chosen(found, block)
    if paper_spec is not None:
        check_spec(paper_spec)
    if paper_form is not None and paper_form not in FORM_COLOURS:
        raise ValueError(f"paper_form must be one of {sorted(FORM_COLOURS)} or None, got {paper_form!r}")
    mine = _found_column(chosen)
    if paper_spec is None:
        paper = _paper_column(mine.shape, paper_form or mine.layout, chosen.spec)
    else:
        shape = _Shape(paper_spec.in_channels, paper_spec.out_channels, paper_spec.stride, paper_spec.cardinality,
                       paper_spec.width)  # fmt: skip
        paper = _paper_column(shape, paper_form or mine.layout, paper_spec)
    geometries = [_Geometry.of(paper), _Geometry.of(mine)]
    keys = [key for key in _ROWS if key in paper.keys or key in mine.keys]  # the rows of both, in step
    width = 2 * _MARGIN + sum(geometry.width for geometry in geometries) + _COLUMN_GAP
    differences = _legend(chosen, mine, paper)
    heading = ["What differs from the paper's block:"] if differences else []
    entries = [_wrapped(entry, width - 2 * _MARGIN, text_pt()) for entry in differences or [_agrees(chosen)]]
    top_room = _MARGIN + _TITLE_DY + title_pt() / 72
    legend_h = sum(_entry_height(entry) for entry in [*heading, *entries])
    height = top_room + (len(keys) - 1) * _ROW + _FOOTER_DY + _LEGEND_DY + legend_h + _MARGIN
    fig, ax = canvas(width, height)
    ys = {key: height - top_room - i * _ROW for i, key in enumerate(keys)}
    left = _MARGIN
    for geometry in geometries:
        _Drawing(ax, geometry, left + geometry.left_room, ys).draw()
        left += geometry.width + _COLUMN_GAP
    y = ys["output"] - _FOOTER_DY - _LEGEND_DY
    for entry in [*heading, *entries]:
        write(ax, _MARGIN, y, entry, ha="left", va="top", weight="bold" if entry in heading else "normal")
        y -= _entry_height(entry)
    return fig


def _entry_height(entry: str) -> float:
    """Inches down from one sentence of the legend to the next: its lines (matplotlib's spacing), a gap."""
    return (entry.count("\n") + 1) * 1.2 * text_pt() / 72 + _LEGEND_GAP
