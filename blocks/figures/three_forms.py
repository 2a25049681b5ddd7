"""``forms_abc``: the paper's Figure 3, forms (a), (b), (c) of one block, with every channel count."""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from torch import nn

from blocks.core._fast import empty_block
from blocks.core.forms import BlockPath, GroupedConvBlock, ResNeXtBlock
from blocks.core.spec import BlockSpec
from blocks.figures.kit import (
    ADD_RADIUS,
    BOX_H,
    ELLIPSIS,
    GREY,
    TITLE_PT,
    arrow,
    box,
    canvas,
    check_spec,
    line,
    plus,
    write,
)
from blocks.figures.style import FORM_COLOURS, styled

FORMS_ABC_SPEC = BlockSpec(256, 256, cardinality=32, width=4)  # the paper's Figure 3


_ROW = 0.62  # inches between the centres of two rows of layers
_PATH_BOX_W = 1.0  # a layer of one path in forms (a) and (b)
_WIDE_BOX_W = 2.9  # a layer of form (c), whose text names the groups
_TAIL_BOX_W = 0.8  # BN, ReLU after the paths
_IO_BOX_W = 1.5  # input and output
_PATH_PITCH = 1.18  # inches between the centres of two drawn paths
_ELLIPSIS_PITCH = 0.7
_MIN_PATHS_SPAN = 3.0  # inches: room for the subtitle and the label of the sum
_SHORTCUT_MARGIN = 1.05  # room right of the paths for the shortcut line and its label
_LABEL_GAP = 0.06  # inches between a line and its label
_MAX_DRAWN_PATHS = 3  # more paths than this: the first two, "⋯", the last
# Rows, top to bottom: the input, the bus that hands it to the paths, the paths'
# layers (rows 1-5), their merge (rows 5-6), then BN, the add, ReLU and the output.
_INPUT_ROW, _BUS_ROW, _TAIL_ROW = -1, -0.25, 7
_OUTPUT_ROW = _TAIL_ROW + 3
_TITLE_SPACE = 1.45  # inches above the input for the column's title and subtitle
_FOOT_SPACE = 1.0  # inches below the output for the weight count

_TITLES = {"a": "(a) aggregated paths", "b": "(b) concatenate, then 1x1", "c": "(c) grouped convolution"}
_SUBTITLES = {
    "a": "{paths}, each 1x1 \u2192 3x3 \u2192 1x1;\ntheir outputs are summed",
    "b": "{paths}, each 1x1 \u2192 3x3;\nconcatenated, then one 1x1",
    "c": "one path; its 3x3 is a grouped\nconvolution with {C} groups",
}
_ONE_GROUP_SUBTITLE = "one path; with 1 group its 3x3 is\nan ordinary convolution (ResNet)"


def _drawn_paths(cardinality: int) -> list[int | None]:
    """Indices of the paths to draw, None standing for the elided ones (an ellipsis)."""
    if cardinality <= _MAX_DRAWN_PATHS:
        return list(range(cardinality))
    return [0, 1, None, cardinality - 1]


def _paths_span(cardinality: int) -> float:
    """Inches across the drawn paths of forms (a) and (b)."""
    return sum(_ELLIPSIS_PITCH if i is None else _PATH_PITCH for i in _drawn_paths(cardinality))


def _column_width(block: ResNeXtBlock) -> float:
    paths = _WIDE_BOX_W + 0.2 if block.form == "c" else max(_paths_span(block.spec.cardinality), _MIN_PATHS_SPAN)
    return paths + _SHORTCUT_MARGIN


def _conv_text(conv: nn.Conv2d) -> str:
    """E.g. ``"3x3 /2, 8→8"``: kernel, stride if not 1, channels in → out."""
    kernel = "x".join(str(k) for k in conv.kernel_size)
    stride = f" /{conv.stride[0]}" if conv.stride[0] != 1 else ""
    return f"{kernel}{stride}, {conv.in_channels}\u2192{conv.out_channels}"


def _path_layers(path: BlockPath | GroupedConvBlock) -> list[tuple[str, bool, int]]:
    """(box text, whether it is a conv, channels leaving it) per layer of one path, top to bottom.

    ``path`` is a :class:`blocks.core.forms.BlockPath` (forms a, b) or the form (c) block,
    which has the same layer names (conv1 bn1 conv2 bn2 [conv3]).
    """
    conv2 = path.conv2
    conv2_text = _conv_text(conv2)
    if conv2.groups > 1:
        conv2_text = f"grouped {conv2_text}, {conv2.groups} groups"
    layers = [
        (_conv_text(path.conv1), True, path.conv1.out_channels),
        ("BN, ReLU", False, path.bn1.num_features),
        (conv2_text, True, conv2.out_channels),
        ("BN, ReLU", False, path.bn2.num_features),
    ]
    if path.conv3 is not None:
        layers.append((_conv_text(path.conv3), True, path.conv3.out_channels))
    return layers


