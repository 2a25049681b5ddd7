"""Command line: ``python -m blocks [command]``. Without a command it runs ``prove``.

Each command is one ``_add_<command>(commands)`` function below that defines its
arguments and its ``run``; the work itself lives in the library module it imports
(inside ``run``, so ``--help`` stays fast).
"""

from __future__ import annotations

import argparse
import sys


def _add_prove(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "prove",
        help="print how closely forms a, b, c agree (the default command)",
        description="Build one block, transplant it into forms a, b and c, and print the max absolute"
        " and relative error between each pair in float32 and float64, eval and train mode, for"
        " stride 1 and 2. Exit status 0 only if every pair is within tolerance.",
    )
    parser.add_argument("--in-channels", type=int, default=256, help="block input channels (default 256)")
    parser.add_argument("--out-channels", type=int, default=256, help="block output channels (default 256)")
    parser.add_argument("--cardinality", "-C", type=int, default=32, help="C, number of paths (default 32)")
    parser.add_argument("--width", "-d", type=int, default=4, help="d, channels of one path (default 4)")
    parser.add_argument("--batch", type=int, default=4, help="images per input batch (default 4)")
    parser.add_argument("--size", type=int, default=8, help="input height and width (default 8)")
    parser.add_argument("--seed", type=int, default=0, help="seed for weights and input (default 0)")

    def run(args: argparse.Namespace) -> int:
        from blocks.proof import compare_forms, format_table
        from blocks.spec import BlockSpec

        all_ok = True
        for stride in (1, 2):
            spec = BlockSpec(args.in_channels, args.out_channels, args.cardinality, args.width, stride)
            rows = compare_forms(spec, batch=args.batch, size=args.size, seed=args.seed)
            shortcut = "projection shortcut" if spec.has_projection else "identity shortcut"
            print(f"\nBlock {spec} ({shortcut}): forms a, b, c from one transplanted set of weights")
            print(format_table(rows))
            all_ok &= all(row.ok for row in rows)
        print("\nAll pairs of forms agree within tolerance." if all_ok else "\nSOME PAIRS DISAGREE.")
        return 0 if all_ok else 1

    parser.set_defaults(run=run, parser=parser)


# One entry per command, in the order --help lists them.
COMMANDS = (_add_prove,)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m blocks",
        description="ResNeXt's three block forms (paper Figure 3) and the proof that they agree."
        " Without a command, runs 'prove'.",
    )
    commands = parser.add_subparsers(dest="command", metavar="command")
    for add in COMMANDS:
        add(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run ``python -m blocks`` with ``argv`` (default: the process arguments); returns the exit status."""
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help")):
        argv = ["prove", *argv]
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except ValueError as error:  # bad values (e.g. a BlockSpec field): a usage error, not a traceback
        args.parser.error(str(error))


if __name__ == "__main__":
    sys.exit(main())
