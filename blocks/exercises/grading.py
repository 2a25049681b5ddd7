"""Grading a class: every student's exercise notebooks run from a clean kernel, one CSV row per student and exercise.

``python -m blocks grade SUBMISSIONS --out grades.csv`` (:mod:`blocks.cli.grade`) is
:func:`grade_class`, then :func:`write_csv` and :func:`write_report`.

SUBMISSIONS holds one folder per student (the folder's name is the student's), each with any of
the six exercise notebooks, under any file names and at any depth. A notebook is matched to its
exercise by what it holds, never by its file name (:func:`identify`): the check it calls
(``grade_form_a(``, ``check_costs(``, ``exercises.grade(4, ...``), else its title
(``# Exercise 3 · ...``), else the one exercise whose check it ran.

Every notebook is executed with nbclient:

* from a clean kernel of the grader's own Python, importing the grader's ``blocks``, with a fresh
  IPython configuration (no startup files, no profile of the teacher's);
* in a temporary copy of the student's folder, its working directory: nothing is written into
  SUBMISSIONS;
* offline: a connection to any host but this one is refused at once, and pip has no index;
* under a time limit for the whole notebook, kernel start included (:data:`NOTEBOOK_SECONDS`);
* every cell, even after one raises (as nbgrader's autograder runs them): an error in a cell
  that explores does not sink the check after it.

The verdict is not parsed from what the notebook prints: every check appends its
:class:`~blocks.exercises.feedback.Result` as a line of JSON to the file that the environment
variable ``BLOCKS_RESULT_LOG`` (:data:`blocks.exercises.feedback.RESULT_LOG`) names, which the
grader sets for each kernel. The last check of the notebook's exercise counts. A notebook that
fails to run (a syntax error before the check, a kernel that dies, a time limit reached) is a row
whose ``status`` and ``error`` say why; it never stops the grading of the others.

Example:
    >>> grades = grade_class("submissions", seconds=120)
    >>> write_csv(grades.rows, "grades.csv")
    >>> write_report(grades, "grades.csv")   # grades.md and grades-mistakes.png beside it
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import json
import os
import re
import shutil
import sys
import tempfile
import textwrap
import time
from collections import Counter
from collections.abc import Callable, Coroutine, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from matplotlib.figure import Figure
from tqdm import tqdm

import blocks
from blocks.dataflow.mistakes import CATALOGUE
from blocks.exercises.feedback import RESULT_LOG
from blocks.figures.style import PALETTE, new_figure, save_figure, styled, text_pt, title_pt
from blocks.util.checks import writable_file

if TYPE_CHECKING:
    from nbformat import NotebookNode

_T = TypeVar("_T")
NOTEBOOK_SECONDS = 120.0  # many times what an exercise notebook takes (docs/teachers.md, 'Grading a class')
EXERCISES = (1, 2, 3, 4, 5, 6)
# The CSV's columns. hints: HOW MANY hints the check gave; mistakes: the catalogue numbers they name;
# hint_texts: the hints themselves, one per line.
COLUMNS = (
    "student", "exercise", "notebook", "status", "attempted", "passed", "hints", "mistakes", "seconds", "error",
    "hint_texts",
)  # fmt: skip
# What a row's status says (the error column says more for the last four).
PASSED, HINTS, NOT_ATTEMPTED = "passed", "hints", "not attempted"
ERROR, TIMED_OUT, KERNEL_DIED, NO_CHECK, UNREADABLE, NO_NOTEBOOK = (
    "error", "timed out", "kernel died", "no check", "unreadable", "no notebook",
)  # fmt: skip
_NAMES = {"form_a": 1, "form_b": 2, "slicing": 3, "costs": 4, "mystery_blocks": 5, "grouped_conv": 6}
_NAMED_CALL = re.compile(r"\b(?:grade|check)_(" + "|".join(_NAMES) + r")\s*\(")
_NUMBERED_CALL = re.compile(r"\b(?:grade|check)\s*\(\s*([1-6])\s*[,)]|\b(?:GRADERS|CHECKS)\s*\[\s*([1-6])\s*\]")
_TITLE = re.compile(r"^\s*#+\s*Exercise\s+([1-6])\b", re.IGNORECASE | re.MULTILINE)
_KERNEL = "blocks-grading"  # the kernel spec the grader writes: its own Python
# Run by the kernel before any cell (an IPython startup file): no connection leaves this machine.
_OFFLINE = """\
def _blocks_grading_offline():
    import ipaddress
    import socket

    def local(address):
        if not isinstance(address, tuple):  # a Unix socket's path
            return True
        host = str(address[0]).split("%")[0]
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return host == "localhost"

    def refuse(host):
        return OSError(f"this notebook is graded offline: no connection to {host!r}")

    connect, connect_ex, getaddrinfo = socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo

    def offline_connect(self, address):
        if not local(address):
            raise refuse(address[0])
        return connect(self, address)

    def offline_connect_ex(self, address):
        if not local(address):
            raise refuse(address[0])
        return connect_ex(self, address)

    def offline_getaddrinfo(host, *args, **kwargs):
        if host is not None and not local((host.decode() if isinstance(host, bytes) else host, 0)):
            raise socket.gaierror(socket.EAI_NONAME, f"this notebook is graded offline: {host!r} is not looked up")
        return getaddrinfo(host, *args, **kwargs)

    socket.socket.connect, socket.socket.connect_ex = offline_connect, offline_connect_ex
    socket.getaddrinfo = offline_getaddrinfo


