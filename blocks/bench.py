"""What the three forms cost at run time: the measurements behind ``python -m blocks bench``.

Forms (a), (b) and (c) compute the same function with the same FLOPs (paper
section 3.3), but not in the same time. The paper trains form (c) "because it
is faster"; this module measures how much faster, and checks that our form (c)
networks are as fast as torchvision's, layer for layer the same model.

Five experiments, each timing its candidates INTERLEAVED (A B C, C B A, … after
warm-up runs), so that a slow spell of a shared machine hits every candidate
alike; each reports the median, min and max over the repeats, and the median,
min and max of the per-round ratio to a reference candidate:

    blocks      one 256→256 block per Table 2 template (C = 1, 2, 4, 8, 32 at
                ~the same FLOPs), forms a, a-fused (:mod:`blocks.fused`), b, c;
                forward (eval, no grad) and forward+backward (train); reference c.
    networks    whole ResNeXt forward (eval, no grad) in forms a, b, c and
                torchvision's ResNet of the same layout carrying the same weights;
                reference torchvision.
    parity      the same, form (c) and torchvision alone, for TARGET_PAIR_ROUNDS times
                as many rounds: the pair whose ratio has a 2% target. Every network
                round first moves the weights to new memory (:func:`move_weights`).
    layout      form (c) network forward, channels_last vs contiguous memory;
                reference contiguous.
    transplant  ``transplant(net, "a")`` then back to "c", vs the plain copy a
                checkpoint load costs: ``deepcopy(net)`` + ``load_state_dict``
                (reference); the pair alone, for TARGET_PAIR_ROUNDS times as many
                rounds, as it has a target (≤ 3x). Then, for context, the same
                plain copy for a form (a) and a form (c) network, what plain
                PyTorch pays to produce the same two networks, vs the reference.

Times depend on the machine, its load and the thread count, so every CSV row
carries them (:data:`CSV_COLUMNS`).
"""

from __future__ import annotations

import copy
import csv
import itertools
import platform
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch
from matplotlib.figure import Figure
from matplotlib.ticker import FormatStrFormatter, LogLocator
from torch import Tensor, nn
from tqdm import tqdm

from blocks.build import build
from blocks.canonical import collector_paused
from blocks.complexity import TABLE2_CHANNELS, TABLE2_TEMPLATES
from blocks.forms import FORMS
from blocks.fused import fused_forward
from blocks.networks import STAGE_BLOCKS, resnext
from blocks.plotting import FORM_COLOURS, PALETTE, new_figure, save_figure, styled
from blocks.spec import BlockSpec, check_positive_int
from blocks.transplant import transplant

PASSES = ("forward", "forward+backward")
FUSED = "a-fused"  # form (a)'s modules run through form (c)'s kernels (blocks.fused)
TARGET_PAIR_ROUNDS = 3  # a pair with a target is timed alone, for this many times config.repeats rounds
TORCHVISION = "torchvision"
CSV_COLUMNS = (
    "experiment", "case", "pass", "variant", "reference",
    "median_ms", "min_ms", "max_ms", "ratio_median", "ratio_min", "ratio_max",
    "repeats", "warmup", "batch", "size", "dtype", "device", "threads", "torch", "machine",
)  # fmt: skip
FIGURE_NAME = "speed_vs_cardinality"


