"""What a check says: passed, not attempted yet, or hints that name the mistake and what was measured.

Every check of :mod:`blocks.exercises` returns a :class:`Result` and prints it. A hint
never holds code: it names the catalogue mistake (:data:`blocks.dataflow.mistakes.CATALOGUE`)
when there is one, says what was MEASURED in the student's own answer (a count, an error,
a channel), where in their code to look, and which part of the course to read.

Where the environment variable :data:`RESULT_LOG` (``BLOCKS_RESULT_LOG``) names a file, every
check also appends its Result to it as one line of JSON (:meth:`Result.to_json`): that is how
:mod:`blocks.exercises.grading` reads the verdicts out of a notebook it runs, whatever the
notebook prints.

A hint about a block the student wrote (exercises 1, 2 and 3's ``to_form_a``) comes with a
picture: the block as its dataflow reads, beside the paper's block the exercise asks for, each
mistake tagged on its layer (:func:`blocks.figures.block_figure`). In a Jupyter notebook the
check shows it under its hints; elsewhere the hints are plain text, and
:meth:`Result.figures` draws the pictures on demand. Exercise 5's blocks are the course's,
not the student's: a picture of them would give its answer away, so its hints have none.
"""

from __future__ import annotations

import json
import os
import re
import sys
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

import torch

from blocks.core.spec import BlockSpec
from blocks.dataflow.mistakes import CATALOGUE
from blocks.dataflow.recognise import RecognisedBlock
from blocks.exercises.symptoms import Story
from blocks.util.limits import TimeLimitExceeded, time_limit

if TYPE_CHECKING:
    from matplotlib.figure import Figure

_T = TypeVar("_T")
_TORCH_DIR = os.path.dirname(os.path.abspath(torch.__file__)) + os.sep
_BLOCKS_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep

# A grader runs the student's code in well under a second; 20 s is a loop that never ends.
ANSWER_SECONDS = 20.0
MISTAKES_NOTEBOOK = "notebooks/07_common_mistakes.ipynb"
# What to read for each catalogue mistake: the notebook's section on it (1-7), or its audit
# section and the docstring of the mistake's variant (8-12).
READ: dict[int, str] = {
    number: f"{MISTAKES_NOTEBOOK}, section {number}"
    if number <= 7
    else f"{MISTAKES_NOTEBOOK}, 'The audit finds them all', and the docstring of"
    f" blocks.dataflow.mistakes.{CATALOGUE[number].variant}"
    for number in CATALOGUE
}
FORMS_READING = "notebooks/01_three_forms.ipynb and the docstring of blocks/core/forms.py"
# The environment variable naming a file that every check appends its Result to, as a line of JSON.
RESULT_LOG = "BLOCKS_RESULT_LOG"
ERROR_LINES = 12  # of an error's message, kept in its hint
_MISTAKE = re.compile(r"^Mistake (\d+) \(")  # how mistake_hint begins a hint
# A hint's picture in a notebook: sharp on a laptop's screen, and drawn in well under a second.
PICTURE_DPI = 100


@dataclass(frozen=True)
class HintedBlock:
    """A block of the student's that hints are about, as recognised, and the paper's block it should be.

    Attributes:
        block: what :func:`blocks.recognise` read in the student's block.
        spec: the block the exercise asked for.
        form: the form it asked for, "a" or "b".
    """

    block: RecognisedBlock
    spec: BlockSpec
    form: str

    def figure(self) -> Figure:
        """The student's block drawn as recognised beside the paper's (:func:`blocks.figures.block_figure`)."""
        from blocks.figures.found import block_figure  # matplotlib only when a picture is asked for

        return block_figure(self.block, paper_spec=self.spec, paper_form=self.form)


