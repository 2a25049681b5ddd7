"""A hint about a block the student wrote comes with its picture: shown inline in a notebook, plain text elsewhere."""

from __future__ import annotations

import re

import pytest
from matplotlib.colors import same_color
from matplotlib.text import Text

from blocks import exercises
from blocks.exercises import feedback
from blocks.exercises.forms import SPECS
from blocks.figures.found import MISTAKE_COLOUR

from tests.course import exercise_answers as answers

pytestmark = pytest.mark.usefixtures("one_thread")  # see tests/conftest.py

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _tagged(result: exercises.Result) -> set[int]:
    """The mistake numbers tagged on the layers of the result's pictures."""
    tags = (
        text.get_text()
        for figure in result.figures()
        for text in figure.findobj(Text)
        if text.get_bbox_patch() is not None and same_color(text.get_bbox_patch().get_edgecolor(), MISTAKE_COLOUR)
    )
    return {int(number) for tag in tags for number in re.findall(r"\bmistake (\d+)\b", tag)}


# Quarter-width (4) is a block of the paper's of another shape: its picture has no tag, its legend says so.
TAGGED = {name: case for name, case in answers.FORM_A_WRONG.items() if case[1] != 4}


@pytest.mark.parametrize("name", TAGGED)
def test_a_wrong_form_a_is_pictured_with_its_mistake_tagged(name: str) -> None:
    answer, mistake = TAGGED[name]
    result = exercises.grade_form_a(answer)
    (hinted,) = result.blocks  # the block of the first spec the mistake showed in
    assert hinted.spec in SPECS and hinted.form == "a"
    assert _tagged(result) == {mistake}


def test_a_block_of_another_width_is_pictured_beside_the_one_asked_for() -> None:
    result = exercises.grade_form_a(answers.QuarterWidthFormA)
    (figure,) = result.figures()
    texts = " ".join(text.get_text().replace("\n", " ") for text in figure.findobj(Text))
    assert "4 paths of 2 channels, where that one is 32 \u2192 32 channels, 4 paths of 4 channels" in texts


def test_a_right_answer_has_no_picture() -> None:
    result = exercises.grade_form_a(answers.GeneratorSumFormA)
    assert result.passed and result.blocks == () and result.figures() == []


def test_a_hand_made_transplant_with_a_mistake_is_pictured() -> None:
    def to_form_a(block: object) -> object:  # a block of the right shape, whatever the trained one holds
        return answers.ReluBeforeAddFormA(24, 32, 4, 3, 2)

    result = exercises.grade_slicing(answers.split_path_tensors, to_form_a)
    assert [hinted.form for hinted in result.blocks] == ["a"] and _tagged(result) == {10}


def test_in_a_notebook_the_picture_is_shown_under_the_hints(monkeypatch: pytest.MonkeyPatch) -> None:
    shown: list[object] = []
    monkeypatch.setattr(feedback, "_in_notebook", lambda: True)
    monkeypatch.setattr("IPython.display.display", shown.append)
    monkeypatch.setattr(feedback, "PICTURE_DPI", 20)  # the same picture, drawn on fewer pixels
    result = exercises.grade_form_a(answers.ReluBeforeAddFormA)
    (image,) = shown
    assert image.data.startswith(PNG_SIGNATURE) and len(result.blocks) == 1  # type: ignore[attr-defined]


def test_outside_a_notebook_the_hints_stay_plain_text(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("IPython.display.display", lambda image: pytest.fail("nothing is displayed outside Jupyter"))
    result = exercises.grade_form_a(answers.ReluBeforeAddFormA)
    assert not feedback._in_notebook() and result.blocks
    assert capsys.readouterr().out.startswith("Exercise 1 · form (a): C summed paths: not yet, 1 hint.")


def test_a_picture_that_fails_leaves_the_verdict(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def fails(self: feedback.HintedBlock) -> None:
        raise RuntimeError("no font")

    monkeypatch.setattr(feedback, "_in_notebook", lambda: True)
    monkeypatch.setattr(feedback.HintedBlock, "figure", fails)
    result = exercises.grade_form_a(answers.ReluBeforeAddFormA)
    assert result.mistakes == [10]
    assert "the picture of (model) could not be drawn: no font" in capsys.readouterr().err


def test_a_check_out_of_time_has_no_picture(monkeypatch: pytest.MonkeyPatch) -> None:
    # The picture is drawn after the check, outside its time limit, and only for a verdict the check reached.
    found = exercises.grade_form_a(answers.ReluBeforeAddFormA).blocks
    monkeypatch.setattr(feedback, "ANSWER_SECONDS", 0.2)

    def never_ends() -> tuple[list[str], list[str]]:
        hinted.extend(found)
        while True:
            pass

    hinted: list[feedback.HintedBlock] = []
    result = feedback.judge("1 · form (a): C summed paths", never_ends, hinted)
    assert "did not return within 0.2 s" in result.hints[0] and result.blocks == ()
