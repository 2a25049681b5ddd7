"""The forms train in lock-step: a transplant takes the steps its source takes, in float64, and ends where it ends."""

from __future__ import annotations

import copy
import functools
import itertools
from dataclasses import dataclass

import pytest
import torch

from blocks import (
    BlockSpec,
    ResNeXt,
    ResNeXtBlock,
    SGDRecipe,
    build,
    data_loaders,
    form_of,
    small_resnext,
    train_in_lockstep,
    transplant,
)
from blocks.training.loop import sgd_step
from blocks.util.numerics import TRAINING_LOSS_FP64_RTOL, TRAINING_WEIGHT_FP64_RTOL, relative_error

from tests.helpers.cases import DIRECTIONS, direction_id
from tests.helpers.reference import assert_agree, in_mode, tensors_by_path

# The bounds (TRAINING_LOSS_FP64_RTOL, TRAINING_WEIGHT_FP64_RTOL) are the for 20 float64 steps: every
# operation is the same sum in another order, so each step adds ~1e-16 of rounding; measured: ~1e-13 after 20.

# ---------------------------------------------------------------- lock-step equivalence
# The source trains itself: it is the reference, and the transplant made nothing of it.
# Its transplant to another form must take the same steps, and end with the same tensors.


def resnet_1x16d(form: str) -> ResNeXt:
    """small_resnext with one path per block (C = 1, a ResNet): the path is the whole block."""
    return ResNeXt((1, 1, 1), cardinality=1, base_width=16, form=form, num_classes=10, stem="cifar", base_channels=64)


def one_block(form: str) -> ResNeXtBlock:
    """A single block, trained with a cross-entropy per output pixel (its 32 channels as logits)."""
    return build(BlockSpec(16, 32, cardinality=4, width=4, stride=2), form)


MODELS = {"resnext-4x4d": small_resnext, "resnet-1x16d": resnet_1x16d, "block": one_block}
# Every model in train mode, and small_resnext also with the BNs after the 3x3s frozen (eval mode,
# no gradients) as when fine-tuning: the transplant must keep them frozen, or the target takes other steps.
LOCKSTEP_CASES = [
    ("resnext-4x4d", "train"),
    ("resnext-4x4d", "train-frozen-bn2"),
    ("resnet-1x16d", "train"),
    ("block", "train"),
]


@functools.cache
def six_digit_batches() -> tuple[tuple[torch.Tensor, torch.Tensor], ...]:
    torch.manual_seed(0)
    return tuple((images, labels) for images, labels in itertools.islice(data_loaders("digits", batch_size=16)[0], 6))


@functools.cache
def six_pixel_batches() -> tuple[tuple[torch.Tensor, torch.Tensor], ...]:
    """For :func:`one_block`: random (16, 16, 8, 8) inputs, a class out of 32 for each of the 4x4 output pixels."""
    generator = torch.Generator().manual_seed(0)
    return tuple(
        (torch.randn(16, 16, 8, 8, generator=generator), torch.randint(0, 32, (16, 4, 4), generator=generator))
        for _ in range(6)
    )


@pytest.fixture
def digit_batches() -> tuple[tuple[torch.Tensor, torch.Tensor], ...]:
    return six_digit_batches()


def train_steps(net: torch.nn.Module, batches: tuple) -> list[float]:
    """One SGD step per batch (the default recipe) on ``net`` itself; the loss of every step."""
    optimiser = SGDRecipe().optimiser(net)
    return [sgd_step(net, optimiser, images, labels)[1] for images, labels in batches]


def blocks_of(net: torch.nn.Module) -> list[ResNeXtBlock]:
    return [net] if isinstance(net, ResNeXtBlock) else [block for stage in net.stages for block in stage]


@dataclass(frozen=True)
class Run:
    """A source and its transplant, each trained on the same batches."""

    source: torch.nn.Module
    target: torch.nn.Module
    batches: tuple
    source_losses: list[float]
    target_losses: list[float]


@functools.cache  # each run once, however pytest orders the tests that read it (they do not change it)
def lockstep_run(model: str, mode: str, source_form: str, target_form: str) -> Run:
    batches = six_pixel_batches() if model == "block" else six_digit_batches()
    torch.manual_seed(0)
    source = in_mode(MODELS[model](source_form).double(), mode)
    target = transplant(source, target_form)
    assert form_of(target) == target_form
    return Run(source, target, batches, train_steps(source, batches), train_steps(target, batches))