@dataclass(frozen=True)
class Result:
    """What a check found.

    Attributes:
        exercise: the exercise's number and title, e.g. ``"1 · form (a): C summed paths"``.
        passed: whether the answer is right.
        attempted: False while the answer still raises ``NotImplementedError``.
        hints: what is wrong, one whole-sentence hint per kind of mistake; empty when passed.
        measured: what was checked and measured, one line per case (shown when passed too).
        blocks: the student's blocks the hints were first found in, to be drawn (:meth:`figures`);
            empty when passed, and for an exercise whose answer is no block.
    """

    exercise: str
    passed: bool
    attempted: bool = True
    hints: list[str] = field(default_factory=list)
    measured: list[str] = field(default_factory=list)
    blocks: tuple[HintedBlock, ...] = field(default=(), repr=False, compare=False)

    def __str__(self) -> str:
        title = f"Exercise {self.exercise}"
        if not self.attempted:
            return (
                f"{title}: not attempted yet. Your answer still raises NotImplementedError:"
                " write it in the cell above, run that cell, then run this check again."
            )
        if self.passed:
            return "\n".join([f"{title}: PASSED.", *(f"  - {line}" for line in self.measured)])
        count = f"{len(self.hints)} hint" + ("s" if len(self.hints) != 1 else "")
        lines = [f"{title}: not yet, {count}."]
        lines += [f"  {i}. " + hint.replace("\n", "\n     ") for i, hint in enumerate(self.hints, start=1)]
        if self.measured:
            lines += ["What did pass:", *(f"  - {line}" for line in self.measured)]
        return "\n".join(lines)

    def figures(self) -> list[Figure]:
        """Each of :attr:`blocks` drawn as recognised beside the paper's block, its mistakes marked."""
        return [hinted.figure() for hinted in self.blocks]

    @property
    def number(self) -> int:
        """The exercise's number, 1 to 6: the start of :attr:`exercise` (``"1 · form (a): ..."``)."""
        return int(self.exercise.split("·", 1)[0])

    @property
    def mistakes(self) -> list[int]:
        """The catalogue mistakes the hints name (``"Mistake 8 (...)"``), in the order of the hints.

        Example:
            >>> Result("4 · costs", passed=False, hints=["Mistake 8 (a convolution bias ...): ..."]).mistakes
            [8]
        """
        found = (_MISTAKE.match(hint) for hint in self.hints)
        return list(dict.fromkeys(int(match.group(1)) for match in found if match))

    def to_json(self) -> str:
        """The Result as one line of JSON: the exercise's number and title, the verdict, hints, mistakes, measured."""
        return json.dumps(
            {
                "exercise": self.number,
                "title": self.exercise,
                "passed": self.passed,
                "attempted": self.attempted,
                "hints": self.hints,
                "mistakes": self.mistakes,
                "measured": self.measured,
            },
            ensure_ascii=False,
        )


class NotAttempted(Exception):
    """The answer still raises NotImplementedError."""


class Stop(Exception):
    """The answer cannot be checked further; the message is the hint."""


def mistake_hint(number: int, measured: str, look: str, read: str | None = None) -> str:
    """A hint for catalogue mistake ``number``: its title, what was measured, where to look, what to read.

    Example:
        >>> mistake_hint(8, "3 convolutions have a bias", "the convolutions' bias argument")[:40]
        'Mistake 8 (a convolution bias just befo'
    """
    title = CATALOGUE[number].title
    return (
        f"Mistake {number} ({title}): {sentence(measured)} {sentence('Look at ' + look)} Read {read or READ[number]}."
    )


def hint(measured: str, look: str, read: str) -> str:
    """A hint for something the catalogue does not name: what was measured, where to look, what to read."""
    return f"{sentence(measured)} {sentence('Look at ' + look)} Read {read}."


def sentence(text: str) -> str:
    """``text`` as a sentence: stripped, capitalised, ending in a full stop (unless it ends in ``?`` or ``!``)."""
    text = text.strip()
    return text[0].upper() + text[1:] + ("" if text.endswith((".", "?", "!")) else ".")


def error_text(error: float) -> str:
    """A measured relative error in one significant digit, or "0" when the two agree bit for bit."""
    return "0" if error == 0 else f"{error:.0e}"


def call(
    answer: Callable[..., _T],
    *args: object,
    what: str,
    explain: Callable[[], Story | None] | None = None,
    read: str = FORMS_READING,
) -> _T:
    """Run the student's ``answer(*args)``; a NotImplementedError means not attempted, any other error a hint.

    Args:
        answer: the student's function or class.
        args: its arguments.
        what: the call in words, for the hint ("your FormA(32, 32, 4, 4, 1)").
        explain: called when the answer raised, to say what the error means in the course's words
            (:func:`blocks.exercises.symptoms.explain` on what a Watch recorded); None: the error as it is.
        read: what to read, for an explained error without a catalogue number.

    Raises:
        NotAttempted: the answer raised NotImplementedError.
        Stop: it raised anything else; the message says what, and on which line of the student's code.
    """
    try:
        return answer(*args)
    except NotImplementedError as error:
        raise NotAttempted from error
    except Exception as error:  # a student's code can raise anything: each is a hint, never a traceback
        story = explain() if explain is not None else None
        if story is not None:
            raise Stop(explained(story, error, what, read)) from error
        raise Stop(failure(error, what)) from error


def explained(story: Story, error: BaseException, what: str, read: str) -> str:
    """The hint for an error the course can explain: what it means, measured, then PyTorch's words and the line."""
    pytorch = _first_line(str(error))
    measured = f"{what} raised {type(error).__name__}{_where(error)}: {story.measured} (PyTorch says: {pytorch!r})"
    if story.mistake is not None:
        return mistake_hint(story.mistake, measured, story.look)
    return hint(measured, story.look, read)


def _ours(filename: str) -> bool:
    """True for a frame of torch or of this package: not the student's code."""
    return os.path.abspath(filename).startswith((_TORCH_DIR, _BLOCKS_DIR))


