"""What ``python -m blocks bench`` writes: the CSV (one row per measurement) and a Markdown table."""

from __future__ import annotations

import csv
import platform
from dataclasses import asdict
from importlib import resources
from pathlib import Path

import torch

from blocks.bench.experiments import BenchConfig
from blocks.bench.harness import PASSES, Measurement
from blocks.util.text import render_table

CSV_COLUMNS = (
    "experiment", "case", "pass", "variant", "reference",
    "median_ms", "min_ms", "max_ms", "ratio_median", "ratio_min", "ratio_max",
    "repeats", "warmup", "batch", "size", "dtype", "device", "threads", "torch", "machine",
)  # fmt: skip
# The committed run of ``python -m blocks bench`` (a copy of benchmarks/results.csv, shipped with the
# package so that notebook 05 can show it from any folder; tests/bench/test_bench.py keeps the two equal).
REFERENCE_RESULTS = "reference_results.csv"
# A ratio whose timed rounds lie further apart than this factor (max / min) says more about what else
# the machine was doing than about the code: the committed run's widest is 2.2 (4x24d, a / c forward).
SPREAD_LIMIT = 2.5
# Two candidates doing the same work (forms a, b and c at C = 1; our form (c) and torchvision's network) must
# take the same time: a median ratio beyond 1.3x either way is the machine (the committed run: 0.97 to 1.05).
EQUAL_WORK_LIMIT = 1.3


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


def read_csv(path: str | Path) -> tuple[list[Measurement], dict[str, str]]:
    """Read back what :func:`write_csv` wrote: the measurements and the columns they share.

    Args:
        path: a ``results.csv`` written by ``python -m blocks bench``.

    Returns:
        (measurements, shared columns: warmup, batch, size, dtype, device, threads, torch, machine).

    Raises:
        ValueError: the file's header is not :data:`CSV_COLUMNS`, it has no rows, or the rows
            disagree on a shared column (they came from more than one run).

    Example:
        >>> rows, shared = read_csv("benchmarks/results.csv")
        >>> shared["threads"]
        '2'
    """
    with Path(path).open(newline="") as file:
        reader = csv.DictReader(file)
        if tuple(reader.fieldnames or ()) != CSV_COLUMNS:
            raise ValueError(
                f"path must be a CSV with the columns {list(CSV_COLUMNS)}, got {reader.fieldnames} ({path})"
            )
        records = list(reader)
    if not records:
        raise ValueError(f"path must hold at least one measurement, got none ({path})")
    shared_keys = CSV_COLUMNS[CSV_COLUMNS.index("warmup") :]
    shared = {key: records[0][key] for key in shared_keys}
    for record in records:
        differing = [key for key in shared_keys if record[key] != shared[key]]
        if differing:
            raise ValueError(f"path must hold one run, but its rows differ in {differing} ({path})")
    rows = [
        Measurement(
            record["experiment"], record["case"], record["pass"], record["variant"], record["reference"],
            float(record["median_ms"]), float(record["min_ms"]), float(record["max_ms"]),
            float(record["ratio_median"]), float(record["ratio_min"]), float(record["ratio_max"]),
            int(record["repeats"]),
        )
        for record in records
    ]  # fmt: skip
    return rows, shared


def format_measurements(rows: list[Measurement]) -> str:
    """The measurements as a Markdown table (docs/speed.md and benchmarks/README.md)."""
    columns = ("experiment", "case", "pass", "variant", "median ms", "min–max ms", "ratio to", "median ratio (min–max)")
    cells = [
        (
            r.experiment, r.case, r.pass_, r.variant, f"{r.median_ms:.1f}", f"{r.min_ms:.1f}–{r.max_ms:.1f}",
            r.reference, f"{r.ratio_median:.3f} ({r.ratio_min:.3f}–{r.ratio_max:.3f})",
        )
        for r in rows
    ]  # fmt: skip
    return render_table(columns, cells)


def reference_run() -> list[Measurement]:
    """The committed benchmark run (batch 8, 56x56, 10 rounds, 2 threads; benchmarks/README.md)."""
    with resources.as_file(resources.files("blocks.bench") / REFERENCE_RESULTS) as path:
        return read_csv(path)[0]


def too_wide(row: Measurement, limit: float = SPREAD_LIMIT) -> bool:
    """Whether ``row``'s ratio moved more than ``limit`` times (max / min) between rounds: noise, not a measurement."""
    return row.variant != row.reference and row.ratio_max > limit * row.ratio_min