@pytest.fixture(
    params=[(case, direction) for case in LOCKSTEP_CASES for direction in DIRECTIONS],
    ids=lambda param: f"{'-'.join(param[0])}-{direction_id(param[1])}",
)
def lockstep(request: pytest.FixtureRequest) -> Run:
    (model, mode), (source_form, target_form) = request.param
    return lockstep_run(model, mode, source_form, target_form)


@pytest.mark.mutation  # a proof of the transplant: make mutants runs it
def test_float64_losses_agree_at_every_step(lockstep: Run) -> None:
    errors = [abs(mine - ref) / ref for mine, ref in zip(lockstep.target_losses, lockstep.source_losses)]
    assert len(errors) == 6
    assert max(errors) <= TRAINING_LOSS_FP64_RTOL, errors
    assert lockstep.source_losses[-1] < lockstep.source_losses[0]  # it is learning


@pytest.mark.mutation  # a proof of the transplant: make mutants runs it
def test_float64_final_tensors_agree(lockstep: Run) -> None:
    # Every block's tensors by path (parameters, BN statistics and counters), read from each form by hand,
    # and every tensor outside the blocks (stem, classifier) by name.
    for target_block, source_block in zip(blocks_of(lockstep.target), blocks_of(lockstep.source), strict=True):
        assert_agree(tensors_by_path(target_block), tensors_by_path(source_block), TRAINING_WEIGHT_FP64_RTOL)
    source_state, target_state = lockstep.source.state_dict(), lockstep.target.state_dict()
    outside = (
        {}
        if isinstance(lockstep.source, ResNeXtBlock)
        else {key: tensor for key, tensor in source_state.items() if not key.startswith("layer")}
    )
    assert_agree({key: target_state[key] for key in outside}, outside, TRAINING_WEIGHT_FP64_RTOL)


@pytest.mark.mutation  # a proof of the transplant: make mutants runs it
def test_trained_networks_agree_in_eval_mode(lockstep: Run) -> None:
    # Validation: every BN now normalises with the running statistics that training left.
    images = lockstep.batches[0][0].double()
    source, target = (copy.deepcopy(net).eval() for net in (lockstep.source, lockstep.target))  # the fixture's stay
    with torch.no_grad():
        assert relative_error(target(images), source(images)) <= TRAINING_WEIGHT_FP64_RTOL


@pytest.mark.mutation  # a proof of the transplant: make mutants runs it
def test_train_in_lockstep_reports_the_untouched_network(digit_batches: tuple) -> None:
    torch.manual_seed(0)
    net = small_resnext().double()
    result = train_in_lockstep(net, digit_batches)
    own_losses = train_steps(net, digit_batches)  # the network itself, trained after the lock-step run
    assert result.losses["c"] == own_losses  # its own form: a copy, bit for bit the same steps
    for form in "ab":
        assert max(result.loss_errors(form)) <= TRAINING_LOSS_FP64_RTOL
        assert result.weight_errors[form] <= TRAINING_WEIGHT_FP64_RTOL


def test_float32_rounding_exceeds_the_float64_bound(digit_batches: tuple) -> None:
    # The bounds above are not vacuous: float32 rounding alone already breaks them. All six steps: on
    # some CPUs the first four losses of (a) and (c) round to the same float32 (their weights differ already).
    torch.manual_seed(0)
    result = train_in_lockstep(small_resnext(), digit_batches, forms=("a",))
    assert set(result.losses) == {"a", "c"}
    assert max(result.loss_errors("a")) > TRAINING_LOSS_FP64_RTOL
    assert result.weight_errors["a"] > TRAINING_WEIGHT_FP64_RTOL


def test_lockstep_leaves_the_network_unchanged(digit_batches: tuple) -> None:
    torch.manual_seed(0)
    net = small_resnext("b").double()
    before = {key: value.clone() for key, value in net.state_dict().items()}
    train_in_lockstep(net, digit_batches[:1], forms=("b",))
    assert all(torch.equal(before[key], value) for key, value in net.state_dict().items())
