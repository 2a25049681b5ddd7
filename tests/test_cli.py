"""python -m blocks: the proof summary a teacher runs first."""

from __future__ import annotations

import subprocess
import sys

import pytest

from blocks.cli import main


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

    monkeypatch.setattr("blocks.analysis.proof.compare_forms", broken)
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


def test_module_entry_point_help() -> None:
    result = subprocess.run([sys.executable, "-m", "blocks", "--help"], capture_output=True, text=True, check=True)
    assert "prove" in result.stdout and "usage: python -m blocks" in result.stdout
