"""The layout of each form: what Figure 3 draws, and the mistakes it rules out."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import blocks
from blocks import BlockSpec, build, form_of
from blocks.core.build import initial_weights

FORMS = ["a", "b", "c"]


def conv_weights(block: nn.Module) -> int:
    return sum(m.weight.numel() for m in block.modules() if isinstance(m, nn.Conv2d))


def closed_form_conv_weights(spec: BlockSpec) -> int:
    """in·C·d (1x1 in) + C·d·d·3·3 (grouped 3x3) + C·d·out (1x1 out) [+ in·out projection]."""
    c_d = spec.grouped_channels
    projection = spec.in_channels * spec.out_channels if spec.has_projection else 0
    return spec.in_channels * c_d + c_d * spec.width * 9 + c_d * spec.out_channels + projection


def test_resnext50_conv2_block_has_70144_conv_weights() -> None:
    # Paper Table 2 / section 3.3: 256-in, C=32, d=4 costs 256·128 + 128·4·9 + 128·256 ≈ 70k.
    for form in FORMS:
        assert conv_weights(build(BlockSpec(256, 256, 32, 4), form)) == 70_144


@pytest.mark.parametrize("form", FORMS)
def test_parameter_count_is_the_closed_form_in_every_form(spec: BlockSpec, form: str) -> None:
    block = build(spec, form)
    bn_parameters = 2 * (2 * spec.grouped_channels + spec.out_channels * (2 if spec.has_projection else 1))
    assert conv_weights(block) == closed_form_conv_weights(spec)
    assert sum(p.numel() for p in block.parameters()) == closed_form_conv_weights(spec) + bn_parameters


@pytest.mark.parametrize("form", ["a", "b"])
def test_paths_are_distinct_modules_with_distinct_weights(form: str) -> None:
    # The shared-weights mistake: one path module called C times.
    block = build(BlockSpec(64, 64, 8, 4), form)
    paths = list(block.paths)
    assert len(paths) == 8 and len({id(p) for p in paths}) == 8
    pointers = {p.conv2.weight.untyped_storage().data_ptr() for p in paths}
    assert len(pointers) == 8
    for other in paths[1:]:
        assert not torch.equal(paths[0].conv2.weight, other.conv2.weight)


def test_only_form_c_3x3_is_grouped() -> None:
    spec = BlockSpec(64, 128, cardinality=8, width=4, stride=2)
    c = build(spec, "c")
    assert (c.conv1.groups, c.conv2.groups, c.conv3.groups) == (1, 8, 1)
    assert c.conv2.stride == (2, 2) and c.conv1.stride == (1, 1)  # stride on the 3x3
    for form in ("a", "b"):
        assert {m.groups for m in build(spec, form).modules() if isinstance(m, nn.Conv2d)} == {1}


@pytest.mark.parametrize("form", FORMS)
def test_conv_layers_have_no_bias(form: str) -> None:
    convs = [m for m in build(BlockSpec(32, 64, 4, 4, stride=2), form).modules() if isinstance(m, nn.Conv2d)]
    assert convs and all(m.bias is None for m in convs)


@pytest.mark.parametrize("form", FORMS)
def test_output_is_relu_of_sum_so_it_is_non_negative(form: str) -> None:
    # ReLU after the shortcut add: every output is >= 0 and some are exactly 0.
    block = build(BlockSpec(32, 32, 4, 4), form)
    out = block(torch.randn(2, 32, 8, 8))
    assert out.min() == 0 and (out > 0).any()


@pytest.mark.parametrize("form", FORMS)
def test_projection_only_when_needed(spec: BlockSpec, form: str) -> None:
    block = build(spec, form)
    assert (block.downsample is not None) is spec.has_projection


@pytest.mark.parametrize("form", FORMS)
def test_form_of_names_the_form(form: str) -> None:
    block = build(BlockSpec(16, 16, 2, 4), form)
    assert form_of(block) == form
    assert form_of(nn.Sequential(block, nn.ReLU())) == form


def test_form_of_rejects_modules_without_blocks_and_mixed_forms() -> None:
    message = (
        r"^form_of: Linear is not and does not contain a ResNeXt block of form a, b or c; for a model this"
        r" package did not build, pass input_size=\(batch, C, H, W\)$"
    )
    with pytest.raises(TypeError, match=message):
        form_of(nn.Linear(2, 2))
    spec = BlockSpec(16, 16, 2, 4)
    with pytest.raises(ValueError, match=r"^form_of: Sequential mixes blocks of forms \['a', 'c'\]$"):
        form_of(nn.Sequential(build(spec, "a"), build(spec, "c")))


def test_form_of_rejects_a_block_class_that_is_not_one_of_the_forms() -> None:
    class MyBlock(blocks.SummedPathsBlock):  # same "form" attribute, different class
        pass

    with pytest.raises(TypeError, match=r"^form_of: submodule '0' is a MyBlock, not a block of form a, b or c$"):
        form_of(nn.Sequential(MyBlock(BlockSpec(8, 8, 2, 4))))
    with pytest.raises(TypeError, match=r"^form_of: the module is a MyBlock, not a block of form a, b or c$"):
        form_of(MyBlock(BlockSpec(8, 8, 2, 4)))


@pytest.mark.parametrize("form", ["d", "A", "", 3, None], ids=repr)
def test_build_rejects_unknown_form_listing_valid_ones(form: object) -> None:
    with pytest.raises(ValueError, match=r"form must be one of \['a', 'b', 'c'\], got"):
        build(BlockSpec(16, 16, 2, 4), form)  # type: ignore[arg-type]


def test_build_rejects_a_spec_that_is_not_a_blockspec() -> None:
    with pytest.raises(TypeError, match=r"spec must be a blocks.BlockSpec, got tuple"):
        build((16, 16, 2, 4), "c")  # type: ignore[arg-type]


def test_zero_init_last_bn_makes_the_block_its_shortcut() -> None:
    block = build(BlockSpec(16, 16, 2, 4), "a", zero_init_last_bn=True).eval()
    x = torch.randn(2, 16, 4, 4)
    assert torch.equal(block(x), torch.relu(x))


def test_public_api_names() -> None:
    for name in ("BlockSpec", "build", "transplant", "form_of"):
        assert callable(getattr(blocks, name))


# Kaiming-normal "fan_out": std = sqrt(2 / (out_channels · k · k)). Estimated from 2^18 draws, the
# std is within 1% of that with overwhelming probability; "fan_in" would give 2x here (1024 out, 256 in).
STD_RTOL = 0.01


@pytest.mark.parametrize("zero_init_last_bn", [False, True], ids=["default", "zero-init-last-bn"])
def test_build_initialises_as_torchvision_does(zero_init_last_bn: bool) -> None:
    spec = BlockSpec(256, 256, cardinality=2, width=512)  # conv1: 1024 out, 256 in, 1x1
    torch.manual_seed(0)
    # build's default (no argument) must be no zero-init
    block = build(spec, "c", zero_init_last_bn=True) if zero_init_last_bn else build(spec, "c")
    for name, bn in block.named_modules():
        if isinstance(bn, nn.BatchNorm2d):
            last = zero_init_last_bn and name == "bn3"
            assert torch.equal(bn.weight, torch.full_like(bn.weight, 0.0 if last else 1.0)), name
            assert not bn.bias.any() and not bn.running_mean.any() and int(bn.num_batches_tracked) == 0, name
            assert torch.equal(bn.running_var, torch.ones_like(bn.running_var)), name
    weight = block.conv1.weight  # (1024, 256, 1, 1)
    expected_std = (2 / weight.shape[0]) ** 0.5
    assert abs(weight.std().item() / expected_std - 1) <= STD_RTOL
    assert torch.equal(initial_weights(spec)["bn3.weight"], torch.ones(256))  # its default too
