"""What the three forms cost at run time: the measurements behind ``python -m blocks bench``.

Forms (a), (b) and (c) compute the same function with the same FLOPs (paper
section 3.3), but not in the same time. The paper trains form (c) "because it
is faster"; this module measures how much faster, and checks that our form (c)
networks are as fast as torchvision's, layer for layer the same model.

Six experiments (``networks`` also gives the tables ``parity`` and ``layout``), each
timing its candidates INTERLEAVED (A B C, C B A, … after warm-up runs), so that a slow
spell of a shared machine hits every candidate alike; each reports the median, min and
max over the repeats, and the median, min and max of the per-round ratio to a reference
candidate:

    blocks      one 256→256 block per Table 2 template (C = 1, 2, 4, 8, 32 at
                ~the same FLOPs), forms a, a-fused (:mod:`blocks.models.fused`), b, c;
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
    audit       ``blocks.audit`` of the network (ResNeXt-50 32x4d) on one 64x64 image, vs one
                forward pass recorded by its tracer (:func:`blocks.dataflow.trace.record`,
                reference): what reading the dataflow adds to running it (target ≤ 3x).
    compiled    the blocks of the first experiment in forms a, b, c, eager and
                compiled by ``torch.compile``; forms a and b, and form (a) written with
                ``F.conv2d`` over ``ParameterList``\\ s, compiled with the pass of
                :mod:`blocks.compiler` (``<form> compiled+pass``; for forward+backward on a
                CPU, where the pass then runs the rewritten graph eagerly, also
                ``a compiled+pass+inductor``); forward (eval, no grad)
                and forward+backward (train); reference eager c. The compile time (the
                first call of each compiled block) is reported apart, as pass
                "compile <pass>" (reference: compiling form (c)).
    roofline    what the machine can do at this thread count: a large dense matmul
                and a dense 3x3 convolution (256→256 at the blocks' batch and size)
                for multiply-adds, a large copy for memory bandwidth; timed together
                with the forward (eval, no grad) of every block of ``blocks`` in forms
                a, b, c, and of form (c)'s grouped 3x3 alone; reference the dense convolution. With the bytes that
                :func:`blocks.measure.census.census` counts they place every form on
                a roofline (:mod:`blocks.bench.roofline`).

``networks`` also gives the rows of ``parity`` and ``layout``; :attr:`BenchConfig.experiments`
picks which of the others run.

Times depend on the machine, its load and the thread count, so every CSV row
carries them (:data:`CSV_COLUMNS`).
"""

from __future__ import annotations

import copy
import functools
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import cast

import torch
from torch import Tensor, nn
from tqdm import tqdm

from blocks.bench.harness import (
    PASSES,
    Measurement,
    fixed_threads,
    move_weights,
    summarise,
    time_interleaved,
    timed_call,
)
from blocks.compiler import compile as compile_with_pass
from blocks.compiler import lowering_of
from blocks.core.build import build
from blocks.core.forms import FORMS, GroupedConvBlock, ResNeXtBlock, SummedPathsBlock
from blocks.core.guards import guard_memory
from blocks.core.spec import BlockSpec, check_positive_int
from blocks.core.transplant import transplant
from blocks.dataflow.audit import audit
from blocks.dataflow.trace import record
from blocks.measure.complexity import TABLE2_CHANNELS, TABLE2_TEMPLATES
from blocks.models.functional import FunctionalSummedPaths
from blocks.models.fused import fused_forward
from blocks.models.networks import STAGE_BLOCKS, resnext

