"""``forms_abc``: the paper's Figure 3, forms (a), (b), (c) of one block, with every channel count."""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from torch import nn

from blocks.core.build import empty_block
from blocks.core.forms import BlockPath, GroupedConvBlock, ResNeXtBlock
from blocks.core.spec import BlockSpec
from blocks.figures.kit import (
    ADD_RADIUS,
    BOX_H,
    ELLIPSIS,
    GREY,
    arrow,
    box,
    canvas,
    check_spec,
    line,
    plus,
    write,
)
from blocks.figures.style import FORM_COLOURS, SLIDE_FIGSIZE, styled, title_pt

FORMS_ABC_SPEC = BlockSpec(256, 256, cardinality=32, width=4)  # the paper's Figure 3


@dataclass(frozen=True)
class _Layout:
    """Where things go, in inches; rows are counted from the first layer of the paths (row 1) down.

    The paper's layout shows every layer (conv, then BN and ReLU) with its channel counts;
    the slide's is compact: 18 pt text, only the convolutions in the paths (each followed
    by BN and ReLU, as the subtitle says), the first, "⋯" and the last path.
    """

    compact: bool
    row: float  # between the centres of two rows of layers
    box_h: float  # the height of every box
    add_radius: float  # the circle of a sum
    path_box_w: float  # a layer of one path in forms (a) and (b)
    wide_box_w: float  # a layer of form (c), whose text names the groups
    tail_box_w: float  # BN, ReLU after the paths
    io_box_w: float  # input and output
    path_pitch: float  # between the centres of two drawn paths
    ellipsis_pitch: float
    min_paths_span: float  # room for the subtitle and the label of the sum
    shortcut_margin: float  # room right of the paths for the shortcut line and its label
    label_gap: float  # between a line and its label
    max_drawn_paths: int  # more paths than this: some first ones, "⋯", the last
    title_space: float  # above the input for the column's title and subtitle
    title_dy: float  # the title's centre above the input's
    subtitle_dy: float
    foot_space: float  # below the output for the weight count
    weights_dy: float  # the weight count's centre below the output's
    input_row: float
    bus_row: float  # the bus that hands the input to the paths

    @property
    def path_rows(self) -> int:
        """Rows of a path's layers: conv, BN-ReLU, conv, BN-ReLU, conv; or only the three convs."""
        return 3 if self.compact else 5

    @property
    def tail_row(self) -> int:
        """The BN after the merge; then the add, the ReLU and the output (ReLU and output one box if compact)."""
        return self.path_rows + 2

    @property
    def output_row(self) -> int:
        return self.tail_row + (2 if self.compact else 3)

    @property
    def height(self) -> float:
        return self.title_space + (self.output_row - self.input_row) * self.row + self.foot_space


_PAPER = _Layout(
    compact=False, row=0.62, box_h=BOX_H, add_radius=ADD_RADIUS, path_box_w=1.0, wide_box_w=2.9, tail_box_w=0.8,
    io_box_w=1.5, path_pitch=1.18, ellipsis_pitch=0.7, min_paths_span=3.0, shortcut_margin=1.05, label_gap=0.06,
    max_drawn_paths=3, title_space=1.45, title_dy=1.0, subtitle_dy=0.5, foot_space=1.0, weights_dy=0.55,
    input_row=-1, bus_row=-0.25,
)  # fmt: skip
_SLIDE = _Layout(
    compact=True, row=0.56, box_h=0.42, add_radius=0.19, path_box_w=0.8, wide_box_w=2.3, tail_box_w=1.0,
    io_box_w=2.7, path_pitch=1.2, ellipsis_pitch=0.5, min_paths_span=2.9, shortcut_margin=0.85, label_gap=0.07,
    max_drawn_paths=2, title_space=0.95, title_dy=0.72, subtitle_dy=0.38, foot_space=0.6, weights_dy=0.44,
    input_row=-1, bus_row=-0.3,
)  # fmt: skip

