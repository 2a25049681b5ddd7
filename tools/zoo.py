"""The zoo run: every ResNet-family model of timm and torchvision, read by ``blocks.audit`` and moved by ``transplant``.

Each model is built with random weights (``pretrained=False``, ``weights=None``: nothing is
downloaded), its BatchNorms given random statistics (timm zero-initialises the last BN of each
block, which would make every branch zero), and run at ``(1, 3, 64, 64)`` (video models at
``(1, 3, 4, 32, 32)``; a model that fails there is tried at its own default size, up to 288 pixels).
Then:

1. ``blocks.audit(model, input_size)``: the blocks found, C x d per stage, the variants, the deviations;
2. ``blocks.transplant(model, form, input_size=...)`` for form ``a``, ``b`` and ``c``: which work,
   and the exact refusal of each that does not;
3. for a model whose every block is the paper's (no variant, no deviation) and that moved into all
   three forms: the same in float64, each moved model against the source on a random input
   (relative error at most ``NETWORK_FP64_RTOL``, 1e-10);
4. an oracle read from the model's own modules (never what the audit reads): the modules whose class
   is a bottleneck, the groups and width of their 3x3, and the gates, activations and average-pool
   shortcuts inside them. A reading that disagrees with it is ``wrong``.

An exception that is not a ``ValueError`` or ``TypeError`` raised by ``blocks`` itself (its last
frame in the package) is a CRASH, recorded with its traceback. Every model runs in a worker process
of its own, restarted after a crash of the process or a model over the time limit.

Status of a model (the ``status`` column):
    paper    every block is the paper's, moved exactly into (a), (b) and (c)
    variant  blocks found, each variant named, no deviation
    refused  transplant refused cleanly, naming why, in every form (no bottleneck, not the paper's block)
    wrong    the reading disagrees with the oracle, or a paper-block model is not exact in float64
    crash    an exception that is not a clean refusal
    skipped  the forward pass fails at every size tried, the model is too large, or it ran out of time

Commands (``make family`` runs both):

    python tools/zoo.py run [--out /tmp/zoo-results.csv]   # every model; the full results, with times and
                                                           # tracebacks (not committed: they name this machine)
    python tools/zoo.py family [--results /tmp/zoo-results.csv]   # docs/family.csv, the committed columns

``docs/family.py`` writes the site's family-tree page from ``docs/family.csv`` at site-build time;
``tests/dataflow/test_zoo.py`` runs a representative subset of the zoo through :func:`read`.
"""

from __future__ import annotations

import argparse
import copy
import csv
import fnmatch
import multiprocessing
import re
import sys
import time
import traceback
from collections.abc import Iterator
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch
from torch import nn

import blocks
from blocks.dataflow.audit import AuditReport
from blocks.dataflow.recognise import RecognisedBlock
from blocks.util.numerics import NETWORK_FP64_RTOL, randomise_batchnorm, relative_error

# timm and torchvision are imported where a model is listed or built: importing this module (the tests do,
# at collection) stays cheap.

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path("/tmp/zoo-results.csv")
FAMILY_CSV = ROOT / "docs" / "family.csv"
IMAGE_SIZE = (1, 3, 64, 64)  # stages at 16, 8, 4 and 2 pixels: small, and every block still runs
VIDEO_SIZE = (1, 3, 4, 32, 32)  # torchvision's video ResNets: 4 frames of 32x32
LARGEST_DEFAULT = 288  # a model that fails at 64x64 is tried at its own default size up to this
MAX_PARAMETERS = 400_000_000  # 1.6 GB in float32, copied by every transplant and into float64: the most 23 GB hold
TIME_LIMIT_S = 300.0  # one model, every step: a model over it is skipped, its worker restarted
SEED = 0