_blocks_grading_offline()
del _blocks_grading_offline
"""


@dataclass(frozen=True)
class Row:
    """One student's grade for one exercise: a row of the CSV.

    Attributes:
        student: the name of the student's folder.
        exercise: 1 to 6.
        notebook: the notebook graded, relative to the student's folder ("" when there is none).
        status: passed, hints, not attempted (the check's verdict), or why there is none: error
            (a cell raised before the check could run), timed out, kernel died, no check (it ran,
            but no check of its exercise), unreadable (not a notebook), no notebook.
        attempted: the check's ``attempted`` (False without a verdict).
        passed: the check's ``passed`` (False without a verdict).
        hints: the hint texts (their count is the CSV's ``hints``).
        mistakes: the catalogue mistakes the hints name (:attr:`Result.mistakes`).
        seconds: how long the notebook ran, kernel start included (0 without a notebook).
        error: what went wrong in the run, if anything (also where a verdict was reached before it):
            the first cell that raised, the time limit, the kernel's last words.
    """

    student: str
    exercise: int
    notebook: str = ""
    status: str = NO_NOTEBOOK
    attempted: bool = False
    passed: bool = False
    hints: tuple[str, ...] = ()
    mistakes: tuple[int, ...] = ()
    seconds: float = 0.0
    error: str = ""

    def csv_row(self) -> dict[str, str]:
        """The row as the CSV writes it: hints as their count, mistakes space-separated, hint texts one per line."""
        return {
            "student": self.student,
            "exercise": str(self.exercise),
            "notebook": self.notebook,
            "status": self.status,
            "attempted": str(self.attempted),
            "passed": str(self.passed),
            "hints": str(len(self.hints)),
            "mistakes": " ".join(map(str, self.mistakes)),
            "seconds": f"{self.seconds:.1f}",
            "error": self.error,
            "hint_texts": "\n".join(self.hints),
        }


@dataclass(frozen=True)
class Grades:
    """A class graded: the rows, the notebooks no exercise was found for, and how long it took.

    Attributes:
        rows: one per student and exercise, students in name order, exercises 1 to 6.
        unmatched: (student, notebook, why) for each notebook not matched to an exercise.
        seconds: the whole grading's wall-clock time.
        limit: the time limit per notebook, in seconds.
    """

    rows: list[Row]
    unmatched: list[tuple[str, str, str]] = field(default_factory=list)
    seconds: float = 0.0
    limit: float = NOTEBOOK_SECONDS

    @property
    def students(self) -> list[str]:
        """The students, in the order of the rows."""
        return list(dict.fromkeys(row.student for row in self.rows))


@dataclass
class _Run:
    """What one notebook's run left: the checks' Results (as JSON objects), its time, and what went wrong."""

    results: list[dict[str, Any]]
    seconds: float
    status: str = ""  # "" if it ran to its end, else ERROR/TIMED_OUT/KERNEL_DIED/UNREADABLE
    error: str = ""  # why; for a notebook that ran to its end, the first cell that raised
    executed: NotebookNode | None = None


def student_folders(submissions: str | os.PathLike[str]) -> dict[str, list[Path]]:
    """The students of SUBMISSIONS and their notebooks: one folder per student, notebooks at any depth.

    Hidden folders, ``.ipynb_checkpoints`` and ``__MACOSX`` are skipped; a notebook lying at the top of
    SUBMISSIONS belongs to no student and is left out.

    Args:
        submissions: the folder.

    Returns:
        ``{student: [notebook, ...]}``, students and notebooks in name order (a student may have none).

    Raises:
        ValueError: ``submissions`` does not exist, is not a folder, or holds no student folder with a notebook.
    """
    folder = Path(submissions)
    if not folder.exists():
        raise ValueError(f"SUBMISSIONS must be a folder of student folders, but {str(folder)!r} does not exist")
    if not folder.is_dir():
        raise ValueError(f"SUBMISSIONS must be a folder of student folders, but {str(folder)!r} is a file")
    students = {
        student.name: sorted(p for p in student.rglob("*.ipynb") if p.is_file() and not _skipped(p, student))
        for student in sorted(folder.iterdir())
        if student.is_dir() and not _hidden(student.name)
    }
    if not any(students.values()):
        raise ValueError(
            f"SUBMISSIONS {str(folder)!r} holds no student folder with a notebook"
            f" ({len(students)} folder(s), no .ipynb file in any): it must hold one folder per student"
        )
    return students


def _hidden(name: str) -> bool:
    return name.startswith(".") or name == "__MACOSX"


def _skipped(path: Path, student: Path) -> bool:
    return any(_hidden(part) for part in path.relative_to(student).parts)


def identify(notebook: NotebookNode) -> int | None:
    """The exercise a notebook is for, from what it holds: the check it calls, else its title; None if neither says.

    A check call counts in a code cell that is not commented out: ``grade_form_a(``, the old ``check_costs(``,
    ``exercises.grade(4, ...)``. The title counts in a markdown cell: ``# Exercise 3 · ...``. A notebook calling
    the checks of several exercises is the one its title names.

    Example:
        >>> identify(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("grade_costs(block_cost)")]))
        4
    """
    calls: set[int] = set()
    titles: set[int] = set()
    for cell in notebook.get("cells", []):
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else str(source)
        if cell.get("cell_type") == "code":
            code = "\n".join(line for line in source.splitlines() if not line.lstrip().startswith("#"))
            calls.update(_NAMES[name] for name in _NAMED_CALL.findall(code))
            calls.update(int(a or b) for a, b in _NUMBERED_CALL.findall(code))
        elif cell.get("cell_type") == "markdown":
            titles.update(int(number) for number in _TITLE.findall(source))
    for found in (calls, titles, calls & titles):
        if len(found) == 1:
            return next(iter(found))
    return None


def grade_class(
    submissions: str | os.PathLike[str],
    *,
    seconds: float = NOTEBOOK_SECONDS,
    jobs: int = 1,
    executed: str | os.PathLike[str] | None = None,
    progress: bool = True,
) -> Grades:
    """Run every student's exercise notebooks and grade them: one row per student and exercise.

    Args:
        submissions: one folder per student, each holding any of the six exercise notebooks
            (:func:`student_folders`).
        seconds: the time limit of one notebook, kernel start included.
        jobs: how many notebooks run at once (one kernel each).
        executed: a folder to write every executed notebook into, as ``executed/<student>/<notebook>``
            (outputs and errors included); None writes none.
        progress: show a progress bar over the students (on stderr).

    Returns:
        The :class:`Grades`. Where a student handed in several notebooks for one exercise, the best
        verdict counts (passed, then attempted with the fewest hints, then any verdict).

    Raises:
        ValueError: ``submissions`` is not a folder of student folders with notebooks, ``seconds`` is not a
            positive number or ``jobs`` not a positive int.
        ModuleNotFoundError: nbclient is not installed (``pip install "blocks[grading]"``).
    """
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not seconds > 0:
        raise ValueError(f"seconds must be a positive number, got {seconds!r}")
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs must be a positive int, got {jobs!r}")
    students = student_folders(submissions)
    require_nbclient()
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="blocks-grade-") as scratch:
        work = Path(scratch)
        _write_kernel(work)
        runs = _run_to_end(_run_all(students, Path(submissions), work, float(seconds), jobs, progress))
    rows: list[Row] = []
    unmatched: list[tuple[str, str, str]] = []
    for student, notebooks in students.items():
        graded: dict[int, list[Row]] = {}
        for path in notebooks:
            name = path.relative_to(Path(submissions) / student).as_posix()
            run = runs[student, name]
            if executed is not None and run.executed is not None:
                _write_executed(run.executed, Path(executed) / student / name)
            exercise = identify(run.executed) if run.executed is not None else None
            exercise = exercise or _only_exercise_run(run)
            if exercise is None:
                why = run.error or "it calls no exercise's check and has no '# Exercise N' title"
                unmatched.append((student, name, why))
                continue
            graded.setdefault(exercise, []).append(_row(student, exercise, name, run))
        rows += [_best(graded.get(n, [])) or Row(student, n) for n in EXERCISES]
    return Grades(rows, unmatched, seconds=time.perf_counter() - start, limit=float(seconds))


def _run_to_end(coroutine: Coroutine[Any, Any, _T]) -> _T:
    """Run ``coroutine`` to its end, also from a notebook (whose event loop runs already: then in a thread)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with ThreadPoolExecutor(1) as thread:
        return thread.submit(asyncio.run, coroutine).result()


def require_nbclient() -> None:
    try:
        import nbclient  # noqa: F401
        import nbformat  # noqa: F401
    except ModuleNotFoundError as error:
        raise ModuleNotFoundError(
            f"grading a class runs the notebooks with nbclient, which is not installed ({error});"
            ' install it with: pip install "blocks[grading]"'
        ) from error


def _write_kernel(work: Path) -> None:
    """A kernel spec of the grader's own Python, and an IPython folder whose one startup file makes it offline."""
    kernel = work / "kernels" / _KERNEL
    kernel.mkdir(parents=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "blocks grading",
        "language": "python",
    }
    (kernel / "kernel.json").write_text(json.dumps(spec))
    startup = work / "ipython" / "profile_default" / "startup"
    startup.mkdir(parents=True)
    (startup / "00-offline.py").write_text(_OFFLINE)


async def _run_all(
    students: Mapping[str, list[Path]], submissions: Path, work: Path, seconds: float, jobs: int, progress: bool
) -> dict[tuple[str, str], _Run]:
    """Run every notebook, ``jobs`` at a time; the bar moves when a student's last notebook is done."""
    semaphore = asyncio.Semaphore(jobs)
    left = {student: len(notebooks) for student, notebooks in students.items()}
    runs: dict[tuple[str, str], _Run] = {}
    with tqdm(total=len(students), desc="grading", unit="student", disable=not progress, file=sys.stderr) as bar:
        bar.update(sum(1 for n in left.values() if n == 0))
        copies = {}
        for number, student in enumerate(students):  # a copy of each student's folder: SUBMISSIONS stays as it is
            copies[student] = work / "students" / str(number)
            shutil.copytree(submissions / student, copies[student], ignore=_ignore_hidden, symlinks=True)

        async def one(number: int, student: str, path: Path) -> None:
            name = path.relative_to(submissions / student).as_posix()
            async with semaphore:
                runs[student, name] = await _run_notebook(copies[student] / name, work, number, seconds)
            left[student] -= 1
            if left[student] == 0:
                bar.set_postfix_str(student, refresh=False)
                bar.update(1)

        tasks = [(student, path) for student, notebooks in students.items() for path in notebooks]
        await asyncio.gather(*(one(number, student, path) for number, (student, path) in enumerate(tasks)))
    return runs


def _ignore_hidden(folder: str, names: list[str]) -> list[str]:
    return [name for name in names if _hidden(name)]


async def _run_notebook(path: Path, work: Path, number: int, seconds: float) -> _Run:
    """Execute one notebook (the copy at ``path``) from a clean kernel within ``seconds``; what it left."""
    import nbformat
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager
    from nbclient import NotebookClient
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    start = time.monotonic()
    try:
        notebook = nbformat.read(path, as_version=4)
    except Exception as unreadable:  # any malformed file: a row that says so, never a crash
        why = f"{type(unreadable).__name__}: {_first_line(str(unreadable))}"
        return _Run([], 0.0, UNREADABLE, f"not a notebook nbformat can read ({why})")
    for cell in notebook.cells:  # a clean run: no outputs handed in count
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    log, stderr = work / f"results-{number}.jsonl", work / f"kernel-{number}.log"
    env = _kernel_environment(log, work)
    specs = KernelSpecManager(kernel_dirs=[str(work / "kernels")])
    manager = AsyncKernelManager(kernel_name=_KERNEL, kernel_spec_manager=specs)
    current = {"cell": -1}

    def cell_started(cell: NotebookNode, cell_index: int) -> None:
        current["cell"] = cell_index

    client = NotebookClient(
        notebook,
        km=manager,
        kernel_name=_KERNEL,
        timeout_func=lambda cell: max(0.1, seconds - (time.monotonic() - start)),
        startup_timeout=int(max(1, min(60, seconds))),
        allow_errors=True,
        shutdown_kernel="immediate",
        resources={"metadata": {"path": str(path.parent)}},
        on_cell_execute=cell_started,
    )
    status, error = "", ""
    with open(stderr, "wb") as kernel_output:
        try:
            await client.async_execute(env=env, stdout=kernel_output, stderr=kernel_output, cleanup_kc=True)
        except CellTimeoutError:
            status = TIMED_OUT
            error = f"did not finish within {seconds:g} s: stopped in {_cell_named(notebook, current['cell'])}"
        except DeadKernelError:
            status = KERNEL_DIED
            error = f"the kernel died in {_cell_named(notebook, current['cell'])}" + _last_words(stderr)
        except Exception as failure:  # a kernel that never starts, a broken notebook: a row, never a crash
            status, error = ERROR, f"could not run it ({type(failure).__name__}: {_first_line(str(failure))})"
        finally:
            if client.km is not None:  # what a failed start leaves (a started kernel is shut down by nbclient)
                await _shut_down(client)
    if not status:
        error = _first_error(notebook)
    return _Run(_read_results(log), time.monotonic() - start, status, error, notebook)


async def _shut_down(client: Any) -> None:
    with contextlib.suppress(Exception):  # best effort: the kernel may be gone already
        await client._async_cleanup_kernel()


def _kernel_environment(log: Path, work: Path) -> dict[str, str]:
    """The grader's environment, and: the results log, a fresh IPython folder, no pip index, this blocks first."""
    package_root = str(Path(blocks.__file__).resolve().parent.parent)
    path = os.environ.get("PYTHONPATH", "")
    return {
        **os.environ,
        RESULT_LOG: str(log),
        "IPYTHONDIR": str(work / "ipython"),
        "PYTHONPATH": package_root + (os.pathsep + path if path else ""),
        "PIP_NO_INDEX": "1",
        "MPLBACKEND": "Agg",
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),  # small tensors: one thread each is fastest
        "PYDEVD_DISABLE_FILE_VALIDATION": "1",
    }


def _read_results(log: Path) -> list[dict[str, Any]]:
    if not log.exists():
        return []
    results = []
    for line in log.read_text(encoding="utf-8").splitlines():
        try:
            results.append(json.loads(line))
        except json.JSONDecodeError:  # a line a student's own code wrote into the log
            continue
    return [r for r in results if isinstance(r, dict) and r.get("exercise") in EXERCISES]


def _first_error(notebook: NotebookNode) -> str:
    """The first cell that raised: its number, the error's type and message; "" if none did."""
    for index, cell in enumerate(notebook.cells):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                error = f"{output.get('ename')}: {_first_line(output.get('evalue', ''))}"
                return f"{_cell_named(notebook, index)} raised {error}"
    return ""


def _cell_named(notebook: NotebookNode, index: int) -> str:
    """A cell as a teacher finds it: its place in the notebook and its first line of code."""
    if not 0 <= index < len(notebook.cells):
        return "the kernel's start"
    lines = [line for line in str(notebook.cells[index].source).splitlines() if line.strip()]
    first = f" ({lines[0].strip()[:60]!r})" if lines else ""
    return f"cell {index + 1}{first}"


def _first_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[0] if lines else "no message"


def _last_words(stderr: Path) -> str:
    """The kernel's last line on stderr, if it said anything (a fatal error, a signal)."""
    lines = [line for line in stderr.read_text(errors="replace").splitlines() if line.strip()]
    lines = [line for line in lines if "running over TCP without encryption" not in line]
    return f" (its last words: {lines[-1].strip()[:200]!r})" if lines else ""


def _only_exercise_run(run: _Run) -> int | None:
    exercises = {result["exercise"] for result in run.results}
    return exercises.pop() if len(exercises) == 1 else None


def _row(student: str, exercise: int, notebook: str, run: _Run) -> Row:
    """The row of one notebook: the last verdict of its exercise's check, or why there is none."""
    verdicts = [result for result in run.results if result["exercise"] == exercise]
    if not verdicts:
        status = run.status or (ERROR if run.error else NO_CHECK)
        error = run.error or f"it ran to its end, but no check of exercise {exercise} ran"
        return Row(student, exercise, notebook, status, seconds=run.seconds, error=error)
    last = verdicts[-1]
    passed, attempted = bool(last.get("passed")), bool(last.get("attempted"))
    return Row(
        student,
        exercise,
        notebook,
        PASSED if passed else HINTS if attempted else NOT_ATTEMPTED,
        attempted=attempted,
        passed=passed,
        hints=tuple(str(h) for h in last.get("hints", [])),
        mistakes=tuple(int(m) for m in last.get("mistakes", [])),
        seconds=run.seconds,
        error=run.error + (" (after the check had run)" if run.status else ""),
    )


def _best(rows: list[Row]) -> Row | None:
    """Of one student's notebooks for one exercise, the best verdict: passed, attempted with fewest hints, any."""
    ranked = sorted(rows, key=lambda r: (not r.passed, not r.attempted, r.status not in (PASSED, HINTS,
                    NOT_ATTEMPTED), len(r.hints), r.notebook))  # fmt: skip
    return ranked[0] if ranked else None


def _write_executed(notebook: NotebookNode, path: Path) -> None:
    import nbformat

    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, path)


