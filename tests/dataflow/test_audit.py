"""blocks.audit passes every correct network and block, written in any style, and names each catalogue mistake.

The models under audit come from three places: this package (every form), the corpus of
foreign implementations in tests/dataflow/foreign/ (torchvision, timm, functional, Sequential-only,
loops, chunk/cat, Keras-style ...; written as other authors write them), and the catalogue
of wrong variants in blocks.dataflow.mistakes. Mistakes 4, 6 and 12 are correct ResNeXts
of another shape, so only a comparison with the expected network finds them.
"""

from __future__ import annotations

import pytest
import torch

import blocks
from blocks.dataflow import mistakes
from blocks.util.numerics import randomise_batchnorm

from tests.dataflow.foreign.correct import CORRECT
from tests.dataflow.foreign.wrong import WRONG

pytestmark = pytest.mark.usefixtures("one_thread")  # see tests/conftest.py

IMAGE = (1, 3, 32, 32)  # ImageNet networks: stages at 8, 4, 2 and 1 pixels, fast on a CPU
CIFAR = (1, 3, 32, 32)
BLOCK = blocks.BlockSpec(64, 128, cardinality=4, width=8, stride=2)  # small, strided, projecting


@pytest.mark.parametrize("name", CORRECT)
def test_correct_foreign_models_have_no_problems(name: str) -> None:
    make, size = CORRECT[name]
    report = blocks.audit(make(), size)
    assert report.blocks, str(report)
    assert report.problems == [], str(report)


@pytest.mark.parametrize("name", WRONG)
def test_wrong_foreign_models_get_exactly_their_mistakes(name: str) -> None:
    make, size, expected_mistakes, expected = WRONG[name]
    report = blocks.audit(make(), size, expected=expected() if expected is not None else None)
    assert {problem.mistake for problem in report.problems} == set(expected_mistakes), str(report)


@pytest.mark.parametrize("form", "abc")
@pytest.mark.slow  # a full-size network or a new process: seconds on 2 cores
def test_our_networks_in_every_form_have_no_problems(form: str) -> None:
    report = blocks.audit(blocks.resnext29(4, 16, form=form), CIFAR, expected=blocks.resnext29(4, 16))
    assert report.problems == [], str(report)
    assert {block.layout for block in report.blocks} == {form}
    assert [stage.blocks for stage in report.stages] == [3, 3, 3]


def test_single_blocks_are_read_with_their_shape(spec: blocks.BlockSpec) -> None:
    for form in "abc":
        block = randomise_batchnorm(blocks.build(spec, form).double(), torch.Generator().manual_seed(0))
        report = blocks.audit(block, (2, spec.in_channels, 8, 8))
        assert report.problems == [], str(report)
        (found,) = report.blocks
        layout = form if spec.cardinality > 1 else "c"  # one path: the three layouts are one
        assert (found.cardinality, found.width, found.stride, found.layout) == (
            spec.cardinality,
            spec.width,
            spec.stride,
            layout,
        )
        assert found.shortcut == ("projection" if spec.has_projection else "identity")


# Mistakes 1, 2 and 7 run C paths per block: measured on a 4x4d ResNeXt-50, as 32 paths
# would make them the slowest tests here; C does not change what is flagged.
NARROW = (1, 2, 7)


@pytest.mark.parametrize("mistake", mistakes.MISTAKES, ids=lambda m: f"mistake{m}")
@pytest.mark.slow  # a full-size network or a new process: seconds on 2 cores
def test_each_catalogue_network_is_flagged_with_its_number(mistake: int) -> None:
    shape = (4, 4) if mistake in NARROW else (32, 4)
    wrong = mistakes.wrong_resnext(mistake, 50, *shape)
    alone = blocks.audit(wrong, IMAGE)
    compared = blocks.audit(wrong, IMAGE, expected=blocks.resnext(50, *shape))
    assert {p.mistake for p in alone.problems} == (set() if mistake in (4, 6, 12) else {mistake}), str(alone)
    assert {p.mistake for p in compared.problems} == {mistake}, str(compared)


@pytest.mark.parametrize("mistake", sorted(mistakes.WRONG_BLOCKS), ids=lambda m: f"mistake{m}")
def test_each_wrong_block_is_flagged_once_naming_its_blocks(mistake: int) -> None:
    block = randomise_batchnorm(mistakes.WRONG_BLOCKS[mistake](BLOCK), torch.Generator().manual_seed(0))
    problems = blocks.audit(block, (2, 64, 8, 8)).problems
    assert {p.mistake for p in problems} == {mistake}
    for problem in problems:
        assert problem.where == "the model"
        assert str(problem).startswith(f"Mistake {mistake} ({mistakes.CATALOGUE[mistake].title}), in the model: ")