@dataclass
class _Column:
    """One form's block, drawn in a column ``left`` inches from the figure's left edge."""

    ax: Axes
    block: ResNeXtBlock
    left: float
    top: float  # the height of row 0

    @property
    def width(self) -> float:
        return _column_width(self.block)

    @property
    def centre(self) -> float:
        return self.left + (self.width - _SHORTCUT_MARGIN) / 2

    def y(self, row: float) -> float:
        return self.top - row * _ROW

    def box(self, x: float, row: float, text: str, conv: bool, width: float) -> None:
        box(self.ax, x, self.y(row), width, text, FORM_COLOURS[self.block.form] if conv else GREY)

    def draw(self) -> None:
        self.header()
        ends = self.paths()
        self.tail(self.merge(ends))
        self.shortcut()

    def header(self) -> None:
        spec, form = self.block.spec, self.block.form
        paths = f"{spec.cardinality} path{'s' if spec.cardinality > 1 else ''}"
        subtitle = _SUBTITLES[form].format(C=spec.cardinality, paths=paths)
        if form == "c" and spec.cardinality == 1:
            subtitle = _ONE_GROUP_SUBTITLE
        write(self.ax, self.centre, self.y(_INPUT_ROW) + 1.0, _TITLES[form], fontsize=TITLE_PT, weight="bold")
        write(self.ax, self.centre, self.y(_INPUT_ROW) + 0.5, subtitle)
        self.box(self.centre, _INPUT_ROW, f"input, {spec.in_channels} ch", False, _IO_BOX_W)

    def paths(self) -> list[tuple[float, float, int]]:
        """Draw the bus and every drawn path; return (x, y, channels) where each path ends."""
        ax, block, y = self.ax, self.block, self.y
        slots: list[tuple[float, BlockPath | GroupedConvBlock | None, int | None]]
        if isinstance(block, GroupedConvBlock):  # form (c): one path, the block's own layers
            slots = [(self.centre, block, None)]
            box_width = _WIDE_BOX_W
        else:  # forms (a), (b): an nn.ModuleList of BlockPaths
            block_paths = cast(nn.ModuleList, block.paths)
            indices = _drawn_paths(block.spec.cardinality)
            pitches = np.array([_ELLIPSIS_PITCH if i is None else _PATH_PITCH for i in indices])
            xs = self.centre - pitches.sum() / 2 + np.cumsum(pitches) - pitches / 2
            slots = [(x, None if i is None else cast(BlockPath, block_paths[i]), i) for x, i in zip(xs, indices)]
            box_width = _PATH_BOX_W
        drawn = [x for x, path, _ in slots if path is not None]
        bus, input_bottom = y(_BUS_ROW), y(_INPUT_ROW) - BOX_H / 2
        line(ax, [self.centre, self.centre], [input_bottom, bus])
        write(ax, self.centre + _LABEL_GAP, (input_bottom + bus) / 2, str(block.spec.in_channels), ha="left")
        line(ax, [min(drawn), max(drawn)], [bus, bus])

        ends = []
        for x, path, index in slots:
            if path is None:  # the elided paths
                for row in (_BUS_ROW, *range(1, 5 + (block.form == "a"))):
                    write(ax, x, y(row), ELLIPSIS, fontsize=TITLE_PT, backgroundcolor="white")
                continue
            first_top = y(1) + BOX_H / 2
            arrow(ax, (x, bus), (x, first_top))
            if index is not None:
                label_box = {"facecolor": "white", "edgecolor": "none", "pad": 0.5}
                write(ax, x, (bus + first_top) / 2, f"path {index + 1}", bbox=label_box)
            layers = _path_layers(path)
            for row, (text, conv, channels) in enumerate(layers, start=1):
                self.box(x, row, text, conv, box_width)
                if row < len(layers):
                    arrow(ax, (x, y(row) - BOX_H / 2), (x, y(row + 1) + BOX_H / 2), str(channels))
            ends.append((x, y(len(layers)) - BOX_H / 2, layers[-1][2]))
        return ends

    def merge(self, ends: list[tuple[float, float, int]]) -> tuple[float, float]:
        """(a) sum the paths, (b) concatenate them and apply the shared 1x1, (c) nothing to merge.

        Returns the point the merged result leaves from.
        """
        ax, block, y, centre = self.ax, self.block, self.y, self.centre
        spec = block.spec
        if block.form == "a":
            knee = y(5.55)
            for x, end_y, _ in ends:
                line(ax, [x, x, centre], [end_y, knee, y(6) + ADD_RADIUS])
            last_x, last_y, channels = ends[-1]
            write(ax, last_x + _LABEL_GAP, (last_y + knee) / 2, str(channels), ha="left")
            plus(ax, centre, y(6))
            paths = f"{spec.cardinality} path{'s' if spec.cardinality > 1 else ''}"
            write(ax, centre - ADD_RADIUS - 0.08, y(6), f"sum of {paths}", ha="right")
            return centre, y(6) - ADD_RADIUS
        if block.form == "b":
            for x, end_y, channels in ends:
                arrow(ax, (x, end_y), (x, y(5) + BOX_H / 2), str(channels))
            span = max(max(x for x, _, _ in ends) - min(x for x, _, _ in ends) + _PATH_BOX_W, 2.6)  # 2.6: its text
            concat = f"concatenate: {spec.cardinality} \u00d7 {spec.width} = {spec.grouped_channels} ch"
            box(ax, centre, y(5), span, concat, GREY)
            arrow(ax, (centre, y(5) - BOX_H / 2), (centre, y(6) + BOX_H / 2), str(spec.grouped_channels))
            self.box(centre, 6, _conv_text(cast(nn.Conv2d, block.conv3)), True, 1.6)  # form (b)'s shared 1x1
            return centre, y(6) - BOX_H / 2
        x, end_y, _ = ends[0]
        return x, end_y

    def tail(self, start: tuple[float, float]) -> None:
        """BN, add the shortcut, ReLU, output: the same in every form."""
        ax, y, centre = self.ax, self.y, self.centre
        out = self.block.spec.out_channels
        arrow(ax, start, (centre, y(_TAIL_ROW) + BOX_H / 2), str(out))
        self.box(centre, _TAIL_ROW, "BN", False, _TAIL_BOX_W)
        arrow(ax, (centre, y(_TAIL_ROW) - BOX_H / 2), (centre, y(_TAIL_ROW + 1) + ADD_RADIUS), str(out))
        plus(ax, centre, y(_TAIL_ROW + 1))
        arrow(ax, (centre, y(_TAIL_ROW + 1) - ADD_RADIUS), (centre, y(_TAIL_ROW + 2) + BOX_H / 2), str(out))
        self.box(centre, _TAIL_ROW + 2, "ReLU", False, _TAIL_BOX_W)
        arrow(ax, (centre, y(_TAIL_ROW + 2) - BOX_H / 2), (centre, y(_OUTPUT_ROW) + BOX_H / 2), str(out))
        self.box(centre, _OUTPUT_ROW, f"output, {out} ch", False, _IO_BOX_W)
        weights = sum(m.weight.numel() for m in self.block.modules() if isinstance(m, nn.Conv2d))
        write(ax, centre, y(_OUTPUT_ROW) - 0.55, f"conv weights: {weights:,}")

    def shortcut(self) -> None:
        """From the input, round the right of the paths, into the add: identity or 1x1 + BN."""
        ax, y = self.ax, self.y
        right, add_y = self.left + self.width - 0.5, y(_TAIL_ROW + 1)
        line(ax, [self.centre + _IO_BOX_W / 2, right, right], [y(_INPUT_ROW), y(_INPUT_ROW), add_y])
        arrow(ax, (right, add_y), (self.centre + ADD_RADIUS, add_y))
        projection = self.block.downsample
        if projection is None:
            write(ax, right, y(3), "identity", rotation=90, bbox={"facecolor": "white", "edgecolor": GREY, "pad": 2})
        else:
            conv = cast(nn.Conv2d, projection[0])  # downsample is (1x1 conv, BN)
            stride = f" /{conv.stride[0]}" if conv.stride[0] != 1 else ""
            label = f"1x1{stride},\n{conv.in_channels}\u2192{conv.out_channels},\nBN"
            edge = FORM_COLOURS[self.block.form]
            write(ax, right, y(3), label, bbox={"facecolor": "white", "edgecolor": edge, "pad": 2})