# ------------------------------------------------------------------------------------------ writing


def write_csv(rows: Sequence[Row], path: str | os.PathLike[str]) -> Path:
    """Write the rows as CSV (:data:`COLUMNS`; see :meth:`Row.csv_row`), making the folder if missing.

    Raises:
        ValueError: ``path`` cannot be written (:func:`blocks.util.checks.writable_file`).
    """
    out = writable_file("--out", path)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(row.csv_row() for row in rows)
    return out


def report_paths(csv_path: str | os.PathLike[str]) -> tuple[Path, Path]:
    """Where the report and its chart go, beside the CSV: ``grades.csv`` -> ``grades.md``, ``grades-mistakes.png``."""
    out = Path(csv_path)
    return out.with_suffix(".md"), out.with_name(f"{out.stem}-mistakes.png")


def mistake_counts(rows: Sequence[Row]) -> Counter[int]:
    """How many answers (a student's row for one exercise) name each catalogue mistake."""
    return Counter(mistake for row in rows for mistake in row.mistakes)


def write_report(grades: Grades, csv_path: str | os.PathLike[str]) -> tuple[Path, Path]:
    """Write the Markdown report and the chart of the class's mistakes beside the CSV (:func:`report_paths`).

    Returns:
        The report's path and the chart's.
    """
    report, chart = report_paths(csv_path)
    counts = mistake_counts(grades.rows)
    figure = mistakes_figure(
        dict(counts), {n: CATALOGUE[n].title for n in counts}, answers=sum(r.attempted for r in grades.rows)
    )
    save_figure(figure, chart.parent, chart.stem, formats=("png",))
    report.write_text(render_report(grades, Path(csv_path).name, chart.name), encoding="utf-8")
    return report, chart


