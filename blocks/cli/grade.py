"""``python -m blocks grade``: run a class's exercise notebooks, write the grades (:mod:`blocks.exercises.grading`)."""

from __future__ import annotations

import argparse

from blocks.cli._common import usage_errors

NAME = "grade"
HELP = "run a class's exercise notebooks from clean kernels; write OUT (CSV), OUT's .md report and -mistakes.png"
DESCRIPTION = (
    "Grade a class: SUBMISSIONS holds one folder per student (its name is the student's), each with any of the"
    " six exercise notebooks under any file names (a notebook is matched to its exercise by the check it calls"
    " or its '# Exercise N' title). Every notebook runs in a temporary copy of its student's folder (nothing is"
    " written into SUBMISSIONS), from a clean kernel of this Python, offline, under --timeout seconds. Writes"
    " --out, a CSV with one row per student and exercise (student, exercise, notebook, status, attempted,"
    " passed, hints: their count, mistakes: the catalogue numbers they name, seconds, error: why a notebook"
    " gave no verdict, hint_texts); beside it the same name with .md, a Markdown report (who passed what,"
    " the mistakes most made, what did not run), and NAME-mistakes.png, the bar chart of those mistakes."
    " With --executed, every executed notebook too. Needs nbclient: pip install 'blocks[grading]'."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """SUBMISSIONS, --out, --timeout, --jobs, --executed, --no-progress."""
    parser.add_argument("submissions", metavar="SUBMISSIONS", help="folder holding one folder per student")
    parser.add_argument(
        "--out",
        default="grades.csv",
        help="the CSV to write; the report (.md) and the chart (-mistakes.png) go beside it (default grades.csv)",
    )
    parser.add_argument(
        "--timeout", type=float, default=120.0, help="seconds one notebook may run, kernel start included (default 120)"
    )
    parser.add_argument("--jobs", type=int, default=1, help="notebooks run at once, one kernel each (default 1)")
    parser.add_argument(
        "--executed", metavar="FOLDER", help="also write every executed notebook as FOLDER/<student>/<notebook>"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")


def run(args: argparse.Namespace) -> int:
    """Check SUBMISSIONS, --out and the numbers before any notebook runs; grade; print each file written."""
    from blocks.exercises.grading import grade_and_report, require_nbclient, student_folders
    from blocks.util.checks import writable_file, writable_folder

    with usage_errors(args.parser, ModuleNotFoundError):
        if not args.timeout > 0:
            raise ValueError(f"--timeout must be a positive number of seconds, got {args.timeout:g}")
        if args.jobs < 1:
            raise ValueError(f"--jobs must be a positive int, got {args.jobs}")
        writable_file("--out", args.out)
        if args.executed is not None:
            writable_folder("--executed", args.executed)
        student_folders(args.submissions)
        require_nbclient()
    grades = grade_and_report(
        args.submissions,
        args.out,
        seconds=args.timeout,
        jobs=args.jobs,
        executed=args.executed,
        progress=not args.no_progress,
        on_done=print,
    )
    passed = sum(row.passed for row in grades.rows)
    print(
        f"{len(grades.students)} students, {passed} of {len(grades.rows)} exercises passed,"
        f" graded in {grades.seconds:.0f} s"
    )
    return 0
