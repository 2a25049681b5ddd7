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


def test_module_entry_point_help() -> None:
    result = subprocess.run([sys.executable, "-m", "blocks", "--help"], capture_output=True, text=True, check=True)
    assert "prove" in result.stdout and "usage: python -m blocks" in result.stdout
