"""The hints of issue 29: each kind of answer the checks judged badly now gets a hint naming what it measured.

The answers are in ``student_answers_more.py``: for each kind, right ones (each must pass) and wrong
ones written as different students would (each must fail with a hint that names its catalogue
mistake, where there is one, and holds the words its measurement gives).
"""

from __future__ import annotations

import re

import pytest

from blocks import exercises
from blocks.exercises import mystery

from tests.course import student_answers_more as more

pytestmark = pytest.mark.usefixtures("one_thread")  # see conftest.py

GRADE_FORM = {"a": exercises.grade_form_a, "b": exercises.grade_form_b}


def named_mistakes(result: exercises.Result) -> set[int]:
    return {int(n) for hint in result.hints for n in re.findall(r"^Mistake (\d+) \(", hint)}


def assert_hint(result: exercises.Result, mistake: int | None, *words: str) -> None:
    """Not passed; the hints name ``mistake`` (and no other), and together hold every one of ``words``."""
    assert result.attempted and not result.passed, str(result)
    assert named_mistakes(result) == ({mistake} if mistake else set()), str(result)
    text = "\n".join(result.hints)
    missing = [w for w in words if w not in text]
    assert not missing, f"{missing} not in:\n{result}"


# ------------------------------------------------------------------------------------------ paths not registered


@pytest.mark.parametrize("name", more.UNREGISTERED_RIGHT)
def test_registered_paths_in_any_container_pass(name: str) -> None:
    result = exercises.grade_form_a(more.UNREGISTERED_RIGHT[name])
    assert result.passed, str(result)


@pytest.mark.parametrize("name", more.UNREGISTERED_WRONG)
def test_paths_kept_where_pytorch_cannot_see_them_are_counted(name: str) -> None:
    answer, form, says = more.UNREGISTERED_WRONG[name]
    result = GRADE_FORM[form](answer)
    assert_hint(result, None, ".parameters() holds", "an optimizer given .parameters() would never train them",
                "nn.ModuleList", says)  # fmt: skip
    assert len(result.hints) == 1  # no recipe of the branch for a structure that is right


def test_the_unregistered_hint_says_what_is_registered_and_what_is_used() -> None:
    (hint,) = exercises.grade_form_a(more.PlainListFormA).hints
    # 32 -> 32, 4x4d: four paths of 32·4 + 2·4 + 9·4·4 + 2·4 + 4·32 = 416 parameters; the BN after the sum, 64
    assert "holds 64 of the 1,728 parameters its forward pass uses: the other 1,664 are kept" in hint, hint


# ------------------------------------------------------------------------------------------ shape errors, said


@pytest.mark.parametrize("name", more.SHAPES_RIGHT)
def test_splits_and_cats_along_the_channels_pass(name: str) -> None:
    answer, form = more.SHAPES_RIGHT[name]
    result = GRADE_FORM[form](answer)
    assert result.passed, str(result)


@pytest.mark.parametrize("name", more.SHAPES_WRONG)
def test_a_shape_error_is_said_in_the_course_s_words(name: str) -> None:
    answer, form, mistake, says = more.SHAPES_WRONG[name]
    result = GRADE_FORM[form](answer)
    assert_hint(result, mistake, says, "PyTorch says:", "line")


def test_grouped_convolution_in_other_styles_passes() -> None:
    for by_paths, by_mask in more.GROUPED_RIGHT.values():
        result = exercises.grade_grouped_conv(by_paths, by_mask)
        assert result.passed, str(result)


@pytest.mark.parametrize("name", more.GROUPED_WRONG)
def test_a_grouped_convolution_s_shape_slip_is_said_in_the_course_s_words(name: str) -> None:
    by_paths, by_mask, mistake, says = more.GROUPED_WRONG[name]
    assert_hint(exercises.grade_grouped_conv(by_paths, by_mask), mistake, says)


# ------------------------------------------------------------------------------------------ exercise 3, each part


@pytest.mark.parametrize("name", more.SLICING_RIGHT)
def test_slicing_in_other_styles_passes(name: str) -> None:
    result = exercises.grade_slicing(*more.SLICING_RIGHT[name])
    assert result.passed, str(result)


@pytest.mark.parametrize("name", more.SLICING_WRONG)
def test_each_part_of_exercise_3_is_judged_on_its_own(name: str) -> None:
    path_tensors, to_form_a, mistake, says = more.SLICING_WRONG[name]
    result = exercises.grade_slicing(path_tensors, to_form_a)
    assert_hint(result, mistake, *says)
    if name == "last-path-raises":  # the other part is judged all the same, and passes
        assert any(line.startswith("to_form_a: form (a)") for line in result.measured), str(result)


