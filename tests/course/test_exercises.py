"""The exercises' checks: every solution passes, every stub is "not attempted yet", every mistake gets its hint.

The answers under check come from three places: the solutions in notebooks/exercises/solutions/
(each must pass), the stubs in the exercise notebooks themselves (each cell of the notebook is run
as a student runs it, so the check must say "not attempted yet"), and tests/course/exercise_answers.py:
right answers in other styles (all pass) and wrong ones written as a student would (each gets a
hint naming its catalogue mistake and a number measured in it). No hint may hold the solutions' code.
"""

from __future__ import annotations

import importlib.util
import json
import re
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest
import torch

import blocks
from blocks import exercises
from blocks.exercises import mystery, slicing

from tests.course import exercise_answers as answers
from tests.helpers import REPOSITORY

pytestmark = pytest.mark.usefixtures("one_thread")  # see tests/conftest.py

ROOT = REPOSITORY
EXERCISES = ROOT / "notebooks" / "exercises"
NOTEBOOKS = sorted(EXERCISES.glob("e*.ipynb"))
MEASURED_NUMBER = re.compile(r"\d,\d{3}|\d\.\d|\d{2,}|\d+-\d+|\d+ of the \d+")  # 2,720; 2.8e-01; 128; 3-5; 4 of the 16


def _solution(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, EXERCISES / "solutions" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SOLUTIONS: dict[int, Callable[[], tuple[object, ...]]] = {
    1: lambda: (_solution("e1_form_a").FormA,),
    2: lambda: (_solution("e2_form_b").FormB,),
    3: lambda: (_solution("e3_slicing_rule").path_tensors, _solution("e3_slicing_rule").to_form_a),
    4: lambda: (_solution("e4_closed_form_costs").block_cost,),
    5: lambda: (_solution("e5_spot_the_mistake").ANSWER,),
    6: lambda: (_solution("e6_grouped_conv_two_ways").by_paths, _solution("e6_grouped_conv_two_ways").by_mask),
}


def _solution_code() -> set[str]:
    """Every line of code of the solutions long enough to give something away (comments and docstrings not)."""
    lines = set()
    for path in (EXERCISES / "solutions").glob("*.py"):
        for line in path.read_text().splitlines():
            code = line.split("#")[0].strip()
            if len(code) >= 16 and not code.startswith(('"', "'")):
                lines.add(code)
    return lines


SOLUTION_CODE = _solution_code()


def assert_hints_hold_no_code(result: exercises.Result) -> None:
    for hint in result.hints:
        leaked = [line for line in SOLUTION_CODE if line in hint]
        assert not leaked, f"the hint {hint!r} holds solution code {leaked}"


def assert_names_mistake(result: exercises.Result, mistake: int | None) -> None:
    """Not passed; a hint names ``mistake`` with a measured number; no hint names another catalogue mistake."""
    assert result.attempted and not result.passed, str(result)
    named = {int(n) for hint in result.hints for n in re.findall(r"^Mistake (\d+) \(", hint)}
    assert named == ({mistake} if mistake else set()), str(result)
    hints = [h for h in result.hints if mistake is None or h.startswith(f"Mistake {mistake} (")]
    assert any(MEASURED_NUMBER.search(h.split("): ", 1)[-1]) for h in hints), str(result)
    assert_hints_hold_no_code(result)


@pytest.mark.parametrize("exercise", SOLUTIONS, ids=lambda n: f"exercise{n}")
def test_every_solution_passes(exercise: int, capsys: pytest.CaptureFixture[str]) -> None:
    result = exercises.grade(exercise, *SOLUTIONS[exercise]())
    assert result.passed and result.attempted and result.hints == [], str(result)
    assert result.measured
    assert "PASSED" in capsys.readouterr().out  # the verdict is printed


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda path: path.stem)
def test_every_stub_is_not_attempted_yet(notebook: Path, capsys: pytest.CaptureFixture[str]) -> None:
    namespace: dict[str, object] = {}
    for cell in json.loads(notebook.read_text())["cells"]:
        if cell["cell_type"] == "code" and cell["id"] != "install-course-package":  # the install cell is magic
            exec("".join(cell["source"]), namespace)  # a notebook's own cells, as Jupyter runs them
    result = namespace["result"]
    assert isinstance(result, exercises.Result)
    assert not result.attempted and not result.passed, str(result)
    assert "not attempted yet" in capsys.readouterr().out


def test_check_refuses_an_unknown_exercise() -> None:
    with pytest.raises(ValueError, match="exercise must be one of"):
        exercises.grade(7, answers.GeneratorSumFormA)


# ------------------------------------------------------------------------------------------ exercises 1 and 2


@pytest.mark.parametrize("style", answers.FORM_A_RIGHT)
def test_form_a_in_every_style_passes(style: str) -> None:
    result = exercises.grade_form_a(answers.FORM_A_RIGHT[style])
    assert result.passed, str(result)


