"""blocks.recognise reads any implementation by its dataflow; transplant adopts foreign models.

Every comparison is against the untouched source model: its own output on its own input.
"""

from __future__ import annotations

import types

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

import blocks
from blocks.dataflow import mistakes
from blocks.dataflow.recognise import recognise
from blocks.util.numerics import CANONICAL_RTOL, FP32_RTOL, randomise_batchnorm, relative_error

from tests.dataflow.foreign.correct import CORRECT
from tests.dataflow.foreign.wrong import WRONG

pytestmark = pytest.mark.usefixtures("one_thread")  # see tests/conftest.py

# A foreign model moved into this package's blocks computes the same function up to float32
# rounding (FP32_RTOL): the forms add the same products in another order.
BLOCK = blocks.BlockSpec(64, 128, cardinality=4, width=8, stride=2)
# The ResNeXt-50-sized models of torchvision and timm take seconds each to trace, map and run.
BIG = ("torchvision-resnext50_32x4d", "torchvision-wide_resnet50_2", "timm-resnext50_32x4d")
ADOPTABLE = [
    pytest.param(name, marks=pytest.mark.slow) if name in BIG else name
    for name in CORRECT
    if name not in ("functional-form-c", "keras-cifar-resnext29")
]


@pytest.mark.mutation  # blocks.transplant and form_of hand a foreign model over here: make mutants runs it
@pytest.mark.parametrize("name", ADOPTABLE)
@pytest.mark.parametrize("form", "abc")
def test_a_correct_foreign_model_moves_into_our_blocks_computing_the_same_function(name: str, form: str) -> None:
    make, size = CORRECT[name]
    source = make().eval()
    before = {k: v.clone() for k, v in source.state_dict().items()}
    ours = blocks.transplant(source, form, input_size=size).eval()
    assert blocks.form_of(ours) == form
    x = torch.randn(size, generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        assert relative_error(ours(x), source(x)) <= FP32_RTOL
    assert all(torch.equal(before[k], v) for k, v in source.state_dict().items())  # the source is untouched


@pytest.mark.parametrize("name", ["functional-form-c", "keras-cifar-resnext29"])
def test_a_model_without_a_module_per_block_is_refused_by_name(name: str) -> None:
    make, size = CORRECT[name]
    with pytest.raises(ValueError, match=r"not one module whose single call computes exactly the block"):
        blocks.transplant(make(), "a", input_size=size)


@pytest.mark.parametrize("name", [n for n, (_, _, found, _) in WRONG.items() if found - {4, 6, 12}])
def test_a_wrong_block_is_refused_naming_the_block_and_the_mistake(name: str) -> None:
    make, size, _, _ = WRONG[name]
    with pytest.raises(ValueError, match=r"is not the paper's block, so no block of this package computes it: mistake"):
        blocks.transplant(make(), "c", input_size=size)


@pytest.mark.parametrize("name", CORRECT)
def test_every_block_of_a_correct_model_maps_onto_form_c(name: str) -> None:
    make, size = CORRECT[name]
    found = recognise(make(), size)
    assert found.blocks
    for block in found.blocks:
        assert block.canonical is not None or any(d.kind == "same-padding" for d in block.deviations), block
        if block.error is not None and block.canonical is not None:
            assert block.error <= CANONICAL_RTOL, block


@pytest.mark.mutation  # blocks.transplant and form_of hand a foreign model over here: make mutants runs it
def test_form_of_reads_a_foreign_model_by_its_layout() -> None:
    for name, layout in (("modulelist-loop-form-a", "a"), ("chunk-form-b", "b"), ("paper-table1-form-c", "c")):
        make, size = CORRECT[name]
        assert blocks.form_of(make(), input_size=size) == layout
    with pytest.raises(TypeError, match=r"pass input_size"):
        blocks.transplant(CORRECT["chunk-form-b"][0](), "a")


def test_recognised_blocks_carry_shape_source_and_canonical_tensors() -> None:
    net = blocks.resnext(50, 32, 4)
    found = recognise(net, (1, 3, 64, 64))
    assert len(found.blocks) == 16 and found.layouts == {"c"}
    first = found.blocks[0]
    assert (first.where, first.in_channels, first.out_channels, first.stride, first.widths, first.shortcut) == (
        "layer1.0",
        64,
        256,
        1,
        "32x4d",
        "projection",
    )
    assert first.source.startswith("forms.py:")
    assert first.canonical is not None
    assert all(torch.equal(first.canonical[k], v) for k, v in net.layer1[0].state_dict().items())
    assert found.stem == ("conv 7x7/2 3->64", "max pool 3x3/2")
    assert found.head == ("global average pool", "linear 2048->1000")


def test_paths_are_found_in_every_form_and_mapped_to_the_same_tensors() -> None:
    torch.manual_seed(0)
    c = randomise_batchnorm(blocks.build(BLOCK, "c"), torch.Generator().manual_seed(1))
    reference = c.state_dict()
    for form in "abc":
        (block,) = recognise(blocks.transplant(c, form), (2, 64, 8, 8)).blocks
        assert block.layout == form and block.canonical is not None
        assert all(torch.equal(block.canonical[k], v) for k, v in reference.items()), form


# The catalogue's block mistakes that can be made in any layout, made in each of (a), (b), (c).


def _with_conv_bias(block: nn.Module) -> nn.Module:
    for module in block.modules():
        if isinstance(module, nn.Conv2d):
            module.bias = nn.Parameter(0.1 * torch.randn(module.out_channels))
    return block


def _with_stride_on_first_conv(block: nn.Module) -> nn.Module:
    for module in block.modules():
        if isinstance(module, nn.Conv2d) and module.stride == (2, 2) and module.kernel_size == (3, 3):
            module.stride = (1, 1)
    for name, module in block.named_modules():
        if isinstance(module, nn.Conv2d) and name.endswith("conv1"):
            module.stride = (2, 2)
    return block


def _with_pooling_shortcut(block: nn.Module) -> nn.Module:
    block.downsample = nn.Sequential(nn.AvgPool2d(2), nn.Conv2d(BLOCK.in_channels, BLOCK.out_channels, 1, bias=False))
    return block


def _with_relu_before_add(block: nn.Module) -> nn.Module:
    def forward(self: blocks.ResNeXtBlock, x: Tensor) -> Tensor:
        return F.relu(self.bn3(self.aggregate(x))) + self.downsample(x)

    block.forward = types.MethodType(forward, block)  # type: ignore[method-assign]
    return block


ANY_LAYOUT = {5: _with_stride_on_first_conv, 8: _with_conv_bias, 9: _with_pooling_shortcut, 10: _with_relu_before_add}


@pytest.mark.parametrize("form", "abc")
@pytest.mark.parametrize("mistake", sorted(ANY_LAYOUT), ids=lambda m: f"mistake{m}")
def test_a_mistake_is_found_in_every_layout(mistake: int, form: str) -> None:
    torch.manual_seed(0)
    block = ANY_LAYOUT[mistake](blocks.build(BLOCK, form))
    problems = blocks.audit(block, (2, 64, 8, 8)).problems
    assert {p.mistake for p in problems} == {mistake}, problems


def test_every_catalogue_mistake_has_a_variant_and_corpus_models() -> None:
    in_corpus = {m for _, _, found, _ in WRONG.values() for m in found}
    assert set(mistakes.CATALOGUE) == set(mistakes.MISTAKES) == in_corpus == set(range(1, 13))
    for mistake in mistakes.CATALOGUE.values():
        assert hasattr(mistakes, mistake.variant), mistake


@pytest.mark.parametrize("form", "abc")
def test_meta_device_networks_are_audited_and_transplanted(form: str) -> None:
    with torch.device("meta"):
        net = blocks.resnext29(4, 4, form=form)
    assert blocks.audit(net, (1, 3, 32, 32)).problems == []
    moved = blocks.transplant(net, "a" if form != "a" else "c")
    assert all(p.device.type == "meta" for p in moved.parameters())
