"""``python -m blocks tables``: the params and FLOPs tables, counted three ways (:mod:`blocks.measure.tables`)."""

from __future__ import annotations

import argparse
import sys

NAME = "tables"
HELP = "print the params and FLOPs tables (paper Tables 1 and 2, forms a/b/c, ResNeXt-101/29)"
DESCRIPTION = (
    "Count parameters and multiply-adds (the paper's FLOPs) three ways (closed form,"
    " torchinfo, PyTorch's FlopCounterMode) and print to standard output: paper Table 1 (ResNet-50 vs"
    " ResNeXt-50 stage by stage), Table 2 (conv2 templates C = 1 ... 32), forms a/b/c of one block and"
    " of ResNeXt-50, and ResNeXt-101/ResNeXt-29. Nothing is written to disk. Exit status 0 only if the"
    " three methods agree on every layer."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """--format."""
    parser.add_argument(
        "--format", choices=("markdown", "csv"), default="markdown", help="output format (default markdown)"
    )


def run(args: argparse.Namespace) -> int:
    """Print every table; each disagreement between the methods on standard error, and exit status 1."""
    from blocks.measure.tables import all_tables, format_tables

    tables = all_tables()
    print(format_tables(tables, args.format))
    disagreements = [line for table in tables for line in table.disagreements]
    for line in disagreements:
        print(f"DISAGREEMENT: {line}", file=sys.stderr)
    return 1 if disagreements else 0
