"""``python -m blocks bench``: time forms a, b, c, write the CSVs and the speed figures (:mod:`blocks.bench`)."""

from __future__ import annotations

import argparse

from blocks.cli._common import usage_errors

# blocks.bench.experiments.EXPERIMENTS, written out so that --help need not import the bench (and with
# it torch and every model); tests/cli/test_cli.py checks that the two agree.
EXPERIMENTS = ("blocks", "networks", "transplant", "audit", "compiled", "roofline")

NAME = "bench"
HELP = (
    "time forms a, b, c: blocks, ResNeXt-50 vs torchvision, transplant, torch.compile, roofline"
    " (writes OUT/results.csv)"
)
DESCRIPTION = (
    "Time one 256->256 block per Table 2 template (C = 1, 2, 4, 8, 32) in forms a,"
    " a-fused (a through (c)'s grouped kernels), b and c, forward and forward+backward;"
    " ResNeXt-50 32x4d forward in every form against torchvision's with the same weights, and form (c)"
    " against torchvision alone for 3x the rounds (the weights move to new memory before every round);"
    " form (c) channels_last vs contiguous; transplant c->a->c of ResNeXt-101 32x8d against"
    " deepcopy + load_state_dict; audit of ResNeXt-50 against one traced forward; each Table 2 block in"
    " forms a, b, c eager and compiled by torch.compile, and a, b and a functional form (a) compiled with"
    " blocks.compile's pass that merges the C paths' convolutions (compile time and convolution calls"
    " apart); and the machine's limits"
    " (dense matmul, dense 3x3 convolution, copy) timed with every eager form for the roofline."
    " Candidates are timed interleaved after warm-up runs."
    " Writes OUT/results.csv (one row per measurement; OUT/results-NAME-....csv with --only),"
    " OUT/roofline.csv and FIGURES/roofline.{svg,pdf,png} (with experiment roofline),"
    " FIGURES/speed_vs_cardinality.{svg,pdf,png} (with experiment blocks), and prints the tables."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """What is timed, on what, how often, and where the results go: one argument group each."""
    _add_selection(parser.add_argument_group("what is timed"))
    _add_workload(parser.add_argument_group("the workload"))
    _add_rounds(parser.add_argument_group("the timing"))
    _add_outputs(parser.add_argument_group("where the results go"))


def _add_selection(group: argparse._ArgumentGroup) -> None:
    """--only and --quick."""
    group.add_argument(
        "--only",
        action="append",
        choices=EXPERIMENTS,
        metavar="NAME",
        help=f"run only this experiment (repeatable), among {', '.join(EXPERIMENTS)}; default all",
    )
    group.add_argument(
        "--quick",
        action="store_true",
        help="reduced run, overriding the options below: batch 2, size 28, 3 repeats, 1 warm-up, ResNeXt-50 transplant",
    )


def _add_workload(group: argparse._ArgumentGroup) -> None:
    """--device, --batch, --size, --threads."""
    group.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="where to run (default cpu)")
    group.add_argument("--batch", type=int, default=8, help="images per batch (default 8)")
    group.add_argument(
        "--size", type=int, default=56, help="block input height and width; networks get 4x (default 56)"
    )
    group.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's current count)")


def _add_rounds(group: argparse._ArgumentGroup) -> None:
    """--repeats and --warmup."""
    group.add_argument("--repeats", type=int, default=10, help="timed runs per candidate (default 10)")
    group.add_argument("--warmup", type=int, default=2, help="untimed runs per candidate first (default 2)")


def _add_outputs(group: argparse._ArgumentGroup) -> None:
    """--out (the CSV files) and --figures."""
    group.add_argument("--out", default="benchmarks", help="folder for the CSV files (default benchmarks)")
    group.add_argument("--figures", default="figures", help="folder for the figures (default figures)")


def run(args: argparse.Namespace) -> int:
    """Check every argument, run the experiments, print the tables, write the CSVs and figures."""
    from pathlib import Path

    import torch

    from blocks.bench import BenchConfig, environment, format_measurements, quick, run_benchmark, write_csv
    from blocks.bench.experiments import ROOFLINE
    from blocks.bench.roofline import format_roofline, roofline_points, write_roofline_csv
    from blocks.figures.roofline import FIGURE_NAME as ROOFLINE_FIGURE
    from blocks.figures.roofline import roofline
    from blocks.figures.speed import FIGURE_NAME, speed_figure
    from blocks.figures.style import save_figure
    from blocks.util.checks import writable_folder

    threads = torch.get_num_threads() if args.threads is None else args.threads
    experiments = EXPERIMENTS if args.only is None else tuple(dict.fromkeys(args.only))
    with usage_errors(args.parser):
        config = BenchConfig(
            args.device, args.batch, args.size, args.repeats, args.warmup, threads, experiments=experiments
        )
        config = quick(config) if args.quick else config
        writable_folder("--out", args.out)
        writable_folder("--figures", args.figures)
    print(f"threads: {config.threads} (torch.set_num_threads), device: {config.device}, torch {torch.__version__}")
    rows = run_benchmark(config)
    print(format_measurements(rows))
    name = "results" if args.only is None else "-".join(("results", *experiments))
    written = [write_csv(rows, environment(config), Path(args.out) / f"{name}.csv")]
    if "blocks" in experiments:
        written += save_figure(speed_figure(rows), args.figures, FIGURE_NAME)
    if ROOFLINE in experiments:
        points = roofline_points(rows, config)
        print(format_roofline(points))
        written.append(write_roofline_csv(points, environment(config), Path(args.out) / "roofline.csv"))
        written += save_figure(roofline(points), args.figures, ROOFLINE_FIGURE)
    print(f"wrote {', '.join(str(path) for path in written)}")
    return 0