# The families of the zoo, in the order of the page; a model belongs to the first whose pattern matches
# its name (timm's and torchvision's). Res2Net, SK and ResNeSt blocks are not ResNeXt bottlenecks (their transplant
# must refuse); a CSP stage holds bottlenecks between a split of its input and a concatenation.
FAMILIES: tuple[tuple[str, str], ...] = (
    ("legacy SENet", r"^(legacy_se|senet)"),
    ("SE / ECA / GC-ResNe(X)t", r"^(se|eca|gc|bat_|nf_se|nf_eca)res"),
    ("RegNetX / RegNetY", r"^(regnet|nf_regnet|haloregnet)"),
    ("ResNet-RS", r"^resnetrs"),
    ("pre-activation ResNetV2", r"^resnetv2"),
    ("anti-aliased / blur ResNet", r"^resnet(aa|blur)"),
    ("wide ResNet", r"^wide_resnet"),
    ("ResNet-D and other stems", r"^resne(t|xt)\d+[dcst]"),
    ("ResNeXt", r"^(quantized_)?resnext"),
    ("ResNet", r"^(quantized_)?resnet|^(r3d|mc3|r2plus1d)_|fpn"),
    ("Res2Net", r"^res2ne"),
    ("SK-ResNe(X)t", r"^skresne"),
    ("ResNeSt", r"^resnest"),
    ("CSP-ResNe(X)t", r"^cspresne"),
    ("other ResNets", r"."),
)
TIMM_PATTERNS = (
    "resnet*", "resnext*", "wide_resnet*", "seresnet*", "seresnext*", "ecaresnet*", "ecaresnext*", "gcresnet*",
    "gcresnext*", "legacy_se*", "senet*", "regnet*", "res2net*", "res2next*", "skresnet*", "skresnext*", "resnest*",
    "cspresnet*", "cspresnext*", "resnetrs*", "resnetv2*", "resnetblur*", "resnetaa*",
    # others of the family: timm's bring-your-own-block ResNeXts, normaliser-free ResNets, TResNet
    "eca_resne*", "bat_resne*", "nf_resne*", "nf_seresne*", "nf_ecaresne*", "nf_regnet*", "tresnet*",
)  # fmt: skip
TORCHVISION_PREFIXES = ("resnet", "resnext", "wide_resnet", "regnet")
VIDEO_MODELS = ("r3d_18", "mc3_18", "r2plus1d_18")
QUANTIZABLE = ("resnet18", "resnet50", "resnext101_32x8d", "resnext101_64x4d")  # built with quantize=False
FPN_BACKBONES = ("resnet50", "resnext50_32x4d")  # detection's ResNet + FPN, with its frozen BatchNorms

# What a gate's, or an activation's, module class is called, for the oracle (the audit never reads names).
_GATE_CLASSES = {
    "squeeze-excitation": re.compile(r"^(SE|SqueezeExcite|EffectiveSE)"),
    "eca": re.compile(r"^C?[Ee]ca"),
    "global-context": re.compile(r"^GlobalContext"),
}
_FOREIGN_PARTS = re.compile(
    r"Attn|Attention|NonLocal|SelectiveKernel|Blur|AntiAlias|Lambda|Halo|EvoNorm|GroupNorm|FilterResponse"
)
_ACTIVATIONS = (nn.SiLU, nn.GELU, nn.Hardswish, nn.LeakyReLU, nn.ELU, nn.Mish, nn.PReLU)


@dataclass(frozen=True)
class ZooModel:
    """One model of the zoo: where it comes from, its name there, and its family on the page."""

    source: str  # "timm", "torchvision", "torchvision.video", "torchvision.quantization", "torchvision.detection"
    name: str

    @property
    def key(self) -> str:
        return f"{self.source}:{self.name}"

    @property
    def family(self) -> str:
        return family_of(self.name)

    @property
    def input_size(self) -> tuple[int, ...]:
        return VIDEO_SIZE if self.source == "torchvision.video" else IMAGE_SIZE


@dataclass
class Row:
    """What the zoo run records of one model: a row of the results CSV.

    ``widths`` is C x d per stage (stages joined by `` / ``), ``variants`` and ``deviations`` their kinds,
    ``forms`` the forms the transplant worked into, ``refusals`` each other form's exact message,
    ``wrong`` what disagrees with the oracle, ``crash`` the exception and the first lines of its traceback,
    ``left`` the bottleneck modules a transplant leaves as they are, ``note`` why a skipped model was not run.
    """

    source: str
    model: str
    family: str
    status: str = "skipped"
    input_size: str = ""
    parameters: int = 0
    blocks: int = 0
    widths: str = ""
    variants: str = ""
    deviations: str = ""
    forms: str = ""
    refusals: str = ""
    fp64_error: str = ""
    left: str = ""
    wrong: str = ""
    crash: str = ""
    note: str = ""
    seconds: float = 0.0


