"""Grading a class: ``python -m blocks grade`` runs each student's notebooks and writes the CSV and the report.

A class is built in a temporary SUBMISSIONS from the course's own exercise notebooks: alice fills
in the solutions (under file names of her own), bob makes catalogue mistakes and leaves one stub,
carol's notebooks have a syntax error, a loop that never ends and a kernel that dies, dave hands
in nothing. The grading runs once (module fixture, the command line), and each test reads what it
wrote. Anything that runs notebooks is marked slow.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import nbformat
import pytest

from blocks.cli import main
from blocks.exercises import feedback, grade
from blocks.exercises.assignment import ASSIGNMENT, CODE_STUB, write_source_assignment
from blocks.exercises.grading import (
    COLUMNS,
    Grades,
    Row,
    grade_class,
    identify,
    mistakes_figure,
    render_report,
    report_paths,
)
from blocks.figures.style import MIN_FONT_PT, save_figure

from tests.helpers import REPOSITORY

ROOT = REPOSITORY
EXERCISES = ROOT / "notebooks" / "exercises"
SOLUTIONS = EXERCISES / "solutions"
NOTEBOOKS = {int(path.name[1]): path for path in sorted(EXERCISES.glob("e*.ipynb"))}
# Short enough that carol's loop costs little, long enough for a notebook (~5 s alone, ~8 s two at a
# time on 2 busy cores, kernel start and `import torch` included).
TEST_SECONDS = 40.0

BOB_FORM_A = """\
import torch


class FormA(nn.Module):
    def __init__(self, in_channels, out_channels, cardinality, width, stride=1):
        super().__init__()
        self.cardinality = cardinality
        self.path = nn.Sequential(  # one path, reused C times
            nn.Conv2d(in_channels, width, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
            nn.Conv2d(width, width, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
            nn.Conv2d(width, out_channels, 1, bias=False),
        )
        self.bn = nn.BatchNorm2d(out_channels)
        self.shortcut = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                                          nn.BatchNorm2d(out_channels))

    def forward(self, x):
        out = sum(self.path(x) for _ in range(self.cardinality))
        return torch.relu(self.bn(out) + self.shortcut(x))
"""
# bob counts a bias in every convolution: mistake 8
BOB_COSTS = (
    SOLUTIONS.joinpath("e4_closed_form_costs.py")
    .read_text()
    .replace("+ 2 * sum(norms)", "+ 2 * sum(norms) + sum(norms)")
)


def answer_cell(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The notebook's answer cell: the code cell whose stub raises NotImplementedError."""
    return next(c for c in notebook.cells if c.cell_type == "code" and "raise NotImplementedError" in c.source)


def handed_in(exercise: int, answer: str, path: Path, *, title: bool = True) -> Path:
    """Exercise ``exercise``'s notebook with ``answer`` in its answer cell, written to ``path``."""
    notebook = nbformat.read(NOTEBOOKS[exercise], as_version=4)
    answer_cell(notebook).source = answer
    if not title:
        notebook.cells = [c for c in notebook.cells if c.cell_type == "code"]
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, path)
    return path


def solution(exercise: int) -> str:
    """The solution of ``exercise`` as a student pastes it into the answer cell."""
    code = next(SOLUTIONS.glob(f"e{exercise}_*.py")).read_text()
    return code + ("\n\ndef my_answer():\n    return ANSWER\n" if exercise == 5 else "")


def make_class(submissions: Path) -> None:
    alice, bob, carol = (submissions / name for name in ("alice", "bob", "carol"))
    handed_in(1, solution(1), alice / "my form (a).ipynb")
    handed_in(4, solution(4), alice / "week 3" / "costs.ipynb", title=False)  # no title: matched by its check
    handed_in(4, solution(4), alice / ".ipynb_checkpoints" / "costs-checkpoint.ipynb")  # never graded
    handed_in(1, BOB_FORM_A, bob / "e1.ipynb")
    handed_in(4, BOB_COSTS, bob / "homework.ipynb")
    nbformat.write(nbformat.read(NOTEBOOKS[6], as_version=4), bob / "e6_grouped_conv_two_ways.ipynb")  # the stub
    handed_in(1, "class FormA(nn.Module)\n    pass\n", carol / "e1.ipynb")  # a syntax error
    handed_in(4, "while True:\n    pass\n", carol / "e4.ipynb")  # never returns
    handed_in(6, "import os\nos._exit(1)\n", carol / "e6.ipynb")  # the kernel dies
    (carol / "notes.ipynb").write_text("these are my notes, not a notebook")
    (submissions / "dave").mkdir()
    (submissions / "dave" / "readme.txt").write_text("sorry")


