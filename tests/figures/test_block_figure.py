"""A block drawn as recognised beside the paper's: reproducible, every mistake and variant marked, channels right."""

from __future__ import annotations

import dataclasses
import re
from itertools import combinations

import pytest
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import same_color
from matplotlib.figure import Figure
from matplotlib.patches import Circle, FancyBboxPatch
from matplotlib.text import Text
from torch import nn

import blocks
from blocks import BlockSpec
from blocks.dataflow.audit import AuditReport
from blocks.dataflow.mistakes import WRONG_BLOCKS
from blocks.dataflow.recognise import (
    CONVENTIONS,
    BlockLayer,
    Deviation,
    DeviationKind,
    RecognisedBlock,
    recognise,
)
from blocks.figures import block_figure
from blocks.figures.found import MISTAKE_COLOUR, VARIANT_COLOUR
from blocks.figures.style import DPI, MIN_FONT_PT, png_bytes

from tests.dataflow.foreign.variants import VARIANTS

SPEC = BlockSpec(32, 64, cardinality=4, width=4, stride=2)  # a projection with the stride: every mistake shows
IDENTITY_SPEC = BlockSpec(32, 32, cardinality=4, width=4)  # mistake 1's in-place add shows on an identity shortcut
ODD_SPEC = BlockSpec(24, 48, cardinality=3, width=5, stride=2)  # in, d, C·d and out all different: 24, 5, 15, 48
EDGE_PX = 1.0  # a text may touch the figure's edge by this much: rounding of the extents, not a cut
OVERLAP_PX = 1.0  # two texts may share this much: their extents' rounding, not a collision


def _audit(block: nn.Module, spec: BlockSpec) -> AuditReport:
    return blocks.audit(block, (2, spec.in_channels, 8, 8))


def _tags(fig: Figure, colour: str) -> list[Text]:
    """The tags of the figure in ``colour``: texts framed in it (a mistake's, a variant's)."""
    return [
        text
        for text in fig.findobj(Text)
        if text.get_bbox_patch() is not None and same_color(text.get_bbox_patch().get_edgecolor(), colour)
    ]


def _numbers(texts: list[Text]) -> set[int]:
    return {int(number) for text in texts for number in re.findall(r"\bmistake (\d+)\b", text.get_text())}


def _marked_layers(fig: Figure, colour: str = MISTAKE_COLOUR) -> int:
    """How many layers are edged in ``colour``: boxes, the add's circle, the shortcut's label."""
    patches = fig.findobj(lambda artist: isinstance(artist, (FancyBboxPatch, Circle)))
    labels = [text for text in _tags(fig, colour) if text.get_fontweight() != "bold"]  # tags are bold
    return sum(same_color(patch.get_edgecolor(), colour) for patch in patches) + len(labels)


@pytest.fixture(scope="module")
def relu_before_add() -> AuditReport:
    """The audit of mistake 10's block: two layers of the paper's block changed, one of them missing."""
    return _audit(WRONG_BLOCKS[10](SPEC), SPEC)


def test_two_renders_give_the_same_png_bytes(relu_before_add: AuditReport) -> None:
    # At a quarter of the saved resolution: the same drawing and stripping of stamps, on 16 times fewer pixels.
    first, second = (png_bytes(block_figure(relu_before_add), dpi=DPI / 4) for _ in range(2))
    assert first == second
    assert b"Software" not in first and b"matplotlib" not in first.lower()  # no stamp that changes with the version


WRONG_CASES = [(number, cls, SPEC) for number, cls in WRONG_BLOCKS.items()] + [(1, WRONG_BLOCKS[1], IDENTITY_SPEC)]


@pytest.mark.parametrize(
    ("number", "wrong", "spec"),
    WRONG_CASES,
    ids=[
        f"mistake-{number}-{cls.__name__}-{spec.in_channels}to{spec.out_channels}" for number, cls, spec in WRONG_CASES
    ],
)
def test_every_deviation_is_tagged_with_its_number(number: int, wrong: type[nn.Module], spec: BlockSpec) -> None:
    report = _audit(wrong(spec), spec)
    block = report.blocks[0]
    fig = block_figure(report)
    assert _numbers(_tags(fig, MISTAKE_COLOUR)) == {d.mistake for d in block.deviations} == {number}
    assert _marked_layers(fig) >= 1  # the layer itself is edged in the tag's colour
    legend = " ".join(text.get_text().replace("\n", " ") for text in fig.findobj(Text))
    for deviation in block.deviations:  # and said in full under the columns, with what was measured
        assert f"Mistake {number} (" in legend and str(deviation.layer) in legend


