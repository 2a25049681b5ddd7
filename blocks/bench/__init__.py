"""What the three forms cost at run time: ``python -m blocks bench``.

harness.py      interleaved timing rounds, per-round ratios, fresh weight placements
experiments.py  the experiments: blocks, networks, parity, layout, transplant, audit, compiled, roofline
report.py       the CSV and the Markdown table
roofline.py     each form against the machine's limits: points, their CSV and table
"""

from blocks.bench.experiments import (
    BenchConfig,
    bench_audit,
    bench_blocks,
    bench_compiled,
    bench_networks,
    bench_roofline,
    bench_transplant,
    quick,
    run_benchmark,
    torchvision_twin,
)
from blocks.bench.harness import Measurement, fixed_threads, move_weights, summarise, time_interleaved, timed_call
from blocks.bench.report import environment, format_measurements, write_csv

__all__ = [
    "BenchConfig",
    "Measurement",
    "bench_audit",
    "bench_blocks",
    "bench_compiled",
    "bench_networks",
    "bench_roofline",
    "bench_transplant",
    "environment",
    "fixed_threads",
    "format_measurements",
    "move_weights",
    "quick",
    "run_benchmark",
    "summarise",
    "time_interleaved",
    "timed_call",
    "torchvision_twin",
    "write_csv",
]
