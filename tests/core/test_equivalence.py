"""The proofs: a transplanted block is its source, in outputs, statistics and gradients, in every direction.

Every comparison is against something the transplant did not make (see
``tests/helpers/reference.py``): the untouched source block, made by its class's
constructor with every tensor drawn by the test; the paper's equation written
with ``torch.nn.functional`` over the source's own tensors, read from its
modules by hand; or, for ``build``, a block built in the other form from the
same seed. So a transplant that does the same wrong thing to every target form
fails here too. Sources have non-trivial BN statistics and affine parameters,
so a wrong layout, a wrong slice or a misplaced BN fails.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from blocks import BlockSpec, build, form_of, transplant
from blocks.core.forms import SummedPathsBlock
from blocks.measure.proof import compare_forms
from blocks.training.loop import small_resnext
from blocks.util.numerics import FP64_RTOL, GRAD_FP64_RTOL, TOLERANCES, randomise_batchnorm, relative_error

from tests.helpers.cases import DIRECTIONS, random_input
from tests.helpers.reference import (
    FROZEN_LAYERS,
    MODES,
    assert_agree,
    in_mode,
    independent_block,
    is_parameter,
    layer_of,
    paper_block,
    snapshot,
    tensors_by_path,
)

# Max relative error (max|x - y| / max|y|) accepted between a block and its reference: the forms add
# the same products in different orders, so they differ by rounding only (blocks.util.numerics says
# how much: TOLERANCES by dtype, GRAD_FP64_RTOL for gradients through train-mode BN's backward).
# A deliberate error must show up far above the tolerance, not near it.
DETECTABLE = 1e-4
SEED = 1234


def transplanted(
    spec: BlockSpec, direction: tuple[str, str], mode: str, dtype: torch.dtype = torch.float64
) -> tuple[torch.nn.Module, torch.nn.Module]:
    """An independent source block of the first form in ``mode``, and its transplant to the second."""
    source_form, target_form = direction
    source = in_mode(independent_block(spec, source_form).to(dtype), mode)
    target = transplant(source, target_form)
    assert form_of(target) == target_form and target.training is source.training
    return source, target


def paper(tensors: dict[str, torch.Tensor], spec: BlockSpec, x: torch.Tensor, mode: str) -> torch.Tensor:
    return paper_block(tensors, spec, x, training=mode != "eval", frozen=FROZEN_LAYERS[mode])


# float64 in every mode; float32, whose tolerance is looser, with running and with batch statistics
DTYPE_IDS = {torch.float64: "fp64", torch.float32: "fp32"}
PRECISIONS = [(torch.float64, mode) for mode in MODES] + [(torch.float32, mode) for mode in ("eval", "train")]


@pytest.mark.parametrize(("dtype", "mode"), PRECISIONS, ids=[f"{DTYPE_IDS[d]}-{m}" for d, m in PRECISIONS])
def test_transplant_computes_the_source_function(
    spec: BlockSpec, direction: tuple[str, str], dtype: torch.dtype, mode: str
) -> None:
    source, target = transplanted(spec, direction, mode, dtype)
    tensors = snapshot(source)
    x = random_input(spec, dtype)
    output = target(x)
    assert relative_error(output, source(x)) <= TOLERANCES[dtype]
    assert relative_error(output, paper(tensors, spec, x, mode)) <= TOLERANCES[dtype]


@pytest.mark.parametrize("mode", MODES)
def test_a_block_in_a_network_is_transplanted_too(direction: tuple[str, str], mode: str) -> None:
    spec = BlockSpec(12, 20, cardinality=3, width=5, stride=2)
    source_form, target_form = direction
    block = in_mode(independent_block(spec, source_form), mode)
    network = torch.nn.Sequential(block, torch.nn.Flatten())  # (B, out·H/s·W/s)
    tensors = snapshot(block)
    target = transplant(network, target_form)
    assert form_of(target) == target_form and form_of(network) == source_form
    x = random_input(spec)
    output = target(x)
    assert relative_error(output, network(x)) <= FP64_RTOL
    assert relative_error(output, paper(tensors, spec, x, mode).flatten(1)) <= FP64_RTOL


def test_transplant_moves_every_tensor_unchanged(spec: BlockSpec, direction: tuple[str, str]) -> None:
    source_form, target_form = direction
    source = independent_block(spec, source_form)
    before = snapshot(source)
    target = transplant(source, target_form)
    assert_agree(tensors_by_path(target), before, rtol=0)  # path i's tensors, bit for bit, wherever they live
    assert_agree(tensors_by_path(source), before, rtol=0)  # and the source is untouched


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("form", ["a", "b", "c"])
def test_every_form_is_the_paper_equation(spec: BlockSpec, form: str, mode: str) -> None:
    block = in_mode(independent_block(spec, form), mode)
    x = random_input(spec)
    assert relative_error(block(x), paper(snapshot(block), spec, x, mode)) <= FP64_RTOL


@pytest.mark.parametrize("mode", [mode for mode in MODES if mode != "eval"])
def test_running_statistics_follow_the_source(spec: BlockSpec, direction: tuple[str, str], mode: str) -> None:
    source, target = transplanted(spec, direction, mode)
    expected = snapshot(source)
    before = expected["bn3.running_mean"].clone()
    x = random_input(spec)
    target(x)
    source(x)
    paper(expected, spec, x, mode)  # updates the running statistics and counters in `expected`, as a BN does
    assert not torch.equal(expected["bn3.running_mean"], before)  # the forward did update them
    statistics = [name for name in expected if not is_parameter(name)]
    expected_statistics = {name: expected[name] for name in statistics}
    for block in (target, source):
        found = tensors_by_path(block)
        assert_agree({name: found[name] for name in statistics}, expected_statistics, FP64_RTOL)


def input_gradient(forward: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """Back-propagate a loss whose gradient is not the same everywhere; return the input's gradient."""
    x = x.clone().requires_grad_()
    out = forward(x)
    weights = torch.linspace(-1, 1, out.numel(), dtype=out.dtype).reshape(out.shape)
    (out * weights).sum().backward()
    return x.grad


