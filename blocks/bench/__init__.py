"""What the three forms cost at run time: ``python -m blocks bench``.

harness.py      interleaved timing rounds, per-round ratios, fresh weight placements
experiments.py  the experiments: blocks, networks, parity, layout, transplant, audit
report.py       the CSV and the Markdown table
"""

from blocks.bench.experiments import (
    BenchConfig,
    bench_audit,
    bench_blocks,
    bench_networks,
    bench_transplant,
    quick,
    run_benchmark,
    torchvision_twin,
)
from blocks.bench.harness import Measurement, fixed_threads, move_weights, summarise, time_interleaved, timed_call
from blocks.bench.report import environment, format_measurements, read_csv, write_csv

__all__ = [
    "BenchConfig",
    "Measurement",
    "bench_audit",
    "bench_blocks",
    "bench_networks",
    "bench_transplant",
    "environment",
    "fixed_threads",
    "format_measurements",
    "move_weights",
    "quick",
    "read_csv",
    "run_benchmark",
    "summarise",
    "time_interleaved",
    "timed_call",
    "torchvision_twin",
    "write_csv",
]
