"""The compiler pass (blocks/compiler): each rule is exact, and form (a) compiles to form (c)'s three convolutions.

Every rewritten graph is compared with the model it was traced from, run eagerly: the
output, the gradient of every parameter and of the input, and in train mode the BatchNorms'
running statistics. The rewritten graphs run eagerly too (a backend that only rewrites),
so that these tests take seconds; TorchInductor compiles only a few tiny blocks at the end.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import Tensor, fx, nn

import blocks
from blocks import BlockSpec, build
from blocks.compiler import BACKEND, LOWERINGS, MergeReport, blocks_backend, lowering_of, merge_convolutions
from blocks.measure.compiled import compiled_calls
from blocks.models.functional import FunctionalSummedPaths
from blocks.util.numerics import FP32_RTOL, FP64_RTOL, GRAD_FP64_RTOL, randomise_batchnorm, relative_error

from tests.course.exercise_answers import FunctionalFormA
from tests.dataflow.foreign.correct import CORRECT, SMALL

# The target for float32 gradients through the compiled block: a forward and a backward pass
# of rounding, over convolutions of different shapes (one grouped one against C thin ones).
GRAD_FP32_RTOL = 1e-4
# Hypothesis: each example traces a new model with Dynamo (a fraction of a second); a few dozen per rule.
PROPERTY_SETTINGS = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])

pytestmark = pytest.mark.usefixtures("one_thread")  # see conftest.py


@pytest.fixture(autouse=True)
def fresh_dynamo() -> Any:
    """Every test traces its models anew: no cached graph of another test's model, no recompile limit reached."""
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


def rewritten(model: Callable[..., Any], reports: list[MergeReport]) -> Callable[..., Any]:
    """``model`` compiled by Dynamo with a backend that only rewrites: the rewritten graph runs eagerly."""

    def backend(gm: fx.GraphModule, example_inputs: list[Tensor]) -> Callable[..., Any]:
        reports.append(merge_convolutions(gm, example_inputs))
        return gm.forward

    return torch.compile(model, backend=backend)


def assert_same_function(
    model: nn.Module, *inputs: Tensor, rtol: float = FP64_RTOL, grad_rtol: float = GRAD_FP64_RTOL, backward: bool = True
) -> MergeReport:
    """The rewritten graph of ``model`` computes what ``model`` does: output, gradients, BN running statistics.

    Returns:
        The report of the (one) graph that Dynamo traced.
    """
    reference, subject = model, copy.deepcopy(model)
    inputs_ref = [x.clone().requires_grad_(x.is_floating_point()) for x in inputs]
    inputs_sub = [x.clone().requires_grad_(x.is_floating_point()) for x in inputs]
    reports: list[MergeReport] = []
    out_ref = reference(*inputs_ref)
    out_sub = rewritten(subject, reports)(*inputs_sub)
    assert len(reports) == 1, f"Dynamo traced {len(reports)} graphs, not one"
    outs_ref = out_ref if isinstance(out_ref, tuple) else (out_ref,)
    outs_sub = out_sub if isinstance(out_sub, tuple) else (out_sub,)
    generator = torch.Generator().manual_seed(3)
    loss_ref = loss_sub = 0.0
    for a, b in zip(outs_ref, outs_sub):
        assert relative_error(b, a) <= rtol
        weight = torch.randn(a.shape, generator=generator, dtype=a.dtype)  # a loss that weighs every output
        loss_ref, loss_sub = loss_ref + (a * weight).sum(), loss_sub + (b * weight).sum()
    if not backward:
        return reports[0]
    loss_ref.backward()  # type: ignore[union-attr]
    loss_sub.backward()  # type: ignore[union-attr]
    for (name, p_ref), p_sub in zip(reference.named_parameters(), subject.parameters()):
        if p_ref.grad is not None and p_ref.grad.abs().max() > 0:
            assert p_sub.grad is not None, f"no gradient reached {name}"
            assert relative_error(p_sub.grad, p_ref.grad) <= grad_rtol, name
    for x_ref, x_sub in zip(inputs_ref, inputs_sub):
        if x_ref.grad is not None:
            assert relative_error(x_sub.grad, x_ref.grad) <= grad_rtol
    for (name, b_ref), b_sub in zip(reference.named_buffers(), subject.buffers()):
        if b_ref.is_floating_point() and b_ref.abs().max() > 0:
            assert relative_error(b_sub, b_ref) <= rtol, name
        else:
            assert torch.equal(b_sub, b_ref), name  # num_batches_tracked, or statistics still at zero
    return reports[0]