@pytest.mark.parametrize("mode", MODES)
def test_gradients_follow_the_source(spec: BlockSpec, direction: tuple[str, str], mode: str) -> None:
    source, target = transplanted(spec, direction, mode)
    leaves = snapshot(source)
    for name, tensor in leaves.items():  # the reference's parameters, frozen ones without gradient
        tensor.requires_grad_(is_parameter(name) and layer_of(name) not in FROZEN_LAYERS[mode])
    x = random_input(spec)
    expected_input = input_gradient(lambda x: paper(leaves, spec, x, mode), x)
    expected = {name: tensor.grad for name, tensor in leaves.items() if is_parameter(name)}
    for block in (target, source):
        assert relative_error(input_gradient(block, x), expected_input) <= GRAD_FP64_RTOL
        assert_agree(tensors_by_path(block, grad=True), expected, GRAD_FP64_RTOL)


def test_build_under_one_seed_is_the_transplant(spec: BlockSpec, direction: tuple[str, str]) -> None:
    source_form, target_form = direction
    built = {}
    for form in direction:
        torch.manual_seed(SEED)
        built[form] = build(spec, form)
    source, target = built[source_form], built[target_form]
    # The same canonical draw, cut for each form: path i's tensors are equal bit for bit.
    assert_agree(tensors_by_path(target), snapshot(source), rtol=0)
    assert_agree(tensors_by_path(transplant(source, target_form)), snapshot(target), rtol=0)