@dataclass(frozen=True)
class BenchConfig:
    """What to time, and how often.

    Args:
        device: "cpu" or "cuda".
        batch: images per input batch.
        size: height and width of the block's input (56 is ResNeXt-50's conv2 stage);
            networks get images of 4·size (224 for 56), so their conv2 stage is size x size.
        repeats: timed runs per candidate.
        warmup: untimed runs per candidate first (allocator, caches, lazy init).
        threads: CPU threads (``torch.set_num_threads``), fixed for the whole run.
        templates: (C, d) of the 256→256 blocks to time (default: the paper's Table 2,
            C = 1, 2, 4, 8, 32 at ~equal FLOPs).
        network: (depth, C, d) of the network timed whole ((50, 32, 4): ResNeXt-50 32x4d).
        transplant_network: (depth, C, d) of the network moved to form (a) and back.
    """

    device: str = "cpu"
    batch: int = 8
    size: int = 56
    repeats: int = 10
    warmup: int = 2
    threads: int = field(default_factory=torch.get_num_threads)
    templates: tuple[tuple[int, int], ...] = TABLE2_TEMPLATES
    network: tuple[int, int, int] = (50, 32, 4)
    transplant_network: tuple[int, int, int] = (101, 32, 8)

    def __post_init__(self) -> None:
        if self.device not in ("cpu", "cuda"):
            raise ValueError(f"device must be 'cpu' or 'cuda', got {self.device!r}")
        if self.device == "cuda" and not torch.cuda.is_available():
            raise ValueError("device is 'cuda', but torch.cuda.is_available() is False on this machine")
        for name in ("batch", "size", "repeats", "threads"):
            check_positive_int(name, getattr(self, name))
        if type(self.warmup) is not int or self.warmup < 0:
            raise ValueError(f"warmup must be a non-negative int, got {self.warmup!r}")
        for name in ("network", "transplant_network"):
            depth = getattr(self, name)[0]
            if depth not in STAGE_BLOCKS:
                raise ValueError(f"{name} depth must be one of {sorted(STAGE_BLOCKS)}, got {depth!r}")
        if not self.templates:
            raise ValueError("templates must name at least one (C, d)")


def quick(config: BenchConfig) -> BenchConfig:
    """A reduced run (a minute or two on 2 CPU cores): fewer repeats, smaller inputs, ResNeXt-50 transplant."""
    return replace(config, batch=2, size=28, repeats=3, warmup=1, transplant_network=(50, 32, 4))


@dataclass(frozen=True)
class Measurement:
    """One candidate's times in one interleaved comparison, in milliseconds.

    ``ratio_*`` are over the per-round ratios (this candidate / the reference
    in the same round), so a slow spell of the machine cancels out.
    """

    experiment: str
    case: str
    pass_: str
    variant: str
    reference: str
    median_ms: float
    min_ms: float
    max_ms: float
    ratio_median: float
    ratio_min: float
    ratio_max: float
    repeats: int


# ---------------------------------------------------------------- timing


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":  # kernels run asynchronously: wait before reading the clock
        torch.cuda.synchronize(device)


def time_interleaved(
    candidates: dict[str, Callable[[], object]],
    repeats: int,
    warmup: int,
    device: torch.device,
    before_round: Callable[[], None] | None = None,
) -> dict[str, list[float]]:
    """Seconds per call of each candidate, timed in rounds A B C, C B A, A B C, … after warm-up rounds.

    Every other round runs the candidates in reverse order, so that none always
    follows the same one (whose caches, allocations and pending work it would inherit).

    Args:
        candidates: name -> a function with no arguments doing one unit of work.
        repeats: timed rounds.
        warmup: untimed rounds first.
        device: where the work runs (on CUDA the clock is read after a synchronize).
        before_round: called, untimed, before every round (e.g. :func:`move_weights`).

    Returns:
        name -> ``repeats`` durations in seconds, in round order.
    """
    times: dict[str, list[float]] = {name: [] for name in candidates}
    order = list(candidates.items())
    for round_ in range(warmup + repeats):
        if before_round is not None:
            before_round()
        for name, run in order if round_ % 2 == 0 else reversed(order):
            _synchronize(device)
            # Python's cyclic GC is paused while a call is timed, as timeit and torch.utils.benchmark do:
            # a full collection walks every object of the process, and would land on whichever candidate
            # runs when it is due, often the one after the candidate that made the objects.
            with collector_paused():
                start = time.perf_counter()
                run()
                _synchronize(device)
                elapsed = time.perf_counter() - start
            if round_ >= warmup:
                times[name].append(elapsed)
    return times


