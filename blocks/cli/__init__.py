"""Command line: ``python -m blocks [command]``. Without a command it runs ``prove``.

One module per command, in the order ``--help`` lists them::

    prove.py    how closely forms a, b, c of one block agree (the default)
    bench.py    time the forms; write the CSVs and the speed figures
    figures.py  draw the lecture figures
    tables.py   print the params and FLOPs tables
    train.py    train a small ResNeXt or ResNeXt-29 in one form
    grade.py    run a class's exercise notebooks and write the grades

Each is a :class:`~blocks.cli._common.Command`: its name and ``--help`` texts,
``add_arguments(parser)``, which imports nothing beyond argparse, and ``run(args)``,
which imports the library modules that the work needs. So ``python -m blocks --help``
and ``python -m blocks <command> --help`` import neither torch nor matplotlib.
"""

from __future__ import annotations

import argparse
import sys

from blocks.cli import bench, figures, grade, prove, tables, train
from blocks.cli._common import Command

# One module per command, in the order --help lists them.
COMMANDS: tuple[Command, ...] = (prove, bench, figures, tables, train, grade)


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``python -m blocks``: one subparser per command of :data:`COMMANDS`.

    Each subparser's defaults carry the command's ``run`` and the subparser itself (``args.run``,
    ``args.parser``), so that ``run`` reports a bad argument as a usage error of its own command.
    """
    parser = argparse.ArgumentParser(
        prog="python -m blocks",
        description="ResNeXt's three block forms (paper Figure 3) and the proof that they agree."
        " Without a command, runs 'prove'.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="command")
    for command in COMMANDS:
        subparser = subparsers.add_parser(command.NAME, help=command.HELP, description=command.DESCRIPTION)
        command.add_arguments(subparser)
        subparser.set_defaults(run=command.run, parser=subparser)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run ``python -m blocks`` with ``argv`` (default: the process arguments); returns the exit status."""
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help")):
        argv = ["prove", *argv]
    args = parser.parse_args(argv)
    return args.run(args)