_CELL = {PASSED: "passed", NOT_ATTEMPTED: "not attempted", NO_NOTEBOOK: "·"}


def render_report(grades: Grades, csv_name: str, chart_name: str) -> str:
    """The report in Markdown: who passed what (student x exercise), the mistakes most made, what did not run."""
    students = grades.students
    table = {(row.student, row.exercise): row for row in grades.rows}
    lines = [
        f"# Grades: {len(students)} students, exercises 1 to 6",
        "",
        f"One row per student and exercise in `{csv_name}`. In the table: *passed*; *N hints* (not yet);"
        " *not attempted* (the stub still raises NotImplementedError); *error*, *timed out*, *kernel died*,"
        " *no check* or *unreadable* when the notebook gave no verdict (why: below); · when no notebook was"
        " handed in.",
        "",
        "| student | " + " | ".join(str(n) for n in EXERCISES) + " | passed |",
        "|---|" + "---|" * len(EXERCISES) + "---:|",
    ]
    for student in students:
        cells = [_cell(table[student, n]) for n in EXERCISES]
        passed = sum(table[student, n].passed for n in EXERCISES)
        lines.append(f"| {_escape(student)} | " + " | ".join(cells) + f" | {passed} of {len(EXERCISES)} |")
    totals = [f"**{sum(table[s, n].passed for s in students)} of {len(students)}**" for n in EXERCISES]
    lines += ["| **passed** | " + " | ".join(totals) + " | |", ""]
    counts = mistake_counts(grades.rows)
    lines += ["## The mistakes the class made most", ""]
    if counts:
        lines += [
            f"![Answers naming each catalogue mistake]({chart_name})",
            "",
            "| mistake | answers | students |",
            "|---|---:|---|",
        ]
        for number, count in sorted(counts.items(), key=lambda item: (-item[1], item[0])):
            who = sorted({row.student for row in grades.rows if number in row.mistakes})
            lines.append(f"| {number} · {_escape(CATALOGUE[number].title)} | {count} | {_escape(', '.join(who))} |")
        lines.append("")
        lines.append("(notebooks/07_common_mistakes.ipynb has a section on each.)")
    else:
        lines.append(f"No hint named a catalogue mistake (the chart, [{chart_name}]({chart_name}), says so too).")
    problems = [row for row in grades.rows if row.error]
    if problems:
        lines += ["", "## Notebooks that gave no verdict, or raised an error", ""]
        lines += [
            f"- {_escape(row.student)}, exercise {row.exercise} (`{row.notebook}`): {row.status}: {_escape(row.error)}"
            for row in problems
        ]
    if grades.unmatched:
        lines += ["", "## Notebooks matched to no exercise", ""]
        lines += [f"- {_escape(student)}, `{name}`: {_escape(why)}" for student, name, why in grades.unmatched]
    notebooks = sum(bool(row.notebook) for row in grades.rows) + len(grades.unmatched)
    lines += [
        "",
        f"Graded {notebooks} notebooks in {grades.seconds:.0f} s, each from a clean kernel, offline, with a"
        f" limit of {grades.limit:g} s per notebook.",
        "",
    ]
    return "\n".join(lines)


