"""1x1 convolutions written as products over the channels (issue 29): read as the convolutions they are.

The answers are in ``student_answers_einsum.py``. Every right one passes its exercise, has no problem
in ``blocks.audit`` and is transplanted exactly into every form; every wrong one fails with a hint
naming its mistake and the call its author wrote, never an operator PyTorch made of it.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

import pytest
import torch

import blocks
from blocks.dataflow.recognise import recognise
from blocks.util.numerics import randomise_batchnorm, relative_error

from tests.course import student_answers_einsum as einsum
from tests.course.test_hints import GRADE_FORM, assert_hint

pytestmark = pytest.mark.usefixtures("one_thread")  # see tests/conftest.py

# A block moved into another form adds the same products in another order: float64 rounding, ~1e-16
# measured; a weight read transposed or from the wrong channels is wrong by order 1.
TRANSPLANT_FP64_RTOL = 1e-10
SPECS = {  # id -> (in_channels, out_channels, cardinality, width, stride), as the exercises build them
    "identity": (32, 32, 4, 4, 1),
    "projection-stride-2": (24, 48, 3, 5, 2),
}
SIZE = 8  # the exercises' 8x8 images
# Operators PyTorch makes of an einsum, a matmul or a linear: a student who wrote none of them never reads them.
DECOMPOSED = ("unsqueeze", "bmm", "_unsafe_view", "addmm", " mm ", "clone")
EXERCISED = [name for name, (_, form) in einsum.RIGHT.items() if form in GRADE_FORM]


def _block(name: str, spec: str) -> tuple[torch.nn.Module, tuple[int, ...]]:
    """The answer ``name`` built for ``spec`` in float64, its BNs given random statistics, in eval mode."""
    args = SPECS[spec]
    torch.manual_seed(0)
    model = einsum.RIGHT[name][0](*args).double()
    return randomise_batchnorm(model, torch.Generator().manual_seed(1)).eval(), (2, args[0], SIZE, SIZE)


@pytest.mark.parametrize("name", EXERCISED)
def test_a_1x1_written_as_a_product_passes_its_exercise(name: str) -> None:
    answer, form = einsum.RIGHT[name]
    result = GRADE_FORM[form](answer)
    assert result.passed, str(result)


@pytest.mark.parametrize("spec", SPECS)
@pytest.mark.parametrize("name", einsum.RIGHT)
def test_a_1x1_written_as_a_product_is_audited_as_the_paper_s_block(name: str, spec: str) -> None:
    model, size = _block(name, spec)
    report = blocks.audit(model, size)
    assert report.problems == [], str(report)
    (block,) = report.blocks
    assert block.equivalent and block.layout == einsum.RIGHT[name][1], block
    assert block.parameters == sum(p.numel() for p in model.parameters()), block  # its products' weights too


@pytest.mark.parametrize("form", "abc")
@pytest.mark.parametrize("name", einsum.RIGHT)
def test_a_1x1_written_as_a_product_is_transplanted_exactly(name: str, form: str) -> None:
    model, size = _block(name, "projection-stride-2")
    moved = blocks.transplant(model, form, input_size=size).eval()
    assert blocks.form_of(moved) == form
    x = torch.randn(size, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    with torch.no_grad():
        assert relative_error(moved(x), model(x)) <= TRANSPLANT_FP64_RTOL


def _paths_last_weights(model: torch.nn.Module) -> torch.Tensor:
    """Form (a)'s last 1x1s, nn.Linear weights (out, d) each, side by side: form (c)'s (out, C·d, 1, 1)."""
    return torch.cat([layer.weight for layer in model.expand], dim=1)[:, :, None, None]


@pytest.mark.parametrize(
    ("name", "key", "weight"),
    [
        ("einsum-squeezed-conv-weights", "conv1.weight", lambda m: m.conv1),
        ("channels-last-matmul-in-out-weight", "conv3.weight", lambda m: m.weight_in_out.t()[:, :, None, None]),
        ("linear-layers-channels-last", "conv3.weight", _paths_last_weights),
    ],
    ids=["out-in-1-1", "in-out-transposed", "linear-out-in"],
)
def test_a_product_s_weight_becomes_the_convolution_s_out_in_1_1(
    name: str, key: str, weight: Callable[[torch.nn.Module], torch.Tensor]
) -> None:
    model, size = _block(name, "identity")
    (block,) = recognise(model, size).blocks
    assert block.canonical is not None
    assert torch.equal(block.canonical[key], weight(model).detach()), key


@pytest.mark.parametrize("name", einsum.WRONG)
def test_a_wrong_product_fails_with_a_hint_naming_it(name: str) -> None:
    answer, form, mistake, says = einsum.WRONG[name]
    result = GRADE_FORM[form](answer)
    assert_hint(result, mistake, *says)
    said = [word for word in DECOMPOSED for hint in result.hints if word in hint]
    assert not said, f"{said} in:\n{result}"


def test_a_refused_product_names_the_call_and_line_its_author_wrote() -> None:
    """The einsum over the width runs (16 channels at 16x16); the audit names it, on the line that calls it."""
    (problem,) = blocks.audit(einsum.SquareBlock(), einsum.SQUARE_SIZE).problems
    lines, first = inspect.getsourcelines(einsum.SquareBlock.forward)
    line = first + next(i for i, text in enumerate(lines) if '"ow,bchw->bcho"' in text)
    assert f"torch.einsum at student_answers_einsum.py:{line} sums over the width of its input" in problem.message
    assert not [word for word in DECOMPOSED if word in problem.message], problem.message
