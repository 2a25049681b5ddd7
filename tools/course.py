"""The course notebooks as students open them: their shared header, how they are run, how long they take.

Every notebook starts the same way, written here from the one place that names the repository
(``[project.urls] Repository`` in pyproject.toml):

* its first (markdown) cell has, under the title, an "Open in Colab" link to the notebook and
  its run time on this machine (from ``notebooks/TIMES.md``);
* its first code cell installs the package from the repository, only where ``blocks`` cannot
  be imported (Colab, a bare Jupyter): ``make lab``, Binder and the tests already have it.

Commands (each one a make target; none is run by a test, since they write tracked files):

    python tools/course.py header           # write the header into every notebook (make notebook-header)
    python tools/course.py times            # run every notebook; write TIMES.md, the header times and the
                                            # README's run-time column (make notebook-times)
    python tools/course.py binder-check     # a fresh venv from .binder/ alone runs every notebook
                                            # (make binder-check)

``tests/course/test_notebooks.py`` imports this module to check the header and to run the notebooks.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the same parser, from the [test] extra
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "notebooks"
TIMES_FILE = NOTEBOOK_DIR / "TIMES.md"
BINDER_DIR = ROOT / ".binder"
INSTALL_CELL_ID = "install-course-package"  # the same id in every notebook: the cell is the same
COLAB_BADGE = "https://colab.research.google.com/assets/colab-badge.svg"
TIME_PATTERN = re.compile(r" · runs in about (\d+) s on (\d+) CPU cores \(\[all notebooks\]\(TIMES\.md\)\)$")
RUN_LIMIT_S = 600  # one notebook: ten times the course's one-minute budget, so only a hang trips it


def notebooks() -> list[Path]:
    """The course notebooks, in the order they are taken."""
    return sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))


def repository_url() -> str:
    """``[project.urls] Repository`` of pyproject.toml: ``https://github.com/<owner>/<name>``.

    Raises:
        ValueError: the URL is not a GitHub repository's (Colab opens notebooks from GitHub only).
    """
    url = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["urls"]["Repository"]
    if not re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+", url):
        raise ValueError(f"[project.urls] Repository must be https://github.com/<owner>/<name>, got {url!r}")
    return url


def colab_url(notebook: str) -> str:
    """Where Colab opens ``notebook`` (a file name in notebooks/) from the repository's main branch."""
    owner_and_name = repository_url().removeprefix("https://github.com/")
    return f"https://colab.research.google.com/github/{owner_and_name}/blob/main/notebooks/{notebook}"


def colab_link(notebook: str) -> str:
    """The Markdown "Open in Colab" badge linking to ``notebook``."""
    return f"[![Open In Colab]({COLAB_BADGE})]({colab_url(notebook)})"


def install_cell_source() -> str:
    """The first code cell of every notebook: install the package where it cannot be imported."""
    return (
        "# Colab, or a Jupyter without the course package: install it from the repository (a minute, once).\n"
        "# With `make lab`, on Binder or after `pip install -e .` it is there already, and this cell does nothing.\n"
        "import importlib.util\n"
        "\n"
        'if importlib.util.find_spec("blocks") is None:\n'
        f'    %pip install --quiet "blocks[notebooks] @ git+{repository_url()}"\n'
        "    importlib.invalidate_caches()"
    )


def _lines(text: str) -> list[str]:
    """A cell's source as a notebook file stores it: lines, each with its newline but the last."""
    return text.splitlines(keepends=True)


def header_line(notebook: str, seconds: int, cores: int) -> str:
    """The line under a notebook's title: its Colab link and its run time."""
    return f"{colab_link(notebook)} · runs in about {seconds} s on {cores} CPU cores ([all notebooks](TIMES.md))"


def header_problems(path: Path) -> list[str]:
    """What is missing or different in ``path``'s header; empty when it is the shared one."""
    cells = json.loads(path.read_text())["cells"]
    problems = []
    title = "".join(cells[0]["source"]).split("\n")
    line = title[2] if cells[0]["cell_type"] == "markdown" and len(title) > 2 else ""
    if not line.startswith(colab_link(path.name)) or not TIME_PATTERN.search(line):
        problems.append(f"{path.name}: the first cell's third line must be {header_line(path.name, 0, 0)!r}-like")
    code = [cell for cell in cells if cell["cell_type"] == "code"]
    if not code or code[0].get("id") != INSTALL_CELL_ID or "".join(code[0]["source"]) != install_cell_source():
        problems.append(f"{path.name}: the first code cell must be the install cell (python tools/course.py header)")
    return problems


def write_notebook(path: Path, notebook: dict) -> None:
    """Write ``notebook`` as nbformat and nbstripout do: sorted keys, indent 1, UTF-8, a final newline."""
    path.write_text(json.dumps(notebook, sort_keys=True, indent=1, ensure_ascii=False) + "\n")


