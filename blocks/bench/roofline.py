"""How close each form gets to the machine's limits: the roofline of ``python -m blocks bench``.

A kernel is held back by one of two limits (Williams, Waterman & Patterson, *Roofline*,
CACM 2009): how fast the machine multiplies and adds, or how fast memory delivers
the bytes to multiply. Its ARITHMETIC INTENSITY, FLOPs per byte moved, says which:

    attainable GFLOP/s = min(compute roof, intensity × memory bandwidth)

The roofs are measured in the same rounds as the forms (experiment ``roofline``,
:func:`blocks.bench.experiments.bench_roofline`): a large dense matmul and a dense
3x3 convolution for the compute roof, a large copy for the bandwidth. Every form
of every Table 2 template is one point: its FLOPs (2 per multiply-add,
:func:`blocks.measure.complexity.complexity`), the bytes its operators move
(:func:`blocks.measure.census.census`: every operand read, every result written,
nothing kept in a cache between operators) and its eager forward time. Every time
is taken on the convolution's clock (the median per-round ratio to the dense
convolution, times the convolution's median), so a slow spell of a shared machine
cancels out of the shares of the roofs. The forms have the same FLOPs, so their
intensity differs by their bytes alone; how far each sits below the roofs is the
share of the machine it leaves unused.
"""

from __future__ import annotations

import csv
import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import torch

from blocks.bench.experiments import (
    CONVOLUTION,
    COPY,
    GROUPED_3X3,
    MACHINE,
    MATMUL,
    ROOFLINE,
    BenchConfig,
    grouped_input,
    limit_work,
)
from blocks.bench.harness import Measurement
from blocks.core.build import build
from blocks.core.forms import FORMS, GroupedConvBlock
from blocks.core.spec import BlockSpec
from blocks.measure.census import census
from blocks.measure.complexity import TABLE2_CHANNELS, complexity
from blocks.util.text import render_table

ROOFLINE_CSV = Path(__file__).resolve().parents[2] / "benchmarks" / "roofline.csv"  # the committed run's points


@dataclass(frozen=True)
class RooflinePoint:
    """One form of one template, and the machine's roofs measured in the same run.

    Attributes:
        case: the template, e.g. ``"32x4d"``.
        variant: the form, ``"a"``, ``"b"`` or ``"c"`` (eager), or form (c)'s grouped 3x3
            alone (:data:`GROUPED_3X3`).
        flops: FLOPs of one forward of the whole batch (2 per multiply-add of its convolutions).
        bytes_moved: bytes its operators read and write in that forward (:func:`census`).
        time_ms: its forward time on the convolution's clock: the median per-round ratio
            to the dense convolution, times the convolution's median time.
        matmul_gflops, conv_gflops: the compute roofs: the dense matmul's and the dense
            3x3 convolution's GFLOP/s, at the same thread count.
        bandwidth_gbytes: the memory roof: GB/s of the large copy (bytes read + written).
    """

    case: str
    variant: str
    flops: int
    bytes_moved: int
    time_ms: float
    matmul_gflops: float
    conv_gflops: float
    bandwidth_gbytes: float

    @property
    def intensity(self) -> float:
        """FLOPs per byte moved."""
        return self.flops / self.bytes_moved

    @property
    def gflops(self) -> float:
        """Achieved GFLOP/s."""
        return self.flops / self.time_ms / 1e6

    @property
    def gbytes(self) -> float:
        """Achieved GB/s of the bytes moved."""
        return self.bytes_moved / self.time_ms / 1e6

    @property
    def compute_fraction(self) -> float:
        """Achieved GFLOP/s as a share of the dense convolution's."""
        return self.gflops / self.conv_gflops

    @property
    def bandwidth_fraction(self) -> float:
        """Achieved GB/s as a share of the copy's."""
        return self.gbytes / self.bandwidth_gbytes

    @property
    def attainable_gflops(self) -> float:
        """The roofline's bound at this intensity: min(convolution roof, intensity × bandwidth)."""
        return min(self.conv_gflops, self.intensity * self.bandwidth_gbytes)