# ---------------------------------------------------------------------------------------------------- random graphs

BETWEEN = ("nothing", "relu", "bn+relu")  # what lies between the convolutions a rule merges


class Between(nn.Module):
    """One path's BN and ReLU (or ReLU alone, or nothing) on ``channels`` channels."""

    def __init__(self, kind: str, channels: int) -> None:
        super().__init__()
        self.kind = kind
        self.bn = nn.BatchNorm2d(channels) if kind == "bn+relu" else None

    def forward(self, x: Tensor) -> Tensor:
        if self.bn is not None:
            x = self.bn(x)
        return x if self.kind == "nothing" else F.relu(x)


def conv_weights(count: int, out: int, inp: int, kernel: int) -> nn.ParameterList:
    return nn.ParameterList(
        nn.Parameter(torch.randn(out, inp, kernel, kernel) / (inp * kernel) ** 0.5) for _ in range(count)
    )


class SharedInput(nn.Module):
    """Rule 1's graph: C convolutions of one tensor, then each path's BN/ReLU; the C outputs returned."""

    def __init__(self, channels: int, outs: list[int], kernel: int, stride: int, padding: int, between: str) -> None:
        super().__init__()
        self.stride, self.padding = stride, padding
        self.weights = nn.ParameterList(conv_weights(1, out, channels, kernel)[0] for out in outs)
        self.after = nn.ModuleList(Between(between, out) for out in outs)

    def forward(self, x: Tensor) -> tuple[Tensor, ...]:
        return tuple(
            after(F.conv2d(x, w, stride=self.stride, padding=self.padding))
            for w, after in zip(self.weights, self.after)
        )


class Grouped(nn.Module):
    """Rule 2's graph: BN/ReLU per slice, C convolutions of C side-by-side slices; the C outputs returned."""

    def __init__(
        self, cardinality: int, width: int, out: int, kernel: int, stride: int, padding: int, between: str
    ) -> None:
        super().__init__()
        self.width, self.stride, self.padding = width, stride, padding
        self.before = nn.ModuleList(Between(between, width) for _ in range(cardinality))
        self.weights = conv_weights(cardinality, out, width, kernel)

    def forward(self, x: Tensor) -> tuple[Tensor, ...]:
        d = self.width
        return tuple(
            F.conv2d(before(x[:, i * d : (i + 1) * d]), w, stride=self.stride, padding=self.padding)
            for i, (before, w) in enumerate(zip(self.before, self.weights))
        )


class Summed(nn.Module):
    """Rule 3's graph: BN/ReLU per slice, and the sum of C convolutions of the C slices."""

    def __init__(
        self, cardinality: int, width: int, out: int, kernel: int, stride: int, padding: int, between: str
    ) -> None:
        super().__init__()
        self.width, self.stride, self.padding = width, stride, padding
        self.before = nn.ModuleList(Between(between, width) for _ in range(cardinality))
        self.weights = conv_weights(cardinality, out, width, kernel)

    def forward(self, x: Tensor) -> Tensor:
        d = self.width
        total = F.conv2d(self.before[0](x[:, :d]), self.weights[0], stride=self.stride, padding=self.padding)
        for i in range(1, len(self.weights)):
            total = total + F.conv2d(
                self.before[i](x[:, i * d : (i + 1) * d]), self.weights[i], stride=self.stride, padding=self.padding
            )
        return total


def prepared(model: nn.Module, train: bool, seed: int) -> nn.Module:
    """``model`` in float64, BNs with random statistics, in train or eval mode."""
    return randomise_batchnorm(model.double(), torch.Generator().manual_seed(seed)).train(train)