def write_header(path: Path, seconds: int | None = None, cores: int | None = None) -> None:
    """Put the shared header into the notebook at ``path``: the Colab line (with its time) and the install cell.

    Args:
        path: a notebook whose first cell is its markdown title cell.
        seconds, cores: the run time to state; ``None`` keeps the stated one (0 where there is none).
    """
    notebook = json.loads(path.read_text())
    cells = notebook["cells"]
    title = "".join(cells[0]["source"]).split("\n")
    old = TIME_PATTERN.search(title[2]) if len(title) > 2 else None
    seconds = seconds if seconds is not None else int(old.group(1)) if old else 0
    cores = cores if cores is not None else int(old.group(2)) if old else 0
    line = header_line(path.name, seconds, cores)
    if len(title) > 2 and title[2].startswith("[![Open In Colab]"):
        title[2] = line
    else:
        title[1:1] = ["", line]
    cells[0]["source"] = _lines("\n".join(title))
    install = {
        "cell_type": "code",
        "execution_count": None,
        "id": INSTALL_CELL_ID,
        "metadata": {},
        "outputs": [],
        "source": _lines(install_cell_source()),
    }
    at = next(i for i, cell in enumerate(cells) if cell["cell_type"] == "code")
    if cells[at].get("id") == INSTALL_CELL_ID:
        cells[at] = install
    else:
        cells.insert(at, install)
    write_notebook(path, notebook)


# ---------------------------------------------------------------- running notebooks


def clean_environment() -> dict[str, str]:
    """This process's environment without PYTHONPATH: a kernel must import the package it was given, not a tree."""
    return {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}


def execute(path: Path, folder: Path, python: Path | str = sys.executable, environment: dict | None = None) -> dict:
    """Run the notebook at ``path`` as a student's Jupyter would, in ``folder``, and return the executed notebook.

    The notebook is copied into ``folder`` and run there by a fresh kernel of ``python``
    (``python -m nbconvert --execute``), so it finds no file of the repository around it.
    ``environment`` is the kernel's (default: this one's without PYTHONPATH, see :func:`clean_environment`).

    Raises:
        subprocess.CalledProcessError: a cell raised (its traceback is in the error's ``stderr``).
    """
    copy = folder / path.name
    shutil.copyfile(path, copy)
    command = [str(python), "-m", "nbconvert", "--to", "notebook", "--execute", "--inplace"]
    command += [f"--ExecutePreprocessor.timeout={RUN_LIMIT_S}", copy.name]
    environment = clean_environment() if environment is None else environment
    subprocess.run(command, cwd=folder, env=environment, check=True, capture_output=True, text=True)
    return json.loads(copy.read_text())


def run_seconds(executed: dict) -> float:
    """Seconds from the first cell's start to the last cell's end: what "Run all" costs, kernel start excluded."""
    stamps = [cell["metadata"]["execution"] for cell in executed["cells"] if cell["cell_type"] == "code"]
    start = datetime.fromisoformat(stamps[0]["iopub.execute_input"].replace("Z", "+00:00"))
    end = datetime.fromisoformat(stamps[-1]["shell.execute_reply"].replace("Z", "+00:00"))
    return (end - start).total_seconds()


def image_outputs(executed: dict) -> int:
    """How many figures the executed notebook shows (PNG outputs)."""
    return sum(
        "image/png" in output.get("data", {}) for cell in executed["cells"] for output in cell.get("outputs", [])
    )


# ---------------------------------------------------------------- the commands


def measure_times(repeats: int) -> None:
    """Run every notebook ``repeats`` times (each from an empty folder); write TIMES.md and each header's time.

    The kernels run in this process's environment, PYTHONPATH included: the package they time is
    the one this command imports.
    """
    cores = os.cpu_count() or 1
    rows, loads = [], []
    for path in notebooks():
        seconds = []
        for _ in range(repeats):
            loads.append(os.getloadavg()[0])
            with tempfile.TemporaryDirectory() as folder:
                seconds.append(run_seconds(execute(path, Path(folder), environment=dict(os.environ))))
        median = statistics.median(seconds)
        print(f"{path.name}: {median:.1f} s (median of {repeats}: {', '.join(f'{s:.1f}' for s in seconds)})")
        rows.append(f"| [{path.name}]({path.name}) | {median:.1f} | {min(seconds):.1f}–{max(seconds):.1f} |")
        write_header(path, seconds=max(1, round(median)), cores=cores)
        _write_readme_time(path.name, max(1, round(median)))
    import torch  # only for the record of the machine

    TIMES_FILE.write_text(
        "# How long each notebook takes\n\n"
        "Written by `make notebook-times` (`python tools/course.py times`): every notebook run"
        f" {repeats} times, each from an empty folder by a fresh kernel, from the first cell's start to the last"
        " cell's end (kernel start-up excluded). Each notebook states its median in its first cell.\n\n"
        f"Machine: {platform.machine()} {platform.system()}, {cores} CPU cores, torch {torch.__version__},"
        f" Python {platform.python_version()}, {datetime.now().date().isoformat()}. The machine's load average"
        f" (processes wanting a core, over the last minute) before each run: median {statistics.median(loads):.1f},"
        f" at most {max(loads):.1f}. A load above {cores} means other work shared the cores: the times are then"
        " longer than on a quiet machine.\n\n"
        f"| notebook | median s | min–max s ({repeats} runs) |\n|---|---:|---:|\n" + "\n".join(rows) + "\n"
    )
    print(f"wrote {TIMES_FILE.relative_to(ROOT)}, and the times into each notebook's first cell and the README's map")