def test_problems_are_whole_sentences_and_distinct() -> None:
    messages = {}
    for mistake in mistakes.WRONG_BLOCKS:
        block = mistakes.WRONG_BLOCKS[mistake](BLOCK)
        for problem in blocks.audit(block, (2, 64, 8, 8)).problems:
            assert problem.message.endswith(".") and problem.fix.endswith("."), problem
            assert (problem.message[0].isupper() or problem.message[0].isdigit()) and "…" not in str(problem), problem
            messages.setdefault(problem.message, set()).add(mistake)
    assert all(len(found) == 1 for found in messages.values()), messages  # 2 and 7 no longer share words


def test_a_mistake_in_many_blocks_is_reported_once_naming_them() -> None:
    report = blocks.audit(mistakes.wrong_resnext(8, 50, 4, 4), IMAGE)
    (problem,) = report.problems
    assert problem.where == "layer1.{0-2}, layer2.{0-3}, layer3.{0-5}, layer4.{0-2}"
    assert problem.message.startswith("In 16 blocks, ")


def test_a_model_without_bottlenecks_gets_one_plain_sentence() -> None:
    (problem,) = blocks.audit(torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU()), IMAGE).problems
    assert problem.mistake is None
    assert str(problem).startswith("Not the paper's block, in the model: No residual bottleneck was found")


def test_report_reads_as_tables() -> None:
    spec = blocks.BlockSpec(64, 64, cardinality=4, width=8)
    text = str(blocks.audit(mistakes.WrongSharedPathBlock(spec), (1, 64, 8, 8)))
    lines = text.splitlines()
    for line in (
        "  parameters, unique:                     1,760",  # one path (1,632) and bn3 (128)
        "  parameters, counted per use:            6,656",  # 4 x 1,632 + 128: what 4 real paths hold
        "  path (BlockPath, 1,632 parameters): 4 calls",
    ):
        assert line in lines, text
    assert any(line.startswith("  - Mistake 1 (") for line in lines), text


def test_audit_changes_nothing_in_the_model() -> None:
    net = blocks.resnext29(4, 4).train()
    net.layer1.eval()
    before = {key: tensor.clone() for key, tensor in net.state_dict().items()}
    blocks.audit(net, CIFAR)
    assert all(torch.equal(before[key], tensor) for key, tensor in net.state_dict().items())
    assert net.training and not net.layer1.training and net.layer2.training


def test_nan_weights_are_not_an_in_place_write() -> None:
    net = blocks.resnext29(2, 4)
    with torch.no_grad():
        net.layer1[0].conv2.weight.fill_(float("nan"))
    assert all(p.mistake != 1 for p in blocks.audit(net, CIFAR).problems)


@pytest.mark.parametrize("size", [[1, 3, 8, 8], (), (8,), (1, 0, 8, 8), (1.0, 3, 8, 8)], ids=str)
def test_bad_input_size_is_named(size: object) -> None:
    with pytest.raises(ValueError, match=r"input_size must be a tuple of positive ints starting with the batch size"):
        blocks.audit(blocks.build(blocks.BlockSpec(8, 8, 2, 2), "c"), size)  # type: ignore[arg-type]


@pytest.mark.parametrize("model", [None, torch.zeros(3), "resnext50", BLOCK], ids=["None", "tensor", "str", "spec"])
def test_a_non_module_is_a_type_error(model: object) -> None:
    with pytest.raises(TypeError, match=r"model must be a torch.nn.Module, got"):
        blocks.audit(model, IMAGE)  # type: ignore[arg-type]


def test_a_model_that_fails_is_named() -> None:
    with pytest.raises(ValueError, match=r"the model fails on an input of input_size=\(1, 5, 8, 8\)"):
        blocks.audit(blocks.build(blocks.BlockSpec(8, 8, 2, 2), "c"), (1, 5, 8, 8))


class _FailsOnTheInput(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.view(-1, 7)


def test_an_expected_network_that_fails_on_the_input_is_named_expected() -> None:
    with pytest.raises(ValueError, match=r"^audit: expected \(a _FailsOnTheInput\) fails on an input of input_size="):
        blocks.audit(blocks.resnext29(2, 4), (1, 3, 32, 32), expected=_FailsOnTheInput())


def test_the_multiply_adds_are_per_image_at_any_batch() -> None:
    net = blocks.resnext29(2, 4)
    one, two = (blocks.audit(net, (batch, 3, 32, 32)).multiply_adds for batch in (1, 2))
    assert one == two == blocks.complexity(net, (1, 3, 32, 32)).macs
