"""What ``python -m blocks bench`` writes: the CSV (one row per measurement) and a Markdown table."""

from __future__ import annotations

import csv
import platform
from dataclasses import asdict
from pathlib import Path

import torch

from blocks.bench.experiments import BenchConfig
from blocks.bench.harness import Measurement
from blocks.text import render_table

CSV_COLUMNS = (
    "experiment", "case", "pass", "variant", "reference",
    "median_ms", "min_ms", "max_ms", "ratio_median", "ratio_min", "ratio_max",
    "repeats", "warmup", "batch", "size", "dtype", "device", "threads", "torch", "machine",
)  # fmt: skip


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
    """The measurements as a Markdown table (the README's speed section)."""
    columns = ("experiment", "case", "pass", "variant", "median ms", "min–max ms", "ratio to", "median ratio (min–max)")
    cells = [
        (
            r.experiment, r.case, r.pass_, r.variant, f"{r.median_ms:.1f}", f"{r.min_ms:.1f}–{r.max_ms:.1f}",
            r.reference, f"{r.ratio_median:.3f} ({r.ratio_min:.3f}–{r.ratio_max:.3f})",
        )
        for r in rows
    ]  # fmt: skip
    return render_table(columns, cells)
