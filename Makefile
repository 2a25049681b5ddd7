# Every target sets itself up from a bare machine: Python 3.10+ and make are all it needs.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
DOCS_STAMP := $(VENV)/.installed-docs
CHROMIUM   := /usr/bin/chromium

.PHONY: demo lint format test figures site slides site-check clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --quiet --progress-bar off -c constraints.txt -e ".[dev]"
	touch $(STAMP)

# ruff (lint + format check) on the whole tree, mypy on the package (strict on blocks/core),
# and every notebook stripped of outputs: zero findings, or the target fails.
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/nbstripout --keep-id --verify notebooks/*.ipynb

# Apply what lint checks: fixes, formatting, stripped notebooks.
format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .
	$(VENV)/bin/nbstripout --keep-id notebooks/*.ipynb

demo: $(STAMP)
	$(PY) -m blocks

# One worker per core (-n auto), each single-threaded: many small tensors run faster so.
test: $(STAMP)
	OMP_NUM_THREADS=1 $(PY) -m pytest --nbmake -n auto

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

# The lecture deck in _build/slides (open index.html): reveal.js from the npm registry,
# one slide per figure, the slide variants of the figures in _build/slides/figures.
slides: $(DOCS_STAMP)
	$(PY) docs/deck.py

# Open the built site and deck in headless Chromium (Debian's, installed here if missing)
# from a server on 127.0.0.1; screenshots in _build/screenshots. Run `make site slides` first.
site-check: $(DOCS_STAMP)
	test -x $(CHROMIUM) || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)
	$(PY) docs/site_check.py

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis _build