def test_pytorch_default_init_would_give_different_functions() -> None:
    # Why build() draws once: each form's own default init depends on its own fans.
    spec = BlockSpec(64, 64, 8, 4)
    torch.manual_seed(0)
    a = SummedPathsBlock(spec)
    torch.manual_seed(0)
    c = build(spec, "c")
    x = random_input(spec, torch.float32)
    assert relative_error(a(x), c(x)) > DETECTABLE


def _swap_output_1x1s(tensors: dict[str, torch.Tensor]) -> None:
    first, second = tensors["path0.conv3.weight"], tensors["path1.conv3.weight"]
    saved = first.clone()
    first.copy_(second)
    second.copy_(saved)


TAMPERS: dict[str, Callable[[dict[str, torch.Tensor]], object]] = {
    # the example: a bug a transplant could make the same way in every form
    "3x3 output channel x1.5": lambda tensors: tensors["path0.conv2.weight"][0].mul_(1.5),
    "two paths' output 1x1 swapped": _swap_output_1x1s,
    "one path's BN mean": lambda tensors: tensors["path1.bn1.running_mean"][0].add_(0.5),
}


@pytest.mark.parametrize("form", ["a", "b", "c"])
@pytest.mark.parametrize("tamper", TAMPERS.values(), ids=TAMPERS.keys())
def test_the_proof_can_fail(form: str, tamper: Callable[[dict[str, torch.Tensor]], object]) -> None:
    # A proof that cannot fail is worthless: a small change to any target form is caught.
    spec = BlockSpec(32, 32, 4, 4)
    source, target = transplanted(spec, ("c", form), "eval")
    with torch.no_grad():
        tamper(tensors_by_path(target))  # views: this writes into the target's own tensors
    x = random_input(spec)
    assert relative_error(target(x), source(x)) > DETECTABLE
    assert relative_error(target(x), paper(snapshot(source), spec, x, "eval")) > DETECTABLE


@settings(max_examples=25, deadline=None)
@given(
    in_channels=st.integers(1, 24),
    out_channels=st.integers(1, 24),
    cardinality=st.integers(1, 8),
    width=st.integers(1, 6),
    stride=st.sampled_from([1, 2]),
    direction=st.sampled_from(DIRECTIONS),
    mode=st.sampled_from(MODES),
)
def test_random_specs_follow_the_source_in_float64(
    in_channels: int, out_channels: int, cardinality: int, width: int, stride: int, direction: tuple, mode: str
) -> None:
    spec = BlockSpec(in_channels, out_channels, cardinality, width, stride)
    source, target = transplanted(spec, direction, mode)
    tensors = snapshot(source)
    x = random_input(spec)
    expected = source(x)
    # A tiny block can map every value below zero, and its ReLU output is all zeros:
    # nothing to compare there, so hypothesis is asked for another example.
    assume(bool(expected.any()))
    assert relative_error(target(x), expected) <= FP64_RTOL
    assert relative_error(target(x), paper(tensors, spec, x, mode)) <= FP64_RTOL


def test_cli_summary_agrees_within_tolerance() -> None:
    rows = compare_forms(BlockSpec(64, 128, 8, 4, stride=2))
    assert len(rows) == 12 and all(row.ok for row in rows)
    assert max(row.max_rel for row in rows) > 0  # the forms really ran different code


@pytest.mark.parametrize(("source_form", "target_form"), DIRECTIONS, ids=[f"{s}->{t}" for s, t in DIRECTIONS])
def test_a_whole_network_transplant_computes_its_untouched_source(source_form: str, target_form: str) -> None:
    # A network, not a block: a stem, a head and stages, whose layers outside the blocks the transplant walks too.
    torch.manual_seed(0)
    source = randomise_batchnorm(small_resnext(source_form), torch.Generator().manual_seed(1)).double()
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    target = transplant(source, target_form)
    for mode in ("eval", "train"):
        source.train(mode == "train")
        target.train(mode == "train")
        with torch.no_grad():
            assert relative_error(target(x), source(x)) <= FP64_RTOL, mode