def image(channels: int, size: int, seed: int = 0) -> Tensor:
    return torch.randn(2, channels, size, size, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))


graph_settings = st.fixed_dictionaries(
    {
        "cardinality": st.integers(2, 4),
        "width": st.integers(1, 4),
        "out": st.integers(1, 5),
        "kernel": st.sampled_from([1, 3]),
        "stride": st.sampled_from([1, 2]),
        "padding": st.sampled_from([0, 1]),
        "between": st.sampled_from(BETWEEN),
        "train": st.booleans(),
        "seed": st.integers(0, 2**16),
    }
)


@PROPERTY_SETTINGS
@given(graph_settings)
def test_rule_1_convolutions_of_one_tensor_are_one_convolution(drawn: dict) -> None:
    torch._dynamo.reset()
    torch.manual_seed(drawn["seed"])
    outs = [drawn["out"] + i % 2 for i in range(drawn["cardinality"])]  # output channels may differ
    model = SharedInput(drawn["width"], outs, drawn["kernel"], drawn["stride"], drawn["padding"], drawn["between"])
    report = assert_same_function(prepared(model, drawn["train"], drawn["seed"]), image(drawn["width"], 6))
    assert (report.convolutions_before, report.convolutions_after) == (drawn["cardinality"], 1)
    assert report.merged["shared input"] == drawn["cardinality"] - 1


@PROPERTY_SETTINGS
@given(graph_settings)
def test_rule_2_convolutions_of_side_by_side_slices_are_one_grouped_convolution(drawn: dict) -> None:
    torch._dynamo.reset()
    torch.manual_seed(drawn["seed"])
    c, d = drawn["cardinality"], drawn["width"]
    model = Grouped(c, d, drawn["out"], drawn["kernel"], drawn["stride"], drawn["padding"], drawn["between"])
    report = assert_same_function(prepared(model, drawn["train"], drawn["seed"]), image(c * d, 6))
    assert (report.convolutions_before, report.convolutions_after) == (c, 1)
    assert report.merged["grouped"] == c - 1


@PROPERTY_SETTINGS
@given(graph_settings)
def test_rule_3_a_sum_of_convolutions_is_one_convolution_of_the_concatenation(drawn: dict) -> None:
    torch._dynamo.reset()
    torch.manual_seed(drawn["seed"])
    c, d = drawn["cardinality"], drawn["width"]
    model = Summed(c, d, drawn["out"], drawn["kernel"], drawn["stride"], drawn["padding"], drawn["between"])
    report = assert_same_function(prepared(model, drawn["train"], drawn["seed"]), image(c * d, 6))
    assert (report.convolutions_before, report.convolutions_after) == (c, 1)
    assert report.merged["summed"] == c - 1


class SummedSeparate(nn.Module):
    """Rule 3 over C separate tensors (not slices of one): the sum becomes one convolution of their torch.cat."""

    def __init__(self, widths: list[int], out: int) -> None:
        super().__init__()
        self.weights = nn.ParameterList(conv_weights(1, out, d, 3)[0] for d in widths)

    def forward(self, *xs: Tensor) -> Tensor:
        return sum(F.conv2d(x, w, padding=1) for x, w in zip(xs, self.weights))  # type: ignore[return-value]


def test_rule_3_concatenates_separate_tensors() -> None:
    torch.manual_seed(0)
    model = prepared(SummedSeparate([2, 3, 1], out=4), train=False, seed=0)
    report = assert_same_function(model, image(2, 5, 1), image(3, 5, 2), image(1, 5, 3))
    assert report.convolutions_after == 1 and report.merged["summed concatenated"] == 2


# ------------------------------------------------------------------------------- what must not be merged, or not so


class SharedRunningStats(nn.Module):
    """Two slices through ONE BatchNorm in train mode: it updates its statistics twice in a row."""

    def __init__(self) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(2)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        return self.bn(x[:, :2]), self.bn(x[:, 2:4])


