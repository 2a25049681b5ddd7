# Every target sets itself up from a bare machine: Python 3.10+ and make are all it needs.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo lint format test figures mutants clean

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

# Mutation testing of the core with mutmut 3, in build/mutants/ (about an hour on 2 cores; not part of
# `make test`): writes build/mutants/report.md, from which tests/MUTANTS.md is written.
mutants: $(STAMP)
	$(PY) tools/mutants.py --workers 2

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis build/mutants mutants