def test_a_load_state_dict_error_is_kept_whole() -> None:
    result = exercises.grade_slicing(more.conv3_by_rows, more.loaded_into_form_a(more.conv3_by_rows))
    (raised,) = [hint for hint in result.hints if "raised RuntimeError" in hint]
    # the first line says only where; the four that follow say what
    assert raised.count("size mismatch for paths.") == 4, raised
    assert "copying a param with shape torch.Size([3, 12, 1, 1]) from checkpoint" in raised


def test_both_parts_not_attempted_is_not_attempted() -> None:
    result = exercises.grade_slicing(more.path_tensors_not_yet, more.to_form_a_not_yet)
    assert not result.attempted, str(result)


# ------------------------------------------------------------------------------------------ exercise 4, slips named


@pytest.mark.parametrize("name", more.COSTS_RIGHT)
def test_costs_in_other_styles_pass(name: str) -> None:
    result = exercises.grade_costs(more.COSTS_RIGHT[name])
    assert result.passed, str(result)


@pytest.mark.parametrize("name", more.COSTS_WRONG)
def test_an_identifiable_counting_slip_is_named_not_a_generic_fallback(name: str) -> None:
    answer, mistake, says = more.COSTS_WRONG[name]
    result = exercises.grade_costs(answer)
    assert_hint(result, mistake, says, "exactly the count with")
    assert "each layer's term on its own" not in str(result)  # the generic fallback


# ------------------------------------------------------------------------------------------ exercise 5, no give-away

SEEDS = range(6)
LAYOUT_SEEDS = (0, 1, 5)  # the paper's block in form (b), (a) and (c)
CLAIMS = (*mystery.BLOCK_MISTAKES, 4)  # every mistake one block can make, and one only a network makes


@pytest.mark.parametrize("seed", SEEDS)
def test_right_labels_pass(seed: int) -> None:
    assert exercises.grade_mystery_blocks(mystery.drawn_kinds(seed), seed=seed).passed


@pytest.mark.parametrize("claim", CLAIMS, ids=lambda n: f"claims-mistake-{n}")
@pytest.mark.parametrize("seed", LAYOUT_SEEDS)
def test_a_wrong_claim_about_the_paper_s_block_is_refuted_in_it_alone(seed: int, claim: int) -> None:
    labels = mystery.drawn_kinds(seed)
    letter = mystery.LETTERS[labels.index(None)]
    labels[labels.index(None)] = claim
    (hint,) = exercises.grade_mystery_blocks(labels, seed=seed).hints
    assert hint.startswith(f"Block {letter} does not make mistake {claim} ("), hint
    assert "is the paper's block" not in hint and "paper's block" not in hint.split("Look at")[0], hint
    assert not [other for other in mystery.LETTERS if other != letter and f"Block {other}" in hint], hint
    assert re.search(r"\d", hint.split("): ", 1)[1].split("Look at")[0]), hint  # a number measured in it


@pytest.mark.parametrize("seed", SEEDS)
def test_a_clue_names_only_its_own_block_and_never_a_number_to_answer(seed: int) -> None:
    drawn = mystery.drawn_kinds(seed)
    for labels in ([None, None, None], [7, 7, 7]):
        result = exercises.grade_mystery_blocks(labels, seed=seed)
        for hint in result.hints:
            (letter,) = re.findall(r"^Block ([ABC])", hint)
            others = [o for o in mystery.LETTERS if o != letter]
            assert not any(f"Block {o}" in hint or f"block {o}" in hint for o in others), hint
            answer = drawn[mystery.LETTERS.index(letter)]
            said = re.findall(r"mistake (\d+)", hint)
            assert answer is None or str(answer) not in said, hint


# ------------------------------------------------------------------------------------------ one path called C times


@pytest.mark.parametrize("name", more.ONE_PATH_RIGHT)
def test_a_path_called_once_more_for_a_shape_still_passes(name: str) -> None:
    result = exercises.grade_form_a(more.ONE_PATH_RIGHT[name])
    assert result.passed, str(result)


@pytest.mark.parametrize("name", more.ONE_PATH_WRONG)
def test_one_path_called_c_times_onto_the_input_is_mistake_1_measured(name: str) -> None:
    answer, says = more.ONE_PATH_WRONG[name]
    result = exercises.grade_form_a(answer)
    assert_hint(result, 1, says)
    assert "residual bottlenecks were found" not in str(result)