def _write_readme_time(notebook: str, seconds: int) -> None:
    """Put ``seconds`` into the run-time column of ``notebook``'s row of the README's course map."""
    readme = ROOT / "README.md"
    row = re.compile(
        rf"^(\| \d+ \| \[`{re.escape(Path(notebook).stem)}`\]\(notebooks/{re.escape(notebook)}\) \|[^|]*\| )[^|]*( \|)",
        re.M,
    )
    text, found = row.subn(rf"\g<1>{seconds} s\g<2>", readme.read_text())
    if found != 1:
        raise ValueError(f"README.md must have one course-map row for {notebook}, found {found}")
    readme.write_text(text)


def _repository_copy(destination: Path) -> Path:
    """The files git would commit from this working tree (tracked, and untracked but not ignored), copied."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT, check=True, capture_output=True, text=True,
    ).stdout.split("\0")  # fmt: skip
    destination.mkdir(parents=True, exist_ok=True)
    for name in filter(None, listed):
        if (ROOT / name).is_file():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, destination / name)
    return destination


def binder_check() -> None:
    """Build a fresh venv from ``.binder/`` alone, as repo2docker does, and run every notebook in it.

    repo2docker's steps, in order: ``pip install -r .binder/requirements.txt`` with only the
    .binder folder present, then the whole repository is copied in and ``.binder/postBuild``
    runs in it. Its base environment brings Jupyter; here ``nbconvert`` and ``ipykernel``
    stand in for it. The requirements' ``--extra-index-url`` (PyTorch's CPU wheels) is left
    out here, where only PyPI can be reached: pip then takes PyPI's wheel of the same version.

    Raises:
        subprocess.CalledProcessError: a step failed, or a notebook raised.
    """
    with tempfile.TemporaryDirectory() as scratch:
        scratch_path = Path(scratch)
        venv, environment_only, repository = scratch_path / "venv", scratch_path / "env", scratch_path / "repo"
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
        pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
        subprocess.run([*pip, "nbconvert", "ipykernel"], check=True, env=clean_environment())
        requirements = (BINDER_DIR / "requirements.txt").read_text().splitlines()
        (environment_only / ".binder").mkdir(parents=True)
        (environment_only / ".binder" / "requirements.txt").write_text(
            "\n".join(line for line in requirements if not line.startswith("--extra-index-url")) + "\n"
        )
        subprocess.run([*pip, "-r", ".binder/requirements.txt"], cwd=environment_only, check=True)
        _repository_copy(repository)
        path_first = {**clean_environment(), "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}"}
        subprocess.run(["bash", ".binder/postBuild"], cwd=repository, env=path_first, check=True)
        built = time.perf_counter() - started
        size = sum(f.stat().st_size for f in venv.rglob("*") if f.is_file() and not f.is_symlink())
        print(f"environment built in {built:.0f} s, {size / 1e9:.1f} GB")
        for path in notebooks():
            with tempfile.TemporaryDirectory() as folder:
                executed = execute(repository / "notebooks" / path.name, Path(folder), venv / "bin" / "python")
            print(f"{path.name}: ran in {run_seconds(executed):.1f} s")
    print("binder-check: the .binder/ environment runs every notebook")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    header = commands.add_parser("header", help="write the shared header into every notebook (or --check it)")
    header.add_argument("--check", action="store_true", help="only list what differs; exit 1 if anything does")
    times = commands.add_parser("times", help="run every notebook; write notebooks/TIMES.md and the header times")
    times.add_argument("--repeats", type=int, default=3, help="runs of each notebook; the median counts (default 3)")
    commands.add_parser("binder-check", help="a fresh venv from .binder/ alone runs every notebook")
    args = parser.parse_args(argv)
    if args.command == "header":
        if args.check:
            problems = [problem for path in notebooks() for problem in header_problems(path)]
            print("\n".join(problems) or "every notebook has the shared header")
            return 1 if problems else 0
        for path in notebooks():
            write_header(path)
        print(f"wrote the header of {len(notebooks())} notebooks")
    elif args.command == "times":
        measure_times(args.repeats)
    else:
        binder_check()
    return 0


if __name__ == "__main__":
    sys.exit(main())
