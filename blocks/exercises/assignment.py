"""The six exercises as an nbgrader source assignment: the cell metadata nbgrader reads, and the solutions hidden.

nbgrader (https://nbgrader.readthedocs.io, ``pip install "blocks[grading]"``) is the Jupyter
project's grading tool: a teacher keeps a *source* version of each assignment, ``nbgrader
generate_assignment`` makes the students' *release* version from it, ``nbgrader autograde`` runs
the submissions and records every graded cell's points in its gradebook (an SQLite database),
``nbgrader generate_feedback`` writes each student an HTML page of their graded notebook.

:func:`write_source_assignment` writes the exercise notebooks of ``notebooks/exercises/`` into
``COURSE/source/ASSIGNMENT/``, each with two cells that nbgrader reads:

* the **answer cell** (``"solution": true``, autograded: it is the student's to write): the
  notebook's stub, then the solution of ``notebooks/exercises/solutions/`` between
  ``### BEGIN SOLUTION`` and ``### END SOLUTION``. The release version keeps the stub and, in
  place of the solution, the comment :data:`CODE_STUB` (set as ``ClearSolutions.code_stub`` in
  the course's ``nbgrader_config.py``, which is written when there is none);
* the **autograder-test cell** (``"grade": true``, ``"points"``, locked): the notebook's check
  (``exercises.grade_form_a(FormA)``, ...), then ``assert result.passed``. The check prints its
  verdict and hints, so they are in the student's feedback; the points go to a passed check only.

Example:
    >>> write_source_assignment("course")   # then, in course/: nbgrader generate_assignment resnext-exercises
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from blocks.exercises.grading import EXERCISES, identify

ASSIGNMENT = "resnext-exercises"
POINTS = 10  # per exercise: a passed check
# What the release version of an answer cell holds where the source holds the solution.
CODE_STUB = "# YOUR ANSWER: replace the raise NotImplementedError lines above (any names, any style will do)"
NBGRADER_CONFIG = f"""\
# nbgrader's configuration of this course (written by blocks.exercises.assignment).
c = get_config()  # noqa: F821 (nbgrader defines it)
c.CourseDirectory.course_id = "blocks"
# Where the source holds a solution, the release keeps the notebook's stub and this comment.
c.ClearSolutions.code_stub = {{"python": {CODE_STUB!r}}}
"""
_EXERCISES_DIR = Path(__file__).resolve().parents[2] / "notebooks" / "exercises"  # in a checkout of the repository


def write_source_assignment(
    course: str | os.PathLike[str],
    *,
    assignment: str = ASSIGNMENT,
    exercises: Iterable[int] = EXERCISES,
    points: float = POINTS,
    notebooks: str | os.PathLike[str] = _EXERCISES_DIR,
) -> list[Path]:
    """Write the exercises as the nbgrader source assignment ``COURSE/source/ASSIGNMENT/``.

    Args:
        course: the nbgrader course folder (made if missing); its ``nbgrader_config.py`` is written if
            there is none (course id ``blocks``, and :data:`CODE_STUB` as the release's code stub).
        assignment: the assignment's name.
        exercises: which of the six exercises (1 to 6).
        points: what each exercise's passed check is worth.
        notebooks: the folder of the exercise notebooks, with ``solutions/`` in it (the repository's).

    Returns:
        The notebooks written.

    Raises:
        ValueError: an exercise is not 1 to 6, ``points`` is not a positive number, ``notebooks`` holds no
            notebook or solution for an exercise, or a notebook has no stub or no check cell.
    """
    import nbformat

    chosen = list(exercises)
    unknown = [n for n in chosen if n not in EXERCISES]
    if unknown or not chosen:
        raise ValueError(f"exercises must be among {list(EXERCISES)}, got {chosen!r}")
    if isinstance(points, bool) or not isinstance(points, (int, float)) or not points > 0:
        raise ValueError(f"points must be a positive number, got {points!r}")
    folder = Path(notebooks)
    target = Path(course) / "source" / assignment
    target.mkdir(parents=True, exist_ok=True)
    config = Path(course) / "nbgrader_config.py"
    if not config.exists():
        config.write_text(NBGRADER_CONFIG)
    written = []
    for number in chosen:
        path, solution = _files(folder, number)
        notebook = nbformat.read(path, as_version=4)
        _mark(notebook, number, solution.read_text(), points, path)
        out = target / path.name
        nbformat.write(notebook, out)
        written.append(out)
    return written


def _files(folder: Path, number: int) -> tuple[Path, Path]:
    """Exercise ``number``'s notebook and solution in ``folder``."""
    found = sorted(folder.glob(f"e{number}_*.ipynb")), sorted((folder / "solutions").glob(f"e{number}_*.py"))
    if not all(found):
        raise ValueError(
            f"notebooks must hold exercise {number}'s notebook e{number}_*.ipynb and solutions/e{number}_*.py,"
            f" but {str(folder)!r} does not"
        )
    return found[0][0], found[1][0]


def _mark(notebook: object, number: int, solution: str, points: float, path: Path) -> None:
    """Make the stub cell the autograded answer (solution appended, delimited) and the check the graded test."""
    import nbformat

    assert isinstance(notebook, nbformat.NotebookNode)
    if identify(notebook) != number:
        raise ValueError(f"{path} must be exercise {number}'s notebook, but it calls another exercise's check")
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    stubs = [cell for cell in code if "raise NotImplementedError" in cell.source]
    checks = [cell for cell in code if identify(nbformat.v4.new_notebook(cells=[cell])) == number]
    if len(stubs) != 1 or len(checks) != 1:
        raise ValueError(f"{path} must have one stub cell and one check cell, it has {len(stubs)} and {len(checks)}")
    if number == 5:  # the solution is the answer for seed 0; the notebook's check calls my_answer()
        solution += "\n\ndef my_answer():\n    return ANSWER\n"
    stub, check = stubs[0], checks[0]
    stub.source = f"{stub.source.rstrip()}\n\n### BEGIN SOLUTION\n{solution.strip()}\n### END SOLUTION\n"
    stub.metadata["nbgrader"] = _metadata(f"answer-e{number}", solution=True)
    check.source = (
        f"# Autograded: {points:g} points when the check passes; its hints say what to look at when not.\n"
        f"{check.source.rstrip()}\n"
        'assert result.passed, "not yet: the check\'s hints above say what to look at"\n'
    )
    check.metadata["nbgrader"] = _metadata(f"check-e{number}", grade=True, locked=True, points=points)


def _metadata(grade_id: str, *, solution: bool = False, grade: bool = False, locked: bool = False,
              points: float | None = None) -> dict[str, object]:  # fmt: skip
    """A cell's nbgrader metadata (schema version 3)."""
    meta: dict[str, object] = {
        "grade": grade,
        "grade_id": grade_id,
        "locked": locked,
        "schema_version": 3,
        "solution": solution,
        "task": False,
    }
    if points is not None:
        meta["points"] = points
    return meta