_TITLES = {"a": "(a) summed paths", "b": "(b) concatenate, then 1x1", "c": "(c) grouped convolution"}
_SUBTITLES = {
    "a": "{paths}, each 1x1 \u2192 3x3 \u2192 1x1;\ntheir outputs are summed",
    "b": "{paths}, each 1x1 \u2192 3x3;\nconcatenated, then one 1x1",
    "c": "one path; its 3x3 is a grouped\nconvolution with {C} groups",
}
_ONE_GROUP_SUBTITLE = "one path; with 1 group its 3x3 is\nan ordinary convolution (ResNet)"
_SLIDE_TITLES = {"a": "(a) summed paths", "b": "(b) concatenated", "c": "(c) grouped conv"}
_SLIDE_SUBTITLES = {"a": "{C} paths, outputs added", "b": "{C} paths, then one 1x1", "c": "one path, {C} groups"}


def _drawn_paths(cardinality: int, layout: _Layout) -> list[int | None]:
    """Indices of the paths to draw, None standing for the elided ones (an ellipsis)."""
    if cardinality <= layout.max_drawn_paths:
        return list(range(cardinality))
    return [*range(layout.max_drawn_paths - 1), None, cardinality - 1]


def _paths_span(cardinality: int, layout: _Layout) -> float:
    """Inches across the drawn paths of forms (a) and (b)."""
    return sum(layout.ellipsis_pitch if i is None else layout.path_pitch for i in _drawn_paths(cardinality, layout))


def _column_width(block: ResNeXtBlock, layout: _Layout) -> float:
    if block.form == "c":
        paths = layout.wide_box_w + 0.2
    else:
        paths = max(_paths_span(block.spec.cardinality, layout), layout.min_paths_span)
    return paths + layout.shortcut_margin


def _conv_text(conv: nn.Conv2d, compact: bool = False) -> str:
    """E.g. ``"3x3, stride 2, 8→8"``: kernel, stride if not 1, channels in → out (compact: no channels)."""
    kernel = "x".join(str(k) for k in conv.kernel_size)
    stride = f", stride {conv.stride[0]}" if conv.stride[0] != 1 else ""
    return f"{kernel}{stride}" if compact else f"{kernel}{stride}, {conv.in_channels}\u2192{conv.out_channels}"


def _path_layers(path: BlockPath | GroupedConvBlock, compact: bool = False) -> list[tuple[str, bool, int]]:
    """(box text, whether it is a conv, channels leaving it) per layer of one path, top to bottom.

    ``path`` is a :class:`blocks.core.forms.BlockPath` (forms a, b) or the form (c) block,
    which has the same layer names (conv1 bn1 conv2 bn2 [conv3]). Compact: the convolutions
    only, named by kernel (their channels are on the arrows).
    """
    conv2 = path.conv2
    conv2_text = _conv_text(conv2, compact)
    if conv2.groups > 1:
        conv2_text = (
            f"{conv2_text}, {conv2.groups} groups" if compact else f"grouped {conv2_text}, {conv2.groups} groups"
        )
    layers = [
        (_conv_text(path.conv1, compact), True, path.conv1.out_channels),
        ("BN, ReLU", False, path.bn1.num_features),
        (conv2_text, True, conv2.out_channels),
        ("BN, ReLU", False, path.bn2.num_features),
    ]
    if path.conv3 is not None:
        layers.append((_conv_text(path.conv3, compact), True, path.conv3.out_channels))
    return [layer for layer in layers if layer[1]] if compact else layers


