"""The notebooks as students open them: the same header everywhere, and every one runs from an empty folder.

Each notebook is run as a student's Jupyter runs it, with nothing of the repository around it: a copy
in an empty temporary folder, a fresh kernel, and the package installed from a wheel built from this
tree (not the editable install, whose source folder sits beside the notebooks). The wheel goes into a
new virtual environment that borrows the third-party packages of the running one (torch, Jupyter) by
a ``.pth`` file, so nothing is downloaded and nothing big is copied. The ``.pth`` file lists that
site-packages folder as a plain path, so the ``.pth`` files inside it (the editable install's among
them) are not run: ``import blocks`` finds the wheel's copy only.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.helpers import REPOSITORY as ROOT

sys.path.insert(0, str(ROOT / "tools"))
import course

# Figures each notebook shows inline (a plain matplotlib Figure left as a cell's value shows as text only).
FIGURES_SHOWN = {
    "01_three_forms.ipynb": 0,
    "02_networks.ipynb": 0,
    "03_params_flops.ipynb": 0,
    "04_group_conv_diagrams.ipynb": 3,  # group_conv, block_diagonal, forms_abc
    "05_speed.ipynb": 2,  # the live speed ratios, the live roofline
    "06_training.ipynb": 1,  # the float32 learning curves
    "07_common_mistakes.ipynb": 7,  # the audits drawn: mistakes 1, 5, 2, 9, 10, the blog's block, the student's
}
UNSHOWN_FIGURE = re.compile(r"<Figure size \d+x\d+ with \d+ Axes>")


def notebook_id(path: Path) -> str:
    return path.stem


@pytest.mark.parametrize("path", course.notebooks(), ids=notebook_id)
def test_notebook_has_the_shared_header(path: Path) -> None:
    """Under the title, the Colab link and the run time; then the one install cell, with pyproject's URL."""
    assert course.header_problems(path) == []


def test_every_notebook_is_listed() -> None:
    assert sorted(FIGURES_SHOWN) == [path.name for path in course.notebooks()]


def test_install_cell_installs_from_the_repository_of_pyproject() -> None:
    source = course.install_cell_source()
    assert '%pip install --quiet "blocks[notebooks] @ git+https://github.com/' in source
    assert course.repository_url() in source and "find_spec" in source


@pytest.fixture(scope="session")
def wheel_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The python of a new venv holding this tree's wheel, borrowing the running venv's other packages."""
    scratch = tmp_path_factory.mktemp("wheel")
    source = scratch / "source"  # a copy: a build in the tree itself would leave build/ and *.egg-info there
    shutil.copytree(ROOT / "blocks", source / "blocks", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    quiet = {"check": True, "capture_output": True, "text": True, "env": course.clean_environment()}
    pip = [sys.executable, "-m", "pip"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", scratch, source], **quiet)
    (wheel,) = scratch.glob("blocks-*.whl")
    venv = scratch / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], **quiet)
    python = venv / "bin" / "python"
    where = "import sysconfig; print(sysconfig.get_path('purelib'))"
    site_packages = Path(subprocess.run([python, "-c", where], **quiet).stdout.strip())
    (site_packages / "borrowed.pth").write_text(sysconfig.get_path("purelib") + "\n")  # a path: its .pth files skipped
    # --target: pip would otherwise see the borrowed editable install's metadata and call the wheel installed.
    subprocess.run([*pip, "install", "--no-deps", "--no-index", "--target", site_packages, wheel], **quiet)
    return python


@pytest.mark.slow  # builds the wheel and its venv
def test_wheel_venv_imports_the_wheel(wheel_python: Path, tmp_path: Path) -> None:
    imported = subprocess.run(
        [wheel_python, "-c", "import blocks; print(blocks.__file__)"],
        cwd=tmp_path, check=True, capture_output=True, text=True, env=course.clean_environment(),
    ).stdout.strip()  # fmt: skip
    assert Path(imported).is_relative_to(wheel_python.parents[1]), imported


@pytest.mark.slow
@pytest.mark.parametrize("path", course.notebooks(), ids=notebook_id)
def test_notebook_runs_from_an_empty_folder(path: Path, wheel_python: Path, tmp_path: Path) -> None:
    """Every cell runs, every figure shows inline, and nothing is left behind in the folder."""
    try:
        executed = course.execute(path, tmp_path, wheel_python)
    except subprocess.CalledProcessError as error:
        pytest.fail(f"{path.name} failed from an empty folder:\n{error.stderr[-4000:]}")
    assert course.image_outputs(executed) == FIGURES_SHOWN[path.name]
    outputs = [output.get("data", {}) for cell in executed["cells"] for output in cell.get("outputs", [])]
    text_only = ["".join(data.get("text/plain", "")) for data in outputs if "image/png" not in data]
    assert not [text for text in text_only if UNSHOWN_FIGURE.search(text)], "a figure shows as text only: display(fig)"
    assert [f.name for f in tmp_path.iterdir()] == [path.name], "the notebook wrote into its folder"


def pinned(path: Path) -> dict[str, str]:
    """name -> version of every ``name==version`` line of a requirements or constraints file."""
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return dict(line.split("==", 1) for line in lines if "==" in line)


def test_binder_pins_the_versions_of_constraints() -> None:
    binder, constraints = pinned(ROOT / ".binder" / "requirements.txt"), pinned(ROOT / "constraints.txt")
    assert {"torch", "torchvision", "torchinfo", "matplotlib", "numpy"} <= set(binder)
    assert binder == {name: constraints.get(name) for name in binder}


def test_binder_requirements_need_nothing_of_the_repository() -> None:
    """repo2docker installs requirements.txt before it copies the repository in: no -e ., -r, -c or local path."""
    lines = [line.split("#", 1)[0].strip() for line in (ROOT / ".binder" / "requirements.txt").read_text().splitlines()]
    assert not [line for line in lines if line.startswith(("-e", "-r", "-c", ".", "--requirement", "--constraint"))]
    post_build = ROOT / ".binder" / "postBuild"
    assert post_build.stat().st_mode & 0o111, "postBuild must be executable"
    assert 'pip install --no-cache-dir -e ".[notebooks]"' in post_build.read_text()


def test_readme_links_name_the_repository_of_pyproject() -> None:
    readme = (ROOT / "README.md").read_text()
    owner_and_name = course.repository_url().removeprefix("https://github.com/")
    linked = re.findall(r"(?:colab\.research\.google\.com/github|mybinder\.org/v2/gh)/([\w.-]+/[\w.-]+)/", readme)
    assert linked and set(linked) == {owner_and_name}
    assert f"mybinder.org/v2/gh/{owner_and_name}/main" in readme
