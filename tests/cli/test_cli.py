"""python -m blocks: the proof summary a teacher runs first, and a one-line error for every user error."""

from __future__ import annotations

import subprocess
import sys
import urllib.error
from collections.abc import Callable
from pathlib import Path

import pytest

from blocks.cli import main
from blocks.training.data import CIFAR10_FILES


def test_prove_prints_every_pair_and_succeeds(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--in-channels", "16", "--out-channels", "32", "-C", "4", "-d", "3"]) == 0
    out = capsys.readouterr().out
    assert out.count("a vs c") == 8  # 2 strides x 2 dtypes x 2 modes
    assert "All pairs of forms agree within tolerance." in out


def test_bad_argument_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["prove", "--cardinality", "0"])
    assert exit_info.value.code == 2
    assert "cardinality must be a positive int, got 0" in capsys.readouterr().err


def test_error_inside_the_work_keeps_its_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    # Only bad arguments are usage errors (exit 2); a ValueError from the work itself must not be disguised as one.
    def broken(*args: object, **kwargs: object) -> None:
        raise ValueError("internal failure")

    monkeypatch.setattr("blocks.measure.proof.compare_forms", broken)
    with pytest.raises(ValueError, match="internal failure"):
        main(["prove", "-C", "2", "-d", "2", "--in-channels", "8", "--out-channels", "8"])


@pytest.mark.parametrize(
    "argv, message",
    [
        (["prove", "--batch", "0"], "batch must be a positive int, got 0"),
        (["bench", "--repeats", "0"], "repeats must be a positive int, got 0"),
        (["train", "--epochs", "0"], "epochs must be a positive int, got 0"),
        (["train", "--lr", "-1"], "lr"),
    ],
    ids=["prove-batch", "bench-repeats", "train-epochs", "train-lr"],
)
def test_bad_values_of_each_command_are_usage_errors(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.slow  # a new process, importing torch
def test_module_entry_point_help() -> None:
    result = subprocess.run([sys.executable, "-m", "blocks", "--help"], capture_output=True, text=True, check=True)
    assert "prove" in result.stdout and "usage: python -m blocks" in result.stdout


# What --help must not import: each command's run imports the library it needs, not its arguments.
# torch alone is about 1.3 s of a 1.5 s --help (48a9754); matplotlib, torchvision and the bench more still.
HEAVY = ("torch", "matplotlib", "torchvision", "blocks.bench", "blocks.figures", "blocks.training")


def _imported(argv: list[str]) -> set[str]:
    """The modules that ``python -X importtime`` with ``argv`` imports, from its report on standard error."""
    result = subprocess.run([sys.executable, "-X", "importtime", *argv], capture_output=True, text=True, check=True)
    return {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines() if line.startswith("import time:")}


def _heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if any(m == name or m.startswith(f"{name}.") for name in HEAVY))


@pytest.mark.parametrize("command", ["", "prove", "bench", "figures", "tables", "train"], ids=lambda c: c or "none")
def test_help_imports_neither_torch_nor_the_library(command: str) -> None:
    imported = _imported(["-m", "blocks", *([command] if command else []), "--help"])
    assert "blocks.cli" in imported  # the report was read
    assert _heavy(imported) == []


@pytest.mark.slow  # a full-size network or a new process: seconds on 2 cores
def test_import_blocks_imports_nothing_until_a_name_is_used() -> None:
    assert _heavy(_imported(["-c", "import blocks"])) == []
    used = _imported(["-c", "import blocks; blocks.build"])
    assert "blocks.core.build" in used and "blocks.training" not in used and "matplotlib" not in used


def test_every_public_name_is_its_module_s_object_and_old_names_warn() -> None:
    import blocks
    from blocks.core.forms import BlockPath
    from blocks.dataflow.entry import transplant
    from blocks.dataflow.recognise import RecognisedBlock
    from blocks.training.loop import train

    assert all(getattr(blocks, name) is not None for name in blocks.__all__)
    assert set(blocks.__all__) <= set(dir(blocks))
    assert (blocks.transplant, blocks.train, blocks.RecognisedBlock) == (transplant, train, RecognisedBlock)
    with pytest.warns(DeprecationWarning, match=r"blocks\.Bottleneck is deprecated: use blocks\.RecognisedBlock"):
        assert blocks.Bottleneck is RecognisedBlock
    with pytest.warns(DeprecationWarning, match=r"blocks\.Path is deprecated: use blocks\.BlockPath"):
        assert blocks.Path is BlockPath
    with pytest.raises(AttributeError, match="has no attribute 'nothing'"):
        blocks.nothing  # noqa: B018 (the attribute access is the test)


def test_bench_names_the_experiments_of_the_bench() -> None:
    from blocks.bench.experiments import EXPERIMENTS
    from blocks.cli import bench

    assert bench.EXPERIMENTS == EXPERIMENTS  # written out in the CLI so that --help need not import the bench


# --- a user error in any subcommand: one line naming the flag, exit status 2, no traceback ---------