@dataclass
class _Column:
    """One form's block, drawn in a column ``left`` inches from the figure's left edge."""

    ax: Axes
    block: ResNeXtBlock
    layout: _Layout
    left: float
    top: float  # the height of row 0

    @property
    def width(self) -> float:
        return _column_width(self.block, self.layout)

    @property
    def centre(self) -> float:
        return self.left + (self.width - self.layout.shortcut_margin) / 2

    def y(self, row: float) -> float:
        return self.top - row * self.layout.row

    def box(self, x: float, row: float, text: str, conv: bool, width: float) -> None:
        colour = FORM_COLOURS[self.block.form] if conv else GREY
        box(self.ax, x, self.y(row), width, text, colour, height=self.layout.box_h)

    def arrow(self, start: tuple[float, float], end: tuple[float, float], label: str = "") -> None:
        """An arrow with its channel count ``label`` right of its middle."""
        arrow(self.ax, start, end)
        if label:
            middle = ((start[0] + end[0]) / 2 + self.layout.label_gap, (start[1] + end[1]) / 2)
            write(self.ax, *middle, label, ha="left")

    def draw(self) -> None:
        self.header()
        ends = self.paths()
        self.tail(self.merge(ends))
        self.shortcut()

    def header(self) -> None:
        spec, form, layout = self.block.spec, self.block.form, self.layout
        paths = f"{spec.cardinality} path{'s' if spec.cardinality > 1 else ''}"
        subtitle = _SUBTITLES[form].format(C=spec.cardinality, paths=paths)
        if form == "c" and spec.cardinality == 1:
            subtitle = _ONE_GROUP_SUBTITLE
        title = _SLIDE_TITLES[form] if layout.compact else _TITLES[form]
        if layout.compact:
            subtitle = _SLIDE_SUBTITLES[form].format(C=spec.cardinality)
        input_y = self.y(layout.input_row)
        write(self.ax, self.centre, input_y + layout.title_dy, title, fontsize=title_pt(), weight="bold")
        write(self.ax, self.centre, input_y + layout.subtitle_dy, subtitle)
        self.box(self.centre, layout.input_row, f"input, {spec.in_channels} ch", False, layout.io_box_w)

    def paths(self) -> list[tuple[float, float, int]]:
        """Draw the bus and every drawn path; return (x, y, channels) where each path ends."""
        ax, block, y, layout = self.ax, self.block, self.y, self.layout
        slots: list[tuple[float, BlockPath | GroupedConvBlock | None, int | None]]
        if isinstance(block, GroupedConvBlock):  # form (c): one path, the block's own layers
            slots = [(self.centre, block, None)]
            box_width = layout.wide_box_w
        else:  # forms (a), (b): an nn.ModuleList of BlockPaths
            block_paths = cast(nn.ModuleList, block.paths)
            indices = _drawn_paths(block.spec.cardinality, layout)
            pitches = np.array([layout.ellipsis_pitch if i is None else layout.path_pitch for i in indices])
            xs = self.centre - pitches.sum() / 2 + np.cumsum(pitches) - pitches / 2
            slots = [(x, None if i is None else cast(BlockPath, block_paths[i]), i) for x, i in zip(xs, indices)]
            box_width = layout.path_box_w
        drawn = [x for x, path, _ in slots if path is not None]
        bus, input_bottom = y(layout.bus_row), y(layout.input_row) - layout.box_h / 2
        line(ax, [self.centre, self.centre], [input_bottom, bus])
        label_x = self.centre + layout.label_gap
        write(ax, label_x, (input_bottom + bus) / 2, str(block.spec.in_channels), ha="left")
        line(ax, [min(drawn), max(drawn)], [bus, bus])

        ends = []
        path_rows = layout.path_rows - (block.form == "b")  # form (b)'s last row is the concatenation
        for x, path, index in slots:
            if path is None:  # the elided paths (compact: not on the bus, where the input's count is)
                for row in (*([] if layout.compact else [layout.bus_row]), *range(1, path_rows + 1)):
                    write(ax, x, y(row), ELLIPSIS, fontsize=title_pt(), backgroundcolor="white")
                continue
            first_top = y(1) + layout.box_h / 2
            arrow(ax, (x, bus), (x, first_top))
            if index is not None:
                label_box = {"facecolor": "white", "edgecolor": "none", "pad": 0.5}
                write(ax, x, (bus + first_top) / 2, f"path {index + 1}", bbox=label_box)
            layers = _path_layers(path, layout.compact)
            for row, (text, conv, channels) in enumerate(layers, start=1):
                self.box(x, row, text, conv, box_width)
                if row < len(layers):
                    bottom, next_top = y(row) - layout.box_h / 2, y(row + 1) + layout.box_h / 2
                    self.arrow((x, bottom), (x, next_top), str(channels))
            ends.append((x, y(len(layers)) - layout.box_h / 2, layers[-1][2]))
        return ends

    def merge(self, ends: list[tuple[float, float, int]]) -> tuple[float, float]:
        """(a) sum the paths, (b) concatenate them and apply the shared 1x1, (c) nothing to merge.

        Returns the point the merged result leaves from.
        """
        ax, block, y, centre, layout = self.ax, self.block, self.y, self.centre, self.layout
        spec, merge_row = block.spec, layout.path_rows + 1
        if block.form == "a":
            knee = y(merge_row - 0.45)
            for x, end_y, _ in ends:
                line(ax, [x, x, centre], [end_y, knee, y(merge_row) + layout.add_radius])
            last_x, last_y, channels = ends[-1]
            write(ax, last_x + layout.label_gap, (last_y + knee) / 2, str(channels), ha="left")
            plus(ax, centre, y(merge_row), layout.add_radius)
            paths = f"{spec.cardinality} path{'s' if spec.cardinality > 1 else ''}"
            label = "sum" if layout.compact else f"sum of {paths}"
            write(ax, centre - layout.add_radius - 0.08, y(merge_row), label, ha="right")
            return centre, y(merge_row) - layout.add_radius
        if block.form == "b":
            concat_row = merge_row - 1
            for x, end_y, channels in ends:
                self.arrow((x, end_y), (x, y(concat_row) + layout.box_h / 2), str(channels))
            spread = max(x for x, _, _ in ends) - min(x for x, _, _ in ends)
            if layout.compact:
                span, concat = spread + layout.path_box_w + 0.3, f"concatenate, {spec.grouped_channels} ch"
            else:
                span = max(spread + layout.path_box_w, 2.6)  # 2.6: its text
                concat = f"concatenate: {spec.cardinality} \u00d7 {spec.width} = {spec.grouped_channels} ch"
            box(ax, centre, y(concat_row), span, concat, GREY, height=layout.box_h)
            after_concat = (centre, y(concat_row) - layout.box_h / 2)
            self.arrow(after_concat, (centre, y(merge_row) + layout.box_h / 2), str(spec.grouped_channels))
            conv3 = _conv_text(cast(nn.Conv2d, block.conv3), layout.compact)  # form (b)'s shared 1x1
            self.box(centre, merge_row, conv3, True, layout.path_box_w if layout.compact else 1.6)
            return centre, y(merge_row) - layout.box_h / 2
        x, end_y, _ = ends[0]
        return x, end_y

    def tail(self, start: tuple[float, float]) -> None:
        """BN, add the shortcut, ReLU, output: the same in every form."""
        ax, y, centre, layout = self.ax, self.y, self.centre, self.layout
        out, half, radius, row = self.block.spec.out_channels, layout.box_h / 2, layout.add_radius, layout.tail_row
        self.arrow(start, (centre, y(row) + half), str(out))
        self.box(centre, row, "BN", False, layout.tail_box_w)
        self.arrow((centre, y(row) - half), (centre, y(row + 1) + radius), str(out))
        plus(ax, centre, y(row + 1), radius)
        if layout.compact:
            self.arrow((centre, y(row + 1) - radius), (centre, y(row + 2) + half), "")
        else:
            self.arrow((centre, y(row + 1) - radius), (centre, y(row + 2) + half), str(out))
            self.box(centre, row + 2, "ReLU", False, layout.tail_box_w)
            self.arrow((centre, y(row + 2) - half), (centre, y(layout.output_row) + half), str(out))
        output = f"ReLU, output {out} ch" if layout.compact else f"output, {out} ch"
        self.box(centre, layout.output_row, output, False, layout.io_box_w)
        weights = sum(m.weight.numel() for m in self.block.modules() if isinstance(m, nn.Conv2d))
        write(ax, centre, y(layout.output_row) - layout.weights_dy, f"conv weights: {weights:,}")

    def shortcut(self) -> None:
        """From the input, round the right of the paths, into the add: identity or 1x1 + BN."""
        ax, y, layout = self.ax, self.y, self.layout
        right, add_y = self.left + self.width - layout.shortcut_margin / 2, y(layout.tail_row + 1)
        line(ax, [self.centre + layout.io_box_w / 2, right, right], [y(layout.input_row), y(layout.input_row), add_y])
        arrow(ax, (right, add_y), (self.centre + layout.add_radius, add_y))
        projection = self.block.downsample
        if projection is None:
            label_box = {"facecolor": "white", "edgecolor": GREY, "pad": 2}
            write(ax, right, y(layout.path_rows / 2 + 0.5), "identity", rotation=90, bbox=label_box)
        else:
            conv = cast(nn.Conv2d, projection[0])  # downsample is (1x1 conv, BN)
            stride = f", stride {conv.stride[0]}" if conv.stride[0] != 1 else ""
            label = f"1x1{stride},\n{conv.in_channels}\u2192{conv.out_channels},\nBN"
            edge = FORM_COLOURS[self.block.form]
            write(
                ax,
                right,
                y(layout.path_rows / 2 + 0.5),
                label,
                bbox={"facecolor": "white", "edgecolor": edge, "pad": 2},
            )