@styled
def forms_abc(spec: BlockSpec = FORMS_ABC_SPEC) -> Figure:
    """The paper's Figure 3: one block drawn in forms (a), (b) and (c) side by side.

    Every box, channel count, group count and the weight count under each form
    is read from the block modules (built on the meta device). More than three
    paths are elided: the first two, "⋯", the last; the subtitle gives the count.
    BN and ReLU are the grey boxes; the shortcut is drawn on the right.

    Args:
        spec: the block to draw; default the paper's 256-d in, 32x4d.

    Returns:
        The figure.

    Raises:
        TypeError: ``spec`` is not a :class:`BlockSpec`.

    Example:
        >>> fig = forms_abc(BlockSpec(64, 64, cardinality=8, width=4))
    """
    check_spec(spec)
    one_per_form = [empty_block(spec, form) for form in "abc"]
    height = _TITLE_SPACE + (_OUTPUT_ROW - _INPUT_ROW) * _ROW + _FOOT_SPACE
    fig, ax = canvas(sum(_column_width(block) for block in one_per_form) + 0.3, height)
    left, top = 0.15, height - _TITLE_SPACE + _INPUT_ROW * _ROW
    for block in one_per_form:
        column = _Column(ax, block, left, top)
        column.draw()
        left += column.width
    return fig