def _file(tmp_path: Path) -> str:
    (tmp_path / "notes.txt").write_text("a file, not a folder")
    return str(tmp_path / "notes.txt")


# (argv, given tmp_path; what the error line says)
USER_ERRORS: dict[str, tuple[Callable[[Path], list[str]], str]] = {
    "prove-seed-too-big": (lambda tmp: ["prove", "--seed", str(2**64)], "--seed must be an int from -2**63"),
    "prove-seed-too-small": (lambda tmp: ["prove", "--seed", str(-(2**63) - 1)], "--seed must be an int from"),
    "prove-batch-1-size-1": (
        lambda tmp: ["prove", "--batch", "1", "--size", "1"],
        "batch 1 with size 1 leaves 1 value per channel after the stride-1 3x3",
    ),
    "prove-batch-1-size-2": (
        lambda tmp: ["prove", "--batch", "1", "--size", "2"],
        "batch 1 with size 2 leaves 1 value per channel after the stride-2 3x3",
    ),
    "prove-C-1e5": (lambda tmp: ["prove", "-C", "100000"], "in form 'a' would make 700,004 modules"),
    "prove-channels-1e7": (
        lambda tmp: ["prove", "--in-channels", "1000000", "--out-channels", "10000000"],
        "parameters and buffers, would need about 37,258.4 GiB",
    ),
    "prove-size-1e5": (lambda tmp: ["prove", "--size", "100000"], "(batch 4, size 100000) would need about"),
    "figures-out-is-a-file": (
        lambda tmp: ["figures", "--out", _file(tmp)],
        "--out must be a folder to write into, but '{tmp}/notes.txt' is a file",
    ),
    "figures-out-under-a-file": (
        lambda tmp: ["figures", "--out", _file(tmp) + "/figures"],
        "--out: cannot make the folder '{tmp}/notes.txt/figures': '{tmp}/notes.txt' is a file",
    ),
    "bench-out-is-a-file": (lambda tmp: ["bench", "--out", _file(tmp)], "--out must be a folder to write into"),
    "bench-figures-is-a-file": (
        lambda tmp: ["bench", "--figures", _file(tmp)],
        "--figures must be a folder to write into",
    ),
    "bench-size-1e5": (lambda tmp: ["bench", "--size", "100000"], "bench: a block input of batch 8 and size 100000"),
    "train-csv-is-a-folder": (
        lambda tmp: ["train", "--csv", str(tmp)],
        "--csv must be a file, but '{tmp}' is a folder",
    ),
    "train-csv-under-a-file": (
        lambda tmp: ["train", "--csv", _file(tmp) + "/run.csv"],
        "--csv: cannot make the folder '{tmp}/notes.txt': '{tmp}/notes.txt' is a file",
    ),
    "train-lr-inf": (lambda tmp: ["train", "--lr", "inf"], "lr must be a finite number in (0, 10], got inf"),
    "train-lr-nan": (lambda tmp: ["train", "--lr", "nan"], "lr must be a finite number in (0, 10], got nan"),
    "train-lr-absurd": (lambda tmp: ["train", "--lr", "1e3"], "lr must be a finite number in (0, 10], got 1000.0"),
    "train-weight-decay-inf": (lambda tmp: ["train", "--weight-decay", "inf"], "weight_decay must be a finite number"),
    "train-seed-too-big": (lambda tmp: ["train", "--seed", str(2**64)], "--seed must be an int from -2**63"),
}


@pytest.mark.parametrize(("argv", "message"), USER_ERRORS.values(), ids=USER_ERRORS.keys())
def test_user_error_is_one_line_naming_it_and_exit_status_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: Callable[[Path], list[str]], message: str
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv(tmp_path))
    assert exit_info.value.code == 2
    out, err = capsys.readouterr()
    error_line = err.splitlines()[-1]  # argparse prints the usage, then one line "...: error: <message>"
    assert error_line.startswith(f"python -m blocks {argv(tmp_path)[0]}: error: ")
    assert message.format(tmp=tmp_path) in error_line
    assert out == ""  # checked before any work: nothing was run, drawn or trained


def _offline(*args: object, **kwargs: object) -> None:
    raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")


def test_download_without_a_network_is_one_line_saying_how_to_get_the_data(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import torchvision.datasets.cifar

    monkeypatch.setattr(torchvision.datasets.cifar, "download_and_extract_archive", _offline)  # nothing downloads
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--data", "cifar10", "--data-root", str(tmp_path), "--download"])
    assert exit_info.value.code == 2
    error_line = capsys.readouterr().err.splitlines()[-1]
    assert "could not download CIFAR-10" in error_line and "unpack cifar-10-python.tar.gz from https://" in error_line


def test_corrupted_cifar_folder_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for name in CIFAR10_FILES:
        (folder / name).write_bytes(b"damaged")
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--data", "cifar10", "--data-root", str(tmp_path)])
    assert exit_info.value.code == 2
    error_line = capsys.readouterr().err.splitlines()[-1]
    assert f"CIFAR-10 in '{folder}' is corrupted (data_batch_1, " in error_line and "delete the folder" in error_line