@pytest.mark.parametrize("style", answers.FORM_B_RIGHT)
def test_form_b_in_every_style_passes(style: str) -> None:
    result = exercises.grade_form_b(answers.FORM_B_RIGHT[style])
    assert result.passed, str(result)


@pytest.mark.parametrize("name", answers.FORM_A_WRONG)
def test_each_form_a_mistake_gets_its_hint(name: str) -> None:
    answer, mistake = answers.FORM_A_WRONG[name]
    assert_names_mistake(exercises.grade_form_a(answer), mistake)


@pytest.mark.parametrize("name", answers.FORM_B_WRONG)
def test_each_form_b_mistake_gets_its_hint(name: str) -> None:
    answer, mistake = answers.FORM_B_WRONG[name]
    assert_names_mistake(exercises.grade_form_b(answer), mistake)


def test_the_shared_path_hint_counts_the_unique_parameters() -> None:
    (hint,) = exercises.grade_form_a(answers.SharedPathFormA).hints
    # 32 -> 32, 4x4d: one path holds 32·4 + 2·4 + 9·4·4 + 2·4 + 4·32 = 416, the BN after the sum 64
    assert "share weights: 480 unique parameters are used where 1,728 are needed" in hint


def test_a_block_from_this_package_is_not_an_answer() -> None:
    result = exercises.grade_form_a(lambda *args: blocks.SummedPathsBlock(blocks.BlockSpec(*args)))
    assert not result.passed and "this package's" in result.hints[0], str(result)


def test_a_float32_accumulator_in_forward_passes() -> None:
    """The checks compare in float64: a student's torch.zeros(...) in forward must not make a right block fail."""

    class ZerosAccumulator(answers.GeneratorSumFormA):
        def forward(self, x):
            total = torch.zeros(x.shape[0], self.norm.num_features, *self.branches[0](x).shape[2:])
            for branch in self.branches:
                total += branch(x)
            return torch.relu(self.norm(total) + (x if self.proj is None else self.proj(x)))

    result = exercises.grade_form_a(ZerosAccumulator)
    assert result.passed, str(result)
    assert torch.get_default_dtype() == torch.float32  # restored


def test_a_block_instead_of_its_class_is_told_so() -> None:
    result = exercises.grade_form_a(answers.GeneratorSumFormA(32, 32, 4, 4, 1))
    assert not result.passed and "pass the class itself" in result.hints[0], str(result)


def test_an_error_in_the_students_code_is_a_hint_not_a_traceback() -> None:
    class Broken(answers.GeneratorSumFormA):
        def forward(self, x):
            return self.branches[0](x) + x  # 4 channels + 32 channels: a shape error

    result = exercises.grade_form_a(Broken)
    assert not result.passed and "raised RuntimeError" in result.hints[0], str(result)
    assert "line" in result.hints[0]  # and the line of the student's code it came from


# ------------------------------------------------------------------------------------------ exercise 3


def test_the_checks_slicing_is_the_transplants() -> None:
    """The check cuts its expected pieces itself; they are what blocks.transplant puts in each path."""
    block = exercises.trained_block()
    form_a = blocks.transplant(block, "a")
    for i in range(slicing.SPEC.cardinality):
        expected = slicing.expected_pieces(block.state_dict(), i, slicing.SPEC.width)
        path = form_a.paths[i].state_dict()
        assert all(torch.equal(expected[key], path[key]) for key in expected)


def test_slicing_in_another_style_passes() -> None:
    result = exercises.grade_slicing(answers.split_path_tensors, answers.to_own_form_a)
    assert result.passed, str(result)


@pytest.mark.parametrize(
    ("pieces", "to_form_a", "mistake", "says"),
    [
        (answers.last_path_only, answers.to_own_form_a, 11, "path 3's pieces"),
        (answers.rows_of_conv3, answers.to_own_form_a, None, "across its output channels (dim 0)"),
        (answers.without_statistics, answers.to_own_form_a, None, "running statistics are part of its function"),
        (
            answers.split_path_tensors,
            answers.parameters_only,
            None,
            "a correct form (a) block, but not the trained one",
        ),
        (answers.split_path_tensors, answers.with_transplant, None, "calls blocks.transplant"),
    ],
    ids=["late-binding", "conv3-rows", "no-statistics", "statistics-not-moved", "transplant"],
)
def test_each_slicing_mistake_gets_its_hint(
    pieces: Callable, to_form_a: Callable, mistake: int | None, says: str
) -> None:
    result = exercises.grade_slicing(pieces, to_form_a)
    assert_hints_hold_no_code(result)
    assert not result.passed and any(says in hint for hint in result.hints), str(result)
    if mistake:
        assert_names_mistake(result, mistake)