class SliceReadElsewhere(nn.Module):
    """ReLU in place on two slices, and the whole tensor read as well: the in-place writes must land as before."""

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        y = (x * 2).detach()  # (autograd refuses a ReLU in place on a slice of a tensor that another ReLU saved)
        a = F.relu(y[:, :2], inplace=True)
        b = F.relu(y[:, 2:4], inplace=True)
        return a + b + x[:, :2], y.sum(dim=1)


class CatOfSlicesWrittenAfter(nn.Module):
    """torch.cat of side-by-side slices, then written in place, while the sliced tensor is read after."""

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        y = x * 2
        z = torch.cat([y[:, :2], y[:, 2:4]], dim=1)
        z += 1
        return z, y


class WrittenBetween(nn.Module):
    """Two convolutions of side-by-side slices, the second slice written in place between them: no grouped one."""

    def __init__(self) -> None:
        super().__init__()
        self.weights = conv_weights(2, 3, 2, 3)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        y = x * 2
        first = F.conv2d(y[:, :2], self.weights[0], padding=1)
        second_input = y[:, 2:4]
        second_input.mul_(3)
        return first, F.conv2d(second_input, self.weights[1], padding=1)


def test_a_slice_written_between_two_convolutions_is_not_merged() -> None:
    with torch.no_grad():  # (autograd refuses a write into a tensor whose slice a convolution saved)
        report = assert_same_function(prepared(WrittenBetween(), False, seed=1), image(4, 3), backward=False)
    assert report.convolutions_after == 2


@pytest.mark.parametrize(
    "model, train",
    [(SharedRunningStats(), True), (SliceReadElsewhere(), False), (CatOfSlicesWrittenAfter(), False)],
    ids=["shared-bn-in-train-mode", "in-place-relu-on-slices-read-elsewhere", "cat-of-slices-written-after"],
)
def test_merges_that_would_change_what_the_graph_computes_are_not_made(model: nn.Module, train: bool) -> None:
    assert_same_function(prepared(model, train, seed=1), image(4, 3))