def tree_state(folder: Path) -> dict[str, str]:
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest() + str(path.stat().st_mtime_ns)
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path, dict[str, str], str]]:
    """The class graded once by the command line: SUBMISSIONS, the CSV, SUBMISSIONS' state before, stdout."""
    root = tmp_path_factory.mktemp("class")
    submissions = root / "submissions"
    make_class(submissions)
    before = tree_state(submissions)
    out = root / "grades" / "grades.csv"
    argv = ["grade", str(submissions), "--out", str(out), "--timeout", str(TEST_SECONDS), "--jobs", "2"]
    argv += ["--executed", str(root / "executed"), "--no-progress"]
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(argv) == 0
    yield submissions, out, before, printed.getvalue()


def read_rows(csv_path: Path) -> dict[tuple[str, int], dict[str, str]]:
    with csv_path.open(newline="", encoding="utf-8") as file:
        return {(row["student"], int(row["exercise"])): row for row in csv.DictReader(file)}


EXPECTED = [  # (student, exercise, status, mistakes, what the error column says)
    ("alice", 1, "passed", "", ""),
    ("alice", 4, "passed", "", ""),
    ("alice", 2, "no notebook", "", ""),
    ("bob", 1, "hints", "1", ""),
    ("bob", 4, "hints", "8", ""),
    ("bob", 6, "not attempted", "", ""),
    ("carol", 1, "error", "", "raised SyntaxError"),
    ("carol", 4, "timed out", "", f"did not finish within {TEST_SECONDS:g} s"),
    ("carol", 6, "kernel died", "", "the kernel died in cell"),
    ("dave", 3, "no notebook", "", ""),
]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("student", "exercise", "status", "mistakes", "error"),
    EXPECTED,
    ids=[f"{s}-exercise{n}-{status.replace(' ', '-')}" for s, n, status, _, _ in EXPECTED],
)
def test_each_notebook_gets_its_row(
    graded: tuple[Path, Path, dict[str, str], str], student: str, exercise: int, status: str, mistakes: str, error: str
) -> None:
    row = read_rows(graded[1])[student, exercise]
    assert row["status"] == status, row
    assert row["mistakes"] == mistakes, row
    assert error in row["error"], row
    assert (row["passed"], row["attempted"]) == (
        str(status == "passed"), str(status in ("passed", "hints"))
    ), row  # fmt: skip
    if status == "hints":
        assert int(row["hints"]) == len(row["hint_texts"].splitlines()) >= 1
        assert f"Mistake {mistakes} (" in row["hint_texts"]
    if status != "no notebook":
        assert 0 < float(row["seconds"]) < TEST_SECONDS + 15, row


@pytest.mark.slow
def test_the_csv_has_one_row_per_student_and_exercise(graded: tuple[Path, Path, dict[str, str], str]) -> None:
    with graded[1].open(newline="", encoding="utf-8") as file:
        reader = csv.DictReader(file)
        rows = list(reader)
    assert tuple(reader.fieldnames or ()) == COLUMNS
    assert [(r["student"], r["exercise"]) for r in rows] == [
        (s, str(n)) for s in ("alice", "bob", "carol", "dave") for n in range(1, 7)
    ]
    assert read_rows(graded[1])["alice", 4]["notebook"] == "week 3/costs.ipynb"  # the checkpoint copy is not graded


@pytest.mark.slow
def test_nothing_is_written_into_the_submissions(graded: tuple[Path, Path, dict[str, str], str]) -> None:
    submissions, _, before, _ = graded
    assert tree_state(submissions) == before


@pytest.mark.slow
def test_the_report_says_who_passed_what_and_what_did_not_run(graded: tuple[Path, Path, dict[str, str], str]) -> None:
    _, out, _, printed = graded
    report, chart = report_paths(out)
    text = report.read_text(encoding="utf-8")
    assert "| alice | passed | · | · | passed | · | · | 2 of 6 |" in text
    assert "| bob | 1 hint | · | · | 1 hint | · | not attempted | 0 of 6 |" in text
    assert "| carol | **error** | · | · | **timed out** | · | **kernel died** | 0 of 6 |" in text
    assert "| **passed** | **1 of 4** |" in text
    assert f"![Answers naming each catalogue mistake]({chart.name})" in text
    assert "| 1 · one path module called C times" in text and "| 8 · a convolution bias" in text
    assert "carol, exercise 1 (`e1.ipynb`): error: cell 5 ('class FormA(nn.Module)') raised SyntaxError" in text
    assert "carol, `notes.ipynb`: not a notebook nbformat can read" in text
    assert chart.read_bytes().startswith(b"\x89PNG")
    assert all(str(path) in printed for path in (out, report, chart))  # the command prints what it wrote