def roofline_points(rows: list[Measurement], config: BenchConfig) -> list[RooflinePoint]:
    """The roofline point of every eager form of every template, from the rows of experiment ``roofline``.

    Args:
        rows: the measurements of a run that includes experiment ``roofline``.
        config: that run's configuration (batch, size, templates, device).

    Returns:
        Per template, in template order, one point per form a, b, c and one for form (c)'s
        grouped 3x3 alone.

    Raises:
        ValueError: ``rows`` lack a limit or a form of ``config``'s templates.
    """
    mine = {(row.case, row.variant): row for row in rows if row.experiment == ROOFLINE}
    cases = [f"{cardinality}x{width}d" for cardinality, width in config.templates]
    variants = (*FORMS, GROUPED_3X3)
    needed = [(MACHINE, limit) for limit in (MATMUL, CONVOLUTION, COPY)] + [(c, v) for c in cases for v in variants]
    if any(key not in mine for key in needed):
        raise ValueError("rows must hold the measurements of experiment 'roofline' for every template of config")
    clock_ms = mine[MACHINE, CONVOLUTION].median_ms

    def time_ms(case: str, variant: str) -> float:  # on the convolution's clock
        return mine[case, variant].ratio_median * clock_ms

    work = limit_work(config)
    roofs = {
        "matmul_gflops": work[MATMUL] / time_ms(MACHINE, MATMUL) / 1e6,
        "conv_gflops": work[CONVOLUTION] / clock_ms / 1e6,
        "bandwidth_gbytes": work[COPY] / time_ms(MACHINE, COPY) / 1e6,
    }
    device = torch.device(config.device)
    points = []
    for cardinality, width in config.templates:
        spec = BlockSpec(TABLE2_CHANNELS, TABLE2_CHANNELS, cardinality, width)
        case = f"{cardinality}x{width}d"
        macs = complexity(spec, (1, TABLE2_CHANNELS, config.size, config.size)).macs * config.batch
        x = torch.zeros(config.batch, TABLE2_CHANNELS, config.size, config.size, device=device)
        with torch.random.fork_rng(devices=[]):  # the weights' values do not matter; the caller's stream is kept
            by_form = {form: build(spec, form).to(device).eval() for form in FORMS}
        for form, block in by_form.items():
            moved = census(block, x).bytes_moved  # on the timed device: each device has its own BN operators
            points.append(RooflinePoint(case, form, 2 * macs, moved, time_ms(case, form), **roofs))
        conv2, x2 = cast(GroupedConvBlock, by_form["c"]).conv2, grouped_input(config, spec)
        conv2_macs = complexity(conv2, (1, *x2.shape[1:])).macs * config.batch
        moved = census(conv2, x2).bytes_moved
        points.append(RooflinePoint(case, GROUPED_3X3, 2 * conv2_macs, moved, time_ms(case, GROUPED_3X3), **roofs))
    return points


def format_roofline(points: list[RooflinePoint]) -> str:
    """The points as a Markdown table: achieved GFLOP/s and GB/s, and their shares of the roofs."""
    columns = ("template", "form", "GFLOP/s", "of conv roof", "MB moved", "FLOP/byte", "GB/s", "of bandwidth")
    cells = [
        (
            p.case, p.variant, f"{p.gflops:.1f}", f"{p.compute_fraction:.0%}", f"{p.bytes_moved / 1e6:.0f}",
            f"{p.intensity:.1f}", f"{p.gbytes:.1f}", f"{p.bandwidth_fraction:.0%}",
        )
        for p in points
    ]  # fmt: skip
    return render_table(columns, cells)


_FIELDS = [field.name for field in dataclasses.fields(RooflinePoint)]
_DERIVED = ("intensity", "gflops", "compute_fraction", "gbytes", "bandwidth_fraction")  # for a reader of the CSV


def write_roofline_csv(points: list[RooflinePoint], shared: dict[str, str], path: str | Path) -> Path:
    """Write one row per point: its fields, the derived columns, and the ``shared`` environment columns."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=[*_FIELDS, *_DERIVED, *shared])
        writer.writeheader()
        for point in points:
            derived = {name: f"{getattr(point, name):.4g}" for name in _DERIVED}
            # str() of a float is its shortest exact form: a figure drawn from the file is the run's figure
            writer.writerow({**dataclasses.asdict(point), **derived, **shared})
    return path


def read_roofline_csv(path: str | Path = ROOFLINE_CSV) -> list[RooflinePoint]:
    """The points of a CSV written by :func:`write_roofline_csv` (default: the committed run's).

    Raises:
        FileNotFoundError: no such file; the message says how to make one.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no roofline data at {str(path)!r}: `python -m blocks bench` writes it")
    with path.open(newline="") as file:
        rows = list(csv.DictReader(file))
    floats = ("time_ms", "matmul_gflops", "conv_gflops", "bandwidth_gbytes")
    return [
        RooflinePoint(
            row["case"],
            row["variant"],
            int(row["flops"]),
            int(row["bytes_moved"]),
            *map(float, (row[f] for f in floats)),
        )
        for row in rows
    ]
