"""blocks.audit passes every correct network and block, and flags each mistake of blocks.mistakes."""

from __future__ import annotations

import pytest
import torch
import torchvision

import blocks
from blocks.analysis import mistakes

IMAGE = (1, 3, 32, 32)  # ImageNet networks: stages at 8, 4, 2 and 1 pixels, fast on a CPU
CIFAR = (1, 3, 32, 32)


pytestmark = pytest.mark.usefixtures("one_thread")  # see conftest.py


@pytest.fixture(scope="module")
def resnext50() -> torch.nn.Module:
    return blocks.resnext(50, 32, 4)


@pytest.fixture(scope="module")
def resnext50_4x4d() -> torch.nn.Module:
    return blocks.resnext(50, 4, 4)


CORRECT = {
    "resnext50_32x4d-a": lambda: blocks.resnext(50, 32, 4, form="a"),
    "resnext50_32x4d-b": lambda: blocks.resnext(50, 32, 4, form="b"),
    "resnext50_32x4d-c": lambda: blocks.resnext(50, 32, 4, form="c"),
    "torchvision-resnext50_32x4d": torchvision.models.resnext50_32x4d,
}


@pytest.mark.parametrize("make", CORRECT.values(), ids=CORRECT.keys())
def test_correct_resnext50_has_no_problems(make, resnext50: torch.nn.Module) -> None:
    report = blocks.audit(make(), IMAGE, expected=resnext50)
    assert report.problems == [], str(report)
    assert report.unique_parameters == report.per_call_parameters == 25_028_904
    assert len(report.blocks) == 16 and all(block.form is not None for block in report.blocks)


@pytest.mark.parametrize("form", ["a", "b", "c"])
def test_resnext29_has_no_problems_and_reads_its_own_form(form: str) -> None:
    report = blocks.audit(blocks.resnext29(4, 16, form=form), CIFAR, expected=blocks.resnext29(4, 16))
    assert report.problems == [], str(report)
    assert {block.form for block in report.blocks} == {form}
    assert [block.widths for block in report.blocks[::3]] == ["4x16d", "4x32d", "4x64d"]


def test_resnet50_has_no_problems() -> None:
    report = blocks.audit(torchvision.models.resnet50(), IMAGE, expected=blocks.resnext(50, 1, 64))
    assert report.problems == [], str(report)
    assert {block.widths for block in report.blocks} == {"1x64d", "1x128d", "1x256d", "1x512d"}


@pytest.mark.parametrize("form", ["a", "b", "c"])
def test_single_blocks_have_no_problems(spec: blocks.BlockSpec, form: str) -> None:
    report = blocks.audit(blocks.build(spec, form).double(), (2, spec.in_channels, 8, 8))
    assert report.problems == [], str(report)
    (block,) = report.blocks
    assert (block.cardinality, block.width, block.stride, block.form) == (
        spec.cardinality,
        spec.width,
        spec.stride,
        form,
    )


# Which words each mistake's problems must contain. Mistakes 4 and 6 are correct
# ResNeXts of another shape, so only a comparison with the expected network finds them.
FLAGGED = {
    1: ("ran 4 times", "changed its input tensor in place", "mistake 1"),
    2: ("not a canonical bottleneck", "4x the entries"),
    3: ("1x1 convolution with groups=32", "mistake 3"),
    4: ("C x d per stage: 32x2d", "mistake 4", "parameters in all"),
    5: ("stride 2 on a 1x1 (conv1)", "mistake 5"),
    6: ("blocks per stage: 4, 5, 7, 4; expected 3, 4, 6, 3", "mistake 6", "parameters in all"),
    7: ("not a canonical bottleneck", "4x the entries"),
}
# Mistakes 1, 2 and 7 run C paths per block: they are measured on a 4x4d ResNeXt-50, as
# 32 paths would make them the slowest tests here; C does not change what is flagged.


@pytest.mark.parametrize("mistake", mistakes.MISTAKES, ids=lambda m: f"mistake{m}")
def test_each_mistake_is_flagged(mistake: int, request: pytest.FixtureRequest) -> None:
    narrow = mistake in (1, 2, 7)
    wrong = mistakes.wrong_resnext(mistake, 50, *((4, 4) if narrow else (32, 4)))
    alone = blocks.audit(wrong, IMAGE)
    compared = blocks.audit(wrong, IMAGE, expected=request.getfixturevalue("resnext50_4x4d" if narrow else "resnext50"))
    assert bool(alone.problems) == (mistake not in (4, 6)), str(alone)
    text = "\n".join(compared.problems)
    for words in FLAGGED[mistake]:
        assert words in text, text


def test_report_reads_as_a_table() -> None:
    spec = blocks.BlockSpec(64, 64, cardinality=4, width=8)
    text = str(blocks.audit(mistakes.WrongSharedPathBlock(spec), (1, 64, 8, 8)))
    for line in (
        "  parameters, unique:                     1,760",  # one path (1,632) and bn3 (128)
        "  parameters, counted per call:           6,656",  # 4 x 1,632 + 128: what 4 real paths hold
        "  path (BlockPath, 1,632 parameters): 4 calls",
        "  path.conv2        1   8    8     3x3       1       1           4",
        "  (model)  64   64       1   4x8d       1,760         NO",
    ):
        assert line in text.splitlines(), text
    assert text.splitlines()[-3].startswith("  - path: ran 4 times in one forward pass")


def test_conv_rows_merge_paths_and_identity_blocks() -> None:
    lines = str(blocks.audit(blocks.resnext29(4, 4, form="a"), CIFAR)).splitlines()
    assert "  layer1.0.paths.{0-3}.conv2        4     4     4     3x3       1       1           1" in lines
    lines = str(blocks.audit(blocks.resnext29(4, 4), CIFAR)).splitlines()
    assert "  layer2.{1-2}.conv2           2    32    32     3x3       1       4           1" in lines


def test_audit_changes_nothing_in_the_model() -> None:
    net = blocks.resnext29(4, 4).train()
    net.layer1.eval()
    before = {key: tensor.clone() for key, tensor in net.state_dict().items()}
    blocks.audit(net, CIFAR)
    assert all(torch.equal(before[key], tensor) for key, tensor in net.state_dict().items())
    assert net.training and not net.layer1.training and net.layer2.training


def test_stride_on_the_wrong_conv_is_named() -> None:
    spec = blocks.BlockSpec(64, 128, 4, 8, stride=2)
    (problem,) = blocks.audit(mistakes.WrongStrideOnFirstConvBlock(spec), (1, 64, 8, 8)).problems
    assert problem.startswith("the model: stride 2 on a 1x1 (conv1) while the 3x3 has stride 1")


@pytest.mark.parametrize("size", [[1, 3, 8, 8], (), (8,), (1, 0, 8, 8), (1.0, 3, 8, 8)], ids=str)
def test_bad_input_size_is_named(size: object) -> None:
    with pytest.raises(
        ValueError, match=r"input_size must be a tuple of positive ints starting with the batch size, got"
    ):
        blocks.audit(blocks.build(blocks.BlockSpec(8, 8, 2, 2), "c"), size)