FUSED = "a-fused"  # form (a)'s modules run through form (c)'s kernels (blocks.models.fused)
TARGET_PAIR_ROUNDS = 3  # a pair with a target is timed alone, for this many times config.repeats rounds
TORCHVISION = "torchvision"
COMPILED = "compiled"  # "<form> compiled": the block run by torch.compile
WITH_PASS = "compiled+pass"  # "<form> compiled+pass": blocks.compile, torch.compile with blocks.compiler's pass
# "<form> compiled+pass+inductor": the pass, then TorchInductor's code also where "compiled+pass" runs the rewritten
# graph eagerly (forward+backward on a CPU: blocks/compiler/backend.py says why)
WITH_PASS_INDUCTOR = "compiled+pass+inductor"
FUNCTIONAL = "a functional"  # form (a) written with F.conv2d over ParameterLists (blocks.models.functional)
ROOFLINE = "roofline"
EXPERIMENTS = ("blocks", "networks", "transplant", "audit", COMPILED, ROOFLINE)
MACHINE = "machine"  # the case of the roofline experiment's rows that measure the machine, not a block
GROUPED_3X3 = "c conv2 alone"  # form (c)'s grouped 3x3 (C groups of d channels), the only thin kernel of (c)

# The work that measures the machine's limits (experiment "roofline"): each is far larger
# than the caches (32 MiB of L3 on the VM of the committed run), and each variant name says it.
MATMUL_SIZE = 2048  # (n, n) @ (n, n) float32: 2·n³ = 17.2 GFLOP
COPY_ELEMENTS = 2**25  # float32: a 128 MiB copy reads 128 MiB and writes 128 MiB
MATMUL = f"dense matmul {MATMUL_SIZE}x{MATMUL_SIZE}"
CONVOLUTION = f"dense 3x3 convolution {TABLE2_CHANNELS}->{TABLE2_CHANNELS}"
COPY = f"copy {COPY_ELEMENTS * 4 // 2**20} MiB"


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
        passes: which of ``"forward"`` and ``"forward+backward"`` the blocks are timed in (default both).
        network: (depth, C, d) of the network timed whole ((50, 32, 4): ResNeXt-50 32x4d).
        transplant_network: (depth, C, d) of the network moved to form (a) and back.
        experiments: which experiments to run, among :data:`EXPERIMENTS` (default all).
    """

    device: str = "cpu"
    batch: int = 8
    size: int = 56
    repeats: int = 10
    warmup: int = 2
    threads: int = field(default_factory=torch.get_num_threads)
    templates: tuple[tuple[int, int], ...] = TABLE2_TEMPLATES
    passes: tuple[str, ...] = PASSES
    network: tuple[int, int, int] = (50, 32, 4)
    transplant_network: tuple[int, int, int] = (101, 32, 8)
    experiments: tuple[str, ...] = EXPERIMENTS

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
        images = 4 * self.size  # the networks' input height and width
        device = torch.device(self.device)
        # The inputs alone, in float32 (4 bytes); the passes write several times more.
        block_input = self.batch * TABLE2_CHANNELS * self.size**2 * 4
        guard_memory(f"bench: a block input of batch {self.batch} and size {self.size}", block_input, device)
        network_input = self.batch * 3 * images**2 * 4
        guard_memory(f"bench: a network input of batch {self.batch} and size {images}", network_input, device)
        if not self.passes or not set(self.passes) <= set(PASSES):
            raise ValueError(f"passes must be one or more of {list(PASSES)}, got {self.passes!r}")
        if not self.experiments or any(name not in EXPERIMENTS for name in self.experiments):
            raise ValueError(f"experiments must be among {list(EXPERIMENTS)}, at least one, got {self.experiments!r}")


def quick(config: BenchConfig) -> BenchConfig:
    """A reduced run (a minute or two on 2 CPU cores): fewer repeats, smaller inputs, ResNeXt-50 transplant."""
    return replace(config, batch=2, size=28, repeats=3, warmup=1, transplant_network=(50, 32, 4))


# ---------------------------------------------------------------- the experiments


def bench_blocks(config: BenchConfig, progress: tqdm | None = None) -> list[Measurement]:
    """Time one block per template in forms a, a-fused, b, c (see the module docstring)."""
    device = torch.device(config.device)
    rows = []
    for cardinality, width in config.templates:
        spec = BlockSpec(TABLE2_CHANNELS, TABLE2_CHANNELS, cardinality, width)
        torch.manual_seed(0)
        reference = build(spec, "c").to(device)
        x = torch.randn(config.batch, TABLE2_CHANNELS, config.size, config.size, device=device)
        for pass_ in config.passes:
            train = pass_ != "forward"
            by_form = {form: transplant(reference, form).train(train) for form in FORMS}
            runs: dict[str, Callable[[Tensor], Tensor]] = {
                "a": by_form["a"],
                FUSED: functools.partial(fused_forward, cast(ResNeXtBlock, by_form["a"])),  # transplant gives a block
                "b": by_form["b"],
                "c": by_form["c"],
            }
            steps = {name: timed_call(run, x, pass_) for name, run in runs.items()}
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
    steps = {name: timed_call(net, images, "forward") for name, net in nets.items()}
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
        "c contiguous": timed_call(net_c, images, "forward"),
        "c channels_last": timed_call(channels_last, images.to(memory_format=torch.channels_last), "forward"),
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


AUDIT_INPUT = (1, 3, 64, 64)  # the audit's target is stated for ResNeXt-50 at 64x64


def bench_audit(config: BenchConfig, progress: tqdm | None = None) -> list[Measurement]:
    """Time ``audit`` of the network of ``config`` against one forward pass with tracing (see the module docstring)."""
    device = torch.device(config.device)
    depth, cardinality, width = config.network
    torch.manual_seed(0)
    net = resnext(depth, cardinality, width).to(device).eval()
    x = torch.randn(AUDIT_INPUT, device=device)
    reference = "forward with tracing"
    candidates = {reference: lambda: record(net, x), "audit": lambda: audit(net, AUDIT_INPUT)}
    times = time_interleaved(candidates, TARGET_PAIR_ROUNDS * config.repeats, config.warmup, device)
    rows = summarise(times, reference, "audit", f"ResNeXt-{depth} {cardinality}x{width}d, 1x3x64x64", "forward")
    if progress is not None:
        progress.update()
    return rows


WARMUP_SPEC = BlockSpec(8, 8, cardinality=2, width=2)  # compiled once per form, untimed, before the blocks


def _compiler_started(device: torch.device) -> None:
    """Compile and run a tiny block of every form, untimed: the compiler's one-off start-up.

    Importing and setting up its lowerings and finding the C++ compiler happen once
    per process; paid here, they are in no block's compile time. The same for the pass.
    """
    x = torch.zeros(1, WARMUP_SPEC.in_channels, 4, 4, device=device)
    for form in FORMS:
        with torch.no_grad():
            torch.compile(build(WARMUP_SPEC, form).to(device).eval())(x)
    with torch.no_grad():
        compile_with_pass(build(WARMUP_SPEC, "a").to(device).eval())(x)
    torch.compiler.reset()


def compiled_candidates(blocks_by_form: dict[str, nn.Module], pass_: str) -> dict[str, Callable[[Tensor], Tensor]]:
    """The compiled candidates of experiment ``compiled``, by name, from one block per form (compiled lazily).

    ``torch.compile`` of forms a, b and c; the pass (:func:`blocks.compiler.compile`) on forms
    a and b; and on form (a) written with ``F.conv2d`` over ``ParameterList``\\ s
    (:class:`blocks.models.functional.FunctionalSummedPaths`, a copy of the form (a) block).
    Where the pass's ``"auto"`` lowering runs the rewritten graph eagerly (``pass_`` differentiates
    on a CPU), form (a) with the pass and TorchInductor's code is a candidate too
    (``a compiled+pass+inductor``), to show what that choice is worth.
    """
    block_a = blocks_by_form["a"]
    functional = FunctionalSummedPaths(cast(SummedPathsBlock, block_a)).train(block_a.training)
    runs = {f"{form} {COMPILED}": torch.compile(block) for form, block in blocks_by_form.items()}
    runs |= {f"{form} {WITH_PASS}": compile_with_pass(blocks_by_form[form]) for form in ("a", "b")}
    runs[f"{FUNCTIONAL} {WITH_PASS}"] = compile_with_pass(functional)
    with torch.set_grad_enabled(pass_ != "forward"):  # as the timed call runs it (timed_call)
        auto = lowering_of(list(block_a.parameters()))  # on the blocks' device
    if auto == "eager":
        runs[f"a {WITH_PASS_INDUCTOR}"] = compile_with_pass(block_a, lowering="inductor")
    return cast(dict[str, Callable[[Tensor], Tensor]], runs)


def bench_compiled(config: BenchConfig, progress: tqdm | None = None) -> list[Measurement]:
    """Time forms a, b, c eager and compiled, with and without the pass; and each compilation once.

    For each pass of ``config.passes`` (forward in eval mode, forward+backward in train mode),
    the candidates are forms a, b, c eager (reference c) and :func:`compiled_candidates`.
    Every block is compiled in a fresh, empty compiler cache (so no kernel is read
    from an earlier run's or another form's cache), after an untimed compile of
    a tiny block of every form that pays the compiler's start-up. The compile time is the
    first call of the compiled block: tracing, the pass (where there is one), lowering and
    compiling its kernels (C++ on a CPU, which needs a C++ compiler on the machine), plus one
    run; reported as pass ``"compile <pass>"``, reference ``c compiled``.
    """
    from torch._inductor.utils import fresh_cache  # the compiler's own "start from an empty cache"

    device = torch.device(config.device)
    rows = []
    with fresh_cache(), torch.random.fork_rng(devices=[]):
        _compiler_started(device)
    for cardinality, width in config.templates:
        spec = BlockSpec(TABLE2_CHANNELS, TABLE2_CHANNELS, cardinality, width)
        case = f"{cardinality}x{width}d"
        torch.manual_seed(0)
        reference = build(spec, "c").to(device).eval()
        x = torch.randn(config.batch, TABLE2_CHANNELS, config.size, config.size, device=device)
        for pass_ in config.passes:
            by_form = {form: transplant(reference, form).train(pass_ != "forward") for form in FORMS}
            steps = {form: timed_call(by_form[form], x, pass_) for form in FORMS}
            compile_seconds = {}
            for name, run in compiled_candidates(by_form, pass_).items():
                steps[name] = timed_call(run, x, pass_)
                # Each block in its own empty cache: at C = 1 the three forms are one graph, whose kernels
                # the second and third would otherwise find made. The loaded kernels outlive the cache's files.
                with fresh_cache():
                    start = time.perf_counter()
                    steps[name]()  # the first call compiles
                    if device.type == "cuda":
                        torch.cuda.synchronize(device)
                    compile_seconds[name] = [time.perf_counter() - start]
            times = time_interleaved(steps, config.repeats, config.warmup, device)
            torch.compiler.reset()  # forget the compiled code: the next blocks are new code to compile
            rows += summarise(times, "c", COMPILED, case, pass_)
            rows += summarise(compile_seconds, f"c {COMPILED}", COMPILED, case, f"compile {pass_}")
        if progress is not None:
            progress.update()
    return rows


def bench_roofline(config: BenchConfig, progress: tqdm | None = None) -> list[Measurement]:
    """Time the machine's limits (dense matmul, dense 3x3 convolution, copy) and every eager form, together.

    All are candidates of ONE interleaved comparison, reference the dense convolution,
    so that each form's time and each limit are measured in the same rounds: a slow
    spell of the machine changes both alike and cancels out of their ratio. The work
    each limit does is :func:`limit_work`. Rows of a limit have case ``"machine"``,
    rows of a form its template (e.g. ``"32x4d"``) and the form as variant; form (c)'s
    grouped 3x3 is timed alone too (variant :data:`GROUPED_3X3`), on its own input
    (B, C·d, size, size): the block's FLOPs include dense 1x1 convolutions, which hide it.
    """
    device = torch.device(config.device)
    torch.manual_seed(0)
    left, right = (torch.randn(MATMUL_SIZE, MATMUL_SIZE, device=device) for _ in range(2))
    product = torch.empty(MATMUL_SIZE, MATMUL_SIZE, device=device)
    conv = nn.Conv2d(TABLE2_CHANNELS, TABLE2_CHANNELS, 3, padding=1, bias=False).to(device).eval()
    x = torch.randn(config.batch, TABLE2_CHANNELS, config.size, config.size, device=device)
    source = torch.randn(COPY_ELEMENTS, device=device)
    target = torch.empty_like(source)
    candidates = {
        MATMUL: lambda: torch.mm(left, right, out=product),
        CONVOLUTION: timed_call(conv, x, "forward"),
        COPY: lambda: target.copy_(source),
    }
    forms: dict[str, tuple[str, str]] = {}  # candidate name -> (template, form)
    for cardinality, width in config.templates:
        spec = BlockSpec(TABLE2_CHANNELS, TABLE2_CHANNELS, cardinality, width)
        reference = build(spec, "c").to(device).eval()
        runs: dict[str, Callable[[Tensor], Tensor]] = {form: transplant(reference, form) for form in FORMS}
        runs[GROUPED_3X3] = cast(GroupedConvBlock, reference).conv2
        for variant, run in runs.items():
            name = f"{cardinality}x{width}d {variant}"
            forms[name] = (f"{cardinality}x{width}d", variant)
            candidates[name] = timed_call(run, grouped_input(config, spec) if variant == GROUPED_3X3 else x, "forward")
    times = time_interleaved(candidates, config.repeats, config.warmup, device)
    rows = []
    for row in summarise(times, CONVOLUTION, ROOFLINE, MACHINE, "forward"):
        case, variant = forms.get(row.variant, (MACHINE, row.variant))
        rows.append(replace(row, case=case, variant=variant))
    if progress is not None:
        progress.update()
    return rows


def grouped_input(config: BenchConfig, spec: BlockSpec) -> Tensor:
    """An input of form (c)'s grouped 3x3 in the roofline experiment: (batch, C·d, size, size), seeded."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(config.batch, spec.cardinality * spec.width, config.size, config.size, generator=generator)
    return x.to(config.device)