@pytest.mark.slow
def test_the_executed_notebooks_are_kept_where_asked(graded: tuple[Path, Path, dict[str, str], str]) -> None:
    executed = graded[1].parent.parent / "executed"
    notebook = nbformat.read(executed / "bob" / "e1.ipynb", as_version=4)
    printed = "".join(o.get("text", "") for c in notebook.cells if c.cell_type == "code" for o in c.outputs)
    assert "Mistake 1 (one path module called C times" in printed


@pytest.mark.slow
def test_grade_class_returns_the_rows(tmp_path: Path) -> None:
    """The function behind the command: one student, a notebook that passes (and tries the network), one no exercise."""
    path = handed_in(6, solution(6), tmp_path / "erin" / "two ways.ipynb")
    notebook = nbformat.read(path, as_version=4)
    online = "import urllib.request\nurllib.request.urlopen('http://example.com', timeout=30)"
    notebook.cells.insert(2, nbformat.v4.new_code_cell(online))
    nbformat.write(notebook, path)
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1 + 1")]), tmp_path / "erin" / "x.ipynb")
    grades = grade_class(tmp_path, seconds=TEST_SECONDS, progress=False)
    assert [(row.exercise, row.status) for row in grades.rows] == [
        (1, "no notebook"), (2, "no notebook"), (3, "no notebook"), (4, "no notebook"), (5, "no notebook"),
        (6, "passed"),
    ]  # fmt: skip
    # offline: the connection is refused at once, and the cells after it still run
    assert "raised URLError: <urlopen error [Errno -2] this notebook is graded offline" in grades.rows[5].error
    assert grades.rows[5].seconds < TEST_SECONDS / 2
    assert grades.unmatched == [("erin", "x.ipynb", "it calls no exercise's check and has no '# Exercise N' title")]


# ------------------------------------------------------------------------------------------ fast: no notebook runs


@pytest.mark.parametrize("exercise", NOTEBOOKS, ids=lambda n: NOTEBOOKS[n].stem)
def test_each_exercise_notebook_is_identified_by_what_it_holds(exercise: int) -> None:
    assert identify(nbformat.read(NOTEBOOKS[exercise], as_version=4)) == exercise


def _notebook(*cells: tuple[str, str]) -> nbformat.NotebookNode:
    make = {"code": nbformat.v4.new_code_cell, "markdown": nbformat.v4.new_markdown_cell}
    return nbformat.v4.new_notebook(cells=[make[kind](source) for kind, source in cells])


@pytest.mark.parametrize(
    ("cells", "exercise"),
    [
        ((("code", "r = exercises.grade(3, path_tensors, to_form_a)"),), 3),
        ((("code", "from blocks.exercises import check_costs\ncheck_costs(mine)"),), 4),
        ((("code", "exercises.GRADERS[6](a, b)"),), 6),
        ((("code", "# grade_form_a(FormA)"), ("markdown", "## Exercise 2 · form (b)")), 2),
        ((("code", "grade_form_a(A)\ngrade_form_b(B)"), ("markdown", "# Exercise 2")), 2),
        ((("code", "grade_form_a(A)\ngrade_form_b(B)"),), None),
        ((("code", "print('hello')"), ("markdown", "# My homework")), None),
    ],
    ids=["numbered-call", "old-name", "graders-table", "title-only", "two-calls-and-a-title", "two-calls", "nothing"],
)
def test_a_notebook_is_matched_by_its_check_call_or_its_title(
    cells: tuple[tuple[str, str], ...], exercise: int | None
) -> None:
    assert identify(_notebook(*cells)) == exercise


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda root: root / "missing", "does not exist"),
        (lambda root: root / "file.txt", "is a file"),
        (lambda root: root / "empty", "holds no student folder with a notebook (0 folder(s)"),
        (lambda root: root / "no-notebooks", "holds no student folder with a notebook (1 folder(s)"),
    ],
    ids=["missing", "a-file", "empty", "students-without-notebooks"],
)
def test_a_missing_or_empty_submissions_folder_is_a_usage_error(
    tmp_path: Path, make: Callable[[Path], Path], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "file.txt").write_text("x")
    (tmp_path / "empty").mkdir()
    (tmp_path / "no-notebooks" / "frank").mkdir(parents=True)
    submissions = make(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        main(["grade", str(submissions), "--out", str(tmp_path / "grades.csv")])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "grades.csv").exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--out", "{root}"], "--out must be a file, but"),
        (["--out", "{root}/blocker/grades.csv"], "--out: cannot make the folder"),
        (["--timeout", "0"], "--timeout must be a positive number of seconds, got 0"),
        (["--jobs", "0"], "--jobs must be a positive int, got 0"),
    ],
    ids=["out-is-a-folder", "out-under-a-file", "timeout", "jobs"],
)
def test_a_bad_out_or_number_is_a_usage_error_before_any_notebook_runs(
    tmp_path: Path, argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "blocker").write_text("a file where a folder would be")
    handed_in(4, solution(4), tmp_path / "class" / "gina" / "e4.ipynb")
    with pytest.raises(SystemExit) as exit_info:
        main(["grade", str(tmp_path / "class"), *[a.format(root=tmp_path) for a in argv]])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_a_check_appends_its_result_to_the_log_the_variable_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "results.jsonl"
    monkeypatch.setenv(feedback.RESULT_LOG, str(log))
    namespace: dict[str, object] = {}
    exec(solution(4), namespace)
    grade(4, namespace["block_cost"])
    grade(4, lambda spec, size: (1, 2))
    first, second = (json.loads(line) for line in log.read_text().splitlines())
    assert (first["exercise"], first["passed"], first["hints"]) == (4, True, [])
    assert (second["exercise"], second["passed"], len(second["hints"])) == (4, False, 1)