COLUMNS = [f.name for f in fields(Row)]
# docs/family.csv: what the page shows, nothing that changes from one run or machine to the next.
FAMILY_COLUMNS = ["source", "model", "family", "status", "blocks", "widths", "variants", "deviations", "forms", "note"]


def family_of(name: str) -> str:
    """The family a model of this name belongs to on the page: the first of :data:`FAMILIES` that matches."""
    return next(title for title, pattern in FAMILIES if re.search(pattern, name))


def zoo() -> list[ZooModel]:
    """Every model of the ResNet family in timm's and torchvision's registries (video, quantizable, detection too)."""
    import timm
    import torchvision

    models = [ZooModel("timm", name) for name in timm.list_models(list(TIMM_PATTERNS))]
    models += [
        ZooModel("torchvision", name)
        for name in torchvision.models.list_models(module=torchvision.models)
        if name.startswith(TORCHVISION_PREFIXES)
    ]
    video = set(torchvision.models.list_models(module=torchvision.models.video))
    models += [ZooModel("torchvision.video", name) for name in VIDEO_MODELS if name in video]
    models += [ZooModel("torchvision.quantization", f"quantized_{name}") for name in QUANTIZABLE]
    models += [ZooModel("torchvision.detection", f"{name}_fpn") for name in FPN_BACKBONES]
    return models


def build(entry: ZooModel) -> nn.Module:
    """The model with random weights (nothing downloaded), built as its registry builds it."""
    import timm
    import torchvision
    from torchvision.models.detection.backbone_utils import resnet_fpn_backbone

    if entry.source == "timm":
        return timm.create_model(entry.name, pretrained=False)
    if entry.source == "torchvision.quantization":
        return torchvision.models.get_model(entry.name, weights=None, quantize=False)
    if entry.source == "torchvision.detection":
        return resnet_fpn_backbone(backbone_name=entry.name.removesuffix("_fpn"), weights=None)
    return torchvision.models.get_model(entry.name, weights=None)  # classification and video


def parameter_count(entry: ZooModel) -> int:
    """The model's parameters, counted on the meta device (nothing allocated); 0 if it cannot be built there."""
    try:
        with torch.device("meta"):
            return sum(p.numel() for p in build(entry).parameters())
    except Exception:  # a builder that needs real tensors: counted after the real build instead
        return 0


def _clean(error: BaseException) -> bool:
    """Whether ``error`` is a refusal: a ValueError or TypeError raised by ``blocks`` itself."""
    frames = traceback.extract_tb(error.__traceback__)
    return isinstance(error, (ValueError, TypeError)) and bool(frames) and "/blocks/" in frames[-1].filename


def _crash(error: BaseException) -> str:
    """The exception and the last frames of its traceback, on one line each, innermost last."""
    frames = traceback.format_tb(error.__traceback__)[-4:]
    lines = [line.strip() for frame in frames for line in frame.splitlines() if line.strip()]
    return " | ".join([f"{type(error).__name__}: {error}", *lines])


def _input_sizes(entry: ZooModel, model: nn.Module) -> Iterator[tuple[int, ...]]:
    """The sizes to try: the zoo's, then the model's own default (timm's pretrained_cfg) if small enough."""
    yield entry.input_size
    default = getattr(model, "pretrained_cfg", {}).get("input_size")
    if default and tuple(default) != entry.input_size[1:] and max(default[1:]) <= LARGEST_DEFAULT:
        yield (1, *default)


def _runs_at(model: nn.Module, size: tuple[int, ...]) -> str:
    """The empty string if ``model`` runs on a random input of ``size``, else the error in one line."""
    try:
        with torch.no_grad():
            model(torch.randn(size, generator=torch.Generator().manual_seed(SEED), dtype=_dtype(model)))
    except Exception as error:
        return f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
    return ""


def _dtype(model: nn.Module) -> torch.dtype:
    return next((p.dtype for p in model.parameters()), torch.float32)


def _stage_widths(report: AuditReport) -> str:
    """C x d per stage, stages joined by `` / ``: ``1x64d / 1x128d / 1x256d / 1x512d``."""
    return " / ".join(" ".join(stage.widths) for stage in report.stages)