# The largest C drawn: paths past the third are elided, so any C fits on the page, but forms (a)
# and (b) are built (on the meta device) to be read, 7 modules a path: 256 paths draw in under a second, and
# 10^5 would take minutes to draw the same four boxes. The paper's networks go up to C = 64.
FORMS_ABC_MAX_CARDINALITY = 256


@styled
def forms_abc(spec: BlockSpec = FORMS_ABC_SPEC, *, slide: bool = False) -> Figure:
    """The paper's Figure 3: one block drawn in forms (a), (b) and (c) side by side.

    Every box, channel count, group count and the weight count under each form
    is read from the block modules (built on the meta device). More than three
    paths are elided: the first two, "⋯", the last; the subtitle gives the count.
    BN and ReLU are the grey boxes; the shortcut is drawn on the right.
    The slide variant (18 pt text, 16:9) draws only the convolutions of the paths
    and the first, "⋯" and last path.

    Args:
        spec: the block to draw; default the paper's 256-d in, 32x4d.
        slide: draw the slide variant.

    Returns:
        The figure.

    Raises:
        TypeError: ``spec`` is not a :class:`BlockSpec`.
        ValueError: ``spec``'s cardinality is over :data:`FORMS_ABC_MAX_CARDINALITY`.

    Example:
        >>> fig = forms_abc(BlockSpec(64, 64, cardinality=8, width=4))
    """
    check_spec(spec)
    if spec.cardinality > FORMS_ABC_MAX_CARDINALITY:
        raise ValueError(
            f"spec's cardinality must be at most {FORMS_ABC_MAX_CARDINALITY} to be drawn (the drawing shows 3 paths"
            f" and elides the rest), got {spec.cardinality} ({spec})"
        )
    layout = _SLIDE if slide else _PAPER
    one_per_form = [empty_block(spec, form) for form in "abc"]
    width = sum(_column_width(block, layout) for block in one_per_form) + 0.3
    height = layout.height
    if slide:  # centred on a 16:9 canvas, at least the slide figure's size
        width, height = max(width, SLIDE_FIGSIZE[0], height * 16 / 9), max(height, SLIDE_FIGSIZE[1], width * 9 / 16)
    fig, ax = canvas(width, height)
    left = (width - sum(_column_width(block, layout) for block in one_per_form)) / 2
    top = height - (height - layout.height) / 2 - layout.title_space + layout.input_row * layout.row
    for block in one_per_form:
        column = _Column(ax, block, layout, left, top)
        column.draw()
        left += column.width
    return fig
