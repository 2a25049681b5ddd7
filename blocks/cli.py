"""Command line: ``python -m blocks [command]``. Without a command it runs ``prove``.

Each command is one ``_add_<command>(commands)`` function below that defines its
arguments and its ``run``; the work itself lives in the library module it imports
(inside ``run``, so ``--help`` stays fast).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator, Sized
from contextlib import contextmanager
from typing import cast


@contextmanager
def _usage_errors(parser: argparse.ArgumentParser, *also: type[Exception]) -> Iterator[None]:
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


def _add_block_arguments(parser: argparse._ActionsContainer, defaults: dict[str, int] | None = None) -> None:
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


def _add_prove(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "prove",
        help="print how closely forms a, b, c agree (the default command)",
        description="Build one block, transplant it into forms a, b and c, and print the max absolute"
        " and relative error between each pair in float32 and float64, eval and train mode, for"
        " stride 1 and 2. Exit status 0 only if every pair is within tolerance.",
    )
    _add_block_arguments(parser, dict(in_channels=256, out_channels=256, cardinality=32, width=4))
    parser.add_argument("--batch", type=int, default=4, help="images per input batch (default 4)")
    parser.add_argument("--size", type=int, default=8, help="input height and width (default 8)")
    parser.add_argument("--seed", type=int, default=0, help="seed for weights and input (default 0)")

    def run(args: argparse.Namespace) -> int:
        from blocks.core.spec import BlockSpec, check_positive_int
        from blocks.measure.proof import check_comparison, compare_forms, format_agreements
        from blocks.util.checks import check_seed

        with _usage_errors(args.parser):
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

    parser.set_defaults(run=run, parser=parser)


def _add_bench(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from blocks.bench.experiments import EXPERIMENTS  # names only: torch is imported by blocks anyway

    parser = commands.add_parser(
        "bench",
        help="time forms a, b, c: blocks, ResNeXt-50 vs torchvision, transplant, torch.compile, roofline"
        " (writes OUT/results.csv)",
        description="Time one 256->256 block per Table 2 template (C = 1, 2, 4, 8, 32) in forms a,"
        " a-fused (a through (c)'s grouped kernels), b and c, forward and forward+backward;"
        " ResNeXt-50 32x4d forward in every form against torchvision's with the same weights, and form (c)"
        " against torchvision alone for 3x the rounds (the weights move to new memory before every round);"
        " form (c) channels_last vs contiguous; transplant c->a->c of ResNeXt-101 32x8d against"
        " deepcopy + load_state_dict; audit of ResNeXt-50 against one traced forward; each Table 2 block in"
        " forms a, b, c eager and compiled by torch.compile (compile time apart); and the machine's limits"
        " (dense matmul, dense 3x3 convolution, copy) timed with every eager form for the roofline."
        " Candidates are timed interleaved after warm-up runs."
        " Writes OUT/results.csv (one row per measurement; OUT/results-NAME-....csv with --only),"
        " OUT/roofline.csv and FIGURES/roofline.{svg,pdf,png} (with experiment roofline),"
        " FIGURES/speed_vs_cardinality.{svg,pdf,png} (with experiment blocks), and prints the tables.",
    )
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="where to run (default cpu)")
    parser.add_argument("--batch", type=int, default=8, help="images per batch (default 8)")
    parser.add_argument(
        "--size", type=int, default=56, help="block input height and width; networks get 4x (default 56)"
    )
    parser.add_argument("--repeats", type=int, default=10, help="timed runs per candidate (default 10)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed runs per candidate first (default 2)")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's current count)")
    parser.add_argument("--out", default="benchmarks", help="folder for the CSV files (default benchmarks)")
    parser.add_argument("--figures", default="figures", help="folder for the figures (default figures)")
    parser.add_argument(
        "--only",
        action="append",
        choices=EXPERIMENTS,
        metavar="NAME",
        help=f"run only this experiment (repeatable), among {', '.join(EXPERIMENTS)}; default all",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="reduced run, overriding the options above: batch 2, size 28, 3 repeats, 1 warm-up, ResNeXt-50 transplant",
    )

    def run(args: argparse.Namespace) -> int:
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
        with _usage_errors(args.parser):
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

    parser.set_defaults(run=run, parser=parser)


def _add_figures(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "figures",
        help="draw the lecture figures into OUT/<name>.{svg,pdf,png} (default OUT: figures; --slides: figures/slides)",
        description="Draw the lecture figures from the real modules and weights and write each as"
        " OUT/<name>.<format>, byte-for-byte reproducibly: forms_abc (paper Figure 3), group_conv,"
        " block_diagonal, equivalence_error, table2_costs. 'make figures' regenerates the committed ones."
        " With --slides, the slide variants (16:9, text at least 18 pt on a 1920x1080 slide) of those and of"
        " speed_vs_cardinality (drawn from --results), roofline (from roofline.csv beside --results) and"
        " training_curves (trains the three forms on the digits, ~25 s). --only may name those three without"
        " --slides as well.",
    )
    parser.add_argument("--out", help="folder to write into (default figures, or figures/slides with --slides)")
    parser.add_argument("--formats", default="svg,pdf,png", help="comma-separated, among svg, pdf, png (default all)")
    parser.add_argument("--only", action="append", metavar="NAME", help="draw only this figure (repeatable)")
    parser.add_argument("--slides", action="store_true", help="draw the slide variants, all eight by default")
    parser.add_argument(
        "--results",
        default="benchmarks/results.csv",
        help="benchmark CSV that speed_vs_cardinality is drawn from (default benchmarks/results.csv)",
    )
    block = parser.add_argument_group(
        "the block drawn by forms_abc and block_diagonal",
        "each option given changes that field of the block both figures draw; the others keep"
        " each figure's own default (forms_abc: 256->256, 32x4d; block_diagonal: 32->32, 8x4d, on slides"
        " 16->16, 4x4d; stride 1)",
    )
    _add_block_arguments(block)
    block.add_argument("--stride", type=int, help="1 or 2")

    def run(args: argparse.Namespace) -> int:
        from blocks.figures import write_figures
        from blocks.util.checks import writable_folder

        fields = ("in_channels", "out_channels", "cardinality", "width", "stride")
        changes = {name: getattr(args, name) for name in fields if getattr(args, name) is not None}
        out = args.out or ("figures/slides" if args.slides else "figures")
        # write_figures raises ValueError only for its arguments, FileNotFoundError for a missing --results file
        with _usage_errors(args.parser, FileNotFoundError):
            writable_folder("--out", out)
            paths = write_figures(
                out, args.formats.split(","), args.only, changes, slide=args.slides, results=args.results
            )
        for path in paths:
            print(path)
        return 0

    parser.set_defaults(run=run, parser=parser)


def _add_tables(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "tables",
        help="print the params and FLOPs tables (paper Tables 1 and 2, forms a/b/c, ResNeXt-101/29)",
        description="Count parameters and multiply-adds (the paper's FLOPs) three ways (closed form,"
        " torchinfo, PyTorch's FlopCounterMode) and print to standard output: paper Table 1 (ResNet-50 vs"
        " ResNeXt-50 stage by stage), Table 2 (conv2 templates C = 1 ... 32), forms a/b/c of one block and"
        " of ResNeXt-50, and ResNeXt-101/ResNeXt-29. Nothing is written to disk. Exit status 0 only if the"
        " three methods agree on every layer.",
    )
    parser.add_argument(
        "--format", choices=("markdown", "csv"), default="markdown", help="output format (default markdown)"
    )

    def run(args: argparse.Namespace) -> int:
        from blocks.measure.tables import all_tables, format_tables

        tables = all_tables()
        print(format_tables(tables, args.format))
        disagreements = [line for table in tables for line in table.disagreements]
        for line in disagreements:
            print(f"DISAGREEMENT: {line}", file=sys.stderr)
        return 1 if disagreements else 0

    parser.set_defaults(run=run, parser=parser)


RESNEXT29 = {"resnext29-8x64d": (8, 64), "resnext29-16x64d": (16, 64)}  # the paper's CIFAR networks, (C, d)


def _silent(*args: object) -> None:
    """Print nothing: what processes other than rank 0 print."""


def _add_train(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "train",
        help="train a small ResNeXt or ResNeXt-29 in form a, b or c on digits (offline) or CIFAR-10",
        description="Train blocks.small_resnext (3 stages of one 4x4d block, 64-128-256 channels) or the"
        " paper's CIFAR ResNeXt-29 with SGD, momentum and weight decay, and print the loss and accuracy of"
        " every epoch. 'digits' is scikit-learn's bundled 8x8 handwritten digits (no download); 'cifar10' is"
        " read from DATA_ROOT/cifar-10-batches-py and downloaded there only with --download. With --csv the"
        " per-epoch metrics are written to that file. Under 'torchrun --nproc_per_node N -m blocks train ...'"
        " N processes train one model with DistributedDataParallel (gloo on CPU, nccl on CUDA, one GPU each),"
        " each on 1/N of every batch; rank 0 alone prints and writes the CSV.",
    )
    parser.add_argument("--form", choices=("a", "b", "c"), default="c", help="form of every block (default c)")
    parser.add_argument(
        "--network",
        choices=("small", *RESNEXT29),
        default="small",
        help="small: blocks.small_resnext (92k parameters); resnext29-*: the paper's CIFAR networks (default small)",
    )
    parser.add_argument("--data", choices=("digits", "cifar10"), default="digits", help="data set (default digits)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="where to train (default cpu)")
    parser.add_argument("--epochs", type=int, default=3, help="passes over the training set (default 3)")
    parser.add_argument(
        "--batch-size", type=int, default=64, help="images per step, over all processes together (default 64)"
    )
    parser.add_argument("--lr", type=float, default=0.05, help="learning rate (default 0.05)")
    parser.add_argument("--momentum", type=float, default=0.9, help="SGD momentum (default 0.9)")
    parser.add_argument("--weight-decay", type=float, default=5e-4, help="L2 weight decay (default 5e-4)")
    parser.add_argument("--cosine", action="store_true", help="decay the learning rate to 0 along a half cosine")
    parser.add_argument("--seed", type=int, default=0, help="seeds weights, split, batch order (default 0)")
    parser.add_argument("--data-root", default="data", help="folder holding cifar-10-batches-py (default data)")
    parser.add_argument(
        "--download", action="store_true", help="download CIFAR-10 (163 MB) into --data-root if missing"
    )
    parser.add_argument("--csv", help="write the per-epoch metrics to this CSV file")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")

    def run(args: argparse.Namespace) -> int:
        import torch
        import torch.distributed as dist

        from blocks.core.spec import check_positive_int
        from blocks.models.networks import resnext29
        from blocks.training.data import data_loaders
        from blocks.training.distributed import join_processes
        from blocks.training.loop import SGDRecipe, small_resnext, train
        from blocks.util.checks import check_seed, writable_file

        with _usage_errors(args.parser):
            recipe = SGDRecipe(args.lr, args.momentum, args.weight_decay)
            check_positive_int("--epochs", args.epochs)
            check_positive_int("--batch-size", args.batch_size)
            check_seed("--seed", args.seed)
            if args.csv is not None:
                writable_file("--csv", args.csv)
        # CIFAR-10 missing (FileNotFoundError), not downloaded (ConnectionError) or corrupted (ValueError):
        # one line that says how to get it, no traceback
        with _usage_errors(args.parser, FileNotFoundError, ConnectionError):
            train_loader, val_loader = data_loaders(
                args.data, batch_size=args.batch_size, seed=args.seed, root=args.data_root, download=args.download
            )
        if args.device == "cuda" and not torch.cuda.is_available():
            args.parser.error("--device cuda, but torch.cuda.is_available() is False on this machine")
        processes = join_processes(torch.device(args.device))  # under torchrun: this process's rank and GPU
        torch.manual_seed(args.seed)  # every process draws the same weights (DDP would copy rank 0's anyway)
        if args.network == "small":
            net = small_resnext(args.form)
        else:
            net = resnext29(*RESNEXT29[args.network], form=args.form)
        net.to(processes.device)
        train_images = len(cast(Sized, train_loader.dataset))  # TensorDataset and CIFAR10 both have a length
        val_images = len(cast(Sized, val_loader.dataset))
        say = print if processes.is_main else _silent
        on = f", {processes.world_size} processes" if processes.world_size > 1 else ""
        say(
            f"form ({args.form}), {args.data}: {train_images} training and"
            f" {val_images} validation images, {args.epochs} epochs{on}"
        )
        history = train(
            net,
            train_loader,
            val_loader,
            args.epochs,
            recipe=recipe,
            cosine=args.cosine,
            seed=args.seed,
            progress=not args.no_progress,
            csv_path=args.csv,
        )
        for row in history.epochs:
            say(
                f"epoch {row['epoch']:>3}  lr {row['lr']:.4f}  train loss {row['train_loss']:.4f}"
                f"  train acc {row['train_accuracy']:6.2%}  val loss {row['val_loss']:.4f}"
                f"  val acc {row['val_accuracy']:6.2%}  ({row['seconds']:.1f} s)"
            )
        if args.csv:
            say(f"wrote {args.csv}")
        if dist.is_initialized():
            dist.destroy_process_group()
        return 0

    parser.set_defaults(run=run, parser=parser)


# One entry per command, in the order --help lists them.
COMMANDS = (_add_prove, _add_bench, _add_figures, _add_tables, _add_train)


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
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
