"""Write the six exercises as an nbgrader source assignment into a course folder (blocks.exercises.assignment).

    python tools/nbgrader_assignment.py COURSE [--assignment NAME] [--exercises 1,2,3] [--points 10]

writes COURSE/source/NAME/e*.ipynb (default NAME: resnext-exercises), each with its answer cell
(the stub, and the solution between ### BEGIN/END SOLUTION) and its autograder-test cell (the
check, then ``assert result.passed``, worth --points), and COURSE/nbgrader_config.py if there is
none. Then, in COURSE: ``nbgrader generate_assignment NAME``; students' submissions go to
COURSE/submitted/<student>/NAME/; ``nbgrader autograde NAME``; ``nbgrader generate_feedback NAME``.
See docs/teachers.md, "Grading a class". Needs ``pip install "blocks[grading]"``.
"""

from __future__ import annotations

import argparse
import sys

from blocks.exercises.assignment import ASSIGNMENT, POINTS, write_source_assignment


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("course", metavar="COURSE", help="the nbgrader course folder (made if missing)")
    parser.add_argument("--assignment", default=ASSIGNMENT, help=f"the assignment's name (default {ASSIGNMENT})")
    parser.add_argument("--exercises", default="1,2,3,4,5,6", help="comma-separated, among 1 to 6 (default all)")
    parser.add_argument("--points", type=float, default=POINTS, help=f"points of each passed check (default {POINTS})")
    args = parser.parse_args(argv)
    try:
        exercises = [int(n) for n in args.exercises.split(",")]
        paths = write_source_assignment(args.course, assignment=args.assignment, exercises=exercises,
                                        points=args.points)  # fmt: skip
    except ValueError as error:
        parser.error(str(error))
    for path in paths:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