# ------------------------------------------------------------------------------------------ exercise 4


def test_costs_in_another_style_pass() -> None:
    assert exercises.grade_costs(answers.cost_by_layers).passed


@pytest.mark.parametrize("name", answers.COSTS_WRONG)
def test_each_counting_slip_is_named(name: str) -> None:
    answer, mistake = answers.COSTS_WRONG[name]
    result = exercises.grade_costs(answer)
    assert_names_mistake(result, mistake)
    assert "exactly the count with" in result.hints[0], str(result)


# ------------------------------------------------------------------------------------------ exercise 5

SEEDS = range(6)


@pytest.mark.parametrize("seed", SEEDS)
def test_the_mystery_blocks_are_what_they_were_drawn_as(seed: int) -> None:
    """The check labels the blocks by their audit: it must find exactly the mistake each was drawn with."""
    drawn = mystery.drawn_kinds(seed)
    found = [mystery.audited(block) for block in exercises.mystery_blocks(seed).values()]
    assert found == drawn
    assert drawn.count(None) == 1


def test_the_mystery_blocks_carry_no_label() -> None:
    for block in exercises.mystery_blocks(0).values():
        text = repr(block)
        assert "Wrong" not in text and "mistake" not in text.lower() and "form=" not in text, text


@pytest.mark.parametrize("seed", SEEDS)
def test_a_wrong_label_gets_a_clue_but_not_the_number(seed: int) -> None:
    drawn = mystery.drawn_kinds(seed)
    result = exercises.grade_mystery_blocks([None, None, None], seed=seed)
    assert not result.passed and len(result.hints) == 2, str(result)
    for hint, kind in zip(result.hints, [k for k in drawn if k is not None]):
        assert str(kind) not in re.findall(r"mistake (\d+)", hint) and MEASURED_NUMBER.search(hint), hint
    assert_hints_hold_no_code(result)


@pytest.mark.slow  # every container a student may use, each block audited: seconds on 2 cores
def test_right_labels_in_any_container_pass() -> None:
    drawn = mystery.drawn_kinds(2)
    for answer in (drawn, tuple(drawn), dict(zip("abc", drawn)), lambda: dict(zip("ABC", drawn))):
        assert exercises.grade_mystery_blocks(answer, seed=2).passed


def test_calling_the_paper_block_wrong_is_refuted_with_a_measurement() -> None:
    assert mystery.drawn_kinds(0) == [11, 9, None]
    result = exercises.grade_mystery_blocks([11, 9, 8], seed=0)
    (hint,) = result.hints
    assert hint.startswith("Block C does not make mistake 8 ("), hint
    assert "paper's block" not in hint  # a clue never gives the answer away (the label of C is the paper's)


# ------------------------------------------------------------------------------------------ exercise 6


def test_grouped_convolution_in_other_styles_passes() -> None:
    assert exercises.grade_grouped_conv(answers.grouped_by_slices, answers.grouped_by_block_diag).passed


@pytest.mark.parametrize(
    ("by_paths", "by_mask", "mistake", "says"),
    [
        (answers.grouped_late_binding, answers.grouped_by_block_diag, 11, "does not move when input group 0"),
        (answers.grouped_by_slices, answers.dense_without_mask, 11, "nonzero entries outside its C diagonal blocks"),
        (answers.grouped_conv_itself, answers.grouped_by_block_diag, None, "groups=4: that is the grouped"),
        (answers.no_padding, answers.grouped_by_block_diag, None, "returns shape (2, 8, 4, 4)"),
    ],
    ids=["late-binding", "no-mask", "groups-argument", "no-padding"],
)
def test_each_grouped_convolution_mistake_gets_its_hint(
    by_paths: Callable, by_mask: Callable, mistake: int | None, says: str
) -> None:
    result = exercises.grade_grouped_conv(by_paths, by_mask)
    assert any(says in hint for hint in result.hints), str(result)
    assert_names_mistake(result, mistake)


class _NeverReturns(torch.nn.Module):
    """A form (a) answer whose forward loops for ever, and catches everything on the way."""

    def __init__(self, in_channels: int, out_channels: int, cardinality: int, width: int, stride: int = 1) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(in_channels, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        steps = 0
        while True:
            try:  # noqa: SIM105  # as a student writes it: the catch-all must not swallow the time limit
                steps += 1
            except Exception:
                pass


def test_an_answer_that_never_returns_ends_in_a_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    from blocks.exercises import feedback

    monkeypatch.setattr(feedback, "ANSWER_SECONDS", 0.5)
    result = exercises.grade(1, _NeverReturns)
    assert not result.passed and result.attempted
    assert len(result.hints) == 1
    assert result.hints[0].startswith("Your answer did not return within 0.5 s")
    assert "while True:" in result.hints[0] and "a loop that never ends" in result.hints[0]
