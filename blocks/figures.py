"""The lecture figures, each drawn from the real modules and weights, never typed in.

One function per figure, each returning a matplotlib ``Figure`` (the notebooks
call them); :func:`write_figures` saves them reproducibly with
:func:`blocks.plotting.save_figure` (``python -m blocks figures``, ``make figures``):

    forms_abc          the paper's Figure 3: forms (a), (b), (c) with every channel count
    group_conv         which input channels each output channel of a grouped conv sees
    block_diagonal     form (c)'s grouped 3x3 as a block-diagonal matrix, and the same
                       numbers in forms (a) and (b)
    equivalence_error  how far apart the forms' outputs are: rounding, in float32 and float64
    complexity         parameters and multiply-adds of the paper's Table 2 templates

Channel counts, groups and weights are read from modules built by
:func:`blocks.build` / :func:`blocks.transplant` (the diagrams read shapes from
blocks on the meta device, which allocates nothing), so a change of cardinality
or width redraws every figure correctly. The diagrams are laid out in inches
(one axes fills the figure and one data unit is one inch), so their boxes and
text keep their sizes whatever the block.

To add a figure from another module, add its function to :data:`FIGURES`.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib.colors
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Circle, FancyBboxPatch
from torch import nn

from blocks.canonical import empty_block
from blocks.complexity import table2_templates
from blocks.forms import ResNeXtBlock
from blocks.grouped import dense_weight
from blocks.networks import ResNeXt
from blocks.plotting import FORM_COLOURS, FORMATS, MIN_FONT_PT, PALETTE, new_figure, save_figure, styled
from blocks.proof import TOLERANCES, randomise_batchnorm, random_block, relative_error
from blocks.spec import BlockSpec
from blocks.transplant import transplant

FORMS_ABC_SPEC = BlockSpec(256, 256, cardinality=32, width=4)  # the paper's Figure 3
BLOCK_DIAGONAL_SPEC = BlockSpec(32, 32, cardinality=8, width=4)  # small enough to see every weight
GROUP_CONV_CHANNELS = 8
GROUP_CONV_CARDINALITIES = (1, 2, 4, 8)
EQUIVALENCE_SPECS = (
    BlockSpec(64, 64, cardinality=8, width=4),
    BlockSpec(64, 128, cardinality=8, width=8, stride=2),  # projection shortcut
    BlockSpec(64, 64, cardinality=32, width=2),
    BlockSpec(16, 16, cardinality=1, width=7),  # one path: every form does the same arithmetic
)

FONT_PT = MIN_FONT_PT
TITLE_PT = 12
INK = "#000000"
GREY = "#BBBBBB"  # BN, ReLU, input and output boxes
NO_WEIGHT = "#C8C8C8"  # matrix entries that no tensor stores
ELLIPSIS = "\u22ef"  # ⋯
_BOX_H = 0.34  # inches: the height of every box of the diagrams
_ADD_RADIUS = 0.15  # inches: the circle of a sum


# ---------------------------------------------------------------------------
# Drawing helpers: text, boxes, circles and arrows on an axes measured in inches.


def _canvas(width: float, height: float) -> tuple[Figure, Axes]:
    """A figure of ``width`` x ``height`` inches whose one axes measures in inches, no frame."""
    fig, ax = new_figure(figsize=(width, height))
    ax.set_position((0, 0, 1, 1))
    ax.set_xlim(0, width)
    ax.set_ylim(0, height)
    ax.set_axis_off()
    return fig, ax


def _text(ax: Axes, x: float, y: float, text: str, **style: object) -> None:
    """``text`` centred on (x, y) at the body size, unless ``style`` says otherwise."""
    ax.text(x, y, text, **{"ha": "center", "va": "center", "fontsize": FONT_PT, **style})


def _tint(colour: str, amount: float = 0.25) -> tuple[float, float, float]:
    """``colour`` mixed with white: ``amount`` of the colour, the rest white (a light fill)."""
    rgb = amount * np.array(matplotlib.colors.to_rgb(colour)) + (1 - amount)
    return (float(rgb[0]), float(rgb[1]), float(rgb[2]))


def _box(ax: Axes, x: float, y: float, width: float, text: str, colour: str) -> None:
    """A rounded box centred on (x, y) with ``text`` inside, edged in ``colour``."""
    corner = (x - width / 2, y - _BOX_H / 2)
    style = "round,pad=0,rounding_size=0.06"
    ax.add_patch(
        FancyBboxPatch(corner, width, _BOX_H, boxstyle=style, facecolor=_tint(colour), edgecolor=colour, linewidth=1.2)
    )
    _text(ax, x, y, text)


def _add(ax: Axes, x: float, y: float) -> None:
    """The ⊕ of a sum: a circle with a plus."""
    ax.add_patch(Circle((x, y), _ADD_RADIUS, facecolor="white", edgecolor=INK, linewidth=1.0))
    _text(ax, x, y, "+", fontsize=TITLE_PT)


def _line(ax: Axes, xs: Sequence[float], ys: Sequence[float]) -> None:
    ax.plot(xs, ys, color=INK, linewidth=1.0, solid_capstyle="butt")


def _arrow(ax: Axes, start: tuple[float, float], end: tuple[float, float], label: str = "") -> None:
    """An arrow from ``start`` to ``end``; ``label`` (a channel count) right of its middle."""
    style = {"arrowstyle": "-|>", "color": INK, "linewidth": 1.0, "shrinkA": 0, "shrinkB": 0}
    ax.annotate("", xy=end, xytext=start, arrowprops=style)
    if label:
        _text(ax, (start[0] + end[0]) / 2 + 0.06, (start[1] + end[1]) / 2, label, ha="left")


# ---------------------------------------------------------------------------
# Figure 1: forms (a), (b), (c), the paper's Figure 3.

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


def _path_layers(path: nn.Module) -> list[tuple[str, bool, int]]:
    """(box text, whether it is a conv, channels leaving it) per layer of one path, top to bottom.

    ``path`` is a :class:`blocks.forms.Path` (forms a, b) or the form (c) block,
    which has the same layer names (conv1 bn1 conv2 bn2 [conv3]).
    """
    conv2: nn.Conv2d = path.conv2
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
        _box(self.ax, x, self.y(row), width, text, FORM_COLOURS[self.block.form] if conv else GREY)

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
        _text(self.ax, self.centre, self.y(_INPUT_ROW) + 1.0, _TITLES[form], fontsize=TITLE_PT, weight="bold")
        _text(self.ax, self.centre, self.y(_INPUT_ROW) + 0.5, subtitle)
        self.box(self.centre, _INPUT_ROW, f"input, {spec.in_channels} ch", False, _IO_BOX_W)

    def paths(self) -> list[tuple[float, float, int]]:
        """Draw the bus and every drawn path; return (x, y, channels) where each path ends."""
        ax, block, y = self.ax, self.block, self.y
        if block.form == "c":
            slots: list[tuple[float, nn.Module | None, int | None]] = [(self.centre, block, None)]
            box_width = _WIDE_BOX_W
        else:
            indices = _drawn_paths(block.spec.cardinality)
            pitches = np.array([_ELLIPSIS_PITCH if i is None else _PATH_PITCH for i in indices])
            xs = self.centre - pitches.sum() / 2 + np.cumsum(pitches) - pitches / 2
            slots = [(x, None if i is None else block.paths[i], i) for x, i in zip(xs, indices)]
            box_width = _PATH_BOX_W
        drawn = [x for x, path, _ in slots if path is not None]
        bus, input_bottom = y(_BUS_ROW), y(_INPUT_ROW) - _BOX_H / 2
        _line(ax, [self.centre, self.centre], [input_bottom, bus])
        _text(ax, self.centre + _LABEL_GAP, (input_bottom + bus) / 2, str(block.spec.in_channels), ha="left")
        _line(ax, [min(drawn), max(drawn)], [bus, bus])

        ends = []
        for x, path, index in slots:
            if path is None:  # the elided paths
                for row in (_BUS_ROW, *range(1, 5 + (block.form == "a"))):
                    _text(ax, x, y(row), ELLIPSIS, fontsize=TITLE_PT, backgroundcolor="white")
                continue
            first_top = y(1) + _BOX_H / 2
            _arrow(ax, (x, bus), (x, first_top))
            if index is not None:
                label_box = {"facecolor": "white", "edgecolor": "none", "pad": 0.5}
                _text(ax, x, (bus + first_top) / 2, f"path {index + 1}", bbox=label_box)
            layers = _path_layers(path)
            for row, (text, conv, channels) in enumerate(layers, start=1):
                self.box(x, row, text, conv, box_width)
                if row < len(layers):
                    _arrow(ax, (x, y(row) - _BOX_H / 2), (x, y(row + 1) + _BOX_H / 2), str(channels))
            ends.append((x, y(len(layers)) - _BOX_H / 2, layers[-1][2]))
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
                _line(ax, [x, x, centre], [end_y, knee, y(6) + _ADD_RADIUS])
            last_x, last_y, channels = ends[-1]
            _text(ax, last_x + _LABEL_GAP, (last_y + knee) / 2, str(channels), ha="left")
            _add(ax, centre, y(6))
            paths = f"{spec.cardinality} path{'s' if spec.cardinality > 1 else ''}"
            _text(ax, centre - _ADD_RADIUS - 0.08, y(6), f"sum of {paths}", ha="right")
            return centre, y(6) - _ADD_RADIUS
        if block.form == "b":
            for x, end_y, channels in ends:
                _arrow(ax, (x, end_y), (x, y(5) + _BOX_H / 2), str(channels))
            span = max(max(x for x, _, _ in ends) - min(x for x, _, _ in ends) + _PATH_BOX_W, 2.6)  # 2.6: its text
            concat = f"concatenate: {spec.cardinality} \u00d7 {spec.width} = {spec.grouped_channels} ch"
            _box(ax, centre, y(5), span, concat, GREY)
            _arrow(ax, (centre, y(5) - _BOX_H / 2), (centre, y(6) + _BOX_H / 2), str(spec.grouped_channels))
            self.box(centre, 6, _conv_text(block.conv3), True, 1.6)
            return centre, y(6) - _BOX_H / 2
        x, end_y, _ = ends[0]
        return x, end_y

    def tail(self, start: tuple[float, float]) -> None:
        """BN, add the shortcut, ReLU, output: the same in every form."""
        ax, y, centre = self.ax, self.y, self.centre
        out = self.block.spec.out_channels
        _arrow(ax, start, (centre, y(_TAIL_ROW) + _BOX_H / 2), str(out))
        self.box(centre, _TAIL_ROW, "BN", False, _TAIL_BOX_W)
        _arrow(ax, (centre, y(_TAIL_ROW) - _BOX_H / 2), (centre, y(_TAIL_ROW + 1) + _ADD_RADIUS), str(out))
        _add(ax, centre, y(_TAIL_ROW + 1))
        _arrow(ax, (centre, y(_TAIL_ROW + 1) - _ADD_RADIUS), (centre, y(_TAIL_ROW + 2) + _BOX_H / 2), str(out))
        self.box(centre, _TAIL_ROW + 2, "ReLU", False, _TAIL_BOX_W)
        _arrow(ax, (centre, y(_TAIL_ROW + 2) - _BOX_H / 2), (centre, y(_OUTPUT_ROW) + _BOX_H / 2), str(out))
        self.box(centre, _OUTPUT_ROW, f"output, {out} ch", False, _IO_BOX_W)
        weights = sum(m.weight.numel() for m in self.block.modules() if isinstance(m, nn.Conv2d))
        _text(ax, centre, y(_OUTPUT_ROW) - 0.55, f"conv weights: {weights:,}")

    def shortcut(self) -> None:
        """From the input, round the right of the paths, into the add: identity or 1x1 + BN."""
        ax, y = self.ax, self.y
        right, add_y = self.left + self.width - 0.5, y(_TAIL_ROW + 1)
        _line(ax, [self.centre + _IO_BOX_W / 2, right, right], [y(_INPUT_ROW), y(_INPUT_ROW), add_y])
        _arrow(ax, (right, add_y), (self.centre + _ADD_RADIUS, add_y))
        projection = self.block.downsample
        if projection is None:
            _text(ax, right, y(3), "identity", rotation=90, bbox={"facecolor": "white", "edgecolor": GREY, "pad": 2})
        else:
            conv: nn.Conv2d = projection[0]
            stride = f" /{conv.stride[0]}" if conv.stride[0] != 1 else ""
            label = f"1x1{stride},\n{conv.in_channels}\u2192{conv.out_channels},\nBN"
            edge = FORM_COLOURS[self.block.form]
            _text(ax, right, y(3), label, bbox={"facecolor": "white", "edgecolor": edge, "pad": 2})


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
    _check_spec(spec)
    one_per_form = [empty_block(spec, form) for form in "abc"]
    height = _TITLE_SPACE + (_OUTPUT_ROW - _INPUT_ROW) * _ROW + _FOOT_SPACE
    fig, ax = _canvas(sum(_column_width(block) for block in one_per_form) + 0.3, height)
    left, top = 0.15, height - _TITLE_SPACE + _INPUT_ROW * _ROW
    for block in one_per_form:
        column = _Column(ax, block, left, top)
        column.draw()
        left += column.width
    return fig


def _check_spec(spec: object) -> BlockSpec:
    if not isinstance(spec, BlockSpec):
        raise TypeError(f"spec must be a blocks.BlockSpec, got {type(spec).__name__}")
    return spec


# ---------------------------------------------------------------------------
# Figure 2: the grouped convolution's connections.


def _check_cardinalities(channels: object, cardinalities: object) -> tuple[int, ...]:
    if type(channels) is not int or not 1 <= channels <= 32:
        raise ValueError(f"channels must be an int from 1 to 32 (so every line is visible), got {channels!r}")
    if isinstance(cardinalities, int) or not isinstance(cardinalities, Iterable):
        raise ValueError(f"cardinalities must be a sequence of group counts, got {cardinalities!r}")
    cardinalities = tuple(cardinalities)
    if not cardinalities:
        raise ValueError("cardinalities must name at least one group count, got ()")
    for cardinality in cardinalities:
        if type(cardinality) is not int or cardinality <= 0 or channels % cardinality:
            raise ValueError(f"cardinalities must be positive ints dividing channels ({channels}), got {cardinality!r}")
    return cardinalities


@styled
def group_conv(channels: int = GROUP_CONV_CHANNELS, cardinalities: Sequence[int] = GROUP_CONV_CARDINALITIES) -> Figure:
    """Which input channels every output channel of a 3x3 conv sees, for several group counts.

    One panel per group count: input channels on top, output channels below, a
    line for every (input, output) pair the conv's weight connects, coloured by
    group. The connections are read from a real ``nn.Conv2d``'s weight shape,
    expanded to the dense (out, in) layout by :func:`blocks.grouped.dense_weight`.
    One group is the ordinary convolution, drawn for contrast.

    Args:
        channels: input (and output) channels, 1 to 32.
        cardinalities: the group counts (PyTorch's ``groups``), one panel each;
            each must divide ``channels``.

    Returns:
        The figure.

    Raises:
        ValueError: ``channels`` outside 1-32, or a group count that does not divide it.

    Example:
        >>> fig = group_conv(8, (1, 4))
    """
    cardinalities = _check_cardinalities(channels, cardinalities)
    panel_width, gap, height = max(2.8, 0.34 * channels), 0.5, 4.6
    width = 0.9 + len(cardinalities) * (panel_width + gap)
    fig, ax = _canvas(width, height)
    top, bottom, radius = 3.25, 1.25, 0.1
    _text(ax, 0.1, top, "input\nchannels", ha="left")
    _text(ax, 0.1, bottom, "output\nchannels", ha="left")
    for panel, cardinality in enumerate(cardinalities):
        left = 1.15 + panel * (panel_width + gap)
        middle = left + panel_width / 2
        with torch.device("meta"):
            conv = nn.Conv2d(channels, channels, kernel_size=3, padding=1, groups=cardinality, bias=False)
        # Ones in the conv's own weight layout, expanded: nonzero exactly where it connects.
        connects = dense_weight(torch.ones(conv.weight.shape), cardinality).sum(dim=(2, 3)) != 0  # (out, in)
        xs = left + (np.arange(channels) + 0.5) * panel_width / channels
        colours = [PALETTE[(c * cardinality // channels) % len(PALETTE)] for c in range(channels)]
        for out, inp in zip(*np.nonzero(connects.numpy())):
            ax.plot([xs[inp], xs[out]], [top - radius, bottom + radius], color=colours[out], linewidth=1.4)
        for x, colour in zip(xs, colours):
            for level in (top, bottom):
                ax.add_patch(Circle((x, level), radius, facecolor=colour, edgecolor=INK, linewidth=0.8))
        per_group = channels // cardinality
        title = f"{cardinality} groups of {per_group} channel{'s' if per_group > 1 else ''}"
        if cardinality == 1:
            title = "ordinary conv (1 group)"
        _text(ax, middle, height - 0.4, title, fontsize=TITLE_PT, weight="bold")
        weights = f"{int(connects.sum())} connections \u00d7 9 = {conv.weight.numel()} weights"
        _text(ax, middle, 0.75, weights)
    caption = (
        f"{channels} channels in, {channels} out; each line is one 3x3 kernel (9 weights), coloured by group:\n"
        "an output channel sees only the input channels of its own group"
    )
    _text(ax, width / 2, 0.3, caption)
    return fig


# ---------------------------------------------------------------------------
# Figure 3: form (c)'s grouped 3x3 is block-diagonal; forms (a) and (b) hold the same numbers.


def _tap_sum(weight: torch.Tensor) -> np.ndarray:
    """A conv weight (out, in, k, k) as its (out, in) channel-mixing matrix: the sum over the k x k taps."""
    return weight.detach().sum(dim=(2, 3)).double().numpy()


@styled
def block_diagonal(spec: BlockSpec = BLOCK_DIAGONAL_SPEC, seed: int = 0) -> Figure:
    """Form (c)'s grouped 3x3 as a dense matrix, next to the same weights in forms (a) and (b).

    Top row: form (c)'s ``conv2`` expanded to the dense (C·d) x (C·d) weight and
    summed over its 3x3 taps: block-diagonal. Beside it, the C per-path 3x3s of
    form (a) (``paths.i.conv2``) placed on the diagonal: the same blocks.
    Bottom row: form (b)'s ``conv3``, the 1x1 after the concatenation, an
    out x (C·d) matrix cut into C column slices; beside it the C output 1x1s of
    form (a) (``paths.i.conv3``) side by side, which hold exactly those slices.
    All weights come from one seeded random block transplanted into each form.

    Args:
        spec: the block; C·d and ``out_channels`` at most 128 so every entry is visible.
        seed: seeds the block's weights.

    Returns:
        The figure.

    Raises:
        TypeError: ``spec`` is not a :class:`BlockSpec`.
        ValueError: C·d or ``out_channels`` above 128.

    Example:
        >>> fig = block_diagonal(BlockSpec(16, 16, cardinality=4, width=4))
    """
    _check_spec(spec)
    for name, value in (("grouped channels C·d", spec.grouped_channels), ("out_channels", spec.out_channels)):
        if value > 128:
            raise ValueError(f"spec's {name} must be at most 128 so every weight is visible, got {value} ({spec})")
    c = random_block(spec, "c", seed)
    a, b = transplant(c, "a"), transplant(c, "b")
    C, d = spec.cardinality, spec.width

    grouped = _tap_sum(dense_weight(c.conv2.weight, C))  # (C·d, C·d), zero off the diagonal blocks
    per_path = np.full(grouped.shape, np.nan)  # NaN: no tensor stores these entries
    for i, path in enumerate(a.paths):
        per_path[i * d : (i + 1) * d, i * d : (i + 1) * d] = _tap_sum(path.conv2.weight)  # (d, d)
    concat = _tap_sum(b.conv3.weight)  # (out, C·d)
    slices = np.concatenate([_tap_sum(path.conv3.weight) for path in a.paths], axis=1)  # (out, C·d)

    fig, axes = new_figure(2, 2, figsize=(12.5, 11.5), layout="constrained")
    cmap = matplotlib.colormaps["PuOr"].with_extremes(bad=NO_WEIGHT)  # diverging, colour-blind safe
    # (axes, matrix, title, x label, whether it is C separate tensors rather than one)
    panels = [
        (axes[0, 0], grouped, "form (c): conv2, the grouped 3x3,\nexpanded to a dense matrix", "input channel", False),
        (axes[0, 1], per_path, f"form (a): the {C} paths' 3x3s\n(paths.i.conv2) on the diagonal", "input channel", True),
        (axes[1, 0], concat, "form (b): conv3, the one 1x1\nafter the concatenation", "concatenated channel", False),
        (axes[1, 1], slices, f"form (a): the {C} paths' output 1x1s\n(paths.i.conv3) side by side", "input channel", True),
    ]
    path_ticks = (np.arange(C) * d + (d - 1) / 2, [f"{i + 1}" for i in range(C)])
    for row in range(2):
        row_panels = panels[2 * row : 2 * row + 2]
        limit = max(np.nanmax(np.abs(matrix)) for _, matrix, *_ in row_panels)
        for ax, matrix, title, xlabel, separate in row_panels:
            image = ax.imshow(np.ma.masked_invalid(matrix), cmap=cmap, vmin=-limit, vmax=limit, interpolation="nearest")
            ax.set_title(title, fontsize=TITLE_PT)
            # Path boundaries: white gaps between separate tensors, thin lines inside one tensor.
            style = {"color": "white", "linewidth": 3} if separate else {"color": INK, "linewidth": 0.6}
            for boundary in np.arange(1, C) * d - 0.5:
                ax.axvline(boundary, **style)
                if row == 0:
                    ax.axhline(boundary, **style)
            ax.set_xticks(*path_ticks)
            ax.set_xlabel(f"{xlabel} (grouped: path 1\u2026{C})")
            if row == 0:
                ax.set_yticks(*path_ticks)
                ax.set_ylabel(f"output channel (grouped: path 1\u2026{C})")
            else:
                ax.set_ylabel("output channel of the block (index)")
            ax.tick_params(length=0)
        label = "weight summed over the 3x3 taps (unitless)" if row == 0 else "1x1 weight (unitless)"
        fig.colorbar(image, ax=[ax for ax, *_ in row_panels], shrink=0.9, label=label)
    title = f"The same weights in three forms: block {spec}, seed {seed}\n(grey: no weight stored there)"
    fig.suptitle(title, fontsize=TITLE_PT)
    return fig


# ---------------------------------------------------------------------------
# Figure 4: how far apart the forms' outputs are.

_ZERO_ERROR_AT = 1e-18  # where an exactly-zero error is drawn on the log axis


def _small_network(cardinality: int, width: int, seed: int) -> ResNeXt:
    """A seeded ResNeXt of three one-block stages with a CIFAR stem and randomised BatchNorms."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        network = ResNeXt((1, 1, 1), cardinality, width, form="c", num_classes=10, stem="cifar")
    return randomise_batchnorm(network, torch.Generator().manual_seed(seed))


def _max_errors(module: nn.Module, x: torch.Tensor) -> dict[torch.dtype, float]:
    """The largest relative error between any two forms of ``module`` on ``x``, per dtype (eval mode)."""
    errors = {}
    for dtype in TOLERANCES:
        with torch.no_grad():
            outputs = [transplant(module, form).to(dtype).eval()(x.to(dtype)) for form in "abc"]
        errors[dtype] = max(relative_error(p, q) for p, q in itertools.combinations(outputs, 2))
    return errors


def _measure_errors(specs: tuple[BlockSpec, ...], seed: int) -> list[tuple[str, dict[torch.dtype, float]]]:
    """(x tick label, max error per dtype) for each block and the small network, on one thread."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # how a kernel splits its sums across threads changes the rounding
    try:
        rows = []
        for spec in specs:
            x = torch.randn(2, spec.in_channels, 8, 8, generator=torch.Generator().manual_seed(seed))
            stride = ", /2" if spec.stride == 2 else ""
            label = f"block\n{spec.in_channels}\u2192{spec.out_channels}\n{spec.cardinality}x{spec.width}d{stride}"
            rows.append((label, _max_errors(random_block(spec, "c", seed), x)))
        x = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(seed))
        rows.append(("ResNeXt\n3 stages\n4x4d", _max_errors(_small_network(4, 4, seed), x)))
    finally:
        torch.set_num_threads(threads)
    return rows


@styled
def equivalence_error(specs: Sequence[BlockSpec] = EQUIVALENCE_SPECS, seed: int = 0) -> Figure:
    """The largest relative error between forms (a), (b), (c), per block and for a network.

    Each block is a seeded random block with randomised BatchNorms
    (:func:`blocks.proof.random_block`), transplanted into the three forms and
    run in eval mode on one seeded input in float32 and float64; a bar is the
    largest :func:`blocks.proof.relative_error` over the three pairs of forms.
    The last bars are a small ResNeXt (three one-block stages, 16x16 input)
    transplanted as a whole. Dashed lines are the tolerances the proofs use,
    dotted lines the machine epsilon. It runs on one thread, so the rounding,
    and the figure, do not depend on the number of CPU cores.

    Args:
        specs: the blocks to measure.
        seed: seeds the weights and inputs.

    Returns:
        The figure.

    Raises:
        ValueError: ``specs`` is empty or holds something other than a BlockSpec.

    Example:
        >>> fig = equivalence_error([BlockSpec(16, 16, cardinality=4, width=2)])
    """
    if isinstance(specs, BlockSpec) or not isinstance(specs, Iterable):
        raise ValueError(f"specs must be a sequence of BlockSpec, got {specs!r}")
    specs = tuple(specs)
    if not specs or not all(isinstance(spec, BlockSpec) for spec in specs):
        raise ValueError(f"specs must be a non-empty sequence of BlockSpec, got {specs!r}")
    rows = _measure_errors(specs, seed)

    fig, ax = new_figure(figsize=(10, 5.6), layout="constrained")
    positions, bar = np.arange(len(rows)), 0.36
    handles = []  # float32's three entries, then float64's: one legend column each
    for k, (dtype, colour) in enumerate(((torch.float32, PALETTE[1]), (torch.float64, PALETTE[0]))):
        name, eps, tolerance = str(dtype).removeprefix("torch."), torch.finfo(dtype).eps, TOLERANCES[dtype]
        xs = positions + (k - 0.5) * bar
        values = [errors[dtype] for _, errors in rows]
        heights = [max(value, _ZERO_ERROR_AT) for value in values]
        handles.append(ax.bar(xs, heights, bar, color=colour, label=f"{name}: max relative error"))
        for x, value in zip(xs, values):
            if value == 0:
                ax.text(x, _ZERO_ERROR_AT * 1.5, "0\n(exact)", ha="center", va="bottom", fontsize=FONT_PT)
        handles += [
            ax.axhline(tolerance, color=colour, linestyle="--", linewidth=1.2, label=f"{name}: tolerance {tolerance:.0e}"),
            ax.axhline(eps, color=colour, linestyle=":", linewidth=1.2, label=f"{name}: machine epsilon {eps:.1e}"),
        ]
    ax.set_yscale("log")
    ax.set_ylim(_ZERO_ERROR_AT, 1e-2)
    ax.set_xticks(positions, [label for label, _ in rows])
    ax.set_ylabel("max |form \u2212 form| / max |output| (relative, unitless)")
    ax.set_xlabel("what is compared (eval mode, max over the pairs a\u2013b, a\u2013c, b\u2013c)")
    ax.set_title("Forms (a), (b), (c) differ only by rounding", fontsize=TITLE_PT, weight="bold")
    ax.legend(handles=handles, loc="upper right", ncols=2)
    return fig


# ---------------------------------------------------------------------------
# Figure 5: the paper's Table 2, the same cost at every cardinality.


@styled
def complexity() -> Figure:
    """Parameters and multiply-adds of the paper's Table 2 templates against cardinality.

    The conv2-stage block (256-d in and out, 56x56) at C = 1, 2, 4, 8, 32 with
    d = 64, 40, 24, 14, 4: more paths, each narrower, at about the same cost.
    Counted by :func:`blocks.complexity.table2_templates`.

    Returns:
        The figure.
    """
    templates = table2_templates()
    cardinalities = [t.cardinality for t in templates]
    fig, (params_ax, macs_ax) = new_figure(1, 2, figsize=(12, 5.4), layout="constrained")
    weights = [t.weight_params / 1e3 for t in templates]
    params = [t.params / 1e3 for t in templates]
    macs = [t.macs / 1e9 for t in templates]
    line = {"marker": "o", "linewidth": 2}
    params_ax.plot(cardinalities, weights, color=PALETTE[0], label="conv weights (the paper's count)", **line)
    params_ax.plot(cardinalities, params, "--", color=PALETTE[1], label="all parameters (BN included)", **line)
    macs_ax.plot(cardinalities, macs, color=PALETTE[0], **line)
    for ax, values, value_format in ((params_ax, weights, "{:.1f}k"), (macs_ax, macs, "{:.3f}")):
        for c, value in zip(cardinalities, values):
            below = {"xytext": (0, -18), "textcoords": "offset points", "ha": "center", "fontsize": FONT_PT}
            ax.annotate(value_format.format(value), (c, value), **below)
    for ax, values in ((params_ax, params), (macs_ax, macs)):
        ax.set_xscale("log", base=2)
        ax.set_xticks(cardinalities, [f"{t.cardinality}\n(d={t.width})" for t in templates])
        ax.minorticks_off()
        ax.set_xlim(0.7, 46)
        ax.set_ylim(0, max(values) * 1.3)
        ax.set_xlabel("cardinality C (paths), with the width d of one path")
    params_ax.set_ylabel("parameters per block (thousands)")
    params_ax.legend(loc="upper right")
    macs_ax.set_ylabel("multiply-adds per image (billions: the paper's FLOPs)")
    title = "Table 2's templates: more, narrower paths at the same cost (block 256\u2192256 on 56x56)"
    fig.suptitle(title, fontsize=TITLE_PT, weight="bold")
    return fig


# ---------------------------------------------------------------------------
# Registry and writing.

FIGURES: dict[str, Callable[..., Figure]] = {
    "forms_abc": forms_abc,
    "group_conv": group_conv,
    "block_diagonal": block_diagonal,
    "equivalence_error": equivalence_error,
    "complexity": complexity,
}
# The figures that draw one block, and the block each draws unless told otherwise.
SPEC_FIGURES: dict[str, BlockSpec] = {"forms_abc": FORMS_ABC_SPEC, "block_diagonal": BLOCK_DIAGONAL_SPEC}


def write_figures(
    out_dir: str | Path,
    formats: Iterable[str] = FORMATS,
    names: Iterable[str] | None = None,
    spec_changes: Mapping[str, int] | None = None,
) -> list[Path]:
    """Draw figures and save each as ``out_dir/<name>.<format>``, reproducibly.

    Args:
        out_dir: the folder to write (created if missing).
        formats: among "svg", "pdf", "png".
        names: the figures to draw, keys of :data:`FIGURES`; default all.
        spec_changes: BlockSpec fields (e.g. ``{"cardinality": 8}``) to change in the
            block that each figure of :data:`SPEC_FIGURES` draws by default.

    Returns:
        The paths written, in order.

    Raises:
        ValueError: an unknown figure name, format or BlockSpec field, or a changed spec that is invalid
            or too big for a figure (the message names the field).

    Example:
        >>> write_figures("figures", ["svg"], ["forms_abc"], {"cardinality": 8})
        [PosixPath('figures/forms_abc.svg')]
    """
    names = list(FIGURES) if names is None else list(names)
    for name in names:
        if name not in FIGURES:
            raise ValueError(f"names must be among {list(FIGURES)}, got {name!r}")
    formats = list(formats)
    for fmt in formats:
        if fmt not in FORMATS:
            raise ValueError(f"formats must be among {list(FORMATS)}, got {fmt!r}")
    fields = [field.name for field in dataclasses.fields(BlockSpec)]
    for field in spec_changes or ():
        if field not in fields:
            raise ValueError(f"spec_changes must name BlockSpec fields {fields}, got {field!r}")
    written = []
    for name in names:
        kwargs = {}
        if spec_changes and name in SPEC_FIGURES:
            kwargs["spec"] = dataclasses.replace(SPEC_FIGURES[name], **spec_changes)
        written += save_figure(FIGURES[name](**kwargs), out_dir, name, formats)
    return written
