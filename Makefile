# Every target sets itself up from a bare machine: Python 3.10+ and make are all it needs.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
DOCS_STAMP := $(VENV)/.installed-docs
CHROMIUM   := /usr/bin/chromium

.PHONY: demo lint format test test-fast fuzz lab figures notebook-header notebook-times binder-check site slides site-check family mutants clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --quiet --progress-bar off -c constraints.txt -e ".[dev]"
	touch $(STAMP)

# ruff (lint + format check) on the whole tree, mypy on the package (strict on blocks/core), the
# import contracts (layers that import only downwards, no circles: pyproject's [tool.importlinter]),
# and every notebook stripped of outputs: zero findings, or the target fails.
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports --no-cache
	$(VENV)/bin/nbstripout --keep-id --verify notebooks/*.ipynb notebooks/exercises/*.ipynb

# Apply what lint checks: fixes, formatting, stripped notebooks.
format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .
	$(VENV)/bin/nbstripout --keep-id notebooks/*.ipynb notebooks/exercises/*.ipynb

demo: $(STAMP)
	$(PY) -m blocks

# Every tracked and untracked file as git sees it, as one checksum: no test or notebook may change it.
TREE_STATE = { git status --porcelain --untracked-files=all && git diff HEAD; } 2>/dev/null | cksum

# Every proof, and every notebook run from an empty folder against a wheel of this tree
# (tests/course/test_notebooks.py). One worker per core (-n auto), each single-threaded: many small
# tensors run faster so. Then: did anything in the repository change?
test: $(STAMP)
	@$(TREE_STATE) > $(VENV)/tree-before-test
	OMP_NUM_THREADS=1 $(PY) -m pytest -n auto
	@$(TREE_STATE) | cmp -s - $(VENV)/tree-before-test || \
		{ git status --short; echo "make test changed files in the repository (above): tests and notebooks must not"; exit 1; }

# The inner loop: every test but those marked slow (over 5 s on 2 cores: the notebooks, torch.compile,
# training in two processes, the figures redrawn by new processes), as `make test` runs them.
test-fast: $(STAMP)
	@$(TREE_STATE) > $(VENV)/tree-before-test
	OMP_NUM_THREADS=1 $(PY) -m pytest -n auto -m "not slow"
	@$(TREE_STATE) | cmp -s - $(VENV)/tree-before-test || \
		{ git status --short; echo "make test-fast changed files in the repository (above): tests must not"; exit 1; }

# Jupyter Lab on the notebooks, from the venv (the package is installed there, editable).
lab: $(STAMP)
	$(VENV)/bin/jupyter lab notebooks

figures: $(STAMP)
	$(PY) -m blocks figures --out figures

# The docs extra too: Sphinx, myst-nb, furo, Playwright (never its browser download).
$(DOCS_STAMP): $(STAMP)
	$(PY) -m pip install --quiet --quiet --progress-bar off -c constraints.txt -e ".[dev,docs]"
	touch $(DOCS_STAMP)

# The course as static HTML in _build/site: every notebook executed, the figure gallery,
# the API reference, the benchmark results. MathJax comes from the npm registry, no CDN.
site: $(DOCS_STAMP)
	$(PY) docs/build_site.py

# The family tree (docs/family.csv, the site's family page): every ResNet-family model of timm and
# torchvision audited and transplanted (tools/zoo.py; 30-40 min on 2 cores, not part of `make test` or
# `make site`); the full results, with times and tracebacks, in /tmp/zoo-results.csv.
family: $(STAMP)
	OMP_NUM_THREADS=1 $(PY) tools/zoo.py run --out /tmp/zoo-results.csv
	$(PY) tools/zoo.py family --results /tmp/zoo-results.csv --out docs/family.csv

# The lecture deck in _build/slides (open index.html): reveal.js from the npm registry,
# one slide per figure, the slide variants of the figures in _build/slides/figures.
slides: $(DOCS_STAMP)
	$(PY) docs/deck.py

# Open the built site and deck in headless Chromium (Debian's, installed here if missing)
# from a server on 127.0.0.1; screenshots in _build/screenshots. Run `make site slides` first.
site-check: $(DOCS_STAMP)
	test -x $(CHROMIUM) || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)
	$(PY) docs/site_check.py

# The notebooks' shared header (Colab link, install cell) from pyproject.toml's [project.urls].
notebook-header: $(STAMP)
	$(PY) tools/course.py header

# Run every notebook 3 times from an empty folder; write notebooks/TIMES.md and each notebook's time.
notebook-times: $(STAMP)
	$(PY) tools/course.py times

# A fresh venv from .binder/ alone, as Binder builds it, runs every notebook (minutes, ~6 GB).
binder-check: $(STAMP)
	$(PY) tools/course.py binder-check

# Mutation testing of the core with mutmut 3, in build/mutants/ (about an hour on 2 cores; not part of
# `make test`): writes build/mutants/report.md, from which tests/MUTANTS.md is written.
mutants: $(STAMP)
	$(PY) tools/mutants.py --workers 2

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis _build build/mutants mutants

# The fuzz test of the public API (tests/api/test_fuzz.py) at a larger budget than make test's:
# 300 random calls per public function; each must return a proven result or refuse by name.
fuzz: $(STAMP)
	BLOCKS_FUZZ_EXAMPLES=300 OMP_NUM_THREADS=1 $(PY) -m pytest -n auto -p no:cacheprovider tests/api