def test_a_log_that_cannot_be_written_leaves_the_verdict(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(feedback.RESULT_LOG, str(tmp_path / "no such folder" / "log.jsonl"))
    assert not grade(4, lambda spec, size: (1, 2)).passed
    assert f"{feedback.RESULT_LOG}: cannot append the result" in capsys.readouterr().err


def _grades() -> Grades:
    rows = [
        Row("ann", n, f"e{n}.ipynb", "passed", True, True, seconds=3.0) if n != 2 else
        Row("ann", 2, "b.ipynb", "hints", True, False, ("Mistake 3 (groups=C ...): ...",) * 2, (3, 11), 4.0)
        for n in range(1, 7)
    ]  # fmt: skip
    rows += [Row("ben | co", n) for n in range(1, 7)]
    return Grades(rows, [("ben | co", "scratch.ipynb", "no check")], seconds=12.0, limit=60.0)


def test_the_report_renders_the_table_and_the_mistakes() -> None:
    text = render_report(_grades(), "grades.csv", "grades-mistakes.png")
    assert "| ann | passed | 2 hints | passed | passed | passed | passed | 5 of 6 |" in text
    assert "| ben \\| co | · | · | · | · | · | · | 0 of 6 |" in text  # a | in a name does not break the table
    assert "| 3 · groups=C on the first 1x1 as well as on the 3x3 | 1 | ann |" in text
    assert "- ben \\| co, `scratch.ipynb`: no check" in text
    assert "Graded 7 notebooks in 12 s" in text and "limit of 60 s per notebook" in text


def test_the_mistakes_chart_is_byte_reproducible_with_readable_text(tmp_path: Path) -> None:
    counts, titles = {1: 4, 8: 2, 11: 2}, {1: "one path", 8: "a bias", 11: "another group's channels"}
    written = [save_figure(mistakes_figure(counts, titles, answers=9), tmp_path / str(i), "c", ("png",))[0]
               for i in range(2)]  # fmt: skip
    assert written[0].read_bytes() == written[1].read_bytes()
    fig = mistakes_figure(counts, titles, answers=9)
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels == ["1 · one path", "8 · a bias", "11 · another group's channels"]  # most made first, then by number
    sizes = [t.get_fontsize() for t in fig.findobj(lambda a: hasattr(a, "get_fontsize")) if t.get_text()]
    assert min(sizes) >= MIN_FONT_PT


def test_a_class_without_mistakes_gets_a_chart_that_says_so() -> None:
    fig = mistakes_figure({}, {})
    assert [t.get_text() for t in fig.texts + fig.axes[0].texts] == ["No hint named a catalogue mistake."]


def test_grade_help_says_what_is_written_where_and_imports_no_library() -> None:
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "blocks", "grade", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    imported = {
        line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines() if line.startswith("import time:")
    }
    assert "blocks.cli.grade" in imported
    assert not [
        m for m in imported if m.split(".")[0] in ("torch", "matplotlib", "nbclient") or m == "blocks.exercises"
    ]
    help_text = " ".join(result.stdout.split())
    assert "one row per student and exercise" in help_text and "-mistakes.png" in help_text


def test_grading_needs_a_positive_time_limit(tmp_path: Path) -> None:
    handed_in(4, solution(4), tmp_path / "hana" / "e4.ipynb")
    with pytest.raises(ValueError, match="seconds must be a positive number, got 0"):
        grade_class(tmp_path, seconds=0)


# ------------------------------------------------------------------------------------------ nbgrader


def _nbgrader(course: Path, *args: str) -> str:
    """Run ``nbgrader ARGS`` in ``course`` with this Python (and its alembic on PATH); its log on failure."""
    env = {
        **os.environ,
        "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""),
        "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
        "OMP_NUM_THREADS": "1",
    }
    done = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course, env=env, capture_output=True,
                          text=True)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