def test_different_settings_are_not_merged() -> None:
    class Mixed(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.weights = conv_weights(3, 2, 4, 3)

        def forward(self, x: Tensor) -> tuple[Tensor, ...]:  # three paddings: no two convolutions alike
            return tuple(F.conv2d(x, w, padding=p) for p, w in enumerate(self.weights))

    report = assert_same_function(prepared(Mixed(), False, 0), image(4, 5))
    assert report.convolutions_after == 3


# ---------------------------------------------------------------------------- the package's forms, foreign models

FORM_SPECS = [
    BlockSpec(16, 16, cardinality=4, width=2),  # identity shortcut
    BlockSpec(12, 20, cardinality=3, width=5, stride=2),  # projection, stride 2
    BlockSpec(8, 8, cardinality=1, width=6),  # one path: nothing to merge
]


def spec_id(spec: BlockSpec) -> str:
    return f"{spec.in_channels}-{spec.out_channels}_{spec.cardinality}x{spec.width}d_s{spec.stride}"


@pytest.mark.parametrize("train", [False, True], ids=["eval", "train"])
@pytest.mark.parametrize("form", ["a", "b", "c"])
@pytest.mark.parametrize("spec", FORM_SPECS, ids=spec_id)
def test_every_form_becomes_form_c(spec: BlockSpec, form: str, train: bool) -> None:
    torch.manual_seed(0)
    block = prepared(build(spec, form), train, seed=2)
    report = assert_same_function(block, image(spec.in_channels, 6))
    assert report.convolutions_after == 3 + spec.has_projection  # form (c): conv1, the grouped conv2, conv3


def test_form_a_at_32x4d_makes_3_convolutions() -> None:
    """The paper's block: 96 convolutions in form (a) (3 per path, 32 paths), form (c)'s 3 after the pass."""
    spec = BlockSpec(256, 256, cardinality=32, width=4)
    torch.manual_seed(0)
    report = assert_same_function(prepared(build(spec, "a"), False, seed=3), image(256, 4))
    assert (report.convolutions_before, report.convolutions_after) == (96, 3)


@pytest.mark.slow
@pytest.mark.parametrize("train", [False, True], ids=["eval", "train"])
@pytest.mark.parametrize("form", ["a", "b"])
def test_a_whole_network_makes_at_most_form_c_convolutions(form: str, train: bool) -> None:
    """ResNeXt-29 (C = 4, d = 2): every block merged, the blocks' in-place ReLUs and residual adds between them."""
    torch.manual_seed(0)
    net = prepared(blocks.resnext29(cardinality=4, base_width=2, form=form), train, seed=6)
    form_c = blocks.transplant(net, "c")
    report = assert_same_function(net, torch.randn(2, 3, 16, 16, dtype=torch.float64))
    assert report.convolutions_after <= sum(isinstance(m, nn.Conv2d) for m in form_c.modules())


@pytest.mark.parametrize("train", [False, True], ids=["eval", "train"])
@pytest.mark.parametrize("spec", FORM_SPECS[:2], ids=spec_id)
def test_functional_form_a_over_parameter_lists(spec: BlockSpec, train: bool) -> None:
    """F.conv2d and F.batch_norm over ParameterLists and loose buffers: no module of torch's at all."""
    torch.manual_seed(0)
    model = FunctionalFormA(spec.in_channels, spec.out_channels, spec.cardinality, spec.width, spec.stride)
    with torch.no_grad():  # random BN statistics and affine parameters (its own BNs are no nn.BatchNorm2d)
        for name, tensor in [*model.named_parameters(), *model.named_buffers()]:
            if name.endswith(("_gamma", "_var")):
                tensor.copy_(torch.rand_like(tensor) + 0.5)
            elif name.endswith(("_beta", "_mean")):
                tensor.copy_(0.2 * torch.randn_like(tensor))
    report = assert_same_function(model.double().train(train), image(spec.in_channels, 6))
    assert report.convolutions_after == 3 + spec.has_projection


@pytest.mark.parametrize("train", [False, True], ids=["eval", "train"])
@pytest.mark.parametrize("spec", FORM_SPECS[:2], ids=spec_id)
def test_the_benchmarks_functional_form_a_is_form_a(spec: BlockSpec, train: bool) -> None:
    """blocks.models.functional (timed as 'a functional compiled+pass'): form (a)'s function, 3 convolutions after."""
    torch.manual_seed(0)
    block = prepared(build(spec, "a"), train, seed=5)
    functional = FunctionalSummedPaths(block).train(train)  # type: ignore[arg-type]
    x = image(spec.in_channels, 6)
    assert relative_error(functional(x), block(x)) <= FP64_RTOL
    report = assert_same_function(functional, x)
    assert report.convolutions_after == 3 + spec.has_projection


SMALL_FOREIGN = [name for name, (_, size) in CORRECT.items() if size == SMALL]


@pytest.mark.parametrize("name", SMALL_FOREIGN)
def test_foreign_models_compute_the_same_with_at_most_form_c_convolutions(name: str) -> None:
    """Authors' own ResNeXts (sum(), stack().sum(0), chunk, narrow, a hand-grouped conv, Keras-like, ...)."""
    factory, size = CORRECT[name]
    model = factory().double().eval()
    x = torch.randn(size, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    reports: list[MergeReport] = []
    with torch.no_grad():
        expected = model(x)
        got = rewritten(model, reports)(x)
    assert relative_error(got, expected) <= FP64_RTOL
    before, after = sum(r.convolutions_before for r in reports), sum(r.convolutions_after for r in reports)
    if "form-a" in name or "form-b" in name:  # C convolutions where form (c) has one
        assert after < before
    else:  # rule 1 may still merge a block's first 1x1 with its projection (both 1x1s of x, stride 1)
        assert after <= before


# ------------------------------------------------------------------------------ the backend: compiled by TorchInductor


def test_the_backend_is_registered_by_its_name() -> None:
    from torch._dynamo.backends.registry import lookup_backend

    blocks.compiler.register_backend()
    assert lookup_backend(BACKEND) is blocks_backend


def test_compile_refuses_another_backend() -> None:
    with pytest.raises(ValueError, match="backend='inductor'"):
        blocks.compile(nn.Identity(), backend="inductor")


@pytest.mark.slow
def test_compiled_form_a_makes_form_c_calls() -> None:
    """TorchInductor's generated code for form (a) with the pass: 3 convolution calls, as form (c) makes.

    Without the pass it makes 3 per path (tests/bench/test_bench.py).
    """
    block = build(BlockSpec(16, 16, cardinality=4, width=2), "a").eval()
    calls = compiled_calls(block, torch.randn(1, 16, 4, 4), backend=blocks_backend)
    assert calls.convolutions == 3
    # the merged parameters, one call each: 3 convolution weights, and 4 BN vectors after each of 2 convolutions
    assert calls.library["blocks.concatenate_inputs"] == 3 + 2 * 4


def test_the_concatenation_operator_has_the_gradient_of_torch_cat() -> None:
    from blocks.compiler._concat import concatenate_inputs

    generator = torch.Generator().manual_seed(0)
    tensors = [torch.randn(2, n, 3, dtype=torch.float64, generator=generator, requires_grad=True) for n in (1, 3, 2)]
    assert torch.equal(concatenate_inputs(tensors, 1), torch.cat(tensors, 1))
    assert torch.autograd.gradcheck(lambda *ts: concatenate_inputs(list(ts), 1), tensors)
    torch.library.opcheck(concatenate_inputs, (tensors, 1))  # its fake (shape) function and autograd registration


@pytest.mark.parametrize("lowering", ["inductor", "auto"])
@pytest.mark.parametrize("form", ["a", "b"])
def test_compiled_with_the_pass_trains_like_the_eager_block(form: str, lowering: str) -> None:
    """float32, train mode, TorchInductor's code (and "auto": on a CPU the rewritten graph run eagerly).

    Outputs, gradients and running statistics as the eager block's.
    """
    spec = BlockSpec(8, 8, cardinality=2, width=2)
    torch.manual_seed(0)
    eager = randomise_batchnorm(build(spec, form), torch.Generator().manual_seed(4)).train()
    compiled_block = copy.deepcopy(eager)
    fast = blocks.compile(compiled_block, lowering=lowering)
    x = torch.randn(2, 8, 4, 4, generator=torch.Generator().manual_seed(5))
    out_eager, out_fast = eager(x), fast(x)
    assert relative_error(out_fast, out_eager) <= FP32_RTOL
    out_eager.square().sum().backward()
    out_fast.square().sum().backward()
    for (name, p_eager), p_fast in zip(eager.named_parameters(), compiled_block.parameters()):
        assert relative_error(p_fast.grad, p_eager.grad) <= GRAD_FP32_RTOL, name
    for (name, b_eager), b_fast in zip(eager.named_buffers(), compiled_block.buffers()):
        assert relative_error(b_fast.float(), b_eager.float()) <= FP32_RTOL, name
    compiled = blocks.compiler.backend.graphs[-1]
    assert compiled.report.convolutions_after == 3  # the graph that ran
    assert compiled.lowering == ("eager" if lowering == "auto" else lowering)  # a CPU trains: eagerly


def test_auto_lowering_is_eager_only_where_a_cpu_differentiates() -> None:
    weight, data = torch.zeros(2, requires_grad=True), torch.zeros(2)
    assert lowering_of([data, weight]) == "eager"
    assert lowering_of([data]) == "inductor"  # nothing requires grad: no backward
    with torch.no_grad():
        assert lowering_of([data, weight]) == "inductor"
    assert lowering_of([torch.zeros(2, device="meta", requires_grad=True)]) == "inductor"  # not a CPU
    assert all(lowering_of([data, weight], chosen) == chosen for chosen in LOWERINGS if chosen != "auto")


@pytest.mark.parametrize(
    "call",
    [lambda: blocks.compile(nn.Identity(), lowering="cpu"), lambda: lowering_of([], "cpu")],
    ids=["compile", "lowering_of"],
)
def test_an_unknown_lowering_is_refused_by_name(call: Callable[[], object]) -> None:
    with pytest.raises(ValueError, match="lowering='cpu'"):
        call()