def summarise(
    times: dict[str, list[float]], reference: str, experiment: str, case: str, pass_: str
) -> list[Measurement]:
    """One :class:`Measurement` per candidate of ``times``, with ratios to ``reference`` per round."""
    rows = []
    for name, seconds in times.items():
        ratios = [t / r for t, r in zip(seconds, times[reference])]
        rows.append(
            Measurement(
                experiment, case, pass_, name, reference,
                median_ms=1e3 * statistics.median(seconds), min_ms=1e3 * min(seconds),
                max_ms=1e3 * max(seconds), ratio_median=statistics.median(ratios),
                ratio_min=min(ratios), ratio_max=max(ratios), repeats=len(seconds),
            )
        )  # fmt: skip
    return rows


@contextmanager
def fixed_threads(threads: int) -> Iterator[None]:
    """Run the body with ``torch.set_num_threads(threads)``, restoring the old count after."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


# ---------------------------------------------------------------- the experiments


def _step(run: Callable[[Tensor], Tensor], x: Tensor, pass_: str) -> Callable[[], object]:
    """One unit of work for ``run`` (a block or network): a forward without autograd, or forward and backward."""
    if pass_ == "forward":

        def forward() -> object:
            with torch.no_grad():
                return run(x)

        return forward

    def forward_backward() -> object:
        run(x).sum().backward()  # gradients accumulate; their values do not matter here
        return None

    return forward_backward


def bench_blocks(config: BenchConfig, progress: tqdm | None = None) -> list[Measurement]:
    """Time one block per template in forms a, a-fused, b, c (see the module docstring)."""
    device = torch.device(config.device)
    rows = []
    for cardinality, width in config.templates:
        spec = BlockSpec(TABLE2_CHANNELS, TABLE2_CHANNELS, cardinality, width)
        torch.manual_seed(0)
        reference = build(spec, "c").to(device)
        x = torch.randn(config.batch, TABLE2_CHANNELS, config.size, config.size, device=device)
        for pass_ in PASSES:
            train = pass_ != "forward"
            by_form = {form: transplant(reference, form).train(train) for form in FORMS}
            runs: dict[str, Callable[[Tensor], Tensor]] = {
                "a": by_form["a"],
                FUSED: lambda x, block=by_form["a"]: fused_forward(block, x),
                "b": by_form["b"],
                "c": by_form["c"],
            }
            steps = {name: _step(run, x, pass_) for name, run in runs.items()}
            times = time_interleaved(steps, config.repeats, config.warmup, device)
            rows += summarise(times, "c", "blocks", f"{cardinality}x{width}d", pass_)
            if progress is not None:
                progress.update()
    return rows


def torchvision_twin(net: nn.Module, depth: int, cardinality: int, width: int) -> nn.Module:
    """torchvision's ResNet of the same layout, carrying ``net``'s (form c) weights.

    For (50, 32, 4) it is exactly ``torchvision.models.resnext50_32x4d()``, which
    builds ``ResNet(Bottleneck, [3, 4, 6, 3], groups=32, width_per_group=4)``.
    """
    from torchvision.models.resnet import Bottleneck, ResNet  # the reference, from the [test] extra

    twin = ResNet(Bottleneck, list(STAGE_BLOCKS[depth]), groups=cardinality, width_per_group=width)
    twin.load_state_dict(net.state_dict(), strict=True)  # our form (c) uses torchvision's names
    return twin.to(next(net.parameters()).device)


def move_weights(*modules: nn.Module) -> None:
    """Give every parameter and buffer of ``modules`` a fresh copy of itself, at a new address.

    Where a network's weights happen to lie in memory (their alignment, pages and
    cache sets) moves its forward time on a CPU by several per cent, for as long
    as they lie there: two copies of torchvision's own ResNeXt-50 differ by up to
    ±10% in one process. Moving the weights before every round gives each round
    another placement (the allocator may hand back blocks freed earlier, so not a
    fully independent one), instead of one placement for the whole run.

    Args:
        modules: the networks (or any modules) whose tensors to move; values,
            dtypes, devices and strides are kept.
    """
    with torch.no_grad():
        for module in modules:
            for tensor in itertools.chain(module.parameters(), module.buffers()):
                tensor.data = tensor.data.clone()


def bench_networks(config: BenchConfig, progress: tqdm | None = None) -> list[Measurement]:
    """Time whole-network forwards: forms a, b, c vs torchvision; (c) vs torchvision alone; channels_last."""
    device = torch.device(config.device)
    depth, cardinality, width = config.network
    case = f"ResNeXt-{depth} {cardinality}x{width}d"
    torch.manual_seed(0)
    net_c = resnext(depth, cardinality, width, form="c").to(device).eval()
    nets = {form: transplant(net_c, form) for form in FORMS}
    nets[TORCHVISION] = torchvision_twin(net_c, depth, cardinality, width).eval()
    images = torch.randn(config.batch, 3, 4 * config.size, 4 * config.size, device=device)
    steps = {name: _step(net, images, "forward") for name, net in nets.items()}
    times = time_interleaved(steps, config.repeats, config.warmup, device, lambda: move_weights(*nets.values()))
    rows = summarise(times, TORCHVISION, "networks", case, "forward")
    if progress is not None:
        progress.update()
    # The target pair, alone and for TARGET_PAIR_ROUNDS times as many rounds: a 2% target needs them.
    pair = {name: steps[name] for name in ("c", TORCHVISION)}
    rounds = TARGET_PAIR_ROUNDS * config.repeats
    times = time_interleaved(pair, rounds, config.warmup, device, lambda: move_weights(nets["c"], nets[TORCHVISION]))
    rows += summarise(times, TORCHVISION, "parity", case, "forward")
    if progress is not None:
        progress.update()
    channels_last = copy.deepcopy(net_c).to(memory_format=torch.channels_last)
    layouts = {
        "c contiguous": _step(net_c, images, "forward"),
        "c channels_last": _step(channels_last, images.to(memory_format=torch.channels_last), "forward"),
    }
    times = time_interleaved(layouts, config.repeats, config.warmup, device, lambda: move_weights(net_c, channels_last))
    rows += summarise(times, "c contiguous", "layout", case, "forward")
    if progress is not None:
        progress.update()
    return rows


def bench_transplant(config: BenchConfig, progress: tqdm | None = None) -> list[Measurement]:
    """Time ``transplant`` c→a→c of a whole network against deepcopy + load_state_dict of it.

    The two are timed alone first: a third candidate that makes and frees a form
    (a) network (thousands of modules, a network's worth of small tensors) would
    change what memory the allocator has at hand for the one after it.
    """
    device = torch.device(config.device)
    depth, cardinality, width = config.transplant_network
    torch.manual_seed(0)
    net = resnext(depth, cardinality, width, form="c").to(device)
    net_a = transplant(net, "a")
    checkpoint = copy.deepcopy(net.state_dict())  # as a checkpoint file would hold it
    checkpoint_a = copy.deepcopy(net_a.state_dict())

    def plain_copy() -> object:
        return copy.deepcopy(net).load_state_dict(checkpoint)

    def plain_copy_both_forms() -> object:
        # What the same two networks cost by plain PyTorch, given a form (a) model to copy.
        copy.deepcopy(net_a).load_state_dict(checkpoint_a)
        return copy.deepcopy(net).load_state_dict(checkpoint)

    def round_trip() -> object:
        return transplant(transplant(net, "a"), "c")

    reference, case = "deepcopy + load_state_dict", f"ResNeXt-{depth} {cardinality}x{width}d"
    pair = {reference: plain_copy, "transplant c→a→c": round_trip}
    times = time_interleaved(pair, TARGET_PAIR_ROUNDS * config.repeats, config.warmup, device)
    rows = summarise(times, reference, "transplant", case, "convert")
    context = {reference: plain_copy, "deepcopy + load_state_dict, forms a and c": plain_copy_both_forms}
    times = time_interleaved(context, config.repeats, config.warmup, device)
    rows += [row for row in summarise(times, reference, "transplant", case, "convert") if row.variant != reference]
    if progress is not None:
        progress.update()
    return rows


# ---------------------------------------------------------------- the whole run


def environment(config: BenchConfig) -> dict[str, str]:
    """The columns every CSV row shares: machine, torch version, threads, device, input."""
    device = config.device
    if device == "cuda":
        device = f"cuda ({torch.cuda.get_device_name()})"
    machine = f"{platform.machine()} {platform.processor() or platform.system()}".strip()
    return {
        "warmup": str(config.warmup), "batch": str(config.batch), "size": str(config.size),
        "dtype": "float32", "device": device, "threads": str(config.threads),
        "torch": torch.__version__, "machine": machine,
    }  # fmt: skip


def run_benchmark(config: BenchConfig, show_progress: bool = True) -> list[Measurement]:
    """Run every experiment of the module docstring with ``config``; returns all measurements.

    The experiments seed their weights; the caller's random state is restored afterwards.

    Raises:
        ValueError: from :class:`BenchConfig` on a bad setting.
    """
    steps = len(config.templates) * len(PASSES) + 4  # blocks, networks, parity, layout, transplant
    progress = tqdm(total=steps, desc="bench", disable=not show_progress)
    with fixed_threads(config.threads), torch.random.fork_rng(devices=[]), progress as bar:
        rows = bench_blocks(config, bar)
        rows += bench_networks(config, bar)
        rows += bench_transplant(config, bar)
    return rows


def write_csv(rows: list[Measurement], shared: dict[str, str], path: str | Path) -> Path:
    """Write one CSV row per measurement, with the ``shared`` columns (see :func:`environment`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        for row in rows:
            values = {key.rstrip("_"): value for key, value in asdict(row).items()}
            for key in ("median_ms", "min_ms", "max_ms"):
                values[key] = f"{values[key]:.3f}"
            for key in ("ratio_median", "ratio_min", "ratio_max"):
                values[key] = f"{values[key]:.4f}"
            writer.writerow({**values, **shared})
    return path


@styled
def speed_figure(rows: list[Measurement]) -> Figure:
    """Time of forms a, a-fused and b over form (c)'s, per cardinality: one panel per pass."""
    fig, axes = new_figure(1, len(PASSES), figsize=(9, 4), sharey=True, layout="constrained")
    styles = {"a": (FORM_COLOURS["a"], "o", "-"), FUSED: (PALETTE[3], "s", "--"), "b": (FORM_COLOURS["b"], "^", "-")}
    for ax, pass_ in zip(axes, PASSES):
        mine = [r for r in rows if r.experiment == "blocks" and r.pass_ == pass_]
        cardinalities = sorted({int(r.case.split("x")[0]) for r in mine})
        for variant, (colour, marker, line) in styles.items():
            points = sorted((int(r.case.split("x")[0]), r.ratio_median) for r in mine if r.variant == variant)
            label = "a through (c)'s kernels" if variant == FUSED else f"form ({variant})"
            ax.plot(*zip(*points), marker=marker, linestyle=line, color=colour, label=label)
        ax.axhline(1.0, color=FORM_COLOURS["c"], linewidth=2, label="form (c) = 1")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xticks(cardinalities, [str(c) for c in cardinalities])
        ax.minorticks_off()
        ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(FormatStrFormatter("%g"))
        ax.set_xlabel("cardinality C (Table 2 templates, equal FLOPs)")
        ax.set_title(pass_)
        ax.grid(True, which="major", alpha=0.3)
    axes[0].set_ylabel("time / time of form (c) (ratio, log)")
    axes[0].legend(loc="upper left")
    return fig


def format_table(rows: list[Measurement]) -> str:
    """The measurements as a Markdown table (the README's speed section)."""
    lines = [
        "| experiment | case | pass | variant | median ms | min–max ms | ratio to | median ratio (min–max) |",
        "|---|---|---|---|---:|---:|---|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r.experiment} | {r.case} | {r.pass_} | {r.variant} | {r.median_ms:.1f} |"
            f" {r.min_ms:.1f}–{r.max_ms:.1f} | {r.reference} |"
            f" {r.ratio_median:.3f} ({r.ratio_min:.3f}–{r.ratio_max:.3f}) |"
        )
    return "\n".join(lines)