def oracle(model: nn.Module) -> tuple[list[tuple[str, nn.Conv2d, set[str]]], list[str]]:
    """The bottlenecks the model's own modules declare, and those with parts the paper's block lacks.

    A bottleneck is the outermost module whose class name has "Bottleneck" in it (torchvision's and timm's
    ResNets, RegNets, legacy SENets, ResNetV2, the bring-your-own-block nets) with one 3x3 convolution in its
    branch (its shortcut's, SENet-154's, is not), grouped or not. One whose branch holds a part that neither
    the paper's block nor a variant the audit names has (a pool, as CLIP's and the anti-aliased ResNets' have;
    attention, selective kernels, a norm other than BN: :data:`_FOREIGN_PARTS`) is one the audit is right to leave out.

    Returns:
        (name, the 3x3 of its branch, the variant kinds inside it) per bottleneck; the names of those left out.
    """
    found: list[tuple[str, nn.Conv2d, set[str]]] = []
    foreign: list[str] = []
    for name, module in model.named_modules():  # parents first: a block's BottleneckTransform is inside it
        taken = any(name.startswith(f"{other}.") for other in [*(f[0] for f in found), *foreign])
        if "Bottleneck" not in type(module).__name__ or taken:
            continue
        parts = [type(inner).__name__ for inner in module.modules()]
        branch = [m for n, m in module.named_modules() if not n.startswith(("down", "shortcut"))]
        threes = [m for m in branch if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3)]
        if len(threes) != 1 or _no_shortcut(module):
            continue
        if any(isinstance(m, (nn.AvgPool2d, nn.MaxPool2d)) for m in branch) or any(map(_FOREIGN_PARTS.search, parts)):
            foreign.append(name)
            continue
        kinds = {kind for part in parts for kind, pattern in _GATE_CLASSES.items() if pattern.search(part)}
        if any(isinstance(inner, _ACTIVATIONS) for inner in module.modules()):
            kinds.add("activation")
        if any(isinstance(inner, nn.AvgPool2d) for n, inner in module.named_modules() if n.startswith("down")):
            kinds.add("avg-pool-shortcut")
        found.append((name, threes[0], kinds))
    return found, foreign


def _no_shortcut(module: nn.Module) -> bool:
    """Whether a timm block has no residual add at all: RegNet's with ``downsample`` None (RegNetZ's first
    block of a stage), a bring-your-own-block net's with ``shortcut`` None. (In torchvision's, None is identity.)"""
    home = type(module).__module__
    return (home == "timm.models.regnet" and module.downsample is None) or (
        home == "timm.models.byobnet" and module.shortcut is None
    )


def _judge(row: Row, model: nn.Module, found: tuple[RecognisedBlock, ...]) -> None:
    """Set ``row.wrong`` where the audit's blocks disagree with :func:`oracle` (the model's own modules).

    Each bottleneck module must be found, with the C x d of its 3x3 (its groups, and its output channels per
    group); one without a deviation must have the variants its modules hold named; and a 3x3 that changes the
    width (SENet-154's, a pruned ResNet's) cannot be read as a path reading another path's channels (mistake
    11, ``cross-group``): each group of a convolution reads its own group's channels only.
    """
    by_name = {block.where: block for block in found}
    problems = []
    bottlenecks, foreign = oracle(model)
    if foreign and found:
        row.left = f"{len(foreign)} blocks with parts the paper's block lacks, left as they are: {foreign[0]}, ..."
    for name, conv, kinds in bottlenecks:
        block = by_name.get(name)
        if block is None:
            problems.append(f"{name} not found")
            continue
        widths = f"{conv.groups}x{conv.out_channels // conv.groups}d"
        deviations = {str(d.kind) for d in block.deviations}
        if block.widths != widths:
            problems.append(f"{name} read as {block.widths}, its 3x3 is {widths}")
        missing = kinds - {str(v.kind) for v in block.variants}
        if missing and not deviations:
            problems.append(f"{name}: {', '.join(sorted(missing))} not named")
        if "cross-group" in deviations and conv.in_channels != conv.out_channels:
            problems.append(
                f"{name}: its 3x3 ({conv.in_channels}->{conv.out_channels}, {conv.groups} groups) changes the width,"
                " read as mistake 11 (cross-group)"
            )
    if len(problems) > 3:  # the first three, and how many
        problems = [*problems[:3], f"and {len(problems) - 3} more"]
    row.wrong = "; ".join(problems)