@pytest.mark.slow
def test_the_source_assignment_hides_every_solution_in_its_release(tmp_path: Path) -> None:
    pytest.importorskip("nbgrader")
    course = tmp_path / "course"
    written = write_source_assignment(course)
    assert [p.name for p in written] == [path.name for path in NOTEBOOKS.values()]
    _nbgrader(course, "generate_assignment", ASSIGNMENT, "--force")
    for number, path in NOTEBOOKS.items():
        source = nbformat.read(course / "source" / ASSIGNMENT / path.name, as_version=4)
        release = nbformat.read(course / "release" / ASSIGNMENT / path.name, as_version=4)
        graded = {c.metadata["nbgrader"]["grade_id"]: c for c in release.cells if "nbgrader" in c.metadata}
        assert set(graded) == {f"answer-e{number}", f"check-e{number}"}
        answer, check = graded[f"answer-e{number}"], graded[f"check-e{number}"]
        stub = answer_cell(nbformat.read(path, as_version=4)).source
        solved = [line for line in solution(number).splitlines() if len(line.strip()) > 16 and line not in stub]
        assert solved and all(line in answer_cell(source).source for line in solved)  # the source holds it
        assert answer.source.startswith(stub) and CODE_STUB in answer.source  # the release, the stub as it is
        assert not [line for line in solved if line in answer.source] and "SOLUTION" not in answer.source
        assert check.metadata["nbgrader"]["points"] == 10 and check.metadata["nbgrader"]["locked"]
        assert "assert result.passed" in check.source and identify(release) == number


@pytest.mark.parametrize(
    ("arguments", "message"),
    [({"exercises": [7]}, "exercises must be among"), ({"points": 0}, "points must be a positive number, got 0")],
    ids=["exercise-7", "no-points"],
)
def test_a_source_assignment_of_unknown_exercises_or_no_points_is_refused(
    tmp_path: Path, arguments: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        write_source_assignment(tmp_path, **arguments)  # type: ignore[arg-type]


@pytest.mark.slow
def test_nbgrader_autogrades_a_right_and_a_wrong_student_into_its_gradebook(tmp_path: Path) -> None:
    pytest.importorskip("nbgrader")
    from nbgrader.api import Gradebook

    course = tmp_path / "course"
    write_source_assignment(course, exercises=(1, 4))
    _nbgrader(course, "generate_assignment", ASSIGNMENT, "--force")
    answers = {"alice": {1: solution(1), 4: solution(4)}, "bob": {1: BOB_FORM_A, 4: BOB_COSTS}}
    for student, theirs in answers.items():
        for number, code in theirs.items():
            notebook = nbformat.read(course / "release" / ASSIGNMENT / NOTEBOOKS[number].name, as_version=4)
            next(c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("solution")).source = code
            out = course / "submitted" / student / ASSIGNMENT / NOTEBOOKS[number].name
            out.parent.mkdir(parents=True, exist_ok=True)
            nbformat.write(notebook, out)
    _nbgrader(course, "autograde", ASSIGNMENT)
    _nbgrader(course, "generate_feedback", ASSIGNMENT)
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        scores = {
            student: {n.name: (n.score, n.max_score) for n in gradebook.find_submission(ASSIGNMENT, student).notebooks}
            for student in answers
        }
    assert scores == {
        "alice": {"e1_form_a": (10.0, 10.0), "e4_closed_form_costs": (10.0, 10.0)},
        "bob": {"e1_form_a": (0.0, 10.0), "e4_closed_form_costs": (0.0, 10.0)},
    }
    feedback = (course / "feedback" / "bob" / ASSIGNMENT / "e1_form_a.html").read_text()
    assert "Mistake 1 (one path module called C times" in feedback  # the check's hint reaches the student
    assert (
        "Mistake 8 (a convolution bias"
        in (course / "feedback" / "bob" / ASSIGNMENT / "e4_closed_form_costs.html").read_text()
    )
