"""The speed benchmark keeps working: its runs, its CSV and figure, the roofline, its command.

Nothing here asserts a time: timings belong to ``python -m blocks bench`` and
the README, on a machine that is not running the test suite at the same time.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest
import torch

from blocks import BlockSpec, build
from blocks.bench import (
    BenchConfig,
    Measurement,
    bench_blocks,
    blocks_beside_reference,
    environment,
    equal_work_warning,
    move_weights,
    read_csv,
    reference_run,
    run_benchmark,
    spread_warning,
    write_csv,
)
from blocks.bench.experiments import (
    COMPILED,
    CONVOLUTION,
    COPY,
    FUSED,
    GROUPED_3X3,
    MATMUL,
    ROOFLINE,
    TARGET_PAIR_ROUNDS,
    TORCHVISION,
    compiled_candidates,
)
from blocks.bench.harness import PASSES
from blocks.bench.report import CSV_COLUMNS, EQUAL_WORK_LIMIT, REFERENCE_RESULTS, SPREAD_LIMIT
from blocks.bench.roofline import read_roofline_csv, roofline_points, write_roofline_csv
from blocks.cli import main
from blocks.figures.speed import FIGURE_NAME, speed_figure
from blocks.figures.style import save_figure
from blocks.measure.census import census
from blocks.measure.proof import random_block

from tests.helpers import REPOSITORY

# A benchmark small enough for seconds on 2 cores: two templates, tiny inputs, C = 2 networks;
# without the compiler, which takes its seconds per block whatever the input (COMPILED_TINY has it).
TINY = BenchConfig(
    batch=2, size=8, repeats=2, warmup=1, threads=1,
    templates=((1, 8), (4, 2)), network=(50, 2, 4), transplant_network=(50, 2, 4),
    experiments=("blocks", "networks", "transplant", "audit"),
)  # fmt: skip
COMPILED_TINY = BenchConfig(
    batch=1, size=4, repeats=1, warmup=0, threads=1, templates=((2, 2),), passes=("forward",),
    experiments=(COMPILED, ROOFLINE),
)  # fmt: skip

pytestmark = pytest.mark.usefixtures("one_thread")  # see tests/conftest.py


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[list, Path, list[Path]]:
    rows = run_benchmark(TINY, show_progress=False)
    out = tmp_path_factory.mktemp("bench")
    path = write_csv(rows, environment(TINY), out / "results.csv")
    figures = save_figure(speed_figure(rows), out, FIGURE_NAME, formats=("png",))
    return rows, path, figures


@pytest.mark.slow  # tiny_run: a whole benchmark run
def test_csv_has_one_row_per_measurement_with_every_column(tiny_run: tuple[list, Path, list[Path]]) -> None:
    rows, path, _ = tiny_run
    with path.open() as file:
        table = list(csv.DictReader(file))
    assert tuple(table[0]) == CSV_COLUMNS
    assert len(table) == len(rows)
    blocks = [r for r in table if r["experiment"] == "blocks"]
    # 2 templates x 2 passes x 4 variants (a, a-fused, b, c)
    assert len(blocks) == len(TINY.templates) * len(PASSES) * 4
    assert {r["variant"] for r in blocks} == {"a", FUSED, "b", "c"}
    networks = [r for r in table if r["experiment"] == "networks"]
    assert {r["variant"] for r in networks} == {"a", "b", "c", TORCHVISION}
    assert {r["variant"] for r in table if r["experiment"] == "parity"} == {"c", TORCHVISION}
    assert {r["variant"] for r in table if r["experiment"] == "layout"} == {"c contiguous", "c channels_last"}
    assert (
        len([r for r in table if r["experiment"] == "transplant"]) == 3
    )  # the plain copy, transplant, the plain copy of both forms
    assert {r["variant"] for r in table if r["experiment"] == "audit"} == {"forward with tracing", "audit"}
    for row in table:
        assert row["threads"] == "1" and row["device"] == "cpu" and row["torch"] == torch.__version__
        # The pairs with a target are timed alone for more rounds; the both-forms copy is context.
        context = row["variant"].endswith("forms a and c")
        target_pair = row["experiment"] in ("parity", "transplant", "audit") and not context
        rounds = TARGET_PAIR_ROUNDS * TINY.repeats if target_pair else TINY.repeats
        assert row["repeats"] == str(rounds)
        assert 0 < float(row["min_ms"]) <= float(row["median_ms"]) <= float(row["max_ms"])
        if row["variant"] == row["reference"]:
            assert float(row["ratio_median"]) == 1.0


@pytest.mark.slow  # tiny_run: a whole benchmark run
def test_csv_reads_back_as_the_measurements(tiny_run: tuple[list, Path, list[Path]]) -> None:
    rows, path, _ = tiny_run
    for read, written in zip(read_csv(path)[0], rows, strict=True):
        assert (read.experiment, read.case, read.pass_, read.variant, read.repeats) == (
            written.experiment, written.case, written.pass_, written.variant, written.repeats,
        )  # fmt: skip
        assert read.ratio_median == pytest.approx(written.ratio_median, abs=1e-4)  # written with 4 decimals


def test_packaged_reference_run_is_the_committed_one() -> None:
    """Notebook 05 reads the copy inside the package; after a new committed run, copy results.csv there."""
    root = REPOSITORY
    committed = root / "benchmarks" / "results.csv"
    assert (root / "blocks" / "bench" / REFERENCE_RESULTS).read_bytes() == committed.read_bytes()
    assert reference_run() == read_csv(committed)[0]


@pytest.mark.slow  # tiny_run: a whole benchmark run
def test_live_run_beside_reference_has_one_row_per_template(tiny_run: tuple[list, Path, list[Path]]) -> None:
    rows, _, _ = tiny_run
    for pass_ in PASSES:
        table = blocks_beside_reference(rows, reference_run(), pass_).splitlines()
        assert table[0] == (
            "| C x d | c, ms | a / c, live | committed | a-fused / c, live | committed | b / c, live | committed |"
        )
        templates = [f"{c}x{d}d" for c, d in TINY.templates]
        assert [line.split(" | ")[0].removeprefix("| ") for line in table[2:]] == templates
        assert "| 1x8d |" in table[2] and table[2].endswith("| – |")  # not among the committed run's templates


@pytest.mark.slow  # tiny_run: a whole benchmark run
def test_live_run_beside_reference_refuses_an_unknown_pass(tiny_run: tuple[list, Path, list[Path]]) -> None:
    rows, _, _ = tiny_run
    with pytest.raises(ValueError, match="pass_ must be one of"):
        blocks_beside_reference(rows, reference_run(), "backward")


def ratio(variant: str, low: float, high: float) -> Measurement:
    return Measurement("blocks", "1x64d", "forward", variant, "c", 10.0, 9.0, 11.0, (low + high) / 2, low, high, 3)


def test_spread_warning_names_the_widest_ratio() -> None:
    steady = [ratio("c", 1.0, 1.0), ratio("a", 0.9, 1.1)]
    assert spread_warning(steady) == ""
    busy = [*steady, ratio("b", 0.3, 0.3 * SPREAD_LIMIT * 1.1), ratio("a-fused", 0.1, 4.65)]
    warning = spread_warning(busy)
    assert warning.startswith(f"WARNING: 2 of 3 live ratios (marked ⚠) moved more than {SPREAD_LIMIT}x")
    assert "a-fused / c at 1x64d forward, ranged 0.10–4.65" in warning


def test_equal_work_warning_names_the_ratio_furthest_from_one() -> None:
    believable = [ratio("a", 0.9, 1.1), ratio("b", 0.8, 0.9)]  # medians 1.0 and 0.85
    assert equal_work_warning(believable) == ""
    busy = [*believable, ratio("a", 12.0, 13.0), ratio("b", 0.3, 0.34)]  # medians 12.5 and 0.32
    warning = equal_work_warning(busy)
    assert warning.startswith(
        "WARNING: a / c (1x64d, forward) does the same work and must be about 1, but measured 12.50"
    )
    assert equal_work_warning([ratio("a", EQUAL_WORK_LIMIT, EQUAL_WORK_LIMIT)]) == ""  # the limit itself is believed


@pytest.mark.slow  # tiny_run: a whole benchmark run
def test_figure_is_written(tiny_run: tuple[list, Path, list[Path]]) -> None:
    _, _, figures = tiny_run
    assert [f.name for f in figures] == [f"{FIGURE_NAME}.png"]
    assert figures[0].stat().st_size > 0


def test_blocks_are_timed_in_the_passes_asked_for() -> None:
    config = BenchConfig(batch=1, size=4, repeats=1, warmup=0, threads=1, templates=((1, 4),), passes=("forward",))
    assert {row.pass_ for row in bench_blocks(config)} == {"forward"}


def test_benchmark_restores_the_thread_count() -> None:
    before = torch.get_num_threads()
    run_benchmark(BenchConfig(batch=1, size=4, repeats=1, warmup=0, threads=1, templates=((1, 4),),
                              experiments=("blocks",)), show_progress=False)  # fmt: skip
    assert torch.get_num_threads() == before


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("device", "tpu", "device must be 'cpu' or 'cuda', got 'tpu'"),
        ("repeats", 0, "repeats must be a positive int, got 0"),
        ("warmup", -1, "warmup must be a non-negative int, got -1"),
        ("network", (34, 32, 4), "network depth must be one of [50, 101, 152], got 34"),
        ("passes", ("backward",), "passes must be one or more of ['forward', 'forward+backward'], got ('backward',)"),
        ("experiments", ("blocks", "speed"), "experiments must be among"),
        ("experiments", (), "at least one, got ()"),
    ],
    ids=["device", "repeats", "warmup", "depth", "passes", "unknown-experiment", "no-experiment"],
)
def test_bad_config_is_refused(field: str, value: object, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        BenchConfig(**{field: value})


def test_cli_help_says_what_is_written_where(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["bench", "--help"])
    out = capsys.readouterr().out
    assert "results.csv" in out and "speed_vs_cardinality" in out and "--quick" in out
    assert "roofline.csv" in out and "--only" in out


# ---------------------------------------------------------------- the compiler and the roofline


@pytest.fixture(scope="module")
def compiled_run() -> list:
    return run_benchmark(COMPILED_TINY, show_progress=False)


@pytest.mark.slow  # compiled_run: torch.compile of every form
def test_compiled_and_roofline_rows(compiled_run: list) -> None:
    compiled = {
        "a compiled",
        "b compiled",
        "c compiled",
        "a compiled+pass",
        "b compiled+pass",
        "a functional compiled+pass",
    }
    forward = {r.variant for r in compiled_run if r.experiment == COMPILED and r.pass_ == "forward"}
    assert forward == {"a", "b", "c"} | compiled
    compile_rows = [r for r in compiled_run if r.experiment == COMPILED and r.pass_ == "compile forward"]
    assert {r.variant for r in compile_rows} == compiled
    assert all(r.repeats == 1 and r.median_ms > 0 for r in compile_rows)  # each block compiled once
    roofline = {(r.case, r.variant) for r in compiled_run if r.experiment == ROOFLINE}
    limits = {("machine", name) for name in (MATMUL, CONVOLUTION, COPY)}
    assert roofline == limits | {("2x2d", variant) for variant in ("a", "b", "c", GROUPED_3X3)}


@pytest.mark.parametrize("pass_", PASSES)
def test_the_pass_with_inductor_is_a_candidate_where_auto_would_run_it_eagerly(pass_: str) -> None:
    spec = BlockSpec(8, 8, cardinality=2, width=2)
    by_form = {form: build(spec, form).train(pass_ != "forward") for form in ("a", "b", "c")}
    names = set(compiled_candidates(by_form, pass_))  # nothing compiles before a call
    assert ("a compiled+pass+inductor" in names) == (pass_ != "forward")
    assert {"a compiled+pass", "b compiled+pass", "a functional compiled+pass"} <= names


@pytest.mark.slow  # compiled_run: torch.compile of every form
def test_roofline_points_survive_their_csv(compiled_run: list, tmp_path: Path) -> None:
    points = roofline_points(compiled_run, COMPILED_TINY)
    assert [(p.case, p.variant) for p in points] == [("2x2d", variant) for variant in ("a", "b", "c", GROUPED_3X3)]
    spec, x = BlockSpec(256, 256, 2, 2), torch.zeros(1, 256, 4, 4)
    block_points, conv2_point = points[:3], points[3]
    for point in block_points:
        assert point.bytes_moved == census(build(spec, point.variant).eval(), x).bytes_moved
        assert point.flops == points[0].flops and point.intensity == point.flops / point.bytes_moved
    # the grouped 3x3 alone: 2 FLOPs per multiply-add, 2 groups of 2 -> 2 channels, 3x3 taps, 16 pixels
    assert conv2_point.flops == 2 * (2 * 2) * 2 * 9 * 16
    for point in points:
        assert point.gflops > 0 and point.attainable_gflops <= point.conv_gflops
    # form (a) writes its paths' partial sums: the most bytes for the same FLOPs
    assert points[0].bytes_moved > points[2].bytes_moved
    path = write_roofline_csv(points, environment(COMPILED_TINY), tmp_path / "roofline.csv")
    assert read_roofline_csv(path) == points


@pytest.mark.slow  # compiled_run: torch.compile of every form
def test_roofline_needs_the_limits(compiled_run: list) -> None:
    with pytest.raises(ValueError, match="experiment 'roofline' for every template"):
        roofline_points([r for r in compiled_run if r.variant != COPY], COMPILED_TINY)


def test_missing_roofline_csv_says_how_to_make_it(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="python -m blocks bench"):
        read_roofline_csv(tmp_path / "nothing.csv")


@pytest.mark.slow
def test_cli_only_writes_a_csv_named_after_the_experiments(tmp_path: Path) -> None:
    argv = ["bench", "--only", "roofline", "--repeats", "1", "--warmup", "0", "--batch", "1", "--size", "4"]
    assert main([*argv, "--threads", "1", "--out", str(tmp_path / "out"), "--figures", str(tmp_path / "fig")]) == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["results-roofline.csv", "roofline.csv"]
    assert sorted(p.name for p in (tmp_path / "fig").iterdir()) == [f"roofline.{fmt}" for fmt in ("pdf", "png", "svg")]


def test_move_weights_keeps_values_and_layout_at_new_addresses() -> None:
    net = random_block(BlockSpec(8, 8, 2, 4), "c").to(memory_format=torch.channels_last)
    before = {key: (t.clone(), t.data_ptr(), t.stride()) for key, t in net.state_dict().items()}
    move_weights(net)
    for key, tensor in net.state_dict().items():
        value, address, stride = before[key]
        assert torch.equal(tensor, value) and tensor.stride() == stride and tensor.data_ptr() != address, key


@pytest.mark.slow  # tiny_run: a whole benchmark run
def test_read_csv_gives_back_what_write_csv_wrote(tiny_run: tuple[list, Path, list[Path]]) -> None:
    rows, path, _ = tiny_run
    read, shared = read_csv(path)
    assert shared == environment(TINY)
    assert [(r.experiment, r.case, r.pass_, r.variant, r.repeats) for r in read] == [
        (r.experiment, r.case, r.pass_, r.variant, r.repeats) for r in rows
    ]
    # the CSV keeps 3 decimals of milliseconds and 4 of ratios
    assert [r.median_ms for r in read] == pytest.approx([r.median_ms for r in rows], abs=5e-4)
    assert [r.ratio_median for r in read] == pytest.approx([r.ratio_median for r in rows], abs=5e-5)


@pytest.mark.slow  # tiny_run: a whole benchmark run
def test_read_csv_refuses_a_foreign_file_or_two_runs_in_one(
    tiny_run: tuple[list, Path, list[Path]], tmp_path: Path
) -> None:
    _, path, _ = tiny_run
    foreign = tmp_path / "foreign.csv"
    foreign.write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="must be a CSV with the columns"):
        read_csv(foreign)
    lines = path.read_text().splitlines()
    mixed = tmp_path / "mixed.csv"
    mixed.write_text("\n".join([*lines, lines[1].replace(",x86_64", ",arm64").replace(f",{TINY.threads},", ",99,")]))
    with pytest.raises(ValueError, match="must hold one run, but its rows differ in"):
        read_csv(mixed)