def read(entry: ZooModel, forms: str = "abc") -> Row:
    """Build ``entry``'s model, audit it, transplant it into each of ``forms``, and judge the reading.

    Returns:
        Its :class:`Row` (its ``status`` says what was found; see the module docstring).
    """
    start = time.perf_counter()
    row = Row(entry.source, entry.name, entry.family)
    try:
        row.parameters = parameter_count(entry)
        if row.parameters > MAX_PARAMETERS:
            row.note = f"not run: {row.parameters:,} parameters, over {MAX_PARAMETERS:,}"
            return row
        torch.manual_seed(SEED)
        model = randomise_batchnorm(build(entry), torch.Generator().manual_seed(SEED)).eval()
        row.parameters = sum(p.numel() for p in model.parameters())
        failures = []
        for size in _input_sizes(entry, model):
            failure = _runs_at(model, size)
            if not failure:
                row.input_size = "x".join(map(str, size))
                _audit_and_move(row, model, size, forms)
                break
            failures.append(f"at {size}: {failure}")
        else:
            row.note = "its forward pass fails " + "; ".join(failures)
    except Exception as error:
        row.status, row.crash = "crash", _crash(error)
    finally:
        row.seconds = round(time.perf_counter() - start, 1)
    return row


def _audit_and_move(row: Row, model: nn.Module, size: tuple[int, ...], forms: str) -> None:
    """Fill ``row`` with the audit of ``model``, its transplants into ``forms``, the float64 check and the status."""
    report = blocks.audit(model, size)
    row.blocks = len(report.blocks)
    row.widths = _stage_widths(report)
    row.variants = " ".join(sorted({str(v.kind) for b in report.blocks for v in b.variants}))
    row.deviations = " ".join(sorted({str(d.kind) for b in report.blocks for d in b.deviations}))
    _judge(row, model, report.blocks)
    refusals = []
    for form in forms:
        try:
            blocks.transplant(model, form, input_size=size)
            row.forms += form
        except Exception as error:
            if not _clean(error):
                raise
            refusals.append(f"{form}: {type(error).__name__}: {error}")
    row.refusals = " || ".join(refusals)
    paper = bool(report.blocks) and all(b.equivalent for b in report.blocks) and row.forms == forms
    if paper:
        row.fp64_error = f"{_fp64_error(model, size, forms):.1e}"
        if float(row.fp64_error) > NETWORK_FP64_RTOL:
            row.wrong = "; ".join(filter(None, [row.wrong, f"float64 error {row.fp64_error} over 1e-10"]))
    row.status = _status(row, paper)


def _fp64_error(model: nn.Module, size: tuple[int, ...], forms: str) -> float:
    """The largest relative error, over ``forms``, of the model moved in float64 against the float64 source."""
    source = copy.deepcopy(model).double().eval()
    x = torch.randn(size, generator=torch.Generator().manual_seed(SEED + 1), dtype=torch.float64)
    with torch.no_grad():
        expected = source(x)
        return max(relative_error(blocks.transplant(source, form, input_size=size)(x), expected) for form in forms)


def _status(row: Row, paper: bool) -> str:
    """paper, variant, refused or wrong (see the module docstring), from what ``read`` recorded."""
    if not row.wrong and not paper and row.forms and not row.variants:
        row.wrong = f"moved into {row.forms} though not every block is the paper's and none has a variant"
    if row.wrong:
        return "wrong"
    if paper:
        return "paper"
    if row.blocks and row.variants and not row.deviations:
        return "variant"
    return "refused" if not row.forms else "variant"


def page_note(row: dict[str, str]) -> str:
    """The one clause the family page shows beside a model of the results: what is wrong, why it was not
    run, what crashed, or why a form was refused (the first refusal; they differ only in the form)."""
    first_refusal = row["refusals"].split(" || ")[0].split(": ", 2)[-1]
    why = {"wrong": row["wrong"], "crash": row["crash"].split(" | ")[0], "skipped": row["note"]}
    text = why.get(row["status"], first_refusal if row["forms"] != "abc" else row.get("left", ""))
    return re.sub(r"\s+", " ", text)[:300]


# ------------------------------------------------------------------ the run: one worker process at a time


def _worker(connection: multiprocessing.connection.Connection) -> None:
    """Read each model the main process sends; send its row back (as a dict)."""
    torch.set_num_threads(1)
    while True:
        key = connection.recv()
        if key is None:
            return
        source, name = key.split(":", 1)
        connection.send(asdict(read(ZooModel(source, name))))