def failure(error: BaseException, what: str) -> str:
    """A hint for an error raised by the student's code: the error, whole, and the line of their code it came from.

    The whole message is kept (a ``load_state_dict`` error says what is wrong only on its later lines),
    up to :data:`ERROR_LINES` lines.
    """
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()] or ["no message"]
    cut = len(lines) > ERROR_LINES
    if cut:
        lines = [*lines[:ERROR_LINES], f"... ({len(lines) - ERROR_LINES} more lines: run it on its own to see them)"]
    message = "\n".join(lines)
    return f"{what} raised {type(error).__name__}{_where(error)}: {message}"


def _where(error: BaseException) -> str:
    """`` (line N of your code: '...')`` for the last frame of the student's code in the traceback, or ""."""
    frames = [frame for frame in traceback.extract_tb(error.__traceback__) if not _ours(frame.filename)]
    return f" (line {frames[-1].lineno} of your code: {frames[-1].line!r})" if frames and frames[-1].line else ""


def _first_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[0].strip() if lines else "no message"


def out_of_time(stopped: TimeLimitExceeded) -> str:
    """The hint for an answer that ran past :data:`ANSWER_SECONDS`: where it was when it was stopped."""
    frames = [frame for frame in traceback.extract_tb(stopped.__traceback__) if not _ours(frame.filename)]
    where = (
        f" It was at line {frames[-1].lineno} of your code: {frames[-1].line!r}." if frames and frames[-1].line else ""
    )
    return (
        f"Your answer did not return within {ANSWER_SECONDS:g} s (every check takes well under a second).{where}"
        " Look for a loop that never ends: a while whose condition never changes, or a loop over a list it grows"
    )


def judge(
    exercise: str, check: Callable[[], tuple[list[str], list[str]]], hinted: Sequence[HintedBlock] = ()
) -> Result:
    """Run ``check`` (returning hints and measured lines), print the verdict and return it as a Result.

    The check runs with float64 as torch's default dtype (restored afterwards), so that a student's
    ``torch.zeros(...)`` inside a forward pass has the dtype of the float64 comparisons. Where the
    environment variable :data:`RESULT_LOG` names a file, the Result is appended to it as a line of
    JSON (:func:`log_result`). In a Jupyter notebook the blocks its hints are about are then shown,
    each beside the paper's (:func:`show_blocks`): drawn after the check, outside its time limit.

    Args:
        exercise: the exercise's number and title.
        check: returns the hints and the measured lines.
        hinted: the list ``check`` appends to the student's blocks that its hints were found in.
    """
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        with time_limit(ANSWER_SECONDS):
            hints, measured = check()
        result = Result(exercise, passed=not hints, hints=list(dict.fromkeys(hints)), measured=measured,
                        blocks=tuple(hinted) if hints else ())  # fmt: skip
    except NotAttempted:
        result = Result(exercise, passed=False, attempted=False)
    except Stop as stop:
        result = Result(exercise, passed=False, hints=[sentence(str(stop))])
    except TimeLimitExceeded as stopped:
        result = Result(exercise, passed=False, hints=[sentence(out_of_time(stopped))])
    finally:
        torch.set_default_dtype(default)
    print(result)
    log_result(result)
    show_blocks(result)
    return result


def show_blocks(result: Result) -> None:
    """In a Jupyter notebook, show each block of ``result``'s hints drawn beside the paper's; elsewhere nothing.

    The picture is the figure's PNG (:func:`blocks.figures.style.png_bytes`, the same bytes every time),
    shown whatever matplotlib backend the notebook has. A picture that cannot be drawn is said on
    stderr, and the check's verdict stands.
    """
    if not result.blocks or not _in_notebook():
        return
    from IPython.display import Image, display

    from blocks.figures.style import png_bytes

    for hinted in result.blocks:
        try:
            picture = png_bytes(hinted.figure(), dpi=PICTURE_DPI)
        except Exception as error:  # a picture that fails must not take the hints with it
            print(f"the picture of {hinted.block.where} could not be drawn: {error}", file=sys.stderr)
            continue
        display(Image(data=picture, format="png"))


def _in_notebook() -> bool:
    """Whether this runs in a Jupyter kernel (IPython with a kernel), not a terminal or a script."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return shell is not None and hasattr(shell, "kernel")


def log_result(result: Result) -> None:
    """Append ``result`` as a line of JSON to the file the environment variable :data:`RESULT_LOG` names, if any.

    A file that cannot be written is said on stderr, and the check's verdict stands: the student's
    notebook never fails because of the grader's log.
    """
    path = os.environ.get(RESULT_LOG)
    if not path:
        return
    try:
        with open(path, "a", encoding="utf-8") as log:
            log.write(result.to_json() + "\n")
    except OSError as error:
        print(f"{RESULT_LOG}: cannot append the result to {path!r} ({error.strerror or error})", file=sys.stderr)