def test_a_bias_on_the_projection_is_marked_on_the_shortcut() -> None:
    block = blocks.build(SPEC, "c")
    projection = block.downsample[0]
    projection.bias = nn.Parameter(torch.zeros(projection.out_channels))
    found = recognise(block, (2, SPEC.in_channels, 8, 8)).blocks[0]
    assert [(d.kind, d.layer) for d in found.deviations] == [(DeviationKind.CONV_BIAS, BlockLayer.SHORTCUT)]
    fig = block_figure(found)
    shortcut = [t for t in fig.findobj(Text) if t.get_text().startswith("1x1, stride 2,")]
    assert [same_color(t.get_bbox_patch().get_edgecolor(), MISTAKE_COLOUR) for t in shortcut] == [False, True]
    assert _numbers(_tags(fig, MISTAKE_COLOUR)) == {8}


def test_every_kind_of_deviation_has_a_layer() -> None:
    assert {kind: kind.layer for kind in DeviationKind}.keys() == set(DeviationKind)


@pytest.fixture(scope="module")
def paper_block() -> RecognisedBlock:
    return _audit(blocks.build(SPEC, "a"), SPEC).blocks[0]


@pytest.mark.parametrize("kind", list(DeviationKind), ids=[kind.name for kind in DeviationKind])
def test_every_kind_of_deviation_is_tagged_beside_a_row(paper_block: RecognisedBlock, kind: DeviationKind) -> None:
    """Each kind, alone on the paper's block, is tagged beside a row of its layer (not the title), the layer edged."""
    fig = block_figure(dataclasses.replace(paper_block, deviations=(Deviation(kind, "measured"),)))
    if kind in CONVENTIONS:
        colour, expected = VARIANT_COLOUR, "convention"
    else:
        colour, expected = MISTAKE_COLOUR, "not the paper's" if kind.mistake is None else f"mistake {kind.mistake}"
    (tag,) = [text for text in _tags(fig, colour) if text.get_fontweight() == "bold"]  # tags are bold, labels not
    title_y = max(text.get_position()[1] for text in fig.findobj(Text))
    assert tag.get_text() == expected and tag.get_position()[1] < title_y
    assert _marked_layers(fig, colour) >= 1


VARIANT_CASES = [
    "se-after-bn3", "eca-after-bn3", "silu", "resnet-d-shortcut", "se-after-3x3-regnety", "pre-activation",
    "blurpool-anti-aliasing",
]  # fmt: skip


@pytest.mark.parametrize("case", VARIANT_CASES)
def test_a_variant_is_tagged_by_name_beside_its_layer(case: str) -> None:
    factory, input_size, _, _ = VARIANTS[case]
    report = blocks.audit(factory(), input_size)
    fig = block_figure(report)
    block = next(b for b in report.blocks if b.variants)
    tags = _tags(fig, VARIANT_COLOUR)
    title_y = max(text.get_position()[1] for text in fig.findobj(Text))
    for variant in block.variants:
        name = re.sub(r"^an? ", "", variant.kind.label)
        beside = [tag for tag in tags if tag.get_text().replace("\n", " ") == name]
        assert beside, f"no tag names {name!r}"
        assert all(tag.get_position()[1] < title_y for tag in beside)  # on a layer, not beside the title
    assert not _tags(fig, MISTAKE_COLOUR)  # a variant is no mistake


def _channels(fig: Figure) -> set[int]:
    """The channel counts on the arrows: the texts that are a number and nothing else."""
    return {int(text.get_text()) for text in fig.findobj(Text) if text.get_text().isdigit()}


@pytest.mark.parametrize("form", "abc")
def test_the_arrows_carry_the_blocks_channels(form: str) -> None:
    spec = ODD_SPEC
    report = _audit(blocks.build(spec, form), spec)
    inside = {"a": {spec.width}, "b": {spec.width, spec.grouped_channels}, "c": {spec.grouped_channels}}[form]
    assert _channels(block_figure(report)) == {spec.in_channels, spec.out_channels, *inside}


def test_the_papers_block_of_an_exercise_carries_its_own_channels() -> None:
    asked = BlockSpec(24, 48, cardinality=3, width=6, stride=2)  # the student's d is 5, one short
    found = _audit(blocks.build(ODD_SPEC, "c"), ODD_SPEC).blocks[0]
    fig = block_figure(found, paper_spec=asked, paper_form="a")
    assert _channels(fig) == {24, 48, ODD_SPEC.grouped_channels, asked.width}


