"""blocks.util.checks: the output paths a command will write are checked first, and checking makes nothing."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from blocks.util.checks import writable_file, writable_folder

pytestmark = pytest.mark.mutation  # hostile-user rows: in make mutants' selection as all of them are

# Bad input, nothing lost (issue 19's hostile-user list, one row per test): a clear error naming the
# argument and the value, never a raw internal, and where the call would change something, nothing changed.


# --- output paths: checked without changing anything ---------------------------------------------


def test_output_path_checks_make_nothing(tmp_path: Path) -> None:
    assert writable_folder("out", tmp_path / "figures" / "new") == tmp_path / "figures" / "new"
    assert writable_file("csv_path", tmp_path / "runs" / "a.csv") == tmp_path / "runs" / "a.csv"
    assert list(tmp_path.iterdir()) == []  # the writer makes the folders when it writes


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="sysfs is Linux's")
@pytest.mark.parametrize(
    ("check", "path", "message"),
    [
        (writable_folder, "/sys/blocks-figures", r"out: cannot write into the folder '/sys/blocks-figures'; it would"),
        (writable_file, "/sys/run.csv", r"out: cannot write into the folder '/sys' \(Permission denied\)"),
    ],
    ids=["folder", "file"],
)
def test_a_folder_nobody_may_write_is_refused(check: Callable[[str, object], Path], path: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):  # sysfs refuses new files even to root
        check("out", path)
