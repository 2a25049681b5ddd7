"""What the three forms cost at run time: ``python -m blocks bench``.

harness.py      interleaved timing rounds, per-round ratios, fresh weight placements
experiments.py  the experiments: blocks, networks, parity, layout, transplant, audit, compiled, roofline
report.py       the CSV, the Markdown table, the committed run beside a live one
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
from blocks.bench.report import (
    blocks_beside_reference,
    environment,
    equal_work_warning,
    format_measurements,
    format_ratio,
    read_csv,
    reference_run,
    spread_warning,
    too_wide,
    write_csv,
)

__all__ = [
    "BenchConfig",
    "Measurement",
    "bench_audit",
    "bench_blocks",
    "bench_compiled",
    "bench_networks",
    "bench_roofline",
    "bench_transplant",
    "blocks_beside_reference",
    "environment",
    "equal_work_warning",
    "fixed_threads",
    "format_measurements",
    "format_ratio",
    "move_weights",
    "quick",
    "read_csv",
    "reference_run",
    "run_benchmark",
    "spread_warning",
    "summarise",
    "time_interleaved",
    "timed_call",
    "too_wide",
    "torchvision_twin",
    "write_csv",
]