def limit_work(config: BenchConfig) -> dict[str, int]:
    """What one call of each limit of :func:`bench_roofline` does.

    Returns:
        The FLOPs (2 per multiply-add) of the matmul and the convolution, and the
        bytes of the copy (it reads the source and writes the target), by variant name.
    """
    conv_macs = config.batch * config.size * config.size * TABLE2_CHANNELS * TABLE2_CHANNELS * 3 * 3
    return {MATMUL: 2 * MATMUL_SIZE**3, CONVOLUTION: 2 * conv_macs, COPY: 2 * 4 * COPY_ELEMENTS}


# ---------------------------------------------------------------- the whole run


def run_benchmark(config: BenchConfig, show_progress: bool = True) -> list[Measurement]:
    """Run the experiments of ``config`` (see the module docstring); returns all measurements.

    The experiments seed their weights; the caller's random state is restored afterwards.

    Raises:
        ValueError: from :class:`BenchConfig` on a bad setting.
    """
    experiments: dict[str, tuple[Callable[[BenchConfig, tqdm | None], list[Measurement]], int]] = {
        "blocks": (bench_blocks, len(config.templates) * len(config.passes)),
        "networks": (bench_networks, 3),  # networks, parity, layout
        "transplant": (bench_transplant, 1),
        "audit": (bench_audit, 1),
        COMPILED: (bench_compiled, len(config.templates)),
        ROOFLINE: (bench_roofline, 1),
    }
    chosen = [name for name in EXPERIMENTS if name in config.experiments]
    progress = tqdm(total=sum(experiments[name][1] for name in chosen), desc="bench", disable=not show_progress)
    rows: list[Measurement] = []
    with fixed_threads(config.threads), torch.random.fork_rng(devices=[]), progress as bar:
        for name in chosen:
            rows += experiments[name][0](config, bar)
    return rows