def _cell(row: Row) -> str:
    if row.status == HINTS:
        return f"{len(row.hints)} hint" + ("s" if len(row.hints) != 1 else "")
    return _CELL.get(row.status, f"**{row.status}**")


def _escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


@styled
def mistakes_figure(counts: Mapping[int, int], titles: Mapping[int, str], *, answers: int = 0) -> Figure:
    """A bar chart of the catalogue mistakes a class made, most made first: how many answers name each.

    Args:
        counts: ``{mistake number: answers naming it}``.
        titles: ``{mistake number: its title}`` (the catalogue's, :data:`blocks.dataflow.mistakes.CATALOGUE`).
        answers: how many answers were graded (attempted), for the axis label; 0 leaves it out.

    Returns:
        The figure: one horizontal bar per mistake, its count at the end; a sentence if there is none.
    """
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    fig, ax = new_figure(figsize=(9, 1.2 + 0.62 * max(1, len(ordered))), layout="constrained")
    if not ordered:
        ax.set_axis_off()
        ax.text(0.5, 0.5, "No hint named a catalogue mistake.", ha="center", va="center", fontsize=title_pt())
        return fig
    labels = [_wrap(f"{number} · {titles.get(number, '')}") for number, _ in ordered]
    values = [count for _, count in ordered]
    positions = list(range(len(ordered)))
    ax.barh(positions, values, color=PALETTE[0], height=0.6)
    ax.set_yticks(positions, labels)
    ax.invert_yaxis()  # the most made on top
    for y, value in zip(positions, values):
        ax.annotate(f"{value}", (value, y), xytext=(4, 0), textcoords="offset points", va="center",
                    fontsize=text_pt())  # fmt: skip
    ax.set_xlim(0, max(values) * 1.15 + 0.5)
    ax.xaxis.get_major_locator().set_params(integer=True)
    of = f" (of {answers} attempted)" if answers else ""
    ax.set_xlabel(f"answers whose hints name the mistake{of}")
    ax.spines[["top", "right"]].set_visible(False)
    ax.set_title("The catalogue mistakes the class made most", fontsize=title_pt(), weight="bold", loc="left")
    return fig


def _wrap(text: str, width: int = 44) -> str:
    return "\n".join(textwrap.wrap(text, width))


# ------------------------------------------------------------------------------------------ for callers


def grade_and_report(
    submissions: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    seconds: float = NOTEBOOK_SECONDS,
    jobs: int = 1,
    executed: str | os.PathLike[str] | None = None,
    progress: bool = True,
    on_done: Callable[[Path], None] | None = None,
) -> Grades:
    """Grade a class and write the CSV, the report and its chart: what ``python -m blocks grade`` does.

    Args:
        submissions, seconds, jobs, executed, progress: as for :func:`grade_class`.
        out: the CSV; the report and chart go beside it (:func:`report_paths`).
        on_done: called with each file written (the command prints its path).

    Returns:
        The :class:`Grades`.

    Raises:
        ValueError: as :func:`grade_class`, or ``out`` cannot be written; both checked before any notebook runs.
    """
    writable_file("--out", out)
    student_folders(submissions)
    grades = grade_class(submissions, seconds=seconds, jobs=jobs, executed=executed, progress=progress)
    for path in (write_csv(grades.rows, out), *write_report(grades, out)):
        if on_done is not None:
            on_done(path)
    return grades