def _two_blocks() -> AuditReport:
    """The audit of a right block, then a wrong one (mistake 10), in a Sequential: blocks "0" and "1"."""
    return _audit(_right_then_wrong(), IDENTITY_SPEC)


def _right_then_wrong() -> nn.Module:
    return nn.Sequential(blocks.build(IDENTITY_SPEC, "c"), WRONG_BLOCKS[10](IDENTITY_SPEC))


def _title(fig: Figure) -> str:
    return next(t.get_text() for t in fig.findobj(Text) if t.get_text().endswith("as recognised: layout (c)"))


def test_a_report_draws_its_first_wrong_block_unless_told() -> None:
    report = _two_blocks()
    assert _title(report.figure()) == "block 1, as recognised: layout (c)"
    assert _title(report.figure(block=0)) == _title(report.figure(block="0")) == "block 0, as recognised: layout (c)"


def test_a_recognition_draws_its_blocks_as_a_report_does() -> None:
    found = recognise(_right_then_wrong(), (2, IDENTITY_SPEC.in_channels, 8, 8))
    assert _title(block_figure(found)) == "block 1, as recognised: layout (c)"


BAD_BLOCKS = {
    "index past the end": (2, "got 2"),
    "unknown name": ("layer9", "got 'layer9'"),
    "bool": (True, "got True"),
}


@pytest.mark.parametrize(("block", "message"), BAD_BLOCKS.values(), ids=list(BAD_BLOCKS))
def test_block_names_none_of_the_reports_blocks(block: object, message: str) -> None:
    with pytest.raises(
        ValueError, match=rf"block must be an index from 0 to 1 or a block's name \('0', '1'\), {message}"
    ):
        _two_blocks().figure(block=block)  # type: ignore[arg-type]


def test_a_report_without_a_bottleneck_has_no_figure() -> None:
    report = blocks.audit(nn.Sequential(nn.Conv2d(3, 3, 1)), (1, 3, 4, 4))
    with pytest.raises(ValueError, match="no bottleneck was found in the forward pass of Sequential"):
        report.figure()


def test_bad_arguments_are_named() -> None:
    found = _audit(blocks.build(SPEC, "c"), SPEC).blocks[0]
    with pytest.raises(ValueError, match="block must be None when found is one RecognisedBlock, got 0"):
        block_figure(found, block=0)
    with pytest.raises(ValueError, match=r"paper_form must be one of \['a', 'b', 'c'\] or None, got 'd'"):
        block_figure(found, paper_form="d")
    with pytest.raises(TypeError, match=r"spec must be a blocks\.BlockSpec, got tuple"):
        block_figure(found, paper_spec=(32, 64))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="found must be an AuditReport, a Recognition or a RecognisedBlock, got str"):
        block_figure("layer1.0")  # type: ignore[arg-type]


DENSE_CASES = {"mistake-2-layout-a": 2, "mistake-9-shortcut": 9, "mistake-10-two-rows": 10}


@pytest.mark.parametrize("number", DENSE_CASES.values(), ids=list(DENSE_CASES))
def test_every_text_is_readable_inside_the_figure_and_apart(number: int) -> None:
    fig = block_figure(_audit(WRONG_BLOCKS[number](SPEC), SPEC))
    fig.set_dpi(DPI / 2)
    renderer = FigureCanvasAgg(fig).get_renderer()
    texts = [text for text in fig.findobj(Text) if text.get_text()]
    assert min(text.get_fontsize() for text in texts) >= MIN_FONT_PT
    width, height = fig.bbox.width, fig.bbox.height
    extents = [text.get_window_extent(renderer) for text in texts]
    for text, extent in zip(texts, extents):
        assert extent.x0 >= -EDGE_PX and extent.y0 >= -EDGE_PX, f"{text.get_text()!r} is cut at the figure's edge"
        assert extent.x1 <= width + EDGE_PX and extent.y1 <= height + EDGE_PX, f"{text.get_text()!r} is cut"
    for (one, a), (other, b) in combinations(zip(texts, extents), 2):
        shared = min(a.x1, b.x1) - max(a.x0, b.x0), min(a.y1, b.y1) - max(a.y0, b.y0)
        assert min(shared) <= OVERLAP_PX, f"{one.get_text()!r} and {other.get_text()!r} overlap"
