"""Each WRONG block of blocks.mistakes shows the symptom the mistakes notebook measures."""

from __future__ import annotations

import inspect

import pytest
import torch

import blocks
from blocks.dataflow import mistakes
from blocks.util.numerics import FP64_RTOL, randomise_batchnorm, relative_error

# A mistake must change the output by far more than rounding: a relative error of
# order 0.1 to 1, against 1e-12 (float64) or 1e-5 (float32) for a correct layout.
DIFFERENT = 1e-2
# Train-mode BN makes each batch's per-channel std of a form (c) branch |γ|·σ/√(σ²+ε),
# equal for every batch with σ² >> ε = 1e-5; a per-path BN gives changes of order 0.1.
STD_RTOL = 1e-4

SPEC = blocks.BlockSpec(256, 256, cardinality=32, width=4)  # ResNeXt-50's conv2 block, "32x4d"
STRIDED = blocks.BlockSpec(256, 512, cardinality=32, width=8, stride=2)  # first block of conv3
RESNEXT50_PARAMETERS = 25_028_904  # torchvision.models.resnext50_32x4d (paper Table 1: 25.0M)


pytestmark = pytest.mark.usefixtures("one_thread")  # see tests/conftest.py


def parameters(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def random_input(spec: blocks.BlockSpec, dtype: torch.dtype = torch.float64, seed: int = 1) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(4, spec.in_channels, 8, 8, generator=generator).to(dtype)


def randomised(block: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    return randomise_batchnorm(block.double(), torch.Generator().manual_seed(seed))


def test_every_wrong_name_says_wrong_and_names_the_fix() -> None:
    wrong = [
        obj
        for name, obj in vars(mistakes).items()
        if name.lower().startswith(("wrong", "_wrong")) and (inspect.isclass(obj) or inspect.isfunction(obj))
    ]
    assert len(wrong) == 14  # 9 blocks, 1 path, 4 network builders
    for obj in wrong:
        doc = inspect.getdoc(obj)
        assert doc.startswith("WRONG"), obj.__name__
        if not obj.__name__.startswith("_"):
            assert "Fix:" in doc or "mistake" in doc, obj.__name__


# Mistake 1: one path called C times, added in place onto the input.


def test_shared_path_has_about_one_cth_of_the_parameters() -> None:
    wrong, right = mistakes.WrongSharedPathBlock(SPEC), blocks.build(SPEC, "c")
    path = parameters(wrong.path)
    assert path * SPEC.cardinality == parameters(right) - parameters(right.bn3)  # 32 paths' worth
    assert parameters(wrong) == 2_720 and parameters(right) == 71_168  # 1/26 of the real block


def test_shared_path_counted_per_call_looks_like_the_real_block() -> None:
    report = blocks.audit(mistakes.WrongSharedPathBlock(SPEC), (1, 256, 8, 8))
    assert report.unique_parameters == 2_720
    # Counting the 32 calls gives exactly the real block's count: the table looks right.
    assert report.per_call_parameters == parameters(blocks.build(SPEC, "c")) == 71_168
    assert report.repeated == (("path", "BlockPath", 32, 2_208),)


def test_shared_path_in_place_add_changes_the_callers_tensor() -> None:
    x = random_input(SPEC, torch.float32)
    before = x.clone()
    with torch.no_grad():
        y = mistakes.WrongSharedPathBlock(SPEC)(x)
    assert not torch.equal(x, before)
    assert torch.equal(x, y)  # the caller's x IS the output now


def test_shared_path_network_cannot_be_trained() -> None:
    net = mistakes.wrong_resnext(1, cardinality=2, base_width=4)
    loss = net(torch.randn(2, 3, 32, 32)).sum()
    with pytest.raises(RuntimeError, match="inplace operation"):
        loss.backward()  # a ReLU's output, needed for its gradient, was overwritten


# Mistakes 2 and 7: a BN (and ReLU) after each path's last 1x1.


def test_per_path_batchnorm_folds_into_form_c_in_eval_mode() -> None:
    torch.manual_seed(0)
    wrong = randomised(mistakes.WrongPerPathBatchNormBlock(SPEC)).eval()
    folded = mistakes.fold_path_batchnorms(wrong)
    x = random_input(SPEC)
    assert blocks.form_of(folded) == "c"
    assert relative_error(folded(x), wrong(x)) <= FP64_RTOL


def test_per_path_batchnorm_disagrees_in_train_mode() -> None:
    torch.manual_seed(0)
    wrong = randomised(mistakes.WrongPerPathBatchNormBlock(SPEC))
    folded = mistakes.fold_path_batchnorms(wrong).train()
    x = random_input(SPEC)
    assert relative_error(wrong.train()(x), folded(x)) > DIFFERENT


def test_no_form_c_block_matches_per_path_batchnorm_in_train_mode() -> None:
    """A form (c) branch ends in ONE BN: its per-channel batch std is the same for every batch."""
    torch.manual_seed(0)
    wrong = randomised(mistakes.WrongPerPathBatchNormBlock(SPEC)).train()
    right = randomised(blocks.build(SPEC, "c")).train()
    independent = random_input(SPEC, seed=1)
    shared = random_input(SPEC, seed=2)[:, :1] + 0.1 * random_input(SPEC, seed=3)  # correlated channels
    with torch.no_grad():
        for block, branch in ((wrong, wrong.aggregate), (right, lambda x: right.bn3(right.aggregate(x)))):
            first, second = (branch(x).std((0, 2, 3), unbiased=False) for x in (independent, shared))
            change = (first / second - 1).abs().max().item()
            assert (change > 10 * DIFFERENT) if block is wrong else (change < STD_RTOL)


def test_per_path_relu_breaks_the_equivalence_even_in_eval_mode() -> None:
    torch.manual_seed(0)
    wrong = randomised(mistakes.WrongPerPathReluBlock(SPEC)).eval()
    without_relu = mistakes.fold_path_batchnorms(wrong)  # the block minus its per-path ReLUs
    x = random_input(SPEC)
    assert relative_error(without_relu(x), wrong(x)) > DIFFERENT


def test_per_path_relu_makes_the_residual_branch_non_negative() -> None:
    torch.manual_seed(0)
    wrong = randomised(mistakes.WrongPerPathReluBlock(SPEC)).eval()
    right = randomised(blocks.build(SPEC, "c")).eval()
    x = random_input(SPEC)
    with torch.no_grad():
        assert wrong.aggregate(x).min() >= 0  # it can only add to the shortcut
        assert right.bn3(right.aggregate(x)).min() < 0


def test_fold_rejects_other_blocks() -> None:
    with pytest.raises(TypeError, match="WrongPerPathBatchNormBlock"):
        mistakes.fold_path_batchnorms(blocks.build(SPEC, "a"))


# Mistake 3: groups=C on the first 1x1 as well.


def test_grouped_first_conv_has_c_times_fewer_conv1_weights() -> None:
    wrong, right = mistakes.WrongGroupedFirstConvBlock(SPEC), blocks.build(SPEC, "c")
    assert parameters(right.conv1) == SPEC.cardinality * parameters(wrong.conv1) == 32_768


def test_grouped_first_conv_resnext50_fewer_parameters_and_multiply_adds() -> None:
    wrong = blocks.audit(mistakes.wrong_resnext(3), (1, 3, 64, 64))
    right = blocks.audit(blocks.resnext(50, 32, 4), (1, 3, 64, 64))
    assert right.unique_parameters == RESNEXT50_PARAMETERS
    assert wrong.unique_parameters == 16_640_552  # every block's conv1 loses 31/32 of its weights
    assert wrong.multiply_adds < 0.6 * right.multiply_adds  # 57% of the multiply-adds


def test_grouped_first_conv_has_no_transplant() -> None:
    right, wrong = blocks.build(SPEC, "c").eval(), mistakes.WrongGroupedFirstConvBlock(SPEC).eval()
    with pytest.raises(RuntimeError, match=r"conv1.weight"):
        wrong.load_state_dict(right.state_dict())
    with pytest.raises(TypeError, match="not a block of form a, b or c"):
        blocks.transplant(wrong, "c")
    # Why none can exist: in the wrong block, one input channel reaches one path (d of C·d
    # channels); in the paper's, every path. No choice of weights makes the first do the second.
    x = random_input(SPEC, torch.float32)
    nudged = x.clone()
    nudged[:, 0] += 1
    with torch.no_grad():
        for block, reached in ((wrong, SPEC.width), (right, SPEC.grouped_channels)):
            changed = (block.conv1(nudged) - block.conv1(x)).abs().amax((0, 2, 3)) > 0
            assert changed.sum().item() == reached


# Mistake 4: width out_channels // 4 in C groups.


def test_quarter_width_resnext_is_32x2d() -> None:
    wrong = blocks.audit(mistakes.wrong_quarter_width_resnext(), (1, 3, 32, 32))
    assert [stage.widths for stage in wrong.stages] == [("32x2d",), ("32x4d",), ("32x8d",), ("32x16d",)]
    assert wrong.unique_parameters == parameters(blocks.resnext(50, 32, 2)) == 14_593_448
    assert wrong.unique_parameters < 0.6 * RESNEXT50_PARAMETERS


# Mistake 5: stride on the first 1x1.


def test_stride_on_first_conv_same_parameters_fewer_multiply_adds_other_function() -> None:
    right = randomised(blocks.build(STRIDED, "c")).eval()
    wrong = mistakes.WrongStrideOnFirstConvBlock(STRIDED).double().eval()
    wrong.load_state_dict(right.state_dict())  # the same tensors fit: same parameters
    x = random_input(STRIDED)
    size = (1, 256, 8, 8)
    wrong_adds = blocks.audit(wrong, size).multiply_adds
    right_adds = blocks.audit(right, size).multiply_adds
    conv1_adds = 256 * 256 * 8 * 8  # conv1 at full resolution: in · C·d · H · W
    assert right_adds - wrong_adds == conv1_adds * 3 // 4  # the strided 1x1 runs on 1/4 of the positions
    assert relative_error(wrong(x), right(x)) > DIFFERENT


# Mistake 6: a projection block plus N identity blocks.


def test_extra_block_per_stage() -> None:
    wrong = mistakes.wrong_extra_block_resnext()
    assert [len(stage) for stage in wrong.stages] == [4, 5, 7, 4]  # paper Table 1: 3, 4, 6, 3
    assert parameters(wrong) == 31_006_504  # +23.9% over ResNeXt-50's 25.0M


def test_wrong_resnext_rejects_unknown_mistake() -> None:
    with pytest.raises(ValueError, match=r"mistake must be one of .* got 13"):
        mistakes.wrong_resnext(13)
