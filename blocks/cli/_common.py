"""What the commands share: the shape of a command module, usage errors, and the numbers of one block.

Only argparse and the standard library here: every command module imports this one to build its
arguments, and ``--help`` must stay cheap.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol


class Command(Protocol):
    """A command module of ``python -m blocks``: its name, its ``--help`` texts, its arguments, its work.

    ``add_arguments`` imports nothing beyond argparse (so that ``--help`` stays fast); ``run``
    imports the library modules the work needs and returns the exit status.
    """

    NAME: str  # the word after python -m blocks
    HELP: str  # one line in the list of commands of python -m blocks --help
    DESCRIPTION: str  # the paragraph of python -m blocks NAME --help: what it does, what it writes where

    def add_arguments(self, parser: argparse.ArgumentParser) -> None: ...

    def run(self, args: argparse.Namespace) -> int: ...


@contextmanager
def usage_errors(parser: argparse.ArgumentParser, *also: type[Exception]) -> Iterator[None]:
    """Report a ValueError (or one of ``also``) raised inside as a usage error of ``parser``: one line, exit status 2.

    Only code whose ValueErrors are about the arguments runs inside (turning them
    into objects, checking them, or a library call documented so), so that a
    ValueError from the work itself still shows its traceback. Every check runs
    before the work starts: a bad ``--out`` fails at once, not after the benchmark.
    """
    caught: tuple[type[Exception], ...] = (ValueError, *also)
    try:
        yield
    except caught as error:
        parser.error(str(error))


def add_block_arguments(parser: argparse._ActionsContainer, defaults: dict[str, int] | None = None) -> None:
    """--in-channels, --out-channels, --cardinality/-C, --width/-d: the numbers of one block."""
    for flags, field, text in (
        (("--in-channels",), "in_channels", "block input channels"),
        (("--out-channels",), "out_channels", "block output channels"),
        (("--cardinality", "-C"), "cardinality", "C, number of paths"),
        (("--width", "-d"), "width", "d, channels of one path"),
    ):
        default = None if defaults is None else defaults[field]
        parser.add_argument(
            *flags, type=int, default=default, help=text if default is None else f"{text} (default {default})"
        )
