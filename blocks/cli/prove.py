"""``python -m blocks [prove]``: how closely forms a, b, c of one block agree (the default command)."""

from __future__ import annotations

import argparse

from blocks.cli._common import add_block_arguments, usage_errors

NAME = "prove"
HELP = "print how closely forms a, b, c agree (the default command)"
DESCRIPTION = (
    "Build one block, transplant it into forms a, b and c, and print the max absolute"
    " and relative error between each pair in float32 and float64, eval and train mode, for"
    " stride 1 and 2. Exit status 0 only if every pair is within tolerance."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The block (256->256, 32x4d by default) and its input: batch, size, seed."""
    add_block_arguments(parser, dict(in_channels=256, out_channels=256, cardinality=32, width=4))
    parser.add_argument("--batch", type=int, default=4, help="images per input batch (default 4)")
    parser.add_argument("--size", type=int, default=8, help="input height and width (default 8)")
    parser.add_argument("--seed", type=int, default=0, help="seed for weights and input (default 0)")


def run(args: argparse.Namespace) -> int:
    """Compare the forms of a stride-1 and a stride-2 block; print the tables; 0 if every pair agrees."""
    from blocks.core.spec import BlockSpec, check_positive_int
    from blocks.measure.proof import check_comparison, compare_forms, format_agreements
    from blocks.util.checks import check_seed

    with usage_errors(args.parser):
        check_positive_int("--batch", args.batch)
        check_positive_int("--size", args.size)
        check_seed("--seed", args.seed)
        specs = [BlockSpec(args.in_channels, args.out_channels, args.cardinality, args.width, s) for s in (1, 2)]
        for spec in specs:  # values per channel for BN, and memory
            check_comparison(spec, args.batch, args.size, args.seed)
    all_ok = True
    for spec in specs:
        rows = compare_forms(spec, batch=args.batch, size=args.size, seed=args.seed)
        shortcut = "projection shortcut" if spec.has_projection else "identity shortcut"
        print(f"\nBlock {spec} ({shortcut}): forms a, b, c from one transplanted set of weights")
        print(format_agreements(rows))
        all_ok &= all(row.ok for row in rows)
    print("\nAll pairs of forms agree within tolerance." if all_ok else "\nSOME PAIRS DISAGREE.")
    return 0 if all_ok else 1