def format_ratio(row: Measurement) -> str:
    """``"1.01 (0.96–1.09)"``: the median per-round ratio and its range over the rounds; ``" ⚠"`` if too wide."""
    return f"{row.ratio_median:.2f} ({row.ratio_min:.2f}–{row.ratio_max:.2f})" + (" ⚠" if too_wide(row) else "")


def blocks_beside_reference(live: list[Measurement], reference: list[Measurement], pass_: str) -> str:
    """The ``blocks`` experiment of a live run beside the committed one: one row per template (C x d).

    Each form's cell is its time over form (c)'s in the same round: the live median and
    range (⚠ where :func:`too_wide`), then the committed median. Form (c)'s own column
    is its live median time.

    Args:
        live: measurements of :func:`blocks.bench.bench_blocks`.
        reference: the committed run (:func:`reference_run`), or any other.
        pass_: ``"forward"`` or ``"forward+backward"``.

    Returns:
        A Markdown table.

    Raises:
        ValueError: an unknown ``pass_``, or no live ``blocks`` measurement for it.
    """
    if pass_ not in PASSES:
        raise ValueError(f"pass_ must be one of {list(PASSES)}, got {pass_!r}")
    mine = [r for r in live if r.experiment == "blocks" and r.pass_ == pass_]
    if not mine:
        raise ValueError(f"live must hold blocks measurements for pass {pass_!r}, got none")
    base = mine[0].reference  # form (c)
    committed = {(r.case, r.variant): r for r in reference if r.experiment == "blocks" and r.pass_ == pass_}
    by_key = {(r.case, r.variant): r for r in mine}
    variants = [v for v in dict.fromkeys(r.variant for r in mine) if v != base]
    columns = ["C x d", f"{base}, ms"]
    for variant in variants:
        columns += [f"{variant} / {base}, live", "committed"]
    cells = []
    for case in dict.fromkeys(r.case for r in mine):
        row = [case, f"{by_key[case, base].median_ms:.1f}"]
        for variant in variants:
            row.append(format_ratio(by_key[case, variant]))
            row.append(f"{committed[case, variant].ratio_median:.2f}" if (case, variant) in committed else "–")
        cells.append(row)
    return render_table(columns, cells)


def spread_warning(rows: list[Measurement], limit: float = SPREAD_LIMIT) -> str:
    """A warning when some ratio of ``rows`` is :func:`too_wide` to mean anything, else ``""``.

    A ratio whose rounds lie that far apart measured the machine's other work more
    than the code: its median of a few rounds can be anything.

    Returns:
        One sentence: how many ratios, the widest one, and what to do; empty when every ratio is usable.
    """
    wide = [r for r in rows if too_wide(r, limit)]
    if not wide:
        return ""
    widest = max(wide, key=lambda r: r.ratio_max / r.ratio_min)
    measured = sum(r.variant != r.reference for r in rows)
    return (
        f"WARNING: {len(wide)} of {measured} live ratios (marked ⚠) moved more than {limit}x between rounds;"
        f" the widest, {widest.variant} / {widest.reference} at {widest.case} {widest.pass_},"
        f" ranged {widest.ratio_min:.2f}–{widest.ratio_max:.2f}. The machine was busy: those medians mean nothing."
        " Rerun the cell on a quiet machine, or read the committed run."
    )


def equal_work_warning(rows: list[Measurement], limit: float = EQUAL_WORK_LIMIT) -> str:
    """A warning when candidates that do the same work as their reference did not take the same time, else ``""``.

    A known answer: a ratio that must be 1 (the same layers, or the same network) and is
    not says that the machine's other work decided the numbers, even when the rounds agree.

    Args:
        rows: measurements whose candidate does exactly its reference's work.
        limit: the largest believable median ratio (and 1 / limit the smallest).

    Returns:
        One sentence naming the furthest ratio from 1; empty when every median is within the limit.
    """
    off = [r for r in rows if not 1 / limit <= r.ratio_median <= limit]
    if not off:
        return ""
    worst = max(off, key=lambda r: max(r.ratio_median, 1 / r.ratio_median))
    return (
        f"WARNING: {worst.variant} / {worst.reference} ({worst.case}, {worst.pass_}) does the same work and must be"
        f" about 1, but measured {worst.ratio_median:.2f}. The machine was busy: the live numbers mean nothing."
        " Rerun the cell on a quiet machine, or read the committed run."
    )