class _Worker:
    """A worker process, restarted when a model kills it or runs over the time limit."""

    def __init__(self) -> None:
        self._context = multiprocessing.get_context("spawn")
        self._process: multiprocessing.process.BaseProcess | None = None

    def read(self, entry: ZooModel, limit_s: float) -> Row:
        if self._process is None or not self._process.is_alive():
            self._connection, child = self._context.Pipe()
            self._process = self._context.Process(target=_worker, args=(child,), daemon=True)
            self._process.start()
        start = time.perf_counter()
        self._connection.send(entry.key)
        try:
            if self._connection.poll(limit_s):
                return Row(**self._connection.recv())
            why = f"not finished after {limit_s:.0f} s"
        except EOFError:  # the worker died (out of memory, a segmentation fault)
            why = f"the worker process died (exit code {self._process.exitcode})"
        self.stop()
        status = "skipped" if why.startswith("not finished") else "crash"
        row = Row(entry.source, entry.name, entry.family, status=status, seconds=round(time.perf_counter() - start, 1))
        row.note, row.crash = (why, "") if status == "skipped" else ("", why)
        return row

    def stop(self) -> None:
        if self._process is not None and self._process.is_alive():
            self._process.kill()
            self._process.join()
        self._process = None


def run(out: Path, only: list[str], limit_s: float) -> int:
    """Read every model of the zoo (or those matching a glob of ``only``) and write each row to ``out`` as it comes."""

    def first_match(entry: ZooModel) -> int:
        matches = (i for i, g in enumerate(only) if fnmatch.fnmatch(entry.key, g) or fnmatch.fnmatch(entry.name, g))
        return next(matches, -1)

    # In the order of the globs (the zoo's within one): the models that matter most first, when time is short.
    entries = sorted((e for e in zoo() if first_match(e) >= 0), key=first_match)
    worker = _Worker()
    start = time.perf_counter()
    counts: dict[str, int] = {}
    with out.open("w", newline="") as file:
        writer = csv.DictWriter(file, COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for number, entry in enumerate(entries, start=1):
            row = worker.read(entry, limit_s)
            writer.writerow(asdict(row))
            file.flush()
            counts[row.status] = counts.get(row.status, 0) + 1
            print(
                f"[{number}/{len(entries)}] {entry.key:45} {row.status:8} {row.blocks:3} blocks"
                f" forms {row.forms or '-':3} {row.seconds:6.1f} s  {(row.crash or row.wrong or row.note)[:90]}",
                flush=True,
            )
    worker.stop()
    print(f"{len(entries)} models in {time.perf_counter() - start:.0f} s: {counts}; results in {out}")
    return 0


def family(results: Path, out: Path) -> int:
    """Write ``out`` (docs/family.csv): the committed columns of ``results``, in the zoo's order."""
    with results.open(newline="") as file:
        rows = list(csv.DictReader(file))
    order = [title for title, _ in FAMILIES]
    rows.sort(key=lambda r: (order.index(r["family"]), r["source"], r["model"]))
    for row in rows:
        row["note"] = page_note(row)
    with out.open("w", newline="") as file:
        writer = csv.DictWriter(file, FAMILY_COLUMNS, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    print(f"{len(rows)} models: {out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python tools/zoo.py", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run_parser = commands.add_parser("run", help="read every model of the zoo; write the full results CSV")
    run_parser.add_argument("--out", type=Path, default=RESULTS, help=f"the results CSV (default {RESULTS})")
    run_parser.add_argument(
        "--only",
        nargs="+",
        default=["*"],
        help="globs over 'source:name' or the name, run in their order (default: all)",
    )
    run_parser.add_argument(
        "--limit-s", type=float, default=TIME_LIMIT_S, help=f"seconds per model (default {TIME_LIMIT_S:.0f})"
    )
    family_parser = commands.add_parser("family", help=f"write {FAMILY_CSV.relative_to(ROOT)} from the results")
    family_parser.add_argument("--results", type=Path, default=RESULTS, help=f"the run's CSV (default {RESULTS})")
    family_parser.add_argument(
        "--out", type=Path, default=FAMILY_CSV, help="the committed CSV (default docs/family.csv)"
    )
    args = parser.parse_args(argv)
    if args.command == "run":
        return run(args.out, args.only, args.limit_s)
    return family(args.results, args.out)


if __name__ == "__main__":
    sys.exit(main())
